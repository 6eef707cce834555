// The proxy's NodeRecycler (proxy/node_recycler.hpp): containers behave as
// with plain insert/erase, and an erased node is what the next insert uses.
#include "node_recycler.hpp"

#include <gtest/gtest.h>

#include <string>
#include <unordered_map>
#include <unordered_set>

using courier::proxy::NodeRecycler;

TEST(NodeRecycler, SetInsertsAndErasesLikeThePlainContainer) {
  NodeRecycler<std::unordered_set<uint64_t>> nodes;
  std::unordered_set<uint64_t> a, b;
  EXPECT_TRUE(nodes.insert(a, 1));
  EXPECT_TRUE(nodes.insert(a, 2));
  EXPECT_FALSE(nodes.insert(a, 2));  // already there
  nodes.erase(a, 1);
  nodes.erase(a, 42);  // absent: nothing happens
  EXPECT_EQ(a, (std::unordered_set<uint64_t>{2}));
  // The node of 1 goes into another container of the same type.
  EXPECT_TRUE(nodes.insert(b, 7));
  EXPECT_EQ(b, (std::unordered_set<uint64_t>{7}));
  EXPECT_EQ(a, (std::unordered_set<uint64_t>{2}));
}

TEST(NodeRecycler, ReusedMapNodeCarriesTheNewKeyAndValue) {
  NodeRecycler<std::unordered_map<uint64_t, std::string>> nodes;
  std::unordered_map<uint64_t, std::string> m;
  nodes.insert(m, 1, std::string("one"));
  const std::string* first = &m.at(1);
  nodes.erase(m, m.find(1));
  EXPECT_TRUE(m.empty());
  std::string& placed = nodes.insert(m, 2, std::string("two"));
  EXPECT_EQ(&placed, first);  // the very node that was erased
  EXPECT_EQ(m.at(2), "two");
  EXPECT_EQ(m.count(1), 0u);
  // An existing key keeps its value, as emplace does.
  EXPECT_EQ(nodes.insert(m, 2, std::string("again")), "two");
}
