// courier/pipeline.hpp — direct PUSH -> PULL pipelines (PROTOCOL.md §1).
//
// Contract
// - What: Push<T> sends values of T, Pull<T> receives them; one ZeroMQ
//   message = one frame = one msgpack object, nothing else, so pyzmq's
//   `sock.send(msgpack.packb(obj))` / `msgpack.unpackb(sock.recv())` are valid
//   peers. RawPush / RawPull are the same sockets for users who serialize
//   themselves (bytes in, bytes out). Load is spread round-robin over a
//   Push's peers and fair-queued from a Pull's peers (ZeroMQ semantics).
// - Construction: from PushOptions / PullOptions (socket options and the
//   Context; options.hpp), then bind() and/or connect().
// - Endpoints: bind() and connect() may be called several times, on any mix
//   of tcp://, ipc:// and inproc:// endpoints. Bind "tcp://127.0.0.1:*" for an
//   ephemeral port and read it back with last_endpoint().
// - Ownership: each object owns its socket (move-only RAII) and shares its
//   Context. The destructor is noexcept and never hangs: it closes the socket
//   and unsent messages are flushed for at most the linger (options.hpp,
//   default 1000 ms), in ZeroMQ's background thread.
// - Threading: NOT thread-safe. One thread at a time per object (ZeroMQ
//   sockets must not be used concurrently); moving an object to another
//   thread between calls is fine. Use one Push/Pull per thread.
// - Blocking: send() blocks while every peer's queue is at its high-water
//   mark — and also while a bound Push has no peer yet; receive() blocks until a
//   message arrives. Timed forms wait at most `timeout`; try_ forms never
//   wait. "Nothing yet" is a false/empty result, never an exception.
// - Errors: ConfigError for a bad endpoint or option (names the endpoint and
//   the reason); ClosedError when the context is shut down, also for a call
//   already blocked in another thread (Context::shutdown()); DecodeError when a
//   frame is not one msgpack object of type T — that frame is consumed, the
//   next receive() gets the next message; ProtocolError when a peer sends a
//   multipart message (§1 allows one frame; all its parts are consumed).
//   EINTR is retried internally.
#pragma once

#include <courier/codec.hpp>
#include <courier/context.hpp>
#include <courier/errors.hpp>
#include <courier/export.hpp>
#include <courier/options.hpp>

#include <zmq.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace courier {

namespace detail {

// The part RawPush and RawPull share: a socket of a given type in a context,
// with options applied, endpoint handling and the EINTR/ETERM rules.
class COURIER_EXPORT PipeSocket {
 public:
  PipeSocket(int type, const SocketOptions& options, Context context);
  PipeSocket(PipeSocket&&) noexcept = default;
  PipeSocket& operator=(PipeSocket&&) noexcept = default;
  ~PipeSocket() = default;

  void bind(const std::string& endpoint);
  void connect(const std::string& endpoint);
  std::string last_endpoint() const;
  zmq::socket_ref socket() noexcept { return socket_; }
  const Context& context() const noexcept { return context_; }

  // timeout_ms: -1 blocks, 0 never waits, > 0 bounded. Returns false on timeout.
  bool send(zmq::message_t& msg, int timeout_ms);
  bool receive(zmq::message_t& msg, int timeout_ms);

