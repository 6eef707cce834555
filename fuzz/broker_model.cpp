// fuzz/broker_model.cpp — see broker_model.hpp.
#include "broker_model.hpp"

#include "fuzz_check.hpp"

#include <limits>

namespace courier::fuzz {

namespace {
uint64_t saturating_add(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max() : a + b;
}
}  // namespace

// A repeated CONSUME resets the window, counting what is already out (§3.3.7).
void BrokerModel::consuming(int client, const std::string& q, uint64_t credit, bool auto_ack, uint64_t batch,
                            std::optional<uint64_t> limit) {
  Consumer& c = consumers_[{client, q}];
  c.credit = credit > c.held.size() ? credit - c.held.size() : 0;
  c.auto_ack = auto_ack;
  c.batch = std::max<uint64_t>(1, std::min<uint64_t>(batch, 4096));
  c.remaining = limit;
}

void BrokerModel::release(uint64_t d) {
  const auto it = held_.find(d);
  if (it == held_.end()) return;
  held_seqs_.erase({it->second.q, it->second.seq});
  const auto c = consumers_.find({it->second.client, it->second.q});
  if (c != consumers_.end()) {
    c->second.held.erase(d);
    c->second.credit = saturating_add(c->second.credit, 1);
  }
  held_.erase(it);
}

void BrokerModel::cancelled(int client, const std::string& q) {
  const auto it = consumers_.find({client, q});
  if (it == consumers_.end()) return;
  const std::set<uint64_t> held = it->second.held;
  for (uint64_t d : held) release(d);
  consumers_.erase(it);
}

void BrokerModel::bye(int client) {
  std::vector<std::string> queues;
  for (const auto& kv : consumers_) {
    if (kv.first.first == client) queues.push_back(kv.first.second);
  }
  for (const auto& q : queues) cancelled(client, q);
}

bool BrokerModel::credit(int client, const std::string& q, uint64_t n) {
  const auto it = consumers_.find({client, q});
  if (it == consumers_.end()) return false;
  it->second.credit = saturating_add(it->second.credit, n);
  return true;
}

std::vector<uint64_t> BrokerModel::name_ids(int client, const std::vector<uint64_t>& ids, bool releases) {
  std::vector<uint64_t> unknown;
  for (uint64_t d : ids) {
    const auto it = held_.find(d);
    if (it == held_.end() || it->second.client != client) {
      unknown.push_back(d);
    } else if (releases) {
      release(d);  // a repeated id in the same list is unknown the second time
    }
  }
  return unknown;
}

void BrokerModel::delivered(int client, const std::string& q, uint64_t d, uint64_t seq, std::string_view body,
                            std::size_t in_this_deliver) {
  const auto it = consumers_.find({client, q});
  FUZZ_CHECK(it != consumers_.end(), "DELIVER of %s to client %d, which does not consume it", q.c_str(), client);
  Consumer& c = it->second;
  FUZZ_CHECK(seen_ids_.insert(d).second, "delivery id %llu sent twice", static_cast<unsigned long long>(d));
  FUZZ_CHECK(c.credit >= 1, "DELIVER of %s to client %d past its credit (delivery %llu)", q.c_str(), client,
             static_cast<unsigned long long>(d));
  FUZZ_CHECK(in_this_deliver <= c.batch, "a DELIVER of %zu messages to a consumer of batch %llu", in_this_deliver,
             static_cast<unsigned long long>(c.batch));
  FUZZ_CHECK(c.remaining != uint64_t{0}, "DELIVER of %s to client %d past its CONSUME limit", q.c_str(), client);
  FUZZ_CHECK(held_seqs_.count({q, seq}) == 0, "message %s/%llu delivered while another delivery holds it",
             q.c_str(), static_cast<unsigned long long>(seq));
  const auto body_it = bodies_.find({q, seq});
  FUZZ_CHECK(body_it == bodies_.end() || body_it->second == body, "message %s/%llu delivered with another body",
             q.c_str(), static_cast<unsigned long long>(seq));
  --c.credit;
  if (c.remaining) --*c.remaining;
  if (c.auto_ack) return;  // settled as it left: the proxy forgets it
  c.held.insert(d);
  held_.emplace(d, Holder{client, q, seq});
  held_seqs_.emplace(q, seq);
}

void BrokerModel::confirmed(const std::string& q, uint64_t seq, std::string body) {
  bodies_[{q, seq}] = std::move(body);
}

void BrokerModel::deleted(const std::string& q) {
  FUZZ_CHECK(consumers(q) == 0, "queue %s deleted while consumed", q.c_str());
  FUZZ_CHECK(inflight(q) == 0, "queue %s deleted with deliveries out", q.c_str());
  for (auto it = bodies_.begin(); it != bodies_.end();) {
    it = it->first.first == q ? bodies_.erase(it) : std::next(it);
  }
}

bool BrokerModel::consumes(int client, const std::string& q) const { return consumers_.count({client, q}) != 0; }

uint64_t BrokerModel::inflight(const std::string& q) const {
  uint64_t n = 0;
  for (const auto& kv : held_) n += kv.second.q == q ? 1 : 0;
  return n;
}

uint64_t BrokerModel::consumers(const std::string& q) const {
  uint64_t n = 0;
  for (const auto& kv : consumers_) n += kv.first.second == q ? 1 : 0;
  return n;
}

std::vector<uint64_t> BrokerModel::held_by(int client) const {
  std::vector<uint64_t> out;
  for (const auto& kv : held_) {
    if (kv.second.client == client) out.push_back(kv.first);
  }
  return out;
}

std::vector<uint64_t> BrokerModel::held_by_others(int client) const {
  std::vector<uint64_t> out;
  for (const auto& kv : held_) {
    if (kv.second.client != client) out.push_back(kv.first);
  }
  return out;
}

}  // namespace courier::fuzz
