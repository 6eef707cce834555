// proxy/sessions.hpp — who is connected, what they consume, what they hold.
//
// A session is one DEALER connection, keyed by its ROUTER routing id. It
// exists from its first message until BYE, 3 × heartbeat of silence, or an
// unreachable send. Consumers belong to a session (one per queue); each
// unacked delivery belongs to exactly one consumer.
#pragma once

#include "queues.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace courier::proxy {

struct Session;
struct UnackedDelivery;

// One session consuming one queue (CONSUME until CANCEL). Not called
// Consumer, so that it never shadows the public courier::Consumer.
struct Subscription {
  Session* session = nullptr;
  Queue* queue = nullptr;
  uint64_t credit = 0;  // deliveries it may still be sent (§3.3.7)
  uint64_t window = 0;  // credit granted in all: CONSUME's, plus CREDITs (saturating)
  bool auto_ack = false;
  uint32_t batch = 1;   // max messages per DELIVER
  // CONSUME `limit` (§3.7): deliveries it may still be sent in all, whatever
  // its credit; nullopt = no limit.
  std::optional<uint64_t> remaining;
  // Its unacked deliveries, newest first, linked through the deliveries
  // themselves (DeliveryTable): a hash set of ids cost two hash operations
  // per message for what only CANCEL and a lost session read.
  UnackedDelivery* newest_unacked = nullptr;
  uint64_t unacked = 0;
  // Their ids, oldest first.
  std::vector<uint64_t> unacked_ids() const;
};

// DELIVERs sent to a client on one queue that it has not yet shown it read.
//
// Credit bounds what is unacked, not what sits unread in the client's pipe:
// a client that CANCELs (its deliveries are requeued) and CONSUMEs again
// gets a fresh window while the old one may still be in its pipe — the
// proxy's memory, with an unbounded send high-water mark. ZeroMQ pipes are
// FIFO, so a client that names a delivery id (ACK, NACK, TOUCH) has read
// everything sent to it before that DELIVER; an auto_ack consumer's CREDIT n
// says it read n more. The proxy stops sending to a queue's consumer while
// more than twice its window is unread (and more than a small floor of
// bytes): at most 2 × credit × body size waits in one client's pipe.
struct UnreadDeliveries {
  struct Sent {
    uint64_t first_id, last_id;  // the delivery ids of one DELIVER
    uint64_t count, bytes;
  };
  std::deque<Sent> sent;
  uint64_t count = 0, bytes = 0;

  void add(uint64_t first_id, uint64_t last_id, uint64_t n, uint64_t body_bytes);
  // Forgets every DELIVER up to the one that carried `id`; returns false when
  // no DELIVER of this queue carried it.
  bool read_through(uint64_t id);
  // Forgets the oldest `n` deliveries (an auto_ack consumer's CREDIT).
  void read_oldest(uint64_t n);
  bool allows_more(uint64_t window) const noexcept;
};

struct Session {
  std::string peer;  // ROUTER routing id
  std::string name;
  bool said_hello = false;
  uint64_t last_seen_ms = 0;  // steady clock
  std::unordered_map<uint32_t, std::unique_ptr<Subscription>> consumers;  // by queue id
  std::unordered_map<uint32_t, UnreadDeliveries> unread;  // by queue id; outlives CANCEL

  // The client named these delivery ids: it read what came before them.
  void saw_delivery_ids(std::vector<uint64_t> ids);
};

// Every session by its routing id. What closing one means for its
// consumers and deliveries stays with the Broker (delivery.cpp).
class SessionTable {
 public:
  // The session of `peer`, made on its first message; heard from at `now_ms`.
  Session& heard_from(const std::string& peer, uint64_t now_ms);
  // nullptr for a peer without a session.
  Session* find(const std::string& peer) noexcept;
  // Removes it (nothing happens for an unknown peer). Returns whether it was there.
  bool erase(const std::string& peer);
  // Sessions silent for more than `limit_ms` at `now_ms`. A client is not
  // silent before `deaf_until_ms` (a turn too long to hear anyone in).
  std::vector<std::string> silent(uint64_t now_ms, uint64_t limit_ms, uint64_t deaf_until_ms) const;
  // A deleted queue's unread-delivery accounting goes too.
  void forget_queue(uint32_t qid);

  std::size_t size() const noexcept { return by_peer_.size(); }
  // Sessions that said HELLO (STATS `clients`).
  std::size_t clients() const noexcept;

 private:
  std::unordered_map<std::string, std::unique_ptr<Session>> by_peer_;
};

// One message out to a consumer and not yet acked (not courier::Delivery,
// the client's view of one).
struct UnackedDelivery {
  Subscription* consumer = nullptr;
  uint64_t seq = 0;
  uint64_t due_ms = 0;     // from the record, to clean its indexes on ACK
  uint64_t expire_ms = 0;
  uint32_t attempt = 1;
  uint64_t ack_deadline_ms = 0;  // steady clock; 0 = no ack_timeout
  // Set by DeliveryTable while the delivery is in it: its id, and its
  // consumer's list (Subscription::newest_unacked).
  uint64_t id = 0;
  UnackedDelivery* older = nullptr;
  UnackedDelivery* newer = nullptr;
};

inline std::vector<uint64_t> Subscription::unacked_ids() const {
  std::vector<uint64_t> ids;
  ids.reserve(unacked);
  for (const UnackedDelivery* d = newest_unacked; d != nullptr; d = d->older) ids.push_back(d->id);
  return {ids.rbegin(), ids.rend()};
}

}  // namespace courier::proxy
