// courier/request.hpp — direct request/reply (PROTOCOL.md §2).
//
// Contract
// - What: Client (a DEALER) sends requests `[""][{"id": n}][body]` and matches
//   the replies `[""][{"id": n, "ok": true|false, "error"?: text}][body]` by
//   id, with any number in flight. Server (a ROUTER) answers them, echoing the
//   routing envelope exactly, so DEALER clients and plain REQ sockets (pyzmq
//   `zmq.REQ` sending [header][body]) both work. Bodies are one msgpack object
//   each (codec.hpp); raw forms take and give the msgpack bytes.
// - Construction: like Push and Pull, from ClientOptions / ServerOptions
//   (socket options and the Context; options.hpp), then bind() and/or
//   connect(), any number of times. A Client connected to several Servers
//   spreads its requests over them round-robin.
// - Client threading: Client is THREAD-SAFE and OWNS ONE I/O THREAD, started
//   by its constructor and joined by its destructor. The socket is used by
//   one thread at a time, whoever holds the client's I/O token (a mutex): a
//   thread calling request() that finds it free sends its own request; one
//   that finds it busy hands the request over through a mutex-protected
//   queue and, if needed, wakes the I/O thread with a Linux eventfd polled
//   next to the socket (no polling sleeps). Only the I/O thread receives.
//   Futures are completed and callbacks run ON THAT I/O THREAD:
//   keep callbacks short, never block in them, never call call() or wait on
//   a Client future from them (call() detects it and throws ConfigError).
//   bind() and connect() are handed to the I/O thread too, and return once
//   it has done them (from a callback, where that would deadlock, they run
//   at once on the I/O thread itself).
// - Server threading: Server starts NO thread. It runs in the caller's thread:
//   run() until stop(), or poll(timeout) for one step; handlers run there.
//   stop() and Responder completion are thread-safe; everything else is
//   for the thread that drives the server.
// - Ownership: both own their socket (RAII, move-only); the destructors are
//   noexcept and bounded: the Client fails what is still in flight with
//   ClosedError, and sockets close with the bounded linger (options.hpp).
// - Errors (Client, delivered through the future / error callback):
//   TimeoutError when no reply came within the request's timeout (a late
//   reply is then ignored and counted); RemoteError(status 0, text) for an
//   ok:false reply (handler threw, bad request...); DecodeError when the reply
//   body is not a Rep; ClosedError when the client or its context closed.
// - Errors (Server): a handler's exception becomes ok:false with the
//   exception's text, and serving goes on. A malformed request is answered
//   ok:false when its "id" can be read, otherwise dropped and counted
//   (dropped_requests()). A request whose optional "deadline" (Unix ms) has
//   passed is dropped and counted (expired_requests()). A reply whose client
//   is gone is counted (unroutable_replies()), never silently lost: the
//   socket uses ZMQ_ROUTER_MANDATORY. A reply that cannot be queued within
//   1000 ms (client not reading, queue at its high-water mark) is counted in
//   dropped_replies(); later replies to that client are dropped at once,
//   without waiting, until one gets through, so one stuck client cannot
//   stall the others a second per reply. Unknown header keys are ignored.
//   (The Client itself sends no "deadline": clocks of two hosts may
//   disagree; its timeout is enforced locally.) run()/poll() throw
//   ClosedError when the context is shut down.
#pragma once

#include <courier/codec.hpp>
#include <courier/context.hpp>
#include <courier/errors.hpp>
#include <courier/export.hpp>
#include <courier/options.hpp>

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace courier {

namespace detail {

// Memory for the Client's per-request objects (completions, the futures'
// shared state), which one thread allocates and another frees: per-thread
// caches that move blocks between threads in batches (src/completion_pool.cpp).
// Returns: at least `size` bytes, aligned like operator new. Throws:
// std::bad_alloc. Thread-safety: any thread; a block may be freed by
// another thread than the one that allocated it, with the same `size`.
COURIER_EXPORT void* completion_allocate(std::size_t size);
COURIER_EXPORT void completion_deallocate(void* p, std::size_t size) noexcept;

// A std allocator over completion_allocate, for std::promise's state.
// Over-aligned types (a Rep declared alignas(64)) bypass the pool.
template <class T>
struct CompletionAllocator {
  using value_type = T;
  static constexpr bool kOverAligned = alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__;
  CompletionAllocator() noexcept = default;
  template <class U>
  CompletionAllocator(const CompletionAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if constexpr (kOverAligned) {
      return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(alignof(T))));
    } else {
      return static_cast<T*>(completion_allocate(n * sizeof(T)));
    }
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if constexpr (kOverAligned) {
      // Unsized: clang declares the sized forms only with -fsized-deallocation.
      (void)n;
      ::operator delete(p, std::align_val_t(alignof(T)));
    } else {
      completion_deallocate(p, n * sizeof(T));
    }
  }
  template <class U>
  bool operator==(const CompletionAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CompletionAllocator<U>&) const noexcept { return false; }
};

