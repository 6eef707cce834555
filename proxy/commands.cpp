// proxy/commands.cpp — one function per client command (PROTOCOL.md §3.1);
// PUT, the hot one, has its own file (put.cpp).
//
// Each validates everything first and changes state only when the whole
// command is acceptable: "a refused command changes nothing".
#include "broker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace courier::proxy {

using cqp1::BadRequest;
using cqp1::Command;
using cqp1::HeaderView;
using cqp1::MapWriter;

namespace {
constexpr uint64_t kMaxTokens = 65536;  // §3.6

// A shard map's proxy name (shard_map.hpp): 1-64 bytes of [A-Za-z0-9._-].
bool valid_proxy_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}
}  // namespace

void Broker::reply_error(const std::string& peer, int code, std::string_view reason,
                         std::optional<uint64_t> tag) {
  MapWriter w(header_, tag ? 3 : 2);
  w.key(cqp1::key::code).pack(code);
  cqp1::pack_string(w.key(cqp1::key::reason), reason);
  if (tag) w.key(cqp1::key::tag).pack(*tag);
  outbox_.begin(peer, "ERROR", header_);
}

void Broker::reply_simple(Session& s, std::string_view command, std::string_view q) {
  MapWriter w(header_, 1);
  cqp1::pack_string(w.key(cqp1::key::q), q);
  outbox_.begin(s.peer, command, header_);
}

void Broker::dispatch(Session& s, Command cmd, const HeaderView& h, std::vector<zmq::message_t>& frames) {
  switch (cmd) {
    case Command::HELLO: return on_hello(s, h);
    case Command::PUT: return on_put(s, h, frames);
    case Command::CONSUME: return on_consume(s, h);
    case Command::ACK: return on_ack(s, h);
    case Command::NACK: return on_nack(s, h);
    case Command::TOUCH: return on_touch(s, h);
    case Command::CREDIT: return on_credit(s, h);
    case Command::CANCEL: return on_cancel(s, h);
    case Command::DECLARE: return on_declare(s, h);
    case Command::STATS: return on_stats(s, h);
    case Command::PURGE: return on_purge(s, h);
    case Command::DELETE: return on_delete(s, h);
    case Command::PING: return reply_pong(s);
    case Command::BYE: {
      const std::string peer = s.peer;  // s dies with the session
      return close_session(peer);
    }
    default: throw BadRequest("is not a client command");
  }
}

void Broker::on_hello(Session& s, const HeaderView& h) {
  // "v" is required by §3.1; a client that omits it is taken to mean 1.
  const uint64_t v = h.uint(cqp1::key::v).value_or(cqp1::kVersion);
  if (v != cqp1::kVersion) {
    throw BadRequest("protocol version " + std::to_string(v) + " is not supported; this proxy speaks v 1");
  }
  if (auto name = h.str(cqp1::key::name)) s.name = std::string(*name);
  s.said_hello = true;
  MapWriter w(header_, 4);
  w.key(cqp1::key::v).pack(cqp1::kVersion);
  w.key(cqp1::key::hb).pack(config_.heartbeat_ms);
  cqp1::pack_string(w.key(cqp1::key::proxy), "courier-proxy " COURIER_VERSION);
  cqp1::pack_string(w.key(cqp1::key::boot), boot_);
  outbox_.begin(s.peer, "WELCOME", header_);
}

void Broker::reply_pong(Session& s) {
  MapWriter w(header_, 1);
  cqp1::pack_string(w.key(cqp1::key::boot), boot_);
  outbox_.begin(s.peer, "PONG", header_);
}

// ---- consuming ------------------------------------------------------------

