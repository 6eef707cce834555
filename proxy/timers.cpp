// proxy/timers.cpp — what becomes due with time: delayed messages, ttl
// expiry, ack timeouts, clients gone silent, dedup pruning.
//
// Each timer keeps the earliest due time it knows, so a turn with nothing
// due costs a few comparisons. Each pass is bounded so one turn stays short.
#include "broker.hpp"

#include <spdlog/spdlog.h>

namespace courier::proxy {

namespace {
constexpr int kMaxPerTurn = 4096;
constexpr uint64_t kNever = UINT64_MAX;
}  // namespace

void Broker::run_timers() {
  release_due_delayed();
  expire_ttl();
  expire_ack_timeouts();
  expire_silent_sessions();
  if (clock_.steady_ms >= next_dedup_prune_ms_) {
    const uint64_t now = clock_.wall_ms;
    const uint64_t before = now > config_.dedup_window_ms ? now - config_.dedup_window_ms : 0;
    const std::size_t pruned = journal_.dedup_prune(before, kMaxPerTurn);
    // Come back soon while there is a backlog, else once a second.
    next_dedup_prune_ms_ = clock_.steady_ms + (pruned == kMaxPerTurn ? 0 : 1000);
  }
}

void Broker::release_due_delayed() {
  if (next_delayed_ms_ != 0 && next_delayed_ms_ > clock_.wall_ms) return;
  for (int i = 0; i < kMaxPerTurn; ++i) {
    auto e = journal_.index_first(TimeIndex::delayed);
    if (!e || e->at_ms > clock_.wall_ms) {
      next_delayed_ms_ = e ? e->at_ms : kNever;
      return;
    }
    journal_.index_erase(TimeIndex::delayed, *e);
    Queue* q = queues_.find(e->qid);
    if (q == nullptr) continue;
    --q->rec.delayed;
    q->record_dirty = true;
    // Below scan_pos the forward scan has passed it: hand it back.
    if (e->seq < q->scan_pos) q->returned.emplace(e->seq, 0);
    mark_ready(*q);
  }
  next_delayed_ms_ = 0;  // more due: look again next turn
}

void Broker::expire_ttl() {
  if (next_expiry_ms_ != 0 && next_expiry_ms_ > clock_.wall_ms) return;
  for (int i = 0; i < kMaxPerTurn; ++i) {
    auto e = journal_.index_first(TimeIndex::expiry);
    if (!e || e->at_ms > clock_.wall_ms) {
      next_expiry_ms_ = e ? e->at_ms : kNever;
      return;
    }
    journal_.index_erase(TimeIndex::expiry, *e);
    Queue* q = queues_.find(e->qid);
    if (q == nullptr) continue;
    // In flight: the consumer may still ack it; if it comes back, the check
    // at delivery time expires it.
    if (q->inflight.count(e->seq)) continue;
    if (auto m = journal_.get_message(q->rec.id, e->seq)) {
      q->returned.erase(e->seq);
      dead_letter(*q, *m, true);
    }
  }
  next_expiry_ms_ = 0;
}

void Broker::expire_ack_timeouts() {
  while (!ack_deadlines_.empty() && ack_deadlines_.top().first <= clock_.steady_ms) {
    const auto [deadline, id] = ack_deadlines_.top();
    ack_deadlines_.pop();
    auto it = deliveries_.find(id);
    // Stale entries (acked, or TOUCHed to a later deadline) are skipped.
    if (it == deliveries_.end() || it->second.ack_deadline_ms != deadline) continue;
    requeue(id, true);
  }
}

void Broker::expire_silent_sessions() {
  if (clock_.steady_ms < next_session_check_ms_) return;
  next_session_check_ms_ = clock_.steady_ms + std::max<uint64_t>(1, config_.heartbeat_ms / 4);
  const uint64_t limit = 3 * config_.heartbeat_ms;
  std::vector<std::string> gone;
  for (const auto& kv : sessions_) {
    if (clock_.steady_ms - kv.second->last_seen_ms > limit) gone.push_back(kv.first);
  }
  for (const auto& peer : gone) {
    spdlog::debug("client silent for over {} ms: its deliveries are requeued", limit);
    close_session(peer);
  }
}

}  // namespace courier::proxy
