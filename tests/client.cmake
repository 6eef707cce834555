# Client side of the proxy (producer.hpp, consumer.hpp, delivery.hpp): suites
# that start a real courier-proxy process on a free port (proxy_process.hpp).
if(TARGET courier-proxy)
  foreach(suite producer_test consumer_test)
    courier_add_gtest(${suite} ${suite}.cpp)
    target_compile_definitions(${suite} PRIVATE COURIER_PROXY_PATH="$<TARGET_FILE:courier-proxy>")
    add_dependencies(${suite} courier-proxy)
  endforeach()
endif()
