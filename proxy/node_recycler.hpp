// proxy/node_recycler.hpp — unordered containers that keep erased nodes for
// the next insert.
//
// Every delivery inserts into two hash containers (the broker's table of
// deliveries, its queue's in-flight seqs; its subscription's ids were a
// third) and its ACK erases from both: heap calls per message at a steady
// rate that were ~7 % of the proxy's instructions (callgrind,
// docs/BENCHMARKS.md). Nodes taken
// out with extract() are kept, up to a bound, and put back with insert().
// A node may go back into any container of the same type (C++17 node handles).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace courier::proxy {

template <class Container>
class NodeRecycler {
 public:
  using Node = typename Container::node_type;
  using Key = typename Container::key_type;

  // Sets: inserts `key`. Returns whether it was new.
  bool insert(Container& c, const Key& key) {
    if (spare_.empty()) return c.insert(key).second;
    Node n = take();
    n.value() = key;
    return c.insert(std::move(n)).inserted;
  }

  // Maps: inserts key -> value (an existing key keeps its value, as emplace).
  // Returns the mapped value in the container.
  template <class Value>
  auto& insert(Container& c, const Key& key, Value&& value) {
    if (spare_.empty()) return c.emplace(key, std::forward<Value>(value)).first->second;
    Node n = take();
    n.key() = key;
    n.mapped() = std::forward<Value>(value);
    return c.insert(std::move(n)).position->second;
  }

  // Erases `key` (absent: nothing happens), keeping its node.
  void erase(Container& c, const Key& key) { keep(c.extract(key)); }
  void erase(Container& c, typename Container::const_iterator it) { keep(c.extract(it)); }

 private:
  // Enough for the deliveries of a few full batches; beyond it nodes are
  // freed, so a burst does not pin its memory for good.
  static constexpr std::size_t kMaxSpare = 8192;

  Node take() {
    Node n = std::move(spare_.back());
    spare_.pop_back();
    return n;
  }
  void keep(Node&& n) {
    if (n && spare_.size() < kMaxSpare) spare_.push_back(std::move(n));
  }

  std::vector<Node> spare_;
};

}  // namespace courier::proxy
