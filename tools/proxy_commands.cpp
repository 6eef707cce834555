// tools/proxy_commands.cpp — `courier publish`, `consume`, `purge` and
// `declare` (PROTOCOL.md §4.2) on the library's Producer, Consumer and Admin:
// the CLI speaks CQP1 through the same client code as every C++ program.
#include "cli_common.hpp"
#include "json_msgpack.hpp"
#include "curve_options.hpp"
#include "proxy_options.hpp"
#include "shard_options.hpp"
#include "protocol/cqp1.hpp"

#include <courier/admin.hpp>
#include <courier/consumer.hpp>
#include <courier/producer.hpp>

#include <iostream>
#include <memory>
#include <mutex>

namespace courier::cli {

namespace {

using Millis = std::chrono::milliseconds;

// How long a wait lasts before the command looks at its deadlines again.
constexpr Millis kSlice{50};

struct PublishArgs {
  std::string queue;
  std::vector<std::string> values;
  std::string proxy = default_proxy();
  std::optional<std::string> shards;  // --shards: the queue's owner instead of --proxy
  CurveArgs curve;
  std::optional<std::string> id;
  std::optional<uint64_t> delay;
  std::optional<uint64_t> ttl;
  double timeout = 10;
  double full_wait = 30;  // seconds a value refused with 429 is retried
  // With --shards: re-reads the map and returns the queue's owner now.
  std::function<std::string()> reroute;
};

struct ConsumeArgs {
  std::string queue;
  std::string proxy = default_proxy();
  std::optional<std::string> shards;  // --shards: the queue's owner instead of --proxy
  CurveArgs curve;
  std::optional<uint64_t> count;
  std::optional<double> timeout;
  bool no_ack = false;
  bool ack = false;
  bool envelope = false;
  uint64_t credit = 64;
};

struct AdminArgs {  // purge and declare
  std::string queue;
  std::string proxy = default_proxy();
  std::optional<std::string> shards;  // --shards: the queue's owner instead of --proxy
  CurveArgs curve;
  double timeout = 5;
  std::optional<uint64_t> max_length, max_attempts, ttl, ack_timeout;
  std::optional<std::string> dead_letter;
};

Millis seconds_ms(double seconds) { return Millis(seconds_to_ms(seconds)); }

// The exit-2 failure for a proxy that never answered HELLO.
CliFailure no_proxy(const std::string& endpoint, double seconds, const CurveArgs& curve) {
  return CliFailure(kTimeout, "no answer from courier-proxy at " + endpoint + " within " + seconds_text(seconds) +
                                  " s: is it running? (--proxy EP or $COURIER_PROXY_ENDPOINT)" + curve_hint(curve));
}

// Runs an Admin call; a timeout names what CURVE may have to do with it.
template <class F>
auto with_curve_hint(const CurveArgs& curve, F call) {
  try {
    return call();
  } catch (const TimeoutError& e) {
    throw CliFailure(kTimeout, e.what() + curve_hint(curve));
  }
}

// The producer id of the n-th value (1-based): ID, then ID-2, ID-3, ...
std::string nth_id(const std::string& id, std::size_t n) {
  return n == 1 ? id : id + "-" + std::to_string(n);
}

// --- publish -----------------------------------------------------------------

// A value the proxy refused with 421 (the queue moved, docs/PROTOCOL.md
// §3.13): sent again to the new owner when the command routes by --shards.
struct MovedValue {
  std::string body;
  std::string where;
  std::size_t n;  // 1-based position: its --id suffix
};

// What the confirm callbacks (on the Producer's I/O thread) tell the command.
struct PublishOutcomes {
  std::mutex mu;
  int status = kOk;
  uint64_t settled = 0;  // confirmed or failed: progress, for --timeout
  std::vector<MovedValue> moved;
};

// Publishes every value through a Producer, which keeps order, batches, waits
// for room on 429 (--full-wait) and resends after a reconnect (same ids, so
// nothing is stored twice). Each refusal is reported with the value it
// concerns; --timeout S without any progress -> exit 2. With --shards, values
// refused because the queue moved (421) go, in a second round, to the owner
// the re-read map names (at most 3 rounds: a map that keeps moving the queue
// is reported).
int run_publish(const PublishArgs& a) {
  check_queue_name(a.queue);
  if (a.id && (a.id->empty() || a.id->size() > cqp1::kMaxProducerId - 8))
    throw CliFailure(kUsage, "--id must be 1-120 bytes (ids of later values get -2, -3, ... appended)");
  std::vector<std::string> bodies;  // arguments are all checked before anything is sent
  for (std::size_t i = 0; i < a.values.size(); ++i) {
    try {
      bodies.push_back(to_msgpack(parse_json(a.values[i])));
    } catch (const ConversionError& e) {
      throw CliFailure(kUsage, "argument " + std::to_string(i + 1) + " is " + e.what() +
                                   "; quote JSON strings for the shell, e.g. '\"hello\"'");
    }
  }

  auto outcomes = std::make_shared<PublishOutcomes>();
  const bool follow = static_cast<bool>(a.reroute);
  std::string endpoint = a.proxy;
  std::vector<MovedValue> resend;  // rounds after the first: what a 421 sent back
  for (int round = 0;; ++round) {
    ProducerOptions options;
    options.endpoint = endpoint;
    options.socket.curve = curve_options(a.curve, false);
    options.client_name = client_name("publish");
    options.full_wait = seconds_ms(a.full_wait);
    options.close_timeout = Millis(0);  // everything is settled (or given up) before it closes
    Producer producer(options);
    if (!producer.wait_connected(seconds_ms(a.timeout))) throw no_proxy(endpoint, a.timeout, a.curve);

    const Millis timeout = seconds_ms(a.timeout);
    uint64_t last_progress = 0;
    auto progress_at = Clock::now();
    // Exit 2 when nothing was confirmed, refused or retried for --timeout.
    auto check_progress = [&] {
      uint64_t now_progress = producer.full_retries();
      {
        std::lock_guard<std::mutex> lock(outcomes->mu);
        now_progress += outcomes->settled;
      }
      const auto now = Clock::now();
      if (now_progress != last_progress || producer.unconfirmed() == 0) {
        last_progress = now_progress;
        progress_at = now;
      } else if (now - progress_at >= timeout) {
        throw CliFailure(kTimeout, "no CONFIRM for " + std::to_string(producer.unconfirmed()) +
                                       " message(s) within " + seconds_text(a.timeout) +
                                       " s: is courier-proxy at " + endpoint + " still running?");
      }
    };

    auto put = [&](const std::string& body, const std::string& where, std::size_t n) {
      PublishOptions o;
      if (a.id) o.id = nth_id(*a.id, n);
      if (a.delay) o.delay = Millis(*a.delay);
      if (a.ttl) o.ttl = Millis(*a.ttl);
      auto on_confirm = [outcomes, where, n, kept = follow ? body : std::string(), follow, queue = a.queue,
                         full_wait = a.full_wait](const Confirm& c) {
        std::lock_guard<std::mutex> lock(outcomes->mu);
        ++outcomes->settled;
        if (c.ok()) {
          if (c.dup)
            std::cerr << "courier publish: " << where << ": id already stored (dup), kept once at seq " << c.seq
                      << "\n";
          return;
        }
        try {
          std::rethrow_exception(c.error);
        } catch (const RemoteError& e) {
          if (follow && e.status() == cqp1::kMoved) {  // nothing was stored: it goes to the new owner
            outcomes->moved.push_back({kept, where, n});
            return;
          }
          outcomes->status = kRemote;
          std::cerr << "courier publish: " << where << " (PUT to " << queue << "): courier-proxy refused it: "
                    << e.status() << " " << error_meaning(e.status()) << " (" << e.reason() << ")"
                    << (e.status() == 429 && full_wait > 0 ? " (still full after --full-wait " +
                                                                 seconds_text(full_wait) + " s)"
                                                           : std::string())
                    << "\n";
        } catch (const std::exception& e) {
          outcomes->status = kRemote;
          std::cerr << "courier publish: " << where << " (PUT to " << queue << "): " << e.what() << "\n";
        }
      };
      while (!producer.publish_raw_async(a.queue, body, o, on_confirm, kSlice)) check_progress();
    };

    if (round > 0) {
      for (const MovedValue& m : resend) put(m.body, m.where, m.n);
    } else if (!bodies.empty()) {
      for (std::size_t i = 0; i < bodies.size(); ++i) put(bodies[i], "argument " + std::to_string(i + 1), i + 1);
    } else {
      std::size_t n = 0;
      for_each_value({}, [&](const std::string& text, const std::string& where) {
        ++n;
        std::string body;
        try {
          body = to_msgpack(parse_json(text));
        } catch (const ConversionError& e) {
          // Reported and skipped; the other lines still go.
          std::cerr << "courier publish: " << where << " is " << e.what() << "; not sent\n";
          std::lock_guard<std::mutex> lock(outcomes->mu);
          outcomes->status = kRemote;
          return;
        }
        put(body, where, n);
      });
    }
    while (!producer.flush(kSlice)) check_progress();

    std::lock_guard<std::mutex> lock(outcomes->mu);
    if (outcomes->moved.empty()) return outcomes->status;
    resend.clear();
    resend.swap(outcomes->moved);
    const std::string next = round < 2 ? a.reroute() : endpoint;
    if (next == endpoint) {
      for (const MovedValue& m : resend)
        std::cerr << "courier publish: " << m.where << " (PUT to " << a.queue << "): courier-proxy at " << endpoint
                  << " says the queue moved (421), but the shard map still sends it there: the move is not "
                     "finished or the map is stale; publish again later (the same --id is stored once)\n";
      return kRemote;
    }
    std::cerr << "courier publish: " << a.queue << " moved: " << resend.size() << " value(s) go to " << next
              << " (the shard map's owner now)\n";
    endpoint = next;
  }
}

// --- consume -----------------------------------------------------------------

// The producer id as JSON: str, {"$bin": base64} or null.
json id_json(const RawDelivery& d) {
  if (d.id().empty()) return json(nullptr);
  if (d.id_is_binary()) return json{{"$bin", base64_encode(d.id().data(), d.id().size())}};
  return json(d.id());
}

// Prints each delivery as one JSON line, then ACKs it (at least once: a crash
// between print and ACK redelivers). --count N is the Consumer's limit, so
// the proxy never takes message N+1 off the queue (also with --no-ack).
int run_consume(const ConsumeArgs& a) {
  check_queue_name(a.queue);
  if (a.ack && a.no_ack) throw CliFailure(kUsage, "--ack and --no-ack contradict each other: give one");
  const auto deadline = deadline_in(a.timeout);
  ConsumerOptions options;
  options.endpoint = a.proxy;
  options.socket.curve = curve_options(a.curve, false);
  options.client_name = client_name("consume");
  options.prefetch = static_cast<uint32_t>(a.count ? std::min(a.credit, *a.count) : a.credit);
  options.auto_ack = a.no_ack;
  options.limit = a.count;
  Consumer consumer(a.queue, options);
  const double handshake = a.timeout ? std::min(*a.timeout, 10.0) : 10.0;
  if (!consumer.wait_consuming(seconds_ms(handshake))) throw no_proxy(a.proxy, handshake, a.curve);

  uint64_t received = 0, reconnects = 0;
  int status = kOk;
  while (!a.count || received < *a.count) {
    if (deadline && Clock::now() >= *deadline) {
      throw CliFailure(kTimeout, "timed out after " + seconds_text(*a.timeout) + " s with " +
                                     std::to_string(received) +
                                     (a.count ? " of " + std::to_string(*a.count) : std::string()) +
                                     " message(s) from queue " + a.queue);
    }
    if (consumer.reconnects() != reconnects) {
      reconnects = consumer.reconnects();
      std::cerr << "courier consume: lost courier-proxy at " << a.proxy
                << "; reconnected (unacked messages come again)\n";
    }
    std::optional<RawDelivery> d = consumer.receive_raw(Millis(ms_left(deadline, kSlice.count())));
    if (!d) continue;
    ++received;
    try {
      json value = decode_frame(d->bytes().data(), d->bytes().size());
      if (a.envelope) {
        value = json{{"body", std::move(value)}, {"q", a.queue}, {"d", d->delivery_id()}, {"seq", d->seq()},
                     {"attempt", d->attempt()},
                     {"ts", std::chrono::duration_cast<Millis>(d->timestamp().time_since_epoch()).count()},
                     {"id", id_json(*d)}};
      }
      print_line(to_line(value));
      (void)d->ack();
    } catch (const ConversionError& e) {
      status = kRemote;
      std::cerr << "courier consume: delivery " << d->delivery_id() << " (seq " << d->seq()
                << ") is not one msgpack object: " << e.what()
                << (a.no_ack ? "" : "; NACKed without requeue (dead-lettered if the queue has a dead_letter)")
                << "\n";
      (void)d->nack(false);
    }
  }
  // Waits (≤ 2 s) until the proxy has applied the last ACKs, so whoever runs
  // next (a `courier stats`, another consumer) sees them.
  (void)consumer.close(Millis(2000));
  return status;
}

// --- purge / declare -----------------------------------------------------------

Admin admin_for(const AdminArgs& a, const char* command) {
  AdminOptions options;
  options.endpoint = a.proxy;
  options.socket.curve = curve_options(a.curve, false);
  options.client_name = client_name(command);
  options.timeout = seconds_ms(a.timeout);
  return Admin(options);
}

int run_purge(const AdminArgs& a) {
  check_queue_name(a.queue);
  const uint64_t removed = with_curve_hint(a.curve, [&] { return admin_for(a, "purge").purge(a.queue); });
  print_line(to_line(json{{"q", a.queue}, {"removed", removed}}));
  return kOk;
}

int run_declare(const AdminArgs& a) {
  check_queue_name(a.queue);
  if (a.dead_letter) check_queue_name(*a.dead_letter);
  QueueOptions o;
  o.max_length = a.max_length;
  o.max_attempts = a.max_attempts;
  o.dead_letter = a.dead_letter;
  if (a.ttl) o.ttl = Millis(*a.ttl);
  if (a.ack_timeout) o.ack_timeout = Millis(*a.ack_timeout);
  const uint64_t depth = with_curve_hint(a.curve, [&] { return admin_for(a, "declare").declare(a.queue, o); });
  print_line(to_line(json{{"q", a.queue}, {"depth", depth}}));
  return kOk;
}

}  // namespace

void add_proxy_commands(CLI::App& app, Action& action) {
  auto pub = std::make_shared<PublishArgs>();
  CLI::App* publish = app.add_subcommand(
      "publish", "PUT JSON values on a courier-proxy queue (each argument after QUEUE, e.g. "
                 "'{\"order\": 1}', or each stdin line when there is none) and wait until each is CONFIRMed (durable). Exit 3 if the proxy refuses any.");
  publish->add_option("queue", pub->queue, "queue name: 1-200 of A-Z a-z 0-9 . _ : -")->required();
  accept_values(publish);  // [JSON...]
  publish->footer("Usage: courier publish QUEUE [JSON...] [OPTIONS]\nExamples:\n"
                  "  courier publish orders '{\"id\": 1, \"item\": \"book\"}' '{\"id\": 2}'\n"
                  "  courier publish orders --id order-1 '{\"id\": 1}'   # dedup: a resend is stored once\n"
                  "  cat orders.jsonl | courier publish orders --proxy tcp://10.0.0.5:5555");
  add_proxy_option(publish, pub->proxy);
  add_shards_option(publish, pub->shards);
  add_curve_client_options(publish, pub->curve);
  publish->add_option("--id", pub->id,
                      "producer message id for dedup; with several values they get ID, ID-2, ID-3, ...");
  publish->add_option("--delay", pub->delay, "deliver no sooner than MS milliseconds from now")
      ->transform(whole_number("milliseconds"));
  publish->add_option("--ttl", pub->ttl, "expire (dead-letter or drop) after MS milliseconds")
      ->transform(whole_number("milliseconds"));
  publish->add_option("--timeout", pub->timeout, "seconds to wait for the proxy's answers (exit 2 after)")
      ->check(positive_seconds())
      ->capture_default_str();
  publish->add_option("--full-wait", pub->full_wait,
                      "seconds to keep retrying, with backoff, a value the proxy refuses because the queue "
                      "is full (ERROR 429, max_length); 0 = fail at once; exit 3 after")
      ->check(CLI::Range(0.0, kMaxSeconds))
      ->capture_default_str();
  publish->callback([&action, pub, publish] {
    action = [pub, publish] {
      pub->values = values_of(publish);
      check_queue_name(pub->queue);
      pub->proxy = queue_endpoint(pub->proxy, pub->shards, pub->queue);
      // A plain pointer: the args own `reroute`, so a shared_ptr here would
      // be a cycle (a leak LeakSanitizer reports at exit).
      if (pub->shards) {
        pub->reroute = [args = pub.get()] { return queue_endpoint(args->proxy, args->shards, args->queue); };
      }
      return run_publish(*pub);
    };
  });

  auto con = std::make_shared<ConsumeArgs>();
  CLI::App* consume = app.add_subcommand(
      "consume", "Print each message of a courier-proxy queue as one JSON line, ACKing it after printing "
                 "(at least once); --no-ack asks for auto_ack (at most once).");
  consume->add_option("queue", con->queue, "queue name")->required();
  consume->footer("Examples:\n  courier consume orders --count 10 --timeout 5\n"
                  "  courier consume orders | jq .item        # runs until interrupted");
  add_proxy_option(consume, con->proxy);
  add_shards_option(consume, con->shards);
  add_curve_client_options(consume, con->curve);
  consume->add_option("--count,-n", con->count, "exit 0 after N messages")
      ->transform(whole_number("messages", 1));
  consume->add_option("--timeout", con->timeout, "exit 2 when S seconds pass before --count is reached")
      ->check(positive_seconds());
  consume->add_flag("--no-ack", con->no_ack, "auto_ack: the proxy forgets each message once sent");
  consume->add_flag("--ack", con->ack, "ACK each message after printing it (the default)");
  consume->add_option("--credit", con->credit, "prefetch window (capped by --count)")
      ->transform(whole_number("messages", 1, 100000))
      ->capture_default_str();
  consume->add_flag("--envelope", con->envelope,
                    "print {\"body\", \"q\", \"d\", \"seq\", \"attempt\", \"ts\", \"id\"} instead of the body");
  consume->callback([&action, con] { action = [con] {
      check_queue_name(con->queue);
      con->proxy = queue_endpoint(con->proxy, con->shards, con->queue);
      return run_consume(*con);
    }; });

  auto pur = std::make_shared<AdminArgs>();
  CLI::App* purge = app.add_subcommand(
      "purge", "Remove the ready messages of a queue; prints {\"q\": ..., \"removed\": N}.");
  purge->add_option("queue", pur->queue, "queue name")->required();
  add_proxy_option(purge, pur->proxy);
  add_shards_option(purge, pur->shards);
  add_curve_client_options(purge, pur->curve);
  purge->add_option("--timeout", pur->timeout, "seconds to wait for the answer")
      ->check(positive_seconds())
      ->capture_default_str();
  purge->callback([&action, pur] { action = [pur] {
      check_queue_name(pur->queue);
      pur->proxy = queue_endpoint(pur->proxy, pur->shards, pur->queue);
      return run_purge(*pur);
    }; });

  auto dec = std::make_shared<AdminArgs>();
  CLI::App* declare = app.add_subcommand(
      "declare", "Create a queue and/or set its options; prints {\"q\": ..., \"depth\": N}.");
  declare->add_option("queue", dec->queue, "queue name")->required();
  add_proxy_option(declare, dec->proxy);
  add_shards_option(declare, dec->shards);
  add_curve_client_options(declare, dec->curve);
  declare->add_option("--max-length", dec->max_length, "most messages waiting; PUTs past it get 429")
      ->transform(whole_number("messages"));
  declare->add_option("--dead-letter", dec->dead_letter, "queue that receives expired/rejected messages");
  declare->add_option("--max-attempts", dec->max_attempts, "deliveries before a message is dead-lettered")
      ->transform(whole_number("deliveries", 1));  // the proxy refuses 0 (ERROR 400)
  declare->add_option("--ttl", dec->ttl, "default message time-to-live, ms")
      ->transform(whole_number("milliseconds"));
  declare->add_option("--ack-timeout", dec->ack_timeout, "redeliver when not acked within MS")
      ->transform(whole_number("milliseconds", 1));  // the proxy refuses 0 (ERROR 400)
  declare->add_option("--timeout", dec->timeout, "seconds to wait for the answer")
      ->check(positive_seconds())
      ->capture_default_str();
  declare->callback([&action, dec] { action = [dec] {
      check_queue_name(dec->queue);
      dec->proxy = queue_endpoint(dec->proxy, dec->shards, dec->queue);
      return run_declare(*dec);
    }; });
}

}  // namespace courier::cli