// What the Client's I/O thread does with a request's outcome. Implementations
// must not throw (they run on the I/O thread). Allocated from the completion
// pool: made by the caller, destroyed on the I/O thread.
class COURIER_EXPORT Completion {
 public:
  static void* operator new(std::size_t size) { return completion_allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept { completion_deallocate(p, size); }
  // Over-aligned completions (callbacks capturing alignas(64) data): the heap.
  static void* operator new(std::size_t size, std::align_val_t al) { return ::operator new(size, al); }
  static void operator delete(void* p, std::size_t, std::align_val_t al) noexcept {
    ::operator delete(p, al);  // unsized: see CompletionAllocator::deallocate
  }
  virtual ~Completion();
  virtual void complete(const zmq::message_t& body) noexcept = 0;
  virtual void fail(std::exception_ptr error) noexcept = 0;
};

template <class Rep>
class PromiseCompletion final : public Completion {
 public:
  PromiseCompletion() : promise_(std::allocator_arg, CompletionAllocator<char>()) {}
  std::future<Rep> future() { return promise_.get_future(); }
  void complete(const zmq::message_t& body) noexcept override {
    try {
      promise_.set_value(decode<Rep>(body.data(), body.size()));
    } catch (...) {
      promise_.set_exception(std::current_exception());
    }
  }
  void fail(std::exception_ptr error) noexcept override { promise_.set_exception(error); }

 private:
  std::promise<Rep> promise_;
};

template <class Rep, class OnReply, class OnError>
class CallbackCompletion final : public Completion {
 public:
  CallbackCompletion(OnReply on_reply, OnError on_error)
      : on_reply_(std::move(on_reply)), on_error_(std::move(on_error)) {}
  void complete(const zmq::message_t& body) noexcept override {
    std::exception_ptr error;
    try {
      Rep rep = decode<Rep>(body.data(), body.size());
      on_reply_(std::move(rep));
      return;
    } catch (const DecodeError&) {
      error = std::current_exception();
    } catch (...) {
      return;  // the user's callback threw: nothing sensible to do on the I/O thread
    }
    fail(error);
  }
  void fail(std::exception_ptr error) noexcept override {
    try {
      on_error_(error);
    } catch (...) {
    }
  }

 private:
  OnReply on_reply_;
  OnError on_error_;
};

struct ResponderState;
struct ServerOutbox;

}  // namespace detail

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

// How a Client is made. No endpoint: bind()/connect() after.
struct ClientOptions {
  SocketOptions socket;
  Context context = Context::global();
};

// How a Server is made. No endpoint: bind()/connect() after. Its socket
// always has ZMQ_ROUTER_MANDATORY (so a reply to a vanished client is
// counted, never silently lost).
struct ServerOptions {
  SocketOptions socket;
  Context context = Context::global();
};

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

class COURIER_EXPORT Client {
 public:
  // A DEALER with options.socket in options.context, and its I/O thread.
  // Bind or connect next; requests made before that wait (within their
  // timeout) for a server.
  // Throws: ConfigError (bad option), ClosedError (context shut down).
  explicit Client(ClientOptions options = {});
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  // Fails every request still in flight with ClosedError, stops and joins
  // the I/O thread. noexcept; bounded unless a callback blocks.
  ~Client();

  // Connects to (or binds) `endpoint`; may be called several times. Done by
  // the I/O thread; returns once it is.
  // Returns: *this. Throws: ConfigError "cannot connect ...: reason",
  // ClosedError (client closed). Thread-safety: any thread.
  Client& connect(const std::string& endpoint);
  Client& bind(const std::string& endpoint);
  // Returns: the endpoint last bound or connected, with the real port when
  // "*" was asked for; "" before any. Thread-safety: any thread.
  std::string last_endpoint() const;

