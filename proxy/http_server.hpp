// proxy/http_server.hpp — courier-proxy --http: metrics and a dashboard.
//
// THREADS: an HttpServer runs one listening thread and a pool of
// kWorkerThreads request threads (cpp-httplib's), from its constructor to
// its destructor. They read only the SnapshotBoard — immutable snapshots
// the loop publishes — never the loop's state: nothing served over HTTP can
// change a queue, and a slow or hostile HTTP client cannot hold up a turn.
//
// Routes (GET and HEAD only; other methods get 405, other paths 404; a
// non-loopback Host header 403 unless remote access was allowed):
//   /metrics      Prometheus text format 0.0.4 (prometheus_text.hpp)
//   /api/stats    JSON (stats_json.hpp)
//   /, /NAME      the dashboard's embedded files (dashboard_assets.hpp)
#pragma once

#include "http_address.hpp"
#include "snapshot_board.hpp"

#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace courier::proxy {

class HttpServer {
 public:
  static constexpr std::size_t kWorkerThreads = 4;
  static constexpr int kIdleSeconds = 2;  // read, write and keep-alive timeouts

  // Binds `address` (port 0: a free port) and starts serving. Throws
  // ConfigError naming the address when it cannot bind. `board` must outlive
  // the server. `loopback_names_only`: answer 403 to a request whose Host
  // header names anything but a loopback host — a web page the operator's
  // browser opens cannot then read the metrics by DNS rebinding (a name of
  // its own made to resolve to 127.0.0.1). True unless --http-allow-remote.
  HttpServer(const SnapshotBoard& board, const HttpAddress& address, bool loopback_names_only = true);
  // Stops accepting, finishes the requests in progress, joins every thread.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The address actually bound (the chosen port when 0 was asked).
  const HttpAddress& address() const noexcept { return bound_; }

 private:
  void add_routes();
  void start_listener();

  const SnapshotBoard& board_;
  HttpAddress bound_;
  bool loopback_names_only_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
};

}  // namespace courier::proxy
