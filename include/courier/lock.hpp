// courier/lock.hpp — a distributed lock (or semaphore) on a courier-proxy
// token queue (PROTOCOL.md §3.6; docs/LOCKS.md).
//
// Contract
// - What: a Lock names a token queue of `permits` tokens. acquire() takes
//   one token and returns a LockGuard; the guard gives it back on release()
//   or destruction. permits = 1 is a mutex across processes and machines;
//   permits = N lets N holders in at once (a semaphore).
// - The fence: every hand-out of a token carries a number (the DELIVER's
//   `attempt`) greater than every earlier one of that token, for ever, across
//   proxy crashes. Pass LockGuard::fence() to the resource you protect and
//   have it refuse any fence lower than one it has seen: a holder that lost
//   the lock without knowing (paused, partitioned) is then refused instead of
//   overwriting its successor's work. With permits > 1 each permit has its
//   own fences.
// - Loss is reported, never hidden: a guard is lost when its lease passes
//   (LockOptions::lease, counted conservatively), the proxy restarted (a new
//   `boot` in WELCOME/PONG, §3.7), or the connection went silent or dropped.
//   Check lost() or check() before each step that needs the lock.
// - Threads: "Lock starts one I/O thread." The constructor starts it; it
//   owns the socket, says HELLO, DECLAREs the queue, CONSUMEs, ACKs and
//   TOUCHes, and sends PINGs every heartbeat, so the proxy keeps the token
//   with you while your code is busy for minutes. acquire(), release() and
//   extend() hand requests to it through a mutex and a Linux eventfd.
// - One holder per Lock: a Lock holds at most one token at a time. Give each
//   concurrent holder (thread) its own Lock; each is one proxy session.
// - Ownership: Lock and LockGuard are move-only. A guard may outlive its
//   Lock: destroying the Lock says BYE, which returns a held token, and the
//   guard then reports lost (LockLoss::closed). Destructors are noexcept and
//   bounded by the socket linger (≤ 1 s).
// - Thread-safety: every member function of Lock and LockGuard may be called
//   from any thread.
// - Errors: ConfigError (bad name or option; acquire() while this Lock holds
//   a token or another acquire() is under way), RemoteError (the proxy
//   refused the DECLARE or CONSUME: 409 when the queue holds ordinary
//   messages or was declared with another number of tokens), ClosedError
//   (Lock destroyed, context shut down), LockLostError (check(), extend() on
//   a lost guard).
// - Sharded (LockOptions::shards, docs/scaling.md "Routing in the
//   clients"): the lock's token queue lives on its owner in the map. The
//   owner is looked up when the Lock is made and again at each acquire()
//   while no token is held: when the map gave the queue to another proxy,
//   the Lock closes its connection to the old one and connects to the new
//   one. A token held keeps its connection until released. Fences are the
//   proxy's: a token queue moved to another proxy starts its fences there
//   again unless the move carried them over (docs/scaling.md).
#pragma once

#include <courier/context.hpp>
#include <courier/errors.hpp>
#include <courier/export.hpp>
#include <courier/options.hpp>
#include <courier/shard_source.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace courier {

namespace detail {
class LockShared;
struct Hold;
}

// Why a guard no longer holds its token.
enum class LockLoss {
  none,             // still held
  released,         // release() (or the guard was moved from)
  lease_expired,    // the lease passed without extend(), or the proxy said so
  proxy_restarted,  // the proxy's boot changed: it requeued every token
  connection_lost,  // the proxy went silent or the connection dropped
  closed,           // the Lock was destroyed or its context shut down
};

// Returns: a short English name ("lease expired", ...). Thread-safe.
COURIER_EXPORT const char* to_string(LockLoss loss) noexcept;

// Thrown by LockGuard::check() and extend() when the token is no longer
// held; code() is ErrorCode::closed, loss() says why.
class COURIER_EXPORT LockLostError : public Error {
 public:
  LockLostError(LockLoss loss, const std::string& what);
  ~LockLostError() override;
  LockLoss loss() const noexcept { return loss_; }

 private:
  LockLoss loss_;
};

struct LockOptions {
  // The proxy's ROUTER endpoint. Empty = default_proxy_endpoint() (options.hpp).
  std::string endpoint;
  // Queues spread over several proxies: the lock's queue is on its owner in
  // this source's current map (see "Sharded" above). When set, `endpoint`
  // must be empty (ConfigError: give one or the other).
  std::shared_ptr<ShardMapSource> shards;
  // This client's name, sent in HELLO; shows up in the proxy's logs (the
  // lock's own name is Lock's first argument).
  std::string client_name;
  // Tokens in the queue: 1 = a mutex, N = a semaphore of N permits
  // (1..65536). Every Lock on one queue must agree (else RemoteError 409).
  std::uint32_t permits = 1;
  // The lease (the queue's ack_timeout): a holder that neither releases nor
  // extend()s within it loses the token to the next one, even if its process
  // and connection are alive (a stuck holder). Unset = held until release or
  // until the holder's session ends. Every Lock on one queue should agree:
  // the last DECLARE sets it for all. Must be > 0.
  std::optional<std::chrono::milliseconds> lease;
  // The heartbeat assumed until the proxy's WELCOME says its own.
  std::chrono::milliseconds heartbeat{1000};
  // Socket options; routing id and high-water marks are managed here.
  SocketOptions socket;
  Context context = Context::global();
};

