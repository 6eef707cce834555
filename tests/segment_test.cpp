// proxy/segment.hpp: one turn's messages of a queue as one journal record.
// What is built reads back message by message, and a damaged value is
// refused with a JournalError, never read past its end.
#include "segment.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace courier::proxy {
namespace {

MessageMeta meta(uint64_t ts, std::optional<cqp1::ProducerId> id = std::nullopt) {
  MessageMeta m;
  m.ts_ms = ts;
  m.due_ms = ts + 1;
  m.expire_ms = ts + 2;
  m.id = id;
  return m;
}

std::string build(const SegmentBuilder& b) {
  std::string value(b.size(), '\0');
  b.write_to(value.data());
  return value;
}

TEST(Segment, MessagesReadBackBySeqWithTheirMetaAndBodies) {
  SegmentBuilder b;
  const std::string big(70000, 'x');  // past a page: a record may be any size
  b.add(meta(10, cqp1::ProducerId{"p-a1", false}), "first");
  b.add(meta(20), "");
  b.add(meta(30, cqp1::ProducerId{std::string_view("\x00\xff", 2), true}), big);
  ASSERT_EQ(b.count(), 3u);
  const std::string value = build(b);
  const SegmentView v = SegmentView::parse(/*first_seq=*/100, value);
  EXPECT_EQ(v.first_seq(), 100u);
  EXPECT_EQ(v.count(), 3u);
  EXPECT_EQ(v.end_seq(), 103u);
  EXPECT_FALSE(v.holds(99));
  EXPECT_TRUE(v.holds(100));
  EXPECT_TRUE(v.holds(102));
  EXPECT_FALSE(v.holds(103));

  const MessageView a = v.message(100);
  EXPECT_EQ(a.seq, 100u);
  EXPECT_EQ(a.meta.ts_ms, 10u);
  EXPECT_EQ(a.meta.due_ms, 11u);
  EXPECT_EQ(a.meta.expire_ms, 12u);
  ASSERT_TRUE(a.meta.id);
  EXPECT_EQ(a.meta.id->bytes, "p-a1");
  EXPECT_FALSE(a.meta.id->binary);
  EXPECT_EQ(a.body, "first");

  const MessageView empty = v.message(101);
  EXPECT_EQ(empty.meta.ts_ms, 20u);
  EXPECT_FALSE(empty.meta.id);
  EXPECT_EQ(empty.body, "");

  const MessageView c = v.message(102);
  ASSERT_TRUE(c.meta.id);
  EXPECT_TRUE(c.meta.id->binary);
  EXPECT_EQ(c.meta.id->bytes, std::string_view("\x00\xff", 2));
  EXPECT_EQ(c.body, big);
}

TEST(Segment, ABuilderClearedStartsANewSegment) {
  SegmentBuilder b;
  b.add(meta(1), "one");
  b.clear();
  EXPECT_TRUE(b.empty());
  b.add(meta(2), "two");
  const std::string value = build(b);
  const SegmentView v = SegmentView::parse(7, value);
  EXPECT_EQ(v.count(), 1u);
  EXPECT_EQ(v.message(7).body, "two");
}

// The value of a segment of `n` messages "m0", "m1", ...
std::string segment_of(int n) {
  SegmentBuilder b;
  for (int i = 0; i < n; ++i) b.add(meta(static_cast<uint64_t>(i)), "m" + std::to_string(i));
  return build(b);
}

void expect_damaged(uint64_t first, const std::string& value, const char* why) {
  try {
    (void)SegmentView::parse(first, value);
    ADD_FAILURE() << "accepted a damaged segment: " << why;
  } catch (const JournalError& e) {
    EXPECT_NE(std::string(e.what()).find("damaged"), std::string::npos) << e.what();
  }
}

TEST(Segment, DamagedValuesAreRefusedNotReadPastTheirEnd) {
  const std::string good = segment_of(3);
  ASSERT_NO_THROW((void)SegmentView::parse(1, good));

  expect_damaged(1, "", "empty");
  expect_damaged(1, std::string("\x01\x00", 2), "shorter than its count");
  expect_damaged(1, std::string(4, '\0'), "no message");
  for (std::size_t cut = 1; cut < good.size(); ++cut) {
    expect_damaged(1, good.substr(0, good.size() - cut), "truncated");
  }
  expect_damaged(1, good + "x", "a byte after the last record");

  std::string huge_count = good;
  const uint32_t many = 1u << 30;
  std::memcpy(huge_count.data(), &many, 4);
  expect_damaged(1, huge_count, "a count larger than the value");

  std::string out_of_order = good;  // record 1 ending before record 0
  uint32_t end0;
  std::memcpy(&end0, out_of_order.data() + 4, 4);
  const uint32_t before = end0 - 1;
  std::memcpy(out_of_order.data() + 8, &before, 4);
  expect_damaged(1, out_of_order, "offsets out of order");

  std::string too_short = good;  // record 0 shorter than a record's fixed part
  const uint32_t tiny = 3;
  std::memcpy(too_short.data() + 4, &tiny, 4);
  expect_damaged(1, too_short, "a record too short");

  expect_damaged(UINT64_MAX - 1, good, "seqs past the largest");
}

}  // namespace
}  // namespace courier::proxy
