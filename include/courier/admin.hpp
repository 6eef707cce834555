// courier/admin.hpp — queue health and administration on courier-proxy
// (PROTOCOL.md §3.1 DECLARE, STATS, PURGE; docs/PROTOCOL.md §3.4 DELETE).
//
// Contract
// - What: an Admin asks courier-proxy about its queues and changes their
//   policies: stats() (typed per-queue figures), declare(), purge(),
//   remove(). rates() turns two stats() samples into messages per second.
// - Threads: "Admin starts no thread." Each call sends one request on the
//   Admin's DEALER and waits for its answer with zmq_poll, in the caller's
//   thread. The connection is made, and HELLO said, on the first call; after
//   an idle spell longer than the proxy's session timeout (3 x hb) or a
//   timed-out call, the next call opens a fresh connection (a new session),
//   so a late answer can never be taken for the next call's.
// - Thread-safety: every member function may be called from any thread;
//   calls are serialized by a mutex (one request on the wire at a time, so
//   an answer is matched by its command alone).
// - Ownership: move-only. The destructor says BYE and closes with a bounded
//   linger (≤ 1 s). noexcept, never hangs.
// - Errors: RemoteError with the proxy's ERROR code (400 bad value, 404
//   unknown option or queue, 409 refused by the queue's kind or contents,
//   503 journal full); TimeoutError when no answer comes within
//   AdminOptions::timeout; ConfigError for a bad queue name or option
//   (checked before anything is sent); ClosedError when the context is shut
//   down.
// - Sharded (AdminOptions::shards, docs/scaling.md "Routing in the
//   clients"): declare(), purge(), remove() and stats(queue) go to the
//   queue's owner in the map's current version, through one inner
//   single-proxy Admin per proxy (made on first use); errors then name the
//   proxy (map name and endpoint). stats() and stats_by_proxy() ask every
//   proxy of the map, one after the other, so a proxy that does not answer
//   costs one `timeout` and is reported, never hidden; the others still
//   answer. Still no thread.
#pragma once

#include <courier/context.hpp>
#include <courier/errors.hpp>
#include <courier/export.hpp>
#include <courier/options.hpp>
#include <courier/shard_source.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courier {

// Queue policies for Admin::declare() (PROTOCOL.md §3.1 DECLARE). Unset =
// unchanged; an option once set cannot be removed.
struct QueueOptions {
  // Most waiting (ready + delayed) messages; a PUT past it gets 429.
  std::optional<std::uint64_t> max_length;
  // A message delivered this many times is dead-lettered (or dropped). ≥ 1.
  std::optional<std::uint64_t> max_attempts;
  // Default per-message time to live.
  std::optional<std::chrono::milliseconds> ttl;
  // An unacked delivery older than this is requeued (for a token queue: the lease).
  std::optional<std::chrono::milliseconds> ack_timeout;
  // Where dead-lettered messages go (a valid queue name, not the queue itself).
  std::optional<std::string> dead_letter;
  // Makes the queue a token queue of that many tokens, 1..65536 (PROTOCOL.md
  // §3.6: locks and semaphores, see lock.hpp). Only ack_timeout may go with
  // it.
  std::optional<std::uint32_t> tokens;
  // Marks the queue moved to that proxy (a shard map name, 1-64 bytes of
  // [A-Za-z0-9._-]): the proxy then refuses PUTs to it with ERROR 421
  // naming it, while what it holds can still be consumed (docs/PROTOCOL.md
  // §3.13; `courier move` sets it). "" removes the mark. Not on token queues.
  std::optional<std::string> moved_to;
};

// One queue's figures, as STATS reports them (PROTOCOL.md §3.2). Counters
// count since the proxy started (they restart at 0 when it restarts).
struct QueueStats {
  std::uint64_t depth = 0;          // ready: neither in flight nor delayed (token queue: free tokens)
  std::uint64_t inflight = 0;       // delivered, not yet acked (token queue: held tokens)
  std::uint64_t consumers = 0;
  std::uint64_t delayed = 0;        // not yet due
  std::uint64_t put = 0;
  std::uint64_t delivered = 0;      // every DELIVER, redeliveries included
  std::uint64_t acked = 0;
  std::uint64_t redelivered = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t dropped = 0;
  std::uint64_t expired = 0;
  std::optional<std::uint64_t> tokens;  // set for token queues only
  // Set on the old owner of a queue `courier move` moved away: the proxy
  // name it now refuses PUTs for (ERROR 421). What is left here drains.
  std::optional<std::string> moved_to;
};

// One STATS answer: every queue (or the one asked for) plus the proxy's figures.
//
// For `courier stats` over a shard map, Admin::stats_by_proxy() gives one
// of these per proxy of the map, in the map's order; print one table row per
// (proxy, queue) and one line per unreachable proxy:
//   name       the proxy's name in the shard map ("" without shards)
//   endpoint   where it was asked
//   reachable  false: it did not answer within AdminOptions::timeout, or
//              answered with an error; `error` then says what happened
//              (the exception's text), and queues/uptime/clients are empty/0
//   queues, uptime_ms, clients: its own STATS answer, as for one proxy; a
//              queue `courier move` took away has QueueStats::moved_to set
//              on the proxy it left (its rest drains there): mark that row.
// Admin::stats() (all queues) sums the per-queue figures of every proxy that
// has the queue (two only during a move) and the clients; uptime_ms is the
// smallest; moved_to stays only when every copy has it. Its name/endpoint
// are empty and reachable is true.
struct ProxyStats {
  std::map<std::string, QueueStats> queues;
  std::uint64_t uptime_ms = 0;  // since the proxy process started
  std::uint64_t clients = 0;    // sessions that said HELLO and have not ended
  std::string name;             // stats_by_proxy(): the proxy's map name
  std::string endpoint;         // stats_by_proxy(): where it was asked
  bool reachable = true;        // stats_by_proxy(): false when it did not answer
  std::string error;            // stats_by_proxy(): why it is not reachable
};

