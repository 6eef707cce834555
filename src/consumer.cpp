#include <courier/consumer.hpp>

#include "eventfd_wakeup.hpp"
#include "protocol/cqp1.hpp"
#include "proxy_link.hpp"
#include "zmq_util.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace courier {

namespace detail {

enum Settle : int { kAck = 0, kRequeue = 1, kReject = 2, kTouch = 3 };

// What a sharded Consumer waits on: each of its inner Consumers' I/O threads
// rings it when deliveries arrive (or it closes), so one wait covers all.
struct Doorbell {
  std::mutex mu;
  std::condition_variable cv;
  std::uint64_t rings = 0;  // guarded by mu
  void ring() {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++rings;
    }
    cv.notify_all();
  }
};

// Deliveries received and not yet handed out, oldest first. Two vectors
// take turns (the I/O thread fills one while this holds the other) and keep
// their capacity, so a delivery costs no allocation on its way to the user
// (a deque allocates a node for every two), and a batch that arrives while
// nothing is buffered is handed over by a swap, not moved one by one.
class ReadyQueue {
 public:
  bool empty() const noexcept { return head_ == items_.size(); }
  std::size_t size() const noexcept { return items_.size() - head_; }
  // Appends `batch` and leaves it empty (with some capacity to fill again).
  void append(std::vector<DeliveryData>& batch) {
    if (empty()) {
      items_.clear();
      head_ = 0;
      items_.swap(batch);
      return;
    }
    // A user always a little behind never empties the buffer: drop the
    // handed-out slots once they outnumber the waiting ones (amortized O(1)),
    // or they would pile up for as long as the stream lasts.
    if (head_ >= size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    for (auto& d : batch) items_.push_back(std::move(d));
    batch.clear();
  }
  DeliveryData pop() {
    DeliveryData d = std::move(items_[head_++]);
    if (empty()) clear();
    return d;
  }
  // Keeps only the deliveries `keep` accepts, in order.
  template <class Keep>
  void keep_only(Keep keep) {
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
    items_.erase(std::remove_if(items_.begin(), items_.end(), [&](const DeliveryData& d) { return !keep(d); }),
                 items_.end());
  }
  void clear() noexcept {
    items_.clear();
    head_ = 0;
  }

 private:
  std::vector<DeliveryData> items_;
  std::size_t head_ = 0;  // items_[head_..] are waiting
};

// The meeting point of user threads and the Consumer's I/O thread: the
// delivery buffer going up, settlements and credits going down. Shared with
// every RawDelivery, so a delivery may outlive its Consumer.
class ConsumerShared {
 public:
  std::mutex mu;
  std::condition_variable cv;          // deliveries, consuming, closed
  ReadyQueue ready;                    // received, not yet handed out
  std::vector<std::uint64_t> settle[4];  // by Settle kind, for the I/O thread
  std::uint64_t credits = 0;           // auto_ack: messages taken, to give back
  std::uint64_t epoch = 0;             // the I/O thread's current connection
  bool closed = false;
  bool stop_requested = false;
  bool consuming = false;
  std::exception_ptr consume_error;
  // Deliveries handed out (not auto_ack) and not yet acked or nacked: a
  // sharded Consumer closes an old owner's connection once this is 0.
  std::uint64_t unsettled = 0;
  std::atomic<std::uint64_t> stale{0};
  EventfdWakeup wake;
  std::shared_ptr<Doorbell> bell;  // set before the I/O thread starts; null unless sharded

  // Returns: true when queued for the I/O thread.
  bool queue_settlement(std::uint64_t from_epoch, std::uint64_t id, int how) noexcept {
    bool notify = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (how != kTouch && unsettled > 0) --unsettled;  // each delivery settles once
      if (closed) return false;
      if (from_epoch != epoch) {
        ++stale;
        return false;
      }
      try {
        notify = settle[0].empty() && settle[1].empty() && settle[2].empty() && settle[3].empty();
        settle[how].push_back(id);
      } catch (...) {
        return false;
      }
    }
    if (notify) wake.notify();
    return true;
  }
};

}  // namespace detail

// ---- RawDelivery ------------------------------------------------------------

RawDelivery::RawDelivery(std::shared_ptr<detail::ConsumerShared> owner, detail::DeliveryData data) noexcept
    : owner_(std::move(owner)), data_(std::move(data)), settled_(data_.auto_ack) {}

