#include <courier/lock.hpp>

#include "eventfd_wakeup.hpp"
#include "protocol/cqp1.hpp"
#include "proxy_link.hpp"
#include "zmq_util.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace courier {

using detail::Clock;
using Millis = std::chrono::milliseconds;

const char* to_string(LockLoss loss) noexcept {
  switch (loss) {
    case LockLoss::none: return "held";
    case LockLoss::released: return "released";
    case LockLoss::lease_expired: return "lease expired";
    case LockLoss::proxy_restarted: return "proxy restarted";
    case LockLoss::connection_lost: return "connection to the proxy lost";
    case LockLoss::closed: return "lock closed";
  }
  return "?";
}

LockLostError::LockLostError(LockLoss loss, const std::string& what)
    : Error(ErrorCode::closed, what), loss_(loss) {}
LockLostError::~LockLostError() = default;

namespace detail {

// One token held by this Lock: what the I/O thread and the guard both know.
// Guarded by LockShared::mu.
struct Hold {
  std::uint64_t delivery = 0;  // DELIVER "d", valid on connection `epoch` only
  std::uint64_t epoch = 0;
  std::uint64_t fence = 0;     // DELIVER "attempt"
  std::string boot;            // the proxy process that handed it out
  LockLoss loss = LockLoss::none;
  std::optional<Clock::time_point> deadline;  // lease, with a margin

  // The loss as the guard sees it: a passed deadline counts even before the
  // proxy has said anything (it never will: it just requeues the token).
  LockLoss effective(Clock::time_point now) const {
    if (loss == LockLoss::none && deadline && now >= *deadline) return LockLoss::lease_expired;
    return loss;
  }
};

struct Settlement {
  std::uint64_t epoch;
  std::uint64_t delivery;
};

// The meeting point of user threads (acquire, guards) and the I/O thread.
// Shared with every LockGuard, so a guard may outlive its Lock.
class LockShared {
 public:
  std::string queue;
  std::optional<Millis> lease;
  std::mutex mu;
  std::condition_variable cv;       // got, error, closed
  EventfdWakeup wake;
  // User -> I/O.
  bool want = false;                // an acquire() waits for a token
  bool acquiring = false;           // one acquire() at a time
  std::vector<Settlement> acks, touches;
  bool closing = false;
  // I/O -> user.
  std::shared_ptr<Hold> current;    // the token held now (possibly lost), or null
  std::shared_ptr<Hold> got;        // handed to the waiting acquire()
  std::exception_ptr error;         // DECLARE or CONSUME refused
  bool closed = false;

  // The lease restarts now; the margin covers the time the DELIVER or TOUCH
  // spent between the proxy's clock and ours (the proxy starts it earlier).
  std::optional<Clock::time_point> lease_deadline(Clock::time_point from) const {
    if (!lease) return std::nullopt;
    return from + *lease - *lease / 10;
  }
};

}  // namespace detail

// ---- LockGuard ----------------------------------------------------------------

LockGuard::LockGuard(std::shared_ptr<detail::LockShared> shared, std::shared_ptr<detail::Hold> hold) noexcept
    : shared_(std::move(shared)), hold_(std::move(hold)), fence_(hold_->fence) {}

LockGuard::LockGuard(LockGuard&& other) noexcept
    : shared_(std::move(other.shared_)), hold_(std::move(other.hold_)), fence_(other.fence_) {}

LockGuard& LockGuard::operator=(LockGuard&& other) noexcept {
  if (this != &other) {
    (void)release();
    shared_ = std::move(other.shared_);
    hold_ = std::move(other.hold_);
    fence_ = other.fence_;
  }
  return *this;
}

LockGuard::~LockGuard() { (void)release(); }

