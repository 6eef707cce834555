// courier/context.hpp — the ZeroMQ context every courier socket lives in.
//
// Contract
// - What: a cheap, copyable handle to a ZeroMQ context. Every courier object
//   (Push, Pull, Client, Server, ...) takes a Context; when you pass none it
//   uses Context::global(), a process-wide default created lazily on first use.
// - Ownership: a Context made with the constructor owns its ZeroMQ context,
//   shared by all copies and by every courier socket created from it. The
//   ZeroMQ context is terminated when the last copy *and* the last socket
//   using it are gone, so destroying a Context before its sockets never hangs
//   and never pulls the rug from under them. Context::borrow() wraps a
//   zmq::context_t you own: courier never terminates it, and you must keep it
//   alive (and close courier's sockets) before you destroy it.
// - Termination: terminating a context flushes sockets' unsent messages, for
//   at most their linger (courier's default: 1000 ms, never infinite; see
//   options.hpp). The global context is terminated at static destruction
//   when no courier socket is left, so a short program that sends and exits
//   still delivers its messages.
// - shutdown(): every call blocked on one of the context's sockets, in any
//   thread, wakes up and throws courier::ClosedError; so does every later
//   call. Use it to stop threads blocked in recv() (ZeroMQ's ETERM).
// - Threading: all member functions are thread-safe.
// - Errors: ConfigError when ZeroMQ cannot create a context.
#pragma once

#include <courier/export.hpp>

#include <memory>

namespace zmq {
class context_t;
}

namespace courier {

namespace detail {
struct ContextAccess;  // the library's own per-context services (src/context_access.hpp)
}

class COURIER_EXPORT Context {
 public:
  // A new ZeroMQ context with `io_threads` I/O threads, owned by this handle
  // and its copies.
  // Throws: ConfigError if ZeroMQ refuses (for example io_threads < 0).
  // Thread-safety: any thread.
  explicit Context(int io_threads = 1);

  // A non-owning handle to `ctx`; courier never terminates it.
  // Lifetime: `ctx` must outlive the handle and every courier socket made
  // from it. Returns: the handle. Throws: nothing.
  static Context borrow(zmq::context_t& ctx);

  // The process-wide default context, created on first use (thread-safe).
  // Returns: a handle sharing it. Throws: ConfigError if it cannot be made.
  static Context global();

  // Makes every blocking call on this context's sockets, now and later, throw
  // ClosedError (ZeroMQ's zmq_ctx_shutdown). Irreversible: sockets can then
  // only be closed. Returns: nothing. Throws: nothing. Thread-safety: any thread.
  void shutdown() noexcept;

  // Returns: true once shutdown() was called on any copy. Thread-safe.
  bool is_shut_down() const noexcept;

  // The underlying cppzmq context, for making your own raw sockets next to
  // courier's (close them before the context goes away).
  // Returns: a reference valid while this handle lives. Thread-safe.
  zmq::context_t& zmq() const noexcept;

  // Returns: the C handle (void* from zmq_ctx_new). Thread-safe.
  void* handle() const noexcept;

  // Two handles are equal when they refer to the same ZeroMQ context.
  friend bool operator==(const Context& a, const Context& b) noexcept {
    return a.handle() == b.handle();
  }
  friend bool operator!=(const Context& a, const Context& b) noexcept { return !(a == b); }

 private:
  friend struct detail::ContextAccess;
  struct State;
  explicit Context(std::shared_ptr<State> state) noexcept;
  std::shared_ptr<State> state_;
};

}  // namespace courier
