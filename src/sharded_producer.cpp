// The routing layer of a sharded Producer: see sharded_producer.hpp and
// producer.hpp "Sharded".
#include "sharded_producer.hpp"

#include "auto_id.hpp"
#include "moved_error.hpp"
#include "protocol/cqp1.hpp"
#include "zmq_util.hpp"

#include <cstdio>
#include <random>
#include <utility>

namespace courier {

namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// A message is sent on at most this many times after 421s: two proxies that
// each say the other owns the queue must not bounce it for ever.
constexpr int kMaxRedirects = 4;
// Refreshing the source reads a file or asks etcd: a batch of refused
// messages asks once.
constexpr Millis kRefreshSpacing{50};

// Non-zero while this thread runs a user's confirm callback for a sharded
// Producer: publishing from there must not wait for room, and flush() or
// publish() there would deadlock (as without shards).
thread_local int t_in_callback = 0;

std::string random_hex() {
  std::random_device rd;
  const std::uint64_t r = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(r));
  return buf;
}

std::string where(const ShardProxy& p) { return " [proxy '" + p.name + "' at " + p.endpoint + "]"; }

// The same error with the proxy it came from named in its text.
std::exception_ptr naming(std::exception_ptr e, const ShardProxy& p) {
  if (!e) return e;
  const std::string w = where(p);
  try {
    std::rethrow_exception(e);
  } catch (const RemoteError& x) {
    return std::make_exception_ptr(RemoteError(x.status(), x.reason() + w));
  } catch (const TimeoutError& x) {
    return std::make_exception_ptr(TimeoutError(x.what() + w));
  } catch (const ClosedError& x) {
    return std::make_exception_ptr(ClosedError(x.what() + w));
  } catch (const ConfigError& x) {
    return std::make_exception_ptr(ConfigError(x.what() + w));
  } catch (...) {
    return e;
  }
}

[[noreturn]] void rethrow_naming(std::exception_ptr e, const ShardProxy& p) {
  std::rethrow_exception(naming(std::move(e), p));
}

std::exception_ptr moved_nowhere(std::string_view queue, const ShardProxy& from, const std::string& moved_to) {
  return std::make_exception_ptr(RemoteError(
      cqp1::kMoved, "queue " + std::string(queue) + " moved away from proxy '" + from.name + "' at " +
                        from.endpoint + " to " +
                        (moved_to.empty() ? std::string("a proxy it did not name")
                                          : "proxy '" + moved_to + "'") +
                        ", which the shard map does not list (yet): publish the map that has it, "
                        "or check `courier move`"));
}

}  // namespace

struct Producer::Sharded::Pending {
  std::string queue;
  zmq::message_t body;      // a shared copy, kept for a redirect
  PublishOptions options;   // with the id fixed
  ConfirmCallback user;
  ShardProxy via;           // where it was sent last
  int hops = 0;
};

// ---- set-up and tear-down -------------------------------------------------------

Producer::Sharded::Sharded(ProducerOptions options) : base(std::move(options)) {
  if (!base.endpoint.empty()) {
    throw ConfigError("ProducerOptions: both endpoint ('" + base.endpoint +
                      "') and shards are set; pick one (shards routes each queue to its proxy)");
  }
  if (base.window == 0) throw ConfigError("ProducerOptions::window must be at least 1");
  if (base.confirm_timeout.count() <= 0) throw ConfigError("ProducerOptions::confirm_timeout must be > 0 ms");
  if (base.full_wait.count() < 0) {
    throw ConfigError("ProducerOptions::full_wait must be >= 0 ms (0 = fail at once on a full queue)");
  }
  source = std::move(base.shards);
  description = "shards: " + source->description();
  prefix = (base.id_prefix.empty() ? random_hex() : base.id_prefix) + "-";
  map = source->current();
}

