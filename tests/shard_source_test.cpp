// ShardMapSource (include/courier/shard_source.hpp): a fixed map, a file
// that changes, and a real etcd followed with a watch.
#include "etcd_process.hpp"

#include <courier/errors.hpp>
#include <courier/shard_source.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace {

using courier::ShardMap;
using courier::ShardMapSource;
using namespace std::chrono_literals;

ShardMap map_v(std::uint64_t version, int proxies = 2) {
  std::vector<courier::ShardProxy> list;
  for (int i = 0; i < proxies; ++i)
    list.push_back({"p" + std::to_string(i), "tcp://127.0.0.1:" + std::to_string(6000 + i), 1});
  return ShardMap(version, list);
}

// Polls until `ok` or 5 s pass: the sources watch in their own thread.
template <class F>
bool eventually(F ok) {
  for (auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
    if (ok()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return ok();
}

void write_file(const std::string& path, const std::string& text) {
  const std::string temp = path + ".new";
  std::ofstream(temp) << text;
  std::rename(temp.c_str(), path.c_str());
}

TEST(ShardMapSource, AFixedMapChangesOnlyByPublishingAHigherVersion) {
  auto source = ShardMapSource::fixed(map_v(1));
  EXPECT_EQ(source->current()->version(), 1u);
  source->publish(map_v(2, 3));
  EXPECT_EQ(source->version(), 2u);
  EXPECT_EQ(source->current()->proxies().size(), 3u);
  EXPECT_THROW(source->publish(map_v(2)), courier::ConfigError);
  EXPECT_EQ(source->description(), "fixed map");
}

TEST(ShardMapSource, AFileIsFollowedAndABrokenEditKeepsTheLastGoodMap) {
  const std::string dir = courier::test::make_temp_dir("courier-shards");
  const std::string path = dir + "/map.json";
  write_file(path, map_v(1).to_json());
  auto source = ShardMapSource::from_file(path, 20ms);
  EXPECT_EQ(source->version(), 1u);

  write_file(path, map_v(2, 3).to_json());
  EXPECT_TRUE(eventually([&] { return source->version() == 2; }));

  write_file(path, "{ not json");
  EXPECT_TRUE(eventually([&] { return !source->last_error().empty(); }));
  EXPECT_NE(source->last_error().find(path), std::string::npos) << source->last_error();
  EXPECT_EQ(source->version(), 2u);

  source->publish(map_v(3));  // replaces the broken file
  EXPECT_EQ(ShardMap::load_file(path), map_v(3));
  EXPECT_TRUE(eventually([&] { return source->last_error().empty(); }));
  std::filesystem::remove_all(dir);
}

TEST(ShardMapSource, AMissingFileIsAConfigErrorNamingIt) {
  try {
    ShardMapSource::open("/nonexistent/courier/map.json");
    FAIL();
  } catch (const courier::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/courier/map.json"), std::string::npos);
  }
}

TEST(ShardMapSource, BadSpecsAreRefusedWithTheFormToUse) {
  for (const char* spec : {"", "etcd://", "etcd://127.0.0.1:1", "etcd://127.0.0.1:1/", "etcd://,127.0.0.1:1/k"}) {
    try {
      ShardMapSource::open(spec);
      FAIL() << spec;
    } catch (const courier::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("etcd://"), std::string::npos) << spec << ": " << e.what();
    }
  }
}

TEST(ShardMapSource, AnUnreachableEtcdAtStartIsAConfigErrorNamingIt) {
  const int port = courier::test::free_tcp_port();
  try {
    ShardMapSource::from_etcd({"http://127.0.0.1:" + std::to_string(port)}, "/courier/shards", 500ms);
    FAIL();
  } catch (const courier::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(port)), std::string::npos) << e.what();
  }
}

class EtcdSource : public ::testing::Test {
 protected:
  courier::test::EtcdProcess etcd;
  const std::string key = "/courier/shards";

  // Writes the key behind every source's back, as an operator would.
  void put(const std::string& value) {
    const std::string command = "ETCDCTL_API=3 etcdctl --endpoints=" + etcd.endpoint() + " put " + key + " '" +
                                value + "' >/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << "etcdctl (package etcd-client) failed";
  }
};

TEST_F(EtcdSource, AMissingKeyIsAConfigErrorThatSaysWhatToPut) {
  try {
    ShardMapSource::open(etcd.spec(key));
    FAIL();
  } catch (const courier::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST_F(EtcdSource, ANewMapInEtcdIsFollowedWithoutARestart) {
  put(map_v(1).to_json());
  auto source = ShardMapSource::open(etcd.spec(key));
  EXPECT_EQ(source->version(), 1u);
  put(map_v(2, 3).to_json());
  EXPECT_TRUE(eventually([&] { return source->version() == 2; }));
  EXPECT_EQ(source->current()->proxies().size(), 3u);
  put(map_v(1).to_json());  // an older version never replaces a newer one
  put("garbage");
  EXPECT_TRUE(eventually([&] { return !source->last_error().empty(); }));
  EXPECT_EQ(source->version(), 2u);
}

TEST_F(EtcdSource, PublishIsSeenByOtherClientsAndNeverOverwritesAConcurrentChange) {
  put(map_v(1).to_json());
  auto mover = ShardMapSource::open(etcd.spec(key));
  auto client = ShardMapSource::open(etcd.spec(key));
  mover->publish(mover->current()->with_pin("orders", "p1"));
  EXPECT_TRUE(eventually([&] { return client->version() == 2; }));
  EXPECT_EQ(client->current()->owner("orders").name, "p1");

  // Someone else writes version 10; a publish made from version 2 must fail
  // (409 or "not above", depending on whether the watch saw 10 first) and
  // leave 10 in etcd.
  put(map_v(10).to_json());
  EXPECT_THROW(mover->publish(map_v(3)), courier::Error);
  EXPECT_EQ(ShardMapSource::open(etcd.spec(key))->version(), 10u);
}

TEST_F(EtcdSource, EtcdDownKeepsTheLastMapServingAndItsReturnIsFollowed) {
  put(map_v(1).to_json());
  auto source = ShardMapSource::open(etcd.spec(key));
  etcd.stop();
  EXPECT_TRUE(eventually([&] { return !source->last_error().empty(); }));
  EXPECT_EQ(source->version(), 1u);
  EXPECT_EQ(source->current()->owner("q").endpoint.substr(0, 6), "tcp://");
  EXPECT_FALSE(source->refresh());

  etcd.start();
  put(map_v(5).to_json());
  EXPECT_TRUE(eventually([&] { return source->version() == 5; }));
  EXPECT_TRUE(eventually([&] { return source->last_error().empty(); }));
}

}  // namespace
