// Producer (producer.hpp) against a real courier-proxy, and against a fake
// proxy (a bare ROUTER) where the exact frames on the wire are the point.
#include <courier/admin.hpp>
#include <courier/consumer.hpp>
#include <courier/producer.hpp>

#include "proxy_process.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using courier::test::ProxyProcess;
using courier::test::RawCqp;
using courier::test::wait_until;

courier::ProducerOptions options_for(const std::string& endpoint) {
  courier::ProducerOptions o;
  o.endpoint = endpoint;
  return o;
}

// Queue policies are set with an Admin: a Producer only publishes.
courier::AdminOptions admin_for(const std::string& endpoint) {
  courier::AdminOptions o;
  o.endpoint = endpoint;
  return o;
}

// A bare ROUTER standing in for courier-proxy: the test reads the client's
// frames and answers by hand.
class FakeProxy {
 public:
  FakeProxy() : socket_(RawCqp::context(), zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
  }
  std::string endpoint() { return socket_.get(zmq::sockopt::last_endpoint); }

  // The next message as [peer][CQP1][COMMAND][header][bodies...]; empty on timeout.
  std::vector<zmq::message_t> recv(std::chrono::milliseconds timeout = 5000ms) {
    return courier::test::recv_all(socket_, timeout);
  }
  // Skips PINGs and returns the next message with `command`.
  std::vector<zmq::message_t> expect(const std::string& command, std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto parts = recv(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()) + 1ms);
      if (parts.size() >= 3 && parts[2].to_string() == command) return parts;
    }
    return {};
  }
  template <class Header>
  void reply(const zmq::message_t& peer, const std::string& command, const Header& header) {
    reply_bytes(peer, command, courier::test::packb(header));
  }
  // Sends a header packed by hand: `pack` fills a msgpack map.
  template <class Pack>
  void reply_packed(const zmq::message_t& peer, const std::string& command, Pack pack) {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> p(buf);
    pack(p);
    reply_bytes(peer, command, std::string(buf.data(), buf.size()));
  }
  void reply_bytes(const zmq::message_t& peer, const std::string& command, const std::string& h) {
    socket_.send(zmq::const_buffer(peer.data(), peer.size()), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(std::string("CQP1")), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(command), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(h), zmq::send_flags::none);
  }
  // WELCOME, with `boot` (docs/PROTOCOL.md §3.12) when not empty.
  void welcome(const zmq::message_t& peer, int hb_ms, const std::string& boot = "") {
    reply_packed(peer, "WELCOME", [&](auto& p) {
      p.pack_map(boot.empty() ? 3 : 4);
      p.pack(std::string("v"));
      p.pack(1);
      p.pack(std::string("hb"));
      p.pack(hb_ms);
      p.pack(std::string("proxy"));
      p.pack(std::string("fake"));
      if (!boot.empty()) {
        p.pack(std::string("boot"));
        p.pack(boot);
      }
    });
  }
  void pong(const zmq::message_t& peer, const std::string& boot) {
    reply(peer, "PONG", std::map<std::string, std::string>{{"boot", boot}});
  }

 private:
  zmq::socket_t socket_;
};

std::map<std::string, msgpack::object> header_of(const zmq::message_t& frame, msgpack::object_handle& keep) {
  keep = courier::test::unpack_header(frame);
  return keep.get().as<std::map<std::string, msgpack::object>>();
}

// `queue` holds at most `n` (DECLARE through an Admin).
void declare_max_length(const std::string& endpoint, const std::string& queue, uint64_t n) {
  courier::QueueOptions q;
  q.max_length = n;
  courier::Admin(admin_for(endpoint)).declare(queue, q);
}

// A consumer in its own thread that acks one message every `pause`,
// keeping the bodies it saw in order.
class SlowDrain {
 public:
  SlowDrain(const std::string& endpoint, const std::string& queue, std::chrono::milliseconds pause)
      : consumer_(queue, [&] {
          courier::ConsumerOptions o;
          o.endpoint = endpoint;
          o.prefetch = 1;
          return o;
        }()),
        thread_([this, pause] {
          while (!stop_) {
            auto d = consumer_.receive<int>(50ms);
            if (!d) continue;
            std::this_thread::sleep_for(pause);  // the slow work under test
            {
              std::lock_guard<std::mutex> lock(mu_);
              seen_.push_back(d->body());
            }
            d->ack();
          }
        }) {}
  ~SlowDrain() {
    stop_ = true;
    thread_.join();
  }
  std::vector<int> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  courier::Consumer consumer_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<int> seen_;
  std::thread thread_;
};

