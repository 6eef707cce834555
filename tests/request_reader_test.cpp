// The proxy's RequestReader (proxy/request_reader.hpp): what every command
// shares is checked before anything else, each fault refused with the 400
// text PROTOCOL.md §3 clients match on, and a good message decoded in place.
#include "request_reader.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <msgpack.hpp>

#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

using courier::cqp1::Command;
using courier::test::packb;
using courier::proxy::ClientRequest;
using courier::proxy::ReadMessage;
using courier::proxy::Refusal;
using courier::proxy::RequestReader;

namespace {

const std::string kPeer("\0\x80\x01pq", 5);  // ROUTER's ids are binary
const std::string kEmptyMap("\x80", 1);

// A message as ROUTER hands it over: the routing id, then the frames.
std::vector<zmq::message_t> message(std::initializer_list<std::string> frames) {
  std::vector<zmq::message_t> out;
  out.emplace_back(kPeer.data(), kPeer.size());
  for (const auto& f : frames) out.emplace_back(f.data(), f.size());
  return out;
}

// {"q": q, "tag": tag}, the header of a PUT.
std::string put_header(const std::string& q, uint64_t tag) {
  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> p(b);
  p.pack_map(2);
  p.pack(std::string("q"));
  p.pack(q);
  p.pack(std::string("tag"));
  p.pack(tag);
  return std::string(b.data(), b.size());
}

// A copy: a refusal owns its text, so it may outlive the message.
Refusal refusal(const ReadMessage& m) {
  const auto* r = std::get_if<Refusal>(&m.outcome);
  if (r == nullptr) throw std::logic_error("expected a refusal, the message was accepted");
  return *r;
}

const ClientRequest& request(const ReadMessage& m) {
  const auto* r = std::get_if<ClientRequest>(&m.outcome);
  if (r == nullptr) throw std::logic_error("expected a request, got: " + std::get<Refusal>(m.outcome).reason);
  return *r;
}

}  // namespace

TEST(RequestReader, TooFewFramesIsRefusedCountingThemWithoutTheRoutingId) {
  RequestReader reader;
  const ReadMessage m = reader.read(message({"CQP1", "PING"}));
  EXPECT_EQ(m.peer, kPeer);
  EXPECT_EQ(refusal(m).code, 400);
  EXPECT_EQ(refusal(m).reason, "expected frames [CQP1][COMMAND][header map][body...], got 2 frame(s)");
  EXPECT_FALSE(refusal(m).tag);
  EXPECT_EQ(refusal(reader.read(message({}))).reason,
            "expected frames [CQP1][COMMAND][header map][body...], got 0 frame(s)");
}

TEST(RequestReader, AFirstFrameOtherThanTheMagicIsRefused) {
  RequestReader reader;
  const ReadMessage m = reader.read(message({"CQP2", "PING", kEmptyMap}));
  EXPECT_EQ(m.peer, kPeer);
  EXPECT_EQ(refusal(m).code, 400);
  EXPECT_EQ(refusal(m).reason, "first frame must be the 4 bytes CQP1");
}

TEST(RequestReader, UnknownCommandIsRefusedEchoedPrintableAndShort) {
  RequestReader reader;
  EXPECT_EQ(refusal(reader.read(message({"CQP1", "FETCH\xff", kEmptyMap}))).reason,
            "unknown command 'FETCH\\xff' (HELLO PUT CONSUME ACK NACK TOUCH CREDIT CANCEL DECLARE STATS "
            "PURGE DELETE PING BYE)");
  const std::string long_name(40, 'X');
  EXPECT_EQ(refusal(reader.read(message({"CQP1", long_name, kEmptyMap}))).reason,
            "unknown command '" + std::string(32, 'X') +
                "' (HELLO PUT CONSUME ACK NACK TOUCH CREDIT CANCEL DECLARE STATS PURGE DELETE PING BYE)");
}

TEST(RequestReader, AReplysNameIsNotAClientCommand) {
  RequestReader reader;
  const Refusal r = refusal(reader.read(message({"CQP1", "CONFIRM", kEmptyMap})));
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.reason.rfind("unknown command 'CONFIRM'", 0), 0u) << r.reason;
}

