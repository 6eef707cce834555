// courier/producer.hpp — durable publishing through courier-proxy (PROTOCOL.md §3).
//
// Contract
// - What: a Producer connects one DEALER to courier-proxy and PUTs values
//   (encoded with codec.hpp) into named queues. A message is "published" when
//   the proxy CONFIRMs it, which it does only after the message is fsync'd
//   into its journal. publish() waits for that confirm; publish_async() does
//   not: it keeps the message in a bounded WINDOW of unconfirmed messages and
//   reports the outcome to an optional callback; flush() waits for the window
//   to empty.
// - Exactly-once into the journal: every message carries a producer id
//   (automatic: "<random per Producer>-<counter>", or PublishOptions::id).
//   After a reconnect or a confirm timeout the Producer resends every
//   unconfirmed message with the SAME id, and the proxy's dedup stores each
//   once (a resend is confirmed with the original seq and dup = true).
// - Batching and order: each queue has at most ONE PUT on the wire at a
//   time; what user threads queue for it meanwhile goes out as ONE batch PUT
//   (per run of the same delay/deliver_at and ttl, up to 4096; §3.4) when
//   the proxy answers. No message is held back longer than that. So the
//   messages of one queue are stored in publish order (per publishing
//   thread), even when some wait for room; queues do not wait for each other.
// - Full queues (ERROR 429, the queue is at its max_length): the message is
//   KEPT, in order, and sent again after 10 ms, doubling to 1 s, one at a
//   time until the queue takes one. Nothing is dropped. A message waits for
//   room at most ProducerOptions::full_wait, counted from when a full queue
//   first held it back (refused it, or it was queued behind one that was);
//   then it fails with RemoteError 429: publish() throws it, publish_async()
//   hands it to the callback or to the next flush(). Later messages of that
//   queue are then tried. Waiting messages STAY IN THE WINDOW: a queue that
//   stays full can fill the window and so block publish_async() for every
//   queue; give such a queue its own Producer or a shorter full_wait.
// - Threads: the constructor STARTS ONE I/O THREAD, which owns the socket,
//   sends, receives confirms, sends PINGs when idle, and reconnects with a
//   fresh socket when the proxy has been silent for 3 x its heartbeat,
//   when the TCP connection drops, or when the proxy's `boot` changes (a
//   restarted proxy answering the old connection, docs/PROTOCOL.md §3.12);
//   then it resends what was unconfirmed. User threads hand messages over through a
//   mutex-protected queue and a Linux eventfd that wakes the I/O thread in
//   zmq_poll. Confirm callbacks run ON THE I/O THREAD: keep them short; do
//   not call publish()/flush() from them (ConfigError).
// - Ownership: move-only; the destructor waits for unconfirmed messages for
//   at most ProducerOptions::close_timeout, fails the rest (their callbacks
//   get ClosedError), says BYE and joins the I/O thread. noexcept, bounded.
// - Thread-safety: every member function may be called from any thread.
// - Errors: RemoteError with the proxy's ERROR code and reason (413 too
//   large, 429 queue full, 503 journal full, ...), TimeoutError, ClosedError
//   (producer closing or context shut down), ConfigError (bad endpoint,
//   queue name, id, option).
// - Queue policies (max_length, dead_letter, ...) are set with
//   Admin::declare() (admin.hpp): a Producer only publishes.
// - From Push<T>: `Push<Order> out; out.connect(ep); out.send(order);`
//   becomes `Producer out; out.publish("orders", order);` (the proxy's
//   endpoint, when not the default one, is ProducerOptions::endpoint). The
//   value type is a template argument of each call (one Producer, any queue,
//   any T), not of the class: a proxy connection is shared by all queues.
// - Sharded (ProducerOptions::shards, docs/scaling.md "Routing in the
//   clients"): the Producer routes each message to the owner of its queue in
//   the shard map's current version, through one inner single-proxy Producer
//   per proxy (made on first use, same options; so `window` is per proxy,
//   and each has its own I/O thread). Every message gets its id here, before
//   routing, and keeps it whatever proxy it ends up on. A new map version
//   sends new messages to the new owner while the old one's inner Producer
//   finishes what it holds; one that left the map is closed once it holds
//   nothing. Per-queue order holds among the messages that one proxy stores.
//   A proxy that answers ERROR 421 (the queue moved, `moved_to` names the
//   new owner) makes the Producer refresh the map and resend that message,
//   same id, to the queue's owner in the new map, or else to the proxy named
//   by `moved_to` when the map has it; otherwise the message fails with
//   RemoteError 421 naming the new owner. A redirected message may be
//   stored after ones published later. Errors name the proxy (its map name
//   and endpoint). A proxy that is down fails only the queues it owns.
//   Without shards a 421 is reported as RemoteError 421 and never retried.
#pragma once

#include <courier/codec.hpp>
#include <courier/context.hpp>
#include <courier/errors.hpp>
#include <courier/export.hpp>
#include <courier/options.hpp>
#include <courier/shard_source.hpp>