std::vector<int> iota_vector(int n) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  return v;
}

// ---- construction ---------------------------------------------------------------

// Proxy clients are built alike: what they are bound to first (a Consumer's
// queue, a Lock's name; a Producer has none), the endpoint in the options.
static_assert(!std::is_constructible_v<courier::Producer, std::string>,
              "the endpoint is ProducerOptions::endpoint, not a constructor argument");
static_assert(std::is_constructible_v<courier::Consumer, std::string>);

TEST(Producer, EmptyEndpointMeansDefaultProxyEndpoint) {
  ASSERT_EQ(::setenv("COURIER_PROXY_ENDPOINT", "tcp://127.0.0.1:5999", 1), 0);
  EXPECT_EQ(courier::default_proxy_endpoint(), "tcp://127.0.0.1:5999");
  EXPECT_EQ(courier::Producer().endpoint(), "tcp://127.0.0.1:5999");
  EXPECT_EQ(courier::Consumer("q").endpoint(), "tcp://127.0.0.1:5999");
  EXPECT_EQ(courier::Producer(options_for("tcp://127.0.0.1:5998")).endpoint(), "tcp://127.0.0.1:5998");
  ASSERT_EQ(::unsetenv("COURIER_PROXY_ENDPOINT"), 0);
  EXPECT_EQ(courier::default_proxy_endpoint(), "tcp://127.0.0.1:5555");
}

// ---- against a real proxy ------------------------------------------------------

TEST(Producer, PublishReturnsIncreasingSeqOnceConfirmed) {
  ProxyProcess proxy;
  courier::Producer producer(options_for(proxy.endpoint()));
  const uint64_t a = producer.publish("orders", std::string("first"));
  const uint64_t b = producer.publish("orders", std::string("second"));
  const uint64_t c = producer.publish("orders", 42);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(producer.unconfirmed(), 0u);
  EXPECT_EQ(producer.confirmed(), 3u);
  RawCqp raw(proxy.endpoint());
  auto s = raw.stats("orders");
  EXPECT_EQ(s["put"], 3u);
  EXPECT_EQ(s["depth"], 3u);
}

// Automatic ids are "<id_prefix>-<counter>", the counter spelled so that ids
// sort in publish order byte by byte (src/auto_id.hpp): the proxy's dedup
// index then grows at one end instead of splitting pages in the middle.
TEST(Producer, AutomaticIdsSortInPublishOrder) {
  ProxyProcess proxy;
  auto o = options_for(proxy.endpoint());
  o.id_prefix = "p";
  courier::Producer producer(o);
  std::mutex mu;
  std::vector<std::string> ids(12);
  for (int i = 0; i < 12; ++i) {
    producer.publish_async("ids", i, {}, [&, i](const courier::Confirm& c) {
      std::lock_guard<std::mutex> lock(mu);
      ids[static_cast<std::size_t>(i)] = c.ok() ? c.id : "failed";
    });
  }
  ASSERT_TRUE(producer.flush(10000ms));
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(ids.front(), "p-a1");
  EXPECT_EQ(ids[8], "p-a9");
  EXPECT_EQ(ids[9], "p-b10");
  EXPECT_EQ(ids.back(), "p-b12");
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << "ids must sort in publish order";
}

TEST(Producer, RawPublishStoresTheBytesAsGiven) {
  ProxyProcess proxy;
  courier::Producer producer(options_for(proxy.endpoint()));
  const std::string body = courier::test::packb(std::string("raw!"));
  producer.publish_raw("raw", body);
  courier::ConsumerOptions co;
  co.endpoint = proxy.endpoint();
  courier::Consumer consumer("raw", co);
  auto d = consumer.receive_raw(5000ms);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::string(d->bytes()), body);
  EXPECT_TRUE(d->ack());
}

