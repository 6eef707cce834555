// proxy/clock.hpp — the two clocks the proxy reads, once per turn.
//
// The wall clock for times that outlive the process (a message's delay and
// ttl are stored in the journal as wall-clock times); the steady clock for
// what only this process waits for (heartbeats, ack timeouts, retries), so
// that a step of the wall clock never makes a client look silent.
#pragma once

#include <chrono>
#include <cstdint>

namespace courier::proxy {

// Both readings, in milliseconds, taken once per turn: every command of a
// turn sees the same time.
struct Clock {
  uint64_t wall_ms = 0;
  uint64_t steady_ms = 0;

  static Clock now() {
    using namespace std::chrono;
    Clock c;
    c.wall_ms = static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
    c.steady_ms =
        static_cast<uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
    return c;
  }
};

// now + ms without wrapping: a huge delay or ttl means "never", not "at once".
inline uint64_t after(uint64_t now_ms, uint64_t ms) {
  return ms > UINT64_MAX - 1 - now_ms ? UINT64_MAX - 1 : now_ms + ms;
}

}  // namespace courier::proxy
