#include <courier/admin.hpp>

#include "eventfd_wakeup.hpp"
#include "protocol/cqp1.hpp"
#include "protocol/replies.hpp"
#include "protocol/requests.hpp"
#include "proxy_link.hpp"
#include "zmq_util.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <vector>

namespace courier {

namespace {

using detail::Clock;
using Millis = std::chrono::milliseconds;

void check_queue(std::string_view queue, const char* what) {
  if (!cqp1::valid_queue_name(queue)) {
    throw ConfigError(std::string(what) + ": queue name '" + std::string(queue.substr(0, 64)) +
                      "' is not valid: use 1-200 bytes of [A-Za-z0-9._:-]");
  }
}

std::uint64_t non_negative_ms(const std::optional<Millis>& d, const char* option) {
  if (d->count() < 0) {
    throw ConfigError(std::string("QueueOptions::") + option + " must be >= 0 ms (0 = none)");
  }
  return static_cast<std::uint64_t>(d->count());
}

// A shard map proxy name (shard_map.hpp), or "" (clears a moved_to mark).
bool valid_proxy_name_or_empty(const std::string& name) {
  if (name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

QueueRates rates(const ProxyStats& earlier, const ProxyStats& later) noexcept {
  static const QueueStats zero;
  const bool restarted = later.uptime_ms < earlier.uptime_ms;
  const std::uint64_t ms = restarted ? later.uptime_ms : later.uptime_ms - earlier.uptime_ms;
  const double seconds = static_cast<double>(ms) / 1000.0;
  QueueRates out;
  for (const auto& [name, now] : later.queues) {
    const QueueStats* before = &zero;
    if (!restarted) {
      auto it = earlier.queues.find(name);
      // A counter that went down: the queue was deleted and made again.
      if (it != earlier.queues.end() && now.put >= it->second.put && now.acked >= it->second.acked &&
          now.delivered >= it->second.delivered) {
        before = &it->second;
      }
    }
    QueueRate r;
    if (ms > 0) {
      r.put_per_s = static_cast<double>(now.put - before->put) / seconds;
      r.acked_per_s = static_cast<double>(now.acked - before->acked) / seconds;
      r.delivered_per_s = static_cast<double>(now.delivered - before->delivered) / seconds;
    }
    out.emplace(name, r);
  }
  return out;
}

struct Admin::Impl {
  AdminOptions options;
  std::mutex mu;                // one call at a time: answers match by command
  detail::ProxyLink link;       // guarded by mu
  detail::EventfdWakeup wake;   // ProxyLink::wait polls one; nothing needs to wake an Admin
  bool connected = false;       // guarded by mu: link is open and usable
  Clock::time_point last_answer{};
  msgpack::sbuffer header;
  msgpack::zone zone;
  detail::Incoming in;

  explicit Impl(AdminOptions o)
      : options(std::move(o)),
        link(detail::LinkConfig{options.endpoint.empty() ? default_proxy_endpoint() : options.endpoint,
                                options.client_name, Millis(1000), options.socket, options.context}) {
    if (options.timeout.count() <= 0) throw ConfigError("AdminOptions::timeout must be > 0 ms");
  }

  ~Impl() {
    if (connected) link.close(true, std::min(options.socket.linger, Millis(1000)));
  }

  // Sends `header` as `command` and waits for `answer` (or an ERROR), then
  // hands the answer's header to `read` (valid only during that call).
  // A silent or dropped connection within the timeout gets a fresh one and
  // the request again. STATS and DECLARE are idempotent; a PURGE repeated
  // after a lost answer reports only what the second one removed, and a
  // DELETE repeated so may answer 404 (the first one did it).
  template <class Read>
  void call(std::string_view command, cqp1::Command answer, std::string_view queue, Read&& read) {
    const auto deadline = detail::deadline_after(options.timeout);
    auto now = Clock::now();
    // The proxy ends a session silent for 3 x hb: a new one says HELLO again.
    if (!connected || now - last_answer >= 3 * link.heartbeat()) {
      connected = false;
      link.open();
      connected = true;
      last_answer = now;
    }
    link.send(command, header);
    cqp1::HeaderView h = cqp1::HeaderView::parse("\x80", 1, zone);
    const std::uint64_t malformed_before = link.malformed();
    for (;;) {
      while (link.receive(in, zone, &h)) {
        last_answer = Clock::now();
        try {
          if (in.command == answer && (queue.empty() || cqp1::read_queue(h).value_or(queue) == queue)) {
            read(h);
            return;
          }
          // Untagged and without delivery ids: the answer to this request.
          if (in.command == cqp1::Command::ERROR) {
            const auto e = cqp1::ErrorReply::read(h);
            if (e.answers_request()) {
              throw RemoteError(e.code, std::string(e.reason) + " (" + std::string(command) +
                                            (queue.empty() ? "" : " ") + std::string(queue) + " at " +
                                            link.endpoint() + ")");
            }
          }
        } catch (const cqp1::BadRequest& e) {
          connected = false;
          throw ProtocolError("courier-proxy at " + link.endpoint() + " answered " + std::string(command) +
                              " with a header that does not follow PROTOCOL.md §3.2: " + e.what());
        }
        // WELCOME, PONG: liveness only.
      }
      // One request at a time to one peer: a message that is not CQP1 means
      // the peer is no courier-proxy. Say so now rather than time out.
      if (link.malformed() != malformed_before) {
        connected = false;
        throw ProtocolError("the peer at " + link.endpoint() + " answered " + std::string(command) +
                            " with a message that is not CQP1 (PROTOCOL.md §3): is it a courier-proxy?");
      }
      now = Clock::now();
      if (now >= deadline) {
        connected = false;  // a late answer must not be read as the next call's
        throw TimeoutError(std::string(command) + (queue.empty() ? "" : " ") + std::string(queue) +
                           " via " + link.endpoint() + ": no answer within " +
                           std::to_string(options.timeout.count()) +
                           " ms (is courier-proxy running there? raise AdminOptions::timeout if it is busy)");
      }
      if (!link.keep_alive(now)) {  // silent or disconnected: a new session, the request again
        link.open();
        link.send(command, header);
      }
      link.wait(wake, std::min(deadline, link.next_deadline()));
    }
  }
};

// ---- Sharded: one inner Admin per proxy ------------------------------------------

namespace {

std::string where(const ShardProxy& p) { return " [proxy '" + p.name + "' at " + p.endpoint + "]"; }

// Runs `f` (a call on `p`'s Admin) and rethrows its error with the proxy named.
template <class F>
auto naming(const ShardProxy& p, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const RemoteError& e) {
    throw RemoteError(e.status(), e.reason() + where(p));
  } catch (const TimeoutError& e) {
    throw TimeoutError(e.what() + where(p));
  } catch (const ProtocolError& e) {
    throw ProtocolError(e.what() + where(p));
  } catch (const ClosedError& e) {
    throw ClosedError(e.what() + where(p));
  } catch (const ConfigError& e) {
    throw ConfigError(e.what() + where(p));
  }
}

}  // namespace

struct Admin::Sharded {
  AdminOptions base;
  std::shared_ptr<ShardMapSource> source;
  std::string description;
  std::mutex mu;  // guards admins
  // By endpoint; an inner Admin serializes its own calls, so calls to
  // different proxies from different threads go on at once.
  std::map<std::string, std::shared_ptr<Admin>, std::less<>> admins;

  explicit Sharded(AdminOptions o) : base(std::move(o)) {
    if (!base.endpoint.empty()) {
      throw ConfigError("AdminOptions: both endpoint ('" + base.endpoint +
                        "') and shards are set; pick one (shards routes each queue to its proxy)");
    }
    if (base.timeout.count() <= 0) throw ConfigError("AdminOptions::timeout must be > 0 ms");
    source = std::move(base.shards);
    description = "shards: " + source->description();
  }

  std::shared_ptr<Admin> admin_for(const ShardProxy& p) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = admins.find(p.endpoint);
    if (it != admins.end()) return it->second;
    AdminOptions o = base;
    o.endpoint = p.endpoint;
    o.shards.reset();
    return admins.emplace(p.endpoint, std::make_shared<Admin>(std::move(o))).first->second;
  }

  // The queue's owner now. Throws: ConfigError (an empty map).
  ShardProxy owner(std::string_view queue) const { return source->current()->owner(queue); }

  std::vector<ProxyStats> stats_by_proxy() {
    const auto map = source->current();
    if (map->empty()) {
      throw ConfigError("Admin::stats_by_proxy: the shard map (" + source->description() + ") lists no proxy");
    }
    std::vector<ProxyStats> out;
    for (const ShardProxy& p : map->proxies()) {
      ProxyStats s;
      try {
        s = naming(p, [&] { return admin_for(p)->stats(); });
        s.reachable = true;
      } catch (const Error& e) {
        s = ProxyStats{};
        s.reachable = false;
        s.error = e.what();
      }
      s.name = p.name;
      s.endpoint = p.endpoint;
      out.push_back(std::move(s));
    }
    // Forget the connections of proxies that left the map.
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = admins.begin(); it != admins.end();) {
      bool listed = false;
      for (const ShardProxy& p : map->proxies()) listed = listed || p.endpoint == it->first;
      it = listed ? std::next(it) : admins.erase(it);
    }
    return out;
  }

