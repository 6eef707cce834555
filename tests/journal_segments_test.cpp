// The Journal's messages stored as segments (journal.hpp, "Segments"): what
// a turn stores, acks or throws away reads back as a plain map of messages
// says, across commits, aborts and reopens; a journal written before
// segments keeps its one-record messages readable; --check reads both.
#include "journal.hpp"
#include "journal_check.hpp"
#include "journal_format.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace courier::proxy {
namespace {

class JournalSegmentsTest : public ::testing::Test {
 protected:
  // No fsync: what is tested is what a commit holds, not when it is on disk.
  JournalConfig config() const { return {dir_.path() + "/data", 256ull << 20, false}; }
  test::TempDir dir_;
};

// Saves a queue record (the counts --check and recovery compare with).
void save_record(Journal& j, uint32_t id, const std::string& name, uint64_t next_seq, uint64_t stored) {
  QueueRecord q;
  q.id = id;
  q.name = name;
  q.next_seq = next_seq;
  q.stored = stored;
  j.save_queue(q);
}

using Key = std::pair<uint32_t, uint64_t>;
using Model = std::map<Key, std::string>;

// Every message the journal holds, read forward queue by queue.
Model read_all(Journal& j, uint32_t queues) {
  Model out;
  for (uint32_t qid = 1; qid <= queues; ++qid) {
    for (auto m = j.next_message(qid, 0); m; m = j.next_message(qid, m->seq + 1)) {
      out[{qid, m->seq}] = std::string(m->body);
    }
  }
  return out;
}

std::string describe(const Model& m) {
  std::string s;
  for (const auto& [k, v] : m) s += std::to_string(k.first) + ":" + std::to_string(k.second) + " ";
  return s;
}

TEST_F(JournalSegmentsTest, TurnsOfPutsAcksAbortsAndReopensReadBackAsTheModelSays) {
  std::optional<Journal> j(std::in_place, config());
  Model committed, turn;  // what the file holds; what this turn sees
  uint64_t next_seq[4] = {0, 1, 1, 1};
  std::mt19937 rng(7);
  auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  // A PUT or an ack of 1-3 messages, or now and then of up to 300.
  auto how_many = [&] { return 1 + pick(pick(8) == 0 ? 300 : 3); };
  for (int step = 0; step < 20000; ++step) {
    const uint32_t qid = 1 + pick(3);
    const uint32_t op = pick(1000);
    if (op < 300) {  // one PUT
      for (uint32_t n = how_many(); n > 0; --n) {
        const uint64_t seq = next_seq[qid]++;
        std::string body(pick(20) == 0 ? 1 + pick(9000) : pick(200), static_cast<char>('a' + seq % 26));
        ASSERT_TRUE(j->make_room(j->put_cost(j->record_size(body.size(), 0), 0, 0, 0), Room::producer));
        j->put_message(qid, seq, {}, body);
        turn[{qid, seq}] = body;
      }
    } else if (op < 600) {  // acks: mostly the oldest, sometimes anywhere
      auto it = turn.lower_bound({qid, pick(4) == 0 ? pick(static_cast<uint32_t>(next_seq[qid])) : 0});
      for (uint32_t n = how_many(); n > 0 && it != turn.end() && it->first.first == qid; --n) {
        if (pick(2) == 0) {
          j->erase_message(qid, it->first.second);
        } else {
          j->erase_message_at_commit(qid, it->first.second);
        }
        it = turn.erase(it);
      }
    } else if (op < 610) {  // acking what is gone changes nothing
      j->erase_message(qid, next_seq[qid] + 5);
    } else if (op < 800) {  // read one
      const uint64_t from = pick(static_cast<uint32_t>(next_seq[qid] + 1));
      const auto m = j->next_message(qid, from);
      auto it = turn.lower_bound({qid, from});
      if (it == turn.end() || it->first.first != qid) {
        ASSERT_FALSE(m) << "step " << step << ": queue " << qid << " from " << from << " read " << m->seq;
      } else {
        ASSERT_TRUE(m) << "step " << step << ": queue " << qid << " from " << from;
        ASSERT_EQ(m->seq, it->first.second) << "step " << step;
        ASSERT_EQ(m->body, it->second) << "step " << step;
        const auto again = j->get_message(qid, m->seq);
        ASSERT_TRUE(again);
        ASSERT_EQ(again->body, it->second);
      }
      const uint64_t probe = pick(static_cast<uint32_t>(next_seq[qid] + 1));
      ASSERT_EQ(j->get_message(qid, probe).has_value(), turn.count({qid, probe}) == 1)
          << "step " << step << ": get of queue " << qid << " seq " << probe;
    } else if (op < 950) {
      j->commit();
      committed = turn;
    } else if (op < 975) {
      j->abort();  // the turn is thrown away: its puts and acks with it
      turn = committed;
      ASSERT_EQ(read_all(*j, 3), turn) << "step " << step << " after abort";
    } else {
      j->commit();
      committed = turn;
      j.reset();
      j.emplace(config());
      ASSERT_EQ(read_all(*j, 3), committed) << "step " << step << " after reopen: " << describe(committed);
    }
  }
  j->commit();
  j.reset();
  j.emplace(config());
  uint64_t visited = 0;
  j->for_each_message([&](uint32_t qid, const MessageView& m) {
    ++visited;
    EXPECT_EQ(turn.count({qid, m.seq}), 1u) << "queue " << qid << " seq " << m.seq;
  });
  EXPECT_EQ(visited, turn.size());
}

TEST_F(JournalSegmentsTest, AcksOfAPartlyAckedSegmentSurviveAReopenAndTheLastAckDeletesIt) {
  {
    Journal j(config());
    for (uint64_t seq = 1; seq <= 100; ++seq) j.put_message(1, seq, {}, "m" + std::to_string(seq));
    j.commit();
    for (uint64_t seq = 1; seq <= 100; seq += 2) j.erase_message_at_commit(1, seq);
    j.commit();
    j.erase_message(1, 2);
    j.abort();  // thrown away: 2 stays
  }
  Journal j(config());
  std::vector<uint64_t> seqs;
  for (auto m = j.next_message(1, 0); m; m = j.next_message(1, m->seq + 1)) seqs.push_back(m->seq);
  ASSERT_EQ(seqs.size(), 50u);
  EXPECT_EQ(seqs.front(), 2u);
  EXPECT_EQ(seqs.back(), 100u);
  EXPECT_FALSE(j.get_message(1, 51));
  EXPECT_EQ(j.get_message(1, 52)->body, "m52");
  for (uint64_t seq : seqs) j.erase_message(1, seq);
  j.commit();
  // Nothing left of the segment: its record and its bitmap are gone.
  save_record(j, 1, "q", 101, 0);
  j.commit();
  const JournalCheck r = j.check();
  EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
  EXPECT_TRUE(r.notes.empty()) << r.notes.front();
  ASSERT_EQ(r.queues.size(), 1u);
  EXPECT_EQ(r.queues[0].messages, 0u);
}

TEST_F(JournalSegmentsTest, AQueueWhollyAckedInItsTurnIsNeverWritten) {
  Journal j(config());
  for (uint64_t seq = 1; seq <= 10; ++seq) j.put_message(1, seq, {}, "x");
  for (uint64_t seq = 1; seq <= 10; ++seq) j.erase_message_at_commit(1, seq);
  j.commit();
  uint64_t held = 0;
  j.for_each_message([&](uint32_t, const MessageView&) { ++held; });
  EXPECT_EQ(held, 0u);
  EXPECT_FALSE(j.next_message(1, 0));
}

TEST_F(JournalSegmentsTest, ATurnPastTheSegmentLimitIsWrittenInSeveralSegments) {
  Journal j(config());
  const std::string body(1 << 20, 'b');
  for (uint64_t seq = 1; seq <= 40; ++seq) {  // 40 MiB in one turn: three segments
    ASSERT_TRUE(j.make_room(j.put_cost(j.record_size(body.size(), 0), 0, 0, 0), Room::producer));
    j.put_message(1, seq, {}, body);
  }
  for (uint64_t seq = 1; seq <= 40; ++seq) ASSERT_TRUE(j.get_message(1, seq)) << seq;
  j.erase_message(1, 3);
  j.commit();
  uint64_t n = 0;
  for (auto m = j.next_message(1, 0); m; m = j.next_message(1, m->seq + 1)) {
    ASSERT_EQ(m->body.size(), body.size());
    ++n;
  }
  EXPECT_EQ(n, 39u);
}

// A journal written before segments: its messages are `msgs` records.
void write_legacy_messages(const std::string& dir, uint32_t qid, uint64_t from, uint64_t to) {
  lmdb::Env env;
  lmdb::check(mdb_env_set_maxdbs(env.get(), 16), "maxdbs");
  lmdb::check(mdb_env_set_mapsize(env.get(), 256ull << 20), "mapsize");
  lmdb::check(mdb_env_open(env.get(), dir.c_str(), MDB_NOTLS, 0600), "open");
  lmdb::Txn t(env.get(), 0);
  MDB_dbi msgs;
  lmdb::check(mdb_dbi_open(t.get(), "msgs", MDB_CREATE, &msgs), "open msgs");
  std::string key;
  for (uint64_t seq = from; seq <= to; ++seq) {
    const std::string body = "old" + std::to_string(seq);
    std::string value(format::record_bytes({}, body.size()), '\0');
    format::encode_record(value.data(), {}, body);
    MDB_val k = lmdb::val(format::message_key(key, qid, seq)), v = lmdb::val(value);
    lmdb::check(mdb_put(t.get(), msgs, &k, &v, 0), "put");
  }
  t.commit();
}

TEST_F(JournalSegmentsTest, AJournalWrittenBeforeSegmentsIsReadThenDrained) {
  {
    Journal j(config());
    save_record(j, 1, "old", 11, 10);
    j.commit();
  }
  write_legacy_messages(dir_.path() + "/data", 1, 1, 10);
  {
    Journal j(config());
    auto queues = j.load_queues();
    ASSERT_EQ(queues.size(), 1u);
    EXPECT_EQ(queues[0].next_seq, 11u);
    EXPECT_FALSE(queues[0].repaired);
    for (uint64_t seq = 11; seq <= 15; ++seq) j.put_message(1, seq, {}, "new" + std::to_string(seq));
    // Read before and after the commit: old records, then the new segment.
    for (int pass = 0; pass < 2; ++pass) {
      std::vector<std::string> bodies;
      for (auto m = j.next_message(1, 0); m; m = j.next_message(1, m->seq + 1)) bodies.emplace_back(m->body);
      ASSERT_EQ(bodies.size(), 15u) << "pass " << pass;
      EXPECT_EQ(bodies[0], "old1");
      EXPECT_EQ(bodies[9], "old10");
      EXPECT_EQ(bodies[10], "new11");
      j.commit();
    }
    EXPECT_EQ(j.get_message(1, 4)->body, "old4");
    j.erase_message(1, 1);
    j.erase_message_at_commit(1, 2);
    j.erase_message(1, 12);
    save_record(j, 1, "old", 16, 12);
    j.commit();
    const JournalCheck r = j.check();
    EXPECT_TRUE(r.ok()) << (r.problems.empty() ? "" : r.problems.front());
    ASSERT_EQ(r.queues.size(), 1u);
    EXPECT_EQ(r.queues[0].messages, 12u);
  }
  Journal j(config());
  std::vector<uint64_t> seqs;
  for (auto m = j.next_message(1, 0); m; m = j.next_message(1, m->seq + 1)) seqs.push_back(m->seq);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15}));
  for (uint64_t seq : seqs) j.erase_message_at_commit(1, seq);
  j.commit();
  EXPECT_FALSE(j.next_message(1, 0));
  for (uint64_t seq = 16; seq <= 17; ++seq) j.put_message(1, seq, {}, "after the drain");
  j.commit();
  EXPECT_EQ(j.next_message(1, 0)->seq, 16u);
}

