// completions.hpp — how outcomes made on courier's C++ I/O threads reach
// Python without any C++ thread taking the GIL.
//
// Contract
// - Outcome: what a request or a publish ended with (reply bytes, or seq and
//   dup, or an exception_ptr). Plain C++; built on the I/O thread.
// - Slot: one outcome for one blocking call. The I/O thread set()s it; the
//   caller waits in GIL-free slices (blocking.hpp), so Ctrl-C still works.
// - Futures: post() queues (future, outcome) from the I/O thread — no GIL,
//   no reference counting there. The queue is drained, GIL held, by
//   complete_pending(): in one Python thread started on first use
//   ("courier-completions", courier/_completions.py), and also by flush()
//   on its caller's thread. So concurrent.futures.Future works with
//   wait()/as_completed()/add_done_callback(); done-callbacks run on that
//   Python thread (or the flushing one), never on a C++ thread.
// - new_future() makes a concurrent.futures.Future already marked running
//   (a request or publish cannot be cancelled once handed over).
#pragma once

#include <nanobind/nanobind.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>

namespace courier::python {

struct Outcome {
  enum class Kind { reply, reply_raw, confirm } kind = Kind::reply;
  std::string body;         // reply: the msgpack bytes of the reply body
  std::uint64_t seq = 0;    // confirm: the message's seq
  bool dup = false;         // confirm: the proxy already had this id
  std::exception_ptr error; // set when the request or publish failed
};

class Slot {
 public:
  // From any thread, no GIL. The first outcome wins.
  void set(Outcome outcome) noexcept;
  // Waits at most `ms` without the GIL (call unlocked). True once set.
  bool wait_for(int ms);
  // After wait_for() returned true.
  Outcome& outcome() noexcept { return outcome_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Outcome outcome_;
};

// A new concurrent.futures.Future, running; starts the completion thread on
// first use. Needs the GIL. Returns a new reference the caller hands to post().
nanobind::object new_future();

// From any thread, no GIL: hands `future` (a reference the queue now owns)
// its outcome, to be set by the completion thread.
void post(PyObject* future, Outcome outcome) noexcept;

// Sets the result of every queued future, waiting up to `timeout_s` (GIL
// released) for the first one. Returns how many it completed. Needs the GIL.
std::size_t complete_pending(double timeout_s);

}  // namespace courier::python