Producer::Sharded::~Sharded() {
  // Phase 1: let what is unconfirmed finish, redirects included (inner
  // Producers still take them). Not from a callback: it is one of them.
  const auto deadline = detail::deadline_after(base.close_timeout);
  std::vector<Member> all;
  {
    std::unique_lock<std::mutex> lock(mu);
    closing = true;
    if (t_in_callback == 0) cv.wait_until(lock, deadline, [&] { return outstanding == 0; });
    shut = true;
    for (auto& kv : members) all.push_back(std::move(kv.second));
    members.clear();
    for (auto& m : retiring) all.push_back(std::move(m));
    retiring.clear();
  }
  // Phase 2: every inner Producer closes at once with what time is left, so
  // closing N proxies costs one close_timeout, not N.
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
  for (auto& m : all) m.producer->begin_close(std::max(left, Millis(0)));
  all.clear();  // joins each (its failures reach on_outcome, which needs `this`)
}

// ---- routing --------------------------------------------------------------------

PublishOptions Producer::Sharded::with_id(const PublishOptions& options) {
  PublishOptions o = options;
  // The id is given here, once: it stays the same on whatever proxy the
  // message is stored, so a resend after a 421 or a `courier move` copy
  // dedups against it.
  if (o.id.empty()) {
    char buf[detail::kAutoCounterMax];
    o.id = prefix;
    o.id += detail::sortable_counter(next_id++, buf);
  }
  return o;
}

void Producer::Sharded::follow_map_locked(std::vector<std::shared_ptr<Producer>>* to_close) {
  if (source->version() != map->version()) {
    auto next = source->current();
    if (next->version() > map->version()) {
      map = std::move(next);
      for (auto it = members.begin(); it != members.end();) {
        const ShardProxy* now = nullptr;
        for (const auto& p : map->proxies()) {
          if (p.endpoint == it->first) now = &p;
        }
        if (now != nullptr) {
          it->second.proxy = *now;  // renamed or reweighted: same connection
          ++it;
        } else {
          // Out of the map: it finishes what it holds, then closes (sweep).
          retiring.push_back(std::move(it->second));
          it = members.erase(it);
        }
      }
    }
  }
  if (to_close != nullptr) sweep(*to_close);
}

void Producer::Sharded::sweep(std::vector<std::shared_ptr<Producer>>& to_close) {
  for (auto it = retiring.begin(); it != retiring.end();) {
    if (it->producer->unconfirmed() == 0) {
      for (Counter c : {&Producer::confirmed, &Producer::duplicates, &Producer::batches_sent,
                        &Producer::messages_sent, &Producer::resent, &Producer::reconnects,
                        &Producer::full_retries}) {
        bool found = false;
        for (auto& [k, v] : closed_totals) {
          if (k == c) {
            v += ((*it->producer).*c)();
            found = true;
          }
        }
        if (!found) closed_totals.emplace_back(c, ((*it->producer).*c)());
      }
      to_close.push_back(std::move(it->producer));
      it = retiring.erase(it);
    } else {
      ++it;
    }
  }
}

Producer::Sharded::Member& Producer::Sharded::member_locked(const ShardProxy& proxy) {
  if (shut) throw ClosedError("producer (" + description + ") is closed");
  auto it = members.find(proxy.endpoint);
  if (it != members.end()) return it->second;
  // A proxy that left the map and came back: its old connection serves again.
  for (auto r = retiring.begin(); r != retiring.end(); ++r) {
    if (r->proxy.endpoint == proxy.endpoint) {
      Member m = std::move(*r);
      retiring.erase(r);
      m.proxy = proxy;
      return members.emplace(proxy.endpoint, std::move(m)).first->second;
    }
  }
  ProducerOptions o = base;
  o.endpoint = proxy.endpoint;
  o.shards.reset();
  o.id_prefix = prefix.substr(0, prefix.size() - 1);  // ids are always given; kept for the logs
  Member m{proxy, std::make_shared<Producer>(std::move(o))};
  return members.emplace(proxy.endpoint, std::move(m)).first->second;
}