#include <zmq.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace courier {

struct ProducerOptions {
  // The proxy's ROUTER endpoint. Empty = default_proxy_endpoint().
  std::string endpoint;
  // Queues spread over several proxies: route each queue to its owner in
  // this source's current map (see "Sharded" above). When set, `endpoint`
  // must be empty (ConfigError: give one or the other). Shared freely.
  std::shared_ptr<ShardMapSource> shards;
  // This client's name, sent in HELLO; shows up in the proxy's logs.
  std::string client_name;
  // Most messages queued or sent but not yet confirmed (per proxy with shards). publish_async()
  // blocks while the window is full (try_publish_async() returns false).
  std::size_t window = 1024;
  // How long publish() waits for its confirm by default.
  std::chrono::milliseconds publish_timeout{30000};
  // A batch unconfirmed for this long makes the Producer reconnect and
  // resend everything unconfirmed (same ids). Must be > 0.
  std::chrono::milliseconds confirm_timeout{10000};
  // The heartbeat assumed until the proxy's WELCOME says its own.
  std::chrono::milliseconds heartbeat{1000};
  // How long the destructor waits for unconfirmed messages.
  std::chrono::milliseconds close_timeout{5000};
  // How long a message may wait for room in a full queue (ERROR 429: the
  // queue is at its max_length) before it fails with RemoteError 429; it is
  // retried meanwhile. 0 = a message fails at its first 429 (a refused batch
  // is first retried one message at a time, so those that fit are stored).
  // See "Full queues" above.
  std::chrono::milliseconds full_wait{30000};
  // Prefix of automatic ids. Empty = 16 random hex digits, unique per Producer.
  // A message without PublishOptions::id gets "<id_prefix>-<counter>": the
  // counter's digit count as a letter ('a' = 1 ... 't' = 20), then its
  // digits: "p-a1" ... "p-a9", "p-b10", "p-e12345". So one Producer's ids
  // sort in publish order as bytes, the order the proxy's dedup index keeps.
  std::string id_prefix;
  // Socket options (linger, reconnect interval, tcp keepalive...). The
  // routing id and high-water marks are managed by the Producer.
  SocketOptions socket;
  Context context = Context::global();
};

// Per-message options.
struct PublishOptions {
  // Producer message id for dedup (≤ 128 bytes). Empty = automatic.
  std::string id;
  // Deliver no earlier than now + delay.
  std::optional<std::chrono::milliseconds> delay;
  // Deliver no earlier than this time (the proxy's clock, to the ms). Made a
  // delay each time the PUT is sent; a time past is "now". Not with `delay`
  // (ConfigError).
  std::optional<std::chrono::system_clock::time_point> deliver_at;
  // Expire (dead-letter or drop) when not consumed within ttl.
  std::optional<std::chrono::milliseconds> ttl;
};

// The outcome of one publish, as given to a publish_async() callback.
struct Confirm {
  std::uint64_t seq = 0;      // position in the queue
  bool dup = false;           // the proxy already had this id (a resend)
  std::string id;             // the message's producer id
  std::exception_ptr error;   // RemoteError / ClosedError when it failed
  bool ok() const noexcept { return !error; }
};
using ConfirmCallback = std::function<void(const Confirm&)>;

class COURIER_EXPORT Producer {
 public:
  // Connects to options.endpoint (empty = default_proxy_endpoint()) and
  // starts the I/O thread. Does not wait for the proxy: messages published
  // before it answers are queued and sent once it does.
  // Throws: ConfigError (bad endpoint or option), ClosedError.
  explicit Producer(ProducerOptions options = {});
  Producer(Producer&&) noexcept;
  Producer& operator=(Producer&&) noexcept;
  // See the contract: bounded by close_timeout + the socket linger. noexcept.
  ~Producer();

  // Publishes `value` to `queue` and waits for its confirm (at most
  // options.publish_timeout, or `timeout`). While the queue is full it waits
  // for room (full_wait): each 429 answer restarts the `timeout` clock.
  // Returns: the message's seq in the queue.
  // Throws: RemoteError (the proxy refused it: code and reason; 429 once it
  // waited full_wait for room); TimeoutError
  // when the window stayed full until the deadline (nothing was queued) or
  // the confirm did not come in time (then the message STAYS in the window
  // and is resent until confirmed, so it may yet be stored: publish again
  // with the same PublishOptions::id to be sure); ClosedError; ConfigError
  // (bad queue name, id or options; called from a confirm callback).
  // Thread-safety: any thread except the I/O thread.
  template <class T>
  std::uint64_t publish(std::string_view queue, const T& value, const PublishOptions& options = {}) {
    return publish_message(queue, encode(value), options, default_publish_timeout());
  }
  template <class T>
  std::uint64_t publish(std::string_view queue, const T& value, const PublishOptions& options,
                        std::chrono::milliseconds timeout) {
    return publish_message(queue, encode(value), options, timeout);
  }

