// proxy/journal_segments.cpp — the Journal's messages as segments, one
// record per queue and turn (journal.hpp, "Segments"; segment.hpp for the
// value's layout).
//
// Where a message of queue qid and seq s is:
//  - in this turn's builder of qid, if s is at or past its first seq;
//  - else in the stored segment whose range holds s (`segs`);
//  - else, in a journal written before segments, in `msgs`.
// Its acked bit, if any, is in the builder's or the segment's SegmentAcks.
#include "journal.hpp"
#include "journal_format.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace courier::proxy {

using namespace format;

namespace {

// What a builder keeps between turns to grow without allocating; a turn far
// past it gives the memory back.
constexpr std::size_t kKeepBuilderBytes = 256u << 10;

uint32_t key_qid(const MDB_val& k) {
  if (k.mv_size != 12) throw JournalError("journal segment key has a bad size: the data file is damaged");
  return static_cast<uint32_t>(get_be(static_cast<const char*>(k.mv_data), 4));
}
uint64_t key_seq(const MDB_val& k) { return get_be(static_cast<const char*>(k.mv_data) + 4, 8); }

}  // namespace

bool Journal::SegmentAcks::ack(uint64_t i) {
  const std::size_t words = (count + 63) / 64;
  if (bits.size() < words) bits.resize(words, 0);  // a builder's count grows after its first ack
  uint64_t& word = bits[i / 64];
  const uint64_t bit = uint64_t{1} << (i % 64);
  if (word & bit) return false;
  word |= bit;
  --live;
  return true;
}

std::optional<Journal::SegmentAcks> Journal::SegmentAcks::read(uint32_t count, const MDB_val* stored) {
  SegmentAcks acks;
  acks.count = count;
  acks.live = count;
  if (stored == nullptr) return acks;
  const std::size_t words = (count + 63) / 64;
  if (stored->mv_size != words * sizeof(uint64_t)) return std::nullopt;
  acks.bits.resize(words);
  std::memcpy(acks.bits.data(), stored->mv_data, stored->mv_size);
  if (count % 64 != 0) acks.bits.back() &= (uint64_t{1} << (count % 64)) - 1;  // bits past the last message
  uint64_t acked = 0;
  for (uint64_t w : acks.bits) acked += static_cast<uint64_t>(__builtin_popcountll(w));
  acks.live = static_cast<uint32_t>(count - acked);
  return acks;
}

// ---- writing ------------------------------------------------------------------

void Journal::put_message(uint32_t qid, uint64_t seq, const MessageMeta& meta, std::string_view body) {
  OpenSegment& open = open_segments_[qid];
  if (!open.builder.empty() && open.first + open.builder.count() != seq) {
    write_open_segment(qid, open);  // a segment's seqs are consecutive
  }
  if (open.turn != turn_no_) {
    open.turn = turn_no_;
    open_qids_.push_back(qid);
  }
  if (open.builder.empty()) {
    open.first = seq;
    open.acks = SegmentAcks{};
  }
  open.builder.add(meta, body);
  ++open.acks.count;
  ++open.acks.live;
  turn_bytes_ += record_bytes(meta, body.size()) + 64;
  if (open.builder.size() >= kMaxSegmentBytes) write_open_segment(qid, open);
}

void Journal::write_open_segment(uint32_t qid, OpenSegment& open) {
  if (open.builder.empty()) return;
  if (open.acks.live > 0) {  // acked whole within its turn: never written
    seg_read_ = SegmentRead{};  // a write may move what a read points into
    MDB_val k = lmdb::val(message_key(key_buf_, qid, open.first));
    MDB_val v{open.builder.size(), nullptr};
    // MDB_RESERVE: the builder is copied once, into the page. Segments of the
    // queue with the highest id come last: MDB_APPEND skips the search, and
    // LMDB refuses it cheaply (right spine only) for a key that is not last.
    int rc = mdb_put(txn(), segs_, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc == MDB_KEYEXIST) rc = mdb_put(txn(), segs_, &k, &v, MDB_RESERVE);
    if (rc == MDB_MAP_FULL) throw JournalError("journal map full");
    lmdb::check(rc, "storing a segment");
    open.builder.write_to(static_cast<char*>(v.mv_data));
    if (open.acks.live < open.acks.count) {  // partly acked already: its bitmap goes too
      const SegmentKey key{qid, open.first};
      SegmentAcks& acks = segment_acks_[key];
      acks = std::move(open.acks);
      acks.bits.resize((acks.count + 63) / 64, 0);
      acks.dirty = true;
      segment_acks_dirty_.push_back(key);
    }
  }
  open.acks = SegmentAcks{};
  if (open.builder.capacity() > kKeepBuilderBytes) {
    open.builder = SegmentBuilder{};
  } else {
    open.builder.clear();
  }
}

