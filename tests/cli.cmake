# The `courier` CLI, driven as a process against pyzmq peers and a real
# courier-proxy (PROTOCOL.md §4.2); skipped when COURIER_CLI is empty.
courier_add_pytest(cli_blackbox ${CMAKE_CURRENT_SOURCE_DIR}/blackbox/cli)