  // Queues `value` for `queue` without waiting for the confirm. BLOCKS while
  // the window is full (never drops). From a confirm callback it never blocks
  // (the window may then be exceeded). `on_confirm` (optional) runs on the
  // I/O thread once, with the seq or the error; a failure without a callback
  // is rethrown by the next flush(). A full queue delays the callback (up to
  // full_wait), it does not fail it.
  // Returns: nothing. Throws: ConfigError, ClosedError. Thread-safety: any thread.
  template <class T>
  void publish_async(std::string_view queue, const T& value, const PublishOptions& options = {},
                     ConfirmCallback on_confirm = {}) {
    (void)submit_message(queue, encode(value), options, std::move(on_confirm), std::nullopt);
  }
  // As publish_async, but waits at most `timeout` for room in the window.
  // Returns: false (nothing queued) when the window stayed full that long.
  // Throws: ConfigError, ClosedError.
  template <class T>
  bool publish_async(std::string_view queue, const T& value, const PublishOptions& options,
                     ConfirmCallback on_confirm, std::chrono::milliseconds timeout) {
    return submit_message(queue, encode(value), options, std::move(on_confirm), timeout);
  }
  // As publish_async, but never waits. Returns: false (nothing queued) when
  // the window is full. Throws: ConfigError, ClosedError.
  template <class T>
  bool try_publish_async(std::string_view queue, const T& value, const PublishOptions& options = {},
                         ConfirmCallback on_confirm = {}) {
    return submit_message(queue, encode(value), options, std::move(on_confirm), std::chrono::milliseconds(0));
  }

  // Raw forms: `body` is sent as is (by convention one msgpack object; the
  // proxy never decodes it). Same returns, errors and threading as above.
  std::uint64_t publish_raw(std::string_view queue, std::string_view body,
                            const PublishOptions& options = {});
  void publish_raw_async(std::string_view queue, std::string_view body,
                         const PublishOptions& options = {}, ConfirmCallback on_confirm = {});
  bool publish_raw_async(std::string_view queue, std::string_view body, const PublishOptions& options,
                         ConfirmCallback on_confirm, std::chrono::milliseconds timeout);
  bool try_publish_raw_async(std::string_view queue, std::string_view body,
                             const PublishOptions& options = {}, ConfirmCallback on_confirm = {});

  // Waits until every message published so far is confirmed or failed.
  // Returns: true when the window is empty, false when `timeout` passed first.
  // Throws: the first RemoteError/ClosedError of an async publish that had
  // no callback, since the last flush (so failures are never silent);
  // ConfigError from a confirm callback. Thread-safety: any thread but the I/O one.
  bool flush(std::chrono::milliseconds timeout);

  // Returns: true once the proxy has answered HELLO on the current
  // connection (with shards: every proxy of the current map has), false
  // when `timeout` passed first. Thread-safe.
  bool wait_connected(std::chrono::milliseconds timeout);

  // Returns: the endpoint this Producer talks to (default_proxy_endpoint()
  // when the options left it empty); with shards, "shards: " and the
  // source's description(). Thread-safe.
  const std::string& endpoint() const noexcept;

  // Counters, thread-safe to read. With shards: sums over the inner
  // Producers, the closed ones included; unconfirmed() counts messages not
  // yet finished, redirects included.
  std::size_t unconfirmed() const noexcept;       // in the window now
  std::uint64_t confirmed() const noexcept;       // confirmed messages
  std::uint64_t duplicates() const noexcept;      // confirmed with dup = true
  std::uint64_t batches_sent() const noexcept;    // PUT messages with n (batch form)
  std::uint64_t messages_sent() const noexcept;   // bodies sent, resends included
  std::uint64_t resent() const noexcept;          // bodies sent again after a reconnect
  std::uint64_t reconnects() const noexcept;      // fresh sockets after silence/timeout/restart
  std::uint64_t full_retries() const noexcept;    // bodies sent again after ERROR 429


 private:
  struct Impl;
  // The routing layer (src/sharded_producer.cpp); set instead of impl_.
  struct Sharded;
  // Queues without waiting for window room (a message redirected from
  // another inner Producer's I/O thread must not block it). Throws: ClosedError.
  void submit_unbounded(std::string_view queue, zmq::message_t body, const PublishOptions& options,
                        ConfirmCallback on_confirm);
  // Starts closing now, waiting at most `wait` for unconfirmed messages (the
  // destructor then only joins). noexcept.
  void begin_close(std::chrono::milliseconds wait) noexcept;
  std::uint64_t publish_message(std::string_view queue, zmq::message_t body,
                                const PublishOptions& options, std::chrono::milliseconds timeout);
  // Queues one message, waiting for window room at most `wait` (nullopt: as long as it takes).
  bool submit_message(std::string_view queue, zmq::message_t body, const PublishOptions& options,
                      ConfirmCallback on_confirm, std::optional<std::chrono::milliseconds> wait);
  std::chrono::milliseconds default_publish_timeout() const noexcept;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Sharded> sharded_;
};

}  // namespace courier
