# courier-proxy internals: the journal and the SIZE parser, driven directly.
# (The proxy's wire behaviour is covered by tests/blackbox/proxy.)
if(TARGET courier_proxy_core)
  courier_add_gtest(journal_test journal_test.cpp)
  target_link_libraries(journal_test PRIVATE courier_proxy_core)
endif()