bool LockGuard::release() noexcept {
  if (!hold_) return false;  // moved from
  bool handed = false;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    detail::Hold& h = *hold_;
    if (h.loss == LockLoss::none) {
      // Also when the lease has just passed here: the proxy may not have
      // requeued it yet, and an ACK frees it now (or is answered 404).
      const LockLoss now = h.effective(Clock::now());
      try {
        shared_->acks.push_back({h.epoch, h.delivery});
      } catch (...) {
        // no memory for one entry: the proxy requeues it when the session ends
      }
      h.loss = now == LockLoss::none ? LockLoss::released : now;
      handed = now == LockLoss::none;
    }
    if (shared_->current == hold_) shared_->current.reset();
  }
  if (handed) shared_->wake.notify();
  return handed;
}

void LockGuard::extend() {
  check();
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->touches.push_back({hold_->epoch, hold_->delivery});
    hold_->deadline = shared_->lease_deadline(Clock::now());
  }
  shared_->wake.notify();
}

LockLoss LockGuard::loss() const noexcept {
  if (!hold_) return LockLoss::released;
  std::lock_guard<std::mutex> lock(shared_->mu);
  return hold_->effective(Clock::now());
}

bool LockGuard::lost() const noexcept {
  const LockLoss l = loss();
  return l != LockLoss::none && l != LockLoss::released;
}

void LockGuard::check() const {
  const LockLoss l = loss();
  if (l == LockLoss::none) return;
  const std::string queue = shared_ ? shared_->queue : std::string("?");
  throw LockLostError(l, "lock " + queue + " (fence " + std::to_string(fence_) + ") is no longer held: " +
                             to_string(l) +
                             (l == LockLoss::released ? "" : "; stop using the protected resource and acquire() again"));
}

std::optional<std::chrono::steady_clock::time_point> LockGuard::lease_deadline() const noexcept {
  if (!hold_) return std::nullopt;
  std::lock_guard<std::mutex> lock(shared_->mu);
  return hold_->deadline;
}

// ---- Lock -----------------------------------------------------------------------

struct Lock::Impl {
  LockOptions options;
  detail::ProxyLink link;
  std::shared_ptr<detail::LockShared> shared = std::make_shared<detail::LockShared>();
  std::thread io;
  // close(timeout): how long the I/O thread waits for the proxy to apply the
  // last release (0 = no wait, the destructor's way), and whether it did.
  Millis drain_wait{0};  // written under shared->mu before `closing`
  std::atomic<bool> drained{false};

  // Owned by the I/O thread: where this connection stands.
  bool declaring = false;          // DECLARE sent, no answer yet
  bool declared = false;           // DECLARED on this connection
  bool consuming = false;          // CONSUME {limit: 1} sent, its DELIVER not yet come
  int cancels_pending = 0;         // CANCELs sent, CANCELLED not yet come
  std::string boot;                // this connection's proxy process (WELCOME)
  Clock::time_point last_recv{};
  std::vector<detail::Settlement> acks, touches;
  std::vector<std::uint64_t> ids;
  msgpack::sbuffer header;
  msgpack::zone zone;
  detail::Incoming in;

  Impl(std::string name, LockOptions o)
      : options(std::move(o)),
        link(detail::LinkConfig{options.endpoint.empty() ? default_proxy_endpoint() : options.endpoint,
                                options.client_name, options.heartbeat, options.socket, options.context}) {
    if (!cqp1::valid_queue_name(name)) {
      throw ConfigError("lock name '" + name.substr(0, 64) +
                        "' is not a valid queue name: use 1-200 bytes of [A-Za-z0-9._:-]");
    }
    if (options.permits < 1 || options.permits > 65536) {
      throw ConfigError("LockOptions::permits is " + std::to_string(options.permits) +
                        "; a token queue has 1..65536 tokens (1 = a mutex)");
    }
    if (options.lease && options.lease->count() <= 0) {
      throw ConfigError("LockOptions::lease must be > 0 ms (leave it unset for no lease)");
    }
    shared->queue = std::move(name);
    shared->lease = options.lease;
    link.open();
    last_recv = Clock::now();
    io = std::thread([this] { thread_main(); });
  }

