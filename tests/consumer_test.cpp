// Consumer and Delivery (consumer.hpp, delivery.hpp) against a real
// courier-proxy, and the batch DELIVER form against a fake one.
#include <courier/admin.hpp>
#include <courier/consumer.hpp>
#include <courier/producer.hpp>

#include "proxy_process.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using courier::test::ProxyProcess;
using courier::test::RawCqp;
using courier::test::wait_until;

courier::ConsumerOptions consumer_options(const std::string& endpoint, uint32_t prefetch = 100) {
  courier::ConsumerOptions o;
  o.endpoint = endpoint;
  o.prefetch = prefetch;
  return o;
}

courier::Producer make_producer(const std::string& endpoint) {
  courier::ProducerOptions o;
  o.endpoint = endpoint;
  return courier::Producer(o);
}

// Queue policies are set with an Admin: a Producer only publishes.
courier::AdminOptions admin_for(const std::string& endpoint) {
  courier::AdminOptions o;
  o.endpoint = endpoint;
  return o;
}

TEST(Consumer, ReceivesInQueueOrderAndAcks) {
  ProxyProcess proxy;
  auto producer = make_producer(proxy.endpoint());
  for (int i = 0; i < 20; ++i) producer.publish_async("work", i);
  ASSERT_TRUE(producer.flush(5000ms));
  courier::Consumer consumer("work", consumer_options(proxy.endpoint(), 5));
  uint64_t last_seq = 0;
  for (int i = 0; i < 20; ++i) {
    auto d = consumer.receive<int>(5000ms);
    ASSERT_TRUE(d) << "message " << i;
    EXPECT_EQ(d->body(), i);
    EXPECT_EQ(d->attempt(), 1u);
    EXPECT_FALSE(d->redelivered());
    EXPECT_FALSE(d->id().empty()) << "the producer's automatic id comes back";
    if (i > 0) EXPECT_GT(d->seq(), last_seq);
    last_seq = d->seq();
    EXPECT_TRUE(d->ack());
    EXPECT_FALSE(d->ack()) << "a second ack does nothing";
  }
  EXPECT_FALSE(consumer.receive<int>(100ms));
  RawCqp raw(proxy.endpoint());
  EXPECT_TRUE(wait_until([&] {
    auto s = raw.stats("work");
    return s["acked"] == 20 && s["depth"] == 0 && s["inflight"] == 0;
  }));
}

TEST(Consumer, NackRequeuesAndRedeliversWithAttemptPlusOne) {
  ProxyProcess proxy;
  auto producer = make_producer(proxy.endpoint());
  courier::PublishOptions p;
  p.id = "job-1";
  producer.publish("jobs", std::string("job"), p);
  courier::Consumer consumer("jobs", consumer_options(proxy.endpoint(), 1));
  auto first = consumer.receive<std::string>(5000ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->attempt(), 1u);
  EXPECT_EQ(first->id(), "job-1");
  const uint64_t seq = first->seq();
  EXPECT_TRUE(first->nack(true));
  auto second = consumer.receive<std::string>(5000ms);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->seq(), seq);
  EXPECT_EQ(second->attempt(), 2u);
  EXPECT_TRUE(second->redelivered());
  EXPECT_EQ(second->body(), "job");
  EXPECT_TRUE(second->ack());
}

TEST(Consumer, NackWithoutRequeueGoesToTheDeadLetterQueue) {
  ProxyProcess proxy;
  auto producer = make_producer(proxy.endpoint());
  courier::QueueOptions q;
  q.dead_letter = "jobs.dead";
  courier::Admin(admin_for(proxy.endpoint())).declare("jobs", q);
  producer.publish("jobs", 5);
  {
    courier::Consumer consumer("jobs", consumer_options(proxy.endpoint(), 1));
    auto d = consumer.receive<int>(5000ms);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->nack(false));
  }
  courier::Consumer dead("jobs.dead", consumer_options(proxy.endpoint(), 1));
  auto d = dead.receive<int>(5000ms);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->body(), 5);
  EXPECT_EQ(d->attempt(), 1u);
}

