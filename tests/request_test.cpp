// Behaviours of courier/request.hpp (PROTOCOL.md §2): Client and Server
// interoperate with raw cppzmq DEALER / ROUTER / REQ peers byte for byte; many
// requests in flight are matched by id; errors, timeouts, malformed input,
// deadlines, async responders and shutdown behave as the header promises.
#include <courier/request.hpp>

#include "request_header.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <future>
#include <limits>
#include <list>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using courier::Client;
using courier::ClientOptions;
using courier::ClosedError;
using courier::ConfigError;
using courier::Context;
using courier::DecodeError;
using courier::RemoteError;
using courier::Responder;
using courier::Server;
using courier::ServerOptions;
using courier::TimeoutError;
using courier::test::packb;
using courier::test::recv_all;
using courier::test::send_all;
using courier::test::wait_until;

constexpr const char* kAny = "tcp://127.0.0.1:*";

struct Add {
  int a = 0;
  int b = 0;
  MSGPACK_DEFINE(a, b);
};

// Runs server.run() in a thread for the lifetime of this object.
class Serving {
 public:
  explicit Serving(Server& s) : server_(s), thread_([this] {
    try {
      server_.run();
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }) {}
  ~Serving() {
    server_.stop();
    thread_.join();
  }
  const std::string& error() const { return error_; }

 private:
  Server& server_;
  std::string error_;
  std::thread thread_;
};

class Request : public ::testing::Test {
 protected:
  Context ctx;

  zmq::socket_t raw(zmq::socket_type type) {
    zmq::socket_t s(ctx.zmq(), type);
    s.set(zmq::sockopt::linger, 0);
    return s;
  }

  // Options of this test's Clients and Servers: in ctx.
  ClientOptions client_options() const { return {{}, ctx}; }
  ServerOptions server_options() const { return {{}, ctx}; }

  // A server doubling ints.
  Server doubler() {
    Server s(server_options());
    s.bind(kAny);
    s.handle<int>([](const int& x) { return x * 2; });
    return s;
  }
};

std::string header_id(std::uint64_t id) {
  std::map<std::string, std::uint64_t> h{{"id", id}};
  return packb(h);
}

// Decodes a §2 reply header into a generic msgpack object map.
std::map<std::string, msgpack::object> parse(const zmq::message_t& frame, msgpack::object_handle& keep) {
  keep = msgpack::unpack(static_cast<const char*>(frame.data()), frame.size());
  return keep.get().as<std::map<std::string, msgpack::object>>();
}

}  // namespace

TEST_F(Request, CallReturnsTheTypedReply) {
  Server server(server_options());
  server.bind(kAny);
  server.handle<Add>([](const Add& r) { return r.a + r.b; });
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  EXPECT_EQ(client.call<int>(Add{2, 3}, 5s), 5);
  EXPECT_EQ(client.request<int>(Add{4, 5}, 5s).get(), 9);
}

TEST_F(Request, RawDealerPeerGetsTheSection2ReplyByteForByte) {
  Server server = doubler();
  Serving serving(server);
  zmq::socket_t dealer = raw(zmq::socket_type::dealer);
  dealer.connect(server.last_endpoint());
  send_all(dealer, {"", header_id(7), packb(21)});
  auto parts = recv_all(dealer);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].size(), 0u);
  EXPECT_EQ(parts[1].to_string(), std::string("\x82\xa2id\x07\xa2ok\xc3", 9));  // {"id":7,"ok":true}
  EXPECT_EQ(parts[2].to_string(), packb(42));
}

TEST_F(Request, PlainReqSocketWorksAgainstTheServer) {
  Server server = doubler();
  Serving serving(server);
  zmq::socket_t req = raw(zmq::socket_type::req);
  req.connect(server.last_endpoint());
  for (int i = 1; i <= 3; ++i) {
    send_all(req, {header_id(static_cast<std::uint64_t>(i)), packb(i)});  // REQ adds the delimiter
    auto parts = recv_all(req);
    ASSERT_EQ(parts.size(), 2u);
    msgpack::object_handle keep;
    auto h = parse(parts[0], keep);
    EXPECT_EQ(h.at("id").as<std::uint64_t>(), static_cast<std::uint64_t>(i));
    EXPECT_TRUE(h.at("ok").as<bool>());
    EXPECT_EQ(parts[1].to_string(), packb(i * 2));
  }
}

TEST_F(Request, ClientTalksToARawRouterPeerByteForByte) {
  zmq::socket_t router = raw(zmq::socket_type::router);
  router.bind(kAny);
  Client client(client_options());
  client.connect(router.get(zmq::sockopt::last_endpoint));
  auto ok = client.request<std::string>(std::string("ping"), 5s);
  auto bad = client.request<std::string>(std::string("fail me"), 5s);
  for (int i = 0; i < 2; ++i) {
    auto parts = recv_all(router);
    ASSERT_EQ(parts.size(), 4u);  // [routing id][""][header][body]
    EXPECT_EQ(parts[1].size(), 0u);
    msgpack::object_handle keep;
    auto h = parse(parts[2], keep);
    const auto id = h.at("id").as<std::uint64_t>();
    const std::string body = parts[3].to_string();
    if (body == packb(std::string("ping"))) {
      send_all(router, {parts[0].to_string(), "", "\x82\xa2id" + packb(id) + "\xa2ok\xc3", packb(std::string("pong"))});
    } else {
      EXPECT_EQ(body, packb(std::string("fail me")));
      msgpack::sbuffer hb;
      msgpack::packer<msgpack::sbuffer> pk(hb);
      pk.pack_map(3);
      pk.pack(std::string("id")); pk.pack(id);
      pk.pack(std::string("ok")); pk.pack(false);
      pk.pack(std::string("error")); pk.pack(std::string("no such thing"));
      send_all(router, {parts[0].to_string(), "", std::string(hb.data(), hb.size()), "\xc0"});
    }
  }
  EXPECT_EQ(ok.get(), "pong");
  try {
    bad.get();
    ADD_FAILURE() << "expected RemoteError";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.status(), 0);
    EXPECT_EQ(e.reason(), "no such thing");
  }
}