// Proof of holding one token. Obtained from Lock::acquire(); move-only; the
// destructor releases (noexcept).
class COURIER_EXPORT LockGuard {
 public:
  LockGuard(LockGuard&& other) noexcept;
  // Releases the token this guard holds, then takes `other`'s.
  LockGuard& operator=(LockGuard&& other) noexcept;
  ~LockGuard();

  // Returns: the fence (the token's delivery count): strictly greater than
  // that of every earlier holder of this token. Stays readable after loss.
  std::uint64_t fence() const noexcept { return fence_; }

  // Gives the token back (ACK) now. Returns: true when it was handed to the
  // connection that held it, false when it was already released or lost
  // (then there is nothing to give back). noexcept.
  bool release() noexcept;

  // Restarts the lease (TOUCH) from now. Without a lease it only tells the
  // proxy the holder is alive. Returns: nothing. Throws: LockLostError when
  // the token is no longer held (an expired lease cannot be revived).
  void extend();

  // Returns: true when the token was taken away (lease, restart, silence,
  // Lock closed); false while held and after release(). Never blocks on the
  // network.
  bool lost() const noexcept;
  // Returns: why the token is not held, or LockLoss::none while it is.
  LockLoss loss() const noexcept;
  // Throws: LockLostError naming the queue, the fence and the reason when
  // the token is not held (lost or released). Call before each protected step.
  void check() const;

  // Returns: when the lease runs out as far as this side can tell (a margin
  // of lease/10 before the proxy's own clock), or nullopt without a lease.
  std::optional<std::chrono::steady_clock::time_point> lease_deadline() const noexcept;

 private:
  friend class Lock;
  LockGuard(std::shared_ptr<detail::LockShared> shared, std::shared_ptr<detail::Hold> hold) noexcept;
  std::shared_ptr<detail::LockShared> shared_;  // the Lock's state; its mutex guards *hold_
  std::shared_ptr<detail::Hold> hold_;          // this guard's token, kept to report its loss
  std::uint64_t fence_ = 0;
};

class COURIER_EXPORT Lock {
 public:
  // Connects to options.endpoint (empty = default_proxy_endpoint()), says
  // HELLO and starts the I/O thread. Does not wait for the proxy, and does
  // not DECLARE the queue `name` until the first acquire().
  // Throws: ConfigError (bad endpoint, queue name, permits outside
  // 1..65536, lease ≤ 0), ClosedError.
  explicit Lock(std::string name, LockOptions options = {});
  Lock(Lock&&) noexcept;
  Lock& operator=(Lock&&) noexcept;
  // Says BYE (a held token goes back to the queue at once) and joins the I/O
  // thread. noexcept; bounded by the socket linger (≤ 1 s).
  ~Lock();

  // Closes with a handshake: hands a pending release to the proxy and waits
  // (at most `timeout`) until the proxy has applied it, so whoever looks
  // next sees the token free; then says BYE. A token still held is given
  // back (its guard reports LockLoss::closed). Afterwards acquire() throws
  // ClosedError; a second close() does nothing. Returns: true when the proxy
  // answered in time. Throws: nothing. Thread-safety: any thread.
  bool close(std::chrono::milliseconds timeout);

  // Takes a token: DECLAREs the queue with `tokens: permits` (and the lease)
  // once per connection, CONSUMEs with credit 1 and waits for the token.
  // Returns: the guard, or nullopt when `timeout` passed first (nothing is
  // then held: a token that arrives late is given back).
  // Throws: RemoteError (409: the queue holds messages or has another number
  // of tokens), ConfigError (this Lock already holds a live token, or
  // another acquire() is waiting on it), ClosedError.
  std::optional<LockGuard> acquire(std::chrono::milliseconds timeout);
  // Same, waiting as long as it takes (as acquire(milliseconds::max())).
  LockGuard acquire();

  // Returns: the lock's name (its token queue). Thread-safe.
  const std::string& name() const noexcept;
  // Returns: the endpoint this Lock talks to (default_proxy_endpoint() when
  // the options left it empty); with shards, "shards: " and the source's
  // description(). Thread-safe.
  const std::string& endpoint() const noexcept;

 private:
  struct Impl;
  struct Sharded;  // the routing layer, set instead of impl_
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Sharded> sharded_;
};

}  // namespace courier
