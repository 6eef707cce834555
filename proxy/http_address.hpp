// proxy/http_address.hpp — the HOST:PORT of --http, and whether it is local.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace courier::proxy {

struct HttpAddress {
  std::string host;  // without the brackets of "[::1]:9100"
  uint16_t port = 0;  // 0: any free port
};

// "127.0.0.1:9100", "localhost:0", "[::1]:9100". nullopt when it is not
// HOST:PORT with a port from 0 to 65535.
std::optional<HttpAddress> parse_http_address(std::string_view text);

// Whether only this machine can reach `host`: "localhost", 127.0.0.0/8 or
// ::1. Names other than localhost are not resolved: they count as remote.
bool is_loopback_host(std::string_view host);

// The host of an HTTP Host header ("127.0.0.1:9464", "[::1]:9464",
// "localhost"): without the port and the brackets.
std::string_view host_of_host_header(std::string_view header);

// "HOST:PORT", brackets around an IPv6 host.
std::string to_string(const HttpAddress& a);

}  // namespace courier::proxy
