// proxy/timer_schedule.hpp — when each of the Broker's timers is next due,
// and so how long the loop may sleep.
//
// A timer keeps the earliest due time it knows, so a turn with nothing due
// costs one comparison per timer; what a timer does when due stays with the
// Broker (timers.cpp). Each timer reads one of the two clocks (clock.hpp),
// fixed by its kind: the wall clock for times the journal stores (delays,
// ttls), the steady clock for what only this process waits for.
// A due time is one of three things:
//   now    — due on the next look, whatever the clock reads (also the start:
//            what the journal holds is not known yet, so look);
//   at t   — due once its clock reads t or later;
//   never  — nothing to wait for, until something new sets it again.
// Single-threaded, like all proxy state.
#pragma once

#include "clock.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>

namespace courier::proxy {

enum class Timer : uint8_t {
  delayed_release,  // delayed messages whose delay is over (wall clock)
  ttl_expiry,       // messages whose ttl is over (wall clock)
  silence_check,    // sessions silent for 3 heartbeats (steady clock)
  room_retry,       // queues held back by a full journal look again (steady clock)
  dedup_prune,      // producer ids older than the dedup window are forgotten (steady clock)
};
inline constexpr std::size_t kTimerCount = 5;

enum class TimerClock : uint8_t { wall, steady };

// Delays and ttls are stored as wall-clock times (they outlive the process);
// the rest are this process's own waits, which a wall-clock step must not move.
constexpr TimerClock clock_of(Timer t) noexcept {
  return t == Timer::delayed_release || t == Timer::ttl_expiry ? TimerClock::wall : TimerClock::steady;
}

class TimerSchedule {
 public:
  // Every timer starts due now.
  TimerSchedule() noexcept { at_.fill(kNow); }

  void set_due_now(Timer t) noexcept { at_[index(t)] = kNow; }
  // `at_ms` is a reading of t's clock.
  void set_due_at(Timer t, uint64_t at_ms) noexcept { at_[index(t)] = at_ms; }
  void set_never(Timer t) noexcept { at_[index(t)] = kNever; }
  // Something new falls due at `at_ms` (a delayed PUT): the timer is due
  // then, unless it is due sooner already (or now).
  void bring_forward(Timer t, uint64_t at_ms) noexcept { at_[index(t)] = std::min(at_[index(t)], at_ms); }

  bool is_due(Timer t, const Clock& now) const noexcept { return at_[index(t)] <= reading(t, now); }

  // How long the loop may sleep before a timer is due: at most `longest_ms`,
  // 0 when one is due now. Two due times are owned elsewhere and passed in:
  // the earliest ack deadline (steady clock; the DeliveryTable's), and
  // whether any queue waits for journal room (room_retry counts only then).
  // dedup_prune never shortens the sleep: nothing waits on it, and turns come
  // at least every `longest_ms`, so it runs at most that late.
  uint64_t ms_until_next(const Clock& now, uint64_t longest_ms, std::optional<uint64_t> ack_deadline_ms,
                         bool room_awaited) const noexcept {
    uint64_t wait = longest_ms;
    const auto consider = [&](uint64_t at_ms, uint64_t now_ms) {
      if (at_ms != kNever) wait = std::min(wait, at_ms > now_ms ? at_ms - now_ms : 0);
    };
    for (Timer t : {Timer::delayed_release, Timer::ttl_expiry, Timer::silence_check}) {
      consider(at_[index(t)], reading(t, now));
    }
    if (room_awaited) consider(at_[index(Timer::room_retry)], now.steady_ms);
    if (ack_deadline_ms) consider(*ack_deadline_ms, now.steady_ms);
    return wait;
  }

 private:
  // "now" is the earliest time any clock can read, "never" one no clock
  // reaches: is_due and bring_forward need no special case for either.
  static constexpr uint64_t kNow = 0;
  static constexpr uint64_t kNever = UINT64_MAX;

  static constexpr std::size_t index(Timer t) noexcept { return static_cast<std::size_t>(t); }
  static uint64_t reading(Timer t, const Clock& now) noexcept {
    return clock_of(t) == TimerClock::wall ? now.wall_ms : now.steady_ms;
  }

  std::array<uint64_t, kTimerCount> at_;  // a reading of each timer's clock
};

}  // namespace courier::proxy
