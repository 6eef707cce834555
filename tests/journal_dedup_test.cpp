// The Journal's dedup index with runs of automatic ids (journal.hpp, "Dedup
// runs"): whatever mix of runs, resends, overlaps, other ids, expiry,
// pruning, aborts and reopens, every claim answers what a plain map of
// id -> (seq, time) says; a journal written before runs keeps its ids; and
// --check counts and checks the runs.
#include "journal.hpp"
#include "journal_check.hpp"
#include "journal_format.hpp"
#include "auto_id.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace courier::proxy {
namespace {

class JournalDedupTest : public ::testing::Test {
 protected:
  // No fsync: what is tested is what a commit holds, not when it is on disk.
  JournalConfig config() const { return {dir_.path() + "/data", 256ull << 20, false}; }
  test::TempDir dir_;
};

std::string auto_id(const std::string& prefix, uint64_t n) {
  char buf[detail::kAutoCounterMax];
  return prefix + std::string(detail::sortable_counter(n, buf));
}

// Claims ids the way a PUT does (put.cpp): a new id takes the queue's next
// seq, a duplicate takes none. Returns each id's answer.
std::vector<std::optional<uint64_t>> put(Journal& j, uint32_t qid, uint64_t now, uint64_t since, uint64_t& next_seq,
                                         const std::vector<std::string>& ids) {
  std::vector<std::optional<uint64_t>> got;
  j.dedup_begin(qid, now);
  for (const auto& id : ids) {
    got.push_back(j.dedup_claim(id, next_seq, since));
    if (!got.back()) ++next_seq;
  }
  j.dedup_end();
  return got;
}

uint64_t dedup_ids_of(Journal& j, uint32_t qid) {
  const JournalCheck c = j.check();
  EXPECT_TRUE(c.ok()) << (c.problems.empty() ? "" : c.problems[0]);
  for (const auto& q : c.queues) {
    if (q.id == qid) return q.dedup_ids;
  }
  return 0;
}

void save_queue(Journal& j, uint32_t id) {
  QueueRecord q;
  q.id = id;
  q.name = "q" + std::to_string(id);
  q.next_seq = 1;
  j.save_queue(q);
}

TEST_F(JournalDedupTest, EveryIdOfAStoredRunIsADuplicateOfItsOwnSeq) {
  Journal j(config());
  save_queue(j, 1);
  std::vector<std::string> ids;
  for (uint64_t n = 95; n < 395; ++n) ids.push_back(auto_id("p7-", n));  // across a digit count change
  uint64_t next_seq = 1000;
  for (const auto& got : put(j, 1, 5000, 0, next_seq, ids)) ASSERT_FALSE(got);
  j.commit();
  for (uint64_t n = 95; n < 395; ++n) {
    ASSERT_EQ(j.dedup_live(1, auto_id("p7-", n), 0), std::optional<uint64_t>(1000 + n - 95)) << n;
  }
  EXPECT_FALSE(j.dedup_live(1, auto_id("p7-", 94), 0));
  EXPECT_FALSE(j.dedup_live(1, auto_id("p7-", 395), 0));
  EXPECT_FALSE(j.dedup_live(1, auto_id("p8-", 100), 0)) << "another producer";
  EXPECT_FALSE(j.dedup_live(2, auto_id("p7-", 100), 0)) << "another queue";
  EXPECT_FALSE(j.dedup_live(1, auto_id("p7-", 100), 5001)) << "older than the window";
  EXPECT_EQ(dedup_ids_of(j, 1), 300u);
}

TEST_F(JournalDedupTest, AResendOverlappingStoredRunsKeepsTheirSeqsAndStoresOnlyTheRest) {
  Journal j(config());
  save_queue(j, 1);
  uint64_t next_seq = 1;
  std::vector<std::string> first, resend;
  for (uint64_t n = 100; n < 200; ++n) first.push_back(auto_id("p-", n));
  put(j, 1, 1000, 0, next_seq, first);  // seqs 1..100
  j.commit();
  for (uint64_t n = 50; n < 250; ++n) resend.push_back(auto_id("p-", n));
  const auto got = put(j, 1, 1001, 0, next_seq, resend);
  for (uint64_t n = 50; n < 250; ++n) {
    const auto& g = got[n - 50];
    if (n >= 100 && n < 200) {
      ASSERT_EQ(g, std::optional<uint64_t>(1 + n - 100)) << n;
    } else {
      ASSERT_FALSE(g) << n;
    }
  }
  j.commit();
  // The new ones: 50..99 took seqs 101..150, 200..249 took 151..200.
  EXPECT_EQ(j.dedup_live(1, auto_id("p-", 50), 0), std::optional<uint64_t>(101));
  EXPECT_EQ(j.dedup_live(1, auto_id("p-", 99), 0), std::optional<uint64_t>(150));
  EXPECT_EQ(j.dedup_live(1, auto_id("p-", 249), 0), std::optional<uint64_t>(200));
  EXPECT_EQ(dedup_ids_of(j, 1), 200u);
}

TEST_F(JournalDedupTest, AnExpiredRunIsForgottenWholeWhenOneOfItsIdsComesAgain) {
  Journal j(config());
  save_queue(j, 1);
  uint64_t next_seq = 1;
  put(j, 1, 1000, 0, next_seq, {auto_id("p-", 1), auto_id("p-", 2), auto_id("p-", 3)});
  j.commit();
  // At 9000 with a window from 5000: the run of 1000 is stale.
  const auto got = put(j, 1, 9000, 5000, next_seq, {auto_id("p-", 2)});
  ASSERT_FALSE(got[0]);
  j.commit();
  EXPECT_EQ(j.dedup_live(1, auto_id("p-", 2), 0), std::optional<uint64_t>(4));
  EXPECT_FALSE(j.dedup_live(1, auto_id("p-", 1), 0)) << "the stale run went whole";
  EXPECT_FALSE(j.dedup_live(1, auto_id("p-", 3), 0));
  // Its age entry, pruned later, leaves the newer claim alone.
  EXPECT_EQ(j.dedup_prune(5000, 100), 1u);
  j.commit();
  EXPECT_EQ(j.dedup_live(1, auto_id("p-", 2), 0), std::optional<uint64_t>(4));
}

TEST_F(JournalDedupTest, ARunEndsAtTheLastCounterInsteadOfWrappingToZero) {
  Journal j(config());
  save_queue(j, 1);
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  uint64_t next_seq = 1;
  const auto got = put(j, 1, 1000, 0, next_seq, {auto_id("p-", max - 1), auto_id("p-", max), auto_id("p-", 0)});
  for (const auto& g : got) ASSERT_FALSE(g);
  j.commit();
  EXPECT_EQ(j.dedup_live(1, auto_id("p-", max), 0), std::optional<uint64_t>(2));
  EXPECT_EQ(j.dedup_live(1, auto_id("p-", 0), 0), std::optional<uint64_t>(3));
  EXPECT_FALSE(j.dedup_live(1, auto_id("p-", 1), 0));
  EXPECT_EQ(dedup_ids_of(j, 1), 3u);
}

// A journal written before runs: automatic ids are `dedup` entries of their
// own, listed in `dedupage`, and there is no "dedupruns since" record.
void write_ids_one_by_one(const std::string& dir, uint32_t qid, uint64_t ms, uint64_t age_n,
                          const std::vector<std::pair<std::string, uint64_t>>& id_seqs) {
  using namespace format;
  lmdb::Env env;
  lmdb::check(mdb_env_set_maxdbs(env.get(), 16), "maxdbs");
  lmdb::check(mdb_env_set_mapsize(env.get(), 256ull << 20), "mapsize");
  lmdb::check(mdb_env_open(env.get(), dir.c_str(), MDB_NOTLS, 0600), "open");
  lmdb::Txn t(env.get(), 0);
  MDB_dbi dedup, ages, meta;
  lmdb::check(mdb_dbi_open(t.get(), "dedup", MDB_CREATE, &dedup), "open dedup");
  lmdb::check(mdb_dbi_open(t.get(), "dedupage", MDB_CREATE, &ages), "open dedupage");
  lmdb::check(mdb_dbi_open(t.get(), "meta", MDB_CREATE, &meta), "open meta");
  std::string list;
  put_be(list, qid, 4);
  for (const auto& [id, seq] : id_seqs) {
    std::string key, value;
    put_be(key, qid, 4);
    key += id;
    put_be(value, seq, 8);
    put_be(value, ms, 8);
    put_be(value, age_n, 8);
    MDB_val k = lmdb::val(key), v = lmdb::val(value);
    lmdb::check(mdb_put(t.get(), dedup, &k, &v, 0), "put");
    list.push_back(static_cast<char>(id.size()));
    list += id;
  }
  std::string age_key;
  put_be(age_key, ms, 8);
  put_be(age_key, age_n, 8);
  MDB_val k = lmdb::val(age_key), v = lmdb::val(list);
  lmdb::check(mdb_put(t.get(), ages, &k, &v, 0), "put age");
  const std::string since = "dedupruns since";
  MDB_val sk = lmdb::val(since);
  const int rc = mdb_del(t.get(), meta, &sk, nullptr);
  if (rc != MDB_NOTFOUND) lmdb::check(rc, "del");
  t.commit();
}

uint64_t wall_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

TEST_F(JournalDedupTest, IdsClaimedOneByOneBeforeRunsStayDuplicatesForTheirWindow) {
  {
    Journal j(config());
    save_queue(j, 1);
    j.commit();
  }
  const uint64_t then = wall_ms() - 1000;
  write_ids_one_by_one(dir_.path() + "/data", 1, then, 0,
                       {{auto_id("old-", 1), 11}, {auto_id("old-", 2), 12}, {"not-automatic", 13}});
  Journal j(config());
  const uint64_t window_start = then - 10;
  uint64_t next_seq = 14;
  // The old ids, among new ones of their producer, inside the window.
  const auto got = put(j, 1, then + 500, window_start, next_seq,
                       {auto_id("old-", 1), auto_id("old-", 2), auto_id("old-", 3), "not-automatic"});
  EXPECT_EQ(got[0], std::optional<uint64_t>(11));
  EXPECT_EQ(got[1], std::optional<uint64_t>(12));
  EXPECT_FALSE(got[2]);
  EXPECT_EQ(got[3], std::optional<uint64_t>(13));
  j.commit();
  EXPECT_EQ(j.dedup_live(1, auto_id("old-", 2), window_start), std::optional<uint64_t>(12));
  EXPECT_EQ(j.dedup_live(1, auto_id("old-", 3), window_start), std::optional<uint64_t>(14));
  EXPECT_EQ(dedup_ids_of(j, 1), 4u);
  // Pruning the old age entry forgets the old entries, not the new run.
  EXPECT_EQ(j.dedup_prune(then + 1, 100), 3u);
  j.commit();
  EXPECT_FALSE(j.dedup_live(1, auto_id("old-", 1), 0));
  EXPECT_FALSE(j.dedup_live(1, "not-automatic", 0));
  EXPECT_EQ(j.dedup_live(1, auto_id("old-", 3), 0), std::optional<uint64_t>(14));
  EXPECT_EQ(dedup_ids_of(j, 1), 1u);
}

TEST_F(JournalDedupTest, CheckFindsRunsThatOverlap) {
  {
    Journal j(config());
    save_queue(j, 1);
    uint64_t next_seq = 1;
    std::vector<std::string> ids;
    for (uint64_t n = 1; n <= 10; ++n) ids.push_back(auto_id("p-", n));
    put(j, 1, 1000, 0, next_seq, ids);
    j.commit();
    EXPECT_TRUE(j.check().ok());
  }
  // Damage: a second run 5..20 of the same producer.
  {
  lmdb::Env env;
  lmdb::check(mdb_env_set_maxdbs(env.get(), 16), "maxdbs");
  lmdb::check(mdb_env_set_mapsize(env.get(), 256ull << 20), "mapsize");
  lmdb::check(mdb_env_open(env.get(), (dir_.path() + "/data").c_str(), MDB_NOTLS, 0600), "open");
  {
    lmdb::Txn t(env.get(), 0);
    MDB_dbi runs;
    lmdb::check(mdb_dbi_open(t.get(), "dedupruns", 0, &runs), "open dedupruns");
    std::string key, value;
    format::put_be(key, 1, 4);
    key += '\2';
    key += "p-";
    format::put_be(key, 5, 8);
    for (uint64_t f : {20, 100, 1000, 0}) format::put_be(value, f, 8);
    MDB_val k = lmdb::val(key), v = lmdb::val(value);
    lmdb::check(mdb_put(t.get(), runs, &k, &v, 0), "put");
    t.commit();
  }
  }
  Journal j(config());
  const JournalCheck c = j.check();
  EXPECT_FALSE(c.ok());
  EXPECT_TRUE(test::any_contains(c.problems, "overlap"));
}

// The model: each (queue, id) -> (seq, first-PUT ms) of its latest claim, as
// of the last commit and as of now. Producers publish in order, resend
// stretches they published before, give ids of their own, or ids that look
// automatic but are not; the clock moves on, old ids are pruned, turns
// commit, abort or end in a reopen.
TEST_F(JournalDedupTest, ClaimsAnswerWhatAMapOfIdsSaysOverRandomTurns) {
  struct Claim {
    uint64_t seq, ms;
  };
  using Key = std::pair<uint32_t, std::string>;
  std::map<Key, Claim> committed, now_model;
  std::map<uint32_t, uint64_t> seq_committed{{1, 1}, {2, 1}}, seq_now = seq_committed;
  uint64_t counters[4] = {1, 1, 1, 1};
  const char* prefixes[4] = {"a-", "b-", "x-y-", "c-"};
  std::mt19937 rng(131);
  uint64_t now = 100000, cut = 0;
  const uint64_t window = 2000;
  auto journal = std::make_unique<Journal>(config());
  save_queue(*journal, 1);
  save_queue(*journal, 2);
  journal->commit();

  auto next_ids = [&]() {
    std::vector<std::string> ids;
    const unsigned kind = rng() % 10;
    const unsigned p = rng() % 4;
    const std::size_t k = 1 + (rng() % 3 == 0 ? rng() % 300 : rng() % 4);
    if (kind < 6) {  // the producer's next ids
      for (std::size_t i = 0; i < k; ++i) ids.push_back(auto_id(prefixes[p], counters[p]++));
    } else if (kind < 8) {  // a resend of a stretch, maybe past what was sent
      const uint64_t from = 1 + rng() % (counters[p] + 5);
      for (std::size_t i = 0; i < k; ++i) ids.push_back(auto_id(prefixes[p], from + i));
    } else if (kind < 9) {  // ids of the user's, some repeated, some look automatic
      for (std::size_t i = 0; i < k; ++i) {
        const unsigned r = rng() % 40;
        ids.push_back(r < 10 ? "u" + std::to_string(r) : r < 20 ? "p-b0" + std::to_string(r % 10)
                                                     : r < 30 ? "p-a" + std::to_string(r) : "p-" + std::to_string(r));
      }
    } else {  // interleaved producers in one PUT
      for (std::size_t i = 0; i < k; ++i) {
        const unsigned q = rng() % 2;
        ids.push_back(auto_id(prefixes[q], counters[q]++));
      }
    }
    return ids;
  };

  for (int step = 0; step < 3000; ++step) {
    const unsigned op = rng() % 100;
    if (op < 80) {
      if (rng() % 3 == 0) now += rng() % 400;
      const uint32_t qid = 1 + rng() % 2;
      const uint64_t since = now - window;
      const auto ids = next_ids();
      journal->dedup_begin(qid, now);
      for (const auto& id : ids) {
        const auto got = journal->dedup_claim(id, seq_now[qid], since);
        auto it = now_model.find({qid, id});
        if (it != now_model.end() && it->second.ms >= since) {
          ASSERT_EQ(got, std::optional<uint64_t>(it->second.seq)) << "step " << step << " id " << id;
        } else {
          ASSERT_FALSE(got) << "step " << step << " id " << id;
          now_model[{qid, id}] = {seq_now[qid]++, now};
        }
      }
      journal->dedup_end();
    } else if (op < 88) {
      journal->commit();
      committed = now_model;
      seq_committed = seq_now;
    } else if (op < 92) {
      journal->abort();
      now_model = committed;
      seq_now = seq_committed;
    } else if (op < 94) {
      journal.reset();  // uncommitted claims are lost with the process
      journal = std::make_unique<Journal>(config());
      now_model = committed;
      seq_now = seq_committed;
    } else {
      // Prune what is older than the window, in pieces, then compare all.
      cut = std::max(cut, now - window);
      const std::size_t limit = 1 + rng() % 20;
      while (journal->dedup_prune(cut, limit) >= limit) {
      }
      for (auto it = now_model.begin(); it != now_model.end();) {
        it = it->second.ms < cut ? now_model.erase(it) : std::next(it);
      }
      for (const auto& [key, claim] : now_model) {
        ASSERT_EQ(journal->dedup_live(key.first, key.second, 0), std::optional<uint64_t>(claim.seq))
            << "step " << step << ": kept " << key.second;
      }
    }
  }
  // After a last prune, --check counts exactly the ids the model keeps.
  cut = now - window;
  while (journal->dedup_prune(cut, 1000) >= 1000) {
  }
  journal->commit();
  uint64_t kept = 0;
  for (const auto& [key, claim] : now_model) kept += claim.ms >= cut ? 1 : 0;
  EXPECT_EQ(dedup_ids_of(*journal, 1) + dedup_ids_of(*journal, 2), kept);
}

}  // namespace
}  // namespace courier::proxy