  const std::string& queue() const { return shared->queue; }

  // ---- I/O thread -------------------------------------------------------------

  void send_ids(std::string_view command, const std::vector<std::uint64_t>& d) {
    cqp1::encode(header, cqp1::Settle{&d, std::nullopt});
    link.send(command, header);
  }

  // Settlements of this connection only: a delivery id means nothing on
  // another one (the proxy requeued it when the old session ended).
  void send_settlements(std::string_view command, std::vector<detail::Settlement>& list) {
    ids.clear();
    for (const auto& s : list) {
      if (s.epoch == link.epoch()) ids.push_back(s.delivery);
    }
    list.clear();
    if (!ids.empty()) send_ids(command, ids);
  }

  void nack(std::uint64_t delivery) { send_ids("NACK", {delivery}); }

  // Sends what the user side asked for. Returns: false when closing.
  bool act() {
    bool want, closing;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      want = shared->want;
      closing = shared->closing;
      acks.swap(shared->acks);
      touches.swap(shared->touches);
    }
    // Releases first: a release followed by acquire() must not CONSUME while
    // the old token still counts against the window.
    send_settlements("ACK", acks);
    send_settlements("TOUCH", touches);
    if (closing) return false;
    if (want && !declared && !declaring) {
      cqp1::Declare m;
      m.queue = queue();
      m.tokens = options.permits;
      if (options.lease) m.ack_timeout = static_cast<std::uint64_t>(options.lease->count());
      cqp1::encode(header, m);
      link.send("DECLARE", header);
      declaring = true;
    } else if (want && declared && !consuming) {
      // limit 1: this CONSUME can never hand us a second token, even after the
      // lease requeues the first one. (CANCEL after the DELIVER would not do:
      // it requeues the unacked token, i.e. releases the lock.)
      cqp1::Consume m;
      m.queue = queue();
      m.credit = 1;
      m.limit = 1;
      cqp1::encode(header, m);
      link.send("CONSUME", header);
      consuming = true;
    } else if (!want && consuming) {
      // The acquire() gave up. A DELIVER already on its way is requeued by
      // the proxy when it reads this CANCEL (it is unacked then).
      cqp1::encode(header, cqp1::QueueOnly{queue()});
      link.send("CANCEL", header);
      consuming = false;
      ++cancels_pending;
    }
    return true;
  }

  void on_deliver(const cqp1::HeaderView& h) {
    const auto deliver = cqp1::DeliverReply::read(h, in.body_count());
    if (deliver.batch()) throw cqp1::BadRequest("a batch DELIVER to a credit-1 consumer");
    const cqp1::Delivered token = deliver.at(0);
    const std::uint64_t d = token.d;
    if (cancels_pending > 0 || !consuming) {
      nack(d);  // meant for a consumer given up on: never a hold
      return;
    }
    consuming = false;  // its limit of 1 is used
    bool taken = false;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->want && !shared->got) {
        auto hold = std::make_shared<detail::Hold>();
        hold->delivery = d;
        hold->epoch = link.epoch();
        hold->fence = token.attempt;
        hold->boot = boot;
        hold->deadline = shared->lease_deadline(Clock::now());
        shared->current = hold;
        shared->got = std::move(hold);
        shared->want = false;
        taken = true;
      }
    }
    if (taken) {
      shared->cv.notify_all();
    } else {
      nack(d);  // the acquire() timed out meanwhile
    }
  }

  // Marks the held token lost (if it was still held) and, when the proxy may
  // still count it as ours, gives it back so that no one holds it unknowingly.
  void lose(LockLoss why, bool give_back) {
    std::uint64_t delivery = 0;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      auto& h = shared->current;
      if (!h || h->loss != LockLoss::none) return;
      h->loss = why;
      if (!give_back || h->epoch != link.epoch()) return;
      delivery = h->delivery;
    }
    nack(delivery);
  }

  void on_error(const cqp1::HeaderView& h) {
    const auto e = cqp1::ErrorReply::read(h);
    if (const msgpack::object_array* d = e.ids) {
      // The proxy no longer knows these deliveries: a TOUCH or ACK came after
      // the lease had requeued the token.
      std::lock_guard<std::mutex> lock(shared->mu);
      auto& cur = shared->current;
      if (cur && cur->loss == LockLoss::none && cur->epoch == link.epoch()) {
        for (std::uint32_t i = 0; i < d->size; ++i) {
          if (cqp1::as_uint(d->ptr[i], "'d' entry") == cur->delivery) cur->loss = LockLoss::lease_expired;
        }
      }
      return;
    }
    // Untagged: the answer to our DECLARE, else to our CONSUME.
    const char* what = declaring ? "DECLARE" : "CONSUME";
    if (declaring) {
      declaring = false;
    } else if (consuming) {
      consuming = false;
    } else {
      return;
    }
    const int code = e.code;
    std::string reason(e.reason);
    reason += std::string(" (") + what + " " + queue() + " at " + link.endpoint() + ")";
    if (code == cqp1::kConflict) {
      reason += ": is it an ordinary queue with messages, or declared with another number of permits?";
    }
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->error = std::make_exception_ptr(RemoteError(code, reason));
      shared->want = false;
    }
    shared->cv.notify_all();
  }

  // A different boot: the proxy restarted and forgot this session.
  bool boot_changed(const cqp1::HeaderView& h) {
    const auto b = cqp1::read_boot(h);
    if (!b) return false;
    if (boot.empty()) {
      boot = std::string(*b);
      std::lock_guard<std::mutex> lock(shared->mu);
      auto& cur = shared->current;
      // A token lost with the old connection, then a new proxy process: say so.
      if (cur && cur->loss == LockLoss::connection_lost && !cur->boot.empty() && cur->boot != boot) {
        cur->loss = LockLoss::proxy_restarted;
      }
      return false;
    }
    return *b != boot;
  }

  // Returns: false when the connection must be replaced (proxy restarted).
  bool receive_all() {
    cqp1::HeaderView h = cqp1::HeaderView::parse("\x80", 1, zone);
    for (int i = 0; i < 1024; ++i) {
      if (!link.receive(in, zone, &h)) return true;
      last_recv = Clock::now();
      try {
        switch (in.command) {
          case cqp1::Command::DELIVER: on_deliver(h); break;
          case cqp1::Command::DECLARED:
            declaring = false;
            declared = true;
            break;
          case cqp1::Command::CANCELLED:
            if (cancels_pending > 0) --cancels_pending;
            break;
          case cqp1::Command::ERROR: on_error(h); break;
          case cqp1::Command::WELCOME:
          case cqp1::Command::PONG:
            if (boot_changed(h)) return false;
            break;
          default: break;  // CONSUMING
        }
      } catch (const cqp1::BadRequest&) {
        // An unreadable answer: ignored. A DELIVER we cannot read stays
        // unacked on the proxy until this session ends; the acquire() waits.
      }
    }
    return true;
  }

  // A fresh socket and session. Everything of the old one is void: the proxy
  // requeues its token when it notices (silence, restart).
  void reconnect(LockLoss why) {
    lose(why, false);
    link.open();
    declaring = declared = consuming = false;
    cancels_pending = 0;
    boot.clear();
    last_recv = Clock::now();
  }

  bool holding_live() {
    std::lock_guard<std::mutex> lock(shared->mu);
    return shared->current && shared->current->loss == LockLoss::none;
  }

  void loop() {
    for (;;) {
      if (!receive_all()) reconnect(LockLoss::proxy_restarted);
      if (!act()) return;
      const auto now = Clock::now();
      if (!link.keep_alive(now)) {
        reconnect(LockLoss::connection_lost);
        continue;
      }
      // The proxy ends a session it has not heard for 3 x hb. Two heartbeats
      // of silence from it is the last moment to stop trusting the token.
      const auto hb = link.heartbeat();
      Clock::time_point until = link.next_deadline();
      if (holding_live()) {
        if (now - last_recv >= 2 * hb) {
          lose(LockLoss::connection_lost, true);
        } else {
          until = std::min(until, last_recv + 2 * hb);
        }
      }
      link.wait(shared->wake, until);
    }
  }

  void thread_main() noexcept {
    try {
      loop();
    } catch (...) {
      // closed below: acquire() then throws ClosedError
    }
    try {
      if (drain_wait.count() > 0) drained = link.cancel_and_wait(queue(), shared->wake, drain_wait, cancels_pending);
    } catch (...) {
    }
    // BYE: the proxy requeues a held token now rather than after 3 x hb.
    link.close(true, std::min(options.socket.linger, Millis(1000)));
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->closed = true;
      shared->want = false;
      if (shared->current && shared->current->loss == LockLoss::none) shared->current->loss = LockLoss::closed;
    }
    shared->cv.notify_all();
  }

  [[noreturn]] void throw_closed() const {
    throw ClosedError("lock " + queue() + " at " + link.endpoint() + " is closed");
  }
};

