// CurveZMQ for the library's own sockets (security.hpp, PROTOCOL.md §5):
// certificates, CurveOptions on Push/Pull and Client/Server, the allow-list
// (ZAP) and its refusals, and the errors for bad keys or options. The proxy
// side is tested black-box in tests/blackbox/proxy/test_curve.py.
#include <courier/admin.hpp>
#include <courier/pipeline.hpp>
#include <courier/producer.hpp>
#include <courier/request.hpp>
#include <courier/security.hpp>

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;
using courier::ConfigError;
using courier::CurveKeyPair;
using courier::CurveOptions;

namespace fs = std::filesystem;

// A fresh directory, removed at scope exit.
struct Dir {
  fs::path path;
  Dir() {
    std::string tmpl = (fs::temp_directory_path() / "courier-curve-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// A server socket's options: its key pair, and an allow-list when given.
courier::SocketOptions server_side(const CurveKeyPair& server, const std::string& allow_dir = "") {
  courier::SocketOptions o;
  o.curve.server = true;
  o.curve.keys = server;
  o.curve.allow_dir = allow_dir;
  return o;
}

courier::SocketOptions client_side(const CurveKeyPair& server, const CurveKeyPair& own = {}) {
  courier::SocketOptions o;
  o.curve.server_key = server.public_key;
  o.curve.keys = own;
  return o;
}

// Records the refusals the ZAP handler reports.
struct RefusalLog {
  std::mutex mu;
  std::vector<std::string> keys;
  RefusalLog() {
    courier::set_curve_refusal_log([this](const std::string&, const std::string& key, const std::string&) {
      std::lock_guard<std::mutex> lock(mu);
      keys.push_back(key);
    });
  }
  ~RefusalLog() { courier::set_curve_refusal_log({}); }
  bool has(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu);
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  }
};

TEST(Curve, SavedCertificatesLoadBackAndAreNeverOverwritten) {
  Dir dir;
  const CurveKeyPair pair = courier::new_curve_key_pair();
  courier::save_certificate(pair, dir / "svc");
  const CurveKeyPair secret = courier::load_certificate(dir / "svc.key_secret");
  EXPECT_EQ(secret.public_key, pair.public_key);
  EXPECT_EQ(secret.secret_key, pair.secret_key);
  const CurveKeyPair pub = courier::load_certificate(dir / "svc.key");
  EXPECT_EQ(pub.public_key, pair.public_key);
  EXPECT_TRUE(pub.secret_key.empty()) << "the public certificate holds no secret";
  struct stat st {};
  ASSERT_EQ(::stat((dir / "svc.key_secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(courier::save_certificate(courier::new_curve_key_pair(), dir / "svc"), ConfigError);
  EXPECT_EQ(courier::load_certificate(dir / "svc.key_secret").secret_key, pair.secret_key) << "kept";
}

TEST(Curve, UnreadableOrMalformedCertificatesAreConfigErrorsNamingTheFile) {
  Dir dir;
  try {
    (void)courier::load_certificate(dir / "missing.key");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.key"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "bad.key") << "metadata\ncurve\n    public-key = \"too short\"\n";
  EXPECT_THROW((void)courier::load_certificate(dir / "bad.key"), ConfigError);
  std::ofstream(dir / "none.key") << "# nothing\n";
  EXPECT_THROW((void)courier::load_certificate(dir / "none.key"), ConfigError);
}

TEST(Curve, PushPullAreEncryptedAndAnyClientWithTheServerKeyMayConnect) {
  const CurveKeyPair server = courier::new_curve_key_pair();
  courier::PullOptions po;
  po.socket = server_side(server);
  courier::Pull<std::string> pull(po);
  pull.bind("tcp://127.0.0.1:*");
  courier::PushOptions so;
  so.socket = client_side(server);  // no pair of its own: a fresh one
  courier::Push<std::string> push(so);
  push.connect(pull.last_endpoint());
  push.send(std::string("secret"));
  EXPECT_EQ(pull.receive(5000ms), std::optional<std::string>("secret"));
}

TEST(Curve, AnAllowListLetsOnlyItsKeysInAndReportsTheOthers) {
  Dir keys, allow;
  const CurveKeyPair server = courier::new_curve_key_pair();
  const CurveKeyPair alice = courier::new_curve_key_pair();
  const CurveKeyPair mallory = courier::new_curve_key_pair();
  courier::save_certificate(alice, keys / "alice");
  fs::copy_file(keys / "alice.key", allow / "alice.key");
  RefusalLog refusals;

  courier::PullOptions po;
  po.socket = server_side(server, allow.path.string());
  courier::Pull<int> pull(po);
  pull.bind("tcp://127.0.0.1:*");

  courier::PushOptions as_alice;
  as_alice.socket = client_side(server, alice);
  courier::Push<int> from_alice(as_alice);
  from_alice.connect(pull.last_endpoint());
  from_alice.send(1);
  EXPECT_EQ(pull.receive(5000ms), std::optional<int>(1));

  courier::PushOptions as_mallory;
  as_mallory.socket = client_side(server, mallory);
  as_mallory.socket.linger = 0ms;
  courier::Push<int> from_mallory(as_mallory);
  from_mallory.connect(pull.last_endpoint());
  (void)from_mallory.send(2, 200ms);
  EXPECT_FALSE(pull.receive(700ms)) << "a key outside the allow-list gets nothing through";
  EXPECT_TRUE(courier::test::wait_until([&] { return refusals.has(mallory.public_key); }, 5000ms))
      << "the refusal names the client's key";

  courier::PushOptions plain;
  plain.socket.linger = 0ms;
  courier::Push<int> from_plain(plain);
  from_plain.connect(pull.last_endpoint());
  (void)from_plain.send(3, 200ms);
  EXPECT_FALSE(pull.receive(500ms)) << "a plain client gets nothing through";
}

TEST(Curve, RequestReplyOverCurve) {
  const CurveKeyPair server_keys = courier::new_curve_key_pair();
  courier::ServerOptions so;
  so.socket = server_side(server_keys);
  courier::Server server(so);
  server.bind("tcp://127.0.0.1:*");
  server.handle<std::string>([](const std::string& s) { return s + "!"; });
  std::thread serving([&] {
    for (int i = 0; i < 50 && server.handled_requests() == 0; ++i) server.poll(100ms);
  });
  courier::ClientOptions co;
  co.socket = client_side(server_keys);
  courier::Client client(co);
  client.connect(server.last_endpoint());
  EXPECT_EQ(client.call<std::string>(std::string("hi"), 5000ms), "hi!");
  serving.join();
}

// A plain proxy client in front of a CURVE peer: every connection fails its
// handshake at once. The client must wait for ZeroMQ's own retries, not open
// socket after socket (each one lingers with its file descriptors).
TEST(Curve, APlainProxyClientFacingACurvePeerDoesNotSpin) {
  courier::ServerOptions so;
  so.socket = server_side(courier::new_curve_key_pair());
  courier::Server curve_peer(so);
  curve_peer.bind("tcp://127.0.0.1:*");
  courier::ProducerOptions po;
  po.endpoint = curve_peer.last_endpoint();
  po.close_timeout = 0ms;
  courier::Producer producer(po);
  producer.publish_async("q", 1);
  courier::AdminOptions ao;
  ao.endpoint = curve_peer.last_endpoint();
  ao.timeout = 1500ms;
  courier::Admin admin(ao);
  EXPECT_THROW((void)admin.stats(), courier::TimeoutError) << "no answer, and no crash (EMFILE)";
  EXPECT_FALSE(producer.wait_connected(10ms));
  EXPECT_LE(producer.reconnects(), 2u) << "reopened on every failed handshake";
}

TEST(Curve, BadKeysAndOptionsAreConfigErrors) {
  const CurveKeyPair server = courier::new_curve_key_pair();
  auto pull_with = [](courier::SocketOptions o) {
    courier::PullOptions po;
    po.socket = std::move(o);
    return courier::RawPull(po);
  };
  courier::SocketOptions no_secret;
  no_secret.curve.server = true;
  EXPECT_THROW(pull_with(no_secret), ConfigError) << "a server needs its secret key";
  courier::SocketOptions short_key;
  short_key.curve.server_key = "abc";
  EXPECT_THROW(pull_with(short_key), ConfigError) << "a key is 40 Z85 characters";
  courier::SocketOptions not_a_dir = server_side(server, "/nonexistent/courier/allow");
  EXPECT_THROW(pull_with(not_a_dir), ConfigError);
  courier::SocketOptions both = server_side(server);
  both.curve.server_key = server.public_key;
  EXPECT_THROW(pull_with(both), ConfigError) << "server or client, not both";
  courier::SocketOptions allow_for_client = client_side(server);
  allow_for_client.curve.allow_dir = "/tmp";
  EXPECT_THROW(pull_with(allow_for_client), ConfigError) << "an allow-list is the server's";
}

}  // namespace
