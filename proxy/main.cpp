// courier-proxy — durable store-and-forward for courier (PROTOCOL.md §3, §4.1).
#include "config.hpp"
#include "http_address.hpp"
#include "http_server.hpp"
#include "journal.hpp"
#include "journal_check.hpp"
#include "loop.hpp"
#include "size_option.hpp"

#include <courier/errors.hpp>
#include <courier/security.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// A CLI11 validator-transformer for SIZE options.
CLI::Validator size_option() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto v = courier::proxy::parse_size(text);
        if (!v) return "expected a SIZE: bytes, or a number with K, M or G (powers of 1024), e.g. 16M";
        text = std::to_string(*v);
        return {};
      },
      "SIZE");
}

// A CLI11 transform for a whole number of milliseconds in [min, max]: plain
// decimal digits. CLI11 alone would take "-1" as 2^64-1 (an endless
// --dedup-window) and "010" as octal 8; this refuses the first and passes
// the second on as 10.
CLI::Validator milliseconds(uint64_t min, uint64_t max = UINT64_MAX) {
  const std::string range = max == UINT64_MAX ? std::to_string(min) + " or more"
                                              : "from " + std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, v);  // digits only: no sign
        if (stop != end || error != std::errc() || v < min || v > max)
          return "expected a whole number of milliseconds, " + range + "; got '" + text + "'";
        text = std::to_string(v);
        return {};
      },
      max == UINT64_MAX ? "MS" : "MS in [" + std::to_string(min) + " - " + std::to_string(max) + "]");
}

// `courier-proxy --check DIR` (docs/OPERATIONS.md, "Checking a journal").
int check_journal(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "data.mdb", ec)) {
    std::cerr << "--check: " << dir << " holds no journal (no data.mdb): give a courier-proxy --data directory\n";
    return 1;
  }
  try {
    courier::proxy::Journal journal(courier::proxy::JournalConfig{dir, 1ull << 40, true});
    const courier::proxy::JournalCheck report = journal.check();
    std::printf("%-40s %6s %10s %12s %9s %9s %9s\n", "QUEUE", "ID", "NEXT_SEQ", "MESSAGES", "DELAYED",
                "EXPIRING", "DEDUP");
    for (const auto& q : report.queues) {
      std::printf("%-40s %6u %10llu %12llu %9llu %9llu %9llu%s\n", q.name.c_str(), q.id,
                  (unsigned long long)q.next_seq, (unsigned long long)q.messages, (unsigned long long)q.delayed,
                  (unsigned long long)q.expiring, (unsigned long long)q.dedup_ids,
                  q.tokens ? (" (token queue of " + std::to_string(*q.tokens) + ")").c_str() : "");
    }
    for (const auto& n : report.notes) std::printf("note: %s\n", n.c_str());
    for (const auto& p : report.problems) std::printf("PROBLEM: %s\n", p.c_str());
    if (report.problem_count > report.problems.size()) {
      std::printf("PROBLEM: ... and %llu more\n",
                  (unsigned long long)(report.problem_count - report.problems.size()));
    }
    std::printf("%s: %zu queue(s), %s\n", dir.c_str(), report.queues.size(),
                report.ok() ? "consistent" : (std::to_string(report.problem_count) + " problem(s)").c_str());
    return report.ok() ? 0 : 2;
  } catch (const courier::Error& e) {
    std::cerr << "--check: " << e.what() << "\n";
    return 1;
  }
}

