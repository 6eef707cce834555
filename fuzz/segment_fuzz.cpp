// fuzz/segment_fuzz.cpp — journal segments (proxy/segment.hpp) as a damaged
// data file would hold them.
//
// Input: [8 bytes first seq, native-endian][the segment value].
// Properties, beyond "no crash, no leak, no UB":
//  - parse either throws JournalError or returns a view whose every message
//    decodes, with its id and body inside the value;
//  - the messages built again with SegmentBuilder parse back to the same
//    messages (the codec neither invents nor loses anything).
#include "fuzz_check.hpp"
#include "segment.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using courier::JournalError;
using courier::proxy::MessageView;
using courier::proxy::SegmentBuilder;
using courier::proxy::SegmentView;

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

bool same(const MessageView& a, const MessageView& b) {
  return a.seq == b.seq && a.meta.ts_ms == b.meta.ts_ms && a.meta.due_ms == b.meta.due_ms &&
         a.meta.expire_ms == b.meta.expire_ms && a.body == b.body && a.meta.id.has_value() == b.meta.id.has_value() &&
         (!a.meta.id || (a.meta.id->bytes == b.meta.id->bytes && a.meta.id->binary == b.meta.id->binary));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  uint64_t first;
  std::memcpy(&first, data, 8);
  const std::string_view value(reinterpret_cast<const char*>(data) + 8, size - 8);
  std::vector<MessageView> messages;
  try {
    const SegmentView v = SegmentView::parse(first, value);
    FUZZ_CHECK(v.count() >= 1, "a parsed segment holds %u messages", v.count());
    for (uint64_t seq = v.first_seq(); seq < v.end_seq(); ++seq) {
      const MessageView m = v.message(seq);
      FUZZ_CHECK(m.seq == seq, "message of seq %llu says %llu", (unsigned long long)seq, (unsigned long long)m.seq);
      FUZZ_CHECK(inside(m.body, value), "a body outside the value");
      FUZZ_CHECK(!m.meta.id || inside(m.meta.id->bytes, value), "an id outside the value");
      messages.push_back(m);
    }
  } catch (const JournalError&) {
    return 0;  // refused: what a damaged record must get
  }
  SegmentBuilder b;
  for (const MessageView& m : messages) b.add(m.meta, m.body);
  std::string again(b.size(), '\0');
  b.write_to(again.data());
  const SegmentView w = SegmentView::parse(first, again);  // must not throw
  FUZZ_CHECK(w.count() == messages.size(), "rebuilt %u messages of %zu", w.count(), messages.size());
  for (const MessageView& m : messages) FUZZ_CHECK(same(w.message(m.seq), m), "seq %llu changed", (unsigned long long)m.seq);
  return 0;
}
