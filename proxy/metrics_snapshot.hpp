// proxy/metrics_snapshot.hpp — what the proxy looked like at one moment.
//
// The loop thread fills a MetricsSnapshot from its own state (Broker::
// fill_snapshot, the journal's figures) every few hundred milliseconds when
// --http is on, and hands it over through a SnapshotBoard. From then on it
// is immutable: the HTTP threads render it (/metrics, /api/stats) without
// ever touching the loop's state, so they need no lock on it and cannot
// slow a turn down.
#pragma once

#include "latency_histogram.hpp"
#include "queues.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace courier::proxy {

struct QueueSnapshot {
  std::string name;
  // The STATS figures (PROTOCOL.md §3.2): gauges, then counters since start.
  uint64_t depth = 0, inflight = 0, delayed = 0, consumers = 0;
  std::optional<uint64_t> tokens;  // a token queue (§3.6)
  QueueCounters counters;
  // Per second over the last 1-2 s (`interval_ms`; 0 for the first
  // snapshot, or a queue new since then): PUT messages in, DELIVERs out
  // (redeliveries included), ACKs.
  double in_per_s = 0, out_per_s = 0, acked_per_s = 0;
};

struct MetricsSnapshot {
  uint64_t taken_wall_ms = 0;    // when (Unix ms)
  uint64_t taken_steady_ms = 0;  // when (steady clock), for rates
  uint64_t interval_ms = 0;      // the rates' window; 0 for the first snapshot
  uint64_t uptime_ms = 0;
  uint64_t clients = 0;   // sessions that said HELLO (STATS `clients`)
  uint64_t sessions = 0;  // every session, HELLO or not
  uint64_t journal_used_bytes = 0;       // highest page in use (the file can be larger)
  uint64_t journal_map_bytes = 0;        // current LMDB map size
  uint64_t journal_map_limit_bytes = 0;  // --max-journal-size
  LatencyHistogram commit_latency;
  std::vector<QueueSnapshot> queues;  // sorted by name
};

// Fills the rates of `now` from the counters of `before` (queues matched by
// name; a counter that went down — the queue was deleted and made again —
// gives 0, not a negative rate).
void add_rates(MetricsSnapshot& now, const MetricsSnapshot& before);

}  // namespace courier::proxy
