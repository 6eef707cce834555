// Admin (admin.hpp) against a real courier-proxy: typed STATS, DECLARE,
// PURGE, DELETE, rates from two samples, errors and timeouts.
#include <courier/admin.hpp>
#include <courier/consumer.hpp>
#include <courier/producer.hpp>

#include "proxy_process.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace {

using namespace std::chrono_literals;
using courier::test::ProxyProcess;
using courier::test::RawCqp;

courier::AdminOptions admin_for(const std::string& endpoint) {
  courier::AdminOptions o;
  o.endpoint = endpoint;
  return o;
}

courier::ProducerOptions producer_for(const std::string& endpoint) {
  courier::ProducerOptions o;
  o.endpoint = endpoint;
  o.full_wait = std::chrono::milliseconds(0);  // these tests want the 429 itself, not the wait
  return o;
}

courier::ConsumerOptions consumer_for(const std::string& endpoint, std::uint32_t prefetch = 100) {
  courier::ConsumerOptions o;
  o.endpoint = endpoint;
  o.prefetch = prefetch;
  return o;
}

// Expects `f` to throw RemoteError with `code`.
template <class F>
void expect_remote(int code, F&& f) {
  try {
    f();
    ADD_FAILURE() << "expected RemoteError " << code;
  } catch (const courier::RemoteError& e) {
    EXPECT_EQ(e.status(), code) << e.what();
  }
}

TEST(Admin, StatsListsNewQueuesWithTheirFigures) {
  ProxyProcess proxy;
  courier::Producer producer(producer_for(proxy.endpoint()));
  for (int i = 0; i < 3; ++i) producer.publish("stats.a", i);
  courier::Admin admin(admin_for(proxy.endpoint()));
  EXPECT_EQ(admin.declare("stats.b"), 0u);

  const courier::ProxyStats all = admin.stats();
  ASSERT_EQ(all.queues.count("stats.a"), 1u);
  ASSERT_EQ(all.queues.count("stats.b"), 1u);
  const courier::QueueStats& a = all.queues.at("stats.a");
  EXPECT_EQ(a.depth, 3u);
  EXPECT_EQ(a.put, 3u);
  EXPECT_EQ(a.inflight, 0u);
  EXPECT_EQ(a.delivered, 0u);
  EXPECT_FALSE(a.tokens.has_value());
  EXPECT_EQ(all.queues.at("stats.b").depth, 0u);
  EXPECT_GT(all.uptime_ms, 0u);
  EXPECT_GE(all.clients, 2u);  // the producer and this admin said HELLO

  const auto one = admin.stats("stats.a");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->put, 3u);
  EXPECT_FALSE(admin.stats("stats.nothing-here"));
}

TEST(Admin, StatsCountsDeliveriesAcksAndConsumers) {
  ProxyProcess proxy;
  courier::Producer producer(producer_for(proxy.endpoint()));
  for (int i = 0; i < 4; ++i) producer.publish("work", i);
  courier::Consumer consumer("work", consumer_for(proxy.endpoint(), 2));
  auto d1 = consumer.receive_raw(5000ms);
  auto d2 = consumer.receive_raw(5000ms);
  ASSERT_TRUE(d1 && d2);
  d1->ack();
  courier::Admin admin(admin_for(proxy.endpoint()));
  ASSERT_TRUE(courier::test::wait_until([&] { return admin.stats("work")->acked == 1; }));
  const auto s = *admin.stats("work");
  EXPECT_EQ(s.consumers, 1u);
  EXPECT_EQ(s.acked, 1u);
  EXPECT_EQ(s.delivered, 3u);  // credit 2: one more went out after the ack
  EXPECT_EQ(s.inflight, 2u);
  EXPECT_EQ(s.depth, 1u);
}