void Broker::on_consume(Session& s, const HeaderView& h) {
  const std::string_view name = h.need_queue();
  const uint64_t credit = h.need_uint(cqp1::key::credit);
  if (credit < 1) throw BadRequest("'credit' must be at least 1");
  const bool auto_ack = h.boolean(cqp1::key::auto_ack).value_or(false);
  const uint64_t batch = std::min<uint64_t>(h.uint(cqp1::key::batch).value_or(1), cqp1::kMaxBatch);
  const std::optional<uint64_t> limit = h.uint(cqp1::key::limit);
  if (limit && *limit < 1) throw BadRequest("'limit' must be at least 1");
  if (Queue* tq = queues_.find(name); tq && tq->rec.options.tokens && auto_ack) {
    throw BadRequest("'auto_ack' cannot be true on token queue " + std::string(name) +
                     ": a token is held until it is acked or nacked");
  }

  Queue& q = open_queue(name);
  auto& slot = s.consumers[q.rec.id];
  if (!slot) {
    slot = std::make_unique<Subscription>();
    slot->session = &s;
    slot->queue = &q;
    q.consumers.push_back(slot.get());
  }
  // A repeated CONSUME resets the window, counting what is already out.
  Subscription& c = *slot;
  c.auto_ack = auto_ack;
  c.batch = static_cast<uint32_t>(std::max<uint64_t>(batch, 1));
  c.credit = credit > c.unacked ? credit - c.unacked : 0;
  c.window = credit;
  c.remaining = limit;  // a repeated CONSUME starts a new count
  reply_simple(s, "CONSUMING", name);
  mark_ready(q);
}

template <class F>
void Broker::for_each_delivery(Session& s, const HeaderView& h, std::string_view command, F&& f) {
  const msgpack::object_array* d = h.array(cqp1::key::d);
  if (d == nullptr) throw BadRequest("missing 'd' (a list of delivery ids)");
  std::vector<uint64_t> ids;
  ids.reserve(d->size);
  for (uint32_t i = 0; i < d->size; ++i) ids.push_back(cqp1::as_uint(d->ptr[i], "'d' entry"));
  s.saw_delivery_ids(ids);
  std::vector<uint64_t> unknown;
  for (uint64_t id : ids) {
    const UnackedDelivery* d = deliveries_.find(id);
    if (d == nullptr || d->consumer->session != &s) {
      unknown.push_back(id);
      continue;
    }
    f(id);
  }
  if (!unknown.empty()) {
    std::string list;
    for (uint64_t id : unknown) list += (list.empty() ? "" : ", ") + std::to_string(id);
    MapWriter w(header_, 3);
    w.key(cqp1::key::code).pack(static_cast<int>(cqp1::kNotFound));
    cqp1::pack_string(w.key(cqp1::key::reason),
                      std::string(command) + ": unknown delivery id(s) " + list +
                          " (already acked, requeued, or not delivered to this client)");
    w.key(cqp1::key::d).pack(unknown);
    outbox_.begin(s.peer, "ERROR", header_);
  }
}

void Broker::on_ack(Session& s, const HeaderView& h) {
  for_each_delivery(s, h, "ACK", [&](uint64_t id) { settle(id); });
}

void Broker::on_nack(Session& s, const HeaderView& h) {
  const bool requeue_it = h.boolean(cqp1::key::requeue).value_or(true);
  std::vector<uint64_t> kept;  // dead-letter moves that found no journal room
  for_each_delivery(s, h, "NACK", [&](uint64_t id) {
    if (requeue_it || deliveries_.find(id)->consumer->queue->rec.options.tokens) {
      requeue(id, true);  // a token is never dead-lettered: NACK returns it too
      return;
    }
    const UnackedDelivery d = *deliveries_.find(id);
    Queue& q = *d.consumer->queue;
    requeue(id, false);  // releases the delivery and the consumer's credit
    auto m = journal_.get_message(q.rec.id, d.seq);
    if (!m) return;
    if (dead_letter(q, *m, false)) {
      q.returned.erase(d.seq);  // requeue() put it there
    } else {
      kept.push_back(id);  // stays requeued: nothing is lost, it comes again
    }
  });
  if (!kept.empty()) {
    MapWriter w(header_, 3);
    w.key(cqp1::key::code).pack(static_cast<int>(cqp1::kUnavailable));
    cqp1::pack_string(w.key(cqp1::key::reason),
                      "NACK: the dead-letter move of " + std::to_string(kept.size()) +
                          " delivery(ies) waits for journal room (" + journal_.no_room_reason() +
                          "); they were requeued instead");
    w.key(cqp1::key::d).pack(kept);
    outbox_.begin(s.peer, "ERROR", header_);
  }
}