 private:
  Context context_;         // declared first: outlives the socket
  zmq::socket_t socket_;
};

inline int to_ms(std::chrono::milliseconds t) noexcept {
  if (t.count() <= 0) return 0;
  return t.count() > 0x7fffffff ? 0x7fffffff : static_cast<int>(t.count());
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

// How a Push<T> or RawPush is made. No endpoint: bind()/connect() after.
struct PushOptions {
  SocketOptions socket;
  Context context = Context::global();
};

// How a Pull<T> or RawPull is made. No endpoint: bind()/connect() after.
struct PullOptions {
  SocketOptions socket;
  Context context = Context::global();
};

// ---------------------------------------------------------------------------
// Raw bytes
// ---------------------------------------------------------------------------

// The sending end, bytes only. Each send is one single-frame message.
class COURIER_EXPORT RawPush {
 public:
  // A PUSH socket with options.socket in options.context.
  // Throws: ConfigError (bad option), ClosedError (context shut down).
  explicit RawPush(PushOptions options = {});
  RawPush(RawPush&&) noexcept = default;
  RawPush& operator=(RawPush&&) noexcept = default;
  ~RawPush() = default;

  // Returns: *this. Throws: ConfigError "cannot bind tcp://...: reason".
  RawPush& bind(const std::string& endpoint);
  // Returns: *this. Throws: ConfigError "cannot connect ...: reason".
  RawPush& connect(const std::string& endpoint);
  // Returns: the endpoint last bound or connected, with the real port when
  // "*" was asked for. Throws: ClosedError.
  std::string last_endpoint() const;

  // Sends `msg` (emptied), waiting as long as it takes.
  // Throws: ClosedError. Thread-safety: one thread at a time.
  void send(zmq::message_t&& msg);
  // Copies `bytes` into a message and sends it.
  void send(std::string_view bytes);
  void send(const void* data, std::size_t size) { send(std::string_view(static_cast<const char*>(data), size)); }
  // Waits at most `timeout`. Returns: true if sent (msg emptied), false on
  // timeout (msg untouched). Throws: ClosedError.
  bool send(zmq::message_t& msg, std::chrono::milliseconds timeout);
  bool send(std::string_view bytes, std::chrono::milliseconds timeout);
  // Never waits. Returns: true if queued, false if it would block.
  bool try_send(zmq::message_t& msg);
  bool try_send(zmq::message_t&& msg) { return try_send(msg); }
  bool try_send(std::string_view bytes);

  // The underlying socket, for options courier does not wrap. Lifetime: this
  // object's. Do not close it or use it from another thread.
  zmq::socket_ref socket() noexcept { return socket_.socket(); }

 private:
  detail::PipeSocket socket_;
};

// The receiving end, bytes only.
class COURIER_EXPORT RawPull {
 public:
  // A PULL socket with options.socket in options.context.
  // Throws: ConfigError, ClosedError.
  explicit RawPull(PullOptions options = {});
  RawPull(RawPull&&) noexcept = default;
  RawPull& operator=(RawPull&&) noexcept = default;
  ~RawPull() = default;

  RawPull& bind(const std::string& endpoint);     // Throws: ConfigError
  RawPull& connect(const std::string& endpoint);  // Throws: ConfigError
  std::string last_endpoint() const;

  // Waits for the next message. Returns: its single frame.
  // Throws: ClosedError (context shut down, also while waiting),
  // ProtocolError (a multipart message; it is consumed).
  zmq::message_t receive();
  // Returns: the frame, or nullopt when `timeout` passes first.
  std::optional<zmq::message_t> receive(std::chrono::milliseconds timeout);
  // Returns: the frame, or nullopt when none is waiting.
  std::optional<zmq::message_t> try_receive();
  // The allocation-free form the typed Pull uses: receives into `msg`
  // (reusing it). timeout_ms: -1 waits forever, 0 never waits.
  // Returns: false on timeout. Throws: as receive().
  bool receive_into(zmq::message_t& msg, int timeout_ms);

  zmq::socket_ref socket() noexcept { return socket_.socket(); }

 private:
  detail::PipeSocket socket_;
};

// ---------------------------------------------------------------------------
// Typed
// ---------------------------------------------------------------------------

// Sends values of T, each packed as one msgpack object (codec.hpp).
// T must be encodable: the constructor's static_assert says what to add.
template <class T>
class Push {
  static_assert(detail::supported_v<T, false>,
                "courier::Push<T>: msgpack cannot pack T. Add MSGPACK_DEFINE(...) or "
                "MSGPACK_DEFINE_MAP(...) to your struct, or specialize courier::is_serializable.");

 public:
  explicit Push(PushOptions options = {}) : raw_(std::move(options)) {}

  Push& bind(const std::string& endpoint) { raw_.bind(endpoint); return *this; }
  Push& connect(const std::string& endpoint) { raw_.connect(endpoint); return *this; }
  std::string last_endpoint() const { return raw_.last_endpoint(); }

  // Packs and sends `value`, waiting as long as it takes.
  // Throws: ClosedError. Thread-safety: one thread at a time.
  void send(const T& value) { raw_.send(encode(value)); }
  // Returns: true if sent, false when `timeout` passed first (value dropped).
  // Throws: ClosedError.
  bool send(const T& value, std::chrono::milliseconds timeout) {
    zmq::message_t msg = encode(value);
    return raw_.send(msg, timeout);
  }
  // Returns: true if queued, false if sending would block. Throws: ClosedError.
  bool try_send(const T& value) {
    zmq::message_t msg = encode(value);
    return raw_.try_send(msg);
  }

  RawPush& raw() noexcept { return raw_; }

 private:
  RawPush raw_;
};

// Receives values of T. A frame that is not one msgpack object convertible to
// T throws DecodeError; it is consumed, so the next receive() gets the next one.
template <class T>
class Pull {
  static_assert(detail::supported_v<T, true>,
                "courier::Pull<T>: msgpack cannot unpack T. Add MSGPACK_DEFINE(...) or "
                "MSGPACK_DEFINE_MAP(...) to your struct, or specialize courier::is_serializable. "
                "View types (string_view) cannot be received: use std::string.");

 public:
  explicit Pull(PullOptions options = {}) : raw_(std::move(options)) {}

  Pull& bind(const std::string& endpoint) { raw_.bind(endpoint); return *this; }
  Pull& connect(const std::string& endpoint) { raw_.connect(endpoint); return *this; }
  std::string last_endpoint() const { return raw_.last_endpoint(); }

  // Returns: the next value, waiting as long as it takes.
  // Throws: DecodeError, ProtocolError, ClosedError.
  T receive() {
    raw_.receive_into(frame_, -1);
    return decode<T>(frame_.data(), frame_.size());
  }
  // Returns: the next value, or nullopt when `timeout` passes first.
  // Throws: DecodeError, ProtocolError, ClosedError.
  std::optional<T> receive(std::chrono::milliseconds timeout) {
    if (!raw_.receive_into(frame_, detail::to_ms(timeout))) return std::nullopt;
    return decode<T>(frame_.data(), frame_.size());
  }
  // Returns: the next value, or nullopt when none is waiting.
  std::optional<T> try_receive() {
    if (!raw_.receive_into(frame_, 0)) return std::nullopt;
    return decode<T>(frame_.data(), frame_.size());
  }

  RawPull& raw() noexcept { return raw_; }

 private:
  RawPull raw_;
  zmq::message_t frame_;  // reused: no allocation per message beyond ZeroMQ's
};

}  // namespace courier
