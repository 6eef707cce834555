// proxy/delivery_table.hpp — the deliveries in flight, and their indexes.
//
// Every unacked delivery by its id, kept consistent with the three indexes
// the broker needs: its subscription's list (CANCEL, BYE and silence requeue
// them all; linked through the deliveries: Subscription::newest_unacked),
// its queue's in-flight seqs (a pick skips them; depth counts them), and ack
// deadlines in time order (ack_timeout). What a delivery's end
// means for credit and readiness is DeliveryEngine::release's.
// Single-threaded, like all proxy state.
#pragma once

#include "node_recycler.hpp"
#include "sessions.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace courier::proxy {

class DeliveryTable {
 public:
  // The next delivery id. Ids only grow, so one DELIVER's ids are a range
  // (UnreadDeliveries). An auto_ack delivery takes an id and is never added.
  uint64_t new_id() noexcept { return next_id_++; }
  // Records delivery `id` of `d.seq` to `d.consumer` (both non-null), with
  // no ack deadline.
  void add(uint64_t id, const UnackedDelivery& d);
  // nullptr for an unknown id; valid until the delivery is removed.
  UnackedDelivery* find(uint64_t id) noexcept;
  // Ends delivery `id` in every index; nullopt for an unknown id.
  std::optional<UnackedDelivery> remove(uint64_t id);

  // Sets (or moves) the ack deadline of a delivery that is in the table.
  void set_deadline(uint64_t id, uint64_t deadline_ms);
  // The delivery with the earliest deadline at or before `now_ms`, if any.
  std::optional<uint64_t> overdue(uint64_t now_ms) const noexcept;
  // The earliest deadline, if any delivery has one.
  std::optional<uint64_t> next_deadline() const noexcept;

  std::size_t size() const noexcept { return by_id_.size(); }

 private:
  void clear_deadline(uint64_t id, UnackedDelivery& d);

  std::unordered_map<uint64_t, UnackedDelivery> by_id_;
  // (deadline, id), one per delivery that has one: memory follows what is
  // in flight.
  std::set<std::pair<uint64_t, uint64_t>> deadlines_;
  uint64_t next_id_ = 1;
  // Nodes kept between a delivery's ACK and the next delivery.
  NodeRecycler<std::unordered_map<uint64_t, UnackedDelivery>> delivery_nodes_;
  NodeRecycler<std::unordered_set<uint64_t>> id_nodes_;
};

}  // namespace courier::proxy
