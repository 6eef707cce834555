// proxy/delivery_engine.cpp — picking ready messages and sending them.
//
// Picking: requeued ("returned") messages first, lowest seq first, then the
// journal read forward from scan_pos — so a queue is delivered in seq order.
// Bodies are copied out of the journal into ZeroMQ frames at once: a later
// write in the same transaction may move the page a view points into.
#include "delivery_engine.hpp"

#include "protocol/cqp1.hpp"

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

namespace courier::proxy {

namespace {

void pack_id(msgpack::packer<msgpack::sbuffer>& p, const Outgoing& o) {
  if (!o.has_id) {
    p.pack_nil();
    return;
  }
  cqp1::pack_producer_id(p, cqp1::ProducerId{o.id_view(), o.id_binary});
}

}  // namespace

void DeliveryEngine::deliver(const Clock& clock) {
  if (ready_queues_.empty()) return;
  clock_ = clock;
  std::set<uint32_t> ready;
  ready.swap(ready_queues_);
  last_marked_ = kNoQueue;
  DeliveryBudget budget{kMaxDeliveriesPerTurn, kMaxDeliveryBytesPerTurn};
  // Queues take turns: start after the last one served, wrap around.
  auto start = ready.lower_bound(next_ready_from_);
  std::vector<uint32_t> order(start, ready.end());
  order.insert(order.end(), ready.begin(), start);
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (budget.spent()) {
      ready_queues_.insert(order.begin() + i, order.end());  // the next turn goes on
      next_ready_from_ = order[i];
      return;
    }
    Queue* q = queues_.find(order[i]);
    if (q != nullptr && !deliver_queue(*q, budget)) {
      ready_queues_.insert(order[i]);
      next_ready_from_ = order[i] + 1;
    }
  }
}

// How often a message read forward from scan_pos was delivered before. In
// this process's life it never was (else it would come from `returned`), so
// only messages from before a restart, or once skipped while delayed, need
// the journal (see journal.hpp, "Attempts survive a crash").
uint32_t DeliveryEngine::prior_deliveries(Queue& q, const MessageView& m) {
  // Tokens journal every delivery (their attempt is a fence, §3.6).
  if (!q.rec.options.tokens && m.seq >= q.recovered_below && m.meta.due_ms == 0) return 0;
  if (auto n = journal_.attempts(q.rec.id, m.seq)) return *n;
  return m.seq < q.recovered_below ? 1 : 0;
}

std::optional<std::pair<MessageView, uint32_t>> DeliveryEngine::take_ready(Queue& q) {
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
      if (!journal_.make_room(journal_.attempts_cost(), Room::consumer)) {
        q.scan_pos = m->seq;  // read it again once there is room
        host_.wait_for_room(q);
        return std::nullopt;
      }
      journal_.set_attempts(q.rec.id, m->seq, 0);
      continue;
    }
    host_.mark_dirty(q);  // the read position moved: saved as delivered_below
    return std::make_pair(*m, prior_deliveries(q, *m));
  }
  return std::nullopt;
}

// Serves the queue's consumers in turn, one DELIVER each, in three phases:
// pick the messages (pick_batch), book them as delivered (account_batch),
// then encode the DELIVER (send_deliver).
bool DeliveryEngine::deliver_queue(Queue& q, DeliveryBudget& budget) {
  if (q.consumers.empty()) return true;
  std::vector<Outgoing>& batch = batch_;
  std::vector<uint64_t>& ids = ids_;
  std::size_t starved = 0;  // consumers in a row that may not be sent more
  bool blocked = false;     // the journal has no room for what comes next
  while (starved < q.consumers.size() && q.depth() > 0 && !blocked) {
    if (budget.spent()) return false;
    Subscription& c = *q.consumers[q.next_consumer++ % q.consumers.size()];
    UnreadDeliveries& unread = c.session->unread[q.rec.id];
    if (c.credit == 0 || c.remaining == uint64_t{0} || !unread.allows_more(c.window)) {
      ++starved;
      continue;
    }
    starved = 0;
    const uint64_t want = std::min<uint64_t>({c.credit, c.batch, budget.messages, c.remaining.value_or(UINT64_MAX)});
    const uint64_t batch_bytes = pick_batch(q, c, want, budget.bytes, batch, blocked);
    if (batch.empty()) break;
    budget.messages -= batch.size();
    if (c.remaining) *c.remaining -= batch.size();
    budget.bytes -= std::min(budget.bytes, std::max<uint64_t>(batch_bytes, 1));
    account_batch(q, c, batch, ids);  // book-keeping first, then the frames
    send_deliver(q, c, batch, ids);
    unread.add(ids.front(), ids.back(), batch.size(), batch_bytes);
  }
  return true;
}

