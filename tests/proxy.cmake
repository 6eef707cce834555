# courier-proxy internals (the journal, the tables, request reading, the timer
# schedule, the delivery engine), driven directly.
# (The proxy's wire behaviour is covered by tests/blackbox/proxy.)
if(TARGET courier_proxy_core)
  courier_add_gtest(journal_test journal_test.cpp)
  target_link_libraries(journal_test PRIVATE courier_proxy_core)
  courier_add_gtest(node_recycler_test node_recycler_test.cpp)
  target_link_libraries(node_recycler_test PRIVATE courier_proxy_core)
  courier_add_gtest(delivery_table_test delivery_table_test.cpp)
  target_link_libraries(delivery_table_test PRIVATE courier_proxy_core)
  courier_add_gtest(delivery_engine_test delivery_engine_test.cpp)
  target_link_libraries(delivery_engine_test PRIVATE courier_proxy_core)
  courier_add_gtest(session_table_test session_table_test.cpp)
  target_link_libraries(session_table_test PRIVATE courier_proxy_core)
  courier_add_gtest(request_reader_test request_reader_test.cpp)
  target_link_libraries(request_reader_test PRIVATE courier_proxy_core)
  courier_add_gtest(put_request_test put_request_test.cpp)
  target_link_libraries(put_request_test PRIVATE courier_proxy_core)
  # One turn's messages of a queue as one journal record (the codec).
  courier_add_gtest(segment_test segment_test.cpp)
  target_link_libraries(segment_test PRIVATE courier_proxy_core)
  # The Journal's messages as segments: turns, acks, aborts, reopens, older journals.
  courier_add_gtest(journal_segments_test journal_segments_test.cpp)
  target_link_libraries(journal_segments_test PRIVATE courier_proxy_core)
  courier_add_gtest(journal_dedup_test journal_dedup_test.cpp)
  target_link_libraries(journal_dedup_test PRIVATE courier_proxy_core)
  courier_add_gtest(timer_schedule_test timer_schedule_test.cpp)
  target_link_libraries(timer_schedule_test PRIVATE courier_proxy_core)
  # --http: the Prometheus text, rates, and the HOST:PORT rules.
  courier_add_gtest(prometheus_text_test prometheus_text_test.cpp)
  target_link_libraries(prometheus_text_test PRIVATE courier_proxy_http)
endif()

# The --http dashboard in Debian's headless Chromium, driven by playwright-core
# (pinned in tests/browser/package-lock.json, installed by `npm ci` into the
# build directory by run.sh, which also installs chromium if it can). Exit 77
# = skipped when neither can be had. Screenshot: tests/browser/artifacts/.
if(TARGET courier-proxy AND TARGET courier-cli)
  add_test(NAME proxy_dashboard_browser
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/browser/run.sh $<TARGET_FILE:courier-proxy>
                   $<TARGET_FILE:courier-cli> ${CMAKE_CURRENT_BINARY_DIR}/browser)
  set_tests_properties(proxy_dashboard_browser PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()

# bench/journal_ceiling runs by hand (docs/BENCHMARKS.md), so it is kept from
# rotting here: each mode, tiny, must finish and print its JSON line. Not a
# timing: the figures are never read.
if(TARGET journal_ceiling)
  foreach(mode cycle segments)
    add_test(NAME bench_journal_ceiling_${mode}
             COMMAND journal_ceiling --dir ${CMAKE_CURRENT_BINARY_DIR}/journal_ceiling_${mode}
                     --mode ${mode} --batch 64 --messages 1000)
    set_tests_properties(bench_journal_ceiling_${mode} PROPERTIES TIMEOUT 120
                         PASS_REGULAR_EXPRESSION "\"mode\": \"${mode}\".*\"msgs_per_s\"")
  endforeach()
  add_test(NAME bench_journal_ceiling_commit
           COMMAND journal_ceiling --dir ${CMAKE_CURRENT_BINARY_DIR}/journal_ceiling_commit --mode commit --commits 20)
  set_tests_properties(bench_journal_ceiling_commit PROPERTIES TIMEOUT 120
                       PASS_REGULAR_EXPRESSION "\"mode\": \"commit\".*\"p50_ms\"")
endif()