TEST(Admin, DeclaredOptionsShowInStatsAndAreEnforced) {
  ProxyProcess proxy;
  courier::Admin admin(admin_for(proxy.endpoint()));
  courier::QueueOptions small;
  small.max_length = 2;
  small.ttl = 60000ms;
  small.dead_letter = "small.dead";
  EXPECT_EQ(admin.declare("small", small), 0u);
  courier::Producer producer(producer_for(proxy.endpoint()));
  producer.publish("small", 1);
  producer.publish("small", 2);
  expect_remote(429, [&] { producer.publish("small", 3); });
  EXPECT_EQ(admin.stats("small")->depth, 2u);
  EXPECT_EQ(admin.declare("small"), 2u);  // no options: the depth, nothing changed

  courier::QueueOptions tokens;
  tokens.tokens = 3;
  tokens.ack_timeout = 30000ms;
  EXPECT_EQ(admin.declare("sem", tokens), 3u);
  const auto s = admin.stats("sem");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->tokens, std::optional<std::uint64_t>(3));
  EXPECT_EQ(s->depth, 3u);
  EXPECT_EQ(admin.declare("sem", tokens), 3u);  // the same N again: nothing changes
}

TEST(Admin, PurgeReturnsHowManyReadyMessagesItRemoved) {
  ProxyProcess proxy;
  courier::Producer producer(producer_for(proxy.endpoint()));
  for (int i = 0; i < 5; ++i) producer.publish("purged", i);
  courier::Consumer consumer("purged", consumer_for(proxy.endpoint(), 1));
  auto held = consumer.receive_raw(5000ms);
  ASSERT_TRUE(held);
  courier::Admin admin(admin_for(proxy.endpoint()));
  ASSERT_TRUE(courier::test::wait_until([&] { return admin.stats("purged")->inflight == 1; }));
  EXPECT_EQ(admin.purge("purged"), 4u);  // the one in flight stays
  const auto s = admin.stats("purged");
  EXPECT_EQ(s->depth, 0u);
  EXPECT_EQ(s->inflight, 1u);
  EXPECT_EQ(admin.purge("purged"), 0u);
  EXPECT_EQ(admin.purge("never-made"), 0u);
  EXPECT_FALSE(admin.stats("never-made"));  // PURGE creates nothing
}

struct PutHeader {
  std::string q;
  int tag;
  MSGPACK_DEFINE_MAP(q, tag);
};

TEST(Admin, RemoveDeletesAnEmptyQueueAndRefusesOthers) {
  ProxyProcess proxy;
  courier::Admin admin(admin_for(proxy.endpoint()));
  expect_remote(404, [&] { admin.remove("nobody"); });

  admin.declare("empty");
  admin.remove("empty");
  EXPECT_FALSE(admin.stats("empty"));

  RawCqp raw(proxy.endpoint());  // a PUT without a producer id
  raw.send("PUT", PutHeader{"full", 1}, {courier::test::packb(1)});
  ASSERT_FALSE(raw.expect("CONFIRM").empty());
  expect_remote(409, [&] { admin.remove("full"); });
  EXPECT_EQ(admin.stats("full")->depth, 1u);  // a refused DELETE loses nothing
  EXPECT_EQ(admin.purge("full"), 1u);
  admin.remove("full");
  EXPECT_FALSE(admin.stats("full"));

  courier::QueueOptions lock;
  lock.tokens = 1;
  admin.declare("a-lock", lock);
  expect_remote(409, [&] { admin.remove("a-lock"); });  // it always holds its token
}

// The Producer gives every message an id, which the proxy remembers for
// dedup; DELETE forgets those too.
TEST(Admin, RemoveAfterPurgingProducerMessages) {
  ProxyProcess proxy;
  courier::Producer producer(producer_for(proxy.endpoint()));
  producer.publish("produced", 1);
  courier::Admin admin(admin_for(proxy.endpoint()));
  expect_remote(409, [&] { admin.remove("produced"); });
  EXPECT_EQ(admin.purge("produced"), 1u);
  admin.remove("produced");
  EXPECT_FALSE(admin.stats("produced"));
}