TEST_F(Request, TenThousandRequestsInFlightAreMatchedById) {
  constexpr int kCount = 10000;
  Server server(server_options());
  server.bind(kAny);
  std::vector<std::pair<int, Responder<int>>> held;
  held.reserve(kCount);
  // Hold every request until all 10 000 are in, then answer in reverse order.
  server.handle_async<int, int>([&](const int& x, Responder<int> r) {
    held.emplace_back(x, std::move(r));
    if (held.size() == kCount) {
      for (auto it = held.rbegin(); it != held.rend(); ++it) it->second.reply(it->first * 3);
      held.clear();
    }
  });
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  std::vector<std::future<int>> futures;
  futures.reserve(kCount);
  for (int i = 0; i < kCount; ++i) futures.push_back(client.request<int>(i, 60s));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(futures[i].get(), i * 3) << "request " << i;
  EXPECT_EQ(client.in_flight(), 0u);
  EXPECT_EQ(client.late_replies(), 0u);
}

TEST_F(Request, HandlerExceptionBecomesRemoteErrorAndServingGoesOn) {
  Server server(server_options());
  server.bind(kAny);
  server.handle<int>([](const int& x) -> int {
    if (x < 0) throw std::invalid_argument("negative input: " + std::to_string(x));
    return x;
  });
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  try {
    client.call<int>(-4, 5s);
    ADD_FAILURE() << "expected RemoteError";
  } catch (const RemoteError& e) {
    EXPECT_EQ(e.code(), courier::ErrorCode::remote);
    EXPECT_EQ(e.status(), 0);
    EXPECT_EQ(e.reason(), "negative input: -4");
  }
  EXPECT_EQ(client.call<int>(4, 5s), 4);
}

TEST_F(Request, RequestBodyOfTheWrongTypeGetsOkFalseNamingTheTypes) {
  Server server = doubler();
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  try {
    client.call<int>(std::string("not an int"), 5s);
    ADD_FAILURE() << "expected RemoteError";
  } catch (const RemoteError& e) {
    EXPECT_NE(e.reason().find("expected int32_t, found str \"not an int\""), std::string::npos) << e.reason();
  }
}

TEST_F(Request, ReplyOfTheWrongTypeIsADecodeErrorOnTheClient) {
  Server server = doubler();
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  EXPECT_THROW(client.call<std::string>(2, 5s), DecodeError);
}

TEST_F(Request, NoReplyInTimeIsATimeoutErrorAndALateReplyIsCounted) {
  zmq::socket_t router = raw(zmq::socket_type::router);
  router.bind(kAny);
  Client client(client_options());
  client.connect(router.get(zmq::sockopt::last_endpoint));
  const auto start = std::chrono::steady_clock::now();
  auto f = client.request<int>(1, 100ms);
  try {
    f.get();
    ADD_FAILURE() << "expected TimeoutError";
  } catch (const TimeoutError& e) {
    EXPECT_EQ(e.code(), courier::ErrorCode::timeout);
    EXPECT_NE(std::string(e.what()).find("no reply within 100 ms"), std::string::npos) << e.what();
  }
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 95ms);
  EXPECT_LT(took, 3s);
  // The reply arrives after all: ignored, counted.
  auto parts = recv_all(router);
  ASSERT_EQ(parts.size(), 4u);
  send_all(router, {parts[0].to_string(), "", "\x82\xa2id\x01\xa2ok\xc3", packb(1)});
  EXPECT_TRUE(wait_until([&] { return client.late_replies() == 1; }));
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(Request, MalformedRequestWithAReadableIdIsAnsweredOkFalse) {
  Server server = doubler();
  Serving serving(server);
  zmq::socket_t dealer = raw(zmq::socket_type::dealer);
  dealer.connect(server.last_endpoint());
  send_all(dealer, {"", header_id(5)});  // no body frame
  auto parts = recv_all(dealer);
  ASSERT_EQ(parts.size(), 3u);
  msgpack::object_handle keep;
  auto h = parse(parts[1], keep);
  EXPECT_EQ(h.at("id").as<std::uint64_t>(), 5u);
  EXPECT_FALSE(h.at("ok").as<bool>());
  EXPECT_NE(h.at("error").as<std::string>().find("malformed request"), std::string::npos);
  EXPECT_EQ(parts[2].to_string(), "\xc0");  // body nil
}

