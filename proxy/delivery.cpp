// proxy/delivery.cpp — moving messages to consumers and back.
//
// Picking: requeued ("returned") messages first, lowest seq first, then the
// journal read forward from scan_pos — so a queue is delivered in seq order.
// Bodies are copied out of the journal into ZeroMQ frames at once: a later
// write in the same transaction may move the page a view points into.
#include "broker.hpp"

#include <spdlog/spdlog.h>

namespace courier::proxy {

namespace {

// A message picked for a consumer, already out of the journal.
struct Outgoing {
  uint64_t seq = 0;
  uint64_t ts_ms = 0, due_ms = 0, expire_ms = 0;
  uint32_t attempt = 1;
  bool has_id = false, id_binary = false;
  std::string id;
  zmq::message_t body;
};

void pack_id(msgpack::packer<msgpack::sbuffer>& p, const Outgoing& o) {
  if (!o.has_id) {
    p.pack_nil();
    return;
  }
  cqp1::pack_producer_id(p, cqp1::ProducerId{o.id, o.id_binary});
}

}  // namespace

void Broker::deliver() {
  if (ready_queues_.empty()) return;
  std::set<uint32_t> ready;
  ready.swap(ready_queues_);
  for (uint32_t id : ready) {
    if (Queue* q = queues_.find(id)) deliver_queue(*q);
  }
}

// How often a message read forward from scan_pos was delivered before. In
// this process's life it never was (else it would come from `returned`), so
// only messages from before a restart, or once skipped while delayed, need
// the journal (see journal.hpp, "Attempts survive a crash").
uint32_t Broker::prior_deliveries(Queue& q, const MessageView& m) {
  if (m.seq >= q.recovered_below && m.meta.due_ms == 0) return 0;
  if (auto n = journal_.attempts(q.rec.id, m.seq)) return *n;
  return m.seq < q.recovered_below ? 1 : 0;
}

std::optional<std::pair<MessageView, uint32_t>> Broker::take_ready(Queue& q) {
  while (!q.returned.empty()) {
    const auto [seq, prior] = *q.returned.begin();
    q.returned.erase(q.returned.begin());
    if (auto m = journal_.get_message(q.rec.id, seq)) return std::make_pair(*m, prior);
    spdlog::warn("queue {}: requeued seq {} is not in the journal; skipped", q.rec.name, seq);
  }
  while (q.scan_pos < q.rec.next_seq) {
    auto m = journal_.next_message(q.rec.id, q.scan_pos);
    if (!m) {
      q.scan_pos = q.rec.next_seq;
      break;
    }
    q.scan_pos = m->seq + 1;
    if (q.inflight.count(m->seq)) continue;
    // Not yet due: the delayed timer hands it back through `returned`. Mark
    // it "never delivered" for a restart, which would see it below the
    // saved read position.
    if (m->meta.due_ms > clock_.wall_ms) {
      journal_.set_attempts(q.rec.id, m->seq, 0);
      continue;
    }
    return std::make_pair(*m, prior_deliveries(q, *m));
  }
  return std::nullopt;
}

void Broker::deliver_queue(Queue& q) {
  if (q.consumers.empty()) return;
  std::vector<Outgoing> batch;
  std::size_t starved = 0;  // consumers in a row with no credit
  while (starved < q.consumers.size() && q.depth() > 0) {
    Consumer& c = *q.consumers[q.next_consumer++ % q.consumers.size()];
    if (c.credit == 0) {
      ++starved;
      continue;
    }
    starved = 0;
    const uint64_t want = std::min<uint64_t>(c.credit, c.batch);
    batch.clear();
    while (batch.size() < want) {
      auto picked = take_ready(q);
      if (!picked) break;
      const MessageView* m = &picked->first;
      const uint32_t attempt = picked->second + 1;
      if (m->meta.expire_ms != 0 && m->meta.expire_ms <= clock_.wall_ms) {
        dead_letter(q, *m, true);
        continue;
      }
      if (q.rec.options.max_attempts && attempt > *q.rec.options.max_attempts) {
        dead_letter(q, *m, false);
        continue;
      }
      Outgoing o;
      o.seq = m->seq;
      o.ts_ms = m->meta.ts_ms;
      o.due_ms = m->meta.due_ms;
      o.expire_ms = m->meta.expire_ms;
      o.attempt = attempt;
      if (m->meta.id) {
        o.has_id = true;
        o.id_binary = m->meta.id->binary;
        o.id = std::string(m->meta.id->bytes);
      }
      o.body = zmq::message_t(m->body.data(), m->body.size());
      batch.push_back(std::move(o));
    }
    if (batch.empty()) break;

    // Book-keeping first, then the frames.
    std::vector<uint64_t> ids(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Outgoing& o = batch[i];
      ids[i] = next_delivery_id_++;
      --c.credit;
      ++q.counters.delivered;
      if (o.attempt > 1) ++q.counters.redelivered;
      if (c.auto_ack) {
        // At-most-once: gone from the journal in the same commit that
        // precedes the DELIVER.
        MessageView v;
        v.seq = o.seq;
        v.meta.due_ms = o.due_ms;
        v.meta.expire_ms = o.expire_ms;
        remove_message(q, v, o.attempt >= 2 || o.due_ms != 0);
        continue;
      }
      // Redeliveries record their count; first deliveries are covered by the
      // queue's saved read position (journal.hpp, "Attempts survive a crash").
      if (o.attempt >= 2) {
        journal_.set_attempts(q.rec.id, o.seq, o.attempt);
      } else if (o.due_ms != 0) {
        journal_.erase_attempts(q.rec.id, o.seq);
      }
      q.inflight.insert(o.seq);
      Delivery d;
      d.consumer = &c;
      d.seq = o.seq;
      d.due_ms = o.due_ms;
      d.expire_ms = o.expire_ms;
      d.attempt = o.attempt;
      if (auto t = q.rec.options.ack_timeout) {
        d.ack_deadline_ms = clock_.steady_ms + *t;
        ack_deadlines_.emplace(d.ack_deadline_ms, ids[i]);
      }
      deliveries_.emplace(ids[i], d);
      c.deliveries.insert(ids[i]);
    }

    if (batch.size() == 1) {
      const Outgoing& o = batch[0];
      cqp1::MapWriter w(header_, o.has_id ? 6 : 5);
      cqp1::pack_string(w.key("q"), q.rec.name);
      w.key("d").pack(ids[0]);
      w.key("seq").pack(o.seq);
      if (o.has_id) pack_id(w.key("id"), o);
      w.key("attempt").pack(o.attempt);
      w.key("ts").pack(o.ts_ms);
    } else {
      const auto k = static_cast<uint32_t>(batch.size());
      cqp1::MapWriter w(header_, 7);
      cqp1::pack_string(w.key("q"), q.rec.name);
      w.key("n").pack(k);
      w.key("d").pack(ids);
      auto& p = w.packer();
      cqp1::pack_string(p, "seq");
      p.pack_array(k);
      for (const auto& o : batch) p.pack(o.seq);
      cqp1::pack_string(p, "attempt");
      p.pack_array(k);
      for (const auto& o : batch) p.pack(o.attempt);
      cqp1::pack_string(p, "ts");
      p.pack_array(k);
      for (const auto& o : batch) p.pack(o.ts_ms);
      cqp1::pack_string(p, "id");
      p.pack_array(k);
      for (const auto& o : batch) pack_id(p, o);
    }
    outbox_.begin(c.session->peer, "DELIVER", header_);
    for (auto& o : batch) outbox_.body(std::move(o.body));
  }
}

// Ends a delivery's time in flight (ACK, NACK, requeue of any kind): the
// consumer gets its credit back and the queue may deliver again. Returns the
// delivery, or nullopt for an unknown id.
std::optional<Delivery> Broker::release(uint64_t delivery_id) {
  auto it = deliveries_.find(delivery_id);
  if (it == deliveries_.end()) return std::nullopt;
  const Delivery d = it->second;
  deliveries_.erase(it);
  Consumer& c = *d.consumer;
  c.deliveries.erase(delivery_id);
  ++c.credit;
  c.queue->inflight.erase(d.seq);
  mark_ready(*c.queue);
  return d;
}

// Returns a delivery to its queue (NACK requeue, CANCEL, BYE, silence,
// ack_timeout), or dead-letters it when the next attempt would pass
// max_attempts. With count_attempt_limit false the caller decides.
void Broker::requeue(uint64_t delivery_id, bool count_attempt_limit) {
  const std::optional<Delivery> released = release(delivery_id);
  if (!released) return;
  const Delivery& d = *released;
  Queue& q = *d.consumer->queue;
  if (count_attempt_limit && q.rec.options.max_attempts && d.attempt >= *q.rec.options.max_attempts) {
    if (auto m = journal_.get_message(q.rec.id, d.seq)) dead_letter(q, *m, false);
    return;
  }
  q.returned.emplace(d.seq, d.attempt);
}

// ACK: the message is done with.
void Broker::settle(uint64_t delivery_id) {
  const std::optional<Delivery> released = release(delivery_id);
  if (!released) return;
  const Delivery& d = *released;
  Queue& q = *d.consumer->queue;
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
  q.record_dirty = true;
}

void Broker::dead_letter(Queue& q, const MessageView& m, bool expired) {
  // Copy before erasing: the view points into a page the erase may change.
  const std::string body(m.body);
  MessageMeta meta;
  std::string id_bytes;
  if (m.meta.id) {
    id_bytes = std::string(m.meta.id->bytes);
    meta.id = cqp1::ProducerId{id_bytes, m.meta.id->binary};
  }
  remove_message(q, m);
  if (expired) ++q.counters.expired;
  if (!q.rec.options.dead_letter) {
    ++q.counters.dropped;
    return;
  }
  Queue& dlq = queues_.get_or_create(*q.rec.options.dead_letter);
  if (dlq.rec.options.max_length && dlq.waiting() >= *dlq.rec.options.max_length) {
    ++q.counters.dropped;
    return;
  }
  meta.ts_ms = clock_.wall_ms;
  if (dlq.rec.options.ttl && *dlq.rec.options.ttl) meta.expire_ms = after(clock_.wall_ms, *dlq.rec.options.ttl);
  store(dlq, meta, body);
  ++q.counters.dead_lettered;
}

void Broker::cancel_consumer(Consumer& c) {
  const std::vector<uint64_t> out(c.deliveries.begin(), c.deliveries.end());
  for (uint64_t id : out) requeue(id, true);
  auto& list = c.queue->consumers;
  list.erase(std::remove(list.begin(), list.end(), &c), list.end());
}

void Broker::close_session(const std::string& peer) {
  auto it = sessions_.find(peer);
  if (it == sessions_.end()) return;
  for (auto& kv : it->second->consumers) cancel_consumer(*kv.second);
  sessions_.erase(it);
}

}  // namespace courier::proxy
