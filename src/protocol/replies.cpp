// protocol/replies.cpp — see replies.hpp.
#include "protocol/replies.hpp"

#include <algorithm>
#include <string>

namespace courier::cqp1 {

ErrorReply ErrorReply::read(const HeaderView& h) {
  ErrorReply e;
  e.code = static_cast<int>(h.uint(key::code).value_or(kInternal));
  if (auto r = h.str(key::reason)) e.reason = *r;
  e.tag = h.uint(key::tag);
  e.moved_to = h.str(key::moved_to);
  if (h.find(key::d) != nullptr) {
    e.ids = h.array(key::d);
    if (e.ids == nullptr) throw BadRequest("ERROR 'd' is not an array of delivery ids");
  }
  return e;
}

Welcome Welcome::read(const HeaderView& h) {
  Welcome w;
  w.hb = h.uint(key::hb);
  w.proxy = h.str(key::proxy);
  return w;
}

std::optional<std::string_view> read_boot(const HeaderView& h) { return h.str(key::boot); }

ConfirmReply ConfirmReply::read(const HeaderView& h) {
  ConfirmReply c;
  c.tag_ = h.need_uint(key::tag);
  c.batch_ = h.find(key::n) != nullptr;
  if (c.batch_) {
    // Lenient on purpose: a missing seq/dup list must not lose the confirm
    // itself (the messages ARE stored); they read as 0 / false.
    const msgpack::object* s = h.find(key::seq);
    const msgpack::object* d = h.find(key::dup);
    if (s != nullptr && s->type == msgpack::type::ARRAY) c.seqs_ = &s->via.array;
    if (d != nullptr && d->type == msgpack::type::ARRAY) c.dups_ = &d->via.array;
  } else {
    c.seq_ = h.uint(key::seq).value_or(0);
    c.dup_ = h.boolean(key::dup).value_or(false);
  }
  return c;
}

std::uint64_t ConfirmReply::seq(std::size_t i) const noexcept {
  if (!batch_) return seq_;
  if (seqs_ == nullptr || i >= seqs_->size || seqs_->ptr[i].type != msgpack::type::POSITIVE_INTEGER) return 0;
  return seqs_->ptr[i].via.u64;
}

bool ConfirmReply::dup(std::size_t i) const noexcept {
  if (!batch_) return dup_;
  if (dups_ == nullptr || i >= dups_->size || dups_->ptr[i].type != msgpack::type::BOOLEAN) return false;
  return dups_->ptr[i].via.boolean;
}

DeliverReply DeliverReply::read(const HeaderView& h, std::size_t bodies) {
  DeliverReply r;
  r.h_ = &h;
  r.queue_ = h.str(key::q);
  if (auto n = h.uint(key::n)) {
    r.batch_ = true;
    r.size_ = static_cast<std::size_t>(std::min<std::uint64_t>(*n, bodies));
    r.d_ = h.array(key::d);
    r.seq_ = h.array(key::seq);
    r.attempt_ = h.array(key::attempt);
    r.ts_ = h.array(key::ts);
    r.id_ = h.array(key::id);
  } else {
    r.size_ = bodies >= 1 ? 1 : 0;
  }
  return r;
}

namespace {

std::uint64_t element(const msgpack::object_array* a, std::size_t i, const char* what) {
  if (a == nullptr || i >= a->size) throw BadRequest(std::string("DELIVER lacks ") + what);
  return as_uint(a->ptr[i], what);
}

}  // namespace

Delivered DeliverReply::at(std::size_t i) const {
  Delivered m;
  if (!batch_) {
    m.d = h_->need_uint(key::d);
    m.seq = h_->uint(key::seq).value_or(0);
    m.attempt = h_->uint(key::attempt).value_or(1);
    m.ts_ms = h_->uint(key::ts).value_or(0);
    m.id = h_->producer_id(key::id);
    return m;
  }
  m.d = element(d_, i, "'d'");
  m.seq = element(seq_, i, "'seq'");
  if (attempt_ != nullptr) m.attempt = element(attempt_, i, "'attempt'");
  if (ts_ != nullptr) m.ts_ms = element(ts_, i, "'ts'");
  if (id_ != nullptr && i < id_->size) m.id = as_producer_id(id_->ptr[i], "'id' entry");
  return m;
}

std::optional<std::string_view> read_queue(const HeaderView& h) { return h.str(key::q); }
std::uint64_t read_depth(const HeaderView& h) { return h.uint(key::depth).value_or(0); }
std::uint64_t read_removed(const HeaderView& h) { return h.uint(key::removed).value_or(0); }

namespace {

// The figures of one queue from its STATS entry. Unknown keys are ignored
// (forward compatibility), a known key of the wrong type is a BadRequest.
QueueStats read_queue_stats(const msgpack::object& entry) {
  if (entry.type != msgpack::type::MAP) throw BadRequest("a STATS queue entry is not a map");
  QueueStats s;
  const std::pair<std::string_view, std::uint64_t*> fields[] = {
      {key::depth, &s.depth},         {key::inflight, &s.inflight},
      {key::consumers, &s.consumers}, {key::delayed, &s.delayed},
      {key::put, &s.put},             {key::delivered, &s.delivered},
      {key::acked, &s.acked},         {key::redelivered, &s.redelivered},
      {key::dead_lettered, &s.dead_lettered}, {key::dropped, &s.dropped},
      {key::expired, &s.expired}};
  for (const auto& kv : entry.via.map) {
    if (kv.key.type != msgpack::type::STR) continue;
    const std::string_view name(kv.key.via.str.ptr, kv.key.via.str.size);
    if (name == key::tokens) {
      s.tokens = as_uint(kv.val, "'tokens'");
      continue;
    }
    if (name == key::moved_to && kv.val.type == msgpack::type::STR) {
      s.moved_to = std::string(kv.val.via.str.ptr, kv.val.via.str.size);
      continue;
    }
    for (const auto& [field_name, field] : fields) {
      if (name == field_name) *field = as_uint(kv.val, field_name);
    }
  }
  return s;
}

}  // namespace

ProxyStats read_stats(const HeaderView& h) {
  ProxyStats out;
  if (const msgpack::object* queues = h.find(key::queues)) {
    if (queues->type != msgpack::type::MAP) throw BadRequest("'queues' is not a map");
    for (const auto& kv : queues->via.map) {
      if (kv.key.type != msgpack::type::STR) throw BadRequest("a queue name is not a str");
      out.queues.emplace(std::string(kv.key.via.str.ptr, kv.key.via.str.size), read_queue_stats(kv.val));
    }
  }
  out.uptime_ms = h.uint(key::uptime_ms).value_or(0);
  out.clients = h.uint(key::clients).value_or(0);
  return out;
}

}  // namespace courier::cqp1
