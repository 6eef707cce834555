// The proxy's LMDB journal: what is committed survives a reopen, what is not
// does not; dedup claims and pruning; time indexes; map growth and its limit.
#include "journal.hpp"
#include "journal_check.hpp"
#include "auto_id.hpp"
#include "size_option.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>
#include <utility>
#include <random>
#include <map>

namespace courier::proxy {
namespace {

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/courier-journal-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  JournalConfig config(uint64_t max_size = 64ull << 20) const { return {dir_ + "/data", max_size, true}; }
  std::string dir_;
};

MessageMeta meta_with_id(std::string_view id) {
  MessageMeta m;
  m.ts_ms = 1234;
  m.id = cqp1::ProducerId{id, false};
  return m;
}

TEST_F(JournalTest, CommittedMessagesSurviveReopenInSeqOrder) {
  {
    Journal j(config());
    for (uint64_t seq = 1; seq <= 3; ++seq) j.put_message(7, seq, meta_with_id("id"), "body" + std::to_string(seq));
    j.commit();
  }
  Journal j(config());
  auto m = j.next_message(7, 0);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->seq, 1u);
  EXPECT_EQ(m->body, "body1");
  EXPECT_EQ(m->meta.ts_ms, 1234u);
  ASSERT_TRUE(m->meta.id);
  EXPECT_EQ(m->meta.id->bytes, "id");
  m = j.next_message(7, 2);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->seq, 2u);
  EXPECT_FALSE(j.next_message(7, 4));
  EXPECT_FALSE(j.next_message(8, 0)) << "another queue's messages must not show";
}

// next_message steps forward from where it last stopped instead of searching
// from the root (journal.hpp, scan_cursor_). Whatever the turn writes in
// between — appends that split pages, erases now or at commit, another
// queue's records, commits — each read must still find exactly the first
// stored record at or after `from`, as a map of what was written says.
TEST_F(JournalTest, ReadingForwardFindsWhatAMapOfTheWritesFinds) {
  Journal j(config());
  std::map<std::pair<uint32_t, uint64_t>, std::string> stored;
  uint64_t next_seq[3] = {0, 1, 1};
  uint64_t read_from[3] = {0, 0, 0};
  std::mt19937 rng(13);
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  for (int step = 0; step < 6000; ++step) {
    const uint32_t qid = 1 + pick(2);
    const uint32_t op = pick(100);
    if (op < 30) {  // append: sizes that fill, split and overflow pages
      const uint64_t seq = next_seq[qid]++;
      std::string body(pick(4) == 0 ? 1 + pick(6000) : 1 + pick(300), static_cast<char>('a' + seq % 26));
      j.put_message(qid, seq, {}, body);
      stored[{qid, seq}] = body;
    } else if (op < 40 && !stored.empty()) {  // erase one now
      auto it = stored.lower_bound({qid, pick(static_cast<uint32_t>(next_seq[qid]))});
      if (it == stored.end()) continue;
      j.erase_message(it->first.first, it->first.second);
      stored.erase(it);
    } else if (op < 45) {  // erase one at commit: for segments, gone from reads at once
      auto it = stored.lower_bound({qid, pick(static_cast<uint32_t>(next_seq[qid]))});
      if (it == stored.end() || it->first.first != qid) continue;
      j.erase_message_at_commit(qid, it->first.second);
      stored.erase(it);
    } else if (op < 47) {
      j.commit();
    } else {  // read: mostly on from the last record, sometimes elsewhere
      const uint64_t from = pick(8) == 0 ? pick(static_cast<uint32_t>(next_seq[qid] + 1)) : read_from[qid];
      const auto m = j.next_message(qid, from);
      auto it = stored.lower_bound({qid, from});
      if (it == stored.end() || it->first.first != qid) {
        ASSERT_FALSE(m) << "step " << step << ": queue " << qid << " from " << from << " read seq " << m->seq;
        read_from[qid] = 0;
        continue;
      }
      ASSERT_TRUE(m) << "step " << step << ": queue " << qid << " from " << from << " found nothing";
      ASSERT_EQ(m->seq, it->first.second) << "step " << step << ": queue " << qid << " from " << from;
      ASSERT_EQ(m->body, it->second) << "step " << step;
      read_from[qid] = m->seq + 1;
    }
  }
}

