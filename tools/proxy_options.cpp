// tools/proxy_options.cpp — see proxy_options.hpp.
#include "proxy_options.hpp"

#include "protocol/cqp1.hpp"

#include <courier/options.hpp>  // default_proxy_endpoint

#include <unistd.h>

namespace courier::cli {

std::string default_proxy() { return default_proxy_endpoint(); }

void add_proxy_option(CLI::App* cmd, std::string& proxy) {
  cmd->add_option("--proxy", proxy, "courier-proxy endpoint (default: $COURIER_PROXY_ENDPOINT, else tcp://127.0.0.1:5555)")
      ->capture_default_str();
}

void check_queue_name(const std::string& queue) {
  if (!cqp1::valid_queue_name(queue))
    throw CliFailure(kUsage, "'" + queue.substr(0, 60) +
                                 "' is not a queue name: use 1-200 characters of A-Z a-z 0-9 . _ : -, "
                                 "e.g. orders.eu-1");
}

std::string error_meaning(int code) {
  switch (code) {
    case cqp1::kBadRequest: return "malformed request";
    case cqp1::kNotFound: return "unknown queue option or delivery id";
    case cqp1::kConflict: return "the queue's kind forbids it (a token queue takes no PUT or PURGE)";
    case cqp1::kMoved:
      return "queue moved to another proxy (moved_to): publish there, with a fresh shard map (--shards)";
    case cqp1::kTooLarge: return "message larger than the proxy's --max-message";
    case cqp1::kQueueFull: return "queue full (max_length reached): consume or purge it, then retry";
    case cqp1::kUnavailable: return "journal cannot take writes (disk or --max-journal-size full)";
    case cqp1::kInternal: return "internal proxy error";
    default: return "error";
  }
}

std::string client_name(const char* command) {
  return std::string("courier-cli ") + command + " pid " + std::to_string(::getpid());
}

}  // namespace courier::cli
