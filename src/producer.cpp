#include <courier/producer.hpp>

#include "eventfd_wakeup.hpp"
#include "protocol/cqp1.hpp"
#include "proxy_link.hpp"
#include "zmq_util.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace courier {

std::string default_proxy_endpoint() {
  const char* env = std::getenv("COURIER_PROXY_ENDPOINT");
  if (env != nullptr && *env != '\0') return env;
  return "tcp://127.0.0.1:5555";
}

namespace {

using detail::Clock;
using Millis = std::chrono::milliseconds;

// One message from publish to confirm. `body` is kept for resends.
struct Entry {
  std::string queue;
  zmq::message_t body;
  std::string id;
  std::uint64_t delay = 0;           // 0 = none
  std::optional<std::uint64_t> ttl;
  ConfirmCallback on_confirm;
};

// A request/answer command (DECLARE) waiting for its answer. The proxy
// answers one client's commands in order, so answers match FIFO.
struct AdminRequest {
  std::string queue;
  msgpack::sbuffer header;
  std::promise<std::uint64_t> done;
};

std::string random_prefix() {
  std::random_device rd;
  const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

bool same_batch(const Entry& a, const Entry& b) {
  return a.queue == b.queue && a.delay == b.delay && a.ttl == b.ttl;
}

}  // namespace

struct Producer::Impl {
  using EntryList = std::list<Entry>;
  struct Batch {
    std::vector<EntryList::iterator> entries;
    Clock::time_point sent_at;
  };

  ProducerOptions options;
  detail::ProxyLink link;
  detail::EventfdWakeup wake;

  std::mutex mu;
  std::condition_variable cv;           // window space, flush, connected
  std::deque<Entry> inbox;              // guarded by mu
  std::deque<std::unique_ptr<AdminRequest>> admin_inbox;  // guarded by mu
  std::size_t in_window = 0;            // guarded by mu: inbox + unconfirmed
  std::size_t unfinished = 0;           // guarded by mu: in_window + callbacks running
  bool closing = false;                 // guarded by mu
  bool closed = false;                  // guarded by mu
  bool connected = false;               // guarded by mu
  std::exception_ptr unreported;        // guarded by mu
  std::string prefix;
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::uint64_t> n_confirmed{0}, n_dup{0}, n_batches{0}, n_sent{0}, n_resent{0},
      n_reconnects{0};
  std::thread io;

  // Owned by the I/O thread.
  EntryList unconfirmed;                 // in publish order
  std::map<std::uint64_t, Batch> by_tag;  // sent on the current socket
  std::deque<std::unique_ptr<AdminRequest>> admin_pending;
  std::uint64_t next_tag = 1;
  std::deque<Entry> taken;
  std::deque<std::unique_ptr<AdminRequest>> admin_taken;
  msgpack::sbuffer header;
  msgpack::zone zone;
  detail::Incoming in;
  std::vector<const zmq::message_t*> body_ptrs;

  explicit Impl(ProducerOptions o)
      : options(std::move(o)),
        link(detail::LinkConfig{options.endpoint.empty() ? default_proxy_endpoint() : options.endpoint,
                                options.name, options.heartbeat, options.socket, options.context}) {
    if (options.window == 0) throw ConfigError("ProducerOptions::window must be at least 1");
    if (options.confirm_timeout.count() <= 0) {
      throw ConfigError("ProducerOptions::confirm_timeout must be > 0 ms");
    }
    prefix = (options.id_prefix.empty() ? random_prefix() : options.id_prefix) + "-";
    link.open();
    // Thread start is the full memory barrier ZeroMQ asks for when a socket
    // changes threads.
    io = std::thread([this] { thread_main(); });
  }

  bool on_io_thread() const { return std::this_thread::get_id() == io.get_id(); }

  // ---- user side ----------------------------------------------------------

  // Waits for window space until `deadline` (never on the I/O thread, whose
  // callbacks may publish: waiting there would deadlock).
  // Returns: false when the window stayed full until `deadline`.
  bool submit(Entry e, Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu);
    if (closed || closing) {
      throw ClosedError("producer for " + link.endpoint() + " is closed");
    }
    if (!on_io_thread()) {
      auto room = [&] { return in_window < options.window || closed; };
      if (deadline == Clock::time_point::max()) {
        cv.wait(lock, room);
      } else if (!cv.wait_until(lock, deadline, room)) {
        return false;
      }
      if (closed) throw ClosedError("producer for " + link.endpoint() + " was closed while waiting");
    }
    const bool was_empty = inbox.empty();
    inbox.push_back(std::move(e));
    ++in_window;
    ++unfinished;
    lock.unlock();
    if (was_empty) wake.notify();
    return true;
  }