void Journal::flush_segments() {
  for (uint32_t qid : open_qids_) {
    auto it = open_segments_.find(qid);
    if (it != open_segments_.end()) write_open_segment(qid, it->second);
  }
  // Buffers are kept for the queues of this turn only: with many queues, one
  // each would add up.
  if (open_segments_.size() > open_qids_.size()) {
    for (auto it = open_segments_.begin(); it != open_segments_.end();) {
      it = it->second.turn == turn_no_ ? std::next(it) : open_segments_.erase(it);
    }
  }
  open_qids_.clear();
  ++turn_no_;
  if (segment_acks_dirty_.empty()) return;
  seg_read_ = SegmentRead{};
  for (const SegmentKey& key : segment_acks_dirty_) {
    auto it = segment_acks_.find(key);
    if (it == segment_acks_.end()) continue;
    SegmentAcks& acks = it->second;
    MDB_val k = lmdb::val(message_key(key_buf_, key.first, key.second));
    if (acks.live == 0) {
      // The last ack: one delete, the segment's overflow run freed whole.
      int rc = mdb_del(txn(), segs_, &k, nullptr);
      if (rc != MDB_NOTFOUND) lmdb::check(rc, "erasing a segment");
      rc = mdb_del(txn(), segacked_, &k, nullptr);
      if (rc != MDB_NOTFOUND) lmdb::check(rc, "erasing a segment's acks");
      segment_acks_.erase(it);
      continue;
    }
    acks.dirty = false;
    MDB_val v{acks.bits.size() * sizeof(uint64_t), acks.bits.data()};
    lmdb::check(mdb_put(txn(), segacked_, &k, &v, 0), "storing a segment's acks");
  }
  segment_acks_dirty_.clear();
}

// The turn is thrown away: what was acked in memory goes too, and is read
// again from `segacked` when next needed.
void Journal::forget_segments() noexcept {
  for (uint32_t qid : open_qids_) {
    auto it = open_segments_.find(qid);
    if (it == open_segments_.end()) continue;
    it->second.builder.clear();
    it->second.acks = SegmentAcks{};
  }
  open_qids_.clear();
  ++turn_no_;
  segment_acks_.clear();
  segment_acks_dirty_.clear();
  seg_read_ = SegmentRead{};
}

// ---- finding ------------------------------------------------------------------

Journal::SegmentAcks* Journal::segment_acks(uint32_t qid, const SegmentView& view, bool create) {
  const SegmentKey key{qid, view.first_seq()};
  auto it = segment_acks_.find(key);
  if (it != segment_acks_.end()) return &it->second;
  MDB_val k = lmdb::val(message_key(key_buf_, qid, view.first_seq())), v;
  const int rc = mdb_get(txn(), segacked_, &k, &v);
  if (rc == MDB_NOTFOUND && !create) return nullptr;
  if (rc != MDB_NOTFOUND) lmdb::check(rc, "reading a segment's acks");
  std::optional<SegmentAcks> acks = SegmentAcks::read(view.count(), rc == 0 ? &v : nullptr);
  if (!acks) throw JournalError("acks of a journal segment have a bad size: the data file is damaged");
  SegmentAcks& stored = segment_acks_.emplace(key, std::move(*acks)).first->second;
  if (stored.live == 0) {  // all acked, never deleted (not written so): deleted now
    stored.dirty = true;
    segment_acks_dirty_.push_back(key);
  }
  if (seg_read_.view && seg_read_.qid == qid && seg_read_.view->first_seq() == key.second) {
    seg_read_.acks = &stored;
  }
  return &stored;
}

const Journal::SegmentRead* Journal::find_segment(uint32_t qid, uint64_t seq, bool or_after) {
  if (seg_read_.view && seg_read_.qid == qid && seg_read_.view->holds(seq)) return &seg_read_;
  if (segs_cursor_.get() == nullptr) segs_cursor_ = lmdb::Cursor(txn(), segs_);
  MDB_val k = lmdb::val(message_key(key_buf_, qid, seq)), v;
  const bool found = segs_cursor_.get(k, v, MDB_SET_RANGE);
  const bool exact = found && key_qid(k) == qid && key_seq(k) == seq;
  if (!exact) {
    // The segment before the first key past seq may still hold seq.
    MDB_val pk, pv;
    const bool before = found ? segs_cursor_.get(pk, pv, MDB_PREV) : segs_cursor_.get(pk, pv, MDB_LAST);
    if (before && key_qid(pk) == qid) {
      SegmentView view = SegmentView::parse(key_seq(pk), lmdb::view(pv));
      if (view.holds(seq)) {
        seg_read_ = SegmentRead{qid, view, nullptr};
        seg_read_.acks = segment_acks(qid, view, /*create=*/false);
        return &seg_read_;
      }
    }
    if (!or_after || !found || key_qid(k) != qid) return nullptr;
  }
  // k and v still point at the first key at or past seq (LMDB pages do not
  // move while the transaction only reads them).
  const SegmentView view = SegmentView::parse(key_seq(k), lmdb::view(v));
  seg_read_ = SegmentRead{qid, view, nullptr};
  seg_read_.acks = segment_acks(qid, view, /*create=*/false);
  return &seg_read_;
}