TEST(Consumer, UnsettledDeliveryIsRequeuedWhenDropped) {
  ProxyProcess proxy;
  auto producer = make_producer(proxy.endpoint());
  producer.publish("drop", 1);
  courier::Consumer consumer("drop", consumer_options(proxy.endpoint(), 1));
  {
    auto d = consumer.receive<int>(5000ms);
    ASSERT_TRUE(d);
  }  // neither acked nor nacked
  auto again = consumer.receive<int>(5000ms);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempt(), 2u);
}

TEST(Consumer, ClosedConsumerHandsItsUnackedDeliveriesBackAtOnce) {
  ProxyProcess proxy(10000);  // long heartbeat: only BYE can explain a quick requeue
  auto producer = make_producer(proxy.endpoint());
  producer.publish("bye", 1);
  std::optional<courier::Delivery<int>> kept;
  {
    courier::Consumer a("bye", consumer_options(proxy.endpoint(), 1));
    kept = a.receive<int>(5000ms);
    ASSERT_TRUE(kept);
  }
  EXPECT_FALSE(kept->ack()) << "the consumer is gone: nothing to ack on";
  courier::Consumer b("bye", consumer_options(proxy.endpoint(), 1));
  auto d = b.receive<int>(5000ms);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->attempt(), 2u);
}

// close(timeout) returns only once the proxy has applied the last acks, so a
// third party (here a raw STATS on another connection) sees them at once.
TEST(Consumer, CloseReturnsOnceTheProxyAppliedTheAcks) {
  ProxyProcess proxy(10000);  // long heartbeat: nothing but the handshake settles in time
  auto producer = make_producer(proxy.endpoint());
  for (int i = 0; i < 50; ++i) producer.publish_async("drain", i);
  ASSERT_TRUE(producer.flush(5000ms));
  courier::Consumer consumer("drain", consumer_options(proxy.endpoint(), 64));
  for (int i = 0; i < 50; ++i) {
    auto d = consumer.receive<int>(5000ms);
    ASSERT_TRUE(d) << "message " << i;
    EXPECT_TRUE(d->ack());
  }
  EXPECT_TRUE(consumer.close(5000ms));
  RawCqp raw(proxy.endpoint());
  auto s = raw.stats("drain");  // no waiting: it must already be so
  EXPECT_EQ(s["acked"], 50u);
  EXPECT_EQ(s["inflight"], 0u);
  EXPECT_EQ(s["consumers"], 0u);
  EXPECT_THROW(consumer.receive<int>(10ms), courier::ClosedError);
  EXPECT_TRUE(consumer.close(10ms)) << "a second close reports the first one's outcome";
}