  void check_not_io(const char* what) const {
    if (on_io_thread()) {
      throw ConfigError(std::string("Producer::") + what +
                        " from a confirm callback would deadlock: callbacks run on the "
                        "producer's I/O thread, which must receive that confirm");
    }
  }

  // ---- I/O side -----------------------------------------------------------

  void send_batch(std::vector<EntryList::iterator>& run) {
    const Entry& first = *run.front();
    const std::uint64_t tag = next_tag++;
    const bool batch = run.size() > 1;
    const uint32_t entries = 3 + (first.delay ? 1 : 0) + (first.ttl ? 1 : 0) + (batch ? 1 : 0);
    cqp1::MapWriter w(header, entries);
    cqp1::pack_string(w.key("q"), first.queue);
    w.key("tag").pack(tag);
    if (batch) {
      w.key("n").pack(static_cast<std::uint64_t>(run.size()));
      auto& p = w.key("ids");
      p.pack_array(static_cast<uint32_t>(run.size()));
      for (auto it : run) cqp1::pack_string(p, it->id);
    } else {
      cqp1::pack_string(w.key("id"), first.id);
    }
    if (first.delay) w.key("delay").pack(first.delay);
    if (first.ttl) w.key("ttl").pack(*first.ttl);
    body_ptrs.clear();
    for (auto it : run) body_ptrs.push_back(&it->body);
    link.send("PUT", header, body_ptrs.data(), body_ptrs.size());
    if (batch) ++n_batches;
    n_sent += run.size();
    Batch& b = by_tag[tag];
    b.entries.swap(run);
    b.sent_at = Clock::now();
    run.clear();
  }

  // Sends [from, end) of `unconfirmed` as batch PUTs: runs of the same
  // queue/delay/ttl, up to the protocol's 4096 per batch.
  void send_from(EntryList::iterator from) {
    std::vector<EntryList::iterator> run;
    for (auto it = from; it != unconfirmed.end(); ++it) {
      if (!run.empty() && (!same_batch(*run.front(), *it) || run.size() == cqp1::kMaxBatch)) {
        send_batch(run);
      }
      run.push_back(it);
    }
    if (!run.empty()) send_batch(run);
  }

  void send_admin(AdminRequest& r) { link.send("DECLARE", r.header); }

  // Takes what user threads queued; returns false when closing.
  bool take_inbox() {
    bool stop;
    {
      std::lock_guard<std::mutex> lock(mu);
      taken.swap(inbox);
      admin_taken.swap(admin_inbox);
      stop = closing;
    }
    if (!taken.empty()) {
      auto first_new = unconfirmed.end();
      for (auto& e : taken) {
        auto it = unconfirmed.insert(unconfirmed.end(), std::move(e));
        if (first_new == unconfirmed.end()) first_new = it;
      }
      taken.clear();
      send_from(first_new);
    }
    for (auto& r : admin_taken) {
      send_admin(*r);
      admin_pending.push_back(std::move(r));
    }
    admin_taken.clear();
    return !stop;
  }

