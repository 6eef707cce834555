#include "delivery_table.hpp"

namespace courier::proxy {

void DeliveryTable::add(uint64_t id, const UnackedDelivery& d) {
  UnackedDelivery& placed = delivery_nodes_.insert(by_id_, id, d);
  placed.ack_deadline_ms = 0;
  // A map's elements stay where they are until erased (rehashing moves
  // node pointers, not nodes): the consumer's list may point at them.
  Subscription& c = *d.consumer;
  placed.id = id;
  placed.newer = nullptr;
  placed.older = c.newest_unacked;
  if (c.newest_unacked != nullptr) c.newest_unacked->newer = &placed;
  c.newest_unacked = &placed;
  ++c.unacked;
  id_nodes_.insert(c.queue->inflight, d.seq);
}

UnackedDelivery* DeliveryTable::find(uint64_t id) noexcept {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

std::optional<UnackedDelivery> DeliveryTable::remove(uint64_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  clear_deadline(id, it->second);
  UnackedDelivery d = it->second;
  Subscription& c = *d.consumer;
  (d.newer != nullptr ? d.newer->older : c.newest_unacked) = d.older;
  if (d.older != nullptr) d.older->newer = d.newer;
  --c.unacked;
  d.older = d.newer = nullptr;  // the copy is in no list
  delivery_nodes_.erase(by_id_, it);
  id_nodes_.erase(c.queue->inflight, d.seq);
  return d;
}

void DeliveryTable::set_deadline(uint64_t id, uint64_t deadline_ms) {
  UnackedDelivery* d = find(id);
  if (d == nullptr) return;
  clear_deadline(id, *d);
  d->ack_deadline_ms = deadline_ms;
  deadlines_.emplace(deadline_ms, id);
}

void DeliveryTable::clear_deadline(uint64_t id, UnackedDelivery& d) {
  if (d.ack_deadline_ms != 0) deadlines_.erase({d.ack_deadline_ms, id});
  d.ack_deadline_ms = 0;
}

std::optional<uint64_t> DeliveryTable::overdue(uint64_t now_ms) const noexcept {
  if (deadlines_.empty() || deadlines_.begin()->first > now_ms) return std::nullopt;
  return deadlines_.begin()->second;
}

std::optional<uint64_t> DeliveryTable::next_deadline() const noexcept {
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

}  // namespace courier::proxy