void Broker::on_touch(Session& s, const HeaderView& h) {
  for_each_delivery(s, h, "TOUCH", [&](uint64_t id) {
    const UnackedDelivery& d = *deliveries_.find(id);
    if (auto t = d.consumer->queue->rec.options.ack_timeout) deliveries_.set_deadline(id, after(clock_.steady_ms, *t));
  });
}

void Broker::on_credit(Session& s, const HeaderView& h) {
  const std::string_view name = h.need_queue();
  const uint64_t n = h.need_uint(cqp1::key::n);
  Queue* q = queues_.find(name);
  auto it = q ? s.consumers.find(q->rec.id) : s.consumers.end();
  if (it == s.consumers.end()) {
    return reply_error(s.peer, cqp1::kNotFound,
                       "CREDIT: this client has no consumer on queue " + std::string(name) + " (send CONSUME first)");
  }
  // Saturating: a credit of 2^64-1 means "unlimited", never "wrapped to 0".
  Subscription& c = *it->second;
  c.credit = n > UINT64_MAX - c.credit ? UINT64_MAX : c.credit + n;
  c.window = n > UINT64_MAX - c.window ? UINT64_MAX : c.window + n;
  // An auto_ack consumer asks for more once it has read what it got.
  if (c.auto_ack) s.unread[q->rec.id].read_oldest(n);
  mark_ready(*q);
}

void Broker::on_cancel(Session& s, const HeaderView& h) {
  const std::string_view name = h.need_queue();
  if (Queue* q = queues_.find(name)) {
    auto it = s.consumers.find(q->rec.id);
    if (it != s.consumers.end()) {
      cancel_consumer(*it->second);
      s.consumers.erase(it);
    }
  }
  reply_simple(s, "CANCELLED", name);
}

// ---- queue administration -----------------------------------------------------

