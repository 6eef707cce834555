# Client side of the proxy (producer.hpp, consumer.hpp, delivery.hpp,
# admin.hpp, lock.hpp; sharded_clients_test: the same given a shard map,
# over three proxies): suites that start a real courier-proxy process on a
# free port (proxy_process.hpp).
if(TARGET courier-proxy)
  foreach(suite producer_test consumer_test admin_test lock_test sharded_clients_test)
    courier_add_gtest(${suite} ${suite}.cpp)
    target_compile_definitions(${suite} PRIVATE COURIER_PROXY_PATH="$<TARGET_FILE:courier-proxy>")
    add_dependencies(${suite} courier-proxy)
  endforeach()
  # lock_test runs this helper as separate holder processes (a shared file
  # hammered under the lock, a holder killed with SIGKILL, hand-over timing).
  add_executable(lock_child lock_child.cpp)
  target_link_libraries(lock_child PRIVATE courier::courier)
  target_compile_definitions(lock_test PRIVATE COURIER_LOCK_CHILD_PATH="$<TARGET_FILE:lock_child>")
  add_dependencies(lock_test lock_child)
endif()
