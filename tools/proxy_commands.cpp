// tools/proxy_commands.cpp — `courier publish`, `consume`, `purge` and
// `declare`: the proxy protocol CQP1 (PROTOCOL.md §3) through ProxySession.
#include "cli_common.hpp"
#include "json_msgpack.hpp"
#include "proxy_session.hpp"

#include <iostream>
#include <map>
#include <memory>
#include <unistd.h>

#include <thread>

namespace courier::cli {

namespace {

constexpr std::size_t kPublishWindow = 256;  // PUTs awaiting their CONFIRM at once

struct PublishArgs {
  std::string queue;
  std::vector<std::string> values;
  std::string proxy = default_proxy();
  std::optional<std::string> id;
  std::optional<uint64_t> delay;
  std::optional<uint64_t> ttl;
  double timeout = 10;
  double full_wait = 30;  // seconds a PUT refused with 429 is retried
};

struct ConsumeArgs {
  std::string queue;
  std::string proxy = default_proxy();
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
  double timeout = 5;
  std::optional<uint64_t> max_length, max_attempts, ttl, ack_timeout;
  std::optional<std::string> dead_letter;
};

std::string client_name(const char* command) {
  return std::string("courier-cli ") + command + " pid " + std::to_string(::getpid());
}

// The producer id of the n-th value (1-based): ID, then ID-2, ID-3, ...
std::string nth_id(const std::string& id, std::size_t n) {
  return n == 1 ? id : id + "-" + std::to_string(n);
}

// --- publish -----------------------------------------------------------------

// PUTs every value (up to kPublishWindow unconfirmed at once) and waits for
// each CONFIRM. Any ERROR -> exit 3 after the rest are settled; --timeout S
// with no answer at all -> exit 2.
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

  zmq::context_t context(1);
  ProxySession session(context, a.proxy);
  const int timeout_ms = seconds_to_ms(a.timeout);
  session.hello(client_name("publish"), timeout_ms);
  int status = kOk;
  ProxyReply reply;
  msgpack::sbuffer header;

  struct Pending {
    std::string where;  // "argument 2" / "stdin line 7", for messages
    std::string body;   // kept for a resend after ERROR 429
    uint64_t n;         // the value's position: its --id suffix
    std::optional<Clock::time_point> refused_at;  // first 429
  };
  std::map<uint64_t, Pending> pending;  // by tag
  uint64_t next_tag = 1, next_n = 1;
  // Queue full (429): a refused value waits in `refused`, in value order,
  // and is sent again with capped exponential backoff until --full-wait
  // passes. Nothing new is sent while one waits, and from the first 429 on
  // values go one at a time, so none overtakes a refused one (values already
  // in flight when the first 429 came may have).
  std::map<uint64_t, Pending> refused;  // by n
  std::size_t window = kPublishWindow;
  std::chrono::milliseconds backoff{10};
  const auto full_wait = std::chrono::duration<double>(a.full_wait);

  auto send_put = [&](Pending p) {
    const uint64_t tag = next_tag++;
    const uint32_t keys = 2 + (a.id ? 1 : 0) + (a.delay ? 1 : 0) + (a.ttl ? 1 : 0);
    cqp1::MapWriter w(header, keys);
    cqp1::pack_string(w.key("q"), a.queue);
    w.key("tag").pack(tag);
    if (a.id) cqp1::pack_string(w.key("id"), nth_id(*a.id, p.n));
    if (a.delay) w.key("delay").pack(*a.delay);
    if (a.ttl) w.key("ttl").pack(*a.ttl);
    session.send("PUT", header, &p.body);
    pending.emplace(tag, std::move(p));
  };

  // Waits for one CONFIRM or ERROR and settles its tag.
  auto settle_one = [&] {
    for (;;) {
      if (!session.recv(reply, timeout_ms))
        throw session.no_answer("no CONFIRM for " + std::to_string(pending.size()) + " message(s)", timeout_ms);
      if (reply.command != cqp1::Command::CONFIRM && reply.command != cqp1::Command::ERROR) continue;
      const auto tag = reply.header->uint("tag");
      auto it = tag ? pending.find(*tag) : pending.end();
      if (reply.command == cqp1::Command::ERROR) {
        if (it == pending.end()) throw session.refused(reply, "a PUT to " + a.queue);
        Pending p = std::move(it->second);
        pending.erase(it);
        const bool full = reply.header->uint("code") == uint64_t{cqp1::kQueueFull};
        if (full && !p.refused_at) p.refused_at = Clock::now();
        if (full && Clock::now() - *p.refused_at < full_wait) {
          window = 1;
          refused.emplace(p.n, std::move(p));
          return;
        }
        std::cerr << "courier publish: " << session.refused(reply, p.where + " (PUT to " + a.queue + ")").what()
                  << (full ? " (still full after --full-wait " + seconds_text(a.full_wait) + " s)" : std::string())
                  << "\n";
        status = kRemote;
        return;
      }
      if (it == pending.end()) continue;  // not ours (cannot happen on our own DEALER)
      if (reply.header->boolean("dup").value_or(false))
        std::cerr << "courier publish: " << it->second.where << ": id already stored (dup), kept once at seq "
                  << reply.header->uint("seq").value_or(0) << "\n";
      pending.erase(it);
      backoff = std::chrono::milliseconds(10);  // room again
      return;
    }
  };