TEST_F(JournalTest, UncommittedTurnIsGoneAfterAbortAndReopen) {
  {
    Journal j(config());
    j.put_message(1, 1, {}, "kept");
    j.commit();
    j.put_message(1, 2, {}, "lost");
    j.abort();
  }
  Journal j(config());
  EXPECT_TRUE(j.get_message(1, 1));
  EXPECT_FALSE(j.get_message(1, 2));
}

TEST_F(JournalTest, ErasesAtCommitRemoveExactlyThoseMessages) {
  Journal j(config());
  for (uint64_t seq = 1; seq <= 10; ++seq) j.put_message(1, seq, {}, "x");
  j.commit();
  for (uint64_t seq : {2, 3, 4, 8}) j.erase_message_at_commit(1, seq);
  j.erase_message_at_commit(1, 99);  // unknown: ignored
  j.commit();
  std::vector<uint64_t> left;
  for (auto m = j.next_message(1, 0); m; m = j.next_message(1, m->seq + 1)) left.push_back(m->seq);
  EXPECT_EQ(left, (std::vector<uint64_t>{1, 5, 6, 7, 9, 10}));
}

TEST_F(JournalTest, BinaryProducerIdKeepsItsType) {
  Journal j(config());
  MessageMeta m;
  m.id = cqp1::ProducerId{std::string_view("\x00\x01", 2), true};
  j.put_message(1, 1, m, "b");
  auto got = j.get_message(1, 1);
  ASSERT_TRUE(got && got->meta.id);
  EXPECT_TRUE(got->meta.id->binary);
  EXPECT_EQ(got->meta.id->bytes, std::string_view("\x00\x01", 2));
}

TEST_F(JournalTest, DedupClaimReturnsFirstSeqWithinWindowAndFreesAfter) {
  Journal j(config());
  j.dedup_begin(1, /*now=*/1000);
  EXPECT_FALSE(j.dedup_claim("a", 10, /*since=*/0));
  EXPECT_EQ(j.dedup_claim("a", 11, 0), std::optional<uint64_t>(10)) << "second claim in a batch is a duplicate";
  j.dedup_end();
  j.commit();
  EXPECT_EQ(j.dedup_live(1, "a", 500), std::optional<uint64_t>(10));
  EXPECT_FALSE(j.dedup_live(2, "a", 500)) << "dedup is per queue";
  // Past the window the id is free again and is re-claimed for a new seq.
  j.dedup_begin(1, 5000);
  EXPECT_FALSE(j.dedup_claim("a", 20, /*since=*/2000));
  j.dedup_end();
  EXPECT_EQ(j.dedup_live(1, "a", 2000), std::optional<uint64_t>(20));
}

TEST_F(JournalTest, DedupPruneForgetsOldIdsButNotReclaimedOnes) {
  Journal j(config());
  j.dedup_begin(1, 1000);
  j.dedup_claim("old", 1, 0);
  j.dedup_claim("reclaimed", 2, 0);
  j.dedup_end();
  j.dedup_begin(1, 9000);
  j.dedup_claim("reclaimed", 3, /*since=*/5000);  // stale at 1000: re-claimed at 9000
  j.dedup_end();
  j.commit();
  EXPECT_EQ(j.dedup_prune(/*before=*/5000, 100), 2u);
  j.commit();
  EXPECT_FALSE(j.dedup_live(1, "old", 0));
  EXPECT_EQ(j.dedup_live(1, "reclaimed", 0), std::optional<uint64_t>(3));
}