// ---- Sharded: the lock's queue on its owner ------------------------------------------

struct Lock::Sharded {
  std::string name;
  LockOptions base;
  std::shared_ptr<ShardMapSource> source;
  std::string description;
  std::mutex mu;                 // guards inner and owner
  std::shared_ptr<Lock> inner;   // the connection to `owner`
  ShardProxy owner;
  std::uint64_t routed_version = 0;

  Sharded(std::string n, LockOptions o) : name(std::move(n)), base(std::move(o)) {
    if (!base.endpoint.empty()) {
      throw ConfigError("LockOptions: both endpoint ('" + base.endpoint +
                        "') and shards are set; pick one (shards finds the lock's proxy)");
    }
    source = std::move(base.shards);
    description = "shards: " + source->description();
    const auto map = source->current();
    routed_version = map->version();
    owner = map->owner(name);
    inner = connect(owner);
  }

  std::shared_ptr<Lock> connect(const ShardProxy& p) const {
    LockOptions o = base;
    o.endpoint = p.endpoint;
    o.shards.reset();
    return std::make_shared<Lock>(name, std::move(o));
  }

  // The Lock to acquire() on: the owner's in the current map, unless the
  // present one holds a token or waits for one (it keeps its connection;
  // its acquire() then says why it refuses).
  std::pair<std::shared_ptr<Lock>, ShardProxy> route() {
    std::lock_guard<std::mutex> lock(mu);
    if (source->version() == routed_version) return {inner, owner};
    const auto map = source->current();
    const ShardProxy next = map->owner(name);
    if (next.endpoint == owner.endpoint) {
      routed_version = map->version();
      owner = next;
      return {inner, owner};
    }
    auto& s = *inner->impl_->shared;
    bool busy;
    {
      std::lock_guard<std::mutex> hold(s.mu);
      busy = s.acquiring || (s.current && s.current->effective(Clock::now()) == LockLoss::none);
    }
    if (busy) return {inner, owner};
    std::shared_ptr<Lock> fresh = connect(next);  // may throw: the old one then stays
    // The old one holds nothing: its BYE (when the last user lets go) returns no token.
    std::shared_ptr<Lock> old = std::exchange(inner, std::move(fresh));
    owner = next;
    routed_version = map->version();
    return {inner, owner};
  }
};

