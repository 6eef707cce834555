// Producer, Consumer, Admin and Lock given a shard map (the `shards` option,
// docs/scaling.md "Routing in the clients") against three real courier-proxy
// processes, plus a fake proxy (a bare ROUTER) that answers every PUT with
// ERROR 421 where the redirect itself is the point.
#include <courier/admin.hpp>
#include <courier/consumer.hpp>
#include <courier/lock.hpp>
#include <courier/producer.hpp>
#include <courier/shard_source.hpp>

#include "proxy_process.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using courier::ShardMap;
using courier::ShardMapSource;
using courier::ShardProxy;
using courier::test::ProxyProcess;
using courier::test::RawCqp;
using courier::test::wait_until;

// ---- fixtures ---------------------------------------------------------------------

// Three proxies named a, b, c, and a fixed source holding version 1 of their map.
class Sharded : public ::testing::Test {
 protected:
  Sharded() {
    for (int i = 0; i < 3; ++i) proxies_.push_back(std::make_unique<ProxyProcess>());
    source_ = ShardMapSource::fixed(map_v1());
  }

  ShardMap map_v1() const {
    return ShardMap(1, {{"a", proxies_[0]->endpoint(), 1.0},
                        {"b", proxies_[1]->endpoint(), 1.0},
                        {"c", proxies_[2]->endpoint(), 1.0}});
  }
  ProxyProcess& proxy(const std::string& name) { return *proxies_[static_cast<std::size_t>(name[0] - 'a')]; }
  std::string owner(const std::string& queue) const { return source_->current()->owner(queue).name; }
  // The first queue named "<stem>N" that `name` owns in the current map.
  std::string queue_on(const std::string& name, const std::string& stem = "q") const {
    for (int i = 0;; ++i) {
      const std::string q = stem + std::to_string(i);
      if (owner(q) == name) return q;
    }
  }
  // A queue `from` owns now, moved to `to` by a new map version (a pin, as `courier move` writes).
  std::string move_queue(const std::string& queue, const std::string& to) {
    source_->publish(source_->current()->with_pin(queue, to));
    return queue;
  }

  courier::ProducerOptions producer_options() const {
    courier::ProducerOptions o;
    o.shards = source_;
    o.publish_timeout = 5000ms;
    return o;
  }
  courier::ConsumerOptions consumer_options() const {
    courier::ConsumerOptions o;
    o.shards = source_;
    return o;
  }
  courier::AdminOptions admin_options() const {
    courier::AdminOptions o;
    o.shards = source_;
    o.timeout = 2000ms;
    return o;
  }
  static courier::AdminOptions admin_at(const std::string& endpoint) {
    courier::AdminOptions o;
    o.endpoint = endpoint;
    return o;
  }

  std::vector<std::unique_ptr<ProxyProcess>> proxies_;
  std::shared_ptr<ShardMapSource> source_;
};

// Every producer id found on `endpoint`'s queue `queue`, drained with an
// unsharded Consumer: id -> times seen.
std::map<std::string, int> drain_ids(const std::string& endpoint, const std::string& queue, std::size_t expect) {
  courier::ConsumerOptions o;
  o.endpoint = endpoint;
  courier::Consumer c(queue, o);
  std::map<std::string, int> ids;
  std::size_t n = 0;
  while (auto d = c.receive_raw(n < expect ? 3000ms : 300ms)) {
    ++ids[d->id()];
    (void)d->ack();
    ++n;
  }
  (void)c.close(2000ms);
  return ids;
}

