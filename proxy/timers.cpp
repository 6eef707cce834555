// proxy/timers.cpp — what becomes due with time: delayed messages, ttl
// expiry, ack timeouts, clients gone silent, dedup pruning.
//
// Each timer's earliest known due time is kept in timers_ (a TimerSchedule),
// so a turn with nothing due costs a few comparisons. Each pass is bounded
// so one turn stays short.
#include "broker.hpp"

#include <spdlog/spdlog.h>

namespace courier::proxy {

namespace {
constexpr int kMaxPerTurn = 4096;
}  // namespace

void Broker::run_timers() {
  // Queues that stopped for want of journal room look again now and then
  // (ACKs elsewhere may have freed pages); not every turn, which would spin.
  if (!waiting_for_room_.empty() && timers_.is_due(Timer::room_retry, clock_)) {
    for (uint32_t id : waiting_for_room_) engine_.mark_ready(id);
    waiting_for_room_.clear();
    timers_.set_due_now(Timer::ttl_expiry);
    timers_.set_due_at(Timer::room_retry, clock_.steady_ms + 100);
  }
  release_due_delayed();
  expire_ttl();
  expire_ack_timeouts();
  expire_silent_sessions();
  if (timers_.is_due(Timer::dedup_prune, clock_)) {
    const uint64_t now = clock_.wall_ms;
    const uint64_t before = now > config_.dedup_window_ms ? now - config_.dedup_window_ms : 0;
    const std::size_t pruned = journal_.dedup_prune(before, kMaxPerTurn);
    // Come back next turn while there is a backlog, else once a second.
    if (pruned == kMaxPerTurn) {
      timers_.set_due_now(Timer::dedup_prune);
    } else {
      timers_.set_due_at(Timer::dedup_prune, clock_.steady_ms + 1000);
    }
  }
}

void Broker::release_due_delayed() {
  if (!timers_.is_due(Timer::delayed_release, clock_)) return;
  for (int i = 0; i < kMaxPerTurn; ++i) {
    auto e = journal_.index_first(TimeIndex::delayed);
    if (!e || e->at_ms > clock_.wall_ms) {
      if (e) {
        timers_.set_due_at(Timer::delayed_release, e->at_ms);
      } else {
        timers_.set_never(Timer::delayed_release);  // until a delayed PUT
      }
      return;
    }
    journal_.index_erase(TimeIndex::delayed, *e);
    Queue* q = queues_.find(e->qid);
    if (q == nullptr) continue;
    --q->rec.delayed;
    mark_dirty(*q);
    // Below scan_pos the forward scan has passed it: hand it back.
    if (e->seq < q->scan_pos) q->returned.emplace(e->seq, 0);
    mark_ready(*q);
  }
  timers_.set_due_now(Timer::delayed_release);  // more due: look again next turn
}

void Broker::expire_ttl() {
  if (!timers_.is_due(Timer::ttl_expiry, clock_)) return;
  for (int i = 0; i < kMaxPerTurn; ++i) {
    auto e = journal_.index_first(TimeIndex::expiry);
    if (!e || e->at_ms > clock_.wall_ms) {
      if (e) {
        timers_.set_due_at(Timer::ttl_expiry, e->at_ms);
      } else {
        timers_.set_never(Timer::ttl_expiry);  // until a PUT with a ttl
      }
      return;
    }
    Queue* q = queues_.find(e->qid);
    auto m = q ? journal_.get_message(q->rec.id, e->seq) : std::nullopt;
    // In flight: the consumer may still ack it; if it comes back, the check
    // at delivery time expires it.
    if (!m || q->inflight.count(e->seq)) {
      journal_.index_erase(TimeIndex::expiry, *e);
      continue;
    }
    if (!dead_letter(*q, *m, true)) {  // no room for the move: it waits, in its queue
      wait_for_room(*q);
      timers_.set_never(Timer::ttl_expiry);  // until the room retry (or a PUT with a ttl)
      return;
    }
    q->returned.erase(e->seq);
  }
  timers_.set_due_now(Timer::ttl_expiry);  // more due: look again next turn
}

void Broker::expire_ack_timeouts() {
  for (int i = 0; i < kMaxPerTurn; ++i) {
    const std::optional<uint64_t> id = deliveries_.overdue(clock_.steady_ms);
    if (!id) break;
    requeue(*id, true);  // its deadline goes with it
  }
}

void Broker::expire_silent_sessions() {
  if (!timers_.is_due(Timer::silence_check, clock_)) return;
  timers_.set_due_at(Timer::silence_check, clock_.steady_ms + std::max<uint64_t>(1, config_.heartbeat_ms / 4));
  const uint64_t limit = 3 * config_.heartbeat_ms;
  for (const auto& peer : sessions_.silent(clock_.steady_ms, limit, deaf_until_ms_)) {
    spdlog::debug("client silent for over {} ms: its deliveries are requeued", limit);
    close_session(peer);
  }
}

}  // namespace courier::proxy