// Whatever the order of the ids, pruning must forget exactly the ids last
// claimed before the cut and keep the rest. Ids in publish order from three
// producers, random ones, re-claims after the window and duplicates inside
// it, two queues, commits at random, prunes in pieces of random size.
TEST_F(JournalTest, DedupPruneForgetsExactlyWhatIsOlderThanTheCut) {
  Journal j(config());
  std::mt19937 rng(29);
  using Key = std::pair<uint32_t, std::string>;
  struct Claim {
    uint64_t seq, ms;
  };
  std::map<Key, Claim> model;  // the latest claim of each id
  std::vector<Key> used;
  uint64_t counters[3] = {1, 1, 1};
  uint64_t now = 1000, seq = 1;
  const uint64_t window = 3000;
  auto next_id = [&]() -> std::string {
    const unsigned kind = rng() % 10;
    if (kind < 7) {  // a Producer's next automatic id
      const unsigned p = rng() % 3;
      char buf[courier::detail::kAutoCounterMax];
      return "p" + std::to_string(p) + "-" + std::string(courier::detail::sortable_counter(counters[p]++, buf));
    }
    if (kind < 9 && !used.empty()) return used[rng() % used.size()].second;  // a resend or a re-use
    return "r" + std::to_string(rng());
  };
  uint64_t cut = 0;
  for (int round = 0; round < 40; ++round) {
    for (int put = 0, puts = 1 + static_cast<int>(rng() % 30); put < puts; ++put) {
      now += rng() % 40;
      const uint32_t qid = 1 + rng() % 2;
      j.dedup_begin(qid, now);
      for (int i = 0, n = 1 + static_cast<int>(rng() % 8); i < n; ++i) {
        const std::string id = next_id();
        const uint64_t since = now > window ? now - window : 0;
        const auto got = j.dedup_claim(id, seq, since);
        const Key key{qid, id};
        auto it = model.find(key);
        if (it != model.end() && it->second.ms >= since) {
          ASSERT_EQ(got, std::optional<uint64_t>(it->second.seq)) << id;
        } else {
          ASSERT_FALSE(got) << id;
          model[key] = {seq, now};
          used.push_back(key);
        }
        ++seq;
      }
      j.dedup_end();
      if (rng() % 4 == 0) j.commit();
    }
    // Prune up to a cut behind `now`, in pieces.
    cut = std::max(cut, now > window ? now - window : 0);
    const std::size_t limit = 1 + rng() % 50;
    while (j.dedup_prune(cut, limit) >= limit) {
    }
    if (rng() % 2 == 0) j.commit();
    for (const auto& [key, claim] : model) {
      const auto live = j.dedup_live(key.first, key.second, 0);
      if (claim.ms >= cut) {
        ASSERT_EQ(live, std::optional<uint64_t>(claim.seq)) << "round " << round << ": kept " << key.second;
      } else {
        ASSERT_FALSE(live) << "round " << round << ": " << key.second << " claimed at " << claim.ms
                           << " must be forgotten by the cut at " << cut;
      }
    }
  }
  j.commit();
}

TEST_F(JournalTest, DedupSurvivesReopen) {
  {
    Journal j(config());
    j.dedup_begin(3, 1000);
    j.dedup_claim("m-1", 42, 0);
    j.dedup_end();
    j.commit();
  }
  Journal j(config());
  EXPECT_EQ(j.dedup_live(3, "m-1", 0), std::optional<uint64_t>(42));
}

TEST_F(JournalTest, TimeIndexYieldsEarliestFirst) {
  Journal j(config());
  j.index_put(TimeIndex::delayed, {300, 1, 5});
  j.index_put(TimeIndex::delayed, {100, 2, 9});
  j.index_put(TimeIndex::expiry, {50, 1, 1});
  auto first = j.index_first(TimeIndex::delayed);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->at_ms, 100u);
  EXPECT_EQ(first->qid, 2u);
  EXPECT_EQ(first->seq, 9u);
  EXPECT_TRUE(j.index_erase(TimeIndex::delayed, *first));
  EXPECT_FALSE(j.index_erase(TimeIndex::delayed, *first));
  EXPECT_EQ(j.index_first(TimeIndex::delayed)->at_ms, 300u);
}

TEST_F(JournalTest, QueueRecordsRoundTripWithOptions) {
  {
    Journal j(config());
    QueueRecord q;
    q.id = 4;
    q.name = "orders";
    q.next_seq = 77;
    q.stored = 5;
    q.delayed = 1;
    q.delivered_below = 70;
    q.options.max_length = 10;
    q.options.dead_letter = "orders.dlq";
    j.save_queue(q);
    j.commit();
  }
  Journal j(config());
  auto queues = j.load_queues();
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0].name, "orders");
  EXPECT_EQ(queues[0].next_seq, 77u);
  EXPECT_EQ(queues[0].delivered_below, 70u);
  EXPECT_EQ(queues[0].options.max_length, std::optional<uint64_t>(10));
  EXPECT_EQ(queues[0].options.dead_letter, std::optional<std::string>("orders.dlq"));
  EXPECT_FALSE(queues[0].options.ttl);
}