  ProxyStats stats() {
    ProxyStats merged;
    bool first = true;
    for (ProxyStats& s : stats_by_proxy()) {
      if (!s.reachable) {
        throw TimeoutError("Admin::stats: proxy '" + s.name + "' at " + s.endpoint + " did not answer (" +
                           s.error + "); stats_by_proxy() reports the others");
      }
      merged.clients += s.clients;
      merged.uptime_ms = first ? s.uptime_ms : std::min(merged.uptime_ms, s.uptime_ms);
      first = false;
      for (auto& [name, q] : s.queues) {
        auto [it, fresh] = merged.queues.emplace(name, q);
        if (fresh) continue;
        QueueStats& m = it->second;  // on two proxies: a move under way
        m.depth += q.depth;
        m.inflight += q.inflight;
        m.consumers += q.consumers;
        m.delayed += q.delayed;
        m.put += q.put;
        m.delivered += q.delivered;
        m.acked += q.acked;
        m.redelivered += q.redelivered;
        m.dead_lettered += q.dead_lettered;
        m.dropped += q.dropped;
        m.expired += q.expired;
        if (!m.tokens) m.tokens = q.tokens;
        if (!q.moved_to) m.moved_to.reset();  // the copy that still takes PUTs is the queue now
      }
    }
    return merged;
  }
};

// ---- Admin ------------------------------------------------------------------------

Admin::Admin(AdminOptions options) {
  if (options.shards) {
    sharded_ = std::make_unique<Sharded>(std::move(options));
  } else {
    impl_ = std::make_unique<Impl>(std::move(options));
  }
}
Admin::Admin(Admin&&) noexcept = default;
Admin& Admin::operator=(Admin&& other) noexcept {
  if (this != &other) {
    Admin dying(std::move(*this));
    impl_ = std::move(other.impl_);
    sharded_ = std::move(other.sharded_);
  }
  return *this;
}
Admin::~Admin() = default;

ProxyStats Admin::stats() {
  if (sharded_) return sharded_->stats();
  std::lock_guard<std::mutex> lock(impl_->mu);
  cqp1::encode(impl_->header, cqp1::QueueOnly{});
  ProxyStats out;
  impl_->call("STATS", cqp1::Command::STATS, {}, [&](const cqp1::HeaderView& h) { out = cqp1::read_stats(h); });
  return out;
}

std::vector<ProxyStats> Admin::stats_by_proxy() {
  if (sharded_) return sharded_->stats_by_proxy();
  ProxyStats s;
  try {
    s = stats();
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    s = ProxyStats{};
    s.reachable = false;
    s.error = e.what();
  }
  s.endpoint = impl_->link.endpoint();
  return {std::move(s)};
}

std::optional<QueueStats> Admin::stats(std::string_view queue) {
  check_queue(queue, "Admin::stats");
  if (sharded_) {
    const ShardProxy p = sharded_->owner(queue);
    return naming(p, [&] { return sharded_->admin_for(p)->stats(queue); });
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  cqp1::encode(impl_->header, cqp1::QueueOnly{queue});
  std::optional<QueueStats> out;
  // STATS answers carry no "q": matched by command (one call at a time).
  impl_->call("STATS", cqp1::Command::STATS, {}, [&](const cqp1::HeaderView& h) {
    ProxyStats all = cqp1::read_stats(h);
    if (auto it = all.queues.find(std::string(queue)); it != all.queues.end()) out = it->second;
  });
  return out;
}

std::uint64_t Admin::declare(std::string_view queue, const QueueOptions& o) {
  check_queue(queue, "Admin::declare");
  if (o.dead_letter) check_queue(*o.dead_letter, "QueueOptions::dead_letter");
  if (o.tokens && (*o.tokens < 1 || *o.tokens > 65536)) {
    throw ConfigError("QueueOptions::tokens is " + std::to_string(*o.tokens) + "; a token queue has 1..65536");
  }
  if (o.moved_to && !valid_proxy_name_or_empty(*o.moved_to)) {
    throw ConfigError("QueueOptions::moved_to '" + o.moved_to->substr(0, 64) +
                      "' is not a proxy name: use 1-64 bytes of [A-Za-z0-9._-] (a name in the shard map), "
                      "or \"\" to remove the mark");
  }
  std::optional<std::uint64_t> ttl, ack_timeout;
  if (o.ttl) ttl = non_negative_ms(o.ttl, "ttl");
  if (o.ack_timeout) ack_timeout = non_negative_ms(o.ack_timeout, "ack_timeout");
  if (sharded_) {
    const ShardProxy p = sharded_->owner(queue);
    return naming(p, [&] { return sharded_->admin_for(p)->declare(queue, o); });
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  cqp1::Declare m;
  m.queue = queue;
  m.max_length = o.max_length;
  m.max_attempts = o.max_attempts;
  m.ttl = ttl;
  m.ack_timeout = ack_timeout;
  if (o.dead_letter) m.dead_letter = *o.dead_letter;
  if (o.tokens) m.tokens = *o.tokens;
  if (o.moved_to) m.moved_to = *o.moved_to;
  cqp1::encode(impl_->header, m);
  std::uint64_t depth = 0;
  impl_->call("DECLARE", cqp1::Command::DECLARED, queue,
              [&](const cqp1::HeaderView& h) { depth = cqp1::read_depth(h); });
  return depth;
}

std::uint64_t Admin::purge(std::string_view queue) {
  check_queue(queue, "Admin::purge");
  if (sharded_) {
    const ShardProxy p = sharded_->owner(queue);
    return naming(p, [&] { return sharded_->admin_for(p)->purge(queue); });
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  cqp1::encode(impl_->header, cqp1::QueueOnly{queue});
  std::uint64_t removed = 0;
  impl_->call("PURGE", cqp1::Command::PURGED, queue,
              [&](const cqp1::HeaderView& h) { removed = cqp1::read_removed(h); });
  return removed;
}

void Admin::remove(std::string_view queue) {
  check_queue(queue, "Admin::remove");
  if (sharded_) {
    const ShardProxy p = sharded_->owner(queue);
    naming(p, [&] { sharded_->admin_for(p)->remove(queue); });
    return;
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  cqp1::encode(impl_->header, cqp1::QueueOnly{queue});
  impl_->call("DELETE", cqp1::Command::DELETED, queue, [](const cqp1::HeaderView&) {});
}

const std::string& Admin::endpoint() const noexcept {
  return sharded_ ? sharded_->description : impl_->link.endpoint();
}

}  // namespace courier
