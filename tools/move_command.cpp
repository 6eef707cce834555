// tools/move_command.cpp — `courier move QUEUE --to PROXY --shards SPEC`:
// gives a queue a new owner without losing or doubling a message
// (docs/scaling.md "Moving a queue").
//
// Steps, each safe to repeat, so an interrupted move is finished by running
// the same command again:
//  1. pin QUEUE to PROXY in the shard map (compare-and-swap on etcd): clients
//     that (re)read the map send new work there;
//  2. DECLARE moved_to=PROXY on every other proxy holding a copy (the old
//     owner first): a late PUT there gets 421 and follows; nothing new lands
//     behind the drain;
//  3. drain each old copy: consume with manual ack, re-publish every message
//     to PROXY under its ORIGINAL producer id (or, for a message without one,
//     an id derived from where it sat: "courier-move:OLD:SEQ:TS"), and ack
//     it on the old proxy only once PROXY has CONFIRMed it. A rerun re-sends
//     what was confirmed but not yet acked; PROXY's dedup window stores it
//     once. Done when the old copy is empty and nothing is in flight.
#include "shard_options.hpp"

#include "proxy_options.hpp"
#include "protocol/cqp1.hpp"

#include <courier/consumer.hpp>
#include <courier/errors.hpp>
#include <courier/producer.hpp>

#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

