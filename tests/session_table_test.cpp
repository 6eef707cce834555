// The proxy's SessionTable (proxy/sessions.hpp): sessions by routing id,
// who counts as a client, and who has gone silent.
#include "sessions.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using courier::proxy::SessionTable;
using courier::proxy::UnreadDeliveries;

TEST(SessionTable, FirstMessageMakesTheSessionLaterOnesFindIt) {
  SessionTable t;
  auto& a = t.heard_from("a", 100);
  EXPECT_EQ(a.peer, "a");
  EXPECT_EQ(a.last_seen_ms, 100u);
  auto& again = t.heard_from("a", 250);
  EXPECT_EQ(&again, &a);
  EXPECT_EQ(a.last_seen_ms, 250u);
  EXPECT_EQ(t.find("a"), &a);
  EXPECT_EQ(t.find("b"), nullptr);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.erase("a"));
  EXPECT_FALSE(t.erase("a"));
  EXPECT_EQ(t.size(), 0u);
}

TEST(SessionTable, OnlySessionsThatSaidHelloAreClients) {
  SessionTable t;
  t.heard_from("a", 0).said_hello = true;
  t.heard_from("b", 0);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.clients(), 1u);
}

TEST(SessionTable, SilentMeansNotHeardForLongerThanTheLimitDeafTurnsExcused) {
  SessionTable t;
  t.heard_from("old", 1000);
  t.heard_from("new", 4000);
  auto gone = t.silent(5000, 3000, 0);
  EXPECT_EQ(gone, std::vector<std::string>{"old"});
  EXPECT_TRUE(t.silent(4000, 3000, 0).empty());  // exactly the limit: not yet
  // The proxy could not hear anyone until 2500: "old" counts from there.
  EXPECT_TRUE(t.silent(5000, 3000, 2500).empty());
}

TEST(SessionTable, ForgettingAQueueDropsItsUnreadAccountingEverywhere) {
  SessionTable t;
  t.heard_from("a", 0).unread[7].add(1, 2, 2, 100);
  t.heard_from("a", 0).unread[8].add(3, 3, 1, 50);
  t.heard_from("b", 0).unread[7].add(4, 4, 1, 10);
  t.forget_queue(7);
  EXPECT_EQ(t.find("a")->unread.count(7), 0u);
  EXPECT_EQ(t.find("a")->unread.count(8), 1u);
  EXPECT_TRUE(t.find("b")->unread.empty());
}
