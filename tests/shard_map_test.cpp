// ShardMap (include/courier/shard_map.hpp): who owns a queue, and the JSON form.
#include <courier/errors.hpp>
#include <courier/shard_map.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

namespace {

using courier::ShardMap;
using courier::ShardProxy;

ShardMap three() {
  return ShardMap(1, {{"a", "tcp://127.0.0.1:5001", 1}, {"b", "tcp://127.0.0.1:5002", 1}, {"c", "tcp://127.0.0.1:5003", 1}});
}

void expect_config_error(const std::string& text, const std::string& says) {
  try {
    ShardMap::from_json(text, "test map");
    FAIL() << "accepted " << text;
  } catch (const courier::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("test map"), std::string::npos) << e.what();
  }
}

// These figures come from an independent Python implementation of the
// formula in docs/scaling.md: a pyzmq client must compute the same owners.
TEST(ShardMap, ScoresMatchTheDocumentedFormulaBitForBit) {
  EXPECT_DOUBLE_EQ(courier::rendezvous_score("a", "orders"), 72.64058972058425);
  EXPECT_DOUBLE_EQ(courier::rendezvous_score("b", "orders"), 1.5914895976911287);
  EXPECT_DOUBLE_EQ(courier::rendezvous_score("proxy-1", "q.0"), 3.2364649703182624);
  EXPECT_DOUBLE_EQ(courier::rendezvous_score("a", "orders", 2.0), 2 * 72.64058972058425);
  const char* expected[] = {"b", "c", "b", "a", "c", "a", "c", "b", "b", "c"};
  const ShardMap map = three();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(map.owner("q" + std::to_string(i)).name, expected[i]) << i;
}

TEST(ShardMap, SpreadsTenThousandQueuesEvenlyOverThreeProxies) {
  const ShardMap map = three();
  std::map<std::string, int> count;
  for (int i = 0; i < 10000; ++i) ++count[map.owner("queue-" + std::to_string(i)).name];
  ASSERT_EQ(count.size(), 3u);
  for (const auto& [name, n] : count) {
    EXPECT_GT(n, 3333 * 0.9) << name;
    EXPECT_LT(n, 3333 * 1.1) << name;
  }
}

TEST(ShardMap, AddingAProxyMovesOnlyTheQueuesItNowWins) {
  const ShardMap before = three();
  const ShardMap after(2, {{"a", "tcp://127.0.0.1:5001", 1}, {"b", "tcp://127.0.0.1:5002", 1},
                           {"c", "tcp://127.0.0.1:5003", 1}, {"d", "tcp://127.0.0.1:5004", 1}});
  int moved = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string q = "queue-" + std::to_string(i);
    if (before.owner(q).name != after.owner(q).name) {
      ++moved;
      EXPECT_EQ(after.owner(q).name, "d") << q << " moved between old proxies";
    }
  }
  EXPECT_GT(moved, 2500 * 0.85);
  EXPECT_LT(moved, 2500 * 1.15);
}

TEST(ShardMap, WeightsShareQueuesInProportion) {
  const ShardMap map(1, {{"small", "tcp://h:1", 1}, {"big", "tcp://h:2", 3}});
  int big = 0;
  for (int i = 0; i < 10000; ++i) big += map.owner("w" + std::to_string(i)).name == "big";
  EXPECT_GT(big, 7500 * 0.95);
  EXPECT_LT(big, 7500 * 1.05);
}

TEST(ShardMap, APinOverridesHashingAndRaisesTheVersion) {
  const ShardMap map = three();
  const std::string natural = map.owner("orders").name;
  const std::string other = natural == "a" ? "b" : "a";
  const ShardMap pinned = map.with_pin("orders", other);
  EXPECT_EQ(pinned.owner("orders").name, other);
  EXPECT_EQ(pinned.version(), map.version() + 1);
  EXPECT_EQ(pinned.owner("q1").name, map.owner("q1").name);
  EXPECT_THROW(map.with_pin("orders", "nobody"), courier::ConfigError);
  EXPECT_THROW(map.with_pin("bad name", "a"), courier::ConfigError);
}

TEST(ShardMap, JsonRoundTripsAndWeightAndPinsAreOptional) {
  const ShardMap map = ShardMap::from_json(
      R"({"version": 7, "proxies": [{"name": "a", "endpoint": "tcp://h:1"}, {"name": "b", "endpoint": "tcp://h:2", "weight": 2.5}], "pins": {"orders": "b"}})");
  EXPECT_EQ(map.version(), 7u);
  ASSERT_EQ(map.proxies().size(), 2u);
  EXPECT_EQ(map.proxies()[0].weight, 1.0);
  EXPECT_EQ(map.proxies()[1].weight, 2.5);
  EXPECT_EQ(map.owner("orders").name, "b");
  EXPECT_EQ(ShardMap::from_json(map.to_json()), map);
  EXPECT_EQ(ShardMap::from_json(R"({"version": 1, "proxies": [{"name": "a", "endpoint": "tcp://h:1"}]})").pins().size(), 0u);
}

TEST(ShardMap, LoadsAFileAndNamesAMissingOne) {
  const std::string path = ::testing::TempDir() + "shard_map_test.json";
  std::ofstream(path) << three().to_json();
  EXPECT_EQ(ShardMap::load_file(path), three());
  std::remove(path.c_str());
  try {
    ShardMap::load_file(path);
    FAIL();
  } catch (const courier::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
}

TEST(ShardMap, RefusesBadMapsNamingTheFault) {
  expect_config_error("{", "not valid JSON");
  expect_config_error("[]", "must be a JSON object");
  expect_config_error(R"({"proxies": [{"name": "a", "endpoint": "e"}]})", "\"version\"");
  expect_config_error(R"({"version": -1, "proxies": [{"name": "a", "endpoint": "e"}]})", "\"version\"");
  expect_config_error(R"({"version": 1, "proxies": []})", "non-empty list");
  expect_config_error(R"({"version": 1, "proxies": [{"endpoint": "e"}]})", "proxies[0] needs \"name\"");
  expect_config_error(R"({"version": 1, "proxies": [{"name": "a b", "endpoint": "e"}]})", "is invalid");
  expect_config_error(R"({"version": 1, "proxies": [{"name": "a", "endpoint": ""}]})", "no endpoint");
  expect_config_error(R"({"version": 1, "proxies": [{"name": "a", "endpoint": "e", "weight": 0}]})", "above 0");
  expect_config_error(R"({"version": 1, "proxies": [{"name": "a", "endpoint": "e", "weight": "x"}]})", "must be a number");
  expect_config_error(R"({"version": 1, "proxies": [{"name": "a", "endpoint": "e"}, {"name": "a", "endpoint": "f"}]})", "appears twice");
  expect_config_error(R"({"version": 1, "proxies": [{"name": "a", "endpoint": "e"}, {"name": "b", "endpoint": "e"}]})", "appears twice");
  expect_config_error(R"({"version": 1, "proxies": [{"name": "a", "endpoint": "e"}], "pins": {"q": "z"}})", "not in the proxies list");
  expect_config_error(R"({"version": 1, "proxies": [{"name": "a", "endpoint": "e"}], "pins": {"q": 1}})", "must be a proxy name");
  expect_config_error(R"({"version": 1, "proxies": [{"name": "a", "endpoint": "e"}], "pins": ["q"]})", "\"pins\" must be an object");
}

TEST(ShardMap, AnEmptyMapRefusesToChooseAnOwner) {
  EXPECT_THROW(ShardMap().owner("q"), courier::ConfigError);
}

}  // namespace