RawDelivery::RawDelivery(RawDelivery&& other) noexcept
    : owner_(std::move(other.owner_)), data_(std::move(other.data_)), settled_(other.settled_) {
  other.settled_ = true;
}

RawDelivery& RawDelivery::operator=(RawDelivery&& other) noexcept {
  if (this != &other) {
    if (!settled_) (void)nack(true);
    owner_ = std::move(other.owner_);
    data_ = std::move(other.data_);
    settled_ = other.settled_;
    other.settled_ = true;
  }
  return *this;
}

RawDelivery::~RawDelivery() {
  if (!settled_) (void)nack(true);
}

bool RawDelivery::settle(int how) noexcept {
  if (settled_ || !owner_) return false;
  const bool queued = owner_->queue_settlement(data_.epoch, data_.delivery_id, how);
  // Whatever happened, there is nothing more this delivery can settle: it was
  // handed over, or its connection (and so its delivery id) is gone.
  if (how != detail::kTouch) settled_ = true;
  return queued;
}

bool RawDelivery::ack() noexcept { return settle(detail::kAck); }
bool RawDelivery::nack(bool requeue) noexcept {
  return settle(requeue ? detail::kRequeue : detail::kReject);
}
bool RawDelivery::touch() noexcept { return settle(detail::kTouch); }

// ---- Consumer ---------------------------------------------------------------

struct Consumer::Impl {
  std::string queue;
  ConsumerOptions options;
  detail::ProxyLink link;
  std::shared_ptr<detail::ConsumerShared> shared = std::make_shared<detail::ConsumerShared>();
  std::atomic<bool> closing{false};
  // close(timeout): how long the I/O thread waits for the proxy to answer the
  // CANCEL that follows the last settlements (0 = no wait, the destructor's
  // way), and whether it did.
  std::chrono::milliseconds drain_wait{0};
  std::atomic<bool> drained{false};
  std::atomic<std::uint64_t> n_received{0}, n_decode_errors{0}, n_reconnects{0}, n_acks{0};
  std::thread io;

  // Owned by the I/O thread.
  std::vector<std::uint64_t> pending[4];
  std::uint64_t credits = 0;
  msgpack::sbuffer header;
  msgpack::zone zone;
  detail::Incoming in;
  std::vector<detail::DeliveryData> arrived;

  Impl(std::string q, ConsumerOptions o, std::shared_ptr<detail::Doorbell> bell = nullptr)
      : queue(std::move(q)),
        options(std::move(o)),
        link(detail::LinkConfig{options.endpoint.empty() ? default_proxy_endpoint() : options.endpoint,
                                options.client_name, options.heartbeat, options.socket, options.context}) {
    if (!cqp1::valid_queue_name(queue)) {
      throw ConfigError("queue name '" + queue.substr(0, 64) +
                        "' is not valid: use 1-200 bytes of [A-Za-z0-9._:-]");
    }
    if (options.prefetch == 0) throw ConfigError("ConsumerOptions::prefetch must be at least 1");
    if (options.limit && *options.limit == 0) {
      throw ConfigError("ConsumerOptions::limit must be at least 1 (unset = no limit)");
    }
    shared->bell = std::move(bell);
    link.open();
    send_consume(options.prefetch, options.limit);
    shared->epoch = link.epoch();
    io = std::thread([this] { thread_main(); });
  }

  // `limit`: the deliveries still wanted (docs/PROTOCOL.md §3.12), unset = no limit.
  void send_consume(std::uint64_t credit, std::optional<std::uint64_t> limit) {
    const std::uint64_t batch =
        std::min<std::uint64_t>(options.batch == 0 ? options.prefetch : options.batch, cqp1::kMaxBatch);
    cqp1::Consume m;
    m.queue = queue;
    m.credit = std::max<std::uint64_t>(credit, 1);
    m.auto_ack = options.auto_ack;
    m.batch = batch;
    m.limit = limit;
    cqp1::encode(header, m);
    link.send("CONSUME", header);
  }

  void send_ids(std::string_view command, const std::vector<std::uint64_t>& ids, int extra) {
    cqp1::Settle m{&ids, std::nullopt};
    if (extra >= 0) m.requeue = extra == 1;
    cqp1::encode(header, m);
    link.send(command, header);
  }

