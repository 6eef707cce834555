// proxy/config.hpp — courier-proxy's settings (PROTOCOL.md §4.1).
#pragma once

#include <courier/security.hpp>

#include <cstdint>
#include <string>

namespace courier::proxy {

struct ProxyConfig {
  std::string listen = "tcp://127.0.0.1:5555";
  std::string data_dir = "./courier-data";
  uint64_t heartbeat_ms = 1000;
  uint64_t max_message = 16ull << 20;
  uint64_t max_journal_size = 8ull << 30;
  uint64_t dedup_window_ms = 120000;
  bool sync = true;
  std::string log_level = "info";
  // CurveZMQ (PROTOCOL.md §5): server = true with the secret key from
  // --curve-secret, allow_dir from --curve-allow. Off by default.
  CurveOptions curve;
};

}  // namespace courier::proxy
