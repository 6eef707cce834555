#include "prometheus_text.hpp"

#include <cinttypes>
#include <cstdio>

namespace courier::proxy {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace {

// Appends to one string; a family is its HELP and TYPE lines, then samples.
class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;  // our own texts: no \ or newline to escape
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(std::string_view name, uint64_t v, std::string_view label = {}, std::string_view value = {}) {
    start(name, label, value);
    out_ += std::to_string(v);
    out_ += '\n';
  }
  void sample(std::string_view name, double v, std::string_view label = {}, std::string_view value = {}) {
    start(name, label, value);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", v);  // µs resolution, no binary noise
    out_ += buf;
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  void start(std::string_view name, std::string_view label, std::string_view value) {
    out_ += name;
    if (!label.empty()) {
      out_ += '{';
      out_ += label;
      out_ += "=\"";
      out_ += escape_label_value(value);
      out_ += "\"}";
    }
    out_ += ' ';
  }
  std::string out_;
};

// One family with a sample per queue.
template <class Get>
void per_queue(Writer& w, const MetricsSnapshot& s, std::string_view name, std::string_view type,
               std::string_view help, Get get) {
  w.family(name, type, help);
  for (const QueueSnapshot& q : s.queues) w.sample(name, static_cast<uint64_t>(get(q)), "queue", q.name);
}

std::string bound_text(double bound) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", bound);
  return buf;
}

}  // namespace

std::string prometheus_text(const MetricsSnapshot& s, std::string_view version, uint64_t now_wall_ms) {
  Writer w;
  w.family("courier_build_info", "gauge", "Always 1; the proxy's version is in the label.");
  w.sample("courier_build_info", uint64_t{1}, "version", version);
  w.family("courier_uptime_seconds", "gauge", "Seconds since the proxy started.");
  w.sample("courier_uptime_seconds", static_cast<double>(s.uptime_ms) / 1000.0);
  w.family("courier_snapshot_age_seconds", "gauge",
           "Age of the figures served; grows past a second only when the event loop is stuck.");
  w.sample("courier_snapshot_age_seconds",
           now_wall_ms > s.taken_wall_ms ? static_cast<double>(now_wall_ms - s.taken_wall_ms) / 1000.0 : 0.0);
  w.family("courier_clients", "gauge", "Sessions that said HELLO and have not left or gone silent.");
  w.sample("courier_clients", s.clients);
  w.family("courier_sessions", "gauge", "Connected sessions, with or without HELLO.");
  w.sample("courier_sessions", s.sessions);
  w.family("courier_queues", "gauge", "Queues the proxy knows.");
  w.sample("courier_queues", static_cast<uint64_t>(s.queues.size()));

  per_queue(w, s, "courier_queue_depth", "gauge", "Ready messages: neither in flight nor delayed.",
            [](const QueueSnapshot& q) { return q.depth; });
  per_queue(w, s, "courier_queue_inflight", "gauge", "Messages delivered and not yet acked.",
            [](const QueueSnapshot& q) { return q.inflight; });
  per_queue(w, s, "courier_queue_delayed", "gauge", "Messages whose delay has not passed yet.",
            [](const QueueSnapshot& q) { return q.delayed; });
  per_queue(w, s, "courier_queue_consumers", "gauge", "Consumers attached to the queue.",
            [](const QueueSnapshot& q) { return q.consumers; });
  per_queue(w, s, "courier_messages_published_total", "counter", "Messages stored by PUT since the proxy started.",
            [](const QueueSnapshot& q) { return q.counters.put; });
  per_queue(w, s, "courier_messages_delivered_total", "counter",
            "DELIVERs sent since the proxy started, redeliveries included.",
            [](const QueueSnapshot& q) { return q.counters.delivered; });
  per_queue(w, s, "courier_messages_acked_total", "counter", "Messages acked since the proxy started.",
            [](const QueueSnapshot& q) { return q.counters.acked; });
  per_queue(w, s, "courier_messages_redelivered_total", "counter",
            "Deliveries of a message delivered before (attempt 2 or more).",
            [](const QueueSnapshot& q) { return q.counters.redelivered; });
  per_queue(w, s, "courier_messages_dead_lettered_total", "counter", "Messages moved to a dead-letter queue.",
            [](const QueueSnapshot& q) { return q.counters.dead_lettered; });
  per_queue(w, s, "courier_messages_dropped_total", "counter",
            "Messages discarded for want of a dead-letter queue.",
            [](const QueueSnapshot& q) { return q.counters.dropped; });
  per_queue(w, s, "courier_messages_expired_total", "counter",
            "Messages whose ttl passed (also counted as dead-lettered or dropped).",
            [](const QueueSnapshot& q) { return q.counters.expired; });

  w.family("courier_journal_used_bytes", "gauge",
           "Journal pages in use up to the highest one (LMDB reuses freed pages below it).");
  w.sample("courier_journal_used_bytes", s.journal_used_bytes);
  w.family("courier_journal_map_bytes", "gauge", "Current LMDB map size; grows up to the limit.");
  w.sample("courier_journal_map_bytes", s.journal_map_bytes);
  w.family("courier_journal_map_limit_bytes", "gauge",
           "--max-journal-size: past it PUTs get ERROR 503.");
  w.sample("courier_journal_map_limit_bytes", s.journal_map_limit_bytes);

  const LatencyHistogram& h = s.commit_latency;
  w.family("courier_journal_commit_seconds", "histogram",
           "Time of each journal commit (LMDB write and fsync, shared by a whole loop turn).");
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    cumulative += h.counts[i];
    w.sample("courier_journal_commit_seconds_bucket", cumulative, "le", bound_text(LatencyHistogram::kBounds[i]));
  }
  cumulative += h.counts.back();
  w.sample("courier_journal_commit_seconds_bucket", cumulative, "le", "+Inf");
  w.sample("courier_journal_commit_seconds_sum", h.sum_seconds);
  w.sample("courier_journal_commit_seconds_count", h.count);
  return w.take();
}

}  // namespace courier::proxy