// A bare ROUTER that says WELCOME/PONG like a proxy and refuses every PUT
// with ERROR 421 {moved_to}: a queue moved away (`courier move`).
class MovedProxy {
 public:
  explicit MovedProxy(std::string moved_to)
      : moved_to_(std::move(moved_to)), socket_(RawCqp::context(), zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { serve(); });
  }
  ~MovedProxy() {
    stop_ = true;
    thread_.join();
  }
  const std::string& endpoint() const { return endpoint_; }
  int puts() const { return puts_.load(); }

 private:
  void send(const zmq::message_t& peer, const std::string& command, const std::string& header) {
    socket_.send(zmq::const_buffer(peer.data(), peer.size()), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(std::string("CQP1")), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(command), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(header), zmq::send_flags::none);
  }
  void serve() {
    while (!stop_) {
      auto parts = courier::test::recv_all(socket_, 50ms);
      if (parts.size() < 4) continue;
      const std::string command = parts[2].to_string();
      if (command == "HELLO") {
        msgpack::sbuffer buf;
        msgpack::packer<msgpack::sbuffer> p(buf);
        p.pack_map(3);
        p.pack(std::string("v"));
        p.pack(1);
        p.pack(std::string("hb"));
        p.pack(1000);
        p.pack(std::string("boot"));
        p.pack(std::string("b00t"));
        send(parts[0], "WELCOME", std::string(buf.data(), buf.size()));
      } else if (command == "PING") {
        send(parts[0], "PONG", courier::test::packb(std::map<std::string, std::string>{{"boot", "b00t"}}));
      } else if (command == "PUT") {
        ++puts_;
        msgpack::object_handle keep = courier::test::unpack_header(parts[3]);
        const auto h = keep.get().as<std::map<std::string, msgpack::object>>();
        msgpack::sbuffer buf;
        msgpack::packer<msgpack::sbuffer> p(buf);
        p.pack_map(4);
        p.pack(std::string("tag"));
        p.pack(h.at("tag").as<std::uint64_t>());
        p.pack(std::string("code"));
        p.pack(421);
        p.pack(std::string("reason"));
        p.pack(std::string("queue moved"));
        p.pack(std::string("moved_to"));
        p.pack(moved_to_);
        send(parts[0], "ERROR", std::string(buf.data(), buf.size()));
      }
    }
  }
  std::string moved_to_;
  zmq::socket_t socket_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<int> puts_{0};
  std::thread thread_;
};

// ---- options ----------------------------------------------------------------------

TEST_F(Sharded, EndpointAndShardsTogetherIsAConfigErrorSayingPickOne) {
  auto o = producer_options();
  o.endpoint = proxy("a").endpoint();
  try {
    courier::Producer p(o);
    FAIL() << "no ConfigError";
  } catch (const courier::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("pick one"), std::string::npos) << e.what();
  }
  auto c = consumer_options();
  c.endpoint = proxy("a").endpoint();
  EXPECT_THROW(courier::Consumer("q", c), courier::ConfigError);
  auto a = admin_options();
  a.endpoint = proxy("a").endpoint();
  EXPECT_THROW(courier::Admin{a}, courier::ConfigError);
  courier::LockOptions l;
  l.shards = source_;
  l.endpoint = proxy("a").endpoint();
  EXPECT_THROW(courier::Lock("lk", l), courier::ConfigError);
}

// ---- Producer ---------------------------------------------------------------------

TEST_F(Sharded, ProducerPutsEachQueueOnItsOwner) {
  std::vector<std::string> queues;
  for (int i = 0; i < 12; ++i) queues.push_back("route" + std::to_string(i));
  {
    courier::Producer p(producer_options());
    for (const auto& q : queues) {
      for (int k = 0; k < 3; ++k) p.publish_async(q, k);
    }
    for (const auto& q : queues) (void)p.publish(q, 99);
    ASSERT_TRUE(p.flush(5000ms));
    EXPECT_EQ(p.confirmed(), queues.size() * 4);
    EXPECT_EQ(p.unconfirmed(), 0u);
  }
  std::set<std::string> owners;
  for (const char* name : {"a", "b", "c"}) {
    courier::Admin admin(admin_at(proxy(name).endpoint()));
    const auto stats = admin.stats();
    for (const auto& q : queues) {
      if (owner(q) == name) {
        ASSERT_EQ(stats.queues.count(q), 1u) << q << " missing on its owner " << name;
        EXPECT_EQ(stats.queues.at(q).depth, 4u) << q;
        owners.insert(name);
      } else {
        EXPECT_EQ(stats.queues.count(q), 0u) << q << " found on " << name << ", owner " << owner(q);
      }
    }
  }
  EXPECT_EQ(owners.size(), 3u) << "12 queues should spread over all three proxies";
}