TEST_F(Request, MalformedRequestWithoutAReadableIdIsDroppedAndCounted) {
  Server server = doubler();
  Serving serving(server);
  zmq::socket_t dealer = raw(zmq::socket_type::dealer);
  dealer.connect(server.last_endpoint());
  send_all(dealer, {"", "\xc1garbage", packb(1)});           // header not msgpack
  send_all(dealer, {"", packb(std::vector<int>{1}), packb(1)});  // header not a map
  send_all(dealer, {"", packb(std::map<std::string, int>{{"id", -3}}), packb(1)});  // id not a uint
  send_all(dealer, {header_id(1), packb(1)});                 // no delimiter
  ASSERT_TRUE(wait_until([&] { return server.dropped_requests() == 4; })) << server.dropped_requests();
  send_all(dealer, {"", header_id(9), packb(4)});  // and the server keeps serving
  auto parts = recv_all(dealer);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].to_string(), packb(8));
}

TEST_F(Request, UnknownHeaderKeysAreIgnored) {
  Server server = doubler();
  Serving serving(server);
  zmq::socket_t dealer = raw(zmq::socket_type::dealer);
  dealer.connect(server.last_endpoint());
  msgpack::sbuffer hb;
  msgpack::packer<msgpack::sbuffer> pk(hb);
  pk.pack_map(3);
  pk.pack(std::string("trace")); pk.pack(std::vector<int>{1, 2});
  pk.pack(std::string("id")); pk.pack(11);
  pk.pack(std::string("x-future")); pk.pack(std::string("whatever"));
  send_all(dealer, {"", std::string(hb.data(), hb.size()), packb(5)});
  auto parts = recv_all(dealer);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1].to_string(), std::string("\x82\xa2id\x0b\xa2ok\xc3", 9));
  EXPECT_EQ(parts[2].to_string(), packb(10));
}

TEST_F(Request, RequestPastItsDeadlineIsDroppedAndCounted) {
  Server server = doubler();
  Serving serving(server);
  zmq::socket_t dealer = raw(zmq::socket_type::dealer);
  dealer.connect(server.last_endpoint());
  const auto now_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch()).count());
  send_all(dealer, {"", packb(std::map<std::string, std::uint64_t>{{"id", 1}, {"deadline", now_ms - 1000}}), packb(1)});
  send_all(dealer, {"", packb(std::map<std::string, std::uint64_t>{{"id", 2}, {"deadline", now_ms + 60000}}), packb(2)});
  auto parts = recv_all(dealer);
  ASSERT_EQ(parts.size(), 3u);
  msgpack::object_handle keep;
  EXPECT_EQ(parse(parts[1], keep).at("id").as<std::uint64_t>(), 2u);  // only the live one answered
  EXPECT_EQ(server.expired_requests(), 1u);
}

