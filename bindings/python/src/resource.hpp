// resource.hpp — the life of every bound object that owns a C++ courier object.
//
// Contract
// - What: Owner<T> holds the C++ object in a shared_ptr. Each call takes a
//   copy (get()), so close() — from `with`, close() or the atexit hook —
//   never destroys an object another thread is blocked in: that thread sees
//   the closed flag within one wait slice (blocking.hpp), raises ClosedError
//   and drops the last copy. close() is idempotent.
// - Destruction (close, garbage collection, interpreter exit) releases the
//   GIL while the C++ destructor runs: those are bounded (linger, a
//   Producer's close_timeout) but may take a while, and no C++ thread of
//   ours needs the GIL, so nothing can deadlock.
// - Exit: every live object is registered; close_all() (run by an atexit
//   hook in courier/__init__.py) closes them before the interpreter tears
//   down, so exit with live objects never hangs and never leaves courier's
//   I/O threads running into static destruction.
// - fork(): an object inherited by a forked child is never destroyed there
//   (its C++ I/O threads did not survive the fork; joining them would hang):
//   the child leaks it on purpose and may make its own objects.
// - Exclusive: a guard for objects ZeroMQ forbids using from two threads at
//   once (Push, Pull, Server): the second thread gets ConfigError instead of
//   a libzmq assertion.
// - Threading: everything here is called with the GIL held.
#pragma once

#include <nanobind/nanobind.h>

#include <courier/errors.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <utility>

namespace courier::python {

class Resource {
 public:
  explicit Resource(const char* kind);
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;
  virtual ~Resource();

  // Drops this object's C++ object (idempotent). Needs the GIL.
  void close();
  bool closed() const noexcept { return closed_.load(); }
  const std::atomic<bool>* closed_flag() const noexcept { return &closed_; }
  const char* kind() const noexcept { return kind_; }
  [[noreturn]] void throw_closed() const;

 protected:
  // Moves the C++ object out (GIL held); the caller destroys it unlocked.
  virtual std::shared_ptr<void> take() noexcept = 0;
  // For destructors of derived classes: closes without virtual dispatch
  // problems (each Owner calls it with its own take()).
  void close_with(std::shared_ptr<void> taken) noexcept;

 private:
  const char* kind_;
  std::atomic<bool> closed_{false};
  int pid_;  // the process that made it
};

template <class T>
class Owner : public Resource {
 public:
  Owner(const char* kind, std::shared_ptr<T> obj) : Resource(kind), obj_(std::move(obj)) {}
  ~Owner() override { close_with(std::exchange(obj_, nullptr)); }

  // A copy of the C++ object for one call. Throws ClosedError once closed.
  std::shared_ptr<T> get() const {
    if (!obj_) throw_closed();
    return obj_;
  }

 protected:
  std::shared_ptr<void> take() noexcept override { return std::exchange(obj_, nullptr); }

 private:
  std::shared_ptr<T> obj_;
};

// Closes every live Resource (interpreter exit). Needs the GIL.
void close_all();

// One thread at a time in a ZeroMQ socket: held for the length of a call.
class Exclusive {
 public:
  Exclusive(std::atomic<bool>& busy, const char* kind) : busy_(busy) {
    if (busy_.exchange(true))
      throw ConfigError(std::string(kind) + " is in use by another thread: ZeroMQ sockets are not "
                        "thread-safe; give each thread its own " + kind);
  }
  ~Exclusive() { busy_.store(false); }
  Exclusive(const Exclusive&) = delete;
  Exclusive& operator=(const Exclusive&) = delete;

 private:
  std::atomic<bool>& busy_;
};

}  // namespace courier::python