TEST_F(Sharded, ProducerMapChangeMidStreamLosesNothingAndDuplicatesNothing) {
  const std::string q = queue_on("a", "stream");
  constexpr int kTotal = 3000;
  std::atomic<int> failed{0};
  {
    courier::Producer p(producer_options());
    for (int i = 0; i < kTotal; ++i) {
      if (i == kTotal / 2) move_queue(q, "b");  // mid-stream: a holds unconfirmed ones
      p.publish_async(q, i, {}, [&](const courier::Confirm& c) {
        if (!c.ok()) ++failed;
      });
    }
    ASSERT_TRUE(p.flush(10000ms));
    EXPECT_EQ(p.confirmed(), static_cast<std::uint64_t>(kTotal));
  }
  EXPECT_EQ(failed.load(), 0);
  auto on_a = drain_ids(proxy("a").endpoint(), q, kTotal / 2);
  auto on_b = drain_ids(proxy("b").endpoint(), q, kTotal / 2);
  EXPECT_GT(on_a.size(), 0u);
  EXPECT_GT(on_b.size(), 0u);
  std::map<std::string, int> all = on_a;
  for (const auto& [id, n] : on_b) all[id] += n;
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kTotal)) << "a message was lost";
  for (const auto& [id, n] : all) EXPECT_EQ(n, 1) << "id " << id << " stored " << n << " times";
}

TEST_F(Sharded, ProducerClosesTheConnectionOfAProxyThatLeftTheMapOnceItHoldsNothing) {
  const std::string on_c = queue_on("c", "leave");
  const std::string on_a = queue_on("a", "stay");
  courier::Producer p(producer_options());
  (void)p.publish(on_c, 1);
  courier::Admin admin_c(admin_at(proxy("c").endpoint()));
  EXPECT_EQ(admin_c.stats().clients, 2u) << "this Admin and the Producer";
  source_->publish(ShardMap(2, {{"a", proxy("a").endpoint(), 1.0}, {"b", proxy("b").endpoint(), 1.0}}));
  (void)p.publish(on_a, 2);  // routes by version 2: c is retired, and holds nothing
  EXPECT_TRUE(wait_until([&] { return admin_c.stats().clients == 1u; }, 5000ms))
      << "the connection to c stayed open";
  EXPECT_EQ(p.confirmed(), 2u) << "counters keep what the closed connection did";
  (void)p.publish(on_c, 3);  // c's queue now goes to its owner in version 2
  EXPECT_EQ(RawCqp(proxy(source_->current()->owner(on_c).name).endpoint()).stats(on_c)["depth"], 1u);
}

TEST_F(Sharded, ProducerKilledProxyFailsOnlyItsQueuesAndNamesIt) {
  const std::string on_b = queue_on("b");
  const std::string on_a = queue_on("a");
  auto o = producer_options();
  o.publish_timeout = 1000ms;
  o.close_timeout = 200ms;
  courier::Producer p(o);
  ASSERT_TRUE(p.wait_connected(5000ms));
  proxy("b").kill9();
  try {
    (void)p.publish(on_b, 1);
    FAIL() << "publish to a queue of a dead proxy succeeded";
  } catch (const courier::TimeoutError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'b'"), std::string::npos) << what;
    EXPECT_NE(what.find(proxy("b").endpoint()), std::string::npos) << what;
  }
  // The other queues keep flowing meanwhile.
  for (int i = 0; i < 20; ++i) EXPECT_NO_THROW((void)p.publish(on_a, i));
  EXPECT_EQ(RawCqp(proxy("a").endpoint()).stats(on_a)["depth"], 20u);
}