std::optional<ShardProxy> Producer::Sharded::redirect_target(std::string_view queue,
                                                             const std::string& from_endpoint,
                                                             const std::string& moved_to) {
  bool ask = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    const auto now = Clock::now();
    // The map may already know (another message's 421 refreshed it).
    try {
      ask = map->owner(queue).endpoint == from_endpoint && now - last_refresh >= kRefreshSpacing;
    } catch (const ConfigError&) {
      ask = true;
    }
    if (ask) last_refresh = now;
  }
  if (ask) (void)source->refresh();
  std::optional<ShardProxy> out;
  {
    std::lock_guard<std::mutex> lock(mu);
    follow_map_locked(nullptr);
    try {
      const ShardProxy& owner = map->owner(queue);
      if (owner.endpoint != from_endpoint) out = owner;
    } catch (const ConfigError&) {
    }
    if (!out && !moved_to.empty()) {
      const ShardProxy* named = map->find(moved_to);
      if (named != nullptr && named->endpoint != from_endpoint) out = *named;
    }
  }
  return out;
}

// ---- publishing -----------------------------------------------------------------

std::uint64_t Producer::Sharded::publish(std::string_view queue, zmq::message_t body,
                                         const PublishOptions& options, std::chrono::milliseconds timeout) {
  if (t_in_callback != 0) {
    throw ConfigError("Producer::publish() from a confirm callback would deadlock: callbacks run on an "
                      "I/O thread of the producer, which must receive that confirm");
  }
  const PublishOptions o = with_id(options);
  std::optional<ShardProxy> target;
  std::shared_ptr<Producer> inner;
  {
    std::vector<std::shared_ptr<Producer>> to_close;
    std::lock_guard<std::mutex> lock(mu);
    if (closing) throw ClosedError("producer (" + description + ") is closed");
    follow_map_locked(&to_close);
    const ShardProxy& owner = map->owner(queue);  // ConfigError: empty map
    Member& m = member_locked(owner);
    target = m.proxy;
    inner = m.producer;
    ++outstanding;
  }
  struct Done {
    Sharded* s;
    ~Done() {
      {
        std::lock_guard<std::mutex> lock(s->mu);
        --s->outstanding;
      }
      s->cv.notify_all();
    }
  } done{this};
  for (int hop = 0;; ++hop) {
    zmq::message_t copy;
    copy.copy(body);  // shares the buffer; kept for a redirect
    try {
      return inner->publish_message(queue, std::move(copy), o, timeout);
    } catch (const detail::MovedError& e) {
      const std::string moved_to = e.moved_to();
      std::optional<ShardProxy> next =
          hop < kMaxRedirects ? redirect_target(queue, target->endpoint, moved_to) : std::nullopt;
      if (!next) std::rethrow_exception(moved_nowhere(queue, *target, moved_to));
      std::vector<std::shared_ptr<Producer>> to_close;
      std::lock_guard<std::mutex> lock(mu);
      Member& m = member_locked(*next);
      target = m.proxy;
      inner = m.producer;
    } catch (const Error&) {
      rethrow_naming(std::current_exception(), *target);
    }
  }
}

bool Producer::Sharded::submit(std::string_view queue, zmq::message_t body, const PublishOptions& options,
                               ConfirmCallback on_confirm, std::optional<std::chrono::milliseconds> wait) {
  auto p = std::make_shared<Pending>();
  p->queue = std::string(queue);
  p->options = with_id(options);
  p->user = std::move(on_confirm);
  p->body.copy(body);
  std::shared_ptr<Producer> inner;
  {
    std::vector<std::shared_ptr<Producer>> to_close;
    std::lock_guard<std::mutex> lock(mu);
    if (closing) throw ClosedError("producer (" + description + ") is closed");
    follow_map_locked(&to_close);
    const ShardProxy& owner = map->owner(queue);
    Member& m = member_locked(owner);
    p->via = m.proxy;
    inner = m.producer;
    ++outstanding;
  }
  ConfirmCallback cb = [this, p](const Confirm& c) { on_outcome(p, c); };
  try {
    bool queued = true;
    if (t_in_callback != 0) {
      // From a confirm callback: never wait (as without shards).
      inner->submit_unbounded(queue, std::move(body), p->options, std::move(cb));
    } else {
      queued = inner->submit_message(queue, std::move(body), p->options, std::move(cb), wait);
    }
    if (!queued) {
      {
        std::lock_guard<std::mutex> lock(mu);
        --outstanding;
      }
      cv.notify_all();
    }
    return queued;
  } catch (const Error&) {
    {
      std::lock_guard<std::mutex> lock(mu);
      --outstanding;
    }
    cv.notify_all();
    rethrow_naming(std::current_exception(), p->via);
  }
}

