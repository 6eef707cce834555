// courier/consumer.hpp — durable consuming from courier-proxy (PROTOCOL.md §3).
//
// Contract
// - What: a Consumer connects one DEALER to courier-proxy, sends CONSUME for
//   one queue with credit = prefetch (at most that many unacked deliveries
//   out to it) and asks for batched DELIVERs (batch = prefetch by default).
//   Messages come out as Delivery<T> (delivery.hpp): pull style with
//   receive<T>(timeout), or callback style with run<T>(callback) until stop().
// - Threads: "Consumer starts one I/O thread." The constructor starts it; it
//   owns the socket, receives DELIVERs into a local buffer (≤ prefetch),
//   sends ACK/NACK/CREDIT (all pending settlements in one message per kind),
//   sends PINGs and notices a silent proxy (3 x hb), a dropped connection
//   or a restarted proxy (its `boot` changed, docs/PROTOCOL.md §3.12), then
//   reconnects with a fresh socket and CONSUMEs again. Your code —
//   receive() and run()'s callbacks — runs in YOUR
//   thread, never on the I/O thread, so heartbeats keep flowing while a
//   callback works for minutes: the proxy does not think you are dead and
//   does not redeliver your messages elsewhere. User threads hand settlements
//   to the I/O thread through a mutex-protected list and a Linux eventfd.
// - Delivery semantics: at-least-once with ack (default); with auto_ack the
//   proxy forgets a message once sent (at-most-once, as AMQP's auto-ack).
//   Deliveries buffered but not yet received when the connection is lost are
//   dropped locally: the proxy redelivers them (attempt + 1).
// - Exact counts: with ConsumerOptions::limit = N the proxy sends this
//   Consumer at most N deliveries (CONSUME `limit`), so message N+1 is never
//   taken off the queue; after a reconnect it asks only for what is left.
// - Ownership: move-only. The destructor hands pending acks to the proxy,
//   says BYE (the proxy requeues whatever is unacked), joins the I/O thread
//   and closes with a bounded linger. noexcept, never hangs.
// - Thread-safety: every member function may be called from any thread;
//   run() by one thread at a time.
// - Errors: ConfigError (bad endpoint, queue name or option), ClosedError
//   (consumer closed, context shut down), RemoteError (the proxy refused the
//   CONSUME), DecodeError from Delivery<T>::body() only.
// - From Push<T>/Pull<T>: `Pull<Order> in; in.connect(ep); Order o = in.receive();`
//   becomes `Consumer in("orders"); auto d = in.receive<Order>(); d.body()`,
//   plus an ack (the proxy's endpoint, when not the default one, is
//   ConsumerOptions::endpoint). Naming follows Pull: receive/try_receive,
//   typed by a template argument on the call (one Consumer, one queue, any
//   T); the untyped forms are receive_raw/try_receive_raw.
// - Sharded (ConsumerOptions::shards, docs/scaling.md "Routing in the
//   clients"): the Consumer takes its queue from the queue's owner in the
//   map, through an inner single-proxy Consumer (with its own I/O thread).
//   receive(), run() and the other calls look at the map's version each
//   time they look for a delivery (at least every 100 ms while they wait):
//   when the queue's owner changed, the Consumer starts consuming from the
//   new owner and keeps the old connection until every delivery it gave
//   out has been acked or nacked and nothing it received waits to be
//   handed out; then it closes it (its settlements first, then BYE, so the
//   proxy applies them and requeues nothing). Meanwhile receive() yields
//   deliveries of both, the old ones first, and each ack/nack goes to the
//   connection its delivery came from. Messages the old owner still holds
//   after that are for `courier move` to carry over. One Consumer is one
//   queue: a consumer of several queues is several Consumers sharing one
//   ShardMapSource (each routes its own queue, so each follows its owner).
#pragma once

#include <courier/codec.hpp>
#include <courier/context.hpp>
#include <courier/delivery.hpp>
#include <courier/errors.hpp>
#include <courier/export.hpp>
#include <courier/options.hpp>
#include <courier/shard_source.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace courier {

namespace detail {
struct Doorbell;  // wakes a sharded Consumer waiting on several inner ones (src/consumer.cpp)
}

struct ConsumerOptions {
  // The proxy's ROUTER endpoint. Empty = default_proxy_endpoint().
  std::string endpoint;
  // Queues spread over several proxies: consume from the queue's owner in
  // this source's current map, following it when it changes (see "Sharded"
  // above). When set, `endpoint` must be empty (ConfigError: give one or
  // the other).
  std::shared_ptr<ShardMapSource> shards;
  // This client's name, sent in HELLO; shows up in the proxy's logs.
  std::string client_name;
  // CONSUME credit: the most deliveries out to this consumer and not yet
  // settled (with auto_ack: the most buffered locally). At least 1.
  std::uint32_t prefetch = 100;
  // The proxy forgets a message as soon as it is sent (no ack needed).
  bool auto_ack = false;
  // Messages per DELIVER (batch form, §3.4). 0 = prefetch (capped at 4096),
  // 1 = one message per DELIVER.
  std::uint32_t batch = 0;
  // The most deliveries this Consumer takes in all, redeliveries included
  // (CONSUME `limit`, docs/PROTOCOL.md §3.12): a consumer that wants N
  // messages never takes message N+1 off the queue. Once they are handed
  // out, receive() gets nothing more. Deliveries dropped by a reconnect
  // (never handed out) do not count. Unset = no limit; else at least 1.
  std::optional<std::uint64_t> limit;
  // The heartbeat assumed until the proxy's WELCOME says its own.
  std::chrono::milliseconds heartbeat{1000};
  // Socket options; routing id and high-water marks are managed here.
  SocketOptions socket;
  Context context = Context::global();
};

