# Black-box acceptance suites: real processes driven only through the
# contracts in PROTOCOL.md (pyzmq + msgpack), skipped when the program is
# not built (COURIER_PROXY empty).
courier_add_pytest(proxy_blackbox ${CMAKE_CURRENT_SOURCE_DIR}/blackbox/proxy)
