# Core library suites: one per public header, named after behaviours.
courier_add_gtest(codec_test codec_test.cpp)
courier_add_gtest(pipeline_test pipeline_test.cpp)
courier_add_gtest(request_test request_test.cpp)
courier_add_gtest(security_test security_test.cpp)
courier_add_gtest(shard_map_test shard_map_test.cpp)
# The CQP1 unit and its typed client messages on their own (private headers of src/).
courier_add_gtest(cqp1_test cqp1_test.cpp cqp1_messages_test.cpp)
target_include_directories(cqp1_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
# Automatic producer ids (src/auto_id.hpp): they sort in publish order.
courier_add_gtest(auto_id_test auto_id_test.cpp)

# Compile errors that teach: encoding a type msgpack cannot pack must fail to
# compile with the static_assert that says what to add.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/codec_rejects_unpackable.cpp
  "#include <courier/codec.hpp>\nstruct NoDefine { int a; };\nint main() { courier::encode(NoDefine{1}); }\n")
add_test(NAME Codec.UnpackableTypeIsACompileErrorThatSaysAddMsgpackDefine
  COMMAND ${CMAKE_CXX_COMPILER} -std=c++17 -fsyntax-only -DMSGPACK_DEFAULT_API_VERSION=3
          -DCOURIER_STATIC_DEFINE
          -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_BINARY_DIR}/include
          ${CMAKE_CURRENT_BINARY_DIR}/codec_rejects_unpackable.cpp)
set_tests_properties(Codec.UnpackableTypeIsACompileErrorThatSaysAddMsgpackDefine PROPERTIES
  PASS_REGULAR_EXPRESSION "add MSGPACK_DEFINE" TIMEOUT 120)

# The shard map sources, against a real etcd (Debian's etcd-server and
# etcd-client: scripts/setup-deps.sh) started by the test itself.
courier_add_gtest(shard_source_test shard_source_test.cpp)
target_link_libraries(shard_source_test PRIVATE PkgConfig::CPPHTTPLIB)
target_compile_definitions(shard_source_test PRIVATE COURIER_PROXY_PATH="unused")
