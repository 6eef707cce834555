// tools/stats_table.cpp — `courier stats`: the proxy's STATS (PROTOCOL.md
// §3.1) as a table an operator reads at a glance, or as JSON for scripts.
// Rates are msgs/s from the put/delivered counters' change between two
// refreshes (so a single snapshot shows "-").
#include "cli_common.hpp"
#include "json_msgpack.hpp"
#include "proxy_session.hpp"

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace courier::cli {

namespace {

struct StatsArgs {
  std::optional<std::string> queue;
  std::string proxy = default_proxy();
  bool json_out = false;
  bool watch = false;
  double interval = 1;
  std::optional<uint64_t> count;
  double timeout = 5;
};

struct Sample {
  uint64_t put = 0, delivered = 0, uptime_ms = 0;
};

uint64_t field(const json& q, const char* key) {
  const auto it = q.find(key);
  return it != q.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string uptime_text(uint64_t ms) {
  uint64_t s = ms / 1000;
  char buf[64];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lluh %02llum %02llus", (unsigned long long)(s / 3600),
                  (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llum %02llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
  return buf;
}

std::string rate_text(std::optional<double> r) {
  if (!r) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", *r);
  return buf;
}

// Renders one STATS answer; `previous` holds the last sample per queue and is
// updated, so the next call can show rates.
std::string render_table(const json& stats, std::map<std::string, Sample>& previous) {
  const std::vector<std::string> head{"QUEUE", "DEPTH", "IN FLIGHT", "DELAYED", "CONSUMERS", "PUT/s",
                                      "DELIVERED/s"};
  std::vector<std::vector<std::string>> rows{head};
  const uint64_t uptime = field(stats, "uptime_ms");
  const json queues = stats.value("queues", json::object());
  for (const auto& [name, q] : queues.items()) {
    Sample now{field(q, "put"), field(q, "delivered"), uptime};
    std::optional<double> put_rate, out_rate;
    if (auto it = previous.find(name); it != previous.end()) {
      const Sample& was = it->second;
      if (now.uptime_ms > was.uptime_ms && now.put >= was.put && now.delivered >= was.delivered) {
        const double secs = double(now.uptime_ms - was.uptime_ms) / 1000.0;
        put_rate = double(now.put - was.put) / secs;
        out_rate = double(now.delivered - was.delivered) / secs;
      }
    }
    previous[name] = now;
    rows.push_back({name, std::to_string(field(q, "depth")), std::to_string(field(q, "inflight")),
                    std::to_string(field(q, "delayed")), std::to_string(field(q, "consumers")),
                    rate_text(put_rate), rate_text(out_rate)});
  }
  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::ostringstream out;
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(width[i] - r[i].size(), ' ');
      if (i == 0) out << r[i] << pad;            // names left-aligned
      else out << "  " << pad << r[i];          // numbers right-aligned
    }
    out << "\n";
  }
  out << "-- " << queues.size() << " queue(s), " << field(stats, "clients") << " client(s), proxy up "
      << uptime_text(uptime);
  return out.str();
}

int run_stats(const StatsArgs& a) {
  if (a.queue) check_queue_name(*a.queue);
  zmq::context_t context(1);
  ProxySession session(context, a.proxy);
  msgpack::sbuffer header;
  {
    cqp1::MapWriter w(header, a.queue ? 1 : 0);
    if (a.queue) cqp1::pack_string(w.key("q"), *a.queue);
  }
  const bool clear = a.watch && !a.json_out && ::isatty(STDOUT_FILENO);
  std::map<std::string, Sample> previous;
  ProxyReply reply;
  for (uint64_t n = 1;; ++n) {
    const auto started = Clock::now();
    session.call("STATS", header, cqp1::Command::STATS, reply, static_cast<int>(a.timeout * 1000));
    const json stats = reply.header_json();
    if (a.json_out) {
      print_line(to_line(stats));
    } else {
      std::string table = render_table(stats, previous);
      if (clear) table = "\033[H\033[2J" + table;
      else if (a.watch && n > 1) table = "\n" + table;
      print_line(table);
    }
    if (!a.watch || (a.count && n >= *a.count)) break;
    std::this_thread::sleep_until(started + std::chrono::milliseconds(static_cast<int64_t>(a.interval * 1000)));
  }
  return kOk;
}

}  // namespace

void add_stats_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* stats = app.add_subcommand(
      "stats", "Show courier-proxy queues: depth, in flight, delayed, consumers and rates (msgs/s, from "
               "the change between refreshes; '-' on the first). --json prints the STATS header as one "
               "JSON object.");
  stats->add_option("queue", args->queue, "only this queue");
  add_proxy_option(stats, args->proxy);
  stats->add_flag("--json", args->json_out, "print the STATS header as one JSON object (a line per refresh)");
  stats->add_flag("--watch,-w", args->watch, "refresh every --interval until interrupted");
  stats->add_option("--interval", args->interval, "seconds between refreshes with --watch")
      ->check(positive_seconds())
      ->capture_default_str();
  stats->add_option("--count,-n", args->count, "with --watch: stop after N refreshes")
      ->transform(whole_number("refreshes", 1));
  stats->add_option("--timeout", args->timeout, "seconds to wait for each answer")
      ->check(positive_seconds())
      ->capture_default_str();
  stats->callback([&action, args] { action = [args] { return run_stats(*args); }; });
}

}  // namespace courier::cli
