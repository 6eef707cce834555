// proxy/journal.hpp — the proxy's durable store, in LMDB.
//
// The rest of the proxy sees "append, erase, read in queue order, dedup
// lookup, time indexes" — never cursors or MDB_val.
//
// Layout (all integer keys big-endian, so LMDB's byte order is queue order):
//   queues   name                          -> QueueRecord (msgpack array of 12;
//                                             records of 10 predate `tokens`,
//                                             of 11 `moved_to`)
//   segs     qid u32 | first seq u64       -> the messages one turn stored in one queue,
//                                             seqs first.. consecutive (segment.hpp)
//   segacked qid u32 | first seq u64       -> bitmap, u64 words: bit i set = seq first+i
//                                             acked; only for a segment partly acked at a
//                                             commit (see "Segments" below)
//   msgs     qid u32 | seq u64             -> MessageMeta + body: one record per message,
//                                             as journals before segments wrote them;
//                                             read until drained, never written
//   attempts qid u32 | seq u64             -> u32 deliveries so far (see below)
//   dedup    qid u32 | producer id         -> seq u64 | first PUT ms u64 | age n u64:
//                                             ids that are not automatic ones
//   dedupruns qid u32 | u8 len | prefix    -> last n u64 | first seq u64 | first PUT ms u64
//            | first n u64                    | age n u64: automatic ids prefix+counter
//                                             (src/auto_id.hpp) first..last, claimed for
//                                             seqs first seq.. (see "Dedup runs" below)
//   dedupage first PUT ms u64 | n u64      -> qid u32 | (u8 len | id)*: the ids one PUT
//                                             claimed (a run: its first id); pruned by
//                                             age, and n only grows, so entries append
//   delayed  due ms u64 | qid u32 | seq    -> (empty)
//   expiry   expire ms u64 | qid u32 | seq -> (empty)
//   meta     "commit"                      -> anything: written to make a commit
//                                             that frees pages for reuse
//            "dedupruns since"             -> u64 ms: automatic ids claimed before then
//                                             may be in `dedup` one by one
//
// Dedup runs: a Producer's automatic ids count up, so one PUT (or a turn of
// single PUTs) claims a run of them for consecutive seqs; stored as one
// record instead of one B-tree entry per id (~1,000 instructions each,
// docs/BENCHMARKS.md). Runs of one prefix never overlap: a claim looks for
// the stored run holding its counter (MDB_SET_RANGE, then MDB_PREV) and
// extends the open run only below the next stored one. Every id of a run
// shares the run's first-PUT time (one turn's), so a run expires whole.
//
// Attempts survive a crash without a write per delivery:
//  - each queue record keeps `delivered_below`, the read position of the
//    queue saved every turn: every seq below it was delivered at least once
//    (or skipped while delayed, see below);
//  - a redelivery (attempt >= 2) writes its count into `attempts`, in the
//    transaction committed before the DELIVER leaves;
//  - a delayed message skipped by the read position gets an `attempts` entry
//    of 0 ("never delivered").
// After kill -9 a message's attempt is then its `attempts` entry + 1, else 2
// below `delivered_below`, else 1: redelivered with attempt+1, and a poison
// message still reaches max_attempts. (A crash between commit and send can
// count one delivery that never left: attempt errs high, never low.)
//
// Segments (docs/RATIONALE.md, "Fewer journal records per message"): LMDB
// spends ~2,850 instructions on each message record (append, then erase with
// rebalancing), ~100 per message on one record per commit. So a turn's
// messages of a queue wait in a SegmentBuilder and the commit writes them as
// one `segs` record; reads in the same turn are served from the builder. An
// ack sets the message's bit in the segment's acks (kept in memory, loaded
// from `segacked` on first touch); at commit, a segment whose last message
// was acked is deleted with its bitmap, and a partly acked one that changed
// gets its bitmap written. A crash before the commit redelivers, as before.
// A journal written before segments keeps its `msgs` records: a queue's seqs
// there are all below its first segment, read and erased as they were.
//
// Transactions: one write transaction per loop turn (begin lazily, commit
// once). Views returned by reads are valid until the next write or the end
// of the transaction, whichever comes first.
// Every commit, including the rare one in the middle of a turn when the map
// grows, first runs the owner's before-commit hook (the Broker saves its
// changed queue records there): no commit leaves `msgs` ahead of `queues`.
// Recovery still does not trust a queue record that could lag: a queue's
// next seq is at least its last stored key + 1 (load_queues).
//
// Space: LMDB fails a write with MDB_MAP_FULL past the map, and a failed
// write leaves the transaction unusable — the turn could only be thrown away,
// with replies already decided. So nothing is written without room granted
// first: make_room() takes an upper bound of the pages the write can dirty
// (copy-on-write: a changed page is a new page until the next commit) and
// says no rather than risk it. Producers (PUT, dead-letter moves) must leave
// a reserve free that only the consumer side (delivery counts, ACK erases)
// may use, so consumers and ACKs keep working when PUTs get 503.
//
// Files are created 0600: message bodies are readable by the proxy's user
// only (docs/OPERATIONS.md).
// Threading: owned and used by the loop thread only.
#pragma once

