# Core library benchmarks (issue 3 item 9), run by bench/run_core.sh.
# One executable per benchmark; the role (sender/receiver, client/server) and
# the implementation (courier or hand-written cppzmq+msgpack) are flags, so
# both sides of a comparison are compiled with the same options.
foreach(b IN ITEMS pipeline_bench rr_bench)
  add_executable(${b} ${b}.cpp)
  target_link_libraries(${b} PRIVATE courier::courier)
endforeach()