TEST(Consumer, CloseWithoutAProxyReturnsFalseAtOnce) {
  auto o = consumer_options("tcp://127.0.0.1:" + std::to_string(courier::test::free_tcp_port()));
  courier::Consumer consumer("nobody", o);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(consumer.close(5000ms)) << "no session: nothing to wait for";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(Consumer, AutoAckNeedsNoAckAndKeepsCreditFlowing) {
  ProxyProcess proxy;
  auto producer = make_producer(proxy.endpoint());
  for (int i = 0; i < 30; ++i) producer.publish_async("auto", i);
  ASSERT_TRUE(producer.flush(5000ms));
  auto o = consumer_options(proxy.endpoint(), 2);  // needs CREDIT to get past 2
  o.auto_ack = true;
  courier::Consumer consumer("auto", o);
  for (int i = 0; i < 30; ++i) {
    auto d = consumer.receive<int>(5000ms);
    ASSERT_TRUE(d) << "message " << i;
    EXPECT_EQ(d->body(), i);
    EXPECT_TRUE(d->settled());
    EXPECT_FALSE(d->ack()) << "auto_ack deliveries are settled already";
  }
  RawCqp raw(proxy.endpoint());
  auto s = raw.stats("auto");
  EXPECT_EQ(s["depth"], 0u);
  EXPECT_EQ(s["inflight"], 0u);
}

TEST(Consumer, CallbackStyleRunsInTheCallingThreadUntilStop) {
  ProxyProcess proxy;
  auto producer = make_producer(proxy.endpoint());
  for (int i = 0; i < 10; ++i) producer.publish_async("cb", i);
  ASSERT_TRUE(producer.flush(5000ms));
  courier::Consumer consumer("cb", consumer_options(proxy.endpoint()));
  std::vector<int> got;
  const auto caller = std::this_thread::get_id();
  consumer.run<int>([&](courier::Delivery<int>& d) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    got.push_back(d.body());
    if (got.size() == 10) consumer.stop();
  });
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  RawCqp raw(proxy.endpoint());
  EXPECT_TRUE(wait_until([&] { return raw.stats("cb")["acked"] == 10; })) << "run() acks after the callback";
}

TEST(Consumer, DecodeErrorOnOneMessageDoesNotStopTheConsumer) {
  ProxyProcess proxy;
  auto producer = make_producer(proxy.endpoint());
  producer.publish("mixed", 1);
  producer.publish("mixed", std::string("not an int"));
  producer.publish("mixed", 3);
  producer.publish("mixed", std::string("nor this"));
  producer.publish("mixed", 5);

  // Callback style: the bad one never reaches the callback.
  courier::Consumer consumer("mixed", consumer_options(proxy.endpoint()));
  std::vector<int> got;
  consumer.run<int>([&](const int& v) {
    got.push_back(v);
    if (v == 3) consumer.stop();
  });
  EXPECT_EQ(got, (std::vector<int>{1, 3}));
  EXPECT_EQ(consumer.decode_errors(), 1u);

  // Pull style: body() throws, the delivery and the consumer stay usable.
  auto d = consumer.receive<int>(5000ms);
  ASSERT_TRUE(d);
  EXPECT_THROW(d->body(), courier::DecodeError);
  EXPECT_EQ(d->raw().bytes(), courier::test::packb(std::string("nor this")));
  EXPECT_TRUE(d->nack(false));
  auto next = consumer.receive<int>(5000ms);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body(), 5);
  EXPECT_TRUE(next->ack());
}

// The classic pika complaint: a callback busy for longer than 3 heartbeats.
// The I/O thread keeps the session alive, so the proxy does not requeue the
// message to the other consumer, and the late ack is accepted.
TEST(Consumer, HeartbeatsContinueDuringALongCallback) {
  ProxyProcess proxy(200);
  auto producer = make_producer(proxy.endpoint());
  courier::Consumer busy("slow", consumer_options(proxy.endpoint(), 1));
  ASSERT_TRUE(busy.wait_consuming(5000ms));
  producer.publish("slow", 1);

  std::atomic<bool> in_callback{false};
  std::atomic<uint32_t> attempt{0};
  std::thread worker([&] {
    busy.run<int>([&](courier::Delivery<int>& d) {
      attempt = d.attempt();
      in_callback = true;
      // The long work under test: 5 x hb, past the proxy's 3 x hb limit.
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * proxy.heartbeat_ms()));
      EXPECT_TRUE(d.ack()) << "the delivery's connection must still be the same one";
      busy.stop();
    });
  });
  ASSERT_TRUE(wait_until([&] { return in_callback.load(); }));
  courier::Consumer other("slow", consumer_options(proxy.endpoint(), 10));
  ASSERT_TRUE(other.wait_consuming(5000ms));
  producer.publish("slow", 2);
  std::vector<int> other_got;
  while (auto d = other.receive<int>(std::chrono::milliseconds(6 * proxy.heartbeat_ms()))) {
    other_got.push_back(d->body());
    d->ack();
  }
  worker.join();
  EXPECT_EQ(other_got, std::vector<int>{2}) << "message 1 must not be redelivered elsewhere";
  EXPECT_EQ(attempt.load(), 1u);
  EXPECT_EQ(busy.reconnects(), 0u);
  RawCqp raw(proxy.endpoint());
  EXPECT_TRUE(wait_until([&] {
    auto s = raw.stats("slow");
    return s["acked"] == 2 && s["redelivered"] == 0;
  }));
}