// docs/PROTOCOL.md §3.13: the moved mark is a queue option like the others.
TEST_F(JournalTest, MovedToRoundTripsAndAClearedMarkStaysCleared) {
  {
    Journal j(config());
    QueueRecord moved, cleared;
    moved.id = 1;
    moved.name = "orders";
    moved.options.moved_to = "proxy-b";
    moved.options.max_attempts = 3;
    cleared.id = 2;
    cleared.name = "jobs";
    j.save_queue(moved);
    j.save_queue(cleared);
    j.commit();
  }
  Journal j(config());
  auto queues = j.load_queues();
  ASSERT_EQ(queues.size(), 2u);
  for (const QueueRecord& q : queues) {
    if (q.name == "orders") {
      EXPECT_EQ(q.options.moved_to, std::optional<std::string>("proxy-b"));
      EXPECT_EQ(q.options.max_attempts, std::optional<uint64_t>(3));
    } else {
      EXPECT_FALSE(q.options.moved_to);
    }
  }
}

TEST_F(JournalTest, MapGrowsUntilTheConfiguredMaximumThenRefuses) {
  Journal j(config(/*max_size=*/16ull << 20));
  const std::string body(64 * 1024, 'x');
  uint64_t seq = 0;
  int refused = 0;
  for (int i = 0; i < 1000 && refused == 0; ++i) {
    if (!j.make_room(j.put_cost(j.record_size(body.size(), 0), 0, 0, 0), Room::producer)) {
      ++refused;
      break;
    }
    j.put_message(1, ++seq, {}, body);
    j.commit();
  }
  EXPECT_EQ(refused, 1) << "a 16 MiB journal cannot take 1000 x 64 KiB";
  EXPECT_GT(seq, 10u) << "but it takes a fair part of it";
  EXPECT_LE(j.map_size(), 16ull << 20);
  EXPECT_TRUE(j.get_message(1, seq)) << "what was stored before the limit stays";

  // Draining frees pages that later writes reuse: the journal takes writes again.
  for (uint64_t s = 1; s <= seq; ++s) j.erase_message(1, s);
  j.commit();
  // LMDB reuses a commit's freed pages only after one more commit; the
  // journal makes that commit itself rather than answer 503 meanwhile.
  EXPECT_TRUE(j.make_room(j.put_cost(j.record_size(body.size(), 0), 0, 0, 0), Room::producer))
      << "a drained journal must accept writes again at once";
}

// Issue 8, defect 1: a record saved before messages stored after it (an
// older proxy, or a crash between two commits of one turn) must not make
// new PUTs reuse, and overwrite, the seqs of confirmed messages.
TEST_F(JournalTest, RecoveryRaisesALaggingNextSeqPastTheLastStoredMessage) {
  {
    Journal j(config());
    QueueRecord q;
    q.id = 3;
    q.name = "lagging";
    q.next_seq = 5;
    q.stored = 4;
    j.save_queue(q);
    for (uint64_t seq = 1; seq <= 9; ++seq) {
      MessageMeta m;
      if (seq == 8) m.due_ms = 99;  // a delayed one
      j.put_message(3, seq, m, "b");
    }
    j.put_message(4, 1, {}, "another queue's message is not counted");
    j.commit();
  }
  Journal j(config());
  auto queues = j.load_queues();
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0].next_seq, 10u) << "next seq must pass the last stored key";
  EXPECT_EQ(queues[0].stored, 9u);
  EXPECT_EQ(queues[0].delayed, 1u);
  EXPECT_TRUE(queues[0].repaired);
}

TEST_F(JournalTest, EveryCommitRunsTheBeforeCommitHookEvenOneForMapGrowth) {
  Journal j(config(/*max_size=*/512ull << 20));
  int hooks = 0;
  j.set_before_commit([&] { ++hooks; });
  const std::string body(1 << 20, 'x');
  const uint64_t map_before = j.map_size();
  uint64_t seq = 0;
  // No commit of ours in between: only make_room's growth can commit.
  while (j.map_size() == map_before && seq < 200) {
    ASSERT_TRUE(j.make_room(j.put_cost(j.record_size(body.size(), 0), 0, 0, 0), Room::producer));
    j.put_message(1, ++seq, {}, body);
  }
  EXPECT_GT(j.map_size(), map_before) << "the map never grew";
  EXPECT_EQ(hooks, 1) << "the growth commit must run the hook that saves queue records";
  j.commit();
  EXPECT_EQ(hooks, 2);
}