TEST(Admin, ProxyErrorsBecomeRemoteErrorsWithTheirCode) {
  ProxyProcess proxy;
  courier::Admin admin(admin_for(proxy.endpoint()));
  courier::QueueOptions zero_attempts;
  zero_attempts.max_attempts = 0;
  expect_remote(400, [&] { admin.declare("q400", zero_attempts); });
  EXPECT_FALSE(admin.stats("q400"));  // a refused DECLARE creates nothing

  courier::Producer producer(producer_for(proxy.endpoint()));
  producer.publish("busy", 1);
  courier::QueueOptions tokens;
  tokens.tokens = 1;
  expect_remote(409, [&] { admin.declare("busy", tokens); });  // holds messages

  admin.declare("lockq", tokens);
  courier::QueueOptions other = tokens;
  other.tokens = 2;
  expect_remote(409, [&] { admin.declare("lockq", other); });  // another N
  courier::QueueOptions max_len;
  max_len.max_length = 5;
  expect_remote(400, [&] { admin.declare("lockq", max_len); });  // not for tokens
  expect_remote(409, [&] { admin.purge("lockq"); });
  // The admin is still usable after refusals.
  EXPECT_EQ(admin.stats("lockq")->tokens, std::optional<std::uint64_t>(1));
}

TEST(Admin, BadNamesAndOptionsAreConfigErrorsBeforeAnythingIsSent) {
  // No proxy at all: these must fail without waiting for one.
  courier::AdminOptions o = admin_for("tcp://127.0.0.1:" + std::to_string(courier::test::free_tcp_port()));
  o.timeout = 60000ms;
  courier::Admin admin(o);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(admin.stats("bad name"), courier::ConfigError);
  EXPECT_THROW(admin.declare(""), courier::ConfigError);
  EXPECT_THROW(admin.purge(std::string(201, 'a')), courier::ConfigError);
  EXPECT_THROW(admin.remove("a/b"), courier::ConfigError);
  courier::QueueOptions bad;
  bad.tokens = 0;
  EXPECT_THROW(admin.declare("q", bad), courier::ConfigError);
  bad.tokens = 65537;
  EXPECT_THROW(admin.declare("q", bad), courier::ConfigError);
  courier::QueueOptions dl;
  dl.dead_letter = "no spaces";
  EXPECT_THROW(admin.declare("q", dl), courier::ConfigError);
  courier::QueueOptions neg;
  neg.ttl = -1ms;
  EXPECT_THROW(admin.declare("q", neg), courier::ConfigError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  courier::AdminOptions zero;
  zero.timeout = 0ms;
  EXPECT_THROW(courier::Admin{zero}, courier::ConfigError);
}

TEST(Admin, SilentEndpointIsATimeoutErrorAndTheAdminStaysUsable) {
  // A ROUTER that reads and never answers.
  zmq::socket_t silent(RawCqp::context(), zmq::socket_type::router);
  silent.set(zmq::sockopt::linger, 0);
  silent.bind("tcp://127.0.0.1:*");
  courier::AdminOptions o = admin_for(silent.get(zmq::sockopt::last_endpoint));
  o.timeout = 300ms;
  courier::Admin admin(o);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(admin.stats(), courier::TimeoutError);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 2s);
  EXPECT_THROW(admin.purge("q"), courier::TimeoutError);
}