TEST(Consumer, ConsumesAgainAfterAProxyRestart) {
  ProxyProcess proxy(200);
  courier::Consumer consumer("restart", consumer_options(proxy.endpoint(), 10));
  ASSERT_TRUE(consumer.wait_consuming(5000ms));
  {
    auto producer = make_producer(proxy.endpoint());
    producer.publish("restart", 1);
  }
  auto d1 = consumer.receive<int>(5000ms);
  ASSERT_TRUE(d1);
  EXPECT_EQ(d1->body(), 1);
  EXPECT_TRUE(d1->ack());
  // ack() hands the ACK to the I/O thread; wait until the proxy applied it,
  // or the kill would (rightly) bring message 1 back.
  {
    RawCqp raw(proxy.endpoint());
    ASSERT_TRUE(wait_until([&] { return raw.stats("restart")["acked"] == 1; }));
  }

  proxy.kill9();
  proxy.start();
  {
    auto producer = make_producer(proxy.endpoint());
    producer.publish("restart", 2);
  }
  auto d2 = consumer.receive<int>(10000ms);
  ASSERT_TRUE(d2) << "no delivery after the restart: no re-CONSUME?";
  EXPECT_EQ(d2->body(), 2);
  EXPECT_TRUE(d2->ack());
  EXPECT_GE(consumer.reconnects(), 1u);
}

// Deliveries held when the proxy dies come back after the restart (they were
// never acked), and acks for the dead connection are refused, not misapplied.
TEST(Consumer, UnackedDeliveriesComeBackAfterAProxyCrash) {
  ProxyProcess proxy(200);
  auto producer = make_producer(proxy.endpoint());
  producer.publish("crash", 10);
  courier::Consumer consumer("crash", consumer_options(proxy.endpoint(), 10));
  auto held = consumer.receive<int>(5000ms);
  ASSERT_TRUE(held);
  proxy.kill9();
  proxy.start();
  auto again = consumer.receive<int>(10000ms);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body(), 10);
  EXPECT_EQ(again->seq(), held->seq());
  EXPECT_GE(again->attempt(), 2u);
  EXPECT_FALSE(held->ack()) << "its delivery id belongs to the dead proxy";
  EXPECT_TRUE(again->ack());
}

// The untyped forms come the same three ways as receive<T>: waiting, timed, try.
TEST(Consumer, RawReceiveWaitsTimesOutOrTries) {
  ProxyProcess proxy;
  auto producer = make_producer(proxy.endpoint());
  producer.publish("raw", 0);
  producer.publish("raw", 1);
  courier::Consumer consumer("raw", consumer_options(proxy.endpoint()));
  courier::RawDelivery first = consumer.receive_raw();
  EXPECT_EQ(std::string(first.bytes()), courier::test::packb(0));
  std::optional<courier::RawDelivery> second;
  ASSERT_TRUE(wait_until([&] { return (second = consumer.try_receive_raw()).has_value(); }));
  EXPECT_EQ(std::string(second->bytes()), courier::test::packb(1));
  EXPECT_FALSE(consumer.try_receive_raw());
  EXPECT_FALSE(consumer.receive_raw(50ms));
  EXPECT_TRUE(first.ack());
  EXPECT_TRUE(second->ack());
}

// Deliveries are made by the Consumer only: no detail:: type is a public argument.
static_assert(!std::is_constructible_v<courier::RawDelivery, std::shared_ptr<courier::detail::ConsumerShared>,
                                       courier::detail::DeliveryData>);