// Per-second rates of one queue between two samples.
struct QueueRate {
  double put_per_s = 0;        // "in": messages stored by PUTs
  double acked_per_s = 0;      // "out": messages consumed and acked (done with)
  double delivered_per_s = 0;  // DELIVERs, redeliveries included; the "out" of
                               // auto_ack consumers, which never ack
};
using QueueRates = std::map<std::string, QueueRate>;

// Rates of every queue in `later`: counter deltas divided by the uptime
// delta. A queue absent from `earlier`, or whose counters went down (it was
// deleted and made again), counts from 0 over that interval. When the proxy
// restarted in between (`later.uptime_ms` < `earlier.uptime_ms`), every
// queue counts from 0 over `later`'s uptime (counters restart with it).
// Returns: the rates; all 0 when no time passed. Throws: nothing. Thread-safe.
COURIER_EXPORT QueueRates rates(const ProxyStats& earlier, const ProxyStats& later) noexcept;

struct AdminOptions {
  // The proxy's ROUTER endpoint. Empty = default_proxy_endpoint().
  std::string endpoint;
  // Queues spread over several proxies: route each queue to its owner in
  // this source's current map (see "Sharded" above). When set, `endpoint`
  // must be empty (ConfigError: give one or the other).
  std::shared_ptr<ShardMapSource> shards;
  // This client's name, sent in HELLO; shows up in the proxy's logs.
  std::string client_name;
  // How long each call waits for its answer (per proxy with shards). Must be > 0.
  std::chrono::milliseconds timeout{5000};
  // Socket options (linger, reconnect interval, tcp keepalive...). The
  // routing id and high-water marks are managed by the Admin.
  SocketOptions socket;
  Context context = Context::global();
};

class COURIER_EXPORT Admin {
 public:
  // Checks the options; connects to options.endpoint (empty =
  // default_proxy_endpoint()) and says HELLO on the first call, not here, so
  // a bad endpoint is reported by that call (ConfigError).
  // Throws: ConfigError (bad option).
  explicit Admin(AdminOptions options = {});
  Admin(Admin&&) noexcept;
  Admin& operator=(Admin&&) noexcept;
  // Says BYE when connected; bounded by the socket linger (≤ 1 s). noexcept.
  ~Admin();

  // STATS of every queue.
  // Returns: the proxy's figures (with shards: every proxy's, merged as said
  // at ProxyStats). Throws: TimeoutError, RemoteError, ClosedError; with
  // shards, the error of the first proxy that did not answer, naming it
  // (stats_by_proxy() gives what the others said).
  ProxyStats stats();
  // STATS of every queue, per proxy: one entry per proxy of the current map
  // (without shards: one, for `endpoint`). A proxy that does not answer
  // within the timeout is an entry with reachable = false and the error
  // text; it does not stop the others. Returns: the entries, in map order.
  // Throws: ConfigError (an empty map), ClosedError.
  std::vector<ProxyStats> stats_by_proxy();
  // STATS of one queue. Returns: its figures, or nullopt when the proxy has
  // no queue of that name. Throws: ConfigError (bad name), TimeoutError,
  // RemoteError, ClosedError.
  std::optional<QueueStats> stats(std::string_view queue);

  // DECLARE: sets the options given (creating the queue if needed).
  // Returns: the queue's depth. Throws: ConfigError (bad name or option,
  // tokens outside 1..65536, negative duration, moved_to not a proxy name); RemoteError 404 (unknown
  // option), 400 (bad value, or an option a token queue does not take), 409
  // (tokens on a queue holding messages, or a different number of tokens),
  // 503; TimeoutError; ClosedError.
  std::uint64_t declare(std::string_view queue, const QueueOptions& options = {});

  // PURGE: removes the ready messages (in-flight and delayed ones stay).
  // Returns: how many were removed (0 for an unknown queue). Throws:
  // ConfigError, RemoteError 409 (a token queue), TimeoutError, ClosedError.
  std::uint64_t purge(std::string_view queue);

  // DELETE: forgets an empty, unused queue (its options, counters and
  // remembered dedup ids). Never loses a message.
  // Throws: RemoteError 404 (no such queue), 409 (it holds messages, has a
  // consumer, or is a token queue); ConfigError; TimeoutError; ClosedError.
  void remove(std::string_view queue);

  // Returns: the endpoint this Admin talks to; with shards, "shards: " and
  // the source's description(). Thread-safe.
  const std::string& endpoint() const noexcept;

 private:
  struct Impl;
  struct Sharded;  // the routing layer, set instead of impl_
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Sharded> sharded_;
};

}  // namespace courier
