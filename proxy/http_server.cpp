#include "http_server.hpp"

#include "dashboard_assets.hpp"
#include "prometheus_text.hpp"
#include "stats_json.hpp"

#include <courier/errors.hpp>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <pthread.h>

#include <chrono>
#include <csignal>

namespace courier::proxy {

namespace {

uint64_t wall_ms_now() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

void plain(httplib::Response& res, int status, const std::string& text) {
  res.status = status;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

}  // namespace

HttpServer::HttpServer(const SnapshotBoard& board, const HttpAddress& address, bool loopback_names_only)
    : board_(board),
      bound_(address),
      loopback_names_only_(loopback_names_only),
      server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  // Requests are a line and a few headers: anything with a body, or slow to
  // arrive, is cut short instead of holding a worker. An idle connection
  // holds one for at most kIdleSeconds, so a handful of them delay a scrape
  // by seconds, never block it for good (cpp-httplib has no async I/O).
  server_->set_payload_max_length(4096);
  server_->set_read_timeout(kIdleSeconds);
  server_->set_write_timeout(kIdleSeconds);
  server_->set_keep_alive_timeout(kIdleSeconds);
  add_routes();
  int port = address.port;
  if (port == 0) {
    port = server_->bind_to_any_port(address.host);
  } else if (!server_->bind_to_port(address.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    throw ConfigError("--http " + to_string(address) +
                      ": cannot listen there (is the port taken, or the host not one of this "
                      "machine's addresses?); choose another HOST:PORT, or port 0 for any free one");
  }
  bound_.port = static_cast<uint16_t>(port);
  start_listener();
}

// SIGINT and SIGTERM stay with the loop thread (its poll wakes with EINTR
// and it stops at once): they are blocked in the listener, and so in the
// workers it starts, which inherit its mask.
void HttpServer::start_listener() {
  sigset_t stop_signals, before;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &before);
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  // cpp-httplib's stop() does nothing before the listener runs: wait for it,
  // so that a proxy stopped right after starting does not hang in ~HttpServer.
  for (int i = 0; i < 2000 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

HttpServer::~HttpServer() {
  server_->stop();
  if (listener_.joinable()) listener_.join();
}

void HttpServer::add_routes() {
  // Read-only by construction: GET and HEAD are the only methods served.
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      plain(res, 405, "405 method not allowed: this server is read-only (GET, HEAD)");
      return httplib::Server::HandlerResponse::Handled;
    }
    // Browsers always send Host; a request without one is no rebinding.
    if (loopback_names_only_ && req.has_header("Host") &&
        !is_loopback_host(host_of_host_header(req.get_header_value("Host")))) {
      plain(res, 403,
            "403 forbidden: the Host header must name this machine (127.0.0.1, localhost, [::1]); "
            "start courier-proxy with --http-allow-remote to serve other names");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const SnapshotBoard::Ptr s = board_.latest();
    if (!s) return plain(res, 503, "no snapshot yet: the proxy is starting");
    res.set_content(prometheus_text(*s, COURIER_VERSION, wall_ms_now()), std::string(kPrometheusContentType));
  });
  server_->Get("/api/stats", [this](const httplib::Request&, httplib::Response& res) {
    const SnapshotBoard::Ptr s = board_.latest();
    if (!s) return plain(res, 503, "no snapshot yet: the proxy is starting");
    res.set_header("Cache-Control", "no-store");
    res.set_content(stats_json(*s, COURIER_VERSION), "application/json");
  });
  // The dashboard; everything else is a 404.
  server_->Get(R"(/[A-Za-z0-9._-]*)", [](const httplib::Request& req, httplib::Response& res) {
    const auto asset = dashboard_asset(req.path);
    if (!asset) return plain(res, 404, "404 not found: try /, /metrics or /api/stats");
    res.set_header("Content-Security-Policy", "default-src 'self'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(asset->body.data(), asset->body.size(), std::string(asset->content_type));
  });
  server_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) plain(res, 404, "404 not found: try /, /metrics or /api/stats");
  });
  // A handler that throws (out of memory) answers 500; the proxy goes on.
  server_->set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::warn("http: {} {} failed: {}", req.method, req.path, what);
    plain(res, 500, "500 internal error");
  });
}

}  // namespace courier::proxy