// Pick: up to `want` ready messages (and `max_bytes`) in seq order, copied out
// of the journal. Expired or exhausted ones are dead-lettered on the way.
// `blocked` is set when the journal has no room for what the next one needs;
// that one goes back to its place. Returns: the bodies' bytes.
uint64_t DeliveryEngine::pick_batch(Queue& q, const Subscription& c, uint64_t want, uint64_t max_bytes,
                            std::vector<Outgoing>& batch, bool& blocked) {
  uint64_t batch_bytes = 0;
  batch.clear();
  while (batch.size() < want && batch_bytes < max_bytes) {
    auto picked = take_ready(q);
    if (!picked) break;
    const MessageView* m = &picked->first;
    const uint32_t attempt = picked->second + 1;
    const bool expired = m->meta.expire_ms != 0 && m->meta.expire_ms <= clock_.wall_ms;
    const bool exhausted = q.rec.options.max_attempts && attempt > *q.rec.options.max_attempts;
    if (expired || exhausted) {
      if (host_.dead_letter(q, *m, expired)) continue;
      blocked = true;  // no room for the move
    }
    Outgoing o;
    if (!blocked) {
      // Copied out before make_room: a map growth commits, and views die.
      o.seq = m->seq;
      o.ts_ms = m->meta.ts_ms;
      o.due_ms = m->meta.due_ms;
      o.expire_ms = m->meta.expire_ms;
      o.attempt = attempt;
      if (m->meta.id) {
        o.has_id = true;
        o.id_binary = m->meta.id->binary;
        const std::string_view id = m->meta.id->bytes;
        if (id.size() > sizeof o.id) throw JournalError("journal message has a producer id over 128 bytes: the data file is damaged");
        o.id_size = static_cast<uint8_t>(id.size());
        std::memcpy(o.id, id.data(), id.size());
      }
      o.body = zmq::message_t(m->body.data(), m->body.size());
      // A redelivery journals its count before it leaves (journal.hpp),
      // and so does every delivery of a token: its attempt is a fence.
      blocked = journals_attempt(q, attempt, c.auto_ack) &&
                !journal_.make_room(journal_.attempts_cost(), Room::consumer);
    }
    if (blocked) {
      q.returned.emplace(m->seq, picked->second);  // back in its place, tried again later
      host_.wait_for_room(q);
      break;
    }
    batch_bytes += o.body.size();
    batch.push_back(std::move(o));
  }
  return batch_bytes;
}

// Account: a delivery id each, credit and counters, and the journal writes
// the commit before the DELIVER must carry (auto_ack removal, attempts).
void DeliveryEngine::account_batch(Queue& q, Subscription& c, const std::vector<Outgoing>& batch,
                           std::vector<uint64_t>& ids) {
  ids.resize(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const Outgoing& o = batch[i];
    ids[i] = deliveries_.new_id();
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
      host_.remove_delivered(q, v, o.attempt >= 2 || o.due_ms != 0);
      continue;
    }
    // Redeliveries record their count; first deliveries are covered by the
    // queue's saved read position (journal.hpp, "Attempts survive a crash").
    if (journals_attempt(q, o.attempt, false)) {
      journal_.set_attempts(q.rec.id, o.seq, o.attempt);
    } else if (o.due_ms != 0) {
      journal_.erase_attempts(q.rec.id, o.seq);
    }
    UnackedDelivery d;
    d.consumer = &c;
    d.seq = o.seq;
    d.due_ms = o.due_ms;
    d.expire_ms = o.expire_ms;
    d.attempt = o.attempt;
    deliveries_.add(ids[i], d);
    if (auto t = q.rec.options.ack_timeout) deliveries_.set_deadline(ids[i], after(clock_.steady_ms, *t));
  }
}

// Encode: one DELIVER (§3.2; the batch form of §3.4 for more than one),
// its bodies moved into the outbox.
void DeliveryEngine::send_deliver(Queue& q, Subscription& c, std::vector<Outgoing>& batch,
                          const std::vector<uint64_t>& ids) {
  if (batch.size() == 1) {
    const Outgoing& o = batch[0];
    cqp1::MapWriter w(header_, o.has_id ? 6 : 5);
    cqp1::pack_string(w.key(cqp1::key::q), q.rec.name);
    w.key(cqp1::key::d).pack(ids[0]);
    w.key(cqp1::key::seq).pack(o.seq);
    if (o.has_id) pack_id(w.key(cqp1::key::id), o);
    w.key(cqp1::key::attempt).pack(o.attempt);
    w.key(cqp1::key::ts).pack(o.ts_ms);
  } else {
    const auto k = static_cast<uint32_t>(batch.size());
    cqp1::MapWriter w(header_, 7);
    cqp1::pack_string(w.key(cqp1::key::q), q.rec.name);
    w.key(cqp1::key::n).pack(k);
    w.key(cqp1::key::d).pack(ids);
    auto& p = w.packer();
    cqp1::pack_string(p, cqp1::key::seq);
    p.pack_array(k);
    for (const auto& o : batch) p.pack(o.seq);
    cqp1::pack_string(p, cqp1::key::attempt);
    p.pack_array(k);
    for (const auto& o : batch) p.pack(o.attempt);
    cqp1::pack_string(p, cqp1::key::ts);
    p.pack_array(k);
    for (const auto& o : batch) p.pack(o.ts_ms);
    cqp1::pack_string(p, cqp1::key::id);
    p.pack_array(k);
    for (const auto& o : batch) pack_id(p, o);
  }
  outbox_.begin(c.session->peer, "DELIVER", header_);
  for (auto& o : batch) outbox_.body(std::move(o.body));
}

// The credit comes back with the delivery's end, whatever ended it.
std::optional<UnackedDelivery> DeliveryEngine::release(uint64_t delivery_id) {
  std::optional<UnackedDelivery> d = deliveries_.remove(delivery_id);
  if (!d) return std::nullopt;
  Subscription& c = *d->consumer;
  ++c.credit;
  mark_ready(*c.queue);
  return d;
}

}  // namespace courier::proxy
