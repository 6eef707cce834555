// proxy/journal.hpp — the proxy's durable store, in LMDB.
//
// The rest of the proxy sees "append, erase, read in queue order, dedup
// lookup, time indexes" — never cursors or MDB_val.
//
// Layout (all integer keys big-endian, so LMDB's byte order is queue order):
//   queues   name                          -> QueueRecord (msgpack)
//   msgs     qid u32 | seq u64             -> MessageMeta + body
//   attempts qid u32 | seq u64             -> u32 deliveries so far (see below)
//   dedup    qid u32 | producer id         -> seq u64 | first PUT ms u64 | age n u64
//   dedupage first PUT ms u64 | n u64      -> qid u32 | (u8 len | id)*: the ids one PUT
//                                             claimed; pruned by age, and n only
//                                             grows, so entries append
//   delayed  due ms u64 | qid u32 | seq    -> (empty)
//   expiry   expire ms u64 | qid u32 | seq -> (empty)
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
// Transactions: one write transaction per loop turn (begin lazily, commit
// once). Views returned by reads are valid only until that transaction ends.
// Threading: owned and used by the loop thread only.
#pragma once

#include "lmdb.hpp"
#include "protocol/cqp1.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courier::proxy {

struct QueueOptions {
  std::optional<uint64_t> max_length;
  std::optional<std::string> dead_letter;
  std::optional<uint64_t> max_attempts;
  std::optional<uint64_t> ttl;          // default per-message ttl, ms
  std::optional<uint64_t> ack_timeout;  // ms
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
};

struct MessageMeta {
  uint64_t ts_ms = 0;      // enqueue time
  uint64_t due_ms = 0;     // 0: ready on arrival; else delayed until then
  uint64_t expire_ms = 0;  // 0: never expires
  std::optional<cqp1::ProducerId> id;
};

// A stored message; views into the journal, valid until the turn commits.
struct MessageView {
  uint64_t seq = 0;
  MessageMeta meta;
  std::string_view body;
};

struct TimeEntry {
  uint64_t at_ms;
  uint32_t qid;
  uint64_t seq;
};

enum class TimeIndex { delayed, expiry };

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
  // Commits the turn: write + fsync (unless sync is off). Throws JournalError.
  void commit();
  void abort() noexcept;

  // ---- space ------------------------------------------------------------
  // Makes room for about `bytes` more data in this turn, growing the map up
  // to the configured maximum. Growing needs no transaction open, so it
  // commits the turn so far first (rare: the map doubles each time); views
  // from earlier reads are then invalid. Returns false when the journal cannot
  // take that much (the caller answers 503): the map is at --max-journal-size,
  // or the file would have to grow past the disk's free space.
  bool make_room(uint64_t bytes);
  // Why the last make_room() said no, for the 503's text.
  const std::string& no_room_reason() const noexcept { return no_room_reason_; }
  uint64_t map_size() const noexcept { return map_size_; }
  uint64_t used_bytes() const;
  uint64_t free_bytes();
  bool disk_has_room(uint64_t want);

  // ---- queues -----------------------------------------------------------
  std::vector<QueueRecord> load_queues();
  void save_queue(const QueueRecord& q);

  // ---- messages ---------------------------------------------------------
  void put_message(uint32_t qid, uint64_t seq, const MessageMeta& meta, std::string_view body);
  std::optional<MessageView> get_message(uint32_t qid, uint64_t seq);
  // The first message of queue qid with seq >= from.
  std::optional<MessageView> next_message(uint32_t qid, uint64_t from);
  void erase_message(uint32_t qid, uint64_t seq);
  // Erases at the end of the turn, in key order with one cursor walk: acked
  // messages are mostly consecutive, so most erases need no tree descent.
  // For messages nothing reads again this turn (acked ones).
  void erase_message_at_commit(uint32_t qid, uint64_t seq) { erase_later_.push_back({qid, seq}); }

  // ---- delivery counts ----------------------------------------------------
  std::optional<uint32_t> attempts(uint32_t qid, uint64_t seq);
  void set_attempts(uint32_t qid, uint64_t seq, uint32_t n);
  void erase_attempts(uint32_t qid, uint64_t seq);

  // ---- dedup --------------------------------------------------------------
  // The seq stored under this id in this queue, if first put at or after
  // `since_ms` (read only).
  std::optional<uint64_t> dedup_live(uint32_t qid, std::string_view id, uint64_t since_ms);
  // One PUT's ids are claimed between dedup_begin and dedup_end, which
  // records them under one age entry (one write per PUT, not per id).
  void dedup_begin(uint32_t qid, uint64_t now_ms);
  // Claims `id` for `seq` in one B-tree operation: returns nullopt when the
  // id was free (or remembered only from before `since_ms`) and is now
  // remembered for `seq`; returns the remembered seq when it is a duplicate.
  std::optional<uint64_t> dedup_claim(std::string_view id, uint64_t seq, uint64_t since_ms);
  void dedup_end();
  // Forgets ids first put before `before_ms`; at most `limit` per call so a
  // turn stays short. Returns how many were removed.
  std::size_t dedup_prune(uint64_t before_ms, std::size_t limit);

  // ---- time indexes -------------------------------------------------------
  void index_put(TimeIndex index, const TimeEntry& e);
  // Returns whether the entry was there.
  bool index_erase(TimeIndex index, const TimeEntry& e);
  std::optional<TimeEntry> index_first(TimeIndex index);

 private:
  MDB_dbi dbi(TimeIndex index) const noexcept { return index == TimeIndex::delayed ? delayed_ : expiry_; }
  lmdb::Cursor& msgs_cursor();
  void flush_erases();

  JournalConfig config_;
  int lock_fd_ = -1;  // flock on DIR/proxy.lock, held for the journal's life
  lmdb::Env env_;
  uint64_t map_size_ = 0;
  MDB_dbi queues_ = 0, msgs_ = 0, attempts_ = 0, dedup_ = 0, dedup_age_ = 0, delayed_ = 0,
          expiry_ = 0;
  lmdb::Txn txn_;
  lmdb::Cursor msgs_cursor_;
  std::string key_buf_;  // reused to build keys without allocating
  std::vector<std::pair<uint32_t, uint64_t>> erase_later_;
  uint64_t turn_bytes_ = 0;  // written in the open transaction
  std::string no_room_reason_;
  uint64_t disk_budget_ = 0;  // bytes make_room may grant before statvfs again
  uint64_t next_age_n_ = 0;  // next key suffix of `dedupage`
  struct {
    uint32_t qid = 0;
    uint64_t now_ms = 0;
    uint64_t n = 0;
    std::string ids;  // qid | (u8 len | id)*
  } claim_;
};

}  // namespace courier::proxy
