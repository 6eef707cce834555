// protocol/requests.hpp — the headers a CQP1 client sends (PROTOCOL.md §3.1),
// as typed values, each packed by one function. The client library
// (Producer, Consumer, Admin, Lock and their ProxyLink) builds every request
// header here, so a key is written in one place.
//
// Each encode() clears `out` and packs exactly one msgpack map into it; the
// caller sends it as frame 3 after "CQP1" and the command name.
// Thread-safety: none needed (pure functions).
#pragma once

#include "protocol/cqp1.hpp"

#include <msgpack.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace courier::cqp1 {

// HELLO {v, name?}
struct Hello {
  std::string_view name;  // empty = none sent
};
void encode(msgpack::sbuffer& out, const Hello& m);

// PUT {q, tag, id | n + ids, delay?, ttl?} (§3.1, batch form §3.4). Each
// producer id is packed by `pack_id(packer, i)` for i < count (as one msgpack
// str or bin), so a client writes ids from wherever it keeps them without
// building strings first; count ≥ 2 is the batch form.
struct Put {
  std::string_view queue;
  std::uint64_t tag = 0;
  std::uint64_t delay = 0;  // ms; 0 = not sent
  std::optional<std::uint64_t> ttl;
};
template <class PackId>
void encode(msgpack::sbuffer& out, const Put& m, std::size_t count, PackId pack_id) {
  const bool batch = count > 1;
  MapWriter w(out, 3 + (m.delay ? 1 : 0) + (m.ttl ? 1 : 0) + (batch ? 1 : 0));
  pack_string(w.key(key::q), m.queue);
  w.key(key::tag).pack(m.tag);
  if (batch) {
    w.key(key::n).pack(static_cast<std::uint64_t>(count));
    auto& p = w.key(key::ids);
    p.pack_array(static_cast<uint32_t>(count));
    for (std::size_t i = 0; i < count; ++i) pack_id(p, i);
  } else {
    pack_id(w.key(key::id), 0);
  }
  if (m.delay) w.key(key::delay).pack(m.delay);
  if (m.ttl) w.key(key::ttl).pack(*m.ttl);
}

// CONSUME {q, credit, auto_ack?, batch?, limit?} (§3.1, §3.4, §3.7)
struct Consume {
  std::string_view queue;
  std::uint64_t credit = 1;
  bool auto_ack = false;     // sent only when true
  std::uint64_t batch = 1;   // sent only when ≥ 2
  std::optional<std::uint64_t> limit;
};
void encode(msgpack::sbuffer& out, const Consume& m);

// ACK / TOUCH {d: [...]}, NACK {d: [...], requeue}
struct Settle {
  const std::vector<std::uint64_t>* ids = nullptr;
  std::optional<bool> requeue;  // NACK only
};
void encode(msgpack::sbuffer& out, const Settle& m);

// CREDIT {q, n}
struct Credit {
  std::string_view queue;
  std::uint64_t n = 0;
};
void encode(msgpack::sbuffer& out, const Credit& m);

// DECLARE {q, options...} (§3.1, §3.6); unset options are not sent.
struct Declare {
  std::string_view queue;
  std::optional<std::uint64_t> max_length, max_attempts, ttl, ack_timeout, tokens;
  std::optional<std::string_view> dead_letter;
  std::optional<std::string_view> moved_to;  // §3.13; "" clears the mark
};
void encode(msgpack::sbuffer& out, const Declare& m);

// CANCEL, PURGE, DELETE, STATS of one queue: {q}. STATS of all: {} (empty queue).
struct QueueOnly {
  std::string_view queue;  // empty = the empty map
};
void encode(msgpack::sbuffer& out, const QueueOnly& m);

}  // namespace courier::cqp1