TEST_F(Sharded, ProducerFollows421ToTheProxyNamedByMovedTo) {
  MovedProxy old_owner("b");
  const std::string q = "moved-queue";
  source_->publish(ShardMap(2,
                            {{"a", proxy("a").endpoint(), 1.0},
                             {"b", proxy("b").endpoint(), 1.0},
                             {"old", old_owner.endpoint(), 1.0}},
                            {{q, "old"}}));
  courier::Producer p(producer_options());
  courier::PublishOptions po;
  po.id = "kept-id";
  (void)p.publish(q, 1, po);  // sync: refused by `old`, resent to b
  std::atomic<int> ok{0};
  for (int i = 0; i < 10; ++i) {
    p.publish_async(q, i, {}, [&](const courier::Confirm& c) {
      if (c.ok()) ++ok;
    });
  }
  ASSERT_TRUE(p.flush(5000ms));
  EXPECT_EQ(ok.load(), 10);
  EXPECT_GE(old_owner.puts(), 2);
  EXPECT_EQ(RawCqp(proxy("b").endpoint()).stats(q)["depth"], 11u);
  auto ids = drain_ids(proxy("b").endpoint(), q, 11);
  EXPECT_EQ(ids.count("kept-id"), 1u) << "the redirected message must keep its producer id";
}

TEST_F(Sharded, ProducerFollows421ToTheOwnerOfANewerMap) {
  MovedProxy old_owner("nobody-we-know");
  const std::string q = "moved-queue2";
  const std::string dir = courier::test::make_temp_dir("courier-shard-map");
  const std::string path = dir + "/map.json";
  auto write = [&](const ShardMap& m) {
    std::ofstream(path + ".tmp") << m.to_json();
    std::filesystem::rename(path + ".tmp", path);
  };
  const ShardMap v2(2,
                    {{"a", proxy("a").endpoint(), 1.0},
                     {"c", proxy("c").endpoint(), 1.0},
                     {"old", old_owner.endpoint(), 1.0}},
                    {{q, "old"}});
  write(v2);
  // Polled once an hour: only the refresh() a 421 causes reads the file again.
  auto file_source = ShardMapSource::from_file(path, std::chrono::hours(1));
  auto o = producer_options();
  o.shards = file_source;
  courier::Producer p(o);
  write(v2.with_pin(q, "c"));  // what `courier move` writes after copying q to c
  (void)p.publish(q, 1);       // routed by v2 to `old`, refused, resent to c
  EXPECT_EQ(file_source->version(), 3u);
  EXPECT_EQ(old_owner.puts(), 1);
  EXPECT_EQ(RawCqp(proxy("c").endpoint()).stats(q)["depth"], 1u);
  std::filesystem::remove_all(dir);
}

TEST_F(Sharded, ProducerFails421WhenTheMapDoesNotKnowTheNewOwner) {
  MovedProxy old_owner("zzz");
  const std::string q = "moved-queue3";
  source_->publish(ShardMap(2, {{"a", proxy("a").endpoint(), 1.0}, {"old", old_owner.endpoint(), 1.0}},
                            {{q, "old"}}));
  courier::Producer p(producer_options());
  try {
    (void)p.publish(q, 1);
    FAIL() << "no RemoteError";
  } catch (const courier::RemoteError& e) {
    EXPECT_EQ(e.status(), 421);
    EXPECT_NE(std::string(e.what()).find("'zzz'"), std::string::npos) << e.what();
  }
  std::exception_ptr got;
  p.publish_async(q, 2, {}, [&](const courier::Confirm& c) { got = c.error; });
  ASSERT_TRUE(p.flush(5000ms));
  ASSERT_TRUE(got);
  EXPECT_THROW(std::rethrow_exception(got), courier::RemoteError);
}