  // All settlements queued since the last turn: one message per kind.
  void send_settlements() {
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      for (int k = 0; k < 4; ++k) pending[k].swap(shared->settle[k]);
      credits = shared->credits;
      shared->credits = 0;
    }
    if (!pending[detail::kAck].empty()) {
      send_ids("ACK", pending[detail::kAck], -1);
      ++n_acks;
    }
    if (!pending[detail::kRequeue].empty()) send_ids("NACK", pending[detail::kRequeue], 1);
    if (!pending[detail::kReject].empty()) send_ids("NACK", pending[detail::kReject], 0);
    if (!pending[detail::kTouch].empty()) send_ids("TOUCH", pending[detail::kTouch], -1);
    for (auto& p : pending) p.clear();
    if (credits > 0) {
      cqp1::encode(header, cqp1::Credit{queue, credits});
      link.send("CREDIT", header);
      credits = 0;
    }
  }

  void on_deliver(const cqp1::HeaderView& h) {
    const auto deliver = cqp1::DeliverReply::read(h, in.body_count());
    const std::string q(deliver.queue().value_or(queue));
    for (std::size_t i = 0; i < deliver.size(); ++i) {
      const cqp1::Delivered m = deliver.at(i);
      detail::DeliveryData dd;
      dd.queue = q;
      dd.body = std::move(in.body(i));
      dd.delivery_id = m.d;
      dd.seq = m.seq;
      dd.attempt = static_cast<std::uint32_t>(m.attempt);
      dd.ts_ms = m.ts_ms;
      if (m.id) {
        dd.id = std::string(m.id->bytes);
        dd.id_is_binary = m.id->binary;
      }
      dd.epoch = link.epoch();
      dd.auto_ack = options.auto_ack;
      arrived.push_back(std::move(dd));
    }
  }

  void receive_all() {
    cqp1::HeaderView h = cqp1::HeaderView::parse("\x80", 1, zone);
    bool consuming = false;
    std::exception_ptr error;
    for (int i = 0; i < 1024; ++i) {
      if (!link.receive(in, zone, &h)) break;
      try {
        switch (in.command) {
          case cqp1::Command::DELIVER: on_deliver(h); break;
          case cqp1::Command::CONSUMING: consuming = true; break;
          case cqp1::Command::ERROR: {
            const auto e = cqp1::ErrorReply::read(h);
            if (e.ids != nullptr) {
              ++shared->stale;  // acks for deliveries the proxy already requeued
            } else {
              error = std::make_exception_ptr(
                  RemoteError(e.code, std::string(e.reason) + " (consuming " + queue + ")"));
            }
            break;
          }
          default: break;  // WELCOME, PONG: liveness and boot, seen by the link
        }
      } catch (const cqp1::BadRequest&) {
        // an unreadable DELIVER: its messages are redelivered after a reconnect
      }
    }
    if (arrived.empty() && !consuming && !error) return;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->ready.append(arrived);
      if (consuming) shared->consuming = true;
      if (error && !shared->consuming) shared->consume_error = error;
    }
    arrived.clear();
    shared->cv.notify_all();
    if (shared->bell) shared->bell->ring();
  }

  // Fresh socket and CONSUME again. What the old connection held is requeued
  // by the proxy (silence, BYE or restart), so unacked buffered deliveries
  // and pending settlements of it are void and dropped here; auto_ack ones
  // are kept (the proxy has already forgotten them). With a limit, the new
  // CONSUME asks only for what was not handed out or kept (a repeated
  // CONSUME starts a new count), and none is sent when nothing is left.
  void reconnect() {
    link.open();
    ++n_reconnects;
    std::size_t buffered = 0;
    std::uint64_t taken = 0;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->epoch = link.epoch();
      shared->consuming = false;
      auto& r = shared->ready;
      r.keep_only([](const detail::DeliveryData& d) { return d.auto_ack; });
      buffered = r.size();
      taken = n_received.load() + buffered;  // n_received counts under this lock (pop)
      for (auto& s : shared->settle) {
        shared->stale += s.size();
        s.clear();
      }
      shared->credits = 0;
    }
    std::optional<std::uint64_t> left = options.limit;
    if (left) {
      if (taken >= *left) return;
      *left -= taken;
    }
    send_consume(buffered >= options.prefetch ? 1 : options.prefetch - buffered, left);
  }

  void loop() {
    for (;;) {
      send_settlements();
      if (closing.load()) return;
      receive_all();
      if (!link.keep_alive(detail::Clock::now())) reconnect();
      link.wait(shared->wake, link.next_deadline());
    }
  }

  void thread_main() noexcept {
    try {
      loop();
    } catch (...) {
      // closed below; receive() then throws ClosedError
    }
    try {
      send_settlements();
      if (drain_wait.count() > 0) drained = link.cancel_and_wait(queue, shared->wake, drain_wait);
    } catch (...) {
    }
    // BYE: the proxy requeues what is still unacked, now rather than after 3 x hb.
    link.close(true, std::min(options.socket.linger, std::chrono::milliseconds(1000)));
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->closed = true;
      shared->ready.clear();
    }
    shared->cv.notify_all();
    if (shared->bell) shared->bell->ring();
  }

  RawDelivery pop(std::unique_lock<std::mutex>& lock) {
    detail::DeliveryData d = shared->ready.pop();
    ++n_received;  // under the lock: reconnect() counts what was taken
    if (!d.auto_ack) ++shared->unsettled;
    bool notify = false;
    if (d.auto_ack) notify = shared->credits++ == 0;
    lock.unlock();
    if (notify) shared->wake.notify();
    return RawDelivery(shared, std::move(d));
  }

  [[noreturn]] void throw_closed() const {
    throw ClosedError("consumer of queue " + queue + " at " + link.endpoint() + " is closed");
  }
};