static_assert(std::is_nothrow_move_constructible_v<courier::RawDelivery>);

TEST(Consumer, BadQueueNameOrPrefetchIsAConfigError) {
  EXPECT_THROW(courier::Consumer("no spaces", consumer_options("tcp://127.0.0.1:5999")), courier::ConfigError);
  EXPECT_THROW(courier::Consumer("q", consumer_options("tcp://127.0.0.1:5999", 0)), courier::ConfigError);
  auto o = consumer_options("tcp://127.0.0.1:5999");
  o.limit = 0;
  EXPECT_THROW(courier::Consumer("q", o), courier::ConfigError);
}

// CONSUME `limit`: a consumer that wants 3 takes 3, and the 4th stays in the
// queue for others (docs/PROTOCOL.md §3.12).
TEST(Consumer, LimitTakesExactlyThatManyOffTheQueue) {
  ProxyProcess proxy;
  auto producer = make_producer(proxy.endpoint());
  for (int i = 0; i < 10; ++i) producer.publish_async("counted", i);
  ASSERT_TRUE(producer.flush(5000ms));
  auto o = consumer_options(proxy.endpoint(), 100);
  o.limit = 3;
  courier::Consumer consumer("counted", o);
  for (int i = 0; i < 3; ++i) {
    auto d = consumer.receive<int>(5000ms);
    ASSERT_TRUE(d) << "message " << i;
    EXPECT_EQ(d->body(), i);
    EXPECT_TRUE(d->ack());
  }
  EXPECT_FALSE(consumer.receive<int>(300ms)) << "a 4th delivery past the limit";
  RawCqp raw(proxy.endpoint());
  EXPECT_TRUE(wait_until([&] { return raw.stats("counted")["acked"] == 3; }));
  auto s = raw.stats("counted");
  EXPECT_EQ(s["depth"], 7u);
  EXPECT_EQ(s["inflight"], 0u);
  EXPECT_EQ(s["delivered"], 3u);
}

// kill -9 of the proxy while a producer streams and a consumer consumes, then
// a quick restart on the same port and data: the consumer keeps receiving
// (it CONSUMEs again), and every message is stored once (one seq per value;
// redeliveries of unacked ones keep their seq).
TEST(Consumer, KeepsReceivingAcrossAProxyKillNineWhileAProducerStreams) {
  ProxyProcess proxy(200);
  courier::ProducerOptions po;
  po.endpoint = proxy.endpoint();
  po.window = 64;
  courier::Producer producer(po);
  courier::Consumer consumer("live", consumer_options(proxy.endpoint(), 20));
  constexpr int kCount = 2000;
  std::atomic<int> failed{0};
  std::thread publisher([&] {
    for (int i = 0; i < kCount; ++i) {
      producer.publish_async("live", i, {}, [&](const courier::Confirm& c) {
        if (!c.ok()) ++failed;
      });
    }
  });
  std::map<int, std::set<uint64_t>> seqs;  // value -> seqs it came with
  auto take = [&](std::chrono::milliseconds timeout) {
    auto d = consumer.receive<int>(timeout);
    if (!d) return false;
    seqs[d->body()].insert(d->seq());
    d->ack();
    return true;
  };
  while (seqs.size() < 300) ASSERT_TRUE(take(5000ms)) << "nothing before the kill";
  proxy.kill9();
  proxy.start();
  publisher.join();
  ASSERT_TRUE(producer.flush(30000ms));
  EXPECT_EQ(failed.load(), 0);
  while (seqs.size() < static_cast<std::size_t>(kCount)) {
    ASSERT_TRUE(take(10000ms)) << "stopped receiving after " << seqs.size() << " values: no re-CONSUME?";
  }
  while (take(1000ms)) {
  }  // late redeliveries, and any copy stored twice
  for (const auto& [value, s] : seqs) EXPECT_EQ(s.size(), 1u) << "value " << value << " stored twice";
  EXPECT_GE(consumer.reconnects(), 1u);
  EXPECT_GE(producer.reconnects(), 1u);
}