#include "latency_histogram.hpp"
#include "lmdb.hpp"
#include "message.hpp"
#include "protocol/cqp1.hpp"
#include "segment.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <unordered_map>
#include <string>
#include <string_view>
#include <vector>

namespace courier::proxy {

struct JournalCheck;  // journal_check.hpp

struct QueueOptions {
  std::optional<uint64_t> max_length;
  std::optional<std::string> dead_letter;
  std::optional<uint64_t> max_attempts;
  std::optional<uint64_t> ttl;          // default per-message ttl, ms
  std::optional<uint64_t> ack_timeout;  // ms
  std::optional<uint64_t> tokens;       // a token queue of this many tokens (§3.6)
  // The proxy that now owns the queue (docs/PROTOCOL.md §3.13): PUTs are
  // refused with 421 while it is set; consuming goes on so the copy drains.
  std::optional<std::string> moved_to;
};

// What the journal keeps of a queue besides its messages.
struct QueueRecord {
  uint32_t id = 0;
  std::string name;
  uint64_t next_seq = 1;
  uint64_t stored = 0;   // messages in `msgs` (ready + in flight + delayed)
  uint64_t delayed = 0;  // entries in `delayed` for this queue
  uint64_t delivered_below = 0;  // see "Attempts survive a crash" above
  QueueOptions options;
  bool repaired = false;  // load_queues found messages past next_seq (not stored)
};

struct TimeEntry {
  uint64_t at_ms;
  uint32_t qid;
  uint64_t seq;
};

enum class TimeIndex { delayed, expiry };

// Who asks for room: producers must leave the consumer reserve free.
enum class Room { producer, consumer };

struct JournalConfig {
  std::string dir;
  uint64_t max_size = 8ull << 30;
  bool sync = true;
};

class Journal {
 public:
  // Opens (creating the directory if missing) and recovers: LMDB's
  // copy-on-write commit makes the last committed turn the state after any
  // crash, so there is nothing to replay. Throws JournalError.
  explicit Journal(const JournalConfig& config);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // ---- the turn's write transaction -------------------------------------
  // Opened by the first write or read of a turn.
  MDB_txn* txn();
  bool in_turn() const noexcept { return txn_.active(); }
  // Commits the turn: runs the before-commit hook, then write + fsync
  // (unless sync is off). Throws JournalError.
  void commit();
  void abort() noexcept;
  // Called at the start of every commit, inside the transaction, to write
  // what must be consistent with everything else the commit holds.
  void set_before_commit(std::function<void()> hook) { before_commit_ = std::move(hook); }

  // ---- space ------------------------------------------------------------
  // Grants room for `bytes` more dirtied bytes in this turn (an upper bound
  // from the *_cost functions below), growing the map up to the configured
  // maximum. Growing needs no transaction open, so it commits the turn so far
  // first (rare: the map doubles each time); views from earlier reads are
  // then invalid. Returns false when the journal cannot take that much: the
  // map is at --max-journal-size (less the consumer reserve, for producers),
  // or the file would have to grow past the disk's free space. Nothing is
  // granted then; the caller refuses (503) or waits.
  bool make_room(uint64_t bytes, Room who);
  // Upper bounds, in bytes of dirtied pages, for the writes of one PUT of
  // messages whose record_size()s add up to `payload`, `ids` of them with an
  // id (dedup entries, `id_bytes` in all), `timed` index entries (delay, ttl).
  uint64_t put_cost(uint64_t payload, uint64_t ids, uint64_t id_bytes, uint64_t timed);
  // One delivery count written (`attempts`).
  uint64_t attempts_cost();
  // The stored size of one message record (what put_cost's `payload` sums).
  uint64_t record_size(uint64_t body, uint64_t id) const noexcept;
  // Room the consumer side keeps for itself: PUTs get 503 before it is used.
  uint64_t consumer_reserve() const noexcept;
  // Why the last make_room() said no, for the 503's text.
  const std::string& no_room_reason() const noexcept { return no_room_reason_; }
  uint64_t map_size() const noexcept { return map_size_; }
  uint64_t max_size() const noexcept { return config_.max_size; }
  // How long each LMDB commit (write + fsync) took, for the metrics.
  const LatencyHistogram& commit_latency() const noexcept { return commit_latency_; }
  uint64_t used_bytes() const;
  uint64_t free_bytes();
  bool disk_has_room(uint64_t extend);

