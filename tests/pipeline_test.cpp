// Behaviours of courier/pipeline.hpp (PROTOCOL.md §1): one frame = one
// msgpack object, interoperable with a raw cppzmq peer byte for byte; bad
// frames are reported and never block the ones behind them; timeouts, bad
// endpoints, shutdown while blocked, many endpoints, bounded close.
#include <courier/pipeline.hpp>

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using courier::ClosedError;
using courier::ConfigError;
using courier::Context;
using courier::DecodeError;
using courier::ProtocolError;
using courier::Pull;
using courier::PullOptions;
using courier::Push;
using courier::PushOptions;
using courier::RawPull;
using courier::RawPush;
using courier::SocketOptions;
using courier::test::packb;
using courier::test::wait_until;

constexpr const char* kAny = "tcp://127.0.0.1:*";

struct Tick {
  std::int64_t id = 0;
  double ts = 0;
  std::string name;
  std::vector<unsigned char> payload;
  MSGPACK_DEFINE(id, ts, name, payload);
};

class Pipeline : public ::testing::Test {
 protected:
  Context ctx;  // one per test: shutdown tests must not touch the global one
  // Options of this test's sockets: `socket` in ctx.
  PushOptions push_options(SocketOptions socket = {}) const { return {std::move(socket), ctx}; }
  PullOptions pull_options(SocketOptions socket = {}) const { return {std::move(socket), ctx}; }
};

static_assert(!std::is_copy_constructible_v<Push<int>> && std::is_nothrow_move_constructible_v<Push<int>>);
static_assert(!std::is_copy_constructible_v<Pull<int>> && std::is_nothrow_move_constructible_v<Pull<int>>);

}  // namespace

TEST_F(Pipeline, TypedPushDeliversEveryValueInOrder) {
  Pull<Tick> pull(pull_options());
  pull.bind(kAny);
  Push<Tick> push(push_options());
  push.connect(pull.last_endpoint());
  for (int i = 0; i < 1000; ++i) push.send(Tick{i, i * 0.5, "tick", std::vector<unsigned char>(64, 7)});
  for (int i = 0; i < 1000; ++i) {
    const Tick t = pull.receive();
    ASSERT_EQ(t.id, i);
    ASSERT_EQ(t.ts, i * 0.5);
    ASSERT_EQ(t.payload.size(), 64u);
  }
}

TEST_F(Pipeline, LastEndpointReportsTheEphemeralPort) {
  Pull<int> pull(pull_options());
  pull.bind(kAny);
  const std::string ep = pull.last_endpoint();
  EXPECT_EQ(ep.rfind("tcp://127.0.0.1:", 0), 0u) << ep;
  EXPECT_EQ(ep.find('*'), std::string::npos) << ep;
}

TEST_F(Pipeline, RawCppzmqPushPeerSpeakingSection1IsReceived) {
  Pull<Tick> pull(pull_options());
  pull.bind(kAny);
  zmq::socket_t peer(ctx.zmq(), zmq::socket_type::push);
  peer.set(zmq::sockopt::linger, 0);
  peer.connect(pull.last_endpoint());
  // Built by hand: the array [5, 1.5, "raw", bin(2)] as any msgpack peer sends it.
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(4);
  pk.pack(5);
  pk.pack(1.5);
  pk.pack(std::string("raw"));
  pk.pack_bin(2);
  pk.pack_bin_body("\x01\x02", 2);
  peer.send(zmq::buffer(buf.data(), buf.size()));
  const Tick t = pull.receive();
  EXPECT_EQ(t.id, 5);
  EXPECT_EQ(t.ts, 1.5);
  EXPECT_EQ(t.name, "raw");
  EXPECT_EQ(t.payload, (std::vector<unsigned char>{1, 2}));
}

TEST_F(Pipeline, PushSendsExactlyOneFrameHoldingOneMsgpackObject) {
  zmq::socket_t peer(ctx.zmq(), zmq::socket_type::pull);
  peer.set(zmq::sockopt::linger, 0);
  peer.bind(kAny);
  Push<std::map<std::string, int>> push(push_options());
  push.connect(peer.get(zmq::sockopt::last_endpoint));
  push.send({{"a", 1}});
  auto parts = courier::test::recv_all(peer);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].to_string(), std::string("\x81\xa1" "a\x01", 4));
}