TEST(Producer, ProxyErrorBecomesRemoteErrorWithItsCode) {
  ProxyProcess proxy;
  auto o = options_for(proxy.endpoint());
  o.full_wait = 0ms;  // a full queue fails at once
  courier::Producer producer(o);
  courier::QueueOptions q;
  q.max_length = 1;
  EXPECT_EQ(courier::Admin(admin_for(proxy.endpoint())).declare("small", q), 0u);
  producer.publish("small", 1);
  try {
    producer.publish("small", 2);
    FAIL() << "a PUT past max_length must be refused";
  } catch (const courier::RemoteError& e) {
    EXPECT_EQ(e.status(), 429);
  }
  // The producer is still usable after a refusal.
  EXPECT_NO_THROW(producer.publish("other", 3));
}

TEST(Producer, AsyncPublishesAreAllConfirmedAndFlushWaitsForThem) {
  ProxyProcess proxy;
  auto o = options_for(proxy.endpoint());
  o.window = 8;
  courier::Producer producer(o);
  std::atomic<int> ok{0}, failed{0};
  std::mutex mu;
  std::set<uint64_t> seqs;
  for (int i = 0; i < 300; ++i) {
    producer.publish_async("async", i, {}, [&](const courier::Confirm& c) {
      if (!c.ok()) {
        ++failed;
        return;
      }
      std::lock_guard<std::mutex> lock(mu);
      seqs.insert(c.seq);
      ++ok;
    });
    EXPECT_LE(producer.unconfirmed(), 8u) << "the window must bound what is unconfirmed";
  }
  ASSERT_TRUE(producer.flush(10000ms));
  EXPECT_EQ(ok.load(), 300);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(seqs.size(), 300u);
  EXPECT_EQ(producer.unconfirmed(), 0u);
  RawCqp raw(proxy.endpoint());
  EXPECT_EQ(raw.stats("async")["put"], 300u);
}

TEST(Producer, AsyncFailureWithoutCallbackIsRethrownByFlush) {
  ProxyProcess proxy;
  auto o = options_for(proxy.endpoint());
  o.full_wait = 0ms;  // a full queue fails at once
  courier::Producer producer(o);
  courier::QueueOptions q;
  q.max_length = 1;
  courier::Admin(admin_for(proxy.endpoint())).declare("tiny", q);
  producer.publish_async("tiny", 1);
  producer.publish_async("tiny", 2);
  EXPECT_THROW(producer.flush(5000ms), courier::RemoteError);
  EXPECT_TRUE(producer.flush(5000ms));  // reported once
}

TEST(Producer, TryPublishAsyncReturnsFalseWhenTheWindowIsFull) {
  // Nobody listens: nothing is ever confirmed.
  auto o = options_for("tcp://127.0.0.1:" + std::to_string(courier::test::free_tcp_port()));
  o.window = 4;
  o.close_timeout = 100ms;
  std::atomic<int> closed{0};
  {
    courier::Producer producer(o);
    for (int i = 0; i < 4; ++i) {
      EXPECT_TRUE(producer.try_publish_async("q", i, {}, [&](const courier::Confirm& c) {
        if (!c.ok()) ++closed;
      }));
    }
    EXPECT_FALSE(producer.try_publish_async("q", 5));
    EXPECT_FALSE(producer.flush(100ms));
    EXPECT_THROW(producer.publish("q", 6, {}, 200ms), courier::TimeoutError);
  }
  // The destructor is bounded and fails what it could not deliver.
  EXPECT_EQ(closed.load(), 4);
}

TEST(Producer, TimedPublishAsyncGivesUpWhenTheWindowStaysFull) {
  auto o = options_for("tcp://127.0.0.1:" + std::to_string(courier::test::free_tcp_port()));
  o.window = 2;
  o.close_timeout = 0ms;
  courier::Producer producer(o);
  EXPECT_TRUE(producer.publish_async("q", 1, {}, {}, 100ms));
  EXPECT_TRUE(producer.publish_raw_async("q", courier::test::packb(2), {}, {}, 100ms));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(producer.publish_async("q", 3, {}, {}, 150ms)) << "nobody confirms: no room";
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 2s);
  EXPECT_EQ(producer.unconfirmed(), 2u) << "the refused one was not queued";
}