void Broker::on_declare(Session& s, const HeaderView& h) {
  const std::string_view name = h.need_queue();
  QueueOptions o;
  o.max_length = h.uint(cqp1::key::max_length);
  o.max_attempts = h.uint(cqp1::key::max_attempts);
  o.ttl = h.uint(cqp1::key::ttl);
  o.ack_timeout = h.uint(cqp1::key::ack_timeout);
  o.tokens = h.uint(cqp1::key::tokens);
  if (o.tokens && (*o.tokens < 1 || *o.tokens > kMaxTokens)) throw BadRequest("'tokens' must be 1..65536");
  if (auto dl = h.str(cqp1::key::dead_letter)) {
    if (!cqp1::valid_queue_name(*dl)) throw BadRequest("'dead_letter' must be a queue name of 1-200 bytes of [A-Za-z0-9._:-]");
    if (*dl == name) throw BadRequest("'dead_letter' cannot be the queue itself");
    if (const Queue* target = queues_.find(*dl); target && target->rec.options.tokens) {
      throw BadRequest("'dead_letter' " + std::string(*dl) +
                       " is a token queue: it holds its tokens and nothing else");
    }
    if (auto via = dead_letter_cycle(name, *dl)) {
      throw BadRequest("'dead_letter' " + std::string(*dl) + " would make a dead-letter cycle (" + *via +
                       " leads back to " + std::string(name) + "): messages would move for ever");
    }
    o.dead_letter = std::string(*dl);
  }
  if (auto to = h.str(cqp1::key::moved_to)) {
    if (!to->empty() && !valid_proxy_name(*to)) {
      throw BadRequest("'moved_to' must be a proxy name of 1-64 bytes of [A-Za-z0-9._-], or \"\" to clear it");
    }
    o.moved_to = std::string(*to);
  }
  if (o.max_attempts && *o.max_attempts == 0) throw BadRequest("'max_attempts' must be at least 1");
  if (o.ack_timeout && *o.ack_timeout == 0) throw BadRequest("'ack_timeout' must be at least 1 ms");
  Queue* existing = queues_.find(name);
  const bool token_queue = o.tokens || (existing && existing->rec.options.tokens);
  if (token_queue && (o.max_length || o.dead_letter || o.max_attempts || o.ttl || o.moved_to)) {
    throw BadRequest("a token queue (lock or semaphore) takes only 'ack_timeout' besides 'tokens': "
                     "max_length, dead_letter, max_attempts, ttl and moved_to do not apply to tokens");
  }
  // Unlike everywhere else, an unknown key is refused: a mistyped policy must
  // not pass silently. Checked after the types, since 400 wins over 404.
  static constexpr std::string_view kKnown[] = {
      cqp1::key::q,   cqp1::key::max_length,  cqp1::key::dead_letter, cqp1::key::max_attempts,
      cqp1::key::ttl, cqp1::key::ack_timeout, cqp1::key::tokens,   cqp1::key::moved_to};
  for (uint32_t i = 0; i < h.map().size; ++i) {
    const auto& k = h.map().ptr[i].key.via.str;
    const std::string_view key(k.ptr, k.size);
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      return reply_error(s.peer, cqp1::kNotFound,
                         "DECLARE: unknown queue option '" + printable(key.substr(0, 64)) +
                             "' (known: max_length, dead_letter, max_attempts, ttl, ack_timeout, tokens, moved_to)");
    }
  }
  if (o.tokens && existing) {
    const auto& have = existing->rec.options.tokens;
    if (have && *have != *o.tokens) {
      return reply_error(s.peer, cqp1::kConflict,
                         "DECLARE: queue " + std::string(name) + " has " + std::to_string(*have) +
                             " tokens; their number cannot change (declare another queue)");
    }
    const bool auto_ack_consumer = std::any_of(existing->consumers.begin(), existing->consumers.end(),
                                               [](const Subscription* c) { return c->auto_ack; });
    if (!have && auto_ack_consumer) {
      return reply_error(s.peer, cqp1::kConflict,
                         "DECLARE: queue " + std::string(name) +
                             " has an auto_ack consumer, which would take the tokens away for good: cancel it first");
    }
    if (!have && existing->rec.stored != 0) {
      return reply_error(s.peer, cqp1::kConflict,
                         "DECLARE: queue " + std::string(name) + " holds " + std::to_string(existing->rec.stored) +
                             " ordinary message(s): only an empty queue can become a token queue");
    }
    // Policies an earlier DECLARE set would apply to the tokens: max_attempts
    // would drop a token on its second delivery, dead_letter move it away.
    // A token is never removed (§3.6), so such a queue stays ordinary.
    // (Found by fuzz/broker_fuzz: a lock queue lost its token.)
    const QueueOptions& old = existing->rec.options;
    if (!have && (old.max_length || old.dead_letter || old.max_attempts || old.ttl)) {
      std::string set;
      for (const auto& [key, on] : {std::pair<std::string_view, bool>{cqp1::key::max_length, old.max_length.has_value()},
                                    {cqp1::key::dead_letter, old.dead_letter.has_value()},
                                    {cqp1::key::max_attempts, old.max_attempts.has_value()},
                                    {cqp1::key::ttl, old.ttl.has_value()}}) {
        if (on) set += (set.empty() ? "" : ", ") + std::string(key);
      }
      return reply_error(s.peer, cqp1::kConflict,
                         "DECLARE: queue " + std::string(name) + " has " + set +
                             " from an earlier DECLARE, which would remove tokens: declare another queue");
    }
  }
  const bool new_tokens = o.tokens && !(existing && existing->rec.options.tokens);
  if (new_tokens && !journal_.make_room(token_cost(*o.tokens), Room::producer)) {
    return reply_error(s.peer, cqp1::kUnavailable,
                       "DECLARE: no journal room for the tokens: " + journal_.no_room_reason());
  }
  Queue& q = open_queue(name);
  if (new_tokens) store_tokens(q, *o.tokens);
  QueueOptions& cur = q.rec.options;
  if (o.max_length) cur.max_length = o.max_length;
  if (o.max_attempts) cur.max_attempts = o.max_attempts;
  if (o.ttl) cur.ttl = o.ttl;
  if (o.ack_timeout) cur.ack_timeout = o.ack_timeout;
  if (o.dead_letter) cur.dead_letter = o.dead_letter;
  if (o.moved_to) {  // "" clears: the queue takes PUTs here again
    if (o.moved_to->empty()) cur.moved_to.reset();
    else cur.moved_to = o.moved_to;
  }
  mark_dirty(q);
  MapWriter w(header_, 2);
  cqp1::pack_string(w.key(cqp1::key::q), name);
  w.key(cqp1::key::depth).pack(q.depth());
  outbox_.begin(s.peer, "DECLARED", header_);
}

