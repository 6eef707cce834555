# Black-box acceptance suites: real processes driven only through the
# contracts in PROTOCOL.md (pyzmq + msgpack), skipped when the program is
# not built (COURIER_PROXY empty).
# --http (metrics, /api/stats, dashboard) is a suite of its own, so that
# `ctest -R http` runs just it; same fixtures, same directory.
courier_add_pytest(proxy_blackbox ${CMAKE_CURRENT_SOURCE_DIR}/blackbox/proxy
                   --ignore=${CMAKE_CURRENT_SOURCE_DIR}/blackbox/proxy/test_http_metrics.py)
courier_add_pytest(proxy_http_metrics ${CMAKE_CURRENT_SOURCE_DIR}/blackbox/proxy/test_http_metrics.py)