// full_wait 0 fails a message at its first 429, but a refused BATCH stores
// nothing although its first messages may fit: they are tried one by one,
// and only those refused on their own fail.
TEST(Producer, FullWaitZeroStoresWhatFitsOfARefusedBatch) {
  ProxyProcess proxy;
  declare_max_length(proxy.endpoint(), "tight", 3);
  auto o = options_for(proxy.endpoint());
  o.full_wait = 0ms;
  courier::Producer producer(o);
  std::mutex mu;
  std::vector<int> stored, refused;
  for (int i = 0; i < 6; ++i) {
    producer.publish_async("tight", i, {}, [&, i](const courier::Confirm& c) {
      std::lock_guard<std::mutex> lock(mu);
      (c.ok() ? stored : refused).push_back(i);
    });
  }
  ASSERT_TRUE(producer.flush(5000ms));
  EXPECT_EQ(stored, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(refused, (std::vector<int>{3, 4, 5}));
  EXPECT_GE(producer.batches_sent(), 1u) << "the test is about batches: some went as one";
  RawCqp raw(proxy.endpoint());
  EXPECT_EQ(raw.stats("tight")["depth"], 3u);
}

TEST(Producer, BadQueueNameOrIdIsAConfigError) {
  courier::Producer producer(options_for("tcp://127.0.0.1:" + std::to_string(courier::test::free_tcp_port())));
  EXPECT_THROW(producer.publish_async("bad name!", 1), courier::ConfigError);
  courier::PublishOptions p;
  p.id = std::string(129, 'x');
  EXPECT_THROW(producer.publish_async("q", 1, p), courier::ConfigError);
  EXPECT_THROW(courier::Producer(options_for("tcp://127.0.0.1:99999")), courier::ConfigError);
}

TEST(Producer, GivenIdIsDeduplicatedByTheProxy) {
  ProxyProcess proxy;
  courier::Producer producer(options_for(proxy.endpoint()));
  courier::PublishOptions p;
  p.id = "order-17";
  const uint64_t first = producer.publish("dedup", 1, p);
  const uint64_t again = producer.publish("dedup", 1, p);
  EXPECT_EQ(first, again);
  EXPECT_EQ(producer.duplicates(), 1u);
  RawCqp raw(proxy.endpoint());
  EXPECT_EQ(raw.stats("dedup")["depth"], 1u);
}

// kill -9 of the proxy in the middle of a stream of confirmed async
// publishes; restart on the same data directory. Every message ends up
// confirmed, and stored exactly once: the resends carry the same ids.
TEST(Producer, KillNineMidStreamThenRestartStoresEveryMessageExactlyOnce) {
  ProxyProcess proxy(200);
  auto o = options_for(proxy.endpoint());
  o.window = 256;
  courier::Producer producer(o);
  constexpr int kCount = 3000;
  std::atomic<int> confirmed{0}, failed{0};
  std::thread publisher([&] {
    for (int i = 0; i < kCount; ++i) {
      producer.publish_async("stream", i, {}, [&](const courier::Confirm& c) {
        if (c.ok()) ++confirmed; else ++failed;
      });
    }
  });
  ASSERT_TRUE(wait_until([&] { return confirmed.load() >= 500; }, 20000ms));
  proxy.kill9();
  const int confirmed_before_restart = confirmed.load();
  proxy.start();
  publisher.join();
  ASSERT_TRUE(producer.flush(30000ms));
  EXPECT_EQ(confirmed.load(), kCount);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_LT(confirmed_before_restart, kCount) << "the kill must land mid-stream";
  EXPECT_GE(producer.reconnects(), 1u);
  EXPECT_GE(producer.resent(), 1u);

  RawCqp raw(proxy.endpoint());
  EXPECT_EQ(raw.stats("stream")["depth"], static_cast<uint64_t>(kCount));

  // Consume everything: each value exactly once.
  courier::ConsumerOptions co;
  co.endpoint = proxy.endpoint();
  co.prefetch = 500;
  courier::Consumer consumer("stream", co);
  std::vector<int> seen(kCount, 0);
  int total = 0;
  while (auto d = consumer.receive<int>(2000ms)) {
    const int v = d->body();
    ASSERT_GE(v, 0);
    ASSERT_LT(v, kCount);
    ++seen[v];
    ++total;
    d->ack();
  }
  EXPECT_EQ(total, kCount);
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(seen[i], 1) << "value " << i;
}

TEST(Producer, DestructorSaysByeAndDoesNotHangWithoutProxy) {
  ProxyProcess proxy;
  RawCqp raw(proxy.endpoint());
  {
    courier::Producer producer(options_for(proxy.endpoint()));
    ASSERT_TRUE(producer.wait_connected(5000ms));
  }
  // BYE ends the session at once: only the raw client remains.
  EXPECT_TRUE(wait_until([&] {
    raw.send("STATS", std::map<std::string, int>{});
    auto parts = raw.expect("STATS");
    if (parts.size() < 3) return false;
    msgpack::object_handle keep;
    auto h = header_of(parts[2], keep);
    return h.at("clients").as<uint64_t>() == 0;  // the raw client never said HELLO
  }));
  proxy.stop();
  auto start = std::chrono::steady_clock::now();
  {
    auto o = options_for(proxy.endpoint());
    o.close_timeout = 300ms;
    courier::Producer producer(o);
    producer.publish_async("gone", 1);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

// ---- full queues: the producer waits (ERROR 429) ----------------------------------

// max_length 5 and a consumer taking one message every 20 ms: most PUTs find
// the queue full, wait, and are all stored, in order.
TEST(Producer, PublishWaitsForRoomInAFullQueueAndKeepsOrder) {
  ProxyProcess proxy;
  declare_max_length(proxy.endpoint(), "narrow", 5);
  courier::Producer producer(options_for(proxy.endpoint()));
  SlowDrain drain(proxy.endpoint(), "narrow", 20ms);
  uint64_t last_seq = 0;
  for (int i = 0; i < 50; ++i) {
    const uint64_t seq = producer.publish("narrow", i);
    if (i > 0) EXPECT_GT(seq, last_seq) << "message " << i;
    last_seq = seq;
  }
  EXPECT_GT(producer.full_retries(), 0u) << "the queue never was full: the test proves nothing";
  ASSERT_TRUE(wait_until([&] { return drain.seen().size() == 50; }, 10000ms));
  EXPECT_EQ(drain.seen(), iota_vector(50));
}

TEST(Producer, FullQueueFailsWithRemoteError429AfterFullWait) {
  ProxyProcess proxy;
  declare_max_length(proxy.endpoint(), "stuck", 2);
  auto o = options_for(proxy.endpoint());
  o.full_wait = 200ms;
  courier::Producer producer(o);
  producer.publish("stuck", 1);
  producer.publish("stuck", 2);
  const auto start = std::chrono::steady_clock::now();
  try {
    producer.publish("stuck", 3);
    FAIL() << "nobody consumes: the queue never has room";
  } catch (const courier::RemoteError& e) {
    EXPECT_EQ(e.status(), 429);
    EXPECT_NE(std::string(e.what()).find("full_wait"), std::string::npos) << e.what();
  }
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 200ms);
  EXPECT_LT(waited, 1500ms);
  EXPECT_GT(producer.full_retries(), 0u);
  EXPECT_EQ(producer.unconfirmed(), 0u);
  RawCqp raw(proxy.endpoint());
  EXPECT_EQ(raw.stats("stuck")["depth"], 2u);

  // The same bound for publish_async: the callback gets the 429.
  std::atomic<int> code{0};
  producer.publish_async("stuck", 4, {}, [&](const courier::Confirm& c) {
    try {
      if (c.error) std::rethrow_exception(c.error);
    } catch (const courier::RemoteError& e) {
      code = e.status();
    }
  });
  EXPECT_TRUE(producer.flush(5000ms));
  EXPECT_EQ(code.load(), 429);
}

// One queue full, its message waiting; another queue's publishes go through.
TEST(Producer, OtherQueuesAreConfirmedWhileOneQueueWaitsForRoom) {
  ProxyProcess proxy;
  declare_max_length(proxy.endpoint(), "full", 1);
  courier::Producer producer(options_for(proxy.endpoint()));
  producer.publish("full", 0);
  std::atomic<bool> waited_done{false};
  producer.publish_async("full", 1, {}, [&](const courier::Confirm& c) {
    EXPECT_TRUE(c.ok());
    waited_done = true;
  });
  ASSERT_TRUE(wait_until([&] { return producer.full_retries() >= 1; }));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) producer.publish("free", i);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_FALSE(waited_done.load()) << "nothing made room in 'full' yet";
  EXPECT_EQ(producer.unconfirmed(), 1u);

  // Room: the waiting message goes in.
  courier::ConsumerOptions co;
  co.endpoint = proxy.endpoint();
  courier::Consumer consumer("full", co);
  auto d = consumer.receive<int>(5000ms);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->body(), 0);
  d->ack();
  EXPECT_TRUE(producer.flush(5000ms));
  EXPECT_TRUE(waited_done.load());
  auto next = consumer.receive<int>(5000ms);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body(), 1);
}

