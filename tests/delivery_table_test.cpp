// The proxy's DeliveryTable (proxy/delivery_table.hpp): every index follows
// the deliveries, and ack deadlines come out in time order.
#include "delivery_table.hpp"

#include <gtest/gtest.h>

using courier::proxy::DeliveryTable;
using courier::proxy::Queue;
using courier::proxy::Subscription;
using courier::proxy::UnackedDelivery;

namespace {

UnackedDelivery delivery(Subscription& c, uint64_t seq) {
  UnackedDelivery d;
  d.consumer = &c;
  d.seq = seq;
  return d;
}

struct DeliveryTableTest : ::testing::Test {
  Queue q;
  Subscription a, b;
  DeliveryTable table;
  void SetUp() override {
    a.queue = &q;
    b.queue = &q;
  }
};

}  // namespace

TEST_F(DeliveryTableTest, IdsOnlyGrowAndAutoAckOnesAreNeverRecorded) {
  const uint64_t first = table.new_id();
  const uint64_t skipped = table.new_id();  // an auto_ack delivery
  const uint64_t third = table.new_id();
  EXPECT_EQ(skipped, first + 1);
  EXPECT_EQ(third, first + 2);
  table.add(first, delivery(a, 10));
  EXPECT_EQ(table.find(skipped), nullptr);
  EXPECT_EQ(table.size(), 1u);
}

TEST_F(DeliveryTableTest, AddAndRemoveKeepSubscriptionAndQueueIndexesInStep) {
  table.add(1, delivery(a, 10));
  table.add(2, delivery(b, 11));
  table.add(3, delivery(a, 12));
  EXPECT_EQ(a.deliveries, (std::unordered_set<uint64_t>{1, 3}));
  EXPECT_EQ(b.deliveries, (std::unordered_set<uint64_t>{2}));
  EXPECT_EQ(q.inflight, (std::unordered_set<uint64_t>{10, 11, 12}));

  const auto gone = table.remove(1);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->seq, 10u);
  EXPECT_EQ(gone->consumer, &a);
  EXPECT_EQ(a.deliveries, (std::unordered_set<uint64_t>{3}));
  EXPECT_EQ(q.inflight, (std::unordered_set<uint64_t>{11, 12}));
  EXPECT_FALSE(table.remove(1));  // unknown now
  EXPECT_EQ(table.find(1), nullptr);
  ASSERT_NE(table.find(3), nullptr);
  EXPECT_EQ(table.find(3)->seq, 12u);
}

TEST_F(DeliveryTableTest, DeadlinesComeOutEarliestFirstAndGoWithTheirDelivery) {
  for (uint64_t id = 1; id <= 3; ++id) table.add(id, delivery(a, 100 + id));
  EXPECT_FALSE(table.next_deadline());
  table.set_deadline(1, 500);
  table.set_deadline(2, 300);
  table.set_deadline(3, 400);
  EXPECT_EQ(table.next_deadline(), 300u);
  EXPECT_FALSE(table.overdue(299));
  EXPECT_EQ(table.overdue(300), 2u);

  table.set_deadline(2, 600);  // TOUCH moves it
  EXPECT_EQ(table.overdue(450), 3u);
  table.remove(3);  // settled: its deadline goes too
  EXPECT_EQ(table.overdue(450), std::nullopt);
  EXPECT_EQ(table.next_deadline(), 500u);
  EXPECT_EQ(table.find(2)->ack_deadline_ms, 600u);

  table.set_deadline(42, 1);  // not in flight: ignored
  EXPECT_EQ(table.next_deadline(), 500u);
}
