// proxy/segment.cpp — see segment.hpp.
#include "segment.hpp"

#include "journal_format.hpp"

#include <cstring>
#include <limits>

namespace courier::proxy {

using format::append_record;
using format::record_bytes;

void SegmentBuilder::add(const MessageMeta& meta, std::string_view body) {
  const std::size_t at = records_.size();
  const std::size_t bytes = record_bytes(meta, body.size());
  if (at + bytes > std::numeric_limits<uint32_t>::max()) {
    // The PUT path bounds a turn far below this (--max-message, 8 MiB per
    // turn); reaching it is a bug, never a damaged file.
    throw JournalError("a segment past 4 GiB: a turn stored more than the loop allows");
  }
  append_record(records_, meta, body);
  ends_.push_back(static_cast<uint32_t>(at + bytes));
}

void SegmentBuilder::write_to(char* out) const noexcept {
  const uint32_t n = count();
  std::memcpy(out, &n, 4);
  if (!ends_.empty()) std::memcpy(out + 4, ends_.data(), 4 * ends_.size());
  if (!records_.empty()) std::memcpy(out + 4 + 4 * ends_.size(), records_.data(), records_.size());
}

void SegmentBuilder::clear() noexcept {
  ends_.clear();
  records_.clear();
}

SegmentView SegmentBuilder::view(uint64_t first_seq) const noexcept {
  return SegmentView(first_seq, count(), reinterpret_cast<const char*>(ends_.data()), records_);
}

namespace {
[[noreturn]] void damaged(const char* what) {
  throw JournalError(std::string("journal segment ") + what + ": the data file is damaged");
}
}  // namespace

SegmentView SegmentView::parse(uint64_t first_seq, std::string_view value) {
  if (value.size() < 4) damaged("shorter than its count");
  uint32_t count;
  std::memcpy(&count, value.data(), 4);
  if (count == 0) damaged("holds no message");
  if ((value.size() - 4) / 4 < count) damaged("shorter than its offsets");
  if (first_seq > std::numeric_limits<uint64_t>::max() - count) damaged("runs past the last seq");
  const char* ends = value.data() + 4;
  const std::string_view records = value.substr(4 + 4 * static_cast<std::size_t>(count));
  SegmentView view(first_seq, count, ends, records);
  uint32_t start = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t end = view.end_of(i);
    if (end < start || end - start < format::kMetaFixed) damaged("has a record shorter than a message's fixed part");
    if (end > records.size()) damaged("has a record past its end");
    start = end;
  }
  if (start != records.size()) damaged("has bytes after its last record");
  return view;
}

uint32_t SegmentView::end_of(uint32_t i) const noexcept {
  uint32_t end;
  std::memcpy(&end, ends_ + 4 * static_cast<std::size_t>(i), 4);
  return end;
}

MessageView SegmentView::message(uint64_t seq) const {
  const auto i = static_cast<uint32_t>(seq - first_);
  const uint32_t start = i == 0 ? 0 : end_of(i - 1);
  MDB_val v{end_of(i) - start, const_cast<char*>(records_.data() + start)};
  return format::decode_record(seq, v);
}

}  // namespace courier::proxy