// Async publishes into a full queue: confirmed in publish order, stored in
// publish order, none lost, with a window smaller than the stream.
TEST(Producer, AsyncPublishesIntoAFullQueueKeepTheirOrder) {
  ProxyProcess proxy;
  declare_max_length(proxy.endpoint(), "narrow", 5);
  auto o = options_for(proxy.endpoint());
  o.window = 16;
  courier::Producer producer(o);
  SlowDrain drain(proxy.endpoint(), "narrow", 5ms);
  std::mutex mu;
  std::vector<int> confirmed_values;
  std::vector<uint64_t> seqs;
  constexpr int kCount = 100;
  for (int i = 0; i < kCount; ++i) {
    producer.publish_async("narrow", i, {}, [&, i](const courier::Confirm& c) {
      ASSERT_TRUE(c.ok());
      std::lock_guard<std::mutex> lock(mu);
      confirmed_values.push_back(i);
      seqs.push_back(c.seq);
    });
  }
  ASSERT_TRUE(producer.flush(30000ms));
  EXPECT_GT(producer.full_retries(), 0u);
  EXPECT_EQ(confirmed_values, iota_vector(kCount));
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  ASSERT_TRUE(wait_until([&] { return drain.seen().size() == kCount; }, 10000ms));
  EXPECT_EQ(drain.seen(), iota_vector(kCount));
}

