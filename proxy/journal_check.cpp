// proxy/journal_check.cpp — Journal::check(): the layout's invariants
// (journal.hpp, "Layout") verified over a stopped journal, like
// redis-check-aof beside Redis. It reads in the journal's own transaction and
// aborts it: nothing is written.
#include "journal.hpp"
#include "journal_check.hpp"
#include "journal_format.hpp"

#include <map>
#include <set>

namespace courier::proxy {

using namespace format;

namespace {

std::string at(const std::string& queue, uint64_t seq) {
  return "queue " + queue + " seq " + std::to_string(seq);
}

}  // namespace

// Segments: each belongs to a queue, is readable, starts past the queue's
// `msgs` records and its previous segment, holds only seqs below next_seq;
// its acks bitmap, if any, is a bitmap of its size. Adds the live messages
// to the queues' counts.
void Journal::check_segments(JournalCheck& out, const std::map<uint32_t, std::size_t>& by_id,
                             const std::map<uint32_t, uint64_t>& legacy_end) {
  uint64_t all_acked = 0;
  std::map<uint32_t, uint64_t> segment_end;  // one past a queue's last segment so far
  lmdb::Cursor c(txn(), segs_);
  MDB_val k, v;
  for (bool ok = c.get(k, v, MDB_FIRST); ok; ok = c.get(k, v, MDB_NEXT)) {
    if (k.mv_size != 12) {
      out.problem("a segment key of " + std::to_string(k.mv_size) + " bytes (12 expected)");
      continue;
    }
    const char* kp = static_cast<const char*>(k.mv_data);
    const auto qid = static_cast<uint32_t>(get_be(kp, 4));
    const uint64_t first = get_be(kp + 4, 8);
    auto it = by_id.find(qid);
    if (it == by_id.end()) {
      out.problem("the segment from seq " + std::to_string(first) + " of queue id " + std::to_string(qid) +
                  " belongs to no queue");
      continue;
    }
    QueueCheck& q = out.queues[it->second];
    std::optional<SegmentView> view;
    try {
      view = SegmentView::parse(first, lmdb::view(v));
    } catch (const JournalError& e) {
      out.problem(at(q.name, first) + ": " + e.what());
      continue;
    }
    if (auto l = legacy_end.find(qid); l != legacy_end.end() && l->second > first) {
      out.problem("the segment at " + at(q.name, first) + " starts below the queue's one-record messages");
    }
    if (auto e = segment_end.find(qid); e != segment_end.end() && e->second > first) {
      out.problem("the segment at " + at(q.name, first) + " overlaps the one before it");
    }
    segment_end[qid] = view->end_seq();
    MDB_val ak = k, av;
    const int rc = mdb_get(txn(), segacked_, &ak, &av);
    if (rc != 0 && rc != MDB_NOTFOUND) lmdb::check(rc, "reading a segment's acks");
    std::optional<SegmentAcks> acks = SegmentAcks::read(view->count(), rc == 0 ? &av : nullptr);
    if (!acks) {
      out.problem("the acks of the segment at " + at(q.name, first) + " have " + std::to_string(av.mv_size) +
                  " bytes, not one bit per message");
      acks = SegmentAcks::read(view->count(), nullptr);
    }
    uint64_t live = 0;
    for (uint64_t seq = first; seq < view->end_seq(); ++seq) {
      if (acks->acked(seq - first)) continue;
      ++live;
      ++q.messages;
      if (seq >= q.next_seq) {
        out.problem(at(q.name, seq) + " is at or past the queue's next_seq " + std::to_string(q.next_seq) +
                    " (a new PUT would overwrite it)");
      }
      try {
        (void)view->message(seq);
      } catch (const JournalError& e) {
        out.problem(at(q.name, seq) + ": " + e.what());
      }
    }
    if (live == 0) ++all_acked;
  }
  if (all_acked > 0) {
    out.notes.push_back(std::to_string(all_acked) +
                        " segment(s) with every message acked (deleted when next touched; harmless)");
  }
  uint64_t stray_acks = 0;
  lmdb::Cursor a(txn(), segacked_);
  for (bool ok = a.get(k, v, MDB_FIRST); ok; ok = a.get(k, v, MDB_NEXT)) {
    MDB_val sk = k, sv;
    if (mdb_get(txn(), segs_, &sk, &sv) == MDB_NOTFOUND) ++stray_acks;
  }
  if (stray_acks > 0) {
    out.notes.push_back(std::to_string(stray_acks) + " ack bitmap(s) of segments no longer stored (harmless)");
  }
}

JournalCheck Journal::check() {
  JournalCheck out;
  std::map<uint32_t, std::size_t> by_id;  // queue id -> index in out.queues
  std::map<uint32_t, uint64_t> stored_record, delayed_record, below_record;
  auto name_of = [&](uint32_t qid) {
    auto it = by_id.find(qid);
    return it == by_id.end() ? "#" + std::to_string(qid) : out.queues[it->second].name;
  };

  // ---- queue records ----
  {
    lmdb::Cursor c(txn(), queues_);
    MDB_val k, v;
    for (bool ok = c.get(k, v, MDB_FIRST); ok; ok = c.get(k, v, MDB_NEXT)) {
      QueueCheck q;
      q.name = std::string(lmdb::view(k));
      try {
        msgpack::object_handle oh = msgpack::unpack(static_cast<const char*>(v.mv_data), v.mv_size);
        const msgpack::object& o = oh.get();
        if (o.type != msgpack::type::ARRAY || o.via.array.size < 10) throw std::runtime_error("not an array of 10");
        const msgpack::object* a = o.via.array.ptr;
        q.id = a[0].as<uint32_t>();
        q.next_seq = a[1].as<uint64_t>();
        stored_record[q.id] = a[2].as<uint64_t>();
        delayed_record[q.id] = a[3].as<uint64_t>();
        below_record[q.id] = a[9].as<uint64_t>();
        if (a[5].type != msgpack::type::NIL) {
          const auto dl = a[5].as<std::string>();
          if (!cqp1::valid_queue_name(dl) || dl == q.name) out.problem("queue " + q.name + ": bad dead_letter '" + dl + "'");
        }
        if (o.via.array.size >= 11 && a[10].type != msgpack::type::NIL) q.tokens = a[10].as<uint64_t>();
        if (o.via.array.size >= 12 && a[11].type != msgpack::type::NIL) {  // moved_to, docs/PROTOCOL.md §3.13
          const auto to = a[11].as<std::string>();
          const bool name_ok = !to.empty() && to.size() <= 64 &&
                               to.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                                   std::string::npos;
          if (!name_ok) out.problem("queue " + q.name + ": bad moved_to '" + to.substr(0, 64) + "'");
          if (q.tokens) out.problem("queue " + q.name + ": a token queue marked moved_to " + to.substr(0, 64));
        }
      } catch (const std::exception& e) {
        out.problem("queue record '" + q.name + "' cannot be read: " + e.what());
        continue;
      }
      if (!cqp1::valid_queue_name(q.name)) out.problem("queue record with an invalid name '" + q.name + "'");
      if (q.next_seq == 0) out.problem("queue " + q.name + ": next_seq is 0");
      if (below_record[q.id] > q.next_seq) {
        out.problem("queue " + q.name + ": delivered_below " + std::to_string(below_record[q.id]) +
                    " is past next_seq " + std::to_string(q.next_seq));
      }
      if (q.tokens && (*q.tokens < 1 || *q.tokens > 65536)) {
        out.problem("queue " + q.name + ": tokens " + std::to_string(*q.tokens) + " outside 1..65536");
      }
      if (!by_id.emplace(q.id, out.queues.size()).second) {
        out.problem("queues " + q.name + " and " + name_of(q.id) + " share the id " + std::to_string(q.id));
        continue;
      }
      out.queues.push_back(std::move(q));
    }
  }

  // ---- messages: each belongs to a queue, below its next_seq, readable ----
  std::map<uint32_t, uint64_t> legacy_end;  // one past a queue's last `msgs` seq
  {
    lmdb::Cursor c(txn(), msgs_);
    MDB_val k, v;
    for (bool ok = c.get(k, v, MDB_FIRST); ok; ok = c.get(k, v, MDB_NEXT)) {
      if (k.mv_size != 12) {
        out.problem("a message key of " + std::to_string(k.mv_size) + " bytes (12 expected)");
        continue;
      }
      const char* kp = static_cast<const char*>(k.mv_data);
      const auto qid = static_cast<uint32_t>(get_be(kp, 4));
      const uint64_t seq = get_be(kp + 4, 8);
      auto it = by_id.find(qid);
      if (it == by_id.end()) {
        out.problem("message seq " + std::to_string(seq) + " of queue id " + std::to_string(qid) +
                    " belongs to no queue");
        continue;
      }
      QueueCheck& q = out.queues[it->second];
      ++q.messages;
      legacy_end[qid] = seq + 1;
      if (seq >= q.next_seq) {
        out.problem(at(q.name, seq) + " is at or past the queue's next_seq " + std::to_string(q.next_seq) +
                    " (a new PUT would overwrite it)");
      }
      try {
        (void)decode_record(seq, v);
      } catch (const JournalError& e) {
        out.problem(at(q.name, seq) + ": " + e.what());
      }
    }
  }

  check_segments(out, by_id, legacy_end);

  // ---- time indexes: each entry names a stored message with that time ----
  auto check_index = [&](MDB_dbi db, const char* what, bool delayed) {
    lmdb::Cursor c(txn(), db);
    MDB_val k, v;
    for (bool ok = c.get(k, v, MDB_FIRST); ok; ok = c.get(k, v, MDB_NEXT)) {
      if (k.mv_size != 20) {
        out.problem(std::string("a ") + what + " entry of " + std::to_string(k.mv_size) + " bytes (20 expected)");
        continue;
      }
      const char* kp = static_cast<const char*>(k.mv_data);
      const uint64_t when = get_be(kp, 8);
      const auto qid = static_cast<uint32_t>(get_be(kp + 8, 4));
      const uint64_t seq = get_be(kp + 12, 8);
      auto it = by_id.find(qid);
      if (it == by_id.end()) {
        out.problem(std::string(what) + " entry for queue id " + std::to_string(qid) + " which does not exist");
        continue;
      }
      QueueCheck& q = out.queues[it->second];
      ++(delayed ? q.delayed : q.expiring);
      std::optional<MessageView> m;
      try {
        m = get_message(qid, seq);
      } catch (const JournalError&) {
        continue;  // reported with the messages
      }
      if (!m) {
        out.problem(std::string(what) + " entry for " + at(q.name, seq) + ", which is not stored");
      } else if ((delayed ? m->meta.due_ms : m->meta.expire_ms) != when) {
        out.problem(std::string(what) + " entry for " + at(q.name, seq) + " at " + std::to_string(when) +
                    " ms, but the message says " +
                    std::to_string(delayed ? m->meta.due_ms : m->meta.expire_ms));
      }
    }
  };
  check_index(delayed_, "delayed", true);
  check_index(expiry_, "expiry", false);

  // ---- counts in the records ----
  for (QueueCheck& q : out.queues) {
    if (stored_record[q.id] != q.messages) {
      out.problem("queue " + q.name + ": its record counts " + std::to_string(stored_record[q.id]) +
                  " stored messages, the journal holds " + std::to_string(q.messages));
    }
    if (delayed_record[q.id] != q.delayed) {
      out.problem("queue " + q.name + ": its record counts " + std::to_string(delayed_record[q.id]) +
                  " delayed messages, the delayed index holds " + std::to_string(q.delayed));
    }
    if (q.tokens && q.messages != *q.tokens) {
      out.problem("token queue " + q.name + " holds " + std::to_string(q.messages) + " tokens, declared " +
                  std::to_string(*q.tokens));
    }
  }

  // ---- delivery counts and dedup ids: leftovers are harmless ----
  uint64_t stray_attempts = 0, stray_dedup = 0;
  {
    lmdb::Cursor c(txn(), attempts_);
    MDB_val k, v;
    for (bool ok = c.get(k, v, MDB_FIRST); ok; ok = c.get(k, v, MDB_NEXT)) {
      if (k.mv_size != 12 || v.mv_size != 4) {
        out.problem("a delivery count entry of the wrong size");
        continue;
      }
      const char* kp = static_cast<const char*>(k.mv_data);
      if (!get_message(static_cast<uint32_t>(get_be(kp, 4)), get_be(kp + 4, 8))) ++stray_attempts;
    }
  }
  {
    lmdb::Cursor c(txn(), dedup_);
    MDB_val k, v;
    for (bool ok = c.get(k, v, MDB_FIRST); ok; ok = c.get(k, v, MDB_NEXT)) {
      if (k.mv_size < 5 || v.mv_size != kDedupValue) {
        out.problem("a dedup entry of the wrong size");
        continue;
      }
      auto it = by_id.find(static_cast<uint32_t>(get_be(static_cast<const char*>(k.mv_data), 4)));
      if (it == by_id.end()) {
        ++stray_dedup;
      } else {
        ++out.queues[it->second].dedup_ids;
      }
    }
  }
  {
    // Runs of automatic ids: whole records, and one prefix's runs apart.
    lmdb::Cursor c(txn(), dedup_runs_);
    MDB_val k, v;
    std::string previous;  // the last run's qid | length | prefix
    uint64_t previous_last = 0;
    for (bool ok = c.get(k, v, MDB_FIRST); ok; ok = c.get(k, v, MDB_NEXT)) {
      const char* kp = static_cast<const char*>(k.mv_data);
      if (k.mv_size < 4 + 1 + 8 || k.mv_size != std::size_t{4 + 1 + 8} + static_cast<unsigned char>(kp[4]) ||
          v.mv_size != kDedupRunValue) {
        out.problem("a dedup run of the wrong size");
        continue;
      }
      const std::string prefix(kp, k.mv_size - 8);
      const uint64_t first = get_be(kp + k.mv_size - 8, 8);
      const uint64_t last = get_be(static_cast<const char*>(v.mv_data), 8);
      if (last < first) {
        out.problem("a dedup run that ends before it begins");
        continue;
      }
      if (prefix == previous && first <= previous_last) {
        out.problem("two dedup runs of one producer overlap: an id would have two seqs");
      }
      previous = prefix;
      previous_last = last;
      auto it = by_id.find(static_cast<uint32_t>(get_be(kp, 4)));
      if (it == by_id.end()) {
        stray_dedup += last - first + 1;
      } else {
        out.queues[it->second].dedup_ids += last - first + 1;
      }
    }
  }
  if (stray_attempts > 0) {
    out.notes.push_back(std::to_string(stray_attempts) +
                        " delivery count(s) of messages no longer stored (unused; harmless)");
  }
  if (stray_dedup > 0) {
    out.notes.push_back(std::to_string(stray_dedup) + " dedup id(s) of queues that no longer exist (harmless)");
  }
  abort();
  return out;
}

}  // namespace courier::proxy