TEST_F(Pipeline, MalformedFrameIsADecodeErrorAndTheNextReceiveWorks) {
  Pull<int> pull(pull_options());
  pull.bind(kAny);
  zmq::socket_t peer(ctx.zmq(), zmq::socket_type::push);
  peer.set(zmq::sockopt::linger, 0);
  peer.connect(pull.last_endpoint());
  peer.send(zmq::str_buffer("\xc1"));                  // not msgpack
  peer.send(zmq::buffer(packb(1) + "xyz"));            // trailing bytes
  peer.send(zmq::buffer(packb(std::string("a"))));     // wrong type
  peer.send(zmq::buffer(packb(42)));
  EXPECT_THROW(pull.receive(), DecodeError);
  EXPECT_THROW(pull.receive(), DecodeError);
  try {
    pull.receive();
    ADD_FAILURE() << "expected DecodeError";
  } catch (const DecodeError& e) {
    EXPECT_EQ(e.code(), courier::ErrorCode::decode);
    EXPECT_EQ(e.expected(), "int32_t");
    EXPECT_EQ(e.found(), "str \"a\"");
  }
  EXPECT_EQ(pull.receive(), 42);
}

TEST_F(Pipeline, MultipartMessageIsAProtocolErrorAndIsConsumedWhole) {
  RawPull pull(pull_options());
  pull.bind(kAny);
  zmq::socket_t peer(ctx.zmq(), zmq::socket_type::push);
  peer.set(zmq::sockopt::linger, 0);
  peer.connect(pull.last_endpoint());
  courier::test::send_all(peer, {"a", "b", "c"});
  peer.send(zmq::str_buffer("next"));
  EXPECT_THROW(pull.receive(), ProtocolError);
  EXPECT_EQ(pull.receive().to_string(), "next");
}

TEST_F(Pipeline, TimedReceiveReturnsNothingAfterTheTimeout) {
  Pull<int> pull(pull_options());
  pull.bind(kAny);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(pull.receive(50ms), std::nullopt);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 45ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(pull.try_receive(), std::nullopt);
}

TEST_F(Pipeline, TimedReceiveReturnsAValueThatArrivesInTime) {
  Pull<std::string> pull(pull_options());
  pull.bind(kAny);
  Push<std::string> push(push_options());
  push.connect(pull.last_endpoint());
  push.send("hi");
  EXPECT_EQ(pull.receive(5s), std::optional<std::string>("hi"));
  push.send("again");
  EXPECT_TRUE(wait_until([&] {
    auto v = pull.try_receive();
    return v && *v == "again";
  }));
}