// ---- scheduling ---------------------------------------------------------------------

TEST(Producer, DeliverAtIsNotDeliveredBeforeItsTime) {
  ProxyProcess proxy;
  courier::Producer producer(options_for(proxy.endpoint()));
  courier::ConsumerOptions co;
  co.endpoint = proxy.endpoint();
  courier::Consumer consumer("later", co);
  ASSERT_TRUE(consumer.wait_consuming(5000ms));
  courier::PublishOptions at;
  at.deliver_at = std::chrono::system_clock::now() + 300ms;
  producer.publish("later", std::string("scheduled"), at);
  courier::PublishOptions past;
  past.deliver_at = std::chrono::system_clock::now() - 1h;  // a time past: now
  producer.publish("later", std::string("now"), past);

  auto first = consumer.receive<std::string>(5000ms);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body(), "now");
  EXPECT_LT(std::chrono::system_clock::now(), *at.deliver_at) << "the past one must not wait";
  first->ack();
  auto second = consumer.receive<std::string>(5000ms);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body(), "scheduled");
  EXPECT_GE(std::chrono::system_clock::now(), *at.deliver_at);
  second->ack();
}

TEST(Producer, DelayAndDeliverAtTogetherIsAConfigError) {
  courier::Producer producer(options_for("tcp://127.0.0.1:" + std::to_string(courier::test::free_tcp_port())));
  courier::PublishOptions p;
  p.delay = 100ms;
  p.deliver_at = std::chrono::system_clock::now() + 1s;
  EXPECT_THROW(producer.publish_async("q", 1, p), courier::ConfigError);
  auto o = options_for("tcp://127.0.0.1:5999");
  o.full_wait = -1ms;
  EXPECT_THROW(courier::Producer{o}, courier::ConfigError);
}

// ---- against a fake proxy: the frames themselves ---------------------------------

