#include <courier/producer.hpp>

#include "auto_id.hpp"
#include "eventfd_wakeup.hpp"
#include "moved_error.hpp"
#include "protocol/cqp1.hpp"
#include "proxy_link.hpp"
#include "sharded_producer.hpp"
#include "zmq_util.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace courier {

namespace {

using detail::Clock;
using Millis = std::chrono::milliseconds;

constexpr Millis kFirstBackoff{10};  // the first retry after ERROR 429
constexpr Millis kMaxBackoff{1000};  // doubling up to this

// publish() waiting for its one message. Guarded by Producer::Impl::mu.
struct SyncWait {
  bool done = false;
  Confirm result;
  Millis timeout{0};
  // publish() gives up here. Each 429 moves it past the next retry: the proxy
  // is answering (the queue is full), and full_wait bounds that wait.
  Clock::time_point deadline;
};

// One message from publish to confirm. `body` is kept for resends.
struct Entry {
  std::string queue;
  zmq::message_t body;
  // The id: PublishOptions::id, or (when that is empty) the automatic
  // "<prefix><auto_id>", which is spelled out only where it is read (the PUT
  // header, a Confirm, an error): no string per message on the hot path.
  std::string id;
  std::uint64_t auto_id = 0;  // 0: `id` is the user's
  std::uint64_t delay = 0;  // 0 = none
  // Made a delay at each send, so a resend does not add the time already waited.
  std::optional<std::chrono::system_clock::time_point> deliver_at;
  std::optional<std::uint64_t> ttl;
  ConfirmCallback on_confirm;
  std::shared_ptr<SyncWait> waiter;  // publish() only
  // When a full queue (ERROR 429) first held this message back; it fails
  // full_wait later unless the queue takes it first.
  Clock::time_point held_since = Clock::time_point::max();
};

std::string random_prefix() {
  std::random_device rd;
  const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

// Two messages of one queue that one batch PUT can carry (§3.4: one delay and ttl for all).
bool same_batch(const Entry& a, const Entry& b) {
  return a.delay == b.delay && a.deliver_at == b.deliver_at && a.ttl == b.ttl;
}

// The PUT delay of a message now: deliver_at in whole ms rounded up (never
// early), 0 once it has passed.
std::uint64_t delay_now(const Entry& e) {
  if (!e.deliver_at) return e.delay;
  const auto left = *e.deliver_at - std::chrono::system_clock::now();
  return left.count() <= 0 ? 0 : static_cast<std::uint64_t>(std::chrono::ceil<Millis>(left).count());
}

// t + d, saturating at the end of time (full_wait may be huge).
Clock::time_point later(Clock::time_point t, Millis d) {
  const auto room = std::chrono::duration_cast<Millis>(Clock::time_point::max() - t);
  return d >= room ? Clock::time_point::max() : t + d;
}

}  // namespace

struct Producer::Impl {
  // One queue's unconfirmed messages, in publish order. At most ONE batch of
  // a lane is on the wire: once a PUT is sent its fate is the proxy's, and a
  // batch refused with 429 must not be overtaken by a later one of the same
  // queue that happens to fit. Lanes of other queues go on meanwhile.
  struct Lane {
    std::deque<Entry> entries;  // entries[0, in_flight) are the batch on the wire
    std::size_t in_flight = 0;
    // 1 after a 429 (a batch is stored whole or not at all, so a big one
    // might never fit), doubling back with each confirm.
    std::size_t batch_cap = cqp1::kMaxBatch;
    bool full = false;  // the last answer was 429: resend at retry_at
    Clock::time_point retry_at;
    Millis backoff{0};
    std::string full_reason;  // the proxy's words
    bool wanted = false;      // listed in Impl::wanted
  };
  using LaneMap = std::map<std::string, Lane, std::less<>>;
  using LaneIt = LaneMap::iterator;  // stable until its own erase
  struct Sent {
    LaneIt lane;
    Clock::time_point at;
  };

  ProducerOptions options;
  detail::ProxyLink link;
  detail::EventfdWakeup wake;