void Broker::on_stats(Session& s, const HeaderView& h) {
  std::vector<Queue*> shown;
  if (h.find(cqp1::key::q) != nullptr) {
    if (Queue* q = queues_.find(h.need_queue())) shown.push_back(q);
  } else {
    queues_.for_each([&](Queue& q) { shown.push_back(&q); });
  }
  const std::size_t clients = sessions_.clients();

  header_.clear();
  msgpack::packer<msgpack::sbuffer> pk(header_);
  pk.pack_map(3);
  cqp1::pack_string(pk, cqp1::key::queues);
  pk.pack_map(static_cast<uint32_t>(shown.size()));
  for (Queue* q : shown) {
    cqp1::pack_string(pk, q->rec.name);
    const auto& tokens = q->rec.options.tokens;
    const auto& moved_to = q->rec.options.moved_to;
    pk.pack_map(11 + (tokens ? 1 : 0) + (moved_to ? 1 : 0));
    if (tokens) {
      cqp1::pack_string(pk, cqp1::key::tokens);
      pk.pack(*tokens);
    }
    if (moved_to) {
      cqp1::pack_string(pk, cqp1::key::moved_to);
      cqp1::pack_string(pk, *moved_to);
    }
    const QueueCounters& c = q->counters;
    const std::pair<std::string_view, uint64_t> fields[] = {
        {cqp1::key::depth, q->depth()},         {cqp1::key::inflight, q->inflight.size()},
        {cqp1::key::consumers, q->consumers.size()}, {cqp1::key::delayed, q->rec.delayed},
        {cqp1::key::put, c.put},                {cqp1::key::delivered, c.delivered},
        {cqp1::key::acked, c.acked},            {cqp1::key::redelivered, c.redelivered},
        {cqp1::key::dead_lettered, c.dead_lettered}, {cqp1::key::dropped, c.dropped},
        {cqp1::key::expired, c.expired}};
    for (const auto& [k, v] : fields) {
      cqp1::pack_string(pk, k);
      pk.pack(v);
    }
  }
  cqp1::pack_string(pk, cqp1::key::uptime_ms);
  pk.pack(clock_.steady_ms - started_steady_ms_);
  cqp1::pack_string(pk, cqp1::key::clients);
  pk.pack(clients);
  outbox_.begin(s.peer, "STATS", header_);
}