  // Finishes `n` messages: drops them from the window, runs callbacks
  // outside the lock (they may publish again).
  void finish(std::vector<std::pair<Entry, Confirm>>& done) {
    {
      std::lock_guard<std::mutex> lock(mu);
      in_window -= done.size();  // room for publishes made by the callbacks
    }
    cv.notify_all();
    std::exception_ptr first_unreported;
    for (auto& [e, c] : done) {
      if (e.on_confirm) {
        try {
          e.on_confirm(c);
        } catch (...) {
          // a throwing callback must not take the I/O thread down
        }
      } else if (c.error && !first_unreported) {
        first_unreported = c.error;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      unfinished -= done.size();
      if (first_unreported && !unreported) unreported = first_unreported;
    }
    cv.notify_all();
    done.clear();
  }

  void on_confirm(const cqp1::HeaderView& h) {
    auto it = by_tag.find(h.need_uint("tag"));
    if (it == by_tag.end()) return;  // a tag of an earlier connection
    Batch b = std::move(it->second);
    by_tag.erase(it);
    std::vector<std::pair<Entry, Confirm>> done;
    done.reserve(b.entries.size());
    const bool batch = h.find("n") != nullptr;
    const msgpack::object_array* seq_arr = batch ? h.array("seq") : nullptr;
    const msgpack::object_array* dup_arr = batch ? h.array("dup") : nullptr;
    for (std::size_t i = 0; i < b.entries.size(); ++i) {
      Confirm c;
      if (batch) {
        if (seq_arr && i < seq_arr->size) c.seq = cqp1::as_uint(seq_arr->ptr[i], "'seq' entry");
        c.dup = dup_arr && i < dup_arr->size && dup_arr->ptr[i].type == msgpack::type::BOOLEAN &&
                dup_arr->ptr[i].via.boolean;
      } else {
        c.seq = h.uint("seq").value_or(0);
        c.dup = h.boolean("dup").value_or(false);
      }
      c.id = b.entries[i]->id;
      if (c.dup) ++n_dup;
      done.emplace_back(std::move(*b.entries[i]), std::move(c));
      unconfirmed.erase(b.entries[i]);
    }
    n_confirmed += done.size();
    finish(done);
  }

  void on_error(const cqp1::HeaderView& h) {
    const int code = static_cast<int>(h.uint("code").value_or(500));
    const std::string reason(h.str("reason").value_or("(no reason given)"));
    if (auto tag = h.uint("tag")) {
      auto it = by_tag.find(*tag);
      if (it == by_tag.end()) return;
      Batch b = std::move(it->second);
      by_tag.erase(it);
      std::vector<std::pair<Entry, Confirm>> done;
      for (auto e : b.entries) {
        Confirm c;
        c.id = e->id;
        c.error = std::make_exception_ptr(
            RemoteError(code, reason + " (queue " + e->queue + ", id " + e->id + ")"));
        done.emplace_back(std::move(*e), std::move(c));
        unconfirmed.erase(e);
      }
      finish(done);
      return;
    }
    if (!admin_pending.empty()) {
      admin_pending.front()->done.set_exception(std::make_exception_ptr(RemoteError(code, reason)));
      admin_pending.pop_front();
    }
  }

  void receive_all() {
    cqp1::HeaderView h = cqp1::HeaderView::parse("\x80", 1, zone);
    for (int i = 0; i < 4096; ++i) {
      if (!link.receive(in, zone, &h)) return;
      try {
        switch (in.command) {
          case cqp1::Command::CONFIRM: on_confirm(h); break;
          case cqp1::Command::ERROR: on_error(h); break;
          case cqp1::Command::DECLARED:
            if (!admin_pending.empty()) {
              admin_pending.front()->done.set_value(h.uint("depth").value_or(0));
              admin_pending.pop_front();
            }
            break;
          case cqp1::Command::WELCOME: {
            std::lock_guard<std::mutex> lock(mu);
            connected = true;
          }
            cv.notify_all();
            break;
          default: break;  // PONG and anything else: liveness only
        }
      } catch (const cqp1::BadRequest&) {
        // a header we cannot read: ignored (the batch times out and is resent)
      }
    }
  }

  // Fresh socket, then everything unconfirmed again with the same ids.
  void reconnect() {
    {
      std::lock_guard<std::mutex> lock(mu);
      connected = false;
    }
    link.open();
    ++n_reconnects;
    by_tag.clear();
    n_resent += unconfirmed.size();
    send_from(unconfirmed.begin());
    for (auto& r : admin_pending) send_admin(*r);
  }

  void loop() {
    Clock::time_point close_deadline = Clock::time_point::max();
    for (;;) {
      const bool running = take_inbox();
      if (!running) {
        if (close_deadline == Clock::time_point::max()) {
          close_deadline = detail::deadline_after(options.close_timeout);
        }
        if (unconfirmed.empty() || Clock::now() >= close_deadline) return;
      }
      receive_all();
      const auto now = Clock::now();
      const bool confirm_late =
          !by_tag.empty() && now - by_tag.begin()->second.sent_at >= options.confirm_timeout;
      if (!link.keep_alive(now) || confirm_late) reconnect();
      Clock::time_point until = link.next_deadline();
      if (!by_tag.empty()) until = std::min(until, by_tag.begin()->second.sent_at + options.confirm_timeout);
      until = std::min(until, close_deadline);
      link.wait(wake, until);
    }
  }

  void thread_main() noexcept {
    std::string reason = "the producer was closed";
    try {
      loop();
    } catch (const std::exception& e) {
      reason = std::string("the producer's I/O thread failed: ") + e.what();
    } catch (...) {
      reason = "the producer's I/O thread failed";
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      closed = true;
      taken.swap(inbox);
      admin_taken.swap(admin_inbox);
    }
    cv.notify_all();
    for (auto& e : taken) unconfirmed.push_back(std::move(e));
    taken.clear();
    std::vector<std::pair<Entry, Confirm>> done;
    for (auto& e : unconfirmed) {
      Confirm c;
      c.id = e.id;
      c.error = std::make_exception_ptr(ClosedError("message " + e.id + " to queue " + e.queue +
                                                    " not confirmed: " + reason));
      done.emplace_back(std::move(e), std::move(c));
    }
    unconfirmed.clear();
    by_tag.clear();
    finish(done);
    for (auto* q : {&admin_pending, &admin_taken}) {
      for (auto& r : *q) r->done.set_exception(std::make_exception_ptr(ClosedError(reason)));
      q->clear();
    }
    link.close(true, std::min(options.socket.linger, Millis(1000)));
  }
};

// ---- Producer ----------------------------------------------------------------

Producer::Producer(ProducerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Producer::Producer(const std::string& endpoint)
    : Producer([&] {
        ProducerOptions o;
        o.endpoint = endpoint;
        return o;
      }()) {}

Producer::Producer(Producer&&) noexcept = default;

Producer& Producer::operator=(Producer&& other) noexcept {
  if (this != &other) {
    Producer dying(std::move(*this));
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Producer::~Producer() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->closing = true;
  }
  impl_->wake.notify();
  if (impl_->on_io_thread()) {
    // Destroyed from its own callback: the thread cannot join itself; it sees
    // `closing` and finishes on its own (its state is left to it).
    impl_->io.detach();
    (void)impl_.release();
    return;
  }
  impl_->io.join();
}

bool Producer::submit_message(std::string_view queue, zmq::message_t body,
                              const PublishOptions& options, ConfirmCallback on_confirm, bool block) {
  return submit_until(queue, std::move(body), options, std::move(on_confirm),
                      block ? Clock::time_point::max() : Clock::now());
}

bool Producer::submit_until(std::string_view queue, zmq::message_t body, const PublishOptions& options,
                            ConfirmCallback on_confirm, std::chrono::steady_clock::time_point deadline) {
  if (!cqp1::valid_queue_name(queue)) {
    throw ConfigError("queue name '" + std::string(queue.substr(0, 64)) +
                      "' is not valid: use 1-200 bytes of [A-Za-z0-9._:-]");
  }
  if (options.id.size() > cqp1::kMaxProducerId) {
    throw ConfigError("PublishOptions::id is " + std::to_string(options.id.size()) +
                      " bytes; the proxy accepts at most 128");
  }
  if ((options.delay && options.delay->count() < 0) || (options.ttl && options.ttl->count() < 0)) {
    throw ConfigError("PublishOptions::delay and ::ttl must be >= 0 ms");
  }
  Entry e;
  e.queue = std::string(queue);
  e.body = std::move(body);
  e.id = options.id.empty() ? impl_->prefix + std::to_string(impl_->next_id++) : options.id;
  e.delay = options.delay ? static_cast<std::uint64_t>(options.delay->count()) : 0;
  if (options.ttl) e.ttl = static_cast<std::uint64_t>(options.ttl->count());
  e.on_confirm = std::move(on_confirm);
  return impl_->submit(std::move(e), deadline);
}

std::uint64_t Producer::publish_message(std::string_view queue, zmq::message_t body,
                                        const PublishOptions& options, std::chrono::milliseconds timeout) {
  impl_->check_not_io("publish()");
  auto done = std::make_shared<std::promise<Confirm>>();
  std::future<Confirm> future = done->get_future();
  const auto deadline = detail::deadline_after(timeout);
  const bool queued = submit_until(queue, std::move(body), options,
                                   [done](const Confirm& c) { done->set_value(c); }, deadline);
  if (!queued || future.wait_until(deadline) != std::future_status::ready) {
    throw TimeoutError("publish to queue " + std::string(queue) + " via " + impl_->link.endpoint() +
                       ": no confirm within " + std::to_string(timeout.count()) +
                       " ms (is courier-proxy running? the message stays queued and is resent "
                       "until confirmed)");
  }
  Confirm c = future.get();
  if (c.error) std::rethrow_exception(c.error);
  return c.seq;
}

std::uint64_t Producer::publish_raw(std::string_view queue, std::string_view body,
                                    const PublishOptions& options) {
  return publish_message(queue, zmq::message_t(body.data(), body.size()), options,
                         default_publish_timeout());
}

void Producer::publish_raw_async(std::string_view queue, std::string_view body,
                                 const PublishOptions& options, ConfirmCallback on_confirm) {
  (void)submit_message(queue, zmq::message_t(body.data(), body.size()), options,
                       std::move(on_confirm), true);
}

bool Producer::try_publish_raw_async(std::string_view queue, std::string_view body,
                                     const PublishOptions& options, ConfirmCallback on_confirm) {
  return submit_message(queue, zmq::message_t(body.data(), body.size()), options,
                        std::move(on_confirm), false);
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  impl_->check_not_io("flush()");
  std::unique_lock<std::mutex> lock(impl_->mu);
  const bool empty = impl_->cv.wait_until(lock, detail::deadline_after(timeout),
                                          [&] { return impl_->unfinished == 0 || impl_->closed; });
  if (impl_->unreported) {
    std::exception_ptr e = impl_->unreported;
    impl_->unreported = nullptr;
    std::rethrow_exception(e);
  }
  return empty && impl_->unfinished == 0;
}

std::uint64_t Producer::declare(std::string_view queue, const QueueOptions& o,
                                std::chrono::milliseconds timeout) {
  impl_->check_not_io("declare()");
  if (!cqp1::valid_queue_name(queue)) {
    throw ConfigError("queue name '" + std::string(queue.substr(0, 64)) +
                      "' is not valid: use 1-200 bytes of [A-Za-z0-9._:-]");
  }
  auto r = std::make_unique<AdminRequest>();
  r->queue = std::string(queue);
  const uint32_t n = 1 + (o.max_length ? 1 : 0) + (o.max_attempts ? 1 : 0) + (o.ttl ? 1 : 0) +
                     (o.ack_timeout ? 1 : 0) + (o.dead_letter ? 1 : 0);
  cqp1::MapWriter w(r->header, n);
  cqp1::pack_string(w.key("q"), queue);
  if (o.max_length) w.key("max_length").pack(*o.max_length);
  if (o.max_attempts) w.key("max_attempts").pack(*o.max_attempts);
  if (o.ttl) w.key("ttl").pack(static_cast<std::uint64_t>(std::max<long long>(0, o.ttl->count())));
  if (o.ack_timeout) {
    w.key("ack_timeout").pack(static_cast<std::uint64_t>(std::max<long long>(0, o.ack_timeout->count())));
  }
  if (o.dead_letter) cqp1::pack_string(w.key("dead_letter"), *o.dead_letter);
  std::future<std::uint64_t> future = r->done.get_future();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->closed || impl_->closing) throw ClosedError("producer for " + impl_->link.endpoint() + " is closed");
    impl_->admin_inbox.push_back(std::move(r));
  }
  impl_->wake.notify();
  if (future.wait_for(timeout) != std::future_status::ready) {
    throw TimeoutError("DECLARE " + std::string(queue) + " via " + impl_->link.endpoint() +
                       ": no answer within " + std::to_string(timeout.count()) +
                       " ms (is courier-proxy running?)");
  }
  return future.get();
}

bool Producer::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_until(lock, detail::deadline_after(timeout), [&] { return impl_->connected; });
}

std::chrono::milliseconds Producer::default_publish_timeout() const noexcept {
  return impl_->options.publish_timeout;
}

std::size_t Producer::unconfirmed() const noexcept {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->in_window;
}
std::uint64_t Producer::confirmed() const noexcept { return impl_->n_confirmed.load(); }
std::uint64_t Producer::duplicates() const noexcept { return impl_->n_dup.load(); }
std::uint64_t Producer::batches_sent() const noexcept { return impl_->n_batches.load(); }
std::uint64_t Producer::messages_sent() const noexcept { return impl_->n_sent.load(); }
std::uint64_t Producer::resent() const noexcept { return impl_->n_resent.load(); }
std::uint64_t Producer::reconnects() const noexcept { return impl_->n_reconnects.load(); }

}  // namespace courier