  std::mutex mu;
  std::condition_variable cv;           // window space, flush, connected, publish() results
  // A vector, swapped with `taken` each turn: both keep their capacity, so
  // handing a message over allocates nothing (a deque of Entries would
  // allocate a node for every two).
  std::vector<Entry> inbox;             // guarded by mu
  std::size_t in_window = 0;            // guarded by mu: inbox + unconfirmed, waiting ones too
  std::size_t unfinished = 0;           // guarded by mu: in_window + callbacks running
  bool closing = false;                 // guarded by mu
  bool closed = false;                  // guarded by mu
  bool connected = false;               // guarded by mu
  std::exception_ptr unreported;        // guarded by mu
  std::string prefix;
  std::atomic<std::uint64_t> next_id{1};
  std::atomic<std::uint64_t> n_confirmed{0}, n_dup{0}, n_batches{0}, n_sent{0}, n_resent{0},
      n_reconnects{0}, n_full_retries{0};
  std::thread io;

  // Owned by the I/O thread.
  LaneMap lanes;                   // queues with unconfirmed messages
  std::size_t full_lanes = 0;      // how many of them are full
  std::map<std::uint64_t, Sent> by_tag;  // on the wire on the current socket; oldest first
  std::uint64_t next_tag = 1;
  std::vector<Entry> taken;
  // Lanes that may send: new messages, an answer, a retry due. Sending waits
  // until the turn has read every answer and the whole inbox, so that what
  // accumulated goes out as one batch.
  std::vector<LaneIt> wanted;
  msgpack::sbuffer header;
  msgpack::zone zone;
  detail::Incoming in;
  std::vector<const zmq::message_t*> body_ptrs;

  explicit Impl(ProducerOptions o)
      : options(std::move(o)),
        link(detail::LinkConfig{options.endpoint.empty() ? default_proxy_endpoint() : options.endpoint,
                                options.client_name, options.heartbeat, options.socket, options.context}) {
    if (options.window == 0) throw ConfigError("ProducerOptions::window must be at least 1");
    if (options.confirm_timeout.count() <= 0) {
      throw ConfigError("ProducerOptions::confirm_timeout must be > 0 ms");
    }
    if (options.full_wait.count() < 0) {
      throw ConfigError("ProducerOptions::full_wait must be >= 0 ms (0 = fail at once on a full queue)");
    }
    prefix = (options.id_prefix.empty() ? random_prefix() : options.id_prefix) + "-";
    link.open();
    // Thread start is the full memory barrier ZeroMQ asks for when a socket
    // changes threads.
    io = std::thread([this] { thread_main(); });
  }

  bool on_io_thread() const { return std::this_thread::get_id() == io.get_id(); }

  // How long closing waits for unconfirmed messages: close_timeout, or what
  // begin_close() asked for.
  std::optional<Millis> close_wait_override;  // guarded by mu
  Millis close_wait() {
    std::lock_guard<std::mutex> lock(mu);
    return close_wait_override.value_or(options.close_timeout);
  }

  // ---- user side ----------------------------------------------------------

  // Checks a publish's arguments and makes its Entry. Throws: ConfigError.
  Entry make_entry(std::string_view queue, zmq::message_t body, const PublishOptions& o) {
    if (!cqp1::valid_queue_name(queue)) {
      throw ConfigError("queue name '" + std::string(queue.substr(0, 64)) +
                        "' is not valid: use 1-200 bytes of [A-Za-z0-9._:-]");
    }
    if (o.id.size() > cqp1::kMaxProducerId) {
      throw ConfigError("PublishOptions::id is " + std::to_string(o.id.size()) +
                        " bytes; the proxy accepts at most 128");
    }
    if ((o.delay && o.delay->count() < 0) || (o.ttl && o.ttl->count() < 0)) {
      throw ConfigError("PublishOptions::delay and ::ttl must be >= 0 ms");
    }
    if (o.delay && o.deliver_at) {
      throw ConfigError("PublishOptions::delay and ::deliver_at are both set: give one of them");
    }
    Entry e;
    e.queue = std::string(queue);
    e.body = std::move(body);
    if (o.id.empty()) {
      e.auto_id = next_id++;
    } else {
      e.id = o.id;
    }
    e.delay = o.delay ? static_cast<std::uint64_t>(o.delay->count()) : 0;
    e.deliver_at = o.deliver_at;
    if (o.ttl) e.ttl = static_cast<std::uint64_t>(o.ttl->count());
    return e;
  }

