// Broker::fill_snapshot: the STATS figures (commands.cpp on_stats) copied
// into a MetricsSnapshot for the HTTP thread. Same definitions, so
// /metrics, /api/stats and `courier stats` never disagree.
#include "broker.hpp"
#include "metrics_snapshot.hpp"

#include <algorithm>

namespace courier::proxy {

void Broker::fill_snapshot(MetricsSnapshot& out) {
  out.uptime_ms = clock_.steady_ms - started_steady_ms_;
  out.sessions = sessions_.size();
  out.clients = sessions_.clients();
  out.queues.clear();
  out.queues.reserve(queues_.size());
  queues_.for_each([&](Queue& q) {
    QueueSnapshot s;
    s.name = q.rec.name;
    s.depth = q.depth();
    s.inflight = q.inflight.size();
    s.delayed = q.rec.delayed;
    s.consumers = q.consumers.size();
    s.tokens = q.rec.options.tokens;
    s.counters = q.counters;
    out.queues.push_back(std::move(s));
  });
  std::sort(out.queues.begin(), out.queues.end(),
            [](const QueueSnapshot& a, const QueueSnapshot& b) { return a.name < b.name; });
}

}  // namespace courier::proxy