// ---- reading --------------------------------------------------------------------

std::optional<MessageView> Journal::get_message(uint32_t qid, uint64_t seq) {
  auto open = open_segments_.find(qid);
  if (open != open_segments_.end() && open->second.holds(seq)) {
    const OpenSegment& o = open->second;
    if (o.acks.acked(seq - o.first)) return std::nullopt;
    return o.builder.view(o.first).message(seq);
  }
  if (const SegmentRead* r = find_segment(qid, seq, /*or_after=*/false)) {
    if (r->acks && r->acks->acked(seq - r->view->first_seq())) return std::nullopt;
    return r->view->message(seq);
  }
  if (legacy_) return legacy_get(qid, seq);
  return std::nullopt;
}

std::optional<MessageView> Journal::next_message(uint32_t qid, uint64_t from) {
  auto open = open_segments_.find(qid);
  const OpenSegment* o = open != open_segments_.end() && !open->second.builder.empty() ? &open->second : nullptr;
  // Stored seqs of a queue are all below its builder's, and `msgs` ones
  // below every segment's.
  if (o == nullptr || from < o->first) {
    if (legacy_) {
      if (auto m = legacy_next(qid, from)) return m;
    }
    for (const SegmentRead* r = find_segment(qid, from, /*or_after=*/true); r != nullptr;
         r = find_segment(qid, from, /*or_after=*/true)) {
      const SegmentView& view = *r->view;
      for (uint64_t s = std::max(from, view.first_seq()); s < view.end_seq(); ++s) {
        if (r->acks == nullptr || !r->acks->acked(s - view.first_seq())) return view.message(s);
      }
      from = view.end_seq();
    }
  }
  if (o == nullptr) return std::nullopt;
  for (uint64_t s = std::max(from, o->first); o->holds(s); ++s) {
    if (!o->acks.acked(s - o->first)) return o->builder.view(o->first).message(s);
  }
  return std::nullopt;
}

void Journal::erase_stored(uint32_t qid, uint64_t seq, bool legacy_now) {
  auto open = open_segments_.find(qid);
  if (open != open_segments_.end() && open->second.holds(seq)) {
    open->second.acks.ack(seq - open->second.first);
    return;
  }
  if (const SegmentRead* r = find_segment(qid, seq, /*or_after=*/false)) {
    const uint64_t first = r->view->first_seq();
    // The read's acks when it has them: a map lookup less per ack.
    SegmentAcks* acks = r->acks ? r->acks : segment_acks(qid, *r->view, /*create=*/true);
    if (acks->ack(seq - first) && !acks->dirty) {
      acks->dirty = true;
      segment_acks_dirty_.push_back({qid, first});
    }
    return;
  }
  if (!legacy_) return;
  if (legacy_now) {
    legacy_erase(qid, seq);
  } else {
    erase_later_.push_back({qid, seq});
  }
}

void Journal::for_each_message(const std::function<void(uint32_t qid, const MessageView&)>& visit) {
  lmdb::Cursor legacy(txn(), msgs_);
  MDB_val k, v;
  for (bool ok = legacy.get(k, v, MDB_FIRST); ok; ok = legacy.get(k, v, MDB_NEXT)) {
    if (k.mv_size != 12) throw JournalError("journal message key has a bad size: the data file is damaged");
    visit(key_qid(k), decode_record(key_seq(k), v));
  }
  lmdb::Cursor segs(txn(), segs_);
  for (bool ok = segs.get(k, v, MDB_FIRST); ok; ok = segs.get(k, v, MDB_NEXT)) {
    const uint32_t qid = key_qid(k);
    const SegmentView view = SegmentView::parse(key_seq(k), lmdb::view(v));
    const SegmentAcks* acks = segment_acks(qid, view, /*create=*/false);
    for (uint64_t s = view.first_seq(); s < view.end_seq(); ++s) {
      if (acks == nullptr || !acks->acked(s - view.first_seq())) visit(qid, view.message(s));
    }
  }
  for (const auto& [qid, o] : open_segments_) {
    for (uint64_t s = o.first; o.holds(s); ++s) {
      if (!o.acks.acked(s - o.first)) visit(qid, o.builder.view(o.first).message(s));
    }
  }
}

}  // namespace courier::proxy