namespace {

std::string where(const ShardProxy& p) { return " [proxy '" + p.name + "' at " + p.endpoint + "]"; }

}  // namespace

Lock::Lock(std::string name, LockOptions options) {
  if (options.shards) {
    sharded_ = std::make_unique<Sharded>(std::move(name), std::move(options));
  } else {
    impl_ = std::make_unique<Impl>(std::move(name), std::move(options));
  }
}

Lock::Lock(Lock&&) noexcept = default;

Lock& Lock::operator=(Lock&& other) noexcept {
  if (this != &other) {
    Lock dying(std::move(*this));
    impl_ = std::move(other.impl_);
    sharded_ = std::move(other.sharded_);
  }
  return *this;
}

Lock::~Lock() {
  if (!impl_ || !impl_->io.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mu);
    impl_->shared->closing = true;
  }
  impl_->shared->wake.notify();
  impl_->io.join();
}

bool Lock::close(std::chrono::milliseconds timeout) {
  if (sharded_) {
    std::shared_ptr<Lock> inner;
    {
      std::lock_guard<std::mutex> lock(sharded_->mu);
      inner = sharded_->inner;
    }
    return inner->close(timeout);
  }
  if (!impl_) return false;
  if (!impl_->io.joinable()) return impl_->drained.load();
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mu);
    impl_->drain_wait = std::max(timeout, Millis(1));  // read by the I/O thread once it sees `closing`
    impl_->shared->closing = true;
  }
  impl_->shared->wake.notify();
  impl_->io.join();
  return impl_->drained.load();
}

