// Loop: the metrics snapshots it publishes for --http (snapshot_board.hpp).
#include "loop.hpp"
#include "metrics_snapshot.hpp"

#include <algorithm>
#include <chrono>

namespace courier::proxy {

void Loop::publish_snapshots_to(SnapshotBoard& board) {
  board_ = &board;
  publish_snapshot();
}

// Runs on the loop thread between turns: reads the state, builds a new
// immutable snapshot, swaps it in. The HTTP threads see only the result.
void Loop::publish_snapshot() {
  const auto started = std::chrono::steady_clock::now();
  const Clock clock = Clock::now();
  auto snapshot = std::make_shared<MetricsSnapshot>();
  snapshot->taken_wall_ms = clock.wall_ms;
  snapshot->taken_steady_ms = clock.steady_ms;
  broker_.fill_snapshot(*snapshot);
  snapshot->journal_used_bytes = journal_.used_bytes();
  snapshot->journal_map_bytes = journal_.map_size();
  snapshot->journal_map_limit_bytes = journal_.max_size();
  snapshot->commit_latency = journal_.commit_latency();
  // Rates over 1 to 2 s, not over the last 500 ms: a producer that sends
  // once a second would otherwise read as a rate and a zero in turn.
  if (rates_from_) add_rates(*snapshot, *rates_from_);
  if (!rates_next_from_ || clock.steady_ms - rates_next_from_->taken_steady_ms >= kRateWindowMs) {
    rates_from_ = rates_next_from_ ? rates_next_from_ : snapshot;
    rates_next_from_ = snapshot;
  }
  board_->publish(std::move(snapshot));
  // A snapshot costs O(queues): with very many queues it is taken less
  // often, so that it never takes more than a twentieth of the loop's time.
  const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started).count();
  next_snapshot_ms_ = clock.steady_ms + std::max<uint64_t>(kSnapshotEveryMs, 20 * static_cast<uint64_t>(took_ms));
}

}  // namespace courier::proxy