// A restarted proxy answering the old socket shows only in its `boot`: the
// consumer drops what it buffered from the old process (void: that proxy
// requeued it) and CONSUMEs again on a fresh socket, asking with `limit`
// only for what it has not handed out yet.
TEST(Consumer, ChangedBootOnTheSameSocketMeansConsumeAgain) {
  zmq::socket_t router(RawCqp::context(), zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string ep = router.get(zmq::sockopt::last_endpoint);
  auto o = consumer_options(ep, 8);
  o.batch = 1;
  o.limit = 5;
  courier::Consumer consumer("b", o);

  auto next = [&](const std::string& command) {
    for (;;) {
      auto parts = courier::test::recv_all(router, 5000ms);
      if (parts.empty() || parts[2].to_string() == command) return parts;
    }
  };
  auto send = [&](const zmq::message_t& peer, const std::string& command, const std::string& header,
                  const std::string& body = "") {
    router.send(zmq::const_buffer(peer.data(), peer.size()), zmq::send_flags::sndmore);
    router.send(zmq::buffer(std::string("CQP1")), zmq::send_flags::sndmore);
    router.send(zmq::buffer(command), zmq::send_flags::sndmore);
    router.send(zmq::buffer(header), body.empty() ? zmq::send_flags::none : zmq::send_flags::sndmore);
    if (!body.empty()) router.send(zmq::buffer(body), zmq::send_flags::none);
  };
  auto limit_of = [](const zmq::message_t& header) {
    auto keep = courier::test::unpack_header(header);
    return keep.get().as<std::map<std::string, msgpack::object>>().at("limit").as<uint64_t>();
  };
  auto deliver = [&](const zmq::message_t& peer, uint64_t d, int value) {
    send(peer, "DELIVER",
         courier::test::packb(std::map<std::string, msgpack::type::variant>{
             {"q", std::string("b")}, {"d", d}, {"seq", d}, {"attempt", uint64_t(1)}, {"ts", uint64_t(1)}}),
         courier::test::packb(value));
  };
  using Boot = std::map<std::string, std::string>;

  auto hello = next("HELLO");
  ASSERT_FALSE(hello.empty());
  send(hello[0], "WELCOME",
       courier::test::packb(std::map<std::string, msgpack::type::variant>{
           {"v", uint64_t(1)}, {"hb", uint64_t(10000)}, {"proxy", std::string("fake")}, {"boot", std::string("a")}}));
  auto consume = next("CONSUME");
  ASSERT_EQ(consume.size(), 4u);
  EXPECT_EQ(limit_of(consume[3]), 5u);
  deliver(hello[0], 1, 100);
  deliver(hello[0], 2, 101);
  auto d1 = consumer.receive<int>(5000ms);
  ASSERT_TRUE(d1);
  EXPECT_EQ(d1->body(), 100);
  // 101 stays buffered, not handed out. Now the old socket meets another process.
  send(hello[0], "PONG", courier::test::packb(Boot{{"boot", "a"}}));
  send(hello[0], "PONG", courier::test::packb(Boot{{"boot", "b"}}));
  auto hello2 = next("HELLO");
  ASSERT_FALSE(hello2.empty()) << "a changed boot must be taken as a restart";
  EXPECT_NE(hello2[0].to_string(), hello[0].to_string()) << "a fresh socket";
  auto consume2 = next("CONSUME");
  ASSERT_EQ(consume2.size(), 4u);
  EXPECT_EQ(consume2[0].to_string(), hello2[0].to_string());
  EXPECT_EQ(limit_of(consume2[3]), 4u) << "5 wanted, 1 handed out";
  EXPECT_FALSE(consumer.receive<int>(200ms)) << "101 came from the old process: void";
  EXPECT_FALSE(d1->ack()) << "its delivery id belongs to the old process";
  EXPECT_EQ(consumer.reconnects(), 1u);
}

// The wire: CONSUME asks for batches of prefetch; a batch DELIVER of 3 comes
// out as 3 deliveries in order; their acks reach the proxy.
TEST(Consumer, AsksForBatchesAndUnpacksABatchDeliver) {
  zmq::socket_t router(RawCqp::context(), zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string ep = router.get(zmq::sockopt::last_endpoint);
  courier::Consumer consumer("b", consumer_options(ep, 8));

  auto next = [&](const std::string& command) {
    for (;;) {
      auto parts = courier::test::recv_all(router, 5000ms);
      if (parts.empty() || parts[2].to_string() == command) return parts;
    }
  };
  auto hello = next("HELLO");
  ASSERT_FALSE(hello.empty());
  auto consume = next("CONSUME");
  ASSERT_EQ(consume.size(), 4u);
  auto keep = courier::test::unpack_header(consume[3]);
  auto h = keep.get().as<std::map<std::string, msgpack::object>>();
  EXPECT_EQ(h.at("q").as<std::string>(), "b");
  EXPECT_EQ(h.at("credit").as<uint64_t>(), 8u);
  EXPECT_EQ(h.at("batch").as<uint64_t>(), 8u);

  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  p.pack_map(7);
  p.pack(std::string("q")); p.pack(std::string("b"));
  p.pack(std::string("n")); p.pack(3);
  p.pack(std::string("d")); p.pack(std::vector<uint64_t>{11, 12, 13});
  p.pack(std::string("seq")); p.pack(std::vector<uint64_t>{0, 1, 2});
  p.pack(std::string("attempt")); p.pack(std::vector<uint64_t>{1, 2, 1});
  p.pack(std::string("ts")); p.pack(std::vector<uint64_t>{1, 2, 3});
  p.pack(std::string("id"));
  p.pack_array(3); p.pack(std::string("a")); p.pack_nil(); p.pack(std::string("c"));
  router.send(zmq::const_buffer(hello[0].data(), hello[0].size()), zmq::send_flags::sndmore);
  router.send(zmq::buffer(std::string("CQP1")), zmq::send_flags::sndmore);
  router.send(zmq::buffer(std::string("DELIVER")), zmq::send_flags::sndmore);
  router.send(zmq::const_buffer(buf.data(), buf.size()), zmq::send_flags::sndmore);
  for (int i = 0; i < 3; ++i) {
    const std::string body = courier::test::packb(100 + i);
    router.send(zmq::buffer(body), i < 2 ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }

  std::vector<courier::Delivery<int>> got;
  for (int i = 0; i < 3; ++i) {
    auto d = consumer.receive<int>(5000ms);
    ASSERT_TRUE(d);
    got.push_back(std::move(*d));
  }
  EXPECT_EQ(got[0].body(), 100);
  EXPECT_EQ(got[1].body(), 101);
  EXPECT_EQ(got[2].body(), 102);
  EXPECT_EQ(got[0].id(), "a");
  EXPECT_EQ(got[1].id(), "");
  EXPECT_EQ(got[1].attempt(), 2u);
  EXPECT_EQ(got[2].delivery_id(), 13u);
  for (auto& d : got) EXPECT_TRUE(d.ack());

  std::set<uint64_t> acked;
  while (acked.size() < 3) {
    auto ack = next("ACK");
    ASSERT_FALSE(ack.empty()) << "acks did not arrive";
    auto k = courier::test::unpack_header(ack[3]);
    for (auto id : k.get().as<std::map<std::string, msgpack::object>>().at("d").as<std::vector<uint64_t>>()) {
      acked.insert(id);
    }
  }
  EXPECT_EQ(acked, (std::set<uint64_t>{11, 12, 13}));
}

}  // namespace
