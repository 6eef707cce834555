// src/auto_id.hpp: automatic id counters sort in publish order as bytes, the
// order the proxy's dedup index is keyed in.
#include "auto_id.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

namespace {

std::string counter(std::uint64_t n) {
  char buf[courier::detail::kAutoCounterMax];
  return std::string(courier::detail::sortable_counter(n, buf));
}

TEST(AutoId, CounterIsItsDigitCountAsALetterThenTheDigits) {
  EXPECT_EQ(counter(0), "a0");
  EXPECT_EQ(counter(7), "a7");
  EXPECT_EQ(counter(10), "b10");
  EXPECT_EQ(counter(12345), "e12345");
  EXPECT_EQ(counter(std::numeric_limits<std::uint64_t>::max()), "t18446744073709551615");
}

TEST(AutoId, CountersSortInNumericOrderAsBytes) {
  std::string before = counter(0);
  for (std::uint64_t n = 1; n <= 200000; ++n) {
    const std::string now = counter(n);
    ASSERT_LT(before, now) << "counter " << n - 1 << " must sort before " << n;
    before = now;
  }
  // Across every change of digit count, up to the largest.
  for (std::uint64_t p = 10; p <= 1000000000000000000ULL; p *= 10) {
    EXPECT_LT(counter(p - 1), counter(p)) << p;
  }
  EXPECT_LT(counter(9999999999999999999ULL), counter(10000000000000000000ULL));
  EXPECT_LT(counter(std::numeric_limits<std::uint64_t>::max() - 1),
            counter(std::numeric_limits<std::uint64_t>::max()));
}

TEST(AutoId, ParsingGivesBackThePrefixAndCounterOfEveryAutomaticId) {
  for (std::uint64_t n : std::initializer_list<std::uint64_t>{0, 7, 10, 12345, 9999999999999999999ULL, 10000000000000000000ULL,
                          std::numeric_limits<std::uint64_t>::max()}) {
    for (const std::string prefix : {"p-", "12345-", "a-b-", "-"}) {
      const std::string id = prefix + counter(n);
      const auto got = courier::detail::parse_auto_id(id);
      ASSERT_TRUE(got) << id;
      EXPECT_EQ(got->prefix, prefix) << id;
      EXPECT_EQ(got->n, n) << id;
    }
  }
}

// Only the exact bytes sortable_counter writes: otherwise two different ids
// would parse to one (prefix, counter) and be taken for duplicates.
TEST(AutoId, ParsingRefusesWhatSortableCounterNeverWrites) {
  for (const char* id : {"p", "p-", "p-a", "p-b1", "p-a12", "p-b05", "p-a-1", "p-ax", "p-b1x", "p-t18446744073709551616",
                         "p-u123456789012345678901", "p-A1", "p1", "p-+1", "p-b+1", "p-a 1"}) {
    EXPECT_FALSE(courier::detail::parse_auto_id(id)) << id;
  }
}

}  // namespace