class COURIER_EXPORT Consumer {
 public:
  // Connects to options.endpoint (empty = default_proxy_endpoint()), sends
  // HELLO + CONSUME `queue`, starts the I/O thread. Does not wait for the
  // proxy (see wait_consuming()).
  // Throws: ConfigError (bad endpoint, queue name, prefetch 0, limit 0), ClosedError.
  explicit Consumer(std::string queue, ConsumerOptions options = {});
  Consumer(Consumer&&) noexcept;
  Consumer& operator=(Consumer&&) noexcept;
  // See the contract. noexcept; bounded by the socket linger (≤ 1 s).
  ~Consumer();

  // Pull style. Returns: the next delivery, or nullopt when `timeout` passes
  // first. The body is decoded on first Delivery::body() (DecodeError there
  // does not affect the Consumer). Throws: ClosedError. Thread-safety: any thread.
  template <class T>
  std::optional<Delivery<T>> receive(std::chrono::milliseconds timeout) {
    auto raw = receive_raw(timeout);
    if (!raw) return std::nullopt;
    return Delivery<T>(std::move(*raw));
  }
  // Returns: the next delivery, waiting as long as it takes. Throws: ClosedError.
  template <class T>
  Delivery<T> receive() {
    return Delivery<T>(receive_raw());
  }
  // Returns: the next delivery when one is buffered, else nullopt; never waits.
  template <class T>
  std::optional<Delivery<T>> try_receive() {
    return receive<T>(std::chrono::milliseconds(0));
  }
  // Untyped forms, the same three ways: the body stays bytes (RawDelivery).
  // Returns/Throws/Thread-safety: as receive<T>().
  std::optional<RawDelivery> receive_raw(std::chrono::milliseconds timeout);
  RawDelivery receive_raw();
  std::optional<RawDelivery> try_receive_raw() { return receive_raw(std::chrono::milliseconds(0)); }

  // Callback style: calls `callback` in THIS thread for each delivery until
  // stop() (from the callback or any thread). `callback` takes either
  // Delivery<T>& or const T&. After it returns, an unsettled delivery is
  // ACKed; if it throws, the delivery is NACKed (requeue) and the exception
  // leaves run(). A body that does not decode as T is never passed to the
  // callback: it is counted (decode_errors()), rejected with nack(false)
  // (dead-letter queue or dropped; nothing with auto_ack), and run() goes on.
  // Returns: after stop(). Throws: ClosedError, what the callback throws.
  template <class T, class F>
  void run(F&& callback) {
    while (std::optional<RawDelivery> raw = next_for_run()) {
      Delivery<T> d(std::move(*raw));
      try {
        (void)d.body();
      } catch (const DecodeError&) {
        count_decode_error();
        (void)d.nack(false);
        continue;
      }
      try {
        if constexpr (std::is_invocable_v<F&, Delivery<T>&>) {
          callback(d);
        } else {
          static_assert(std::is_invocable_v<F&, const T&>,
                        "Consumer::run<T>: the callback must take Delivery<T>& or const T&");
          callback(static_cast<const T&>(d.body()));
        }
      } catch (...) {
        (void)d.nack(true);
        throw;
      }
      (void)d.ack();
    }
  }
  // Makes run() return after the current callback (also when called before
  // run() starts; each stop() ends one run()). Thread-safety: any thread.
  void stop() noexcept;

  // Closes with a handshake: hands every settlement made so far to the
  // proxy, CANCELs, and waits (at most `timeout`) until the proxy answers,
  // which it does only after applying them; then says BYE (the proxy
  // requeues whatever is still unacked) and closes. Use it when someone
  // else must see the acks applied once this returns (a script that
  // consumes, exits, then reads STATS). Afterwards receive() throws
  // ClosedError and settling returns false; a second close() does nothing.
  // Returns: true when the proxy answered in time. Throws: nothing.
  // Thread-safety: any thread but one inside run() or receive().
  bool close(std::chrono::milliseconds timeout);

  // Returns: true once the proxy answered CONSUME on the current connection,
  // false when `timeout` passed first. Throws: RemoteError when the proxy
  // refused the CONSUME. Thread-safety: any thread.
  bool wait_consuming(std::chrono::milliseconds timeout);

  // Returns: the queue this Consumer takes from. Thread-safe.
  const std::string& queue() const noexcept;
  // Returns: the endpoint this Consumer talks to (default_proxy_endpoint()
  // when the options left it empty); with shards, "shards: " and the
  // source's description(). Thread-safe.
  const std::string& endpoint() const noexcept;
  // Counters, thread-safe (with shards: sums over every connection, the
  // closed ones included).
  std::uint64_t received() const noexcept;       // deliveries handed to user code
  std::uint64_t decode_errors() const noexcept;  // bodies run() could not decode
  std::uint64_t reconnects() const noexcept;     // fresh sockets + re-CONSUME
  std::uint64_t stale_settlements() const noexcept;  // acks/nacks for a lost connection
  std::uint64_t acks_sent() const noexcept;      // ACK messages (each may carry many ids)

 private:
  struct Impl;
  struct Sharded;  // the routing layer, set instead of impl_
  // An inner Consumer of a sharded one: rings `bell` whenever deliveries
  // arrive or it closes.
  Consumer(std::string queue, ConsumerOptions options, std::shared_ptr<detail::Doorbell> bell);
  std::optional<RawDelivery> next_for_run();
  void count_decode_error() noexcept;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Sharded> sharded_;
};

}  // namespace courier
