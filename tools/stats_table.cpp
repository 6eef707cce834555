// tools/stats_table.cpp — `courier stats`: the proxy's STATS (PROTOCOL.md
// §3.1) as a table an operator reads at a glance, or as JSON for scripts.
// Rates are msgs/s from the put/delivered counters' change between two
// refreshes (so a single snapshot shows "-"). The figures come from the
// library's Admin, as any program would read them.
#include "cli_common.hpp"
#include "json_msgpack.hpp"
#include "curve_options.hpp"
#include "proxy_options.hpp"
#include "shard_options.hpp"

#include <courier/admin.hpp>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace courier::cli {

namespace {

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

// The STATS answer as JSON, field for field (PROTOCOL.md §3.2).
json stats_json(const ProxyStats& stats) {
  json queues = json::object();
  for (const auto& [name, q] : stats.queues) {
    json j{{"depth", q.depth},         {"inflight", q.inflight},       {"consumers", q.consumers},
           {"delayed", q.delayed},     {"put", q.put},                 {"delivered", q.delivered},
           {"acked", q.acked},         {"redelivered", q.redelivered}, {"dead_lettered", q.dead_lettered},
           {"dropped", q.dropped},     {"expired", q.expired}};
    if (q.tokens) j["tokens"] = *q.tokens;
    queues[name] = std::move(j);
  }
  return json{{"queues", std::move(queues)}, {"uptime_ms", stats.uptime_ms}, {"clients", stats.clients}};
}

// Renders one STATS answer; the rates compare it with `previous` (none on the
// first refresh).
std::string render_table(const ProxyStats& stats, const std::optional<ProxyStats>& previous) {
  const std::vector<std::string> head{"QUEUE", "DEPTH", "IN FLIGHT", "DELAYED", "CONSUMERS", "PUT/s",
                                      "DELIVERED/s"};
  std::vector<std::vector<std::string>> rows{head};
  QueueRates rates_now;
  if (previous) rates_now = rates(*previous, stats);
  for (const auto& [name, q] : stats.queues) {
    std::optional<double> put_rate, out_rate;
    // A queue new since the last refresh has no rate yet.
    if (previous && previous->queues.count(name) != 0) {
      put_rate = rates_now[name].put_per_s;
      out_rate = rates_now[name].delivered_per_s;
    }
    rows.push_back({name, std::to_string(q.depth), std::to_string(q.inflight), std::to_string(q.delayed),
                    std::to_string(q.consumers), rate_text(put_rate), rate_text(out_rate)});
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
  out << "-- " << stats.queues.size() << " queue(s), " << stats.clients << " client(s), proxy up "
      << uptime_text(stats.uptime_ms);
  return out.str();
}

int run_stats(const StatsArgs& a) {
  if (a.queue) check_queue_name(*a.queue);
  if (a.shards) return run_sharded_stats(a);
  AdminOptions options;
  options.endpoint = a.proxy;
  options.socket.curve = curve_options(a.curve, false);
  options.client_name = client_name("stats");
  options.timeout = std::chrono::milliseconds(seconds_to_ms(a.timeout));
  Admin admin(options);
  const bool clear = a.watch && !a.json_out && ::isatty(STDOUT_FILENO);
  std::optional<ProxyStats> previous;
  for (uint64_t n = 1;; ++n) {
    const auto started = Clock::now();
    ProxyStats stats;
    try {
      stats = admin.stats();
    } catch (const TimeoutError& e) {
      throw CliFailure(kTimeout, e.what() + curve_hint(a.curve));
    }
    if (a.queue) {  // the table of one queue (uptime and clients stay the proxy's)
      auto it = stats.queues.find(*a.queue);
      std::map<std::string, QueueStats> only;
      if (it != stats.queues.end()) only.insert(*it);
      stats.queues = std::move(only);
    }
    if (a.json_out) {
      print_line(to_line(stats_json(stats)));
    } else {
      std::string table = render_table(stats, previous);
      if (clear) table = "\033[H\033[2J" + table;
      else if (a.watch && n > 1) table = "\n" + table;
      print_line(table);
    }
    previous = std::move(stats);
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
  add_shards_option(stats, args->shards);
  add_curve_client_options(stats, args->curve);
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
