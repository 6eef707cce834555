// tools/shard_stats.cpp — `courier stats --shards SPEC`: one table for every
// proxy of a shard map (docs/scaling.md).
//
// Each proxy is asked STATS at once on its own DEALER (ProxyProbe, no Admin:
// the table needs each queue's `moved_to`, docs/PROTOCOL.md §3.13, which
// Admin does not type), and all answers are awaited together, so a dead
// proxy costs one --timeout, not one per proxy. A proxy that does not answer
// is a row of the table saying so, never a missing row; the command prints
// the others and exits 2 (PROTOCOL.md §4.2 "timeout or no peer") so that a
// script notices.
#include "shard_options.hpp"

#include "proxy_options.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

namespace courier::cli {

namespace {

uint64_t field(const json& q, const char* name) {
  auto it = q.find(name);
  return it != q.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string moved_to_of(const json& q) {
  auto it = q.find("moved_to");
  return it != q.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string uptime_text(uint64_t ms) {
  const uint64_t s = ms / 1000;
  char buf[64];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lluh %02llum", (unsigned long long)(s / 3600), (unsigned long long)(s / 60 % 60));
  else
    std::snprintf(buf, sizeof buf, "%llum %02llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
  return buf;
}

// What is odd about one copy of a queue: it lives where the map does not
// send it, or it is marked moved. Empty when nothing is.
std::string note_of(const std::string& here, const std::string& owner, const std::string& moved_to) {
  std::string note;
  if (here != owner) note = "* not the owner (" + owner + ")";
  if (!moved_to.empty()) note += std::string(note.empty() ? "* " : "; ") + "moved_to " + moved_to;
  return note;
}

struct Totals {
  uint64_t depth = 0, inflight = 0, delayed = 0, consumers = 0, queues = 0;
  void add(const json& q) {
    depth += field(q, "depth");
    inflight += field(q, "inflight");
    delayed += field(q, "delayed");
    consumers += field(q, "consumers");
    ++queues;
  }
};

std::string render(const ShardMap& map, const std::string& source, const std::vector<ProxyAnswer>& answers) {
  const std::vector<std::string> head{"QUEUE", "PROXY", "OWNER", "DEPTH", "IN FLIGHT", "DELAYED", "CONSUMERS", "NOTE"};
  std::vector<std::vector<std::string>> rows{head};
  // Queue rows: by queue name, then by proxy in map order.
  std::map<std::string, std::vector<std::pair<const ProxyAnswer*, const json*>>> by_queue;
  for (const ProxyAnswer& a : answers) {
    if (!a.ok) continue;
    for (const auto& [name, q] : a.stats["queues"].items()) by_queue[name].push_back({&a, &q});
  }
  Totals all;
  for (const auto& [name, copies] : by_queue) {
    const std::string owner = map.owner(name).name;
    for (const auto& [a, q] : copies) {
      all.add(*q);
      rows.push_back({name, a->proxy.name, owner, std::to_string(field(*q, "depth")),
                      std::to_string(field(*q, "inflight")), std::to_string(field(*q, "delayed")),
                      std::to_string(field(*q, "consumers")), note_of(a->proxy.name, owner, moved_to_of(*q))});
    }
  }
  const std::size_t rule = rows.size();
  // One line per proxy: its share, or why it is missing.
  std::size_t answered = 0;
  for (const ProxyAnswer& a : answers) {
    if (!a.ok) {
      rows.push_back({"(proxy)", a.proxy.name, "-", "-", "-", "-", "-",
                      "UNREACHABLE " + a.proxy.endpoint + ": " + a.error});
      continue;
    }
    ++answered;
    Totals t;
    for (const auto& [name, q] : a.stats["queues"].items()) t.add(q);
    rows.push_back({"(proxy)", a.proxy.name, "-", std::to_string(t.depth), std::to_string(t.inflight),
                    std::to_string(t.delayed), std::to_string(t.consumers),
                    a.proxy.endpoint + ", " + std::to_string(t.queues) + " queue(s), " +
                        std::to_string(field(a.stats, "clients")) + " client(s), up " +
                        uptime_text(field(a.stats, "uptime_ms"))});
  }
  rows.push_back({"TOTAL", std::to_string(answered) + "/" + std::to_string(answers.size()), "-",
                  std::to_string(all.depth), std::to_string(all.inflight), std::to_string(all.delayed),
                  std::to_string(all.consumers),
                  std::to_string(by_queue.size()) + " queue(s) in " + std::to_string(all.queues) + " cop(ies)"});

  std::vector<std::size_t> width(head.size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i + 1 < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::ostringstream out;
  for (std::size_t n = 0; n < rows.size(); ++n) {
    const auto& r = rows[n];
    if (n == rule || n == rows.size() - 1) {  // rules before the proxy lines and the total
      std::size_t total = 0;
      for (std::size_t i = 0; i + 1 < head.size(); ++i) total += width[i] + 2;
      out << std::string(total + 4, '-') << "\n";
    }
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const bool last = i + 1 == r.size();
      const std::size_t w = last ? 0 : width[i];
      const std::string pad(w > r[i].size() ? w - r[i].size() : 0, ' ');
      if (i < 3) line += r[i] + pad + "  ";  // names left-aligned
      else if (!last) line += pad + r[i] + "  ";  // numbers right-aligned
      else line += r[i];
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
  out << "-- shard map version " << map.version() << " (" << source << "): " << answers.size() << " proxies, "
      << answered << " answered";
  if (answered != answers.size()) out << ", " << answers.size() - answered << " UNREACHABLE";
  return out.str();
}

json as_json(const ShardMap& map, const std::string& source, const std::vector<ProxyAnswer>& answers) {
  json proxies = json::array();
  json queues = json::object();
  Totals all;
  json unreachable = json::array();
  for (const ProxyAnswer& a : answers) {
    json p{{"name", a.proxy.name}, {"endpoint", a.proxy.endpoint}, {"ok", a.ok}};
    if (!a.ok) {
      p["error"] = a.error;
      unreachable.push_back(a.proxy.name);
      proxies.push_back(std::move(p));
      continue;
    }
    p["uptime_ms"] = field(a.stats, "uptime_ms");
    p["clients"] = field(a.stats, "clients");
    json mine = json::object();
    for (const auto& [name, q] : a.stats["queues"].items()) {
      all.add(q);
      json copy = q;
      const std::string owner = map.owner(name).name;
      copy["owner"] = owner;
      copy["misplaced"] = owner != a.proxy.name;
      mine[name] = copy;
      json& entry = queues[name];
      if (entry.is_null()) entry = json{{"owner", owner}, {"depth", 0}, {"inflight", 0}, {"delayed", 0},
                                        {"consumers", 0}, {"proxies", json::array()}};
      entry["proxies"].push_back(a.proxy.name);
      for (const char* k : {"depth", "inflight", "delayed", "consumers"}) {
        entry[k] = entry[k].get<uint64_t>() + field(q, k);
      }
    }
    p["queues"] = std::move(mine);
    proxies.push_back(std::move(p));
  }
  return json{{"map", {{"version", map.version()}, {"source", source}}},
              {"proxies", std::move(proxies)},
              {"queues", std::move(queues)},
              {"totals", {{"depth", all.depth}, {"inflight", all.inflight}, {"delayed", all.delayed},
                          {"consumers", all.consumers}, {"copies", all.queues}}},
              {"unreachable", std::move(unreachable)}};
}

}  // namespace

std::vector<ProxyAnswer> stats_of_all(const ShardMap& map, const CurveArgs& curve, std::chrono::milliseconds timeout,
                                      const std::optional<std::string>& queue, const char* command) {
  std::vector<ProxyAnswer> out;
  std::vector<std::unique_ptr<ProxyProbe>> probes;
  const json request = queue ? json{{"q", *queue}} : json::object();
  for (const ShardProxy& p : map.proxies()) {
    ProxyAnswer a;
    a.proxy = p;
    out.push_back(std::move(a));
    probes.push_back(std::make_unique<ProxyProbe>(p.endpoint, curve, client_name(command)));
    probes.back()->send("STATS", request);
  }
  // One deadline for all: they were all asked before any answer is awaited.
  const auto deadline = Clock::now() + timeout;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    std::optional<ProbeReply> r = probes[i]->receive(deadline);
    ProxyAnswer& a = out[i];
    if (!r) {
      a.error = "no answer within " + seconds_text(timeout.count() / 1000.0) + " s" + curve_hint(curve);
    } else if (r->command != "STATS" || !r->header["queues"].is_object()) {
      a.error = "answered " + r->command + " " + to_line(r->header) + " to STATS";
    } else {
      a.ok = true;
      a.stats = std::move(r->header);
    }
  }
  return out;
}

int run_sharded_stats(const StatsArgs& a) {
  const std::string& shards = *a.shards;
  auto source = open_shards(shards);
  const bool clear = a.watch && !a.json_out && ::isatty(STDOUT_FILENO);
  int status = kOk;
  for (uint64_t n = 1;; ++n) {
    const auto started = Clock::now();
    const std::shared_ptr<const ShardMap> map = source->current();
    if (map->empty()) throw CliFailure(kUsage, "--shards " + shards + ": the shard map lists no proxy");
    const auto answers = stats_of_all(*map, a.curve, std::chrono::milliseconds(seconds_to_ms(a.timeout)), a.queue,
                                      "stats");
    status = kOk;
    for (const ProxyAnswer& p : answers) {
      if (p.ok) continue;
      status = kTimeout;
      std::cerr << "courier stats: proxy " << p.proxy.name << " at " << p.proxy.endpoint
                << " is unreachable: " << p.error << "\n";
    }
    if (a.json_out) {
      print_line(to_line(as_json(*map, source->description(), answers)));
    } else {
      std::string table = render(*map, source->description(), answers);
      if (clear) table = "\033[H\033[2J" + table;
      else if (a.watch && n > 1) table = "\n" + table;
      print_line(table);
    }
    if (!a.watch || (a.count && n >= *a.count)) break;
    std::this_thread::sleep_until(started + std::chrono::milliseconds(static_cast<int64_t>(a.interval * 1000)));
  }
  return status;
}

}  // namespace courier::cli