namespace courier::cli {

namespace {

using Millis = std::chrono::milliseconds;

struct MoveArgs {
  std::string queue;
  std::string to;
  std::string shards;
  CurveArgs curve;
  double timeout = 5;          // each request to a proxy
  double drain_timeout = 60;   // without progress, before giving up (exit 2)
  uint64_t prefetch = 1024;
  double rate = 0;             // messages/s, 0 = as fast as it goes
  bool dry_run = false;        // print the plan only
};

uint64_t field(const json& q, const char* name) {
  auto it = q.find(name);
  return it != q.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

// The queue's figures in one proxy's STATS answer, or nullptr.
const json* copy_in(const ProxyAnswer& a, const std::string& queue) {
  if (!a.ok) return nullptr;
  auto it = a.stats["queues"].find(queue);
  return it == a.stats["queues"].end() ? nullptr : &*it;
}

uint64_t held(const json& q) { return field(q, "depth") + field(q, "inflight") + field(q, "delayed"); }

std::string moved_to_of(const json& q) {
  auto it = q.find("moved_to");
  return it != q.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A file map must be writable in place (write + rename in its directory):
// refused before anything changes, rather than after the drain has begun.
void check_writable(const std::string& spec, const ShardMapSource& source) {
  if (spec.rfind("etcd://", 0) == 0) return;  // etcd says no at publish time (compare-and-swap)
  std::string path = spec.rfind("file:", 0) == 0 ? spec.substr(5) : spec;
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (::access(path.c_str(), W_OK) != 0 || ::access(dir.c_str(), W_OK) != 0) {
    throw CliFailure(kUsage, "the shard map source (" + source.description() +
                                 ") is read-only for this user: a move must write the new pin there; run it "
                                 "where the map file (and its directory) is writable, or keep the map in etcd");
  }
}

// The id a message is re-published under: its producer id when it has one
// (so a producer resending it to the new owner, and a rerun of the move,
// are both dedup'ed), else one derived from where it sat — stable across
// restarts of the old proxy (seq and enqueue time are journaled), so a rerun
// derives the same id.
std::string move_id(const RawDelivery& d, const std::string& from) {
  if (!d.id().empty() && cqp1::valid_utf8(d.id())) return d.id();
  const auto ts = std::chrono::duration_cast<Millis>(d.timestamp().time_since_epoch()).count();
  if (!d.id().empty()) {
    // A bin id that is not UTF-8: the Producer sends str ids, so it gets a
    // stable stand-in (docs/scaling.md, "What a move does not carry").
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : d.id()) h = (h ^ c) * 1099511628211ull;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return "courier-move-bin:" + std::string(buf) + ":" + std::to_string(d.id().size());
  }
  return "courier-move:" + from + ":" + std::to_string(d.seq()) + ":" + std::to_string(ts);
}

// The confirm callbacks (Producer's I/O thread) hand outcomes to the drain loop.
struct Outcomes {
  struct One {
    uint64_t key;
    bool dup;
    std::string error;  // empty = confirmed
  };
  std::mutex mu;
  std::condition_variable arrived;  // the drain loop waits here when its window is full
  std::deque<One> done;
};

struct DrainResult {
  uint64_t moved = 0;  // confirmed by the new owner and acked on the old
  uint64_t dups = 0;   // of those, already stored on the new owner (a rerun)
};

// Drains `queue` on `from` into `to` (see the file comment, step 3).
DrainResult drain(const MoveArgs& a, const ShardProxy& from, const ShardProxy& to) {
  ProducerOptions po;
  po.endpoint = to.endpoint;
  po.socket.curve = curve_options(a.curve, false);
  po.client_name = client_name("move");
  po.close_timeout = Millis(0);
  Producer producer(po);
  if (!producer.wait_connected(Millis(seconds_to_ms(a.timeout)))) {
    throw CliFailure(kTimeout, "no answer from the new owner " + to.name + " at " + to.endpoint + " within " +
                                   seconds_text(a.timeout) + " s; nothing more was moved: rerun when it is up");
  }
  ConsumerOptions co;
  co.endpoint = from.endpoint;
  co.socket.curve = curve_options(a.curve, false);
  co.client_name = client_name("move");
  co.prefetch = static_cast<uint32_t>(a.prefetch);
  Consumer consumer(a.queue, co);
  if (!consumer.wait_consuming(Millis(seconds_to_ms(a.timeout)))) {
    throw CliFailure(kTimeout, "no answer from " + from.name + " at " + from.endpoint + " within " +
                                   seconds_text(a.timeout) + " s; rerun when it is up");
  }
  ProxyProbe probe(from.endpoint, a.curve, client_name("move"));

  auto outcomes = std::make_shared<Outcomes>();
  std::map<uint64_t, RawDelivery> pending;  // re-published, not yet confirmed
  uint64_t next_key = 1;
  DrainResult r;
  std::string failure;
  auto progress_at = Clock::now();
  auto last_report = Clock::now();
  auto next_check = Clock::now();
  bool told_delayed = false;
  const auto started = Clock::now();

  for (;;) {
    // Settle what the new owner answered: ack there-confirmed ones here.
    std::deque<Outcomes::One> done;
    {
      std::lock_guard<std::mutex> lock(outcomes->mu);
      done.swap(outcomes->done);
    }
    for (auto& o : done) {
      auto it = pending.find(o.key);
      if (it == pending.end()) continue;
      if (o.error.empty()) {
        (void)it->second.ack();
        ++r.moved;
        r.dups += o.dup ? 1 : 0;
        progress_at = Clock::now();
      } else {
        (void)it->second.nack(true);  // stays on the old proxy; a rerun takes it
        if (failure.empty()) failure = o.error;
      }
      pending.erase(it);
    }
    if (!failure.empty()) {
      for (auto& [k, d] : pending) (void)d.nack(true);
      (void)consumer.close(Millis(2000));
      throw CliFailure(kRemote, "the new owner " + to.name + " refused a message of " + a.queue + ": " + failure +
                                    "; " + std::to_string(r.moved) +
                                    " were moved, the rest stay on " + from.name + ": fix that and rerun the move");
    }
    if (Clock::now() - last_report >= std::chrono::seconds(2)) {
      last_report = Clock::now();
      std::cerr << "courier move: " << a.queue << ": " << r.moved << " moved from " << from.name << " so far\n";
    }

    // Take the next message and re-publish it under its id.
    const bool throttled = a.rate > 0 && static_cast<double>(r.moved + pending.size()) >=
                                             a.rate * std::chrono::duration<double>(Clock::now() - started).count();
    std::optional<RawDelivery> d;
    if (pending.size() >= a.prefetch) {
      // Every message the old proxy lets us have is waiting for its CONFIRM:
      // nothing can arrive before one is acked, so wait for the confirms.
      std::unique_lock<std::mutex> lock(outcomes->mu);
      outcomes->arrived.wait_for(lock, Millis(20), [&] { return !outcomes->done.empty(); });
      continue;
    }
    if (!throttled) d = consumer.receive_raw(pending.empty() ? Millis(20) : Millis(1));
    else std::this_thread::sleep_for(Millis(5));
    if (d) {
      PublishOptions o;
      o.id = move_id(*d, from.name);
      const uint64_t key = next_key++;
      auto on_confirm = [outcomes, key](const Confirm& c) {
        Outcomes::One one{key, c.dup, {}};
        if (!c.ok()) {
          try {
            std::rethrow_exception(c.error);
          } catch (const RemoteError& e) {
            one.error = std::to_string(e.status()) + " " + error_meaning(e.status()) + " (" + e.reason() + ")";
          } catch (const std::exception& e) {
            one.error = e.what();
          }
        }
        {
          std::lock_guard<std::mutex> lock(outcomes->mu);
          outcomes->done.push_back(std::move(one));
        }
        outcomes->arrived.notify_one();
      };
      const std::string body(d->bytes());
      pending.emplace(key, std::move(*d));
      // The window frees as the new owner confirms; one that stops answering
      // is given the same --drain-timeout as an old copy that stops emptying.
      while (!producer.publish_raw_async(a.queue, body, o, on_confirm, Millis(50))) {
        if (Clock::now() - progress_at >= Millis(seconds_to_ms(a.drain_timeout))) {
          for (auto& [k, p] : pending) (void)p.nack(true);
          (void)consumer.close(Millis(2000));
          throw CliFailure(kTimeout, "the new owner " + to.name + " at " + to.endpoint + " confirmed nothing for " +
                                         seconds_text(a.drain_timeout) + " s; " + std::to_string(r.moved) +
                                         " were moved: rerun the move when it answers (nothing is lost or doubled)");
        }
      }
      continue;
    }

    // Nothing came: is the old copy empty, with nothing in flight?
    if (!pending.empty() || Clock::now() < next_check) continue;
    next_check = Clock::now() + Millis(100);
    ProbeReply s = probe.request("STATS", json{{"q", a.queue}}, Clock::now() + Millis(seconds_to_ms(a.timeout)),
                                 "STATS of " + a.queue + " on " + from.name);
    const json& qs = s.header["queues"][a.queue];
    if (qs.is_null() || held(qs) == 0) break;
    if (field(qs, "delayed") != 0 && !told_delayed) {
      told_delayed = true;
      std::cerr << "courier move: " << a.queue << " on " << from.name << " holds " << field(qs, "delayed")
                << " delayed message(s): they are moved when they come due\n";
    }
    if (Clock::now() - progress_at >= Millis(seconds_to_ms(a.drain_timeout))) {
      (void)consumer.close(Millis(2000));
      throw CliFailure(kTimeout, "nothing moved from " + from.name + " for " + seconds_text(a.drain_timeout) +
                                     " s and its copy of " + a.queue + " still holds " + std::to_string(held(qs)) +
                                     " message(s) (ready " + std::to_string(field(qs, "depth")) + ", in flight " +
                                     std::to_string(field(qs, "inflight")) + ", delayed " +
                                     std::to_string(field(qs, "delayed")) + "); " + std::to_string(r.moved) +
                                     " were moved: rerun the move to go on");
    }
  }
  (void)consumer.close(Millis(2000));
  if (!producer.flush(Millis(1000))) {
    throw CliFailure(kRemote, "internal: confirmed messages still in the window");  // all were confirmed above
  }
  return r;
}

int run_move(const MoveArgs& a) {
  check_queue_name(a.queue);
  auto source = open_shards(a.shards);
  const Millis timeout(seconds_to_ms(a.timeout));
  std::shared_ptr<const ShardMap> map = source->current();
  const ShardProxy* target = map->find(a.to);
  if (target == nullptr) {
    std::string names;
    for (const auto& p : map->proxies()) names += (names.empty() ? "" : ", ") + p.name;
    throw CliFailure(kUsage, "unknown proxy '" + a.to + "': the shard map (" + source->description() + ", version " +
                                 std::to_string(map->version()) + ") lists " + (names.empty() ? "none" : names));
  }
  const ShardProxy to = *target;
  const std::string owner = map->owner(a.queue).name;

  // Where the queue has copies (and how much each holds).
  const auto answers = stats_of_all(*map, a.curve, timeout, a.queue, "move");
  std::vector<ShardProxy> drain_from, mark;
  for (const ProxyAnswer& p : answers) {
    const json* q = copy_in(p, a.queue);
    if (q && q->contains("tokens")) {
      throw CliFailure(kUsage, a.queue + " is a token queue (a lock or semaphore) on " + p.proxy.name +
                                   ": its tokens belong to that proxy, and two copies would grant the lock twice; "
                                   "use a new lock name on " + a.to + " instead");
    }
    if (p.proxy.name == to.name) {
      if (!p.ok) throw CliFailure(kTimeout, "the new owner " + to.name + " at " + to.endpoint + ": " + p.error);
      // Moving back to a proxy the queue once left: its old copy remembers
      // the ids that left with it (dedup window), and would answer `dup` to
      // them, losing them. Only an empty, unconsumed copy can be forgotten
      // (DELETE, which forgets its ids too), so that is required.
      if (q && !moved_to_of(*q).empty()) {
        if (held(*q) != 0) {
          throw CliFailure(kUsage, to.name + " still holds " + std::to_string(held(*q)) + " message(s) of " + a.queue +
                                       " from before it moved away to " + moved_to_of(*q) +
                                       ": finish that move first (courier move " + a.queue + " --to " +
                                       moved_to_of(*q) + "), then move it back; nothing was changed");
        }
        if (field(*q, "consumers") != 0) {
          throw CliFailure(kUsage, to.name + " has " + std::to_string(field(*q, "consumers")) +
                                       " consumer(s) on its old copy of " + a.queue + " (moved to " +
                                       moved_to_of(*q) + "): stop them and rerun; nothing was changed");
        }
      }
      continue;
    }
    const bool is_owner = p.proxy.name == owner;
    if (!p.ok) {
      if (is_owner) {
        throw CliFailure(kTimeout, "the current owner " + owner + " at " + p.proxy.endpoint + " is unreachable (" +
                                       p.error + "): nothing was changed; its messages would wait for it anyway. "
                                       "Rerun when it answers");
      }
      std::cerr << "courier move: warning: " << p.proxy.name << " is unreachable (" << p.error
                << "): a copy of " << a.queue << " there, if any, is not drained: rerun the move when it is up\n";
      continue;
    }
    // Every copy off the new owner is marked, not only the old owner's: a
    // rerun after a move killed between pin and mark finds the old owner
    // only as "a proxy with a copy".
    if (is_owner || (q && moved_to_of(*q) != to.name)) mark.push_back(p.proxy);
    if (is_owner || (q && held(*q) != 0)) drain_from.push_back(p.proxy);
  }
  if (owner == to.name && drain_from.empty() && mark.empty()) {
    throw CliFailure(kUsage, a.queue + " already lives on proxy " + to.name + " (shard map version " +
                                 std::to_string(map->version()) + ") and no other proxy holds any of it: "
                                 "nothing to move");
  }
  if (owner != to.name) check_writable(a.shards, *source);
  if (a.dry_run) {  // the plan, and nothing changed
    json drain = json::object(), marks = json::array();
    for (const ShardProxy& p : mark) marks.push_back(p.name);
    for (const ProxyAnswer& p : answers) {
      for (const ShardProxy& d : drain_from) {
        if (d.name == p.proxy.name) drain[d.name] = copy_in(p, a.queue) ? held(*copy_in(p, a.queue)) : 0;
      }
    }
    bool forget = false;
    for (const ProxyAnswer& p : answers) {
      const json* q = copy_in(p, a.queue);
      forget = forget || (p.proxy.name == to.name && q && !moved_to_of(*q).empty());
    }
    print_line(to_line(json{{"q", a.queue}, {"to", to.name}, {"owner", owner}, {"pin", owner != to.name},
                            {"delete_old_copy_on_target", forget}, {"mark", marks}, {"drain", drain},
                            {"map_version", map->version()}, {"dry_run", true}}));
    return kOk;
  }

  // 0. The new owner must take PUTs, and must not remember the ids that
  // left it in an earlier move away (they would come back as `dup` and be
  // lost): its empty old copy is deleted, mark and remembered ids with it.
  for (const ProxyAnswer& p : answers) {
    const json* q = copy_in(p, a.queue);
    if (p.proxy.name == to.name && q && !moved_to_of(*q).empty()) {
      ProxyProbe probe(to.endpoint, a.curve, client_name("move"));
      probe.request("DELETE", json{{"q", a.queue}}, Clock::now() + timeout,
                    "deleting the old, empty copy of " + a.queue + " on " + to.name);
      std::cerr << "courier move: deleted the empty copy of " << a.queue << " on " << to.name << " (moved_to "
                << moved_to_of(*q) << ", and the ids it remembered): it takes PUTs again\n";
    }
  }

  // 1. Pin, so clients route new work to the new owner. Compare-and-swap:
  // when someone else changed the map meanwhile, reread and pin again.
  const uint64_t version_before = map->version();
  if (owner != to.name) {
    // Another writer shows up either as etcd refusing the swap (RemoteError)
    // or, when this source's watch took its map first, as our version no
    // longer being above the current one (ConfigError): both are retried on
    // the newer map.
    for (int attempt = 1;; ++attempt) {
      map = source->current();
      if (map->owner(a.queue).name == to.name) break;  // someone pinned it meanwhile
      try {
        source->publish(map->with_pin(a.queue, to.name));
        break;
      } catch (const RemoteError& e) {
        if (attempt == 5) throw CliFailure(kRemote, "the shard map kept changing under the move: " + std::string(e.what()));
        (void)source->refresh();
      } catch (const ConfigError& e) {
        if (source->version() > map->version() && attempt < 5) continue;
        throw CliFailure(kUsage, "cannot pin " + a.queue + " to " + to.name + " in the shard map (" +
                                     source->description() + "): " + e.what() + "; nothing was changed");
      }
    }
    map = source->current();
    std::cerr << "courier move: pinned " << a.queue << " to " << to.name << " in the shard map (version "
              << version_before << " -> " << map->version() << ")\n";
  } else {
    std::cerr << "courier move: the shard map already routes " << a.queue << " to " << to.name
              << "; finishing an earlier move\n";
  }

  // 2. Mark the old copies: late PUTs there get 421 and follow the map.
  for (const ShardProxy& p : mark) {
    ProxyProbe probe(p.endpoint, a.curve, client_name("move"));
    probe.request("DECLARE", json{{"q", a.queue}, {"moved_to", to.name}}, Clock::now() + timeout,
                  "marking " + a.queue + " moved on " + p.name);
  }

  // 3. Drain every old copy into the new owner.
  json from = json::object();
  uint64_t moved = 0, dups = 0;
  for (const ShardProxy& p : drain_from) {
    DrainResult r = drain(a, p, to);
    from[p.name] = r.moved;
    moved += r.moved;
    dups += r.dups;
    std::cerr << "courier move: " << a.queue << ": " << r.moved << " message(s) moved from " << p.name << " to "
              << to.name << (r.dups ? " (" + std::to_string(r.dups) + " were already there: a rerun)" : "") << "\n";
  }
  print_line(to_line(json{{"q", a.queue},
                          {"to", to.name},
                          {"from", from},
                          {"moved", moved},
                          {"already_there", dups},
                          {"map_version", map->version()}}));
  return kOk;
}

// ---- courier owner -------------------------------------------------------------

struct OwnerArgs {
  std::vector<std::string> queues;
  std::string shards;
};

// Prints, per queue, the proxy the map sends it to: what every client
// computes (docs/scaling.md), for operators and for checking another
// language's implementation of the score against this one.
int run_owner(const OwnerArgs& a) {
  auto source = open_shards(a.shards);
  const std::shared_ptr<const ShardMap> map = source->current();
  if (map->empty()) throw CliFailure(kUsage, "--shards " + a.shards + ": the shard map lists no proxy");
  int status = kOk;
  (void)for_each_value(a.queues, [&](const std::string& queue, const std::string& where) {
    if (!cqp1::valid_queue_name(queue)) {
      std::cerr << "courier owner: " << where << " '" << queue.substr(0, 60) << "' is not a queue name\n";
      status = kUsage;
      return;
    }
    const ShardProxy& p = map->owner(queue);
    auto pin = map->pins().find(queue);
    print_line(to_line(json{{"q", queue}, {"proxy", p.name}, {"endpoint", p.endpoint},
                            {"pinned", pin != map->pins().end()}}));
  });
  return status;
}

}  // namespace

void add_move_command(CLI::App& app, Action& action) {
  auto own = std::make_shared<OwnerArgs>();
  CLI::App* owner = app.add_subcommand(
      "owner", "Print which proxy of a shard map owns each QUEUE (each stdin line when none is given) as "
               "{\"q\", \"proxy\", \"endpoint\", \"pinned\"} JSON lines.");
  owner->add_option("queues", own->queues, "queue names");
  owner->add_option("--shards", own->shards, "the shard map: etcd://HOST:PORT/KEY or a JSON map file")->required();
  owner->callback([&action, own] { action = [own] { return run_owner(*own); }; });

  auto args = std::make_shared<MoveArgs>();
  CLI::App* move = app.add_subcommand(
      "move", "Give QUEUE a new owner proxy: pin it in the shard map, refuse late PUTs on the old owner (421), "
              "and drain the old copy into the new owner under the original producer ids (exactly once: a "
              "rerun finishes an interrupted move). Prints {\"q\", \"to\", \"from\", \"moved\", ...}.");
  move->add_option("queue", args->queue, "queue name")->required();
  move->add_option("--to", args->to, "name of the new owner in the shard map")->required();
  move->add_option("--shards", args->shards, "the shard map: etcd://HOST:PORT/KEY or a JSON map file")->required();
  add_curve_client_options(move, args->curve);
  move->add_option("--timeout", args->timeout, "seconds to wait for each proxy's answer")
      ->check(positive_seconds())
      ->capture_default_str();
  move->add_option("--drain-timeout", args->drain_timeout,
                   "stop (exit 2) when nothing could be moved for S seconds while the old copy is not empty "
                   "(delayed messages, another consumer's deliveries); rerun to go on")
      ->check(positive_seconds())
      ->capture_default_str();
  move->add_option("--prefetch", args->prefetch, "messages in flight from the old owner at once")
      ->transform(whole_number("messages", 1, 4096))
      ->capture_default_str();
  move->add_option("--rate", args->rate, "at most N messages per second (0 = no limit), to spare busy proxies")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  move->add_flag("--dry-run", args->dry_run,
                 "print the plan ({\"pin\", \"mark\", \"drain\": {proxy: messages}, ...}) and change nothing");
  move->footer("Example:\n  courier move orders --to proxy-b --shards etcd://10.0.0.9:2379/courier/shards");
  move->callback([&action, args] { action = [args] { return run_move(*args); }; });
}

}  // namespace courier::cli
