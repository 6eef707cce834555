// The proxy's DeliveryTable (proxy/delivery_table.hpp): every index follows
// the deliveries, and ack deadlines come out in time order.
#include "delivery_table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

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
  EXPECT_EQ(a.unacked_ids(), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(b.unacked_ids(), (std::vector<uint64_t>{2}));
  EXPECT_EQ(q.inflight, (std::unordered_set<uint64_t>{10, 11, 12}));

  const auto gone = table.remove(1);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->seq, 10u);
  EXPECT_EQ(gone->consumer, &a);
  EXPECT_EQ(a.unacked_ids(), (std::vector<uint64_t>{3}));
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

// Each subscription's list is linked through the table's elements: it must
// survive the table growing (rehashes), removals at either end and in the
// middle, and ids coming back to recycled nodes.
TEST_F(DeliveryTableTest, SubscriptionListsFollowRandomAddsAndRemovesThroughRehashes) {
  std::mt19937 rng(7);
  std::map<uint64_t, Subscription*> model;  // id -> its consumer, in id order
  auto ids_of = [&](const Subscription* c) {
    std::vector<uint64_t> ids;
    for (const auto& [id, owner] : model) {
      if (owner == c) ids.push_back(id);
    }
    return ids;
  };
  for (int step = 0; step < 40000; ++step) {
    if (model.empty() || rng() % 5 < 3) {
      Subscription& c = rng() % 2 ? a : b;
      const uint64_t id = table.new_id();
      table.add(id, delivery(c, 1000000 + id));
      model[id] = &c;
    } else {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      ASSERT_TRUE(table.remove(it->first));
      model.erase(it);
    }
    if (step % 997 == 0) {
      ASSERT_EQ(a.unacked_ids(), ids_of(&a)) << "step " << step;
      ASSERT_EQ(b.unacked_ids(), ids_of(&b)) << "step " << step;
      ASSERT_EQ(a.unacked + b.unacked, model.size());
    }
  }
  while (!model.empty()) {
    ASSERT_TRUE(table.remove(model.begin()->first));
    model.erase(model.begin());
  }
  EXPECT_TRUE(a.unacked_ids().empty());
  EXPECT_EQ(a.newest_unacked, nullptr);
  EXPECT_EQ(b.unacked, 0u);
}
