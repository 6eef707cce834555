// proxy/sessions.hpp — who is connected, what they consume, what they hold.
//
// A session is one DEALER connection, keyed by its ROUTER routing id. It
// exists from its first message until BYE, 3 × heartbeat of silence, or an
// unreachable send. Consumers belong to a session (one per queue); each
// unacked delivery belongs to exactly one consumer.
#pragma once

#include "queues.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace courier::proxy {

struct Session;

struct Consumer {
  Session* session = nullptr;
  Queue* queue = nullptr;
  uint64_t credit = 0;  // deliveries it may still be sent (§3.3.7)
  bool auto_ack = false;
  uint32_t batch = 1;   // max messages per DELIVER
  std::unordered_set<uint64_t> deliveries;  // unacked delivery ids
};

struct Session {
  std::string peer;  // ROUTER routing id
  std::string name;
  bool said_hello = false;
  uint64_t last_seen_ms = 0;  // steady clock
  std::unordered_map<uint32_t, std::unique_ptr<Consumer>> consumers;  // by queue id
};

// One message out to a consumer and not yet acked.
struct Delivery {
  Consumer* consumer = nullptr;
  uint64_t seq = 0;
  uint64_t due_ms = 0;     // from the record, to clean its indexes on ACK
  uint64_t expire_ms = 0;
  uint32_t attempt = 1;
  uint64_t ack_deadline_ms = 0;  // steady clock; 0 = no ack_timeout
};

}  // namespace courier::proxy
