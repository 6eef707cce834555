// proxy/queues.hpp — per-queue state the loop keeps in memory.
//
// Memory does not grow with queue depth: bodies and the order of ready
// messages stay in the journal. In memory a queue holds only
//  - scan_pos: every seq below it has been delivered, removed, is delayed, or
//    is listed in `returned`; the journal is read forward from it;
//  - returned: seqs below scan_pos that are ready again (requeued, or
//    delayed and now due), each with its deliveries so far — bounded by what
//    was in flight or came due;
//  - inflight: seqs out to consumers — bounded by the consumers' credit.
#pragma once

#include "journal.hpp"

#include <cstdint>
#include <memory>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace courier::proxy {

struct Subscription;

// Counters since the proxy started (STATS).
struct QueueCounters {
  uint64_t put = 0, delivered = 0, acked = 0, redelivered = 0, dead_lettered = 0, dropped = 0,
           expired = 0;
};

struct Queue {
  QueueRecord rec;
  bool record_dirty = false;
  uint64_t scan_pos = 0;
  uint64_t recovered_below = 0;  // rec.delivered_below when the proxy started
  std::map<uint64_t, uint32_t> returned;  // seq -> deliveries so far
  std::unordered_set<uint64_t> inflight;
  std::vector<Subscription*> consumers;
  std::size_t next_consumer = 0;  // round robin
  QueueCounters counters;

  // Ready: neither in flight nor delayed.
  uint64_t depth() const noexcept { return rec.stored - inflight.size() - rec.delayed; }
  // Counted against max_length: ready + delayed (as RabbitMQ counts).
  uint64_t waiting() const noexcept { return rec.stored - inflight.size(); }
};

// All queues by name and by journal id. A Queue* stays valid until erase()
// of that queue (DELETE, which only takes queues nothing refers to).
class QueueTable {
 public:
  void load(std::vector<QueueRecord> records);
  Queue* find(std::string_view name) noexcept;
  Queue* find(uint32_t id) noexcept;
  // A new queue with the next journal id; `name` must not exist yet.
  Queue& create(std::string_view name);
  void erase(uint32_t id);
  template <class F>
  void for_each(F&& f) {
    for (auto& q : by_id_) f(*q.second);
  }
  std::size_t size() const noexcept { return by_id_.size(); }

 private:
  std::unordered_map<std::string, Queue*> by_name_;
  std::unordered_map<uint32_t, std::unique_ptr<Queue>> by_id_;
  uint32_t next_id_ = 1;
};

}  // namespace courier::proxy
