// proxy/journal_dedup.cpp — the Journal's dedup index (PROTOCOL.md §3.3.5):
// producer ids claimed per queue, remembered for the dedup window, pruned by
// age. Ids that are not automatic ones are one `dedup` entry each; a
// Producer's automatic ids are claimed as runs, one `dedupruns` record per
// run (journal.hpp, "Dedup runs").
#include "journal.hpp"
#include "journal_format.hpp"

#include "auto_id.hpp"

#include <chrono>
#include <cstring>
#include <limits>

namespace courier::proxy {

using namespace format;
using detail::parse_auto_id;

namespace {

constexpr uint64_t kNoRun = std::numeric_limits<uint64_t>::max();       // no next stored run
constexpr uint64_t kLastCounter = std::numeric_limits<uint64_t>::max();  // a run ends there
constexpr char kRunsSinceKey[] = "dedupruns since";

std::string& dedup_key(std::string& buf, uint32_t qid, std::string_view id) {
  buf.resize(4 + id.size());
  store_be32(buf.data(), qid);
  std::memcpy(buf.data() + 4, id.data(), id.size());
  return buf;
}

// qid | u8 prefix length | prefix | n: one prefix's runs sort by counter.
std::string& run_key(std::string& buf, uint32_t qid, std::string_view prefix, uint64_t n) {
  buf.resize(4 + 1 + prefix.size() + 8);
  store_be32(buf.data(), qid);
  buf[4] = static_cast<char>(prefix.size());
  std::memcpy(buf.data() + 5, prefix.data(), prefix.size());
  store_be64(buf.data() + 5 + prefix.size(), n);
  return buf;
}

MDB_val age_key(char (&buf)[16], uint64_t ms, uint64_t n) {
  store_be64(buf, ms);
  store_be64(buf + 8, n);
  return MDB_val{sizeof buf, buf};
}

uint64_t wall_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

// A journal that already has `dedup` entries may hold automatic ids among
// them; from now on they are claimed as runs. The time of that change is
// kept so that later opens know when the old entries stop mattering.
void Journal::open_dedup_runs(MDB_txn* t) {
  dedup_runs_ = [&] {
    MDB_dbi d;
    lmdb::check(mdb_dbi_open(t, "dedupruns", MDB_CREATE, &d), "open database dedupruns");
    return d;
  }();
  MDB_val k{sizeof kRunsSinceKey - 1, const_cast<char*>(kRunsSinceKey)}, v;
  int rc = mdb_get(t, meta_, &k, &v);
  if (rc == 0) {
    if (v.mv_size != 8) throw JournalError("meta record 'dedupruns since' has a bad size: the data file is damaged");
    runs_since_ms_ = get_be(static_cast<const char*>(v.mv_data), 8);
    return;
  }
  if (rc != MDB_NOTFOUND) lmdb::check(rc, "reading the journal's meta record");
  MDB_stat st;
  lmdb::check(mdb_stat(t, dedup_, &st), "reading journal statistics");
  runs_since_ms_ = st.ms_entries > 0 ? wall_ms() : 0;
  char buf[8];
  store_be64(buf, runs_since_ms_);
  MDB_val value{sizeof buf, buf};
  lmdb::check(mdb_put(t, meta_, &k, &value, 0), "writing the journal's meta record");
}

std::optional<Journal::StoredRun> Journal::find_run(uint32_t qid, std::string_view prefix, uint64_t n,
                                                    uint64_t& next_first) {
  if (runs_cursor_.get() == nullptr) runs_cursor_ = lmdb::Cursor(txn(), dedup_runs_);
  const std::string& key = run_key(run_key_buf_, qid, prefix, n);
  const std::size_t group = key.size() - 8;  // qid | length | prefix
  auto same_prefix = [&](const MDB_val& k) {
    return k.mv_size == key.size() && std::memcmp(k.mv_data, key.data(), group) == 0;
  };
  auto decode = [&](const MDB_val& k, const MDB_val& v) {
    if (v.mv_size != kDedupRunValue) throw JournalError("dedup run has a bad size: the data file is damaged");
    const char* p = static_cast<const char*>(v.mv_data);
    return StoredRun{get_be(static_cast<const char*>(k.mv_data) + group, 8), get_be(p, 8), get_be(p + 8, 8),
                     get_be(p + 16, 8), get_be(p + 24, 8)};
  };
  next_first = kNoRun;
  MDB_val k = lmdb::val(key), v;
  const bool above = runs_cursor_.get(k, v, MDB_SET_RANGE);
  if (above && same_prefix(k)) {
    const StoredRun r = decode(k, v);
    if (r.first == n) return r;
    next_first = r.first;
  }
  // The run before: the one that may hold n.
  if (!runs_cursor_.get(k, v, above ? MDB_PREV : MDB_LAST) || !same_prefix(k)) return std::nullopt;
  const StoredRun r = decode(k, v);
  if (r.last < n) return std::nullopt;
  return r;
}

std::optional<uint64_t> Journal::live_one(uint32_t qid, std::string_view id, uint64_t since_ms) {
  MDB_val k = lmdb::val(dedup_key(key_buf_, qid, id));
  MDB_val v;
  int rc = mdb_get(txn(), dedup_, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  lmdb::check(rc, "reading the dedup index");
  if (v.mv_size != kDedupValue) throw JournalError("dedup entry has a bad size: the data file is damaged");
  const char* p = static_cast<const char*>(v.mv_data);
  if (get_be(p + 8, 8) < since_ms) return std::nullopt;
  return get_be(p, 8);
}

std::optional<uint64_t> Journal::dedup_live(uint32_t qid, std::string_view id, uint64_t since_ms) {
  const auto a = parse_auto_id(id);
  if (!a) return live_one(qid, id, since_ms);
  if (run_.open && claim_.qid == qid && run_.prefix == a->prefix && a->n >= run_.first && a->n <= run_.last &&
      claim_.now_ms >= since_ms) {
    return run_.first_seq + (a->n - run_.first);
  }
  uint64_t next_first;
  if (auto r = find_run(qid, a->prefix, a->n, next_first); r && r->ms >= since_ms) {
    return r->first_seq + (a->n - r->first);
  }
  if (since_ms < runs_since_ms_) return live_one(qid, id, since_ms);
  return std::nullopt;
}

void Journal::dedup_begin(uint32_t qid, uint64_t now_ms) {
  if (claim_.open && claim_.qid == qid && claim_.now_ms == now_ms) return;  // joins it
  write_age_entry();
  claim_.open = true;
  claim_.qid = qid;
  claim_.now_ms = now_ms;
  claim_.n = next_age_n_;
  claim_.ids.clear();
  put_be(claim_.ids, qid, 4);
}

std::optional<uint64_t> Journal::dedup_claim(std::string_view id, uint64_t seq, uint64_t since_ms) {
  if (const auto a = parse_auto_id(id)) return claim_in_run(id, a->prefix, a->n, seq, since_ms);
  return claim_one(id, seq, since_ms);
}

std::optional<uint64_t> Journal::claim_in_run(std::string_view id, std::string_view prefix, uint64_t n,
                                              uint64_t seq, uint64_t since_ms) {
  if (since_ms < runs_since_ms_) {
    if (auto first = live_one(claim_.qid, id, since_ms)) return first;
  }
  if (run_.open && run_.prefix == prefix) {
    if (n >= run_.first && n <= run_.last) return run_.first_seq + (n - run_.first);  // again in this turn
    // The next id for the next seq, below the next stored run: nothing to look up.
    if (run_.last != kLastCounter && n == run_.last + 1 && n < run_.limit && seq == run_.first_seq + (n - run_.first)) {
      run_.last = n;
      return std::nullopt;
    }
  }
  write_run();
  uint64_t next_first;
  if (auto r = find_run(claim_.qid, prefix, n, next_first)) {
    if (r->ms >= since_ms) return r->first_seq + (n - r->first);
    // Remembered from before the window, as every id of that run (they
    // share its time): all free again. Its age entry finds nothing later.
    lmdb::check(mdb_cursor_del(runs_cursor_.get(), 0), "forgetting an expired dedup run");
    find_run(claim_.qid, prefix, n, next_first);  // runs never overlap: only next_first is new
  }
  run_.open = true;
  run_.prefix.assign(prefix);
  run_.first = run_.last = n;
  run_.first_seq = seq;
  run_.limit = next_first;
  return std::nullopt;
}

void Journal::write_run() {
  if (!run_.open) return;
  run_.open = false;
  char value[kDedupRunValue];
  store_be64(value, run_.last);
  store_be64(value + 8, run_.first_seq);
  store_be64(value + 16, claim_.now_ms);
  store_be64(value + 24, claim_.n);
  MDB_val k = lmdb::val(run_key(run_key_buf_, claim_.qid, run_.prefix, run_.first));
  MDB_val v{sizeof value, value};
  note_scattered(dedup_runs_);
  if (runs_cursor_.get() == nullptr) runs_cursor_ = lmdb::Cursor(txn(), dedup_runs_);
  // One producer's runs grow in key order: appended without a search. After
  // a miss (producers interleave) only every 16th run tries, as for ids.
  const bool try_append = runs_appending_ || (++runs_append_tries_ & 15) == 0;
  int rc = try_append ? mdb_cursor_put(runs_cursor_.get(), &k, &v, MDB_APPEND) : MDB_KEYEXIST;
  runs_appending_ = try_append && rc == 0;
  if (rc == MDB_KEYEXIST) rc = mdb_cursor_put(runs_cursor_.get(), &k, &v, 0);
  lmdb::check(rc, "storing a dedup run");
  // The age entry lists the run by its first id.
  char counter[detail::kAutoCounterMax];
  const std::string_view digits = detail::sortable_counter(run_.first, counter);
  claim_.ids.push_back(static_cast<char>(run_.prefix.size() + digits.size()));
  claim_.ids.append(run_.prefix);
  claim_.ids.append(digits);
}

std::optional<uint64_t> Journal::claim_one(std::string_view id, uint64_t seq, uint64_t since_ms) {
  char value[kDedupValue];
  store_be64(value, seq);
  store_be64(value + 8, claim_.now_ms);
  store_be64(value + 16, claim_.n);
  MDB_val k = lmdb::val(dedup_key(key_buf_, claim_.qid, id));
  MDB_val v{sizeof value, value};
  // MDB_NOOVERWRITE looks up and inserts in one descent; on a hit it hands
  // back the stored value instead.
  note_scattered(dedup_);
  if (dedup_cursor_.get() == nullptr) dedup_cursor_ = lmdb::Cursor(txn(), dedup_);
  // MDB_APPEND refuses (MDB_KEYEXIST, value untouched) a key that is not
  // past the last one: then the ordinary claim decides.
  const bool try_append = dedup_appending_ || (++dedup_append_tries_ & 15) == 0;
  int rc = try_append ? mdb_cursor_put(dedup_cursor_.get(), &k, &v, MDB_NOOVERWRITE | MDB_APPEND) : MDB_KEYEXIST;
  dedup_appending_ = try_append && rc == 0;
  if (rc == MDB_KEYEXIST) rc = mdb_cursor_put(dedup_cursor_.get(), &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) {
    if (v.mv_size != kDedupValue) throw JournalError("dedup entry has a bad size: the data file is damaged");
    const char* p = static_cast<const char*>(v.mv_data);
    if (get_be(p + 8, 8) >= since_ms) return get_be(p, 8);
    // Remembered from before the window: the id is free again.
    MDB_val fresh{sizeof value, value};
    lmdb::check(mdb_put(txn(), dedup_, &k, &fresh, 0), "storing a dedup entry");
  } else {
    lmdb::check(rc, "storing a dedup entry");
  }
  claim_.ids.push_back(static_cast<char>(id.size()));
  claim_.ids.append(id);
  return std::nullopt;
}

void Journal::dedup_end() {
  if (claim_.ids.size() > kMaxAgeEntry) write_age_entry();
}

void Journal::write_age_entry() {
  if (!claim_.open) return;
  write_run();
  claim_.open = false;
  if (claim_.ids.size() <= 4) return;
  next_age_n_ = claim_.n + 1;
  char buf[16];
  MDB_val k = age_key(buf, claim_.now_ms, claim_.n);
  MDB_val v = lmdb::val(claim_.ids);
  // Age keys only grow (unless the wall clock steps back), so MDB_APPEND
  // writes them without a search and fills pages whole.
  int rc = mdb_put(txn(), dedup_age_, &k, &v, MDB_APPEND);
  if (rc == MDB_KEYEXIST) rc = mdb_put(txn(), dedup_age_, &k, &v, 0);
  lmdb::check(rc, "storing a dedup age entry");
}

std::size_t Journal::dedup_prune(uint64_t before_ms, std::size_t limit) {
  std::size_t removed = 0;
  lmdb::Cursor ages(txn(), dedup_age_);
  lmdb::Cursor ids(txn(), dedup_);
  lmdb::Cursor runs(txn(), dedup_runs_);
  MDB_val k, v;
  while (removed < limit && ages.get(k, v, MDB_FIRST)) {
    if (k.mv_size != 16 || v.mv_size < 4) throw JournalError("dedup age entry is damaged");
    const char* kp = static_cast<const char*>(k.mv_data);
    const uint64_t ms = get_be(kp, 8);
    if (ms >= before_ms) break;
    const uint64_t n = get_be(kp + 8, 8);
    // Copy out: deleting from `dedup` may move the page v points into.
    const std::string list(static_cast<const char*>(v.mv_data), v.mv_size);
    const uint32_t qid = static_cast<uint32_t>(get_be(list.data(), 4));
    prune_ids_.clear();
    for (std::size_t at = 4; at < list.size();) {
      const std::size_t len = static_cast<unsigned char>(list[at]);
      prune_ids_.emplace_back(list.data() + at + 1, std::min(len, list.size() - at - 1));
      at += 1 + len;
    }
    // Each is forgotten only if it still belongs to this entry (not
    // re-claimed since). One entry's ids are mostly neighbours in `dedup`
    // (a Producer's ids sort in publish order): thinned out, like acked
    // messages.
    for_each_thinned(prune_ids_, [&](std::string_view id) {
      const auto a = parse_auto_id(id);
      if (a) {
        MDB_val rk = lmdb::val(run_key(run_key_buf_, qid, a->prefix, a->n)), rv;
        if (runs.get(rk, rv, MDB_SET_KEY) && rv.mv_size == kDedupRunValue &&
            get_be(static_cast<const char*>(rv.mv_data) + 24, 8) == n) {
          lmdb::check(mdb_cursor_del(runs.get(), 0), "pruning the dedup runs");
        }
      }
      // An automatic id is a `dedup` entry only if claimed before runs.
      if (!a || ms < runs_since_ms_) {
        MDB_val dk = lmdb::val(dedup_key(key_buf_, qid, id)), dv;
        if (ids.get(dk, dv, MDB_SET_KEY) && dv.mv_size == kDedupValue &&
            get_be(static_cast<const char*>(dv.mv_data) + 16, 8) == n) {
          lmdb::check(mdb_cursor_del(ids.get(), 0), "pruning the dedup index");
        }
      }
      ++removed;
    });
    lmdb::check(mdb_cursor_del(ages.get(), 0), "pruning the dedup age index");
  }
  return removed;
}

}  // namespace courier::proxy