// A real proxy's moved_to mark (Admin::declare, as `courier move` sets it).
TEST_F(Sharded, ProducerFollowsARealProxysMovedToMark) {
  const std::string q = "marked-queue";
  source_->publish(source_->current()->with_pin(q, "a"));
  courier::Admin admin_a(admin_at(proxy("a").endpoint()));
  courier::QueueOptions mark;
  mark.moved_to = "b";
  (void)admin_a.declare(q, mark);
  courier::QueueOptions bad;
  bad.moved_to = "not a name!";
  EXPECT_THROW((void)admin_a.declare(q, bad), courier::ConfigError);
  courier::Producer p(producer_options());
  for (int i = 0; i < 5; ++i) (void)p.publish(q, i);  // the map still says a: a refuses, b takes
  EXPECT_EQ(RawCqp(proxy("b").endpoint()).stats(q)["depth"], 5u);
  // (an Admin: RawCqp::stats() reads only numbers, and a marked queue's STATS carries moved_to)
  const auto on_a = admin_a.stats(q);
  EXPECT_EQ(on_a->depth, 0u);
  EXPECT_EQ(on_a->moved_to.value_or("(none)"), "b");
  courier::ProducerOptions plain;
  plain.endpoint = proxy("a").endpoint();
  try {
    (void)courier::Producer(plain).publish(q, 1);
    FAIL() << "an unsharded Producer stored into a moved queue";
  } catch (const courier::RemoteError& e) {
    EXPECT_EQ(e.status(), 421);
    EXPECT_NE(std::string(e.what()).find("'b'"), std::string::npos) << e.what();
  }
  mark.moved_to = "";  // the mark removed: a takes PUTs again
  (void)admin_a.declare(q, mark);
  EXPECT_FALSE(admin_a.stats(q)->moved_to);
  EXPECT_NO_THROW((void)courier::Producer(plain).publish(q, 2));
}

