#include "stats_json.hpp"

#include <nlohmann/json.hpp>

namespace courier::proxy {

std::string stats_json(const MetricsSnapshot& s, std::string_view version) {
  using nlohmann::json;
  json queues = json::object();
  for (const QueueSnapshot& q : s.queues) {
    const QueueCounters& c = q.counters;
    json j = {{"depth", q.depth},
              {"inflight", q.inflight},
              {"consumers", q.consumers},
              {"delayed", q.delayed},
              {"put", c.put},
              {"delivered", c.delivered},
              {"acked", c.acked},
              {"redelivered", c.redelivered},
              {"dead_lettered", c.dead_lettered},
              {"dropped", c.dropped},
              {"expired", c.expired},
              {"in_per_s", q.in_per_s},
              {"out_per_s", q.out_per_s},
              {"acked_per_s", q.acked_per_s}};
    if (q.tokens) j["tokens"] = *q.tokens;
    queues[q.name] = std::move(j);
  }
  const json doc = {{"version", version},
                    {"taken_ms", s.taken_wall_ms},
                    {"interval_ms", s.interval_ms},
                    {"uptime_ms", s.uptime_ms},
                    {"clients", s.clients},
                    {"sessions", s.sessions},
                    {"journal",
                     {{"used_bytes", s.journal_used_bytes},
                      {"map_bytes", s.journal_map_bytes},
                      {"map_limit_bytes", s.journal_map_limit_bytes},
                      {"commits", s.commit_latency.count},
                      {"commit_seconds_sum", s.commit_latency.sum_seconds}}},
                    {"queues", std::move(queues)}};
  // Queue names are ASCII (§3), but never let a byte make dump() throw.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace courier::proxy