  // Waits for window space until `deadline` (never on the I/O thread, whose
  // callbacks may publish: waiting there would deadlock; nor when
  // `wait_for_room` is false: a sharded Producer redirecting from another
  // I/O thread). Returns: false when the window stayed full until `deadline`.
  bool submit(Entry e, Clock::time_point deadline, bool wait_for_room = true) {
    std::unique_lock<std::mutex> lock(mu);
    if (closed || closing) {
      throw ClosedError("producer for " + link.endpoint() + " is closed");
    }
    if (wait_for_room && !on_io_thread()) {
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

  // ---- ids ------------------------------------------------------------------

  // The id as text: the user's, or the automatic one (auto_id.hpp).
  std::string id_text(const Entry& e) const {
    if (e.auto_id == 0) return e.id;
    char buf[detail::kAutoCounterMax];
    std::string id = prefix;
    id += detail::sortable_counter(e.auto_id, buf);
    return id;
  }

  // Packs the id as one msgpack str without building it first.
  void pack_id(msgpack::packer<msgpack::sbuffer>& p, const Entry& e) const {
    if (e.auto_id == 0) {
      cqp1::pack_string(p, e.id);
      return;
    }
    char buf[detail::kAutoCounterMax];
    const std::string_view d = detail::sortable_counter(e.auto_id, buf);
    p.pack_str(static_cast<uint32_t>(prefix.size() + d.size()));
    p.pack_str_body(prefix.data(), static_cast<uint32_t>(prefix.size()));
    p.pack_str_body(d.data(), static_cast<uint32_t>(d.size()));
  }

  // ---- I/O side: sending ----------------------------------------------------

  // Sends the lane's next batch PUT: its leading run of messages with the
  // same delay and ttl, at most batch_cap (and 4096). Nothing while a batch
  // is on the wire, or while the queue is full and its retry is not due.
  void send_next(LaneIt it, Clock::time_point now) {
    Lane& lane = it->second;
    if (lane.in_flight != 0 || lane.entries.empty() || (lane.full && now < lane.retry_at)) return;
    const auto& es = lane.entries;
    std::size_t k = 1;
    while (k < es.size() && k < lane.batch_cap && same_batch(es[0], es[k])) ++k;
    const Entry& first = es[0];
    const std::uint64_t tag = next_tag++;
    const std::uint64_t delay = delay_now(first);
    const bool batch = k > 1;
    cqp1::encode(header, cqp1::Put{first.queue, tag, delay, first.ttl}, k,
                 [&](msgpack::packer<msgpack::sbuffer>& p, std::size_t i) { pack_id(p, es[i]); });
    body_ptrs.clear();
    for (std::size_t i = 0; i < k; ++i) body_ptrs.push_back(&es[i].body);
    link.send("PUT", header, body_ptrs.data(), body_ptrs.size());
    if (batch) ++n_batches;
    n_sent += k;
    if (lane.full) n_full_retries += k;
    lane.in_flight = k;
    by_tag.emplace(tag, Sent{it, Clock::now()});
  }

  void want_send(LaneIt it) {
    if (it->second.wanted) return;
    it->second.wanted = true;
    wanted.push_back(it);
  }

  // Sends what the wanted lanes may send, and forgets the lanes left empty
  // (the only place lanes are erased, so `wanted` never dangles).
  void send_wanted(Clock::time_point now) {
    for (LaneIt it : wanted) {
      it->second.wanted = false;
      send_next(it, now);
      if (it->second.entries.empty() && it->second.in_flight == 0) {
        if (it->second.full) --full_lanes;
        lanes.erase(it);
      }
    }
    wanted.clear();
  }

  // Takes what user threads queued; returns false when closing.
  bool take_inbox() {
    bool stop;
    {
      std::lock_guard<std::mutex> lock(mu);
      taken.swap(inbox);
      stop = closing;
    }
    if (!taken.empty()) {
      const auto now = Clock::now();
      for (auto& e : taken) {
        LaneIt it = lanes.try_emplace(e.queue).first;
        if (it->second.full) e.held_since = now;  // behind messages waiting for room
        it->second.entries.push_back(std::move(e));
        want_send(it);
      }
      taken.clear();
    }
    return !stop;
  }

  // ---- I/O side: outcomes ---------------------------------------------------

  // Finishes messages: drops them from the window, runs callbacks outside
  // the lock (they may publish again), hands publish() its result. `quiet`
  // more were confirmed with nobody to tell (no callback, no publish()
  // waiting): they only leave the window.
  void finish(std::vector<std::pair<Entry, Confirm>>& done, std::size_t quiet = 0) {
    if (done.empty() && quiet == 0) return;
    const std::size_t n = done.size() + quiet;
    {
      std::lock_guard<std::mutex> lock(mu);
      in_window -= n;  // room for publishes made by the callbacks
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
      } else if (c.error && !e.waiter && !first_unreported) {
        first_unreported = c.error;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      unfinished -= n;
      if (first_unreported && !unreported) unreported = first_unreported;
      for (auto& [e, c] : done) {
        if (!e.waiter) continue;
        e.waiter->result = std::move(c);
        e.waiter->done = true;
      }
    }
    cv.notify_all();
    done.clear();
  }

  // Finishes the lane's first `n` messages with the outcomes `outcome(i, entry)`
  // gives. Only outcomes someone reads are kept (a callback, publish(), an
  // error for flush()); a confirm nobody asked about is just counted, so a
  // plain publish_async() costs no Confirm and no id string.
  template <class Outcome>
  void finish_front(Lane& lane, std::size_t n, Outcome outcome) {
    std::vector<std::pair<Entry, Confirm>> done;
    std::size_t quiet = 0;
    for (std::size_t i = 0; i < n; ++i) {
      Entry& e = lane.entries.front();
      Confirm c = outcome(i, e);
      if (e.on_confirm || e.waiter || c.error) {
        c.id = e.auto_id ? id_text(e) : std::move(e.id);  // the entry needs it no more
        done.emplace_back(std::move(e), std::move(c));
      } else {
        ++quiet;
      }
      lane.entries.pop_front();
    }
    finish(done, quiet);
  }

  // Returns: the lane whose batch `tag` answers, now off the wire; nullopt
  // for a tag of an earlier connection.
  std::optional<LaneIt> answered(std::uint64_t tag) {
    auto it = by_tag.find(tag);
    if (it == by_tag.end()) return std::nullopt;
    LaneIt lane = it->second.lane;
    by_tag.erase(it);
    return lane;
  }

  void on_confirm(const cqp1::HeaderView& h) {
    const auto confirm = cqp1::ConfirmReply::read(h);
    const auto it = answered(confirm.tag());
    if (!it) return;
    Lane& lane = (*it)->second;
    const std::size_t n = lane.in_flight;
    lane.in_flight = 0;
    // The queue took it: whatever waits behind goes next, in batches growing back.
    if (lane.full) {
      lane.full = false;
      --full_lanes;
    }
    lane.backoff = Millis(0);
    lane.batch_cap = std::min<std::size_t>(lane.batch_cap * 2, cqp1::kMaxBatch);
    n_confirmed += n;  // before flush() can see the window empty
    finish_front(lane, n, [&](std::size_t i, const Entry&) {
      Confirm c;
      c.seq = confirm.seq(i);
      c.dup = confirm.dup(i);
      if (c.dup) ++n_dup;
      return c;
    });
    want_send(*it);
  }

  // ERROR 429 (docs/PROTOCOL.md §3.7): the queue is at max_length and stored
  // nothing. The lane's messages stay, in order, and it retries after a
  // backoff, one message at a time until the queue takes one again.
  void hold(LaneIt it, std::string reason, Clock::time_point now) {
    Lane& lane = it->second;
    if (!lane.full) {
      lane.full = true;
      ++full_lanes;
      for (auto& e : lane.entries) e.held_since = std::min(e.held_since, now);
    }
    lane.full_reason = std::move(reason);
    lane.batch_cap = 1;
    lane.backoff = lane.backoff.count() == 0 ? kFirstBackoff : std::min(lane.backoff * 2, kMaxBackoff);
    expire(lane, now);
    if (lane.entries.empty()) return;
    lane.retry_at = std::min(now + lane.backoff, later(lane.entries.front().held_since, options.full_wait));
    std::lock_guard<std::mutex> lock(mu);
    for (auto& e : lane.entries) {
      if (e.waiter) e.waiter->deadline = std::max(e.waiter->deadline, later(lane.retry_at, e.waiter->timeout));
    }
  }

  // Fails, in order, the lane's messages that have waited full_wait for room.
  void expire(Lane& lane, Clock::time_point now) {
    std::size_t n = 0;
    while (n < lane.entries.size() && later(lane.entries[n].held_since, options.full_wait) <= now) ++n;
    finish_front(lane, n, [&](std::size_t, const Entry& e) {
      Confirm c;
      c.error = std::make_exception_ptr(RemoteError(
          cqp1::kQueueFull, lane.full_reason + " (queue " + e.queue + ", id " + id_text(e) + "): still full after " +
                                std::to_string(options.full_wait.count()) +
                                " ms (ProducerOptions::full_wait); consume faster, raise the queue's "
                                "max_length or full_wait"));
      return c;
    });
  }

  // Resends what waited for room when its retry is due (and fails what waited too long).
  void retry_full(Clock::time_point now) {
    if (full_lanes == 0) return;
    for (auto it = lanes.begin(); it != lanes.end();) {
      const LaneIt cur = it++;
      Lane& lane = cur->second;
      if (!lane.full || lane.in_flight != 0 || now < lane.retry_at) continue;
      expire(lane, now);
      want_send(cur);
    }
  }

  // Returns: when retry_full() next has something to do.
  Clock::time_point next_retry() const {
    Clock::time_point t = Clock::time_point::max();
    if (full_lanes == 0) return t;
    for (const auto& kv : lanes) {
      if (kv.second.full && kv.second.in_flight == 0) t = std::min(t, kv.second.retry_at);
    }
    return t;
  }

  // An ERROR answers a PUT by its tag. One without a tag answers nothing this
  // Producer waits for (it sends only PUTs besides HELLO/PING/BYE; declaring
  // is Admin's): ignored, and a batch it might concern times out and is resent.
  void on_error(const cqp1::HeaderView& h) {
    const auto e = cqp1::ErrorReply::read(h);
    const int code = e.code;
    std::string reason(e.reason);
    if (auto tag = e.tag) {
      const auto it = answered(*tag);
      if (!it) return;
      Lane& lane = (*it)->second;
      const std::size_t n = lane.in_flight;
      lane.in_flight = 0;
      const auto now = Clock::now();
      if (code == cqp1::kQueueFull && options.full_wait.count() > 0) {
        hold(*it, std::move(reason), now);
      } else if (code == cqp1::kQueueFull && n > 1) {
        // A refused batch stores nothing, yet its first messages may fit:
        // without waiting (full_wait 0) each is tried alone, and only a
        // message refused on its own fails.
        lane.batch_cap = 1;
      } else if (code == cqp1::kMoved) {
        // The queue lives on another proxy now. Never retried here: a
        // sharded Producer above this one catches MovedError and resends.
        const std::string to(e.moved_to.value_or(""));
        finish_front(lane, n, [&](std::size_t, const Entry& m) {
          Confirm c;
          c.error = std::make_exception_ptr(detail::MovedError(
              reason + " (queue " + m.queue + ", id " + id_text(m) + " at " + link.endpoint() + "): moved to " +
                  (to.empty() ? std::string("another proxy") : "proxy '" + to + "'") +
                  "; publish there, or give ProducerOptions::shards to follow moves",
              to));
          return c;
        });
      } else {
        finish_front(lane, n, [&](std::size_t, const Entry& e) {
          Confirm c;
          c.error = std::make_exception_ptr(
              RemoteError(code, reason + " (queue " + e.queue + ", id " + id_text(e) + ")"));
          return c;
        });
      }
      want_send(*it);
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
          case cqp1::Command::WELCOME: {
            std::lock_guard<std::mutex> lock(mu);
            connected = true;
          }
            cv.notify_all();
            break;
          default: break;  // PONG and anything else: liveness (and boot) only
        }
      } catch (const cqp1::BadRequest&) {
        // a header we cannot read: ignored (the batch times out and is resent)
      }
    }
  }