  // Sends `req`; the future gets the reply decoded as Rep.
  // Returns: a future that holds the Rep or one of the errors listed above
  // (TimeoutError after `timeout`). Throws: ConfigError if timeout <= 0.
  // Thread-safety: any thread.
  template <class Rep, class Req>
  std::future<Rep> request(const Req& req, std::chrono::milliseconds timeout) {
    auto completion = std::make_unique<detail::PromiseCompletion<Rep>>();
    std::future<Rep> future = completion->future();
    submit(encode(req), timeout, std::move(completion));
    return future;
  }

  // Sends `req`; later, on the I/O thread, calls on_reply(Rep) or
  // on_error(std::exception_ptr) exactly once. Exceptions thrown by the
  // callbacks are swallowed. Throws: ConfigError if timeout <= 0.
  // Thread-safety: any thread.
  template <class Rep, class Req, class OnReply, class OnError>
  void request(const Req& req, std::chrono::milliseconds timeout, OnReply on_reply,
               OnError on_error) {
    submit(encode(req), timeout,
           std::make_unique<detail::CallbackCompletion<Rep, OnReply, OnError>>(
               std::move(on_reply), std::move(on_error)));
  }

  // Sends `req` and waits for the reply.
  // Returns: the reply. Throws: TimeoutError, RemoteError, DecodeError,
  // ClosedError; ConfigError when called from the I/O thread (a callback),
  // where waiting would deadlock. Thread-safety: any thread.
  template <class Rep, class Req>
  Rep call(const Req& req, std::chrono::milliseconds timeout) {
    check_not_io_thread();
    return request<Rep>(req, timeout).get();
  }

  // Raw forms: `body` must already be exactly one msgpack object; the reply
  // body comes back as msgpack bytes. Same errors and threading as above.
  std::future<std::string> request_raw(std::string body, std::chrono::milliseconds timeout);
  void request_raw(std::string body, std::chrono::milliseconds timeout,
                   std::function<void(std::string)> on_reply,
                   std::function<void(std::exception_ptr)> on_error);

  // Returns: requests sent or queued and not yet answered. Thread-safe.
  std::size_t in_flight() const noexcept;
  // Returns: replies that matched no request in flight (late after a timeout,
  // or unknown id). Thread-safe.
  std::uint64_t late_replies() const noexcept;
  // Returns: replies that broke §2 (wrong frames, unreadable header). Thread-safe.
  std::uint64_t malformed_replies() const noexcept;

 private:
  struct Impl;
  void submit(zmq::message_t body, std::chrono::milliseconds timeout,
              std::unique_ptr<detail::Completion> completion);
  void check_not_io_thread() const;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

// The handle an asynchronous handler gets to answer one request, now or
// later, from any thread. Copyable; all copies share one answer: the first
// reply()/fail() wins, later ones return false. If the last copy is destroyed
// unanswered, the client gets ok:false "the handler did not reply", so a
// forgotten responder never leaves a client waiting for its timeout.
class COURIER_EXPORT RawResponder {
 public:
  // An empty responder: answered() is true, reply()/fail() return false.
  RawResponder() = default;

  // Answers ok:true with `body` (one msgpack object, already encoded).
  // Returns: false if already answered or the Server is gone.
  // Throws: nothing. Thread-safety: any thread.
  bool reply(zmq::message_t&& body) noexcept;
  bool reply(std::string_view body_bytes) noexcept;
  // Answers ok:false with `error` (body nil). Returns/Throws/Thread-safety: as reply.
  bool fail(std::string_view error) noexcept;
  // Returns: true once answered. Thread-safe.
  bool answered() const noexcept;
  // Returns: the request's correlation id.
  std::uint64_t id() const noexcept;

 private:
  // Built by the Server for each request; private so that no detail:: type
  // is part of what users can call.
  friend class Server;
  explicit RawResponder(std::shared_ptr<detail::ResponderState> state) noexcept
      : state_(std::move(state)) {}

