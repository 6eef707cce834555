// The CQP1 unit (src/protocol/cqp1.hpp), on its own: command names, queue
// names, UTF-8, header parsing and its limits, typed getters and their errors.
// The proxy and the clients both build on it; these pin what they share.
#include "protocol/cqp1.hpp"

#include <gtest/gtest.h>

#include <string>

namespace courier::cqp1 {
namespace {

std::string pack_map(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& fill, uint32_t n) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  p.pack_map(n);
  fill(p);
  return std::string(buf.data(), buf.size());
}

HeaderView parse(const std::string& frame, msgpack::zone& zone, HeaderView::From from = HeaderView::From::client) {
  return HeaderView::parse(frame.data(), frame.size(), zone, from);
}

TEST(Cqp1, CommandNamesRoundTripAndUnknownNamesAreUnknown) {
  for (Command c : {Command::HELLO, Command::PUT, Command::DELETE, Command::DELETED, Command::ERROR}) {
    EXPECT_EQ(parse_command(command_name(c)), c);
  }
  EXPECT_EQ(parse_command("put"), Command::UNKNOWN) << "names are case-sensitive";
  EXPECT_EQ(parse_command(""), Command::UNKNOWN);
}

TEST(Cqp1, QueueNamesAreOneTo200BytesOfTheAllowedSet) {
  EXPECT_TRUE(valid_queue_name("orders.v2:eu-west_1"));
  EXPECT_TRUE(valid_queue_name(std::string(200, 'q')));
  EXPECT_FALSE(valid_queue_name(std::string(201, 'q')));
  EXPECT_FALSE(valid_queue_name(""));
  EXPECT_FALSE(valid_queue_name("a b"));
  EXPECT_FALSE(valid_queue_name("caf\xc3\xa9"));
}

TEST(Cqp1, Utf8ValidationRefusesOverlongsSurrogatesAndTruncation) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xff\xfe"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf")) << "overlong '/'";
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80")) << "a UTF-16 surrogate";
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80")) << "past U+10FFFF";
  EXPECT_FALSE(valid_utf8("\xe2\x82")) << "truncated";
}

// ASCII is checked eight bytes at a time: a bad or multi-byte sequence must
// be judged the same at every offset, inside a word or across two.
TEST(Cqp1, Utf8ValidationIsTheSameAtEveryOffsetOfALongString) {
  for (std::size_t at = 0; at <= 24; ++at) {
    const std::string before(at, 'a'), after(24 - at, 'z');
    EXPECT_TRUE(valid_utf8(before + after)) << at;
    EXPECT_TRUE(valid_utf8(before + "\xc3\xa9" + after)) << "é at " << at;
    EXPECT_TRUE(valid_utf8(before + "\xf0\x9f\x98\x80" + after)) << "a 4-byte sequence at " << at;
    EXPECT_FALSE(valid_utf8(before + "\xff" + after)) << "0xff at " << at;
    EXPECT_FALSE(valid_utf8(before + "\xed\xa0\x80" + after)) << "a surrogate at " << at;
    EXPECT_FALSE(valid_utf8(before + "\xc3" + after)) << "a lead byte without its continuation at " << at;
    EXPECT_FALSE(valid_utf8(before + after + "\xe2\x82")) << "truncated at the end, " << at;
  }
}

TEST(Cqp1, HeaderMustBeOneMapWithStringKeys) {
  msgpack::zone zone;
  EXPECT_THROW(parse("\x91\x01", zone), BadRequest) << "an array";
  EXPECT_THROW(parse("\x81\x01\x02", zone), BadRequest) << "an integer key";
  EXPECT_THROW(parse("\x80\x80", zone), BadRequest) << "trailing bytes";
  EXPECT_THROW(parse("\xc1", zone), BadRequest) << "garbage";
  EXPECT_NO_THROW(parse("\x80", zone));
}

TEST(Cqp1, RequestLimitsRefuseLargeMapsThatReplyLimitsAccept) {
  const std::string big = pack_map([](auto& p) {
    for (int i = 0; i < 300; ++i) {
      p.pack("q" + std::to_string(i));
      p.pack(i);
    }
  }, 300);
  msgpack::zone zone;
  EXPECT_THROW(parse(big, zone, HeaderView::From::client), BadRequest);
  const HeaderView h = parse(big, zone, HeaderView::From::proxy);
  EXPECT_EQ(h.map().size, 300u) << "a STATS reply lists every queue";
  EXPECT_THROW(parse("\xdf\xff\xff\xff\xff", zone, HeaderView::From::proxy), BadRequest)
      << "a count larger than the frame is refused before allocating";
}

TEST(Cqp1, TypedGettersNameTheKeyOnAWrongType) {
  msgpack::zone zone;
  const std::string frame = pack_map([](auto& p) {
    p.pack("tag"); p.pack(-1);
    p.pack("q"); p.pack("ok.queue");
    p.pack("flag"); p.pack(1);
  }, 3);
  const HeaderView h = parse(frame, zone);
  try {
    (void)h.uint("tag");
    FAIL() << "a negative tag must be refused";
  } catch (const BadRequest& e) {
    EXPECT_NE(std::string(e.what()).find("'tag'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(h.need_queue(), "ok.queue");
  EXPECT_THROW((void)h.boolean("flag"), BadRequest);
  EXPECT_FALSE(h.uint("absent"));
  EXPECT_THROW((void)h.need_uint("absent"), BadRequest);
}

TEST(Cqp1, ProducerIdsAreStrOrBinOfAtMost128BytesAndStrMustBeUtf8) {
  msgpack::zone zone;
  const std::string bin_id(128, '\xff');
  const std::string frame = pack_map([&](auto& p) {
    p.pack("bin"); p.pack_bin(128); p.pack_bin_body(bin_id.data(), 128);
    p.pack("long"); p.pack(std::string(129, 'a'));
    p.pack("bad"); p.pack_str(2); p.pack_str_body("\xff\xfe", 2);
    p.pack("nil"); p.pack_nil();
  }, 4);
  const HeaderView h = parse(frame, zone);
  const auto id = h.producer_id("bin");
  ASSERT_TRUE(id);
  EXPECT_TRUE(id->binary);
  EXPECT_EQ(id->bytes.size(), 128u);
  EXPECT_THROW((void)h.producer_id("long"), BadRequest);
  EXPECT_THROW((void)h.producer_id("bad"), BadRequest) << "a str id a pyzmq raw=False client could not decode";
  EXPECT_THROW((void)h.producer_id("nil"), BadRequest);
}

TEST(Cqp1, MapWriterWritesWhatHeaderViewReads) {
  msgpack::sbuffer buf;
  {
    MapWriter w(buf, 2);
    pack_string(w.key("q"), "orders");
    w.key("tag").pack(uint64_t{7});
  }
  msgpack::zone zone;
  const HeaderView h = HeaderView::parse(buf.data(), buf.size(), zone);
  EXPECT_EQ(h.need_queue(), "orders");
  EXPECT_EQ(h.need_uint("tag"), 7u);
}

}  // namespace
}  // namespace courier::cqp1
