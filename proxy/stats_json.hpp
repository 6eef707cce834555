// proxy/stats_json.hpp — a snapshot as the JSON of GET /api/stats.
//
// The STATS reply (PROTOCOL.md §3.2) as JSON, same field names, plus what a
// dashboard needs and STATS does not have: rates per second over the last
// 1-2 s (`interval_ms`) and the journal's size. Shape:
//   {"version", "taken_ms", "interval_ms", "uptime_ms", "clients", "sessions",
//    "journal": {"used_bytes", "map_bytes", "map_limit_bytes",
//                "commits", "commit_seconds_sum"},
//    "queues": {NAME: {depth, inflight, consumers, delayed, put, delivered,
//               acked, redelivered, dead_lettered, dropped, expired,
//               tokens?, in_per_s, out_per_s, acked_per_s}}}
#pragma once

#include "metrics_snapshot.hpp"

#include <string>
#include <string_view>

namespace courier::proxy {

std::string stats_json(const MetricsSnapshot& s, std::string_view version);

}  // namespace courier::proxy