// Found by fuzz/request_header_fuzz: a float past 2^64 was converted to an
// integer (undefined behaviour). It now means "the far future".
TEST(RequestHeader, FloatDeadlineBeyondTwoToThe64SaturatesToTheFarFuture) {
  auto deadline_of = [&](double d) {
    const std::string bytes = packb(std::map<std::string, double>{{"deadline", d}});
    return courier::detail::parse_header(zmq::message_t(bytes.data(), bytes.size())).deadline;
  };
  EXPECT_EQ(deadline_of(1e300), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(deadline_of(std::numeric_limits<double>::infinity()), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(deadline_of(18446744073709551616.0), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(deadline_of(1700000000000.5), 1700000000000u);  // whole ms, as before
  EXPECT_FALSE(deadline_of(-5.0).has_value());
}

// The header is read with msgpack's visitor parser; what it reads must be
// what the map unpacked into a msgpack::object says (the fuzzer checks the
// same on random bytes). These are the cases a visitor can get wrong.
TEST(RequestHeader, ReadsOnlyTheTopLevelMapAndOnlyAWholeFrame) {
  // The literal's bytes, embedded NULs included.
  const auto raw = [](const auto& literal) { return std::string(literal, sizeof literal - 1); };
  // Strings in a header point into its frame: the frames live to the end.
  std::list<zmq::message_t> frames;
  auto header_of = [&frames](const std::string& bytes) {
    return courier::detail::parse_header(frames.emplace_back(bytes.data(), bytes.size()));
  };
  // {"id": int64 7}: a signed encoding of a non-negative number is an id.
  const auto signed_id = header_of(raw("\x81\xa2id\xd3\0\0\0\0\0\0\0\x07"));
  EXPECT_TRUE(signed_id.is_map);
  EXPECT_EQ(signed_id.id, 7u);
  // {"id": -1}: no id.
  EXPECT_FALSE(header_of(raw("\x81\xa2id\xff")).id.has_value());
  // {"x": {"id": 5, "ok": true}}: keys of a nested map are not the header's.
  const auto nested = header_of(raw("\x81\xa1x\x82\xa2id\x05\xa2ok\xc3"));
  EXPECT_TRUE(nested.is_map);
  EXPECT_FALSE(nested.id.has_value());
  EXPECT_FALSE(nested.ok.has_value());
  // {"error": ["boom"]}, {"ok": 1}: known keys with unusable values stay unset.
  EXPECT_FALSE(header_of(raw("\x81\xa5" "error\x91\xa4" "boom")).error.has_value());
  EXPECT_FALSE(header_of(raw("\x81\xa2ok\x01")).ok.has_value());
  // {"id": 1, "id": 2}: the last entry wins, as in the object's map.
  EXPECT_EQ(header_of(raw("\x82\xa2id\x01\xa2id\x02")).id, 2u);
  // {"error": "boom", "ok": false}: the string points into the frame.
  const auto failed = header_of(raw("\x82\xa5" "error\xa4" "boom\xa2ok\xc2"));
  EXPECT_EQ(failed.error, "boom");
  EXPECT_EQ(failed.ok, false);
  // Not one map: an array holding a map, a map followed by a byte, a
  // truncated map, an empty frame.
  EXPECT_FALSE(header_of(raw("\x91\x81\xa2id\x01")).is_map);
  const auto trailing = header_of(raw("\x81\xa2id\x01\xc0"));
  EXPECT_FALSE(trailing.is_map);
  EXPECT_FALSE(trailing.id.has_value());
  EXPECT_FALSE(header_of(raw("\x82\xa2id\x01")).is_map);
  EXPECT_FALSE(header_of(std::string()).is_map);
  // Nested 512 deep is read; 513 is refused, as unpacking it would be.
  const auto nest = [](std::size_t levels) {
    return "\x81\xa1x" + std::string(levels - 1, '\x91') + '\xc0';
  };
  EXPECT_TRUE(header_of(nest(courier::detail::kMaxNesting)).is_map);
  EXPECT_FALSE(header_of(nest(courier::detail::kMaxNesting + 1)).is_map);
}

struct alignas(64) WideReply {
  int value = 0;
  MSGPACK_DEFINE(value);
};

// Completions and future state come from a pool aligned like operator new;
// over-aligned replies and callback captures must still get their alignment.
TEST_F(Request, OverAlignedRepliesAndCallbackCapturesKeepTheirAlignment) {
  Server server(server_options());
  server.bind(kAny);
  server.handle<Add>([](const Add& a) { return WideReply{a.a + a.b}; });
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  std::future<WideReply> f = client.request<WideReply>(Add{2, 3}, 5s);
  const WideReply r = f.get();
  EXPECT_EQ(r.value, 5);
  struct alignas(64) Wide {
    char bytes[64];
  } wide{};
  std::promise<bool> aligned;
  client.request<WideReply>(
      Add{1, 1}, 5s,
      [wide, &aligned](WideReply) {
        aligned.set_value(reinterpret_cast<std::uintptr_t>(&wide) % 64 == 0);
      },
      [&aligned](std::exception_ptr) { aligned.set_value(false); });
  EXPECT_TRUE(aligned.get_future().get());
}

TEST_F(Request, AsyncResponderCanBeCompletedFromAnotherThread) {
  Server server(server_options());
  server.bind(kAny);
  std::mutex mu;
  std::vector<std::pair<Add, Responder<int>>> work;
  server.handle_async<Add, int>([&](const Add& r, Responder<int> resp) {
    std::lock_guard<std::mutex> lock(mu);
    work.emplace_back(r, std::move(resp));
  });
  Serving serving(server);
  std::atomic<bool> done{false};
  std::thread worker([&] {
    while (!done) {
      std::vector<std::pair<Add, Responder<int>>> batch;
      {
        std::lock_guard<std::mutex> lock(mu);
        batch.swap(work);
      }
      for (auto& [req, resp] : batch) {
        EXPECT_TRUE(resp.reply(req.a * req.b));
        EXPECT_FALSE(resp.reply(0)) << "a second answer must be refused";
      }
      std::this_thread::yield();
    }
  });
  Client client(client_options());
  client.connect(server.last_endpoint());
  std::vector<std::future<int>> fs;
  for (int i = 0; i < 100; ++i) fs.push_back(client.request<int>(Add{i, 2}, 5s));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(fs[i].get(), i * 2);
  done = true;
  worker.join();
}

TEST_F(Request, ResponderDroppedUnansweredRepliesOkFalse) {
  Server server(server_options());
  server.bind(kAny);
  server.handle_async<int, int>([](const int&, Responder<int>) {});
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  try {
    client.call<int>(1, 5s);
    ADD_FAILURE() << "expected RemoteError";
  } catch (const RemoteError& e) {
    EXPECT_NE(e.reason().find("did not reply"), std::string::npos) << e.reason();
  }
}

TEST_F(Request, ReplyToAVanishedClientIsCountedNotSilent) {
  Server server(server_options());
  server.bind(kAny);
  std::promise<courier::RawResponder> got;
  auto got_future = got.get_future();
  // Requests with body 1 are held; anything else is echoed at once.
  server.handle_raw_async([&](std::string_view body, courier::RawResponder r) {
    if (body == packb(1)) {
      got.set_value(r);
    } else {
      r.reply(body);
    }
  });
  // Watch the server's socket for the client's disconnection (set up before
  // the serving thread owns the socket).
  ASSERT_EQ(zmq_socket_monitor(server.socket().handle(), "inproc://server-monitor",
                               ZMQ_EVENT_DISCONNECTED), 0);
  zmq::socket_t monitor = raw(zmq::socket_type::pair);
  monitor.connect("inproc://server-monitor");
  Serving serving(server);
  {
    zmq::socket_t dealer = raw(zmq::socket_type::dealer);
    dealer.connect(server.last_endpoint());
    send_all(dealer, {"", header_id(1), packb(1)});
    ASSERT_EQ(got_future.wait_for(5s), std::future_status::ready);
  }  // the client goes away before its answer
  courier::RawResponder responder = got_future.get();
  ASSERT_FALSE(recv_all(monitor).empty()) << "no disconnect event";
  // A few round trips from a live client let the server's socket take in
  // ZeroMQ's pipe-termination commands for the vanished one.
  Client live(client_options());
  live.connect(server.last_endpoint());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(live.call<int>(2, 5s), 2);
  EXPECT_TRUE(responder.reply(packb(1)));  // accepted by the hand-off...
  // ...and then counted by the server as unroutable, not lost silently.
  EXPECT_TRUE(wait_until([&] { return server.unroutable_replies() == 1; }))
      << "unroutable=" << server.unroutable_replies() << " dropped=" << server.dropped_replies();
  EXPECT_EQ(server.handled_requests(), 20u);
}

TEST_F(Request, ContextShutdownWakesACallBlockedInAnotherThread) {
  zmq::socket_t router = raw(zmq::socket_type::router);
  router.bind(kAny);
  Client client(client_options());
  client.connect(router.get(zmq::sockopt::last_endpoint));
  auto blocked = std::async(std::launch::async, [&] { return client.call<int>(1, 60s); });
  ASSERT_FALSE(recv_all(router).empty());  // the request is out: the call is waiting
  router.close();
  const auto start = std::chrono::steady_clock::now();
  ctx.shutdown();
  ASSERT_EQ(blocked.wait_for(5s), std::future_status::ready);
  EXPECT_THROW(blocked.get(), ClosedError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_THROW(client.call<int>(2, 1s), ClosedError);  // and every later request
}

TEST_F(Request, ContextShutdownStopsARunningServerWithClosedError) {
  Server server = doubler();
  auto running = std::async(std::launch::async, [&] { server.run(); });
  EXPECT_EQ(running.wait_for(20ms), std::future_status::timeout);
  ctx.shutdown();
  ASSERT_EQ(running.wait_for(5s), std::future_status::ready);
  EXPECT_THROW(running.get(), ClosedError);
}

TEST_F(Request, DestroyingTheClientFailsWhatIsInFlightWithClosedError) {
  zmq::socket_t router = raw(zmq::socket_type::router);
  router.bind(kAny);
  std::future<int> f;
  {
    Client client(client_options());
    client.connect(router.get(zmq::sockopt::last_endpoint));
    f = client.request<int>(1, 60s);
  }
  ASSERT_EQ(f.wait_for(1s), std::future_status::ready);
  EXPECT_THROW(f.get(), ClosedError);
}

TEST_F(Request, CallbackFormDeliversReplyAndErrorOnce) {
  Server server(server_options());
  server.bind(kAny);
  server.handle<int>([](const int& x) -> int {
    if (x == 0) throw std::runtime_error("zero");
    return x;
  });
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  std::promise<int> reply;
  std::promise<std::string> error;
  client.request<int>(7, 5s, [&](int v) { reply.set_value(v); },
                      [&](std::exception_ptr) { reply.set_value(-1); });
  client.request<int>(0, 5s, [&](int) { error.set_value("no error?"); },
                      [&](std::exception_ptr e) {
                        try {
                          std::rethrow_exception(e);
                        } catch (const RemoteError& r) {
                          error.set_value(r.reason());
                        } catch (...) {
                          error.set_value("wrong type");
                        }
                      });
  EXPECT_EQ(reply.get_future().get(), 7);
  EXPECT_EQ(error.get_future().get(), "zero");
}

TEST_F(Request, CallFromACallbackIsRefusedInsteadOfDeadlocking) {
  Server server = doubler();
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  std::promise<std::string> outcome;
  client.request<int>(1, 5s,
                      [&](int) {
                        try {
                          client.call<int>(2, 1s);
                          outcome.set_value("call returned");
                        } catch (const ConfigError&) {
                          outcome.set_value("refused");
                        }
                      },
                      [&](std::exception_ptr) { outcome.set_value("error"); });
  EXPECT_EQ(outcome.get_future().get(), "refused");
}

TEST_F(Request, RawFormsPassMsgpackBytesThrough) {
  Server server(server_options());
  server.bind(kAny);
  server.handle_raw([](std::string_view body) { return std::string(body); });  // echo
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  const std::string body = packb(std::map<std::string, int>{{"k", 1}});
  EXPECT_EQ(client.request_raw(body, 5s).get(), body);
}

TEST_F(Request, ClientIsSafeToShareBetweenThreads) {
  Server server = doubler();
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if (client.call<int>(t * 1000 + i, 10s) == 2 * (t * 1000 + i)) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 2000);
}

TEST_F(Request, ClientSpreadsOverManyServers) {
  std::vector<Server> servers;
  std::vector<std::string> endpoints;
  for (int i = 0; i < 3; ++i) {
    servers.emplace_back(server_options());
    servers.back().bind(kAny);
    servers.back().handle<int>([i](const int&) { return i; });
    endpoints.push_back(servers.back().last_endpoint());
  }
  std::vector<std::unique_ptr<Serving>> serving;
  for (auto& s : servers) serving.push_back(std::make_unique<Serving>(s));
  Client client(client_options());
  for (const auto& endpoint : endpoints) client.connect(endpoint);
  std::set<int> seen;
  for (int i = 0; i < 60; ++i) seen.insert(client.call<int>(0, 5s));
  EXPECT_EQ(seen.size(), 3u);
}

TEST_F(Request, BadEndpointOrTimeoutIsAConfigError) {
  Client bad(client_options());
  EXPECT_THROW(bad.connect("tcp://127.0.0.1:99999"), ConfigError);
  EXPECT_THROW(bad.bind("nope://x"), ConfigError);
  Server server(server_options());
  EXPECT_THROW(server.bind("nope://x"), ConfigError);
  server.bind(kAny);
  Client client(client_options());
  client.connect(server.last_endpoint());
  EXPECT_THROW(client.request<int>(1, 0ms), ConfigError);
}

TEST_F(Request, PollServesOneStepInTheCallersThread) {
  Server server = doubler();
  EXPECT_FALSE(server.poll(0ms));
  Client client(client_options());
  client.connect(server.last_endpoint());
  auto f = client.request<int>(21, 5s);
  ASSERT_TRUE(wait_until([&] { return server.poll(10ms); }));
  EXPECT_EQ(f.get(), 42);
  EXPECT_EQ(server.handled_requests(), 1u);
}

TEST_F(Request, ClientBindsAndAServerConnectsToIt) {
  Client client(client_options());
  EXPECT_EQ(client.last_endpoint(), "");
  client.bind(kAny);
  ASSERT_NE(client.last_endpoint().find("tcp://127.0.0.1:"), std::string::npos) << client.last_endpoint();
  EXPECT_EQ(client.last_endpoint().find('*'), std::string::npos) << "the real port, not *";
  Server server(server_options());
  server.connect(client.last_endpoint());
  server.handle<int>([](const int& x) { return x + 1; });
  Serving serving(server);
  EXPECT_EQ(client.call<int>(41, 5s), 42);
}

TEST_F(Request, RequestMadeBeforeConnectIsSentOnceConnected) {
  Server server = doubler();
  Serving serving(server);
  Client client(client_options());
  auto early = client.request<int>(4, 5s);  // no server yet: it waits, within its timeout
  EXPECT_EQ(early.wait_for(50ms), std::future_status::timeout);
  client.connect(server.last_endpoint());
  ASSERT_EQ(early.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(early.get(), 8);
}

TEST_F(Request, UnconnectedClientTimesOutNamingTheMissingEndpoint) {
  Client client(client_options());
  try {
    client.call<int>(1, 50ms);
    FAIL() << "no TimeoutError";
  } catch (const TimeoutError& e) {
    EXPECT_NE(std::string(e.what()).find("connect()"), std::string::npos) << e.what();
  }
}

TEST_F(Request, ConnectAfterContextShutdownIsAClosedError) {
  Client client(client_options());
  ctx.shutdown();
  ASSERT_TRUE(wait_until([&] {
    try {
      client.connect("tcp://127.0.0.1:5");
      return false;
    } catch (const ClosedError&) {
      return true;
    }
  }));
}

// Responders are made by the Server only: no detail:: type is a public argument.
static_assert(!std::is_constructible_v<courier::RawResponder,
                                       std::shared_ptr<courier::detail::ResponderState>>);
static_assert(std::is_default_constructible_v<courier::RawResponder>);

// ---------------------------------------------------------------------------
// The I/O token (issue 13): callers send their own request when the token is
// free, the I/O thread receives. These cover each way the two can meet.
// ---------------------------------------------------------------------------

TEST_F(Request, ManyThreadsPipeliningWhileRepliesArriveEachGetTheirOwnReplies) {
  Server server = doubler();
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  constexpr int kThreads = 6, kPerThread = 3000, kWindow = 64;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::deque<std::pair<int, std::future<int>>> window;
      for (int i = 0; i < kPerThread || !window.empty();) {
        while (i < kPerThread && window.size() < kWindow) {
          const int x = t * 100000 + i++;
          window.emplace_back(x, client.request<int>(x, 30s));
        }
        if (window.front().second.get() == 2 * window.front().first) ++good;
        window.pop_front();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), kThreads * kPerThread);
  EXPECT_EQ(client.in_flight(), 0u);
  EXPECT_EQ(client.late_replies(), 0u);
}

TEST_F(Request, RequestsFromOneThreadLeaveInTheOrderTheyWereMade) {
  // A raw ROUTER sees the bodies in send order, whichever thread sent them
  // (the caller, or the I/O thread after a hand-over).
  zmq::socket_t router = raw(zmq::socket_type::router);
  router.bind(kAny);
  Client client(client_options());
  client.connect(router.get(zmq::sockopt::last_endpoint));
  constexpr int kCount = 2000;
  std::thread noise([&] {  // keeps the token busy now and then
    for (int i = 0; i < 200; ++i) (void)client.request<int>(-1, 30s);
  });
  std::vector<std::future<int>> futures;
  for (int i = 0; i < kCount; ++i) futures.push_back(client.request<int>(i, 30s));
  noise.join();
  int expected = 0;
  router.set(zmq::sockopt::rcvtimeo, 5000);
  while (expected < kCount) {
    auto parts = recv_all(router);
    ASSERT_EQ(parts.size(), 4u);
    const int x = msgpack::unpack(static_cast<const char*>(parts[3].data()), parts[3].size())
                      .get()
                      .as<int>();
    if (x == -1) continue;
    ASSERT_EQ(x, expected) << "request bodies out of order";
    ++expected;
  }
}

TEST_F(Request, CallbackThatIssuesARequestGetsItsReply) {
  // Callbacks run on the I/O thread without the token: a request made there
  // is handed over and answered like any other.
  Server server = doubler();
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  constexpr int kChain = 200;
  std::promise<int> last;
  std::function<void(int)> next = [&](int depth) {
    client.request<int>(depth, 10s,
                        [&, depth](int v) {
                          if (v != 2 * depth) {
                            last.set_value(-1);
                          } else if (depth + 1 == kChain) {
                            last.set_value(depth);
                          } else {
                            next(depth + 1);
                          }
                        },
                        [&](std::exception_ptr) { last.set_value(-2); });
  };
  next(0);
  auto f = last.get_future();
  ASSERT_EQ(f.wait_for(30s), std::future_status::ready);
  EXPECT_EQ(f.get(), kChain - 1);
}

TEST_F(Request, ConnectFromACallbackRunsAtOnce) {
  Server first = doubler();
  Server second = doubler();
  Serving s1(first), s2(second);
  Client client(client_options());
  client.connect(first.last_endpoint());
  std::promise<std::string> done;
  client.request<int>(1, 10s,
                      [&](int) {
                        try {
                          client.connect(second.last_endpoint());
                          done.set_value("connected");
                        } catch (const std::exception& e) {
                          done.set_value(e.what());
                        }
                      },
                      [&](std::exception_ptr) { done.set_value("error"); });
  auto f = done.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), "connected");
  EXPECT_EQ(client.last_endpoint(), second.last_endpoint());
}

TEST_F(Request, DestroyingTheClientWhileThousandsAreInFlightFailsThemPromptly) {
  // Half answered by a live server, half stuck at a silent one: every future
  // ends (a reply or ClosedError) and the destructor is bounded.
  Server server = doubler();
  Serving serving(server);
  zmq::socket_t silent = raw(zmq::socket_type::router);
  silent.bind(kAny);
  std::vector<std::future<int>> futures;
  std::optional<Client> client(std::in_place, client_options());
  // The silent peer first, and proven connected, so that round-robin gives
  // it its share (connect() returns before the TCP connection is up).
  client->connect(silent.get(zmq::sockopt::last_endpoint));
  auto first = client->request<int>(-1, 60s);
  ASSERT_FALSE(recv_all(silent).empty());
  client->connect(server.last_endpoint());
  std::thread other([&] {
    for (int i = 0; i < 2000; ++i) (void)client->request<int>(i, 60s);
  });
  for (int i = 0; i < 2000; ++i) futures.push_back(client->request<int>(i, 60s));
  other.join();
  const auto start = std::chrono::steady_clock::now();
  client.reset();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 5s);
  int replies = 0, closed = 0;
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(futures[i].wait_for(1s), std::future_status::ready) << "request " << i;
    try {
      EXPECT_EQ(futures[i].get(), 2 * i);
      ++replies;
    } catch (const ClosedError&) {
      ++closed;
    }
  }
  EXPECT_EQ(replies + closed, 2000);
  EXPECT_GT(closed, 0);  // those sent to the silent peer
  ASSERT_EQ(first.wait_for(1s), std::future_status::ready);
  EXPECT_THROW(first.get(), ClosedError);
}

