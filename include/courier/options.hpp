// courier/options.hpp — the ZeroMQ socket options users actually need, and
// the shape every courier options struct shares.
//
// Contract
// - What: SocketOptions, a plain value with safe defaults, applied the same
//   way to every courier socket before it binds or connects; and
//   default_proxy_endpoint(), where the proxy clients connect by default.
// - One shape for options: every object that owns a socket is built from
//   one *Options struct (PushOptions, PullOptions, ClientOptions,
//   ServerOptions, ProducerOptions, ConsumerOptions, AdminOptions,
//   LockOptions) whose fields come in this order: `endpoint` (proxy clients
//   only: Push, Pull, Client and Server take theirs through bind()/connect()),
//   `name` (proxy clients only: sent in HELLO), the type's own fields, then
//   `SocketOptions socket` and `Context context` (default Context::global()).
//   What the object is bound to, if anything (a Consumer's queue, a Lock's
//   name), is the constructor's first argument, before the options.
// - Defaults that defuse ZeroMQ traps:
//   * linger 1000 ms, never infinite: closing a socket (or terminating its
//     context) waits at most that long to flush unsent messages, so a
//     destructor or program exit can never hang on a vanished peer. A
//     negative linger (ZeroMQ's "forever") is refused with ConfigError.
//   * high-water marks 1000 messages each way: the bound on memory per peer;
//     past it PUSH blocks (or try_send returns false), it never drops.
// - Ownership: plain value; copy it freely.
// - Threading: apply_options() touches one socket: call it from the thread
//   that owns that socket. default_proxy_endpoint() is thread-safe.
// - Errors: ConfigError naming the option and the accepted range.
#pragma once

#include <courier/context.hpp>
#include <courier/export.hpp>
#include <courier/security.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace zmq {
class socket_ref;
}

namespace courier {

struct SocketOptions {
  // Messages queued per peer before send blocks (ZMQ_SNDHWM). 0 = no limit.
  int send_hwm = 1000;
  // Messages queued per peer on the receive side (ZMQ_RCVHWM). 0 = no limit.
  int receive_hwm = 1000;
  // How long close waits to flush unsent messages (ZMQ_LINGER). Must be >= 0:
  // infinite linger is the classic "program never exits" trap.
  std::chrono::milliseconds linger{1000};
  // Delay before reconnecting a dropped connection (ZMQ_RECONNECT_IVL), and
  // the cap of its exponential back-off (ZMQ_RECONNECT_IVL_MAX, 0 = no back-off).
  std::chrono::milliseconds reconnect_interval{100};
  std::chrono::milliseconds reconnect_interval_max{0};
  // TCP keepalive (ZMQ_TCP_KEEPALIVE*): detects dead peers behind NAT or
  // firewalls. The idle/interval values apply when > 0 (else the OS default).
  bool tcp_keepalive = false;
  std::chrono::seconds tcp_keepalive_idle{0};
  std::chrono::seconds tcp_keepalive_interval{0};
  // Queue messages only to completed connections (ZMQ_IMMEDIATE): a PUSH
  // connected to several endpoints then never parks messages on a peer that
  // is down.
  bool immediate = false;
  // The socket's identity/routing id (ZMQ_ROUTING_ID), 1..255 bytes, not
  // starting with a zero byte. Empty = let ZeroMQ choose.
  std::string routing_id;
  // Largest inbound message accepted (ZMQ_MAXMSGSIZE), in bytes; a peer that
  // sends more is disconnected. -1 = no limit.
  std::int64_t max_message_size = -1;
  // CurveZMQ encryption and authentication (security.hpp, PROTOCOL.md §5).
  // Off by default.
  CurveOptions curve;
};

// Returns: $COURIER_PROXY_ENDPOINT when set and not empty, else
// "tcp://127.0.0.1:5555" (courier-proxy's default --listen): the endpoint of
// a Producer, Consumer, Admin or Lock whose options leave `endpoint` empty.
// Throws: nothing but std::bad_alloc. Thread-safety: any thread.
COURIER_EXPORT std::string default_proxy_endpoint();

// Applies `options` to `socket`, which was made from `context` (a CURVE
// allow-list starts that context's ZAP handler, security.hpp).
// Returns: nothing. Throws: ConfigError naming the bad option and its range.
// Thread-safety: only from the thread that owns `socket`.
COURIER_EXPORT void apply_options(zmq::socket_ref socket, const SocketOptions& options, const Context& context);
// The same for a socket of any context, without a CURVE allow-list
// (ConfigError when options.curve.allow_dir is set: give the context).
COURIER_EXPORT void apply_options(zmq::socket_ref socket, const SocketOptions& options);

}  // namespace courier