// Runs on an inner Producer's I/O thread.
void Producer::Sharded::on_outcome(const std::shared_ptr<Pending>& p, const Confirm& c) {
  if (c.error) {
    std::string moved_to;
    bool moved = false;
    try {
      std::rethrow_exception(c.error);
    } catch (const detail::MovedError& e) {
      moved = true;
      moved_to = e.moved_to();
    } catch (...) {
    }
    if (moved) {
      std::optional<ShardProxy> next =
          p->hops < kMaxRedirects ? redirect_target(p->queue, p->via.endpoint, moved_to) : std::nullopt;
      if (next) {
        std::lock_guard<std::mutex> lock(mu);
        const ShardProxy from = p->via;
        try {
          Member& m = member_locked(*next);
          zmq::message_t copy;
          copy.copy(p->body);
          p->via = m.proxy;  // before the submit: its outcome may come at once
          ++p->hops;
          // Under the lock (never waits): the member cannot retire meanwhile.
          m.producer->submit_unbounded(p->queue, std::move(copy), p->options,
                                       [this, p](const Confirm& again) { on_outcome(p, again); });
          return;
        } catch (const Error&) {
          p->via = from;  // closing: reported below as the refusal it was
        }
      }
      Confirm out = c;
      out.error = moved_nowhere(p->queue, p->via, moved_to);
      finish(p, std::move(out));
      return;
    }
    Confirm out = c;
    out.error = naming(c.error, p->via);
    finish(p, std::move(out));
    return;
  }
  finish(p, c);
}

void Producer::Sharded::finish(const std::shared_ptr<Pending>& p, Confirm c) {
  std::exception_ptr unreport;
  if (p->user) {
    ++t_in_callback;
    try {
      p->user(c);
    } catch (...) {
      // a throwing callback must not take an I/O thread down
    }
    --t_in_callback;
  } else if (c.error) {
    unreport = c.error;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    if (unreport && !unreported) unreported = unreport;
    --outstanding;
  }
  cv.notify_all();
}

// ---- waiting and counting -------------------------------------------------------

bool Producer::Sharded::flush(std::chrono::milliseconds timeout) {
  if (t_in_callback != 0) {
    throw ConfigError("Producer::flush() from a confirm callback would deadlock: callbacks run on an "
                      "I/O thread of the producer, which must receive that confirm");
  }
  std::vector<std::shared_ptr<Producer>> to_close;
  std::unique_lock<std::mutex> lock(mu);
  const bool empty = cv.wait_until(lock, detail::deadline_after(timeout), [&] { return outstanding == 0; });
  sweep(to_close);
  if (unreported) {
    std::exception_ptr e = unreported;
    unreported = nullptr;
    lock.unlock();
    std::rethrow_exception(e);
  }
  return empty;
}

bool Producer::Sharded::wait_connected(std::chrono::milliseconds timeout) {
  const auto deadline = detail::deadline_after(timeout);
  std::vector<std::shared_ptr<Producer>> inners;
  {
    std::vector<std::shared_ptr<Producer>> to_close;
    std::lock_guard<std::mutex> lock(mu);
    follow_map_locked(&to_close);
    for (const auto& proxy : map->proxies()) inners.push_back(member_locked(proxy).producer);
  }
  for (auto& p : inners) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    if (!p->wait_connected(std::max(left, Millis(0)))) return false;
  }
  return true;
}

std::size_t Producer::Sharded::unconfirmed() const noexcept {
  std::lock_guard<std::mutex> lock(mu);
  return outstanding;
}

std::uint64_t Producer::Sharded::sum(Counter counter) const noexcept {
  std::lock_guard<std::mutex> lock(mu);
  std::uint64_t n = 0;
  for (const auto& [k, v] : closed_totals) {
    if (k == counter) n += v;
  }
  for (const auto& kv : members) n += ((*kv.second.producer).*counter)();
  for (const auto& m : retiring) n += ((*m.producer).*counter)();
  return n;
}

}  // namespace courier
