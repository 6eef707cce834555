# The Python binding (bindings/python): built with `pip install .` into a
# virtual environment under the build directory, as a user would, then its
# pytest suite (which includes mypy's stubtest of the stubs). The proxy tests
# start the courier-proxy built here; with COURIER_REQUIRE_BINARIES a missing
# one fails them instead of skipping.
add_test(NAME python_binding COMMAND ${PROJECT_SOURCE_DIR}/bindings/python/run_tests.sh -q)
set_tests_properties(python_binding PROPERTIES
  ENVIRONMENT "COURIER_BUILD_DIR=${PROJECT_BINARY_DIR};COURIER_PROXY=$<$<TARGET_EXISTS:courier-proxy>:$<TARGET_FILE:courier-proxy>>;COURIER_CLI=$<$<TARGET_EXISTS:courier-cli>:$<TARGET_FILE:courier-cli>>;COURIER_REQUIRE_BINARIES=1"
  TIMEOUT 900 COST 100)  # started first, as the pytest suites (CMakeLists.txt)
