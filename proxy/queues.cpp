#include "queues.hpp"

namespace courier::proxy {

void QueueTable::load(std::vector<QueueRecord> records) {
  for (auto& r : records) {
    auto q = std::make_unique<Queue>();
    next_id_ = std::max(next_id_, r.id + 1);
    q->rec = std::move(r);
    q->recovered_below = q->rec.delivered_below;
    by_name_[q->rec.name] = q.get();
    by_id_[q->rec.id] = std::move(q);
  }
}

Queue* QueueTable::find(std::string_view name) noexcept {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

Queue* QueueTable::find(uint32_t id) noexcept {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second.get();
}

Queue& QueueTable::create(std::string_view name) {
  auto q = std::make_unique<Queue>();
  q->rec.id = next_id_++;
  q->rec.name = std::string(name);
  Queue* raw = q.get();
  by_name_[raw->rec.name] = raw;
  by_id_[raw->rec.id] = std::move(q);
  return *raw;
}

void QueueTable::erase(uint32_t id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  by_name_.erase(it->second->rec.name);
  by_id_.erase(it);
}

}  // namespace courier::proxy