  // ---- queues -----------------------------------------------------------
  // Every queue record, with next_seq (and the counts) raised to cover
  // messages stored past a record that lagged behind them.
  std::vector<QueueRecord> load_queues();
  void save_queue(const QueueRecord& q);
  // Removes an empty queue's record and whatever it still indexes (dedup
  // ids, delivery counts), so a later queue of that name starts afresh.
  void erase_queue(const QueueRecord& q);

  // ---- messages (journal_segments.cpp) ------------------------------------
  // Seqs of a queue must come in increasing order.
  void put_message(uint32_t qid, uint64_t seq, const MessageMeta& meta, std::string_view body);
  std::optional<MessageView> get_message(uint32_t qid, uint64_t seq);
  // The first message of queue qid with seq >= from.
  std::optional<MessageView> next_message(uint32_t qid, uint64_t from);
  // Gone from reads at once, from the file at commit.
  void erase_message(uint32_t qid, uint64_t seq) { erase_stored(qid, seq, /*legacy_now=*/true); }
  // The same for messages nothing reads again this turn (acked ones): a
  // `msgs` record of an older journal is erased at commit, sorted and thinned
  // out through one cursor (journal_format.hpp, for_each_thinned), so LMDB merges
  // its pages whole instead of rebalancing at every erase.
  void erase_message_at_commit(uint32_t qid, uint64_t seq) { erase_stored(qid, seq, /*legacy_now=*/false); }
  // Every stored message, queue by queue in seq order (for checks and tests;
  // reads the whole journal). Throws JournalError on a damaged record.
  void for_each_message(const std::function<void(uint32_t qid, const MessageView&)>& visit);

  // ---- delivery counts ----------------------------------------------------
  std::optional<uint32_t> attempts(uint32_t qid, uint64_t seq);
  void set_attempts(uint32_t qid, uint64_t seq, uint32_t n);
  void erase_attempts(uint32_t qid, uint64_t seq);

  // ---- dedup --------------------------------------------------------------
  // The seq stored under this id in this queue, if first put at or after
  // `since_ms` (read only).
  std::optional<uint64_t> dedup_live(uint32_t qid, std::string_view id, uint64_t since_ms);
  // One PUT's ids are claimed between dedup_begin and dedup_end. They are
  // recorded under one age entry, which the next PUTs of the same queue in
  // the same transaction and millisecond join: one write per queue and
  // commit, not per id nor per PUT (single-message PUTs paid one B-tree
  // write per message for it). The entry is written when another queue or
  // millisecond begins, when it grows past kMaxAgeEntry, or at commit.
  void dedup_begin(uint32_t qid, uint64_t now_ms);
  // Claims `id` for `seq`: returns nullopt when the id was free (or
  // remembered only from before `since_ms`) and is now remembered for
  // `seq`; returns the remembered seq when it is a duplicate. An id of the
  // user's is one B-tree operation; an automatic one usually extends the
  // open run in memory (journal_dedup.cpp).
  std::optional<uint64_t> dedup_claim(std::string_view id, uint64_t seq, uint64_t since_ms);
  void dedup_end();
  // Forgets ids first put before `before_ms`; at most `limit` per call so a
  // turn stays short. Returns how many were removed.
  std::size_t dedup_prune(uint64_t before_ms, std::size_t limit);

  // ---- checking (courier-proxy --check) ------------------------------------
  // Reads everything and reports what breaks the layout's invariants
  // (journal_check.hpp). Writes nothing. Throws JournalError only when the
  // journal cannot be read at all.
  JournalCheck check();

  // ---- time indexes -------------------------------------------------------
  void index_put(TimeIndex index, const TimeEntry& e);
  // Returns whether the entry was there.
  bool index_erase(TimeIndex index, const TimeEntry& e);
  std::optional<TimeEntry> index_first(TimeIndex index);

 private:
  MDB_dbi dbi(TimeIndex index) const noexcept { return index == TimeIndex::delayed ? delayed_ : expiry_; }
  lmdb::Cursor& msgs_cursor();