  // Settles everything in flight, then sends the refused values again, the
  // first first, one at a time, until each is stored or gives up.
  auto settle_all = [&] {
    while (!pending.empty() || !refused.empty()) {
      if (!pending.empty()) {
        settle_one();
        continue;
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      send_put(std::move(refused.begin()->second));
      refused.erase(refused.begin());
    }
  };

  auto put = [&](const std::string& body, const std::string& where) {
    if (!refused.empty()) settle_all();
    while (pending.size() >= window) settle_one();
    send_put(Pending{where, body, next_n++, std::nullopt});
  };

  if (!bodies.empty()) {
    for (std::size_t i = 0; i < bodies.size(); ++i) put(bodies[i], "argument " + std::to_string(i + 1));
  } else {
    for_each_value({}, [&](const std::string& text, const std::string& where) {
      std::string body;
      try {
        body = to_msgpack(parse_json(text));
      } catch (const ConversionError& e) {
        // Reported and skipped; the other lines still go.
        std::cerr << "courier publish: " << where << " is " << e.what() << "; not sent\n";
        status = kRemote;
        return;
      }
      put(body, where);
    });
  }
  settle_all();
  session.send_empty("BYE");
  return status;
}

// --- consume -----------------------------------------------------------------

// The DELIVER's producer id as JSON (str, {"$bin"} or null).
json id_json(const ProxyReply& r) {
  const msgpack::object* o = r.header->find("id");
  return o ? from_msgpack(*o) : json(nullptr);
}

// CONSUMEs with a credit window and prints each body as one JSON line, then
// ACKs it (at least once: a crash between print and ACK redelivers). With
// --no-ack the proxy forgets each message as it sends it, so the credit never
// exceeds what --count still wants: an extra delivery would be lost.
// Sends PING whenever it has been quiet for a heartbeat, and exits 2 when the
// proxy stays silent for 3 heartbeats.
int run_consume(const ConsumeArgs& a) {
  check_queue_name(a.queue);
  if (a.ack && a.no_ack) throw CliFailure(kUsage, "--ack and --no-ack contradict each other: give one");
  const auto deadline = deadline_in(a.timeout);
  zmq::context_t context(1);
  ProxySession session(context, a.proxy);
  const int handshake_ms = a.timeout ? std::min(seconds_to_ms(*a.timeout), 10000) : 10000;
  const uint64_t hb = std::max<uint64_t>(10, session.hello(client_name("consume"), handshake_ms));

  uint64_t credit = a.credit;
  if (a.count) credit = std::min(credit, *a.count);
  msgpack::sbuffer header;
  {
    // `limit` (§3.7): the proxy takes no message past the N-th off the queue.
    cqp1::MapWriter w(header, a.count ? 4 : 3);
    cqp1::pack_string(w.key("q"), a.queue);
    w.key("credit").pack(credit);
    w.key("auto_ack").pack(a.no_ack);
    if (a.count) w.key("limit").pack(*a.count);
  }
  ProxyReply reply;
  session.call("CONSUME", header, cqp1::Command::CONSUMING, reply, handshake_ms);

  uint64_t received = 0, granted = credit;
  int status = kOk;
  while (!a.count || received < *a.count) {
    if (deadline && Clock::now() >= *deadline) {
      session.bye_and_drain(1000);
      throw CliFailure(kTimeout, "timed out after " + seconds_text(*a.timeout) + " s with " +
                                     std::to_string(received) +
                                     (a.count ? " of " + std::to_string(*a.count) : std::string()) +
                                     " message(s) from queue " + a.queue);
    }
    if (session.ms_since_recv() > static_cast<int64_t>(3 * hb))
      throw session.no_answer("no PONG for " + std::to_string(3 * hb) + " ms", static_cast<int>(3 * hb));
    if (session.ms_since_send() >= static_cast<int64_t>(hb)) session.send_empty("PING");
    const int wait = ms_left(deadline, static_cast<int>(std::max<int64_t>(1, hb - session.ms_since_send())));
    if (!session.recv(reply, wait)) continue;
    if (reply.command == cqp1::Command::ERROR) throw session.refused(reply, "consuming " + a.queue);
    if (reply.command != cqp1::Command::DELIVER) continue;  // PONG, ...
    if (reply.header->find("n"))
      throw CliFailure(kRemote, "courier-proxy sent a batch DELIVER although this consumer asked for none");
    const uint64_t d = reply.header->need_uint("d");
    ++received;
    const zmq::message_t* body = reply.body();
    bool printed = false;
    try {
      if (!body) throw ConversionError("DELIVER without a body frame");
      json value = decode_frame(body->data(), body->size());
      if (a.envelope) {
        value = json{{"body", std::move(value)}, {"q", a.queue}, {"d", d},
                     {"seq", reply.header->uint("seq").value_or(0)},
                     {"attempt", reply.header->uint("attempt").value_or(0)},
                     {"ts", reply.header->uint("ts").value_or(0)}, {"id", id_json(reply)}};
      }
      print_line(to_line(value));
      printed = true;
    } catch (const ConversionError& e) {
      status = kRemote;
      std::cerr << "courier consume: delivery " << d << " (seq " << reply.header->uint("seq").value_or(0)
                << ") is not one msgpack object: " << e.what()
                << (a.no_ack ? "" : "; NACKed without requeue (dead-lettered if the queue has a dead_letter)")
                << "\n";
    }
    if (!a.no_ack) {
      cqp1::MapWriter w(header, printed ? 1 : 2);
      w.key("d").pack_array(1);
      w.packer().pack(d);
      if (!printed) w.key("requeue").pack(false);
      session.send(printed ? "ACK" : "NACK", header);
    } else if (!a.count || granted < *a.count) {
      cqp1::MapWriter w(header, 2);
      cqp1::pack_string(w.key("q"), a.queue);
      w.key("n").pack(1);
      session.send("CREDIT", header);
      ++granted;
    }
  }
  // BYE right behind the last ACK: the proxy then has no turn in which to use
  // the credit that ACK gives back (see docs/CLI.md, "consume"). Then wait
  // until the proxy has applied both before disconnecting.
  session.bye_and_drain(static_cast<int>(std::min<uint64_t>(2000, 3 * hb)));
  return status;
}

// --- purge / declare -----------------------------------------------------------

int run_purge(const AdminArgs& a) {
  check_queue_name(a.queue);
  zmq::context_t context(1);
  ProxySession session(context, a.proxy);
  msgpack::sbuffer header;
  cqp1::MapWriter w(header, 1);
  cqp1::pack_string(w.key("q"), a.queue);
  ProxyReply reply;
  session.call("PURGE", header, cqp1::Command::PURGED, reply, seconds_to_ms(a.timeout));
  print_line(to_line(reply.header_json()));
  return kOk;
}

int run_declare(const AdminArgs& a) {
  check_queue_name(a.queue);
  if (a.dead_letter) check_queue_name(*a.dead_letter);
  zmq::context_t context(1);
  ProxySession session(context, a.proxy);
  msgpack::sbuffer header;
  const uint32_t keys = 1 + (a.max_length ? 1 : 0) + (a.dead_letter ? 1 : 0) + (a.max_attempts ? 1 : 0) +
                        (a.ttl ? 1 : 0) + (a.ack_timeout ? 1 : 0);
  cqp1::MapWriter w(header, keys);
  cqp1::pack_string(w.key("q"), a.queue);
  if (a.max_length) w.key("max_length").pack(*a.max_length);
  if (a.dead_letter) cqp1::pack_string(w.key("dead_letter"), *a.dead_letter);
  if (a.max_attempts) w.key("max_attempts").pack(*a.max_attempts);
  if (a.ttl) w.key("ttl").pack(*a.ttl);
  if (a.ack_timeout) w.key("ack_timeout").pack(*a.ack_timeout);
  ProxyReply reply;
  session.call("DECLARE", header, cqp1::Command::DECLARED, reply, seconds_to_ms(a.timeout));
  print_line(to_line(reply.header_json()));
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
  consume->callback([&action, con] { action = [con] { return run_consume(*con); }; });

  auto pur = std::make_shared<AdminArgs>();
  CLI::App* purge = app.add_subcommand(
      "purge", "Remove the ready messages of a queue; prints {\"q\": ..., \"removed\": N}.");
  purge->add_option("queue", pur->queue, "queue name")->required();
  add_proxy_option(purge, pur->proxy);
  purge->add_option("--timeout", pur->timeout, "seconds to wait for the answer")
      ->check(positive_seconds())
      ->capture_default_str();
  purge->callback([&action, pur] { action = [pur] { return run_purge(*pur); }; });

  auto dec = std::make_shared<AdminArgs>();
  CLI::App* declare = app.add_subcommand(
      "declare", "Create a queue and/or set its options; prints {\"q\": ..., \"depth\": N}.");
  declare->add_option("queue", dec->queue, "queue name")->required();
  add_proxy_option(declare, dec->proxy);
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
  declare->callback([&action, dec] { action = [dec] { return run_declare(*dec); }; });
}

}  // namespace courier::cli