TEST_F(Request, ShortTimeoutSentByTheCallerWakesASleepingIOThread) {
  // The I/O thread sleeps until the first request's far deadline; a request
  // with a short timeout, sent from the caller's thread, must still expire
  // on time.
  zmq::socket_t router = raw(zmq::socket_type::router);
  router.bind(kAny);
  Client client(client_options());
  client.connect(router.get(zmq::sockopt::last_endpoint));
  auto far = client.request<int>(1, 60s);
  (void)recv_all(router);  // sent: the I/O thread is (or will be) asleep
  std::this_thread::sleep_for(20ms);
  const auto start = std::chrono::steady_clock::now();
  auto near = client.request<int>(2, 100ms);
  ASSERT_EQ(near.wait_for(5s), std::future_status::ready);
  EXPECT_THROW(near.get(), TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(far.wait_for(0ms), std::future_status::timeout);
}

TEST_F(Request, TimeoutsFireWhileOtherThreadsKeepTheTokenBusy) {
  // A silent peer; two threads submit without pause (taking and handing
  // over the token) while a short request must still time out on time.
  zmq::socket_t router = raw(zmq::socket_type::router);
  router.bind(kAny);
  Client client(client_options());
  client.connect(router.get(zmq::sockopt::last_endpoint));
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 2; ++t) {
    busy.emplace_back([&] {
      for (int i = 0; i < 50000 && !stop.load(); ++i) (void)client.request<int>(0, 60s);
    });
  }
  std::this_thread::sleep_for(20ms);
  // Timed when the outcome is delivered (this thread may be starved).
  std::promise<std::pair<bool, std::chrono::steady_clock::duration>> outcome;
  const auto start = std::chrono::steady_clock::now();
  client.request<int>(
      1, 100ms, [&](int) { outcome.set_value({false, std::chrono::steady_clock::now() - start}); },
      [&](std::exception_ptr e) {
        bool timeout = false;
        try {
          std::rethrow_exception(e);
        } catch (const TimeoutError&) {
          timeout = true;
        } catch (...) {
        }
        outcome.set_value({timeout, std::chrono::steady_clock::now() - start});
      });
  auto f = outcome.get_future();
  const auto ready = f.wait_for(10s);
  stop = true;
  for (auto& th : busy) th.join();
  ASSERT_EQ(ready, std::future_status::ready);
  const auto [timed_out, took] = f.get();
  EXPECT_TRUE(timed_out);
  EXPECT_GE(took, 95ms);
  EXPECT_LT(took, 2s);
}