TEST_F(JournalTest, ProducersLeaveTheConsumerReserveFree) {
  Journal j(config(/*max_size=*/4ull << 20));
  const std::string body(16 * 1024, 'x');
  uint64_t seq = 0;
  while (j.make_room(j.put_cost(j.record_size(body.size(), 0), 0, 0, 0), Room::producer)) {
    j.put_message(1, ++seq, {}, body);
    j.commit();
    ASSERT_LT(seq, 1000u) << "a 4 MiB journal cannot take 16 MB";
  }
  EXPECT_GT(seq, 20u);
  // The consumer side still has room for delivery counts.
  int counts = 0;
  while (counts < 64 && j.make_room(j.attempts_cost(), Room::consumer)) {
    j.set_attempts(1, ++counts, 2);
  }
  EXPECT_EQ(counts, 64) << "the reserve must hold a turn of delivery counts";
  j.commit();
}

TEST_F(JournalTest, FilesAreReadableByTheOwnerOnly) {
  Journal j(config());
  for (const char* f : {"/data/data.mdb", "/data/proxy.lock"}) {
    const auto perms = std::filesystem::status(dir_ + f).permissions();
    EXPECT_EQ(perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << f;
  }
}

TEST(SizeOption, AcceptsBytesAndBinarySuffixes) {
  EXPECT_EQ(parse_size("1024"), std::optional<uint64_t>(1024));
  EXPECT_EQ(parse_size("16M"), std::optional<uint64_t>(16ull << 20));
  EXPECT_EQ(parse_size("8G"), std::optional<uint64_t>(8ull << 30));
  EXPECT_EQ(parse_size("4k"), std::optional<uint64_t>(4096));
  EXPECT_FALSE(parse_size(""));
  EXPECT_FALSE(parse_size("M"));
  EXPECT_FALSE(parse_size("12X"));
  EXPECT_FALSE(parse_size("-1"));
  EXPECT_FALSE(parse_size("99999999999999999999"));
}

// ---- courier-proxy --check ---------------------------------------------------

// A queue record and its messages, written as the Broker writes them.
void store_queue(Journal& j, const std::string& name, uint32_t id, uint64_t messages, uint64_t delayed_at = 0) {
  QueueRecord q;
  q.id = id;
  q.name = name;
  q.next_seq = messages + 1;
  q.stored = messages;
  for (uint64_t seq = 1; seq <= messages; ++seq) {
    MessageMeta m;
    if (seq == 1 && delayed_at != 0) {
      m.due_ms = delayed_at;
      j.index_put(TimeIndex::delayed, {delayed_at, id, seq});
      q.delayed = 1;
    }
    j.put_message(id, seq, m, "body");
  }
  j.save_queue(q);
}

TEST_F(JournalTest, CheckFindsAConsistentJournalConsistent) {
  {
    Journal j(config());
    store_queue(j, "orders", 1, 3, /*delayed_at=*/99999);
    store_queue(j, "empty", 2, 0);
    j.commit();
  }
  Journal j(config());
  const JournalCheck r = j.check();
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
  ASSERT_EQ(r.queues.size(), 2u);
  const QueueCheck& orders = r.queues[0].name == "orders" ? r.queues[0] : r.queues[1];
  EXPECT_EQ(orders.messages, 3u);
  EXPECT_EQ(orders.delayed, 1u);
  EXPECT_EQ(orders.next_seq, 4u);
}

TEST_F(JournalTest, CheckNamesEveryBrokenInvariant) {
  {
    Journal j(config());
    store_queue(j, "lagging", 1, 2);
    j.put_message(1, 5, {}, "past next_seq and not counted");       // record lags its messages
    j.put_message(9, 1, {}, "orphan");                              // no queue 9
    j.index_put(TimeIndex::delayed, {123, 1, 7});                   // names no message
    j.index_put(TimeIndex::expiry, {456, 1, 1});                    // message 1 does not expire at 456
    j.commit();
  }
  Journal j(config());
  const JournalCheck r = j.check();
  EXPECT_FALSE(r.ok());
  auto mentions = [&](std::string_view text) { return test::any_contains(r.problems, text); };
  EXPECT_TRUE(mentions("seq 5 is at or past")) << "a message a new PUT would overwrite";
  EXPECT_TRUE(mentions("belongs to no queue"));
  EXPECT_TRUE(mentions("which is not stored")) << "a delayed entry without its message";
  EXPECT_TRUE(mentions("but the message says 0")) << "an expiry entry with another time";
  EXPECT_TRUE(mentions("counts 2 stored messages, the journal holds 3"));
  EXPECT_TRUE(mentions("counts 0 delayed messages, the delayed index holds 1"));
}

}  // namespace
}  // namespace courier::proxy
