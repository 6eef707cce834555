// The typed CQP1 client messages (src/protocol/requests.hpp, replies.hpp):
// what a client encodes is what the proxy's parser reads (the same HeaderView
// with the proxy's request limits), and the replies a client reads come out
// typed, with the forms and defaults PROTOCOL.md §3.2/§3.4 allow.
#include "protocol/replies.hpp"
#include "protocol/requests.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace courier::cqp1 {
namespace {

// Parses `buf` as the proxy parses a request header.
HeaderView as_request(const msgpack::sbuffer& buf, msgpack::zone& zone) {
  return HeaderView::parse(buf.data(), buf.size(), zone, HeaderView::From::client);
}

// Builds a reply header from a msgpack-c value, as the proxy would send it.
template <class T>
std::string packed(const T& value) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, value);
  return std::string(buf.data(), buf.size());
}

HeaderView as_reply(const std::string& frame, msgpack::zone& zone) {
  return HeaderView::parse(frame.data(), frame.size(), zone, HeaderView::From::proxy);
}

TEST(Cqp1Messages, SinglePutCarriesItsIdAndOnlyTheOptionsSet) {
  msgpack::sbuffer buf;
  encode(buf, Put{"orders", 7, 0, std::nullopt}, 1,
         [](msgpack::packer<msgpack::sbuffer>& p, std::size_t) { pack_string(p, "id-1"); });
  msgpack::zone zone;
  HeaderView h = as_request(buf, zone);
  EXPECT_EQ(h.need_queue(), "orders");
  EXPECT_EQ(h.need_uint(key::tag), 7u);
  EXPECT_EQ(h.producer_id(key::id)->bytes, "id-1");
  EXPECT_EQ(h.find(key::n), nullptr) << "one message: not the batch form";
  EXPECT_EQ(h.find(key::delay), nullptr);
  EXPECT_EQ(h.find(key::ttl), nullptr);
  EXPECT_EQ(h.map().size, 3u);
}