TEST_F(Request, ReplyThatArrivesWhileTheCallerSendsIsNotLost) {
  // Pipelined single caller against a fast server: each send from the
  // caller's thread can take in ZeroMQ's "reply waiting" signal; the I/O
  // thread must still receive every reply (a lost wake-up would stall until
  // the 30 s timeout and fail the wait below).
  Server server = doubler();
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  constexpr int kCount = 20000, kWindow = 100;
  std::deque<std::future<int>> window;
  int next = 0, done = 0;
  const auto start = std::chrono::steady_clock::now();
  while (done < kCount) {
    while (next < kCount && static_cast<int>(window.size()) < kWindow) {
      window.push_back(client.request<int>(next++, 30s));
    }
    ASSERT_EQ(window.front().wait_for(10s), std::future_status::ready) << "reply " << done;
    ASSERT_EQ(window.front().get(), 2 * done);
    window.pop_front();
    ++done;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 60s);
}

TEST_F(Request, TimeoutsStillFireAfterManyAnsweredRequestsWithLongTimeouts) {
  // Answered requests leave timer entries behind; the client rebuilds its
  // timer heap from what is pending once those dominate. A request left
  // unanswered among thousands answered must still time out on time.
  Server server(server_options());
  server.bind(kAny);
  std::vector<Responder<int>> held;  // answered never: the client must time out
  server.handle_async<int, int>([&](const int& x, Responder<int> r) {
    if (x < 0) {
      held.push_back(std::move(r));
    } else {
      r.reply(x);
    }
  });
  Serving serving(server);
  Client client(client_options());
  client.connect(server.last_endpoint());
  // At most 500 in flight, below the high-water marks: the server never has
  // to drop a reply to a client slowed down by a sanitizer.
  std::deque<std::future<int>> answered;
  int sent = 0, checked = 0;
  const auto pipeline = [&](int until) {
    while (sent < until) {
      answered.push_back(client.request<int>(sent++, 60s));
      if (answered.size() < 500) continue;
      ASSERT_EQ(answered.front().wait_for(20s), std::future_status::ready)
          << "request " << checked << "; server dropped " << server.dropped_replies()
          << " replies, handled " << server.handled_requests() << "; client in flight "
          << client.in_flight();
      ASSERT_EQ(answered.front().get(), checked++);
      answered.pop_front();
    }
  };
  pipeline(3000);
  // The outcome's time is taken when it is delivered, not when this thread
  // gets round to looking (slow under sanitizers).
  std::promise<std::pair<bool, std::chrono::steady_clock::duration>> silent;
  const auto start = std::chrono::steady_clock::now();
  client.request<int>(
      -1, 200ms, [&](int) { silent.set_value({false, std::chrono::steady_clock::now() - start}); },
      [&](std::exception_ptr e) {
        bool timeout = false;
        try {
          std::rethrow_exception(e);
        } catch (const TimeoutError&) {
          timeout = true;
        } catch (...) {
        }
        silent.set_value({timeout, std::chrono::steady_clock::now() - start});
      });
  pipeline(8000);
  for (auto& f : answered) ASSERT_EQ(f.get(), checked++);
  auto outcome = silent.get_future();
  ASSERT_EQ(outcome.wait_for(5s), std::future_status::ready);
  const auto [timed_out, took] = outcome.get();
  EXPECT_TRUE(timed_out);
  EXPECT_GE(took, 195ms);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(client.in_flight(), 0u);
}