// The N tokens of a new token queue are ordinary records (bodies: the
// msgpack uints 1..N), stored in this turn's transaction like a PUT.
uint64_t Broker::token_cost(uint64_t tokens) {
  return journal_.put_cost(tokens * journal_.record_size(9, 0), 0, 0, 0);
}

void Broker::store_tokens(Queue& q, uint64_t tokens) {
  q.rec.options.tokens = tokens;
  msgpack::sbuffer body;
  for (uint64_t i = 1; i <= tokens; ++i) {
    body.clear();
    msgpack::pack(body, i);
    MessageMeta meta;
    meta.ts_ms = clock_.wall_ms;
    store(q, meta, std::string_view(body.data(), body.size()));
  }
}

// Following dead_letter links from `dead_letter`: the queue that links back
// to `queue`, if any. Cycles are refused when declared, so every chain ends.
std::optional<std::string> Broker::dead_letter_cycle(std::string_view queue, std::string_view dead_letter) {
  std::set<std::string_view> seen{queue};
  std::string_view at = dead_letter;
  while (const Queue* q = queues_.find(at)) {
    if (!q->rec.options.dead_letter || !seen.insert(at).second) return std::nullopt;
    if (*q->rec.options.dead_letter == queue) return std::string(at);
    at = *q->rec.options.dead_letter;
  }
  return std::nullopt;
}

void Broker::on_purge(Session& s, const HeaderView& h) {
  const std::string_view name = h.need_queue();
  uint64_t removed = 0;
  if (Queue* q = queues_.find(name); q && q->rec.options.tokens) {
    return reply_error(s.peer, cqp1::kConflict,
                       "PURGE: queue " + std::string(name) + " is a token queue: its tokens are never removed");
  }
  if (Queue* q = queues_.find(name)) {
    // Ready messages only: requeued ones, then the unscanned tail minus what
    // is still delayed. In-flight and delayed messages stay.
    for (const auto& [seq, prior] : q->returned) {
      if (auto m = journal_.get_message(q->rec.id, seq)) {
        remove_message(*q, *m);
        ++removed;
      }
    }
    q->returned.clear();
    uint64_t from = q->scan_pos;
    while (auto m = journal_.next_message(q->rec.id, from)) {
      from = m->seq + 1;
      if (m->meta.due_ms > clock_.wall_ms || q->inflight.count(m->seq)) continue;
      remove_message(*q, *m);
      ++removed;
    }
  }
  MapWriter w(header_, 2);
  cqp1::pack_string(w.key(cqp1::key::q), name);
  w.key(cqp1::key::removed).pack(removed);
  outbox_.begin(s.peer, "PURGED", header_);
}

}  // namespace courier::proxy

namespace courier::proxy {

// DELETE (extension, docs/PROTOCOL.md §3.8): forgets an empty, unused queue,
// its options, counters and remembered dedup ids, so that queues made once
// and never again cost nothing. Refused (409) while it holds anything or is
// consumed: nothing is ever lost by a DELETE.
void Broker::on_delete(Session& s, const HeaderView& h) {
  const std::string_view name = h.need_queue();
  Queue* q = queues_.find(name);
  if (q == nullptr) {
    return reply_error(s.peer, cqp1::kNotFound, "DELETE: no queue named " + std::string(name));
  }
  if (q->rec.stored != 0 || !q->consumers.empty()) {
    return reply_error(s.peer, cqp1::kConflict,
                       "DELETE: queue " + std::string(name) + " holds " + std::to_string(q->rec.stored) +
                           " message(s) and has " + std::to_string(q->consumers.size()) +
                           " consumer(s): PURGE it, ack or cancel first");
  }
  journal_.erase_queue(q->rec);
  engine_.forget(q->rec.id);
  waiting_for_room_.erase(q->rec.id);
  sessions_.forget_queue(q->rec.id);
  const std::string kept(name);  // `name` may point into the erased record
  queues_.erase(q->rec.id);
  reply_simple(s, "DELETED", kept);
}

}  // namespace courier::proxy