// --http-port-file: the bound HOST:PORT, written whole (a temporary file
// renamed over it) so a script polling for the file never reads half of it.
void write_port_file(const std::string& path, const std::string& address) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << address << "\n";
    if (!out.flush()) throw courier::ConfigError("--http-port-file: cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw courier::ConfigError("--http-port-file: cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace

int main(int argc, char** argv) {
  using courier::proxy::ProxyConfig;
  ProxyConfig config;
  bool no_sync = false;

  CLI::App app{
      "courier-proxy: durable store-and-forward for courier. Producers get a CONFIRM only once a "
      "message is journalled (LMDB, fsync'd); consumers ACK; whatever is not acked is redelivered, "
      "across kill -9 and restarts. Ready when it answers PING. Protocol: CQP1 (docs/PROTOCOL.md)."};
  app.option_defaults()->always_capture_default();
  app.add_option("--listen", config.listen,
                 "ROUTER endpoint clients connect to (tcp://HOST:PORT or ipc://PATH). Bind to 127.0.0.1 "
                 "unless other hosts must reach it, and then use --curve-secret and --curve-allow.");
  app.add_option("--data", config.data_dir,
                 "Journal directory, created if missing. One proxy per directory. Put it on the disk "
                 "whose fsync you trust.");
  app.add_option("--heartbeat", config.heartbeat_ms,
                 "Heartbeat interval in ms, sent to clients in WELCOME. A client silent for 3x this is "
                 "gone and its unacked deliveries are requeued. Lower = faster redelivery after a crash, "
                 "more PINGs. If unsure, keep 1000.")
      ->transform(milliseconds(10, 3600000));
  app.add_option("--max-message", config.max_message,
                 "Largest body accepted; larger PUTs get ERROR 413. Big bodies hold up the turn they are "
                 "written in. If unsure, keep 16M.")
      ->transform(size_option());
  app.add_option("--max-journal-size", config.max_journal_size,
                 "The journal map may grow to this (disk space, not memory). Past it PUTs get ERROR 503 "
                 "while consumers and ACKs keep working. Set below the free space of the --data disk.")
      ->transform(size_option());
  app.add_option("--dedup-window", config.dedup_window_ms,
                 "How long (ms) a producer message id is remembered for dedup. Longer = safer resends "
                 "after long outages, a larger index. If unsure, keep 120000.")
      ->transform(milliseconds(0));
  app.add_flag("--no-sync", no_sync,
               "Confirm after the journal write but without fsync: several times faster, survives a "
               "crash of the proxy process but NOT power loss or a kernel crash. If unsure, leave it off.");
  std::string curve_secret, curve_allow;
  app.add_option("--curve-secret", curve_secret,
                 "Serve CurveZMQ (PROTOCOL.md §5) with this secret certificate (NAME.key_secret from "
                 "`courier keygen` or zmq.auth): traffic is encrypted and plain clients can no longer connect.")
      ->check(CLI::ExistingFile);
  app.add_option("--curve-allow", curve_allow,
                 "With --curve-secret: only clients whose public certificate (*.key) is in DIR may connect. "
                 "Files added or removed apply to new connections within a second, without a restart.")
      ->check(CLI::ExistingDirectory);
  std::string check_dir;
  app.add_option("--check", check_dir,
                 "Check the journal in DIR (a stopped proxy's --data) and exit: per-queue counts, then every "
                 "broken invariant. Exit 0 consistent, 2 problems found, 1 cannot check (missing, or in use).");
  std::string http, http_port_file;
  bool http_allow_remote = false;
  app.add_option("--http", http,
                 "Serve Prometheus metrics (/metrics), JSON stats (/api/stats) and a live dashboard (/) "
                 "at HOST:PORT, from a thread of its own that only reads snapshots taken twice a second. "
                 "Read-only. Port 0 picks a free port (see --http-port-file). Off by default.");
  app.add_flag("--http-allow-remote", http_allow_remote,
               "Let --http listen on a host other than loopback. There is no authentication: anyone who "
               "reaches the port sees queue names and figures. If unsure, keep 127.0.0.1 and scrape locally.");
  app.add_option("--http-port-file", http_port_file,
                 "With --http: write the bound HOST:PORT to this file once serving (for port 0).");
  app.add_option("--log-level", config.log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every usage error exits 1 after naming the option.
    return app.exit(e) == 0 ? 0 : 1;
  }
  config.sync = !no_sync;
  if (!check_dir.empty()) return check_journal(check_dir);
  if (!curve_allow.empty() && curve_secret.empty()) {
    std::cerr << "--curve-allow needs --curve-secret: the allow-list checks CURVE clients\n";
    return 1;
  }
  if (!curve_secret.empty()) {
    try {
      config.curve.keys = courier::load_certificate(curve_secret);
    } catch (const courier::Error& e) {
      std::cerr << "--curve-secret: " << e.what() << "\n";
      return 1;
    }
    if (config.curve.keys.secret_key.empty()) {
      std::cerr << "--curve-secret: " << curve_secret
                << " holds no secret-key: give the NAME.key_secret file, not NAME.key\n";
      return 1;
    }
    config.curve.server = true;
    config.curve.allow_dir = curve_allow;
  }
  std::optional<courier::proxy::HttpAddress> http_address;
  if (!http.empty()) {
    http_address = courier::proxy::parse_http_address(http);
    if (!http_address) {
      std::cerr << "--http: expected HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464, port 0 for any), got '" << http
                << "'\n";
      return 1;
    }
    if (!http_allow_remote && !courier::proxy::is_loopback_host(http_address->host)) {
      std::cerr << "--http " << http << ": not a loopback address, so other machines could read the metrics "
                << "and queue names without authentication; use 127.0.0.1:PORT, or add --http-allow-remote "
                << "if that is what you want\n";
      return 1;
    }
  } else if (http_allow_remote || !http_port_file.empty()) {
    std::cerr << (http_allow_remote ? "--http-allow-remote" : "--http-port-file") << " needs --http HOST:PORT\n";
    return 1;
  }
  if (config.max_journal_size < (1ull << 20)) {
    std::cerr << "--max-journal-size: at least 1M is needed, got " << config.max_journal_size << " bytes\n";
    return 1;
  }

  auto logger = spdlog::stderr_color_mt("courier-proxy");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.log_level));

  courier::set_curve_refusal_log([](const std::string& dir, const std::string& key, const std::string& address) {
    spdlog::warn("refused a CURVE client from {} with key {}: not in the allow-list {}", address, key, dir);
  });

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);

  try {
    // The board outlives the loop that publishes to it and the server that reads it.
    courier::proxy::SnapshotBoard board;
    courier::proxy::Loop loop(config);
    std::optional<courier::proxy::HttpServer> http_server;
    if (http_address) {
      loop.publish_snapshots_to(board);
      http_server.emplace(board, *http_address, !http_allow_remote);
      const std::string bound = courier::proxy::to_string(http_server->address());
      if (!http_port_file.empty()) write_port_file(http_port_file, bound);
      spdlog::info("http on {}: metrics at http://{}/metrics, dashboard at http://{}/", bound, bound, bound);
    }
    spdlog::info("courier-proxy {} ready on {} (data {}, heartbeat {} ms, {}, {})", COURIER_VERSION,
                 loop.endpoint(), config.data_dir, config.heartbeat_ms,
                 config.sync ? "fsync per turn" : "NO fsync",
                 !config.curve.server         ? "plain text: no CURVE"
                 : config.curve.allow_dir.empty() ? "CURVE, any client with the server key"
                                                  : "CURVE, clients in " + config.curve.allow_dir);
    loop.run(g_stop);
    spdlog::info("stopped cleanly");
    return 0;
  } catch (const courier::Error& e) {
    spdlog::critical("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::critical("internal error: {}", e.what());
    return 1;
  }
}