TEST_F(Pipeline, SendWithoutAnyPeerTimesOutInsteadOfBlockingForever) {
  Push<int> push(push_options());
  push.bind(kAny);  // bound, nobody connected: PUSH has nowhere to queue
  EXPECT_FALSE(push.try_send(1));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(push.send(1, 50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
}

TEST_F(Pipeline, TrySendReportsAFullHighWaterMarkAndRecoversWhenDrained) {
  SocketOptions small;
  small.send_hwm = 2;
  small.receive_hwm = 2;
  RawPull pull(pull_options(small));
  pull.bind("inproc://hwm");
  RawPush push(push_options(small));
  push.connect("inproc://hwm");
  int sent = 0;
  while (push.try_send("x") && sent < 10000) ++sent;
  EXPECT_LT(sent, 10000) << "the high-water mark never stopped try_send";
  EXPECT_GT(sent, 0);
  // Draining the reader hands room back to the writer (ZeroMQ's low-water mark).
  int drained = 0;
  while (pull.receive(100ms)) ++drained;
  EXPECT_EQ(drained, sent);
  EXPECT_TRUE(wait_until([&] { return push.try_send("y"); }));
}

TEST_F(Pipeline, ContextShutdownWakesAReceiveBlockedInAnotherThread) {
  Pull<int> pull(pull_options());
  pull.bind(kAny);
  std::atomic<bool> started{false};
  auto blocked = std::async(std::launch::async, [&] {
    started = true;
    pull.receive();  // blocks: nobody sends
  });
  ASSERT_TRUE(wait_until([&] { return started.load(); }));
  // Give the thread a chance to really block; the outcome is the same if not.
  EXPECT_EQ(blocked.wait_for(20ms), std::future_status::timeout);
  const auto start = std::chrono::steady_clock::now();
  ctx.shutdown();
  ASSERT_EQ(blocked.wait_for(5s), std::future_status::ready) << "receive still blocked after shutdown";
  EXPECT_THROW(blocked.get(), ClosedError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_THROW(pull.try_receive(), ClosedError);  // and every later call
}

TEST_F(Pipeline, ContextShutdownWakesABlockedSend) {
  Push<int> push(push_options());
  push.bind(kAny);
  auto blocked = std::async(std::launch::async, [&] { push.send(1); });
  EXPECT_EQ(blocked.wait_for(20ms), std::future_status::timeout);
  ctx.shutdown();
  ASSERT_EQ(blocked.wait_for(5s), std::future_status::ready);
  EXPECT_THROW(blocked.get(), ClosedError);
}

TEST_F(Pipeline, BadEndpointIsAConfigErrorNamingTheEndpointAndTheReason) {
  Pull<int> pull(pull_options());
  try {
    pull.bind("tcp://127.0.0.1:99999");
    ADD_FAILURE() << "bind succeeded";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.code(), courier::ErrorCode::config);
    EXPECT_NE(std::string(e.what()).find("cannot bind tcp://127.0.0.1:99999: Invalid argument"),
              std::string::npos)
        << e.what();
  }
  try {
    pull.connect("bogus://nowhere");
    ADD_FAILURE() << "connect succeeded";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot connect bogus://nowhere: Protocol not supported"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(Pipeline, BindingAnAddressInUseIsAConfigError) {
  Pull<int> first(pull_options());
  first.bind(kAny);
  Pull<int> second(pull_options());
  try {
    second.bind(first.last_endpoint());
    ADD_FAILURE() << "second bind succeeded";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(first.last_endpoint()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Address already in use"), std::string::npos) << e.what();
  }
}

TEST_F(Pipeline, InfiniteLingerIsRefused) {
  SocketOptions o;
  o.linger = -1ms;
  EXPECT_THROW(Push<int>(push_options(o)), ConfigError);
}

TEST_F(Pipeline, OnePullReceivesFromManyEndpointsOfEveryTransport) {
  courier::test::TempDir dir;
  Pull<int> pull(pull_options());
  std::vector<std::string> endpoints;
  for (int i = 0; i < 4; ++i) {
    pull.bind(kAny);
    endpoints.push_back(pull.last_endpoint());
  }
  for (int i = 0; i < 3; ++i) {
    pull.bind(dir.ipc("p" + std::to_string(i)));
    endpoints.push_back(pull.last_endpoint());
  }
  pull.bind("inproc://many");
  endpoints.push_back("inproc://many");
  std::vector<Push<int>> pushes;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    pushes.emplace_back(push_options());
    pushes.back().connect(endpoints[i]);
    pushes.back().send(static_cast<int>(i));
  }
  std::set<int> got;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    auto v = pull.receive(5s);
    ASSERT_TRUE(v.has_value()) << "only " << got.size() << " of " << endpoints.size();
    got.insert(*v);
  }
  EXPECT_EQ(got.size(), endpoints.size());
}

TEST_F(Pipeline, OnePushSpreadsOverManyConnectedPulls) {
  std::vector<Pull<int>> pulls;
  Push<int> push(push_options());
  for (int i = 0; i < 3; ++i) {
    pulls.emplace_back(pull_options());
    pulls.back().bind(kAny);
    push.connect(pulls.back().last_endpoint());
  }
  // Wait until every connection is up, so the round-robin covers all three.
  for (auto& p : pulls) (void)p;
  int received = 0;
  std::vector<int> per(3, 0);
  for (int i = 0; i < 300; ++i) push.send(i);
  ASSERT_TRUE(wait_until([&] {
    for (int k = 0; k < 3; ++k) {
      while (pulls[k].try_receive()) {
        ++per[k];
        ++received;
      }
    }
    return received == 300;
  }));
  for (int k = 0; k < 3; ++k) EXPECT_GT(per[k], 0) << "pull " << k << " got nothing";
}

TEST_F(Pipeline, ClosingWithUndeliverableMessagesNeverHangs) {
  SocketOptions o;
  o.linger = 100ms;
  const auto start = std::chrono::steady_clock::now();
  {
    Context own;
    Push<int> push(PushOptions{o, own});
    // A port nobody listens on: the messages can never leave.
    std::string dead;
    {
      Pull<int> gone(PullOptions{{}, own});
      gone.bind(kAny);
      dead = gone.last_endpoint();
    }
    push.connect(dead);
    for (int i = 0; i < 10; ++i) push.send(i);
  }  // Push closed, then the context terminated: bounded by the linger
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(Pipeline, RawBytesPathPassesBytesThroughUntouched) {
  RawPull pull(pull_options());
  pull.bind(kAny);
  RawPush push(push_options());
  push.connect(pull.last_endpoint());
  const std::string bytes("\x00\x01not msgpack\xff", 14);
  push.send(std::string_view(bytes));
  push.send(bytes.data(), bytes.size());
  zmq::message_t m("zero-copy", 9);
  push.send(std::move(m));
  EXPECT_EQ(pull.receive().to_string(), bytes);
  EXPECT_EQ(pull.receive(5s)->to_string(), bytes);
  EXPECT_EQ(pull.receive().to_string(), "zero-copy");
}

TEST_F(Pipeline, MovedObjectsKeepWorking) {
  Pull<int> a(pull_options());
  a.bind(kAny);
  Pull<int> b = std::move(a);
  Push<int> p(push_options());
  p.connect(b.last_endpoint());
  Push<int> q = std::move(p);
  q.send(9);
  EXPECT_EQ(b.receive(), 9);
}

TEST(PipelineGlobalContext, DefaultContextIsSharedAndLazy) {
  EXPECT_EQ(Context::global(), Context::global());
  Pull<int> pull;
  pull.bind("inproc://global");
  Push<int> push;
  push.connect("inproc://global");
  push.send(3);
  EXPECT_EQ(pull.receive(), 3);
}
