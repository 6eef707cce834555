// protocol/requests.cpp — see requests.hpp.
#include "protocol/requests.hpp"

namespace courier::cqp1 {

void encode(msgpack::sbuffer& out, const Hello& m) {
  MapWriter w(out, m.name.empty() ? 1 : 2);
  w.key(key::v).pack(kVersion);
  if (!m.name.empty()) pack_string(w.key(key::name), m.name);
}

void encode(msgpack::sbuffer& out, const Consume& m) {
  const bool batch = m.batch >= 2;
  MapWriter w(out, 2 + (m.auto_ack ? 1 : 0) + (batch ? 1 : 0) + (m.limit ? 1 : 0));
  pack_string(w.key(key::q), m.queue);
  w.key(key::credit).pack(m.credit);
  if (m.auto_ack) w.key(key::auto_ack).pack(true);
  if (batch) w.key(key::batch).pack(m.batch);
  if (m.limit) w.key(key::limit).pack(*m.limit);
}

void encode(msgpack::sbuffer& out, const Settle& m) {
  MapWriter w(out, m.requeue ? 2 : 1);
  auto& p = w.key(key::d);
  if (m.ids) {
    p.pack(*m.ids);
  } else {
    p.pack_array(0);
  }
  if (m.requeue) w.key(key::requeue).pack(*m.requeue);
}

void encode(msgpack::sbuffer& out, const Credit& m) {
  MapWriter w(out, 2);
  pack_string(w.key(key::q), m.queue);
  w.key(key::n).pack(m.n);
}

void encode(msgpack::sbuffer& out, const Declare& m) {
  const uint32_t n = 1 + (m.max_length ? 1 : 0) + (m.max_attempts ? 1 : 0) + (m.ttl ? 1 : 0) +
                     (m.ack_timeout ? 1 : 0) + (m.dead_letter ? 1 : 0) + (m.tokens ? 1 : 0) +
                     (m.moved_to ? 1 : 0);
  MapWriter w(out, n);
  pack_string(w.key(key::q), m.queue);
  if (m.max_length) w.key(key::max_length).pack(*m.max_length);
  if (m.max_attempts) w.key(key::max_attempts).pack(*m.max_attempts);
  if (m.ttl) w.key(key::ttl).pack(*m.ttl);
  if (m.ack_timeout) w.key(key::ack_timeout).pack(*m.ack_timeout);
  if (m.dead_letter) pack_string(w.key(key::dead_letter), *m.dead_letter);
  if (m.tokens) w.key(key::tokens).pack(*m.tokens);
  if (m.moved_to) pack_string(w.key(key::moved_to), *m.moved_to);
}

void encode(msgpack::sbuffer& out, const QueueOnly& m) {
  MapWriter w(out, m.queue.empty() ? 0 : 1);
  if (!m.queue.empty()) pack_string(w.key(key::q), m.queue);
}

}  // namespace courier::cqp1