// Messages queued while the I/O thread is busy go out as ONE batch PUT:
// here 50 are published from a confirm callback, i.e. on the I/O thread,
// so all 50 are waiting when it next sends.
TEST(Producer, MessagesQueuedTogetherGoOutAsOneBatchPut) {
  FakeProxy fake;
  auto o = options_for(fake.endpoint());
  courier::Producer producer(o);
  std::atomic<bool> queued{false};
  producer.publish_async("batch", 0, {}, [&](const courier::Confirm&) {
    for (int i = 1; i <= 50; ++i) producer.publish_async("batch", i);
    queued = true;
  });
  auto hello = fake.expect("HELLO");
  ASSERT_FALSE(hello.empty());
  fake.welcome(hello[0], 1000);
  auto put = fake.expect("PUT");
  ASSERT_EQ(put.size(), 5u) << "a single PUT: [peer][CQP1][PUT][header][body]";
  msgpack::object_handle keep;
  auto h = header_of(put[3], keep);
  fake.reply(put[0], "CONFIRM", std::map<std::string, uint64_t>{{"tag", h.at("tag").as<uint64_t>()}, {"seq", 0}});

  auto batch = fake.expect("PUT");
  ASSERT_EQ(batch.size(), 4u + 50u) << "all 50 waiting messages in one PUT";
  msgpack::object_handle keep2;
  auto bh = header_of(batch[3], keep2);
  EXPECT_EQ(bh.at("n").as<uint64_t>(), 50u);
  EXPECT_EQ(bh.at("q").as<std::string>(), "batch");
  auto ids = bh.at("ids").as<std::vector<std::string>>();
  ASSERT_EQ(ids.size(), 50u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 50u) << "ids are unique";
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(courier::decode<int>(batch[4 + i].data(), batch[4 + i].size()), i + 1);
  }
  std::vector<uint64_t> seqs(50);
  for (int i = 0; i < 50; ++i) seqs[i] = i + 1;
  std::vector<bool> dups(50, false);
  dups[3] = true;
  fake.reply_packed(batch[0], "CONFIRM", [&](auto& p) {
    p.pack_map(4);
    p.pack(std::string("tag"));
    p.pack(bh.at("tag").as<uint64_t>());
    p.pack(std::string("n"));
    p.pack(50);
    p.pack(std::string("seq"));
    p.pack(seqs);
    p.pack(std::string("dup"));
    p.pack(dups);
  });
  EXPECT_TRUE(producer.flush(5000ms));
  EXPECT_TRUE(queued.load());
  EXPECT_EQ(producer.confirmed(), 51u);
  EXPECT_EQ(producer.duplicates(), 1u);
  EXPECT_EQ(producer.batches_sent(), 1u);
}

// The proxy goes silent with a PUT unconfirmed: after 3 x hb the producer
// opens a fresh socket (a new session), says HELLO and resends the PUT with
// the same id.
TEST(Producer, ResendsUnconfirmedWithTheSameIdsAfterTheProxyGoesSilent) {
  FakeProxy fake;
  courier::Producer producer(options_for(fake.endpoint()));
  producer.publish_async("r", 7);
  auto hello = fake.expect("HELLO");
  ASSERT_FALSE(hello.empty());
  fake.welcome(hello[0], 100);
  auto put = fake.expect("PUT");
  ASSERT_EQ(put.size(), 5u);
  msgpack::object_handle k1;
  const std::string id = header_of(put[3], k1).at("id").as<std::string>();
  const std::string first_peer = put[0].to_string();
  // Say nothing more. The producer must give up on this session and resend.
  auto hello2 = fake.expect("HELLO", 5000ms);
  ASSERT_FALSE(hello2.empty()) << "no reconnect after 3 x hb of silence";
  EXPECT_NE(hello2[0].to_string(), first_peer) << "a fresh socket, so a new routing id";
  auto put2 = fake.expect("PUT");
  ASSERT_EQ(put2.size(), 5u);
  msgpack::object_handle k2;
  auto h2 = header_of(put2[3], k2);
  EXPECT_EQ(h2.at("id").as<std::string>(), id);
  EXPECT_EQ(courier::decode<int>(put2[4].data(), put2[4].size()), 7);
  fake.reply_packed(put2[0], "CONFIRM", [&](auto& p) {
    p.pack_map(3);
    p.pack(std::string("tag"));
    p.pack(h2.at("tag").as<uint64_t>());
    p.pack(std::string("seq"));
    p.pack(3);
    p.pack(std::string("dup"));
    p.pack(true);
  });
  EXPECT_TRUE(producer.flush(5000ms));
  EXPECT_EQ(producer.duplicates(), 1u);
  EXPECT_GE(producer.reconnects(), 1u);
}