TEST(Cqp1Messages, BatchPutCarriesNAndEveryIdInOrder) {
  const std::vector<std::string> ids{"a", "b", "c"};
  msgpack::sbuffer buf;
  encode(buf, Put{"q", 9, 250, 60000}, ids.size(),
         [&](msgpack::packer<msgpack::sbuffer>& p, std::size_t i) { pack_string(p, ids[i]); });
  msgpack::zone zone;
  HeaderView h = as_request(buf, zone);
  EXPECT_EQ(h.need_uint(key::n), 3u);
  const msgpack::object_array* got = h.array(key::ids);
  ASSERT_NE(got, nullptr);
  ASSERT_EQ(got->size, 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(as_producer_id(got->ptr[i], "id")->bytes, ids[i]);
  EXPECT_EQ(h.uint(key::delay), 250u);
  EXPECT_EQ(h.uint(key::ttl), 60000u);
  EXPECT_EQ(h.find(key::id), nullptr) << "the batch form names its ids under 'ids'";
}

TEST(Cqp1Messages, ConsumeSendsBatchOnlyFromTwoAndAutoAckOnlyWhenTrue) {
  msgpack::sbuffer buf;
  msgpack::zone zone;
  encode(buf, Consume{"jobs", 10, false, 1, std::nullopt});
  HeaderView plain = as_request(buf, zone);
  EXPECT_EQ(plain.map().size, 2u);
  EXPECT_EQ(plain.need_uint(key::credit), 10u);
  encode(buf, Consume{"jobs", 10, true, 64, 5});
  HeaderView full = as_request(buf, zone);
  EXPECT_EQ(full.boolean(key::auto_ack), true);
  EXPECT_EQ(full.uint(key::batch), 64u);
  EXPECT_EQ(full.uint(key::limit), 5u);
}

TEST(Cqp1Messages, SettleDeclareCreditAndQueueOnlyForms) {
  msgpack::sbuffer buf;
  msgpack::zone zone;
  const std::vector<std::uint64_t> ids{3, 5};
  encode(buf, Settle{&ids, false});
  HeaderView nack = as_request(buf, zone);
  ASSERT_NE(nack.array(key::d), nullptr);
  EXPECT_EQ(nack.array(key::d)->size, 2u);
  EXPECT_EQ(nack.boolean(key::requeue), false);

  Declare d;
  d.queue = "lock";
  d.tokens = 1;
  d.ack_timeout = 3000;
  encode(buf, d);
  HeaderView declare = as_request(buf, zone);
  EXPECT_EQ(declare.map().size, 3u) << "unset options are not sent";
  EXPECT_EQ(declare.uint(key::tokens), 1u);

  encode(buf, Credit{"q", 4});
  EXPECT_EQ(as_request(buf, zone).uint(key::n), 4u);
  encode(buf, QueueOnly{});
  EXPECT_EQ(as_request(buf, zone).map().size, 0u) << "STATS of every queue: the empty map";
  encode(buf, QueueOnly{"q"});
  EXPECT_EQ(as_request(buf, zone).need_queue(), "q");
}

TEST(Cqp1Messages, ErrorRepliesSayWhatTheyAnswer) {
  msgpack::zone zone;
  const std::string put_error = packed(std::map<std::string, msgpack::type::variant>{
      {"tag", uint64_t{4}}, {"code", uint64_t{429}}, {"reason", std::string("queue full")}});
  ErrorReply e = ErrorReply::read(as_reply(put_error, zone));
  EXPECT_EQ(e.code, 429);
  EXPECT_EQ(e.reason, "queue full");
  EXPECT_EQ(e.tag, 4u);
  EXPECT_FALSE(e.answers_request());

  const std::string bare = packed(std::map<std::string, uint64_t>{{"code", 409}});
  ErrorReply b = ErrorReply::read(as_reply(bare, zone));
  EXPECT_TRUE(b.answers_request());
  EXPECT_EQ(b.reason, "(no reason given)");

  const std::string about_ids = packed(std::map<std::string, std::vector<uint64_t>>{{"d", {1, 2}}});
  ErrorReply i = ErrorReply::read(as_reply(about_ids, zone));
  ASSERT_NE(i.ids, nullptr);
  EXPECT_EQ(i.ids->size, 2u);
  EXPECT_FALSE(i.answers_request());
}

TEST(Cqp1Messages, ConfirmReadsBothFormsAndForgivesMissingLists) {
  msgpack::zone zone;
  const std::string one = packed(std::map<std::string, msgpack::type::variant>{
      {"tag", uint64_t{1}}, {"seq", uint64_t{17}}, {"dup", true}});
  ConfirmReply c = ConfirmReply::read(as_reply(one, zone));
  EXPECT_EQ(c.tag(), 1u);
  EXPECT_EQ(c.seq(0), 17u);
  EXPECT_TRUE(c.dup(0));

  const std::string batch = packed(std::map<std::string, msgpack::type::variant>{
      {"tag", uint64_t{2}}, {"n", uint64_t{3}},
      {"seq", std::vector<msgpack::type::variant>{uint64_t{5}, uint64_t{6}, uint64_t{7}}}});
  ConfirmReply b = ConfirmReply::read(as_reply(batch, zone));
  EXPECT_EQ(b.seq(2), 7u);
  EXPECT_FALSE(b.dup(2)) << "no dup list: not duplicates";
  EXPECT_EQ(b.seq(9), 0u) << "past the list: 0, not a crash";

  const std::string untagged = packed(std::map<std::string, uint64_t>{{"seq", 1}});
  EXPECT_THROW(ConfirmReply::read(as_reply(untagged, zone)), BadRequest);
}

TEST(Cqp1Messages, DeliverReadsTheSingleAndTheBatchForm) {
  msgpack::zone zone;
  const std::string one = packed(std::map<std::string, msgpack::type::variant>{
      {"q", std::string("jobs")}, {"d", uint64_t{11}}, {"seq", uint64_t{3}}, {"attempt", uint64_t{2}},
      {"ts", uint64_t{1700}}, {"id", std::string("p-1")}});
  HeaderView h1 = as_reply(one, zone);
  DeliverReply r = DeliverReply::read(h1, 1);
  EXPECT_FALSE(r.batch());
  ASSERT_EQ(r.size(), 1u);
  Delivered m = r.at(0);
  EXPECT_EQ(m.d, 11u);
  EXPECT_EQ(m.attempt, 2u);
  EXPECT_EQ(m.ts_ms, 1700u);
  EXPECT_EQ(m.id->bytes, "p-1");
  EXPECT_EQ(r.queue(), "jobs");

  using V = msgpack::type::variant;
  const std::string batch = packed(std::map<std::string, V>{
      {"q", std::string("jobs")}, {"n", uint64_t{2}},
      {"d", std::vector<V>{uint64_t{20}, uint64_t{21}}}, {"seq", std::vector<V>{uint64_t{1}, uint64_t{2}}},
      {"id", std::vector<V>{std::string("x"), V()}}});
  HeaderView h2 = as_reply(batch, zone);
  DeliverReply b = DeliverReply::read(h2, 2);
  EXPECT_TRUE(b.batch());
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b.at(1).d, 21u);
  EXPECT_EQ(b.at(1).attempt, 1u) << "no attempt list: first delivery";
  EXPECT_EQ(b.at(0).id->bytes, "x");
  EXPECT_FALSE(b.at(1).id) << "nil: no producer id";
  EXPECT_EQ(DeliverReply::read(h2, 1).size(), 1u) << "only as many messages as body frames";

  const std::string short_d = packed(std::map<std::string, V>{
      {"n", uint64_t{2}}, {"d", std::vector<V>{uint64_t{20}}}, {"seq", std::vector<V>{uint64_t{1}, uint64_t{2}}}});
  HeaderView h3 = as_reply(short_d, zone);
  EXPECT_THROW(DeliverReply::read(h3, 2).at(1), BadRequest);
}

TEST(Cqp1Messages, StatsReadsEveryQueueAndIgnoresUnknownFigures) {
  using V = msgpack::type::variant;
  msgpack::zone zone;
  const std::string stats = packed(std::map<std::string, V>{
      {"queues", std::multimap<V, V>{{std::string("a"), std::multimap<V, V>{{std::string("depth"), uint64_t{4}},
                                                                             {std::string("future_figure"), uint64_t{9}},
                                                                             {std::string("tokens"), uint64_t{1}}}}}},
      {"uptime_ms", uint64_t{1234}},
      {"clients", uint64_t{2}}});
  ProxyStats s = read_stats(as_reply(stats, zone));
  ASSERT_EQ(s.queues.count("a"), 1u);
  EXPECT_EQ(s.queues["a"].depth, 4u);
  EXPECT_EQ(s.queues["a"].tokens, 1u);
  EXPECT_EQ(s.uptime_ms, 1234u);
  EXPECT_EQ(s.clients, 2u);
}

}  // namespace
}  // namespace courier::cqp1