std::optional<LockGuard> Lock::acquire(std::chrono::milliseconds timeout) {
  if (sharded_) {
    auto [inner, owner] = sharded_->route();
    try {
      return inner->acquire(timeout);
    } catch (const RemoteError& e) {
      throw RemoteError(e.status(), e.reason() + where(owner));
    } catch (const ClosedError& e) {
      throw ClosedError(e.what() + where(owner));
    }
  }
  auto& s = *impl_->shared;
  const auto deadline = detail::deadline_after(timeout);
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.closed || s.closing) impl_->throw_closed();
  if (s.acquiring) {
    throw ConfigError("Lock " + s.queue + ": another acquire() is already waiting on this Lock; "
                      "give each concurrent holder its own Lock");
  }
  if (s.current) {
    if (s.current->effective(Clock::now()) == LockLoss::none) {
      throw ConfigError("Lock " + s.queue + " already holds a token (fence " +
                        std::to_string(s.current->fence) +
                        "): release its LockGuard first, or give each concurrent holder its own Lock");
    }
    // A lost hold whose guard is still alive: give the token back in case
    // the proxy has not requeued it yet (404 if it has), and forget it.
    if (s.current->loss == LockLoss::none) {
      s.acks.push_back({s.current->epoch, s.current->delivery});
      s.current->loss = LockLoss::lease_expired;
    }
    s.current.reset();
  }
  s.error = nullptr;
  s.got = nullptr;
  s.want = true;
  s.acquiring = true;
  lock.unlock();
  s.wake.notify();
  lock.lock();
  const auto done = [&] { return s.got || s.error || s.closed; };
  if (deadline == Clock::time_point::max()) {
    s.cv.wait(lock, done);  // wait_until(max) overflows in some standard libraries
  } else {
    s.cv.wait_until(lock, deadline, done);
  }
  s.acquiring = false;
  if (s.got) return LockGuard(impl_->shared, std::move(s.got));
  s.want = false;  // the I/O thread CANCELs, and gives back a token that comes late
  s.wake.notify();
  if (s.error) std::rethrow_exception(s.error);
  if (s.closed) impl_->throw_closed();
  return std::nullopt;
}

LockGuard Lock::acquire() {
  std::optional<LockGuard> g = acquire(std::chrono::milliseconds::max());
  return std::move(*g);  // only error or close end an unlimited wait, and they throw
}

const std::string& Lock::name() const noexcept { return sharded_ ? sharded_->name : impl_->queue(); }
const std::string& Lock::endpoint() const noexcept {
  return sharded_ ? sharded_->description : impl_->link.endpoint();
}

}  // namespace courier
