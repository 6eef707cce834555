#include "sessions.hpp"

#include <algorithm>
#include <functional>

namespace courier::proxy {

namespace {
// Below this many unread bytes a client is never held back: small bodies
// cost little, and a consumer that CANCELs now and then must not stall.
constexpr uint64_t kUnreadFloorBytes = 1ull << 20;

uint64_t saturating_double(uint64_t v) { return v > UINT64_MAX / 2 ? UINT64_MAX : 2 * v; }
}  // namespace

void UnreadDeliveries::add(uint64_t first_id, uint64_t last_id, uint64_t n, uint64_t body_bytes) {
  sent.push_back({first_id, last_id, n, body_bytes});
  count += n;
  bytes += body_bytes;
}

bool UnreadDeliveries::read_through(uint64_t id) {
  // Ids only grow, so `sent` is sorted by first_id.
  auto it = std::upper_bound(sent.begin(), sent.end(), id,
                             [](uint64_t v, const Sent& e) { return v < e.first_id; });
  if (it == sent.begin() || std::prev(it)->last_id < id) return false;
  for (auto e = sent.begin(); e != it; ++e) {
    count -= e->count;
    bytes -= e->bytes;
  }
  sent.erase(sent.begin(), it);
  return true;
}

void UnreadDeliveries::read_oldest(uint64_t n) {
  while (n > 0 && !sent.empty()) {
    Sent& e = sent.front();
    if (e.count <= n) {
      n -= e.count;
      count -= e.count;
      bytes -= e.bytes;
      sent.pop_front();
      continue;
    }
    const uint64_t part = e.bytes / e.count * n;  // part of a batch: pro rata
    e.count -= n;
    e.bytes -= part;
    count -= n;
    bytes -= part;
    n = 0;
  }
}

bool UnreadDeliveries::allows_more(uint64_t window) const noexcept {
  return bytes < kUnreadFloorBytes || count < saturating_double(window);
}

void Session::saw_delivery_ids(std::vector<uint64_t> ids) {
  if (unread.empty() || ids.empty()) return;
  // The highest id that some DELIVER of a queue carried settles that queue.
  std::sort(ids.begin(), ids.end(), std::greater<>());
  for (auto& [qid, u] : unread) {
    if (u.sent.empty()) continue;
    for (uint64_t id : ids) {
      if (id < u.sent.front().first_id) break;
      if (id <= u.sent.back().last_id && u.read_through(id)) break;
    }
  }
}

Session& SessionTable::heard_from(const std::string& peer, uint64_t now_ms) {
  auto it = by_peer_.find(peer);
  if (it == by_peer_.end()) {
    auto s = std::make_unique<Session>();
    s->peer = peer;
    it = by_peer_.emplace(peer, std::move(s)).first;
  }
  it->second->last_seen_ms = now_ms;
  return *it->second;
}

Session* SessionTable::find(const std::string& peer) noexcept {
  auto it = by_peer_.find(peer);
  return it == by_peer_.end() ? nullptr : it->second.get();
}

bool SessionTable::erase(const std::string& peer) { return by_peer_.erase(peer) > 0; }

std::vector<std::string> SessionTable::silent(uint64_t now_ms, uint64_t limit_ms, uint64_t deaf_until_ms) const {
  std::vector<std::string> gone;
  for (const auto& [peer, s] : by_peer_) {
    const uint64_t heard = std::max(s->last_seen_ms, deaf_until_ms);
    if (now_ms > heard && now_ms - heard > limit_ms) gone.push_back(peer);
  }
  return gone;
}

void SessionTable::forget_queue(uint32_t qid) {
  for (auto& kv : by_peer_) kv.second->unread.erase(qid);
}

std::size_t SessionTable::clients() const noexcept {
  std::size_t n = 0;
  for (const auto& kv : by_peer_) n += kv.second->said_hello ? 1 : 0;
  return n;
}

}  // namespace courier::proxy