  // ---- segments (journal_segments.cpp) ----
  // Which messages of a stored segment are acked.
  struct SegmentAcks {
    uint32_t count = 0;
    uint32_t live = 0;            // not acked
    std::vector<uint64_t> bits;   // bit i: seq first+i acked (empty: none)
    bool dirty = false;           // changed this turn, in segment_acks_dirty_
    bool acked(uint64_t i) const noexcept { return i / 64 < bits.size() && ((bits[i / 64] >> (i % 64)) & 1); }
    bool ack(uint64_t i);         // false if it already was
    // A segment of `count` messages with the `segacked` value `stored`
    // (nullptr: none acked); nullopt when its size is not one bit per message.
    static std::optional<SegmentAcks> read(uint32_t count, const MDB_val* stored);
  };
  using SegmentKey = std::pair<uint32_t, uint64_t>;  // qid, first seq
  // This turn's messages of one queue, written at commit.
  struct OpenSegment {
    uint64_t turn = 0;  // the last turn that put into it (turn_no_)
    uint64_t first = 0;
    SegmentBuilder builder;
    SegmentAcks acks;  // of what the turn already acked of its own messages
    bool holds(uint64_t seq) const noexcept { return seq >= first && seq - first < builder.count(); }
  };
  // A stored segment being read, with its acks (nullptr: none).
  struct SegmentRead {
    uint32_t qid = 0;
    std::optional<SegmentView> view;
    SegmentAcks* acks = nullptr;
  };
  void erase_stored(uint32_t qid, uint64_t seq, bool legacy_now);
  // The stored segment of queue qid holding seq or, with or_after, the first
  // one after it; the view stays valid for the turn (segs is written only at
  // commit, or when a turn's builder spills).
  const SegmentRead* find_segment(uint32_t qid, uint64_t seq, bool or_after);
  // The acks of a stored segment, loaded from `segacked` (nullptr: none yet;
  // created when `create`).
  SegmentAcks* segment_acks(uint32_t qid, const SegmentView& view, bool create);
  // Writes a queue's builder as a segment (nothing if the turn acked all of it).
  void write_open_segment(uint32_t qid, OpenSegment& open);
  // At commit: every builder, then every changed bitmap or emptied segment.
  void flush_segments();
  void forget_segments() noexcept;  // the turn is thrown away: back to the file's state
  void check_segments(JournalCheck& out, const std::map<uint32_t, std::size_t>& by_id,
                      const std::map<uint32_t, uint64_t>& legacy_end);
  std::optional<MessageView> legacy_get(uint32_t qid, uint64_t seq);
  std::optional<MessageView> legacy_next(uint32_t qid, uint64_t from);
  bool legacy_erase(uint32_t qid, uint64_t seq);
  // Before the transaction ends (commit or abort): its cursors and grants go.
  void forget_turn() noexcept;
  void flush_erases();
  // Cost of n writes of `entry` bytes at scattered keys of `db`.
  uint64_t scattered_cost(MDB_dbi db, uint64_t n, uint64_t entry);
  // Paths and free-list records a transaction may copy, paid once per turn.
  uint64_t turn_overhead();
  void cover_stored_tail(QueueRecord& q);
  void note_scattered(MDB_dbi db) noexcept { ++touched_[db & 15]; }
  // Removes every key of `db` that starts with `prefix`; returns how many.
  std::size_t erase_prefix(MDB_dbi db, std::string_view prefix);

