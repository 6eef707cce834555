// bench/stall_probe.cpp — how long this machine stopped running anyone.
//
// Sleeps 200 µs at a time and records each wake-up that came much later
// than asked. Run beside a latency benchmark, it tells a slow broker from a
// machine that stood still: on the VMs these benchmarks ran on, every
// process — this one included, though it does no I/O — stops for 5–20 ms at
// a time while another process fsyncs at a high rate and the other vCPU is
// busy (docs/BENCHMARKS.md, "Where the p99 goes"). A confirm that waited
// through such a stall is the machine's latency, not the broker's.
//
// Runs until SIGTERM/SIGINT or --seconds, then prints one JSON object:
// stalls, their total and longest ms, and how many ended a multiple of
// 100 ms (± 5 ms) after the stall before (a timer-driven cause shows so).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

namespace {
std::atomic<bool> stop{false};
void on_signal(int) { stop = true; }

struct Stalls {
  uint64_t count = 0, spaced_by_100ms = 0;
  double total_ms = 0, max_ms = 0, last_end_ms = -1;
  void add(double ms, double end_ms) {
    ++count;
    total_ms += ms;
    max_ms = std::max(max_ms, ms);
    if (last_end_ms >= 0) {
      const auto off = static_cast<int64_t>(end_ms - last_end_ms + 0.5) % 100;
      if (off <= 5 || off >= 95) ++spaced_by_100ms;
    }
    last_end_ms = end_ms;
  }
};
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Records how often and how long this machine stopped running processes (bench only)"};
  double seconds = 3600;
  unsigned threshold_us = 4000, sleep_us = 200;
  app.add_option("--seconds", seconds, "stop after this long at the latest")->check(CLI::PositiveNumber);
  app.add_option("--threshold-us", threshold_us, "a wake-up this much later than asked counts as a stall")
      ->check(CLI::PositiveNumber);
  app.add_option("--sleep-us", sleep_us, "how long each sleep asks for")->check(CLI::Range(10u, 100000u));
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::duration<double>(seconds);
  const auto nap = std::chrono::microseconds(sleep_us);
  Stalls stalls;
  while (!stop && Clock::now() < deadline) {
    const auto before = Clock::now();
    std::this_thread::sleep_for(nap);
    const auto late = Clock::now() - before - nap;
    if (late >= std::chrono::microseconds(threshold_us)) {
      const std::chrono::duration<double, std::milli> end = Clock::now() - started;
      stalls.add(std::chrono::duration<double, std::milli>(late).count(), end.count());
    }
  }
  const double ran = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "{\"probe\":\"stall\",\"seconds\":%.2f,\"threshold_ms\":%.1f,\"stalls\":%llu,\"stalled_ms\":%.1f,"
      "\"max_ms\":%.1f,\"spaced_by_100ms\":%llu}\n",
      ran, threshold_us / 1000.0, static_cast<unsigned long long>(stalls.count), stalls.total_ms, stalls.max_ms,
      static_cast<unsigned long long>(stalls.spaced_by_100ms));
  return 0;
}