TEST(RequestReader, AHeaderThatIsNotAMapIsRefusedNamingTheCommand) {
  RequestReader reader;
  const std::vector<int> array{1};
  const Refusal r = refusal(reader.read(message({"CQP1", "STATS", packb(array)})));
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.reason, "STATS: header must be a msgpack map (send \\x80 for an empty one)");
}

TEST(RequestReader, AHeaderThatIsNotMsgpackIsRefusedNamingTheCommand) {
  RequestReader reader;
  const Refusal r = refusal(reader.read(message({"CQP1", "HELLO", std::string("\xc1", 1)})));
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.reason.rfind("HELLO: header is not valid msgpack (", 0), 0u) << r.reason;
  EXPECT_FALSE(r.tag);
}

TEST(RequestReader, ABodyFrameOnACommandThatTakesNoneIsRefused) {
  RequestReader reader;
  const Refusal r = refusal(reader.read(message({"CQP1", "ACK", kEmptyMap, "body", "more"})));
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(r.reason, "ACK: takes no body frame, got 2");
  EXPECT_FALSE(r.tag);
}

TEST(RequestReader, AGoodPutIsDecodedWithItsTagAndItsBodiesLeftInTheFrames) {
  RequestReader reader;
  const auto frames = message({"CQP1", "PUT", put_header("jobs", 7), "b1", "b2"});
  const ReadMessage m = reader.read(frames);
  EXPECT_EQ(m.peer, kPeer);
  const ClientRequest& r = request(m);
  EXPECT_EQ(r.command, Command::PUT);
  EXPECT_EQ(r.name, "PUT");
  EXPECT_EQ(r.tag, 7u);
  EXPECT_EQ(r.header.str("q"), "jobs");
}

TEST(RequestReader, APutTagThatIsNotAUintIsNotEchoed) {
  RequestReader reader;
  const std::map<std::string, std::string> header{{"q", "jobs"}, {"tag", "seven"}};
  const auto frames = message({"CQP1", "PUT", packb(header), "b"});
  EXPECT_FALSE(request(reader.read(frames)).tag);
}

TEST(RequestReader, AGoodCommandOtherThanPutIsDecodedWithoutATag) {
  RequestReader reader;
  const std::map<std::string, uint64_t> header{{"tag", 5}, {"credit", 10}};
  const auto frames = message({"CQP1", "CONSUME", packb(header)});
  const ReadMessage m = reader.read(frames);
  const ClientRequest& r = request(m);
  EXPECT_EQ(r.command, Command::CONSUME);
  EXPECT_EQ(r.name, "CONSUME");
  EXPECT_FALSE(r.tag);  // only a PUT's is echoed
  EXPECT_EQ(r.header.uint("credit"), 10u);
}

TEST(RequestReader, TheNextReadReusesTheZoneAndDecodesItsOwnHeader) {
  RequestReader reader;
  const std::map<std::string, std::string> first{{"q", "first"}};
  const std::map<std::string, std::string> second{{"q", "second"}};
  const auto first_frames = message({"CQP1", "PURGE", packb(first)});
  EXPECT_EQ(request(reader.read(first_frames)).header.str("q"), "first");
  const auto second_frames = message({"CQP1", "PURGE", packb(second)});
  EXPECT_EQ(request(reader.read(second_frames)).header.str("q"), "second");
}

TEST(RequestReader, AFaultACommandFindsIsRefusedNamingItWithThePutTagEchoed) {
  RequestReader reader;
  const std::map<std::string, uint64_t> header{{"tag", 42}};
  const auto frames = message({"CQP1", "PUT", packb(header), "b"});
  const ReadMessage m = reader.read(frames);
  const ClientRequest& put = request(m);
  const Refusal bad = put.refused(courier::cqp1::BadRequest("\"q\" is required"));
  EXPECT_EQ(bad.code, 400);
  EXPECT_EQ(bad.reason, "PUT: \"q\" is required");
  EXPECT_EQ(bad.tag, 42u);
  const Refusal typed = put.refused(msgpack::type_error());
  EXPECT_EQ(typed.reason, "PUT: a header value has the wrong type");
  EXPECT_EQ(typed.tag, 42u);
}
