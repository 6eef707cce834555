// Automatic message ids: "<prefix>-<counter>", the counter written so that a
// Producer's ids sort in publish order byte by byte. Never installed.
//
// Why the form matters: the proxy keeps such ids as runs, one dedup record
// per run of consecutive counters (proxy/journal_dedup.cpp, parse_auto_id
// below). Before runs, its dedup index (docs/PROTOCOL.md §3.3.5) was a
// B-tree keyed by queue and id, where order counted: plain decimal counters
// sort "10" before "9", so each new id landed in the middle of the
// producer's range and split pages half full; ids in key order land at its
// end (and runs are keyed by the counter in the same order). Measured with
// bench/proxy_callgrind.sh: ~800 fewer proxy instructions per message in
// runs shorter than the dedup window; past it, forgetting ids in this order
// costs most of that back (docs/BENCHMARKS.md, "Ids in publish order").
//
// The counter is its digit count as one letter ('a' = 1 digit ... 't' = 20),
// then the digits: a7 < b10 < e12345. Still readable, at most 21 bytes.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace courier::detail {

inline constexpr std::size_t kAutoCounterMax = 21;  // letter + 20 digits

// Writes `n` into `buf` as above. Returns: a view of `buf`.
inline std::string_view sortable_counter(std::uint64_t n, char (&buf)[kAutoCounterMax]) noexcept {
  const auto end = std::to_chars(buf + 1, buf + kAutoCounterMax, n).ptr;
  const auto digits = static_cast<std::size_t>(end - (buf + 1));
  buf[0] = static_cast<char>('a' + digits - 1);
  return std::string_view(buf, digits + 1);
}

// An id read back as (prefix, counter) when it is exactly what
// sortable_counter writes after a prefix ending in '-': then prefix +
// sortable_counter(n) gives the same bytes back, so two ids are equal exactly
// when their (prefix, n) are. Anything else (no '-', a wrong letter, a
// leading zero, a counter past 2^64 - 1) is not automatic: nullopt. The
// proxy keeps runs of such ids as one dedup record (journal_dedup.cpp).
struct AutoId {
  std::string_view prefix;  // up to and including the last '-'
  std::uint64_t n = 0;
};

inline std::optional<AutoId> parse_auto_id(std::string_view id) noexcept {
  const std::size_t dash = id.rfind('-');
  if (dash == std::string_view::npos || id.size() - dash < 3) return std::nullopt;
  const std::string_view counter = id.substr(dash + 1);
  const std::size_t digits = counter.size() - 1;
  if (digits > kAutoCounterMax - 1 || counter[0] != static_cast<char>('a' + digits - 1)) return std::nullopt;
  if (digits > 1 && counter[1] == '0') return std::nullopt;
  AutoId out{id.substr(0, dash + 1), 0};
  const char* end = counter.data() + counter.size();
  const auto [ptr, ec] = std::from_chars(counter.data() + 1, end, out.n);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return out;
}

}  // namespace courier::detail