// ---- Sharded: the queue's owner, followed across map versions --------------------------

struct Consumer::Sharded {
  // One connection: the current owner's (routes.back()) or an old one
  // draining (its deliveries are still being settled).
  struct Route {
    ShardProxy proxy;
    std::shared_ptr<Consumer> consumer;  // shared: wait_consuming() uses it unlocked
  };
  // How often a waiting receive() looks at the map's version.
  static constexpr std::chrono::milliseconds kMapCheck{100};

  std::string queue;
  ConsumerOptions base;
  std::shared_ptr<ShardMapSource> source;
  std::string description;
  std::shared_ptr<detail::Doorbell> bell = std::make_shared<detail::Doorbell>();
  std::mutex mu;              // guards everything below
  std::vector<Route> routes;  // oldest first; never empty
  std::uint64_t routed_version = 0;
  bool closed = false;
  bool stop_requested = false;  // guarded by bell->mu (stop() rings it)
  std::atomic<std::uint64_t> n_decode_errors{0};
  // Counters of the connections already closed.
  std::uint64_t done_received = 0, done_reconnects = 0, done_stale = 0, done_acks = 0;

  Sharded(std::string q, ConsumerOptions o) : queue(std::move(q)), base(std::move(o)) {
    if (!base.endpoint.empty()) {
      throw ConfigError("ConsumerOptions: both endpoint ('" + base.endpoint +
                        "') and shards are set; pick one (shards finds the queue's proxy)");
    }
    source = std::move(base.shards);
    description = "shards: " + source->description();
    const auto map = source->current();
    routed_version = map->version();
    routes.push_back(connect(map->owner(queue)));
  }

  Route connect(const ShardProxy& p) {
    ConsumerOptions o = base;
    o.endpoint = p.endpoint;
    o.shards.reset();
    return Route{p, std::shared_ptr<Consumer>(new Consumer(queue, std::move(o), bell))};
  }

  static bool drained(Consumer& c) {
    auto& s = *c.impl_->shared;
    std::lock_guard<std::mutex> lock(s.mu);
    return s.ready.empty() && s.unsettled == 0;
  }