  // Fresh socket, then what was on the wire again, same ids: the proxy's
  // dedup stores each message once even if the old session stored it.
  void reconnect() {
    {
      std::lock_guard<std::mutex> lock(mu);
      connected = false;
    }
    link.open();
    ++n_reconnects;
    by_tag.clear();
    const auto now = Clock::now();
    for (auto it = lanes.begin(); it != lanes.end(); ++it) {
      n_resent += it->second.in_flight;
      it->second.in_flight = 0;
      want_send(it);
    }
    send_wanted(now);
  }

  void loop() {
    Clock::time_point close_deadline = Clock::time_point::max();
    for (;;) {
      receive_all();
      const bool running = take_inbox();
      auto now = Clock::now();
      retry_full(now);
      send_wanted(now);
      if (!running) {
        if (close_deadline == Clock::time_point::max()) {
          close_deadline = detail::deadline_after(close_wait());
        }
        if (lanes.empty() || now >= close_deadline) return;
      }
      now = Clock::now();
      const bool confirm_late =
          !by_tag.empty() && now - by_tag.begin()->second.at >= options.confirm_timeout;
      // keep_alive() is false also when the proxy's boot changed: a restart.
      if (!link.keep_alive(now) || confirm_late) reconnect();
      Clock::time_point until = std::min(link.next_deadline(), next_retry());
      if (!by_tag.empty()) until = std::min(until, by_tag.begin()->second.at + options.confirm_timeout);
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
      for (auto& e : inbox) taken.push_back(std::move(e));
      inbox.clear();
    }
    cv.notify_all();
    std::vector<std::pair<Entry, Confirm>> done;
    auto fail = [&](Entry& e) {
      Confirm c;
      c.id = id_text(e);
      c.error = std::make_exception_ptr(ClosedError("message " + c.id + " to queue " + e.queue +
                                                    " not confirmed: " + reason));
      done.emplace_back(std::move(e), std::move(c));
    };
    for (auto& kv : lanes) {
      for (auto& e : kv.second.entries) fail(e);
    }
    for (auto& e : taken) fail(e);
    lanes.clear();
    wanted.clear();
    full_lanes = 0;
    taken.clear();
    by_tag.clear();
    finish(done);
    link.close(true, std::min(options.socket.linger, Millis(1000)));
  }
};

// ---- Producer ----------------------------------------------------------------

// With shards every public member hands over to the routing layer
// (sharded_producer.cpp); the single-proxy path pays one null test.
Producer::Producer(ProducerOptions options) {
  if (options.shards) {
    sharded_ = std::make_unique<Sharded>(std::move(options));
  } else {
    impl_ = std::make_unique<Impl>(std::move(options));
  }
}

Producer::Producer(Producer&&) noexcept = default;

Producer& Producer::operator=(Producer&& other) noexcept {
  if (this != &other) {
    Producer dying(std::move(*this));
    impl_ = std::move(other.impl_);
    sharded_ = std::move(other.sharded_);
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

void Producer::begin_close(std::chrono::milliseconds wait) noexcept {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->close_wait_override = std::max(wait, Millis(0));
    impl_->closing = true;
  }
  impl_->wake.notify();
}

void Producer::submit_unbounded(std::string_view queue, zmq::message_t body, const PublishOptions& options,
                                ConfirmCallback on_confirm) {
  Entry e = impl_->make_entry(queue, std::move(body), options);
  e.on_confirm = std::move(on_confirm);
  (void)impl_->submit(std::move(e), Clock::time_point::max(), false);
}

bool Producer::submit_message(std::string_view queue, zmq::message_t body, const PublishOptions& options,
                              ConfirmCallback on_confirm, std::optional<std::chrono::milliseconds> wait) {
  // Expected false: the routing layer stays out of the single-proxy path's code.
  if (__builtin_expect(sharded_ != nullptr, 0)) {
    return sharded_->submit(queue, std::move(body), options, std::move(on_confirm), wait);
  }
  Entry e = impl_->make_entry(queue, std::move(body), options);
  e.on_confirm = std::move(on_confirm);
  return impl_->submit(std::move(e), wait ? detail::deadline_after(*wait) : Clock::time_point::max());
}

std::uint64_t Producer::publish_message(std::string_view queue, zmq::message_t body,
                                        const PublishOptions& options, std::chrono::milliseconds timeout) {
  if (__builtin_expect(sharded_ != nullptr, 0)) return sharded_->publish(queue, std::move(body), options, timeout);
  impl_->check_not_io("publish()");
  auto w = std::make_shared<SyncWait>();
  w->timeout = timeout;
  w->deadline = detail::deadline_after(timeout);
  Entry e = impl_->make_entry(queue, std::move(body), options);
  e.waiter = w;
  if (impl_->submit(std::move(e), w->deadline)) {
    std::unique_lock<std::mutex> lock(impl_->mu);
    // Not wait_until(deadline, pred): the I/O thread may move the deadline.
    while (!w->done && Clock::now() < w->deadline) impl_->cv.wait_until(lock, w->deadline);
    if (w->done) {
      const Confirm c = std::move(w->result);
      lock.unlock();
      if (c.error) std::rethrow_exception(c.error);
      return c.seq;
    }
  }
  throw TimeoutError("publish to queue " + std::string(queue) + " via " + impl_->link.endpoint() +
                     ": no confirm within " + std::to_string(timeout.count()) +
                     " ms (is courier-proxy running? the message stays queued and is resent "
                     "until confirmed)");
}

std::uint64_t Producer::publish_raw(std::string_view queue, std::string_view body,
                                    const PublishOptions& options) {
  return publish_message(queue, zmq::message_t(body.data(), body.size()), options,
                         default_publish_timeout());
}

void Producer::publish_raw_async(std::string_view queue, std::string_view body,
                                 const PublishOptions& options, ConfirmCallback on_confirm) {
  (void)submit_message(queue, zmq::message_t(body.data(), body.size()), options,
                       std::move(on_confirm), std::nullopt);
}

bool Producer::publish_raw_async(std::string_view queue, std::string_view body, const PublishOptions& options,
                                 ConfirmCallback on_confirm, std::chrono::milliseconds timeout) {
  return submit_message(queue, zmq::message_t(body.data(), body.size()), options,
                        std::move(on_confirm), timeout);
}

bool Producer::try_publish_raw_async(std::string_view queue, std::string_view body,
                                     const PublishOptions& options, ConfirmCallback on_confirm) {
  return submit_message(queue, zmq::message_t(body.data(), body.size()), options,
                        std::move(on_confirm), std::chrono::milliseconds(0));
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  if (sharded_) return sharded_->flush(timeout);
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

bool Producer::wait_connected(std::chrono::milliseconds timeout) {
  if (sharded_) return sharded_->wait_connected(timeout);
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_until(lock, detail::deadline_after(timeout), [&] { return impl_->connected; });
}

const std::string& Producer::endpoint() const noexcept {
  return sharded_ ? sharded_->description : impl_->link.endpoint();
}

std::chrono::milliseconds Producer::default_publish_timeout() const noexcept {
  return sharded_ ? sharded_->base.publish_timeout : impl_->options.publish_timeout;
}

std::size_t Producer::unconfirmed() const noexcept {
  if (sharded_) return sharded_->unconfirmed();
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->in_window;
}
std::uint64_t Producer::confirmed() const noexcept {
  return sharded_ ? sharded_->sum(&Producer::confirmed) : impl_->n_confirmed.load();
}
std::uint64_t Producer::duplicates() const noexcept {
  return sharded_ ? sharded_->sum(&Producer::duplicates) : impl_->n_dup.load();
}
std::uint64_t Producer::batches_sent() const noexcept {
  return sharded_ ? sharded_->sum(&Producer::batches_sent) : impl_->n_batches.load();
}
std::uint64_t Producer::messages_sent() const noexcept {
  return sharded_ ? sharded_->sum(&Producer::messages_sent) : impl_->n_sent.load();
}
std::uint64_t Producer::resent() const noexcept {
  return sharded_ ? sharded_->sum(&Producer::resent) : impl_->n_resent.load();
}
std::uint64_t Producer::reconnects() const noexcept {
  return sharded_ ? sharded_->sum(&Producer::reconnects) : impl_->n_reconnects.load();
}
std::uint64_t Producer::full_retries() const noexcept {
  return sharded_ ? sharded_->sum(&Producer::full_retries) : impl_->n_full_retries.load();
}

}  // namespace courier
