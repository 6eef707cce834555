# Every dependency comes from Debian 12 packages (scripts/setup-deps.sh).
find_package(Threads REQUIRED)
find_package(cppzmq 4.7 CONFIG REQUIRED)        # cppzmq-dev; brings libzmq
find_package(msgpack 4 CONFIG REQUIRED)         # libmsgpack-cxx-dev, target msgpackc-cxx
# libcourier reads shard maps (JSON); header-only, linked privately.
find_package(nlohmann_json 3 CONFIG REQUIRED)   # nlohmann-json3-dev
find_package(PkgConfig REQUIRED)
# cpp-httplib: libcourier's etcd gateway client, courier-proxy --http.
pkg_check_modules(CPPHTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)  # libcpp-httplib-dev
find_package(OpenSSL REQUIRED COMPONENTS Crypto)                   # libssl-dev
if(COURIER_BUILD_PROXY)
  pkg_check_modules(LMDB REQUIRED IMPORTED_TARGET lmdb)   # liblmdb-dev
endif()
if(COURIER_BUILD_PROXY OR COURIER_BUILD_TOOLS)
  find_package(CLI11 CONFIG REQUIRED)           # libcli11-dev
  find_package(spdlog CONFIG REQUIRED)          # libspdlog-dev
endif()
if(COURIER_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)           # libgtest-dev
  # The pytest suites need python3-zmq/-msgpack/-pytest, which Debian installs
  # for /usr/bin/python3 (a pyenv python3 on PATH would not have them).
  if(NOT DEFINED Python_EXECUTABLE AND EXISTS /usr/bin/python3)
    set(Python_EXECUTABLE /usr/bin/python3)
  endif()
  find_package(Python 3 COMPONENTS Interpreter REQUIRED)
endif()