// A peer that answers something other than CQP1 is no courier-proxy: said at
// once, not after the timeout.
TEST(Admin, APeerThatIsNotAProxyIsAProtocolErrorAtOnce) {
  zmq::socket_t web(RawCqp::context(), zmq::socket_type::router);
  web.set(zmq::sockopt::linger, 0);
  web.bind("tcp://127.0.0.1:*");
  std::thread answer([&] {
    zmq::pollitem_t item{web.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, 5s) == 0) return;
    zmq::message_t rid;
    (void)web.recv(rid);
    web.send(rid, zmq::send_flags::sndmore);
    web.send(zmq::str_buffer("HTTP/1.1 400 Bad Request"));
  });
  courier::AdminOptions o = admin_for(web.get(zmq::sockopt::last_endpoint));
  o.timeout = 10s;
  courier::Admin admin(o);
  const auto start = std::chrono::steady_clock::now();
  try {
    (void)admin.stats();
    ADD_FAILURE() << "garbage is not a STATS answer";
  } catch (const courier::ProtocolError& e) {
    EXPECT_NE(std::string(e.what()).find("not CQP1"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  answer.join();
}

TEST(Admin, KeepsWorkingAcrossAProxyRestart) {
  ProxyProcess proxy;
  courier::Admin admin(admin_for(proxy.endpoint()));
  admin.declare("kept");
  const auto before = admin.stats();
  proxy.kill9();
  proxy.start();
  const auto after = admin.stats();  // a fresh connection, transparently
  EXPECT_EQ(after.queues.count("kept"), 1u);
  EXPECT_LT(after.uptime_ms, before.uptime_ms + 60000);
}

TEST(Admin, CallsFromManyThreadsAreSerialized) {
  ProxyProcess proxy;
  courier::Admin admin(admin_for(proxy.endpoint()));
  admin.declare("shared");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if (i % 2 == 0) {
          if (admin.stats("shared")) ++ok;
        } else {
          if (admin.declare("shared.t" + std::to_string(t)) == 0) ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 100);
}

// ---- rates() ----------------------------------------------------------------

TEST(Admin, RatesFromTwoSamplesOfARealProxy) {
  ProxyProcess proxy;
  courier::Admin admin(admin_for(proxy.endpoint()));
  admin.declare("flow");
  const courier::ProxyStats first = admin.stats();
  courier::Producer producer(producer_for(proxy.endpoint()));
  for (int i = 0; i < 50; ++i) producer.publish_async("flow", i);
  ASSERT_TRUE(producer.flush(10000ms));
  courier::Consumer consumer("flow", consumer_for(proxy.endpoint(), 20));
  for (int i = 0; i < 20; ++i) {
    auto d = consumer.receive_raw(5000ms);
    ASSERT_TRUE(d);
    d->ack();
  }
  ASSERT_TRUE(courier::test::wait_until([&] { return admin.stats("flow")->acked == 20; }));
  std::this_thread::sleep_for(20ms);  // some uptime between the samples, whatever the speed
  const courier::ProxyStats second = admin.stats();
  const double seconds = static_cast<double>(second.uptime_ms - first.uptime_ms) / 1000.0;
  ASSERT_GT(seconds, 0);
  const courier::QueueRates r = courier::rates(first, second);
  ASSERT_EQ(r.count("flow"), 1u);
  EXPECT_NEAR(r.at("flow").put_per_s * seconds, 50.0, 1e-6);
  EXPECT_NEAR(r.at("flow").acked_per_s * seconds, 20.0, 1e-6);
  EXPECT_GE(r.at("flow").delivered_per_s * seconds, 20.0 - 1e-6);
}

courier::ProxyStats sample(std::uint64_t uptime_ms, std::uint64_t put, std::uint64_t acked,
                           std::uint64_t delivered) {
  courier::ProxyStats s;
  s.uptime_ms = uptime_ms;
  courier::QueueStats q;
  q.put = put;
  q.acked = acked;
  q.delivered = delivered;
  s.queues["q"] = q;
  return s;
}

TEST(Admin, RatesAreDeltasOverTheUptimeDelta) {
  const auto r = courier::rates(sample(1000, 100, 50, 60), sample(3000, 500, 250, 300));
  EXPECT_DOUBLE_EQ(r.at("q").put_per_s, 200.0);
  EXPECT_DOUBLE_EQ(r.at("q").acked_per_s, 100.0);
  EXPECT_DOUBLE_EQ(r.at("q").delivered_per_s, 120.0);
}

TEST(Admin, RatesCountFromZeroAfterARestartOrForANewQueue) {
  // later.uptime < earlier.uptime: the proxy restarted; its counters too.
  const auto restarted = courier::rates(sample(10000, 900, 900, 900), sample(2000, 40, 20, 20));
  EXPECT_DOUBLE_EQ(restarted.at("q").put_per_s, 20.0);
  // A queue that appeared between the samples.
  courier::ProxyStats empty;
  empty.uptime_ms = 1000;
  const auto fresh = courier::rates(empty, sample(2000, 10, 0, 0));
  EXPECT_DOUBLE_EQ(fresh.at("q").put_per_s, 10.0);
  // A counter that went down: deleted and made again in between.
  const auto remade = courier::rates(sample(1000, 500, 500, 500), sample(2000, 5, 0, 0));
  EXPECT_DOUBLE_EQ(remade.at("q").put_per_s, 5.0);
  // No time between the samples: zeros, not infinities.
  const auto same = courier::rates(sample(1000, 1, 1, 1), sample(1000, 5, 5, 5));
  EXPECT_EQ(same.at("q").put_per_s, 0.0);
}

}  // namespace
