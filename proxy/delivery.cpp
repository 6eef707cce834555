// proxy/delivery.cpp — what happens to a message after its delivery:
// requeued, settled, removed, dead-lettered; and to the deliveries of a
// consumer or session that goes away. Sending is the DeliveryEngine's
// (delivery_engine.cpp).
#include "broker.hpp"

#include <algorithm>

namespace courier::proxy {

// Returns a delivery to its queue (NACK requeue, CANCEL, BYE, silence,
// ack_timeout), or dead-letters it when the next attempt would pass
// max_attempts. With count_attempt_limit false the caller decides.
void Broker::requeue(uint64_t delivery_id, bool count_attempt_limit) {
  const std::optional<UnackedDelivery> released = engine_.release(delivery_id);
  if (!released) return;
  const UnackedDelivery& d = *released;
  Queue& q = *d.consumer->queue;
  if (count_attempt_limit && q.rec.options.max_attempts && d.attempt >= *q.rec.options.max_attempts) {
    auto m = journal_.get_message(q.rec.id, d.seq);
    if (!m || dead_letter(q, *m, false)) return;
    // No room for the move: requeued; the next pick finds it past
    // max_attempts and moves it once there is room.
  }
  q.returned.emplace(d.seq, d.attempt);
}

// ACK: the message is done with; a token goes back to its queue.
void Broker::settle(uint64_t delivery_id) {
  const std::optional<UnackedDelivery> released = engine_.release(delivery_id);
  if (!released) return;
  const UnackedDelivery& d = *released;
  Queue& q = *d.consumer->queue;
  if (q.rec.options.tokens) {
    q.returned.emplace(d.seq, d.attempt);
    ++q.counters.acked;
    return;
  }
  MessageView v;
  v.seq = d.seq;
  v.meta.due_ms = d.due_ms;
  v.meta.expire_ms = d.expire_ms;
  remove_message(q, v, d.attempt >= 2 || d.due_ms != 0, /*erase_at_commit=*/true);
  ++q.counters.acked;
}

// Removes a message and every index entry that points at it.
void Broker::remove_message(Queue& q, const MessageView& m, bool may_have_attempts,
                            bool erase_at_commit) {
  if (erase_at_commit) {
    journal_.erase_message_at_commit(q.rec.id, m.seq);
  } else {
    journal_.erase_message(q.rec.id, m.seq);
  }
  if (may_have_attempts) journal_.erase_attempts(q.rec.id, m.seq);
  if (m.meta.due_ms != 0 && journal_.index_erase(TimeIndex::delayed, {m.meta.due_ms, q.rec.id, m.seq})) {
    --q.rec.delayed;
  }
  if (m.meta.expire_ms != 0) journal_.index_erase(TimeIndex::expiry, {m.meta.expire_ms, q.rec.id, m.seq});
  --q.rec.stored;
  mark_dirty(q);
}

bool Broker::dead_letter(Queue& q, const MessageView& m, bool expired) {
  // Copy before anything writes: the view points into a page that a write
  // (or the commit of a map growth) may change.
  const std::string body(m.body);
  const MessageView gone{m.seq, MessageMeta{m.meta.ts_ms, m.meta.due_ms, m.meta.expire_ms, std::nullopt}, {}};
  MessageMeta meta;
  std::string id_bytes;
  if (m.meta.id) {
    id_bytes = std::string(m.meta.id->bytes);
    meta.id = cqp1::ProducerId{id_bytes, m.meta.id->binary};
  }
  Queue* dlq = q.rec.options.dead_letter ? &open_queue(*q.rec.options.dead_letter) : nullptr;
  if (dlq && dlq->rec.options.max_length && dlq->waiting() >= *dlq->rec.options.max_length) dlq = nullptr;
  // A token queue holds its N tokens and nothing else (it may have become
  // one after another queue named it as its dead-letter queue): dropped.
  if (dlq && dlq->rec.options.tokens) dlq = nullptr;
  if (dlq) {
    // A move stores a message: like a PUT, it must leave the consumer
    // reserve alone, or moves could fill the journal beyond ACKs' reach.
    const bool expires = dlq->rec.options.ttl && *dlq->rec.options.ttl;
    const uint64_t cost = journal_.put_cost(journal_.record_size(body.size(), id_bytes.size()),
                                            meta.id ? 1 : 0, id_bytes.size(), expires ? 1 : 0);
    if (!journal_.make_room(cost, Room::producer)) return false;
  }
  remove_message(q, gone);
  if (expired) ++q.counters.expired;
  if (dlq == nullptr) {
    ++q.counters.dropped;
    return true;
  }
  meta.ts_ms = clock_.wall_ms;
  if (dlq->rec.options.ttl && *dlq->rec.options.ttl) meta.expire_ms = after(clock_.wall_ms, *dlq->rec.options.ttl);
  store(*dlq, meta, body);
  ++q.counters.dead_lettered;
  return true;
}

void Broker::cancel_consumer(Subscription& c) {
  const std::vector<uint64_t> out = c.unacked_ids();
  for (uint64_t id : out) requeue(id, true);
  auto& list = c.queue->consumers;
  list.erase(std::remove(list.begin(), list.end(), &c), list.end());
}

void Broker::close_session(const std::string& peer) {
  Session* s = sessions_.find(peer);
  if (s == nullptr) return;
  for (auto& kv : s->consumers) cancel_consumer(*kv.second);
  sessions_.erase(peer);
}

}  // namespace courier::proxy