TEST_F(JournalSegmentsTest, RecoveryCountsSegmentMessagesPastALaggingRecord) {
  {
    Journal j(config());
    save_record(j, 2, "lagging", 4, 3);
    for (uint64_t seq = 1; seq <= 6; ++seq) j.put_message(2, seq, {}, "b");  // one segment across next_seq
    j.commit();
    j.erase_message(2, 5);
    j.commit();
  }
  Journal j(config());
  auto queues = j.load_queues();
  ASSERT_EQ(queues.size(), 1u);
  EXPECT_EQ(queues[0].next_seq, 7u);
  EXPECT_EQ(queues[0].stored, 5u) << "4 and 6 are past the record, 5 is acked";
  EXPECT_TRUE(queues[0].repaired);
}

TEST_F(JournalSegmentsTest, CheckNamesSegmentsPastNextSeqAndOfNoQueue) {
  {
    Journal j(config());
    save_record(j, 1, "short", 2, 1);
    j.put_message(1, 1, {}, "fine");
    j.put_message(1, 2, {}, "past next_seq");
    j.put_message(7, 1, {}, "orphan");
    j.commit();
  }
  Journal j(config());
  const JournalCheck r = j.check();
  EXPECT_FALSE(r.ok());
  auto mentions = [&](std::string_view text) { return test::any_contains(r.problems, text); };
  EXPECT_TRUE(mentions("queue short seq 2 is at or past")) << (r.problems.empty() ? "" : r.problems.front());
  EXPECT_TRUE(mentions("of queue id 7 belongs to no queue"));
  EXPECT_TRUE(mentions("counts 1 stored messages, the journal holds 2"));
}

}  // namespace
}  // namespace courier::proxy
