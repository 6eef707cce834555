// proxy/put.cpp — PUT, single and batch (PROTOCOL.md §3.1, §3.4), in the
// four phases every PUT goes through:
//   parse   the header and the body frames into a PutRequest (400 if bad;
//           put_request.hpp);
//   admit   every check that can refuse it (421 moved, 409 token queue,
//           413 too large, 503 no journal room, 429 max_length) — before
//           anything is written, so a refused PUT changes nothing;
//   store   dedup claims and message records into the turn's transaction;
//   confirm the CONFIRM, which waits in the outbox for the turn's commit.
#include "broker.hpp"

namespace courier::proxy {

using cqp1::HeaderView;
using cqp1::MapWriter;

void Broker::on_put(Session& s, const HeaderView& h, std::vector<zmq::message_t>& frames) {
  PutRequest& put = put_;  // reused: see put_request.hpp
  read_put(h, frames.size() - 4, put);
  Queue* existing = queues_.find(put.queue);
  if (!admit_put(s, put, existing, frames)) return;
  Queue& q = existing ? *existing : open_queue(put.queue);  // after the checks: a refused PUT creates nothing
  store_put(q, put, frames);
  confirm_put(s, put);
}

// ---- admit ------------------------------------------------------------------

bool Broker::admit_put(Session& s, const PutRequest& put, Queue* existing,
                       const std::vector<zmq::message_t>& frames) {
  // A moved queue takes no new work here; its copy drains (docs/PROTOCOL.md
  // §3.13). The new owner's name rides along so a client can follow it.
  if (existing && existing->rec.options.moved_to) {
    const std::string& to = *existing->rec.options.moved_to;
    MapWriter w(header_, 4);
    w.key(cqp1::key::code).pack(static_cast<int>(cqp1::kMoved));
    cqp1::pack_string(w.key(cqp1::key::reason), "queue '" + std::string(put.queue) + "' moved to proxy '" + to +
                                                    "': publish there (refresh your shard map)");
    w.key(cqp1::key::tag).pack(put.tag);
    cqp1::pack_string(w.key(cqp1::key::moved_to), to);
    outbox_.begin(s.peer, "ERROR", header_);
    return false;
  }
  if (existing && existing->rec.options.tokens) {
    reply_error(s.peer, cqp1::kConflict,
                "queue " + std::string(put.queue) + " is a token queue (a lock or semaphore): it takes no PUT",
                put.tag);
    return false;
  }

  // Room for everything the PUT may write: records, dedup entries, indexes.
  uint64_t payload = 0, id_count = 0, id_bytes = 0;
  for (std::size_t i = 0; i < put.bodies; ++i) {
    const std::size_t size = frames[4 + i].size();
    if (size > config_.max_message) {
      reply_error(s.peer, cqp1::kTooLarge,
                  "message of " + std::to_string(size) + " bytes is larger than --max-message (" +
                      std::to_string(config_.max_message) + " bytes)",
                  put.tag);
      return false;
    }
    const std::size_t id_size = put.ids[i] ? put.ids[i]->bytes.size() : 0;
    payload += journal_.record_size(size, id_size);
    id_count += put.ids[i] ? 1 : 0;
    id_bytes += id_size;
  }
  const bool expires = put.ttl || (existing && existing->rec.options.ttl);
  const uint64_t timed = put.bodies * ((put.delay ? 1 : 0) + (expires ? 1 : 0));
  if (!journal_.make_room(journal_.put_cost(payload, id_count, id_bytes, timed), Room::producer)) {
    reply_error(s.peer, cqp1::kUnavailable, journal_.no_room_reason() + "; consumers and ACKs keep working",
                put.tag);
    return false;
  }

  // max_length needs the count of new messages before anything is stored:
  // a read-only pass. A repeated id inside the batch is a duplicate of its
  // first occurrence.
  if (existing && existing->rec.options.max_length) {
    const uint64_t since = dedup_since();
    uint64_t fresh = 0;
    batch_ids_.clear();
    for (std::size_t i = 0; i < put.bodies; ++i) {
      if (put.ids[i] && (!batch_ids_.emplace(put.ids[i]->bytes, i).second ||
                         journal_.dedup_live(existing->rec.id, put.ids[i]->bytes, since))) {
        continue;
      }
      ++fresh;
    }
    if (existing->waiting() + fresh > *existing->rec.options.max_length) {
      reply_error(s.peer, cqp1::kQueueFull,
                  "queue " + std::string(put.queue) + " is at max_length " +
                      std::to_string(*existing->rec.options.max_length) + ": wait and retry",
                  put.tag);
      return false;
    }
  }
  return true;
}

// ---- store ------------------------------------------------------------------

uint64_t Broker::dedup_since() const {
  return clock_.wall_ms > config_.dedup_window_ms ? clock_.wall_ms - config_.dedup_window_ms : 0;
}

void Broker::store_put(Queue& q, PutRequest& put, const std::vector<zmq::message_t>& frames) {
  const uint64_t since = dedup_since();
  const std::optional<uint64_t> effective_ttl = put.ttl ? put.ttl : q.rec.options.ttl;
  journal_.dedup_begin(q.rec.id, clock_.wall_ms);
  for (std::size_t i = 0; i < put.bodies; ++i) {
    // The claim names the seq store() is about to assign.
    if (put.ids[i]) {
      if (auto first = journal_.dedup_claim(put.ids[i]->bytes, q.rec.next_seq, since)) {
        put.seqs[i] = *first;
        put.dup[i] = true;
        continue;
      }
    }
    MessageMeta meta;
    meta.ts_ms = clock_.wall_ms;
    meta.due_ms = put.delay ? after(clock_.wall_ms, put.delay) : 0;
    meta.expire_ms = effective_ttl && *effective_ttl ? after(clock_.wall_ms, *effective_ttl) : 0;
    meta.id = put.ids[i];
    put.seqs[i] = store(q, meta, frames[4 + i].to_string_view());
    ++q.counters.put;
  }
  journal_.dedup_end();
}

uint64_t Broker::store(Queue& q, const MessageMeta& meta, std::string_view body) {
  const uint64_t seq = q.rec.next_seq++;
  journal_.put_message(q.rec.id, seq, meta, body);
  ++q.rec.stored;
  mark_dirty(q);
  if (meta.due_ms != 0) {
    journal_.index_put(TimeIndex::delayed, {meta.due_ms, q.rec.id, seq});
    ++q.rec.delayed;
    timers_.bring_forward(Timer::delayed_release, meta.due_ms);
  } else {
    mark_ready(q);
  }
  if (meta.expire_ms != 0) {
    journal_.index_put(TimeIndex::expiry, {meta.expire_ms, q.rec.id, seq});
    timers_.bring_forward(Timer::ttl_expiry, meta.expire_ms);
  }
  return seq;
}

// ---- confirm ----------------------------------------------------------------

// The CONFIRM waits in the outbox until the turn's commit (see Loop::turn).
void Broker::confirm_put(Session& s, const PutRequest& put) {
  if (!put.n) {
    MapWriter w(header_, put.dup[0] ? 3 : 2);
    w.key(cqp1::key::tag).pack(put.tag);
    w.key(cqp1::key::seq).pack(put.seqs[0]);
    if (put.dup[0]) w.key(cqp1::key::dup).pack(true);
  } else {
    MapWriter w(header_, 4);
    w.key(cqp1::key::tag).pack(put.tag);
    w.key(cqp1::key::n).pack(*put.n);
    w.key(cqp1::key::seq).pack(put.seqs);
    auto& p = w.key(cqp1::key::dup);
    p.pack_array(static_cast<uint32_t>(put.bodies));
    for (bool d : put.dup) p.pack(d);
  }
  outbox_.begin(s.peer, "CONFIRM", header_);
}

}  // namespace courier::proxy