// A restarted proxy answering the OLD socket (ZeroMQ reconnects by itself)
// shows only in its new `boot`: the producer reconnects at once, well before
// 3 x hb of silence or the confirm timeout, and resends the unconfirmed PUT
// with the same id.
TEST(Producer, ChangedBootOnTheSameSocketIsARestart) {
  FakeProxy fake;
  courier::Producer producer(options_for(fake.endpoint()));
  producer.publish_async("r", 7);
  auto hello = fake.expect("HELLO");
  ASSERT_FALSE(hello.empty());
  fake.welcome(hello[0], 10000, "boot-a");
  auto put = fake.expect("PUT");
  ASSERT_EQ(put.size(), 5u);
  msgpack::object_handle k1;
  const std::string id = header_of(put[3], k1).at("id").as<std::string>();
  fake.pong(put[0], "boot-a");  // same process: nothing happens
  fake.pong(put[0], "boot-b");  // another process on the same socket
  const auto start = std::chrono::steady_clock::now();
  auto hello2 = fake.expect("HELLO", 3000ms);
  ASSERT_FALSE(hello2.empty()) << "a changed boot must be taken as a restart";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_NE(hello2[0].to_string(), put[0].to_string()) << "a fresh socket";
  fake.welcome(hello2[0], 10000, "boot-b");
  auto put2 = fake.expect("PUT");
  ASSERT_EQ(put2.size(), 5u);
  msgpack::object_handle k2;
  auto h2 = header_of(put2[3], k2);
  EXPECT_EQ(h2.at("id").as<std::string>(), id);
  fake.reply(put2[0], "CONFIRM", std::map<std::string, uint64_t>{{"tag", h2.at("tag").as<uint64_t>()}, {"seq", 0}});
  EXPECT_TRUE(producer.flush(5000ms));
  EXPECT_EQ(producer.reconnects(), 1u);
  EXPECT_EQ(producer.resent(), 1u);
}

// While one PUT of a queue is unanswered, later messages of that queue wait
// for its answer (then go as one batch); another queue's PUT goes at once.
TEST(Producer, OnePutPerQueueOnTheWire) {
  FakeProxy fake;
  auto o = options_for(fake.endpoint());
  o.close_timeout = 100ms;  // the fake never confirms the rest
  courier::Producer producer(o);
  auto hello = fake.expect("HELLO");
  ASSERT_FALSE(hello.empty());
  fake.welcome(hello[0], 10000);
  producer.publish_async("a", 0);
  auto first = fake.expect("PUT");
  ASSERT_EQ(first.size(), 5u);
  producer.publish_async("a", 1);
  producer.publish_async("a", 2);
  producer.publish_async("b", 3);
  auto other = fake.expect("PUT");
  ASSERT_EQ(other.size(), 5u);
  msgpack::object_handle ko;
  EXPECT_EQ(header_of(other[3], ko).at("q").as<std::string>(), "b");
  EXPECT_TRUE(fake.expect("PUT", 300ms).empty()) << "a's next PUT must wait for the answer to its first";
  msgpack::object_handle k1;
  fake.reply(first[0], "CONFIRM",
             std::map<std::string, uint64_t>{{"tag", header_of(first[3], k1).at("tag").as<uint64_t>()}, {"seq", 0}});
  auto rest = fake.expect("PUT");
  ASSERT_EQ(rest.size(), 6u) << "1 and 2 together";
  msgpack::object_handle k2;
  auto h = header_of(rest[3], k2);
  EXPECT_EQ(h.at("q").as<std::string>(), "a");
  EXPECT_EQ(h.at("n").as<uint64_t>(), 2u);
}

TEST(Producer, SendsPingWhenIdle) {
  FakeProxy fake;
  courier::Producer producer(options_for(fake.endpoint()));
  auto hello = fake.expect("HELLO");
  ASSERT_FALSE(hello.empty());
  fake.welcome(hello[0], 100);
  auto ping = fake.expect("PING", 2000ms);
  ASSERT_FALSE(ping.empty());
  fake.reply(ping[0], "PONG", std::map<std::string, int>{});
  EXPECT_FALSE(fake.expect("PING", 2000ms).empty());
}

}  // namespace
