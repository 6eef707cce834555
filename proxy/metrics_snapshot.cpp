#include "metrics_snapshot.hpp"

namespace courier::proxy {

namespace {
double per_second(uint64_t now, uint64_t before, uint64_t interval_ms) {
  if (now < before || interval_ms == 0) return 0;
  return static_cast<double>(now - before) * 1000.0 / static_cast<double>(interval_ms);
}
}  // namespace

// Both queue lists are sorted by name: one merge walk, no lookups.
void add_rates(MetricsSnapshot& now, const MetricsSnapshot& before) {
  if (now.taken_steady_ms <= before.taken_steady_ms) return;
  now.interval_ms = now.taken_steady_ms - before.taken_steady_ms;
  auto old = before.queues.begin();
  for (QueueSnapshot& q : now.queues) {
    while (old != before.queues.end() && old->name < q.name) ++old;
    if (old == before.queues.end()) break;
    if (old->name != q.name) continue;
    q.in_per_s = per_second(q.counters.put, old->counters.put, now.interval_ms);
    q.out_per_s = per_second(q.counters.delivered, old->counters.delivered, now.interval_ms);
    q.acked_per_s = per_second(q.counters.acked, old->counters.acked, now.interval_ms);
  }
}

}  // namespace courier::proxy
