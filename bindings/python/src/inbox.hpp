// inbox.hpp — how courier.aio learns that something finished on a C++ I/O
// thread, without a thread per call and without polling.
//
// Contract
// - What: an Inbox is a Linux eventfd plus a queue of (token, Outcome). A
//   C++ I/O thread (a confirm or reply callback) post()s the outcome of the
//   call `token` names and makes the eventfd readable; no GIL, no Python
//   object touched there. The asyncio side registers fileno() with
//   loop.add_reader(); its callback drain()s: it empties the eventfd FIRST,
//   then takes the queue, so an outcome posted at any moment is either in
//   this drain or makes the fd readable again (level-triggered: no missed
//   wake-up, at worst one empty drain).
// - Tokens are the Python side's (it maps them to asyncio futures); an
//   outcome whose future was cancelled is simply dropped there.
// - Threading: post() and notify() from any thread; drain() with the GIL.
#pragma once

#include <nanobind/nanobind.h>

#include "completions.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>

namespace courier::python {

// A level-triggered eventfd: readable from notify() until clear().
class Waker {
 public:
  Waker();
  ~Waker();
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;
  int fileno() const noexcept { return fd_; }
  void notify() noexcept;  // any thread
  void clear() noexcept;   // the reading side

 private:
  int fd_;
};

class Inbox {
 public:
  // From any thread, no GIL.
  void post(std::uint64_t token, Outcome outcome) noexcept;
  int fileno() const noexcept { return waker_.fileno(); }
  // [(token, ok, result-or-exception), ...]; clears the eventfd first. GIL held.
  nanobind::list drain();

 private:
  Waker waker_;
  std::mutex mu_;
  std::deque<std::pair<std::uint64_t, Outcome>> items_;
};

// courier._native._Inbox: the Python handle of an Inbox. Callbacks hold
// their own shared_ptr, so an Inbox outlives a Python side that went away
// (and no C++ thread ever drops the last reference to a Python object).
struct PyInbox {
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
};

}  // namespace courier::python