TEST_F(Sharded, UnshardedProducerReports421AndDoesNotRetry) {
  MovedProxy old_owner("b");
  courier::ProducerOptions o;
  o.endpoint = old_owner.endpoint();
  courier::Producer p(o);
  try {
    (void)p.publish("q", 1);
    FAIL() << "no RemoteError";
  } catch (const courier::RemoteError& e) {
    EXPECT_EQ(e.status(), 421);
    EXPECT_NE(std::string(e.what()).find("proxy 'b'"), std::string::npos) << e.what();
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(old_owner.puts(), 1);
}

// ---- Consumer ---------------------------------------------------------------------

TEST_F(Sharded, ConsumerTakesItsQueueFromItsOwner) {
  const std::string q = queue_on("c", "take");
  courier::Producer p(producer_options());
  for (int i = 0; i < 10; ++i) p.publish_async(q, i);
  ASSERT_TRUE(p.flush(5000ms));
  courier::Consumer c(q, consumer_options());
  for (int i = 0; i < 10; ++i) {
    auto d = c.receive<int>(5000ms);
    ASSERT_TRUE(d) << "delivery " << i;
    EXPECT_EQ(d->body(), i);
    EXPECT_TRUE(d->ack());
  }
  EXPECT_TRUE(c.close(2000ms));
  EXPECT_EQ(RawCqp(proxy("c").endpoint()).stats(q)["acked"], 10u);
}

// The old owner's deliveries are still handed out and settled there; the
// new owner's follow; every message is consumed once.
TEST_F(Sharded, ConsumerFollowsAMapChangeAndSettlesOldDeliveriesWithTheOldOwner) {
  const std::string q = queue_on("a", "follow");
  courier::Producer p(producer_options());
  for (int i = 0; i < 100; ++i) p.publish_async(q, i);
  ASSERT_TRUE(p.flush(5000ms));
  auto o = consumer_options();
  o.prefetch = 200;
  courier::Consumer c(q, o);
  std::map<std::string, int> seen;
  std::vector<courier::RawDelivery> held;
  for (int i = 0; i < 50; ++i) {
    auto d = c.receive_raw(5000ms);
    ASSERT_TRUE(d) << "delivery " << i;
    ++seen[d->id()];
    if (i < 10) {
      held.push_back(std::move(*d));  // in the user's hands across the change
    } else {
      EXPECT_TRUE(d->ack());
    }
  }
  move_queue(q, "b");
  for (int i = 0; i < 100; ++i) p.publish_async(q, 1000 + i);
  ASSERT_TRUE(p.flush(5000ms));
  EXPECT_EQ(RawCqp(proxy("b").endpoint()).stats(q)["put"], 100u) << "new messages go to the new owner";
  for (int i = 0; i < 150; ++i) {
    auto d = c.receive_raw(5000ms);
    ASSERT_TRUE(d) << "delivery " << 50 + i;
    ++seen[d->id()];
    EXPECT_TRUE(d->ack());
  }
  for (auto& d : held) EXPECT_TRUE(d.ack()) << "an old delivery is acked on its own connection";
  held.clear();
  EXPECT_FALSE(c.receive_raw(200ms)) << "nothing more than the 200 published";
  EXPECT_EQ(seen.size(), 200u);
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
  RawCqp a(proxy("a").endpoint());
  // The old connection closes once its deliveries are settled.
  EXPECT_TRUE(wait_until([&] { return a.stats(q)["consumers"] == 0; }, 5000ms));
  const auto on_a = a.stats(q);
  EXPECT_EQ(on_a.at("acked"), 100u);
  EXPECT_EQ(on_a.at("redelivered"), 0u);
  EXPECT_EQ(on_a.at("depth"), 0u);
  EXPECT_TRUE(c.close(2000ms));
  EXPECT_EQ(RawCqp(proxy("b").endpoint()).stats(q)["acked"], 100u);
}

TEST_F(Sharded, ConsumerRunFollowsTheOwnerToo) {
  const std::string q = queue_on("b", "run");
  courier::Producer p(producer_options());
  for (int i = 0; i < 5; ++i) p.publish_async(q, i);
  ASSERT_TRUE(p.flush(5000ms));
  courier::Consumer c(q, consumer_options());
  int n = 0;
  std::thread t([&] {
    c.run<int>([&](const int&) {
      if (++n == 5) {
        move_queue(q, "c");
        for (int i = 0; i < 5; ++i) p.publish_async(q, i);
      }
      if (n == 10) c.stop();
    });
  });
  t.join();
  EXPECT_EQ(n, 10);
  EXPECT_TRUE(c.close(2000ms)) << "close() hands the last acks over and waits until they are applied";
  EXPECT_EQ(RawCqp(proxy("c").endpoint()).stats(q)["acked"], 5u);
}

TEST_F(Sharded, ConsumerOfADeadOwnerWaitsWhileOtherQueuesFlow) {
  const std::string on_c = queue_on("c", "deadc");
  const std::string on_a = queue_on("a", "livea");
  courier::Producer p(producer_options());
  (void)p.publish(on_c, 1);
  courier::Consumer dead(on_c, consumer_options());
  courier::Consumer live(on_a, consumer_options());
  ASSERT_TRUE(dead.wait_consuming(5000ms));
  proxy("c").kill9();
  for (int i = 0; i < 5; ++i) (void)p.publish(on_a, i);
  for (int i = 0; i < 5; ++i) {
    auto d = live.receive<int>(5000ms);
    ASSERT_TRUE(d) << "queue on a stalled by the dead c";
    EXPECT_TRUE(d->ack());
  }
  auto first = dead.receive_raw(5000ms);  // delivered before the kill, or nothing
  if (first) (void)first->ack();
  EXPECT_FALSE(dead.receive_raw(300ms));
  proxy("c").start();  // same port and journal: the consumer reconnects by itself
  if (!first) EXPECT_TRUE(dead.receive_raw(10000ms)) << "the message c kept";
}

// ---- Admin ------------------------------------------------------------------------

TEST_F(Sharded, AdminDeclaresOnTheOwnerAndMergesStats) {
  courier::Admin admin(admin_options());
  std::vector<std::string> queues;
  for (int i = 0; i < 9; ++i) queues.push_back("adm" + std::to_string(i));
  courier::QueueOptions qo;
  qo.max_length = 7;
  for (const auto& q : queues) EXPECT_EQ(admin.declare(q, qo), 0u);
  for (const char* name : {"a", "b", "c"}) {
    const auto stats = courier::Admin(admin_at(proxy(name).endpoint())).stats();
    for (const auto& q : queues) EXPECT_EQ(stats.queues.count(q), owner(q) == name ? 1u : 0u) << q << " on " << name;
  }
  courier::Producer p(producer_options());
  for (const auto& q : queues) (void)p.publish(q, 1);
  const auto all = admin.stats();
  for (const auto& q : queues) {
    ASSERT_EQ(all.queues.count(q), 1u) << q;
    EXPECT_EQ(all.queues.at(q).depth, 1u) << q;
    EXPECT_EQ(admin.stats(q)->depth, 1u) << q;
  }
  EXPECT_EQ(admin.purge(queues[0]), 1u);
  EXPECT_EQ(admin.stats(queues[0])->depth, 0u);
  admin.remove(queues[0]);
  EXPECT_FALSE(admin.stats(queues[0]));
  const auto by_proxy = admin.stats_by_proxy();
  ASSERT_EQ(by_proxy.size(), 3u);
  for (const auto& s : by_proxy) {
    EXPECT_TRUE(s.reachable) << s.name << ": " << s.error;
    EXPECT_EQ(s.endpoint, proxy(s.name).endpoint());
  }
}

TEST_F(Sharded, AdminStatsByProxyMarksADeadProxyUnreachable) {
  const std::string on_c = queue_on("c", "dead");
  const std::string on_a = queue_on("a", "alive");
  courier::Admin admin(admin_options());
  (void)admin.declare(on_a);
  proxy("c").kill9();
  const auto started = std::chrono::steady_clock::now();
  const auto by_proxy = admin.stats_by_proxy();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 4000ms) << "one timeout for the dead one";
  ASSERT_EQ(by_proxy.size(), 3u);
  for (const auto& s : by_proxy) {
    if (s.name == "c") {
      EXPECT_FALSE(s.reachable);
      EXPECT_NE(s.error.find(proxy("c").endpoint()), std::string::npos) << s.error;
    } else {
      EXPECT_TRUE(s.reachable) << s.name << ": " << s.error;
    }
  }
  EXPECT_EQ(by_proxy[0].queues.count(on_a), 1u);
  try {
    (void)admin.stats();
    FAIL() << "stats() of all queues hid a dead proxy";
  } catch (const courier::TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("'c'"), std::string::npos) << e.what();
  }
  try {
    (void)admin.declare(on_c);
    FAIL() << "declare on a dead owner succeeded";
  } catch (const courier::TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("'c'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(admin.declare(on_a), 0u) << "the other proxies keep answering";
}

// ---- Lock -------------------------------------------------------------------------

TEST_F(Sharded, LockTakesItsTokenOnTheOwnerAndFollowsAMove) {
  const std::string name = queue_on("b", "lock");
  courier::LockOptions o;
  o.shards = source_;
  courier::Lock lock(name, o);
  {
    auto g = lock.acquire(5000ms);
    ASSERT_TRUE(g);
    EXPECT_EQ(RawCqp(proxy("b").endpoint()).stats(name)["inflight"], 1u);
    EXPECT_TRUE(g->release());
  }
  move_queue(name, "a");
  auto g = lock.acquire(5000ms);
  ASSERT_TRUE(g);
  EXPECT_EQ(RawCqp(proxy("a").endpoint()).stats(name)["inflight"], 1u);
  EXPECT_TRUE(g->release());
}

}  // namespace