TEST_F(Request, ContextShutdownWhileCallersSendEndsEveryRequest) {
  // Callers may be inside a send of their own when the context goes: each
  // request still ends, with its reply or ClosedError, and later ones fail.
  Server server(server_options());
  server.bind(kAny);
  server.handle<int>([](const int& x) { return x; });
  std::atomic<bool> serving{true};
  std::thread server_thread([&] {
    try {
      while (serving.load()) server.poll(10ms);
    } catch (const ClosedError&) {
    }
  });
  Client client(client_options());
  client.connect(server.last_endpoint());
  std::atomic<int> ended{0}, total{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      std::deque<std::future<int>> window;
      for (int i = 0; i < 20000; ++i) {
        window.push_back(client.request<int>(i, 30s));
        ++total;
        if (window.size() == 32) {
          if (window.front().wait_for(10s) == std::future_status::ready) ++ended;
          window.pop_front();
        }
      }
      for (auto& f : window) {
        if (f.wait_for(10s) == std::future_status::ready) ++ended;
      }
    });
  }
  std::this_thread::sleep_for(50ms);
  ctx.shutdown();
  for (auto& th : callers) th.join();
  serving = false;
  server_thread.join();
  EXPECT_EQ(ended.load(), total.load());
  EXPECT_THROW(client.call<int>(1, 1s), ClosedError);
  EXPECT_EQ(client.in_flight(), 0u);
}
