// proxy/latency_histogram.hpp — how long something took, in fixed buckets.
//
// Counts durations into the buckets Prometheus histograms use (an upper
// bound each, in seconds), plus their sum and count. Adding one is a short
// loop over 14 bounds and three additions: cheap enough for every journal
// commit. Not thread-safe: one owner records; others get a copy (by value)
// in a snapshot.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace courier::proxy {

struct LatencyHistogram {
  // Upper bounds in seconds, from a page-cache commit (tens of µs) to a
  // disk in trouble (a second). Everything slower lands in +Inf only.
  static constexpr std::array<double, 14> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                    0.0025,  0.005,  0.01,    0.025,  0.05,
                                                    0.1,     0.25,   0.5,     1.0};
  // counts[i]: observations in (kBounds[i-1], kBounds[i]]; the last one
  // counts those above every bound. Not cumulative (Prometheus output is).
  std::array<uint64_t, kBounds.size() + 1> counts{};
  double sum_seconds = 0;
  uint64_t count = 0;

  void add(std::chrono::steady_clock::duration took) noexcept {
    const double s = std::chrono::duration<double>(took).count();
    std::size_t i = 0;
    while (i < kBounds.size() && s > kBounds[i]) ++i;
    ++counts[i];
    sum_seconds += s;
    ++count;
  }
};

}  // namespace courier::proxy