  JournalConfig config_;
  int lock_fd_ = -1;  // flock on DIR/proxy.lock, held for the journal's life
  lmdb::Env env_;
  uint64_t map_size_ = 0;
  MDB_dbi queues_ = 0, msgs_ = 0, attempts_ = 0, dedup_ = 0, dedup_runs_ = 0, dedup_age_ = 0, delayed_ = 0,
          expiry_ = 0, meta_ = 0, segs_ = 0, segacked_ = 0;
  // `msgs` still holds records of a journal written before segments.
  bool legacy_ = false;
  std::unordered_map<uint32_t, OpenSegment> open_segments_;  // by qid; kept to reuse buffers
  std::vector<uint32_t> open_qids_;  // queues put into this turn, once each
  uint64_t turn_no_ = 1;              // counts flushes (commits) and aborts
  // Acks of stored segments touched since they were loaded; every entry
  // mirrors `segacked` as of the last commit plus this turn's changes.
  std::map<SegmentKey, SegmentAcks> segment_acks_;
  std::vector<SegmentKey> segment_acks_dirty_;
  lmdb::Cursor segs_cursor_;
  SegmentRead seg_read_;  // the last segment found; cleared with the turn
  // A builder this large is written at once, mid-turn: a segment's offsets
  // are u32, and one value need not hold a whole busy turn.
  static constexpr std::size_t kMaxSegmentBytes = 16u << 20;
  lmdb::Txn txn_;
  lmdb::Cursor msgs_cursor_;
  // The dedup index's cursor for the transaction: ids mostly arrive in
  // order, and a cursor that already rests on the right leaf skips the
  // descent from the root (LMDB checks the current page first).
  lmdb::Cursor dedup_cursor_;
  // Whether the last claim was the index's greatest key (a producer's ids
  // sort in publish order: src/auto_id.hpp). Then the next is tried as an
  // append, which skips the search and fills pages whole; after a miss, only
  // every 16th claim tries, so producers that interleave pay little.
  bool dedup_appending_ = true;
  uint32_t dedup_append_tries_ = 0;
  lmdb::Cursor runs_cursor_;  // `dedupruns`, for the transaction
  bool runs_appending_ = true;  // as dedup_appending_, for runs
  uint32_t runs_append_tries_ = 0;
  // Automatic ids claimed before this wall time may be `dedup` entries (a
  // journal written before runs): until the window passes it, claims and
  // lookups of automatic ids look there too. 0 for a journal begun with runs.
  uint64_t runs_since_ms_ = 0;
  // next_message's own cursor. Delivery reads a queue forward, record after
  // record: resting on the last record returned, the next one is an
  // MDB_NEXT instead of a descent from the root (~700 instructions per
  // message). Any write to `msgs` forgets the position, so the step never
  // leans on LMDB moving a cursor along with another cursor's writes.
  lmdb::Cursor scan_cursor_;
  struct {
    uint32_t qid = 0;
    uint64_t seq = 0;
    bool valid = false;  // scan_cursor_ rests on (qid, seq)
  } scan_;
  std::string key_buf_;  // reused to build keys without allocating
  // dedup_prune's ids of the age entry in hand: views into its copy of the
  // entry, refilled for each one (kept to reuse the allocation).
  std::vector<std::string_view> prune_ids_;
  std::vector<std::pair<uint32_t, uint64_t>> erase_later_;
  uint64_t turn_bytes_ = 0;  // granted by make_room in the open transaction
  uint64_t page_size_ = 4096;
  struct FreePages {
    uint64_t reusable = 0;           // by this turn's writes
    uint64_t after_next_commit = 0;  // freed by the last commit
  };
  FreePages free_pages();
  void release_recently_freed();
  bool grant(uint64_t bytes, Room who, bool may_release);
  std::optional<FreePages> free_this_turn_;  // as of the turn's start
  std::chrono::steady_clock::time_point last_release_{};
  // Per database, scattered writes already paid for this turn: each may have
  // dirtied a page of its own, but a tree cannot dirty more pages than it has.
  uint64_t touched_[16] = {};
  std::function<void()> before_commit_;
  LatencyHistogram commit_latency_;
  std::string no_room_reason_;
  uint64_t disk_budget_ = 0;  // bytes make_room may grant before statvfs again
  uint64_t next_age_n_ = 0;  // next key suffix of `dedupage`
  struct {
    bool open = false;  // ids claimed, age entry not written yet
    uint32_t qid = 0;
    uint64_t now_ms = 0;
    uint64_t n = 0;
    std::string ids;  // qid | (u8 len | id)*
  } claim_;
  // The run of automatic ids being claimed under claim_ (its queue, time and
  // age n), not written yet: ids first..last for seqs first_seq.. .
  struct {
    bool open = false;
    std::string prefix;
    uint64_t first = 0, last = 0, first_seq = 0;
    uint64_t limit = 0;  // the next stored run's first n: the run stays below it
  } run_;
  struct StoredRun {
    uint64_t first, last, first_seq, ms, age_n;
  };
  std::string run_key_buf_;
  // The stored run holding counter n of (qid, prefix), if any, with
  // runs_cursor_ on it; `next_first` gets the first n of the prefix's next
  // stored run above n (UINT64_MAX: none).
  std::optional<StoredRun> find_run(uint32_t qid, std::string_view prefix, uint64_t n, uint64_t& next_first);
  std::optional<uint64_t> claim_one(std::string_view id, uint64_t seq, uint64_t since_ms);
  std::optional<uint64_t> claim_in_run(std::string_view id, std::string_view prefix, uint64_t n, uint64_t seq,
                                       uint64_t since_ms);
  std::optional<uint64_t> live_one(uint32_t qid, std::string_view id, uint64_t since_ms);
  void write_run();
  void open_dedup_runs(MDB_txn* t);
  // Writes the open age entry (and the open run first), if any ids are in it.
  void write_age_entry();
  static constexpr std::size_t kMaxAgeEntry = 4000;  // bytes: about one page
};

}  // namespace courier::proxy
