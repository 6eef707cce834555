// blocking.hpp — how every blocking call of the binding waits.
//
// Contract
// - What: wait() runs a timed C++ step again and again, each time for at most
//   kSliceMs, with the GIL RELEASED, until the step reports done or the
//   deadline passes. Between slices it retakes the GIL and runs
//   PyErr_CheckSignals(): a Ctrl-C (or any signal handler that raises) ends
//   the wait with that exception within one slice. So no blocking call can
//   hold off KeyboardInterrupt for more than ~50 ms (pyzmq issue 64).
// - Timeouts from Python are float seconds; None waits forever. Negative or
//   NaN is refused with courier.ConfigError.
// - The step runs without the GIL: it must not touch Python objects.
// - Threading: call with the GIL held. Signal handlers only run in the main
//   thread; in other threads the slices merely keep the GIL free.
#pragma once

#include <nanobind/nanobind.h>

#include <courier/errors.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>

namespace courier::python {

using Clock = std::chrono::steady_clock;

// The longest a blocking call goes without looking for a pending signal.
constexpr int kSliceMs = 50;

// The end of a wait: forever, or a point on the steady clock.
class Deadline {
 public:
  // From Python seconds (None = forever). Throws ConfigError (negative, NaN).
  static Deadline after(std::optional<double> seconds, const char* what = "timeout") {
    Deadline d;
    if (!seconds) return d;
    if (std::isnan(*seconds) || *seconds < 0)
      throw ConfigError(std::string(what) + " must be >= 0 seconds or None (wait forever), not " +
                        std::to_string(*seconds));
    d.forever_ = false;
    // Capped at ~100 years so the clock arithmetic cannot overflow.
    const double ms = std::min(*seconds * 1000.0, 3.0e12);
    d.at_ = Clock::now() + std::chrono::microseconds(static_cast<long long>(ms * 1000.0));
    return d;
  }
  bool forever() const noexcept { return forever_; }
  // The next slice in ms: kSliceMs, or less near the deadline; 0 once passed.
  int slice_ms(int max_slice = kSliceMs) const noexcept {
    if (forever_) return max_slice;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now()).count();
    if (left <= 0) return 0;
    return static_cast<int>(std::min<long long>(left, max_slice));
  }
  bool passed() const noexcept { return !forever_ && Clock::now() >= at_; }

 private:
  bool forever_ = true;
  Clock::time_point at_{};
};

// Raises (as a C++ exception nanobind passes through) a pending Python
// exception set by a signal handler. Needs the GIL.
inline void check_signals() {
  if (PyErr_CheckSignals() != 0) throw nanobind::python_error();
}

// Calls step(slice_ms) with the GIL released until it returns true (then
// returns true) or `deadline` passes (returns false). `step` always runs at
// least once, with slice 0 when the deadline has already passed, so a zero
// timeout is a "try". `closed`, when given, is checked between slices:
// close() from another thread ends the wait with ClosedError(`what`).
// `max_slice` > kSliceMs only where a slice costs network traffic (Lock).
template <class Step>
bool wait(const Deadline& deadline, Step&& step, const std::atomic<bool>* closed = nullptr,
          const char* what = "object", int max_slice = kSliceMs) {
  for (;;) {
    const int slice = deadline.slice_ms(max_slice);
    bool done;
    {
      nanobind::gil_scoped_release unlocked;
      done = step(slice);
    }
    if (done) return true;
    check_signals();
    if (closed && closed->load()) throw ClosedError(std::string(what) + " was closed while waiting");
    if (slice == 0 || deadline.passed()) return false;
  }
}

// Milliseconds from Python seconds, for C++ options (rounded to the nearest
// ms). Throws ConfigError naming `what` for negative or NaN values.
inline std::chrono::milliseconds to_ms(double seconds, const char* what) {
  if (std::isnan(seconds) || seconds < 0)
    throw ConfigError(std::string(what) + " must be >= 0 seconds, not " + std::to_string(seconds));
  return std::chrono::milliseconds(static_cast<long long>(std::min(seconds * 1000.0 + 0.5, 3.0e12)));
}

}  // namespace courier::python
