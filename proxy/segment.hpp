// proxy/segment.hpp — the messages one turn stored in one queue, as one
// journal record: the format of docs/RATIONALE.md, "Fewer journal records
// per message". LMDB spends ~2,850 instructions per message on a record
// each (append, then erase with rebalancing) and ~100 on a record per
// commit (BENCHMARKS.md, "What one record per commit would gain").
//
// The Journal keeps a turn's messages of each queue in a SegmentBuilder and
// writes it at commit (journal_segments.cpp).
//
// Key (as in `msgs`): qid u32 | first seq u64, big-endian. The seqs of a
// segment are consecutive: a queue hands its seqs out one after another,
// and a segment holds what one turn stored in one queue.
// Value:
//   u32 count                      (>= 1)
//   u32 end[count]                 where record i ends, from the first record
//   the records                    each exactly a `msgs` value
//                                  (journal_format.hpp, encode_record)
// Integers native-endian like the records' own fields (the journal is not
// portable across byte orders; LMDB's file is not either). The offsets make
// reading seq k one lookup, not a walk.
#pragma once

#include "message.hpp"

#include <courier/errors.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace courier::proxy {

class SegmentView;

// Collects a turn's messages of one queue and writes them as one value.
class SegmentBuilder {
 public:
  // Appends the next message (seq = first + count() before the call).
  void add(const MessageMeta& meta, std::string_view body);
  uint32_t count() const noexcept { return static_cast<uint32_t>(ends_.size()); }
  bool empty() const noexcept { return ends_.empty(); }
  // Bytes of the value write_to writes.
  std::size_t size() const noexcept { return 4 + 4 * ends_.size() + records_.size(); }
  // Writes the value into `out`, which has size() bytes (MDB_RESERVE space).
  void write_to(char* out) const noexcept;
  void clear() noexcept;
  // The messages added so far, read in place (the offsets are kept in the
  // value's layout). Valid until the next add() or clear().
  SegmentView view(uint64_t first_seq) const noexcept;
  // Bytes held in reserve for the next turn's messages.
  std::size_t capacity() const noexcept { return records_.capacity() + 4 * ends_.capacity(); }

 private:
  std::vector<uint32_t> ends_;
  std::string records_;
};

// A segment read back. Views into the value: valid while it is.
class SegmentView {
 public:
  // Throws JournalError ("... the data file is damaged") when `value` is not
  // a well-formed segment: too short, no messages, offsets out of order or
  // past the end, a record shorter than a record's fixed part.
  static SegmentView parse(uint64_t first_seq, std::string_view value);

  uint64_t first_seq() const noexcept { return first_; }
  uint32_t count() const noexcept { return count_; }
  uint64_t end_seq() const noexcept { return first_ + count_; }  // one past the last
  bool holds(uint64_t seq) const noexcept { return seq >= first_ && seq < end_seq(); }
  // Precondition: holds(seq). Throws JournalError for a damaged record.
  MessageView message(uint64_t seq) const;

 private:
  friend class SegmentBuilder;
  SegmentView(uint64_t first, uint32_t count, const char* ends, std::string_view records)
      : first_(first), count_(count), ends_(ends), records_(records) {}
  uint32_t end_of(uint32_t i) const noexcept;

  uint64_t first_ = 0;
  uint32_t count_ = 0;
  const char* ends_ = nullptr;  // count_ u32s
  std::string_view records_;
};

}  // namespace courier::proxy