  std::shared_ptr<detail::ResponderState> state_;
};

// Typed Responder: reply(const Rep&) encodes on the calling thread.
template <class Rep>
class Responder {
 public:
  explicit Responder(RawResponder raw) noexcept : raw_(std::move(raw)) {}
  // Returns: false if already answered or the Server is gone. Throws:
  // std::bad_alloc only. Thread-safety: any thread.
  bool reply(const Rep& rep) { return raw_.reply(encode(rep)); }
  bool fail(std::string_view error) noexcept { return raw_.fail(error); }
  bool answered() const noexcept { return raw_.answered(); }
  std::uint64_t id() const noexcept { return raw_.id(); }
  RawResponder& raw() noexcept { return raw_; }

 private:
  RawResponder raw_;
};

class COURIER_EXPORT Server {
 public:
  // Handler shapes after type erasure. A sync handler returns the encoded
  // reply body or throws; an async one must complete the responder.
  using SyncHandler = std::function<zmq::message_t(const zmq::message_t& body)>;
  using AsyncHandler = std::function<void(const zmq::message_t& body, RawResponder responder)>;

  // A ROUTER (with ZMQ_ROUTER_MANDATORY) with options.socket in
  // options.context; bind or connect next. Throws: ConfigError, ClosedError.
  explicit Server(ServerOptions options = {});
  Server(Server&&) noexcept;
  Server& operator=(Server&&) noexcept;
  // noexcept; pending Responders then return false. Bounded (linger).
  ~Server();

  Server& bind(const std::string& endpoint);     // Throws: ConfigError
  Server& connect(const std::string& endpoint);  // Throws: ConfigError
  std::string last_endpoint() const;

  // Installs the synchronous handler `f`: Rep f(const Req&) (Rep may be
  // void: the reply body is then nil). Replaces any previous handler.
  // Thread-safety: the driving thread, not while run() is active elsewhere.
  template <class Req, class F>
  Server& handle(F f) {
    using Rep = std::decay_t<std::invoke_result_t<F&, const Req&>>;
    set_sync([f = std::move(f)](const zmq::message_t& body) mutable -> zmq::message_t {
      Req req = decode<Req>(body.data(), body.size());
      if constexpr (std::is_void_v<Rep>) {
        f(static_cast<const Req&>(req));
        return zmq::message_t("\xc0", 1);  // msgpack nil
      } else {
        return encode(f(static_cast<const Req&>(req)));
      }
    });
    return *this;
  }

  // Installs the asynchronous handler `f`: void f(const Req&, Responder<Rep>).
  // The responder may be completed later from any thread. If the body does
  // not decode as Req the client gets ok:false with the DecodeError text.
  template <class Req, class Rep, class F>
  Server& handle_async(F f) {
    set_async([f = std::move(f)](const zmq::message_t& body, RawResponder responder) mutable {
      Req req = decode<Req>(body.data(), body.size());
      f(static_cast<const Req&>(req), Responder<Rep>(std::move(responder)));
    });
    return *this;
  }

  // Raw forms: the body is the request's msgpack bytes; the returned string /
  // the responder's reply must be exactly one msgpack object.
  Server& handle_raw(std::function<std::string(std::string_view body)> f);
  Server& handle_raw_async(std::function<void(std::string_view body, RawResponder)> f);

  // Serves until stop(). Throws: ClosedError when the context is shut down.
  // Thread-safety: one thread drives the server.
  void run();
  // One step: waits at most `timeout` for work, then serves what is ready
  // (a bounded batch) and sends completed async replies.
  // Returns: true if it handled any request or reply. Throws: ClosedError.
  bool poll(std::chrono::milliseconds timeout);
  // Makes run() return after its current step (also when called before run()
  // starts). Thread-safety: any thread; noexcept.
  void stop() noexcept;

  // Counters, thread-safe to read.
  std::uint64_t handled_requests() const noexcept;    // answered (ok or not)
  std::uint64_t dropped_requests() const noexcept;    // malformed, id unreadable
  std::uint64_t expired_requests() const noexcept;    // past their "deadline"
  std::uint64_t unroutable_replies() const noexcept;  // client gone (EHOSTUNREACH)
  std::uint64_t dropped_replies() const noexcept;     // client's queue full for 1000 ms

  zmq::socket_ref socket() noexcept;

 private:
  struct Impl;
  void set_sync(SyncHandler h);
  void set_async(AsyncHandler h);
  std::unique_ptr<Impl> impl_;
};

}  // namespace courier