  // Follows a new map version, and takes out the old connections that have
  // nothing left to settle (destroyed by the caller, outside the lock).
  void follow_locked(std::vector<std::shared_ptr<Consumer>>& to_close) {
    if (source->version() != routed_version) {
      const auto map = source->current();
      routed_version = map->version();
      const ShardProxy next = map->owner(queue);
      if (next.endpoint == routes.back().proxy.endpoint) {
        routes.back().proxy = next;
      } else {
        auto again = std::find_if(routes.begin(), routes.end(),
                                  [&](const Route& r) { return r.proxy.endpoint == next.endpoint; });
        if (again != routes.end()) {  // moved back while the old one drained
          Route r = std::move(*again);
          routes.erase(again);
          r.proxy = next;
          routes.push_back(std::move(r));
        } else {
          routes.push_back(connect(next));
        }
      }
    }
    for (std::size_t i = 0; i + 1 < routes.size();) {
      if (drained(*routes[i].consumer)) {
        Consumer& c = *routes[i].consumer;
        done_received += c.received();
        done_reconnects += c.reconnects();
        done_acks += c.acks_sent();
        done_stale += c.stale_settlements();
        // Its destructor hands the last settlements over, then says BYE.
        to_close.push_back(std::move(routes[i].consumer));
        routes.erase(routes.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }

  // One look at every connection, the old ones first.
  std::optional<RawDelivery> try_take() {
    std::vector<std::shared_ptr<Consumer>> to_close;
    std::lock_guard<std::mutex> lock(mu);
    if (closed) throw ClosedError("consumer of queue " + queue + " (" + description + ") is closed");
    follow_locked(to_close);
    for (auto& r : routes) {
      try {
        if (auto d = r.consumer->try_receive_raw()) return d;
      } catch (const ClosedError& e) {
        throw ClosedError(e.what() + std::string(" [proxy '") + r.proxy.name + "' at " + r.proxy.endpoint + "]");
      }
    }
    return std::nullopt;
  }

  // Waits for a delivery until `deadline`; nullopt at the deadline or, when
  // `for_run`, on stop().
  std::optional<RawDelivery> take(detail::Clock::time_point deadline, bool for_run) {
    for (;;) {
      std::uint64_t seen;
      {
        std::lock_guard<std::mutex> lock(bell->mu);
        if (for_run && stop_requested) {
          stop_requested = false;
          return std::nullopt;
        }
        seen = bell->rings;
      }
      if (auto d = try_take()) return d;
      const auto now = detail::Clock::now();
      if (now >= deadline) return std::nullopt;
      std::unique_lock<std::mutex> lock(bell->mu);
      bell->cv.wait_until(lock, std::min(deadline, now + kMapCheck),
                          [&] { return bell->rings != seen || (for_run && stop_requested); });
    }
  }

  template <class F>
  std::uint64_t sum(F f, const std::uint64_t Sharded::*done) {
    std::lock_guard<std::mutex> lock(mu);
    std::uint64_t n = this->*done;
    for (auto& r : routes) n += f(*r.consumer);
    return n;
  }
};

Consumer::Consumer(std::string queue, ConsumerOptions options) {
  if (options.shards) {
    sharded_ = std::make_unique<Sharded>(std::move(queue), std::move(options));
  } else {
    impl_ = std::make_unique<Impl>(std::move(queue), std::move(options));
  }
}

Consumer::Consumer(std::string queue, ConsumerOptions options, std::shared_ptr<detail::Doorbell> bell)
    : impl_(std::make_unique<Impl>(std::move(queue), std::move(options), std::move(bell))) {}

Consumer::Consumer(Consumer&&) noexcept = default;

Consumer& Consumer::operator=(Consumer&& other) noexcept {
  if (this != &other) {
    Consumer dying(std::move(*this));
    impl_ = std::move(other.impl_);
    sharded_ = std::move(other.sharded_);
  }
  return *this;
}

Consumer::~Consumer() {
  if (!impl_ || !impl_->io.joinable()) return;
  impl_->closing.store(true);
  impl_->shared->wake.notify();
  impl_->io.join();
}

bool Consumer::close(std::chrono::milliseconds timeout) {
  if (sharded_) {
    std::lock_guard<std::mutex> lock(sharded_->mu);
    sharded_->closed = true;
    bool all = true;
    for (auto& r : sharded_->routes) all = r.consumer->close(timeout) && all;
    sharded_->bell->ring();
    return all;
  }
  if (!impl_) return false;
  if (!impl_->io.joinable()) return impl_->drained.load();
  impl_->drain_wait = std::max(timeout, std::chrono::milliseconds(1));  // read by the I/O thread after `closing`
  impl_->closing.store(true);
  impl_->shared->wake.notify();
  impl_->io.join();
  return impl_->drained.load();
}

std::optional<RawDelivery> Consumer::receive_raw(std::chrono::milliseconds timeout) {
  if (sharded_) return sharded_->take(detail::deadline_after(timeout), false);
  auto& s = *impl_->shared;
  std::unique_lock<std::mutex> lock(s.mu);
  // Something buffered: no clock read (a delivery's cost matters at 100k+/s).
  if (!s.ready.empty()) return impl_->pop(lock);
  s.cv.wait_until(lock, detail::deadline_after(timeout), [&] { return !s.ready.empty() || s.closed; });
  if (!s.ready.empty()) return impl_->pop(lock);
  if (s.closed) impl_->throw_closed();
  return std::nullopt;
}

RawDelivery Consumer::receive_raw() {
  if (sharded_) return std::move(*sharded_->take(detail::Clock::time_point::max(), false));
  auto& s = *impl_->shared;
  std::unique_lock<std::mutex> lock(s.mu);
  s.cv.wait(lock, [&] { return !s.ready.empty() || s.closed; });
  if (s.ready.empty()) impl_->throw_closed();
  return impl_->pop(lock);
}

std::optional<RawDelivery> Consumer::next_for_run() {
  if (sharded_) return sharded_->take(detail::Clock::time_point::max(), true);
  auto& s = *impl_->shared;
  std::unique_lock<std::mutex> lock(s.mu);
  s.cv.wait(lock, [&] { return !s.ready.empty() || s.closed || s.stop_requested; });
  if (s.stop_requested) {
    s.stop_requested = false;
    return std::nullopt;
  }
  if (s.ready.empty()) impl_->throw_closed();
  return impl_->pop(lock);
}

void Consumer::stop() noexcept {
  if (sharded_) {
    {
      std::lock_guard<std::mutex> lock(sharded_->bell->mu);
      sharded_->stop_requested = true;
    }
    sharded_->bell->cv.notify_all();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->shared->mu);
    impl_->shared->stop_requested = true;
  }
  impl_->shared->cv.notify_all();
}

bool Consumer::wait_consuming(std::chrono::milliseconds timeout) {
  if (sharded_) {
    std::shared_ptr<Consumer> current;
    ShardProxy owner;
    {
      std::vector<std::shared_ptr<Consumer>> to_close;
      std::lock_guard<std::mutex> lock(sharded_->mu);
      sharded_->follow_locked(to_close);
      current = sharded_->routes.back().consumer;
      owner = sharded_->routes.back().proxy;
    }
    try {
      return current->wait_consuming(timeout);
    } catch (const RemoteError& e) {
      throw RemoteError(e.status(), e.reason() + " [proxy '" + owner.name + "' at " + owner.endpoint + "]");
    }
  }
  auto& s = *impl_->shared;
  std::unique_lock<std::mutex> lock(s.mu);
  s.cv.wait_until(lock, detail::deadline_after(timeout),
                  [&] { return s.consuming || s.consume_error || s.closed; });
  if (!s.consuming && s.consume_error) std::rethrow_exception(s.consume_error);
  return s.consuming;
}

void Consumer::count_decode_error() noexcept {
  if (sharded_) {
    ++sharded_->n_decode_errors;
  } else {
    ++impl_->n_decode_errors;
  }
}

const std::string& Consumer::queue() const noexcept { return sharded_ ? sharded_->queue : impl_->queue; }
const std::string& Consumer::endpoint() const noexcept {
  return sharded_ ? sharded_->description : impl_->link.endpoint();
}
std::uint64_t Consumer::received() const noexcept {
  if (sharded_) return sharded_->sum([](Consumer& c) { return c.received(); }, &Sharded::done_received);
  return impl_->n_received.load();
}
std::uint64_t Consumer::decode_errors() const noexcept {
  return sharded_ ? sharded_->n_decode_errors.load() : impl_->n_decode_errors.load();
}
std::uint64_t Consumer::reconnects() const noexcept {
  if (sharded_) return sharded_->sum([](Consumer& c) { return c.reconnects(); }, &Sharded::done_reconnects);
  return impl_->n_reconnects.load();
}
std::uint64_t Consumer::stale_settlements() const noexcept {
  if (sharded_) return sharded_->sum([](Consumer& c) { return c.stale_settlements(); }, &Sharded::done_stale);
  return impl_->shared->stale.load();
}
std::uint64_t Consumer::acks_sent() const noexcept {
  if (sharded_) return sharded_->sum([](Consumer& c) { return c.acks_sent(); }, &Sharded::done_acks);
  return impl_->n_acks.load();
}

}  // namespace courier
