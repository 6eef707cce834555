// bench/proxy_load.cpp — durable end-to-end load against courier-proxy.
//
// P producer threads, each with its own courier::Producer, publish with a
// window of unconfirmed messages (the Producer sends what waits behind the
// PUT on the wire as one batch PUT, PROTOCOL.md §3.4); C consumer threads,
// each with its own courier::Consumer, take deliveries on credit in batch
// DELIVERs and ack every one (the Consumer sends the acks of a turn as one
// ACK). Reports the end-to-end rate (first publish to last ack) and, in
// --latency mode, publish->CONFIRM latency percentiles at a fixed rate.
//
// The clients are the library's own, so the figures are an application's;
// every thread has its own Context (ZeroMQ I/O thread), as each had its own
// socket before issue 9.
#include <courier/consumer.hpp>
#include <courier/context.hpp>
#include <courier/producer.hpp>

#include "raw_put_producer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::string queue = "bench";
  uint64_t messages = 1000000;
  std::size_t size = 128;
  int producers = 1;
  int consumers = 1;
  bool batch_given = false;  // --batch: accepted for old scripts, no effect (see main)
  uint64_t window = 4096;  // unconfirmed messages per producer
  uint64_t credit = 4096;  // per consumer
  uint64_t per_put = 0;    // 0: courier::Producer batches; N: raw PUTs of N messages
  bool latency = false;
  bool latency_consumer = false;  // a consumer takes the latency run's messages meanwhile
  bool ping = false;               // latency of PING -> PONG instead (raw client)
  uint64_t rate = 10000;   // msgs/s in latency mode
};

[[noreturn]] void fail(const char* who, const std::exception& e) {
  std::fprintf(stderr, "%s: %s\n", who, e.what());
  std::exit(3);
}

courier::ProducerOptions producer_options(const Options& o, courier::Context context) {
  courier::ProducerOptions po;
  po.endpoint = o.endpoint;
  po.client_name = "proxy_load producer";
  po.window = o.window;
  po.context = std::move(context);
  return po;
}

// Ids are the Producer's own (a random prefix per Producer and a counter),
// so a run never collides with an earlier one in the proxy's dedup window.
void producer(const Options& o, uint64_t count, const std::string& body) {
  try {
    if (o.per_put > 0) {
      bench::publish_raw_puts({o.endpoint, o.queue, count, o.per_put, o.window}, body);
      return;
    }
    courier::Producer p(producer_options(o, courier::Context()));
    for (uint64_t i = 0; i < count; ++i) p.publish_raw_async(o.queue, body);
    // Without callbacks, a refused PUT is rethrown here.
    while (!p.flush(1s)) {
    }
  } catch (const std::exception& e) {
    fail("producer", e);
  }
}

// When the consumers together took the last message: the end of a
// throughput run (the other consumers only notice it when their receive
// wait ends, which must not count).
std::atomic<Clock::time_point>& last_ack_at() {
  static std::atomic<Clock::time_point> at{Clock::time_point{}};
  return at;
}

// Takes deliveries until all consumers together have `total`; with one
// consumer, CONSUME `limit` makes it take exactly that many.
void consumer(const Options& o, std::atomic<uint64_t>& received, uint64_t total) {
  try {
    courier::ConsumerOptions co;
    co.endpoint = o.endpoint;
    co.client_name = "proxy_load consumer";
    co.prefetch = static_cast<uint32_t>(o.credit);
    co.batch = static_cast<uint32_t>(std::min<uint64_t>(o.credit, 4096));
    if (o.consumers == 1) co.limit = total;
    co.context = courier::Context();
    courier::Consumer c(o.queue, co);
    while (received.load(std::memory_order_relaxed) < total) {
      std::optional<courier::RawDelivery> d = c.receive_raw(200ms);
      if (!d) continue;
      d->ack();
      if (received.fetch_add(1, std::memory_order_relaxed) + 1 == total) last_ack_at().store(Clock::now());
    }
    // The destructor sends the last ACK, then BYE, with a bounded linger.
  } catch (const std::exception& e) {
    fail("consumer", e);
  }
}

int run_throughput(const Options& o) {
  const std::string body(o.size, 'x');
  std::atomic<uint64_t> received{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < o.consumers; ++c) threads.emplace_back(consumer, std::cref(o), std::ref(received), o.messages);
  const uint64_t per = o.messages / o.producers;
  for (int p = 0; p < o.producers; ++p) {
    const uint64_t n = p + 1 == o.producers ? o.messages - per * (o.producers - 1) : per;
    threads.emplace_back(producer, std::cref(o), n, std::cref(body));
  }
  for (auto& t : threads) t.join();
  const auto end = o.consumers > 0 ? last_ack_at().load() : Clock::now();
  const double secs = std::chrono::duration<double>(end - start).count();
  std::printf("{\"mode\":\"throughput\",\"messages\":%llu,\"size\":%zu,\"producers\":%d,\"consumers\":%d,"
              "\"put_batch\":%llu,\"window\":%llu,\"seconds\":%.3f,\"msgs_per_s\":%.0f}\n",
              static_cast<unsigned long long>(o.messages), o.size, o.producers, o.consumers,
              static_cast<unsigned long long>(o.per_put), static_cast<unsigned long long>(o.window), secs,
              o.messages / secs);
  return 0;
}

// One message at a time on a fixed schedule, through courier::Producer;
// latency = confirm time - send time, taken in the confirm callback (on the
// Producer's I/O thread). With a message still unconfirmed when the next is
// due, the next waits for it (the Producer keeps one PUT per queue on the
// wire, so this is not the single-message-PUT form: see --per-put 1).
std::vector<double> library_latencies(const Options& o) {
  std::vector<double> lat;
  lat.reserve(o.messages);
  std::mutex mu;  // lat: written by the I/O thread, read here after flush()
  std::exception_ptr error;
  {
    courier::Producer p(producer_options(o, courier::Context()));
    if (!p.wait_connected(10s)) throw courier::TimeoutError("no WELCOME from " + o.endpoint + " within 10 s");
    const std::string body(o.size, 'x');
    const auto gap = std::chrono::nanoseconds(1000000000ull / o.rate);
    auto next = Clock::now();
    for (uint64_t i = 0; i < o.messages; ++i) {
      std::this_thread::sleep_until(next);
      next += gap;
      const auto sent = Clock::now();
      p.publish_raw_async(o.queue, body, {}, [&, sent](const courier::Confirm& c) {
        std::lock_guard<std::mutex> lock(mu);
        if (!c.ok() && !error) error = c.error;
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
      });
    }
    while (!p.flush(1s)) {
    }
  }
  if (error) std::rethrow_exception(error);
  return lat;
}

int run_latency(const Options& o) {
  // --with-consumer: the messages are taken and acked while they are
  // published, as in production (the proxy then also delivers and erases).
  std::atomic<uint64_t> received{0};
  std::thread taker;
  if (o.latency_consumer) taker = std::thread(consumer, std::cref(o), std::ref(received), o.messages);
  std::vector<double> lat;
  try {
    lat = o.per_put > 0 || o.ping  // single-message PUTs, each sent when due (raw_put_producer.hpp)
              ? bench::confirm_latencies({o.endpoint, o.queue, o.messages, 1, o.window}, std::string(o.size, 'x'),
                                         o.rate, o.ping)
              : library_latencies(o);
  } catch (const std::exception& e) {
    fail("latency", e);
  }
  if (taker.joinable()) taker.join();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))]; };
  // The distribution as quantiles, for the CDF plot (bench/plot_results.py).
  std::string cdf;
  for (double q : {0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999}) {
    char entry[48];
    std::snprintf(entry, sizeof entry, "%s[%g,%.1f]", cdf.empty() ? "" : ",", q, pct(q));
    cdf += entry;
  }
  std::printf("{\"mode\":\"latency\",\"messages\":%llu,\"rate\":%llu,\"consumer\":%s,\"ping\":%s,\"put_batch\":%llu,\"p50_us\":%.1f,"
              "\"p99_us\":%.1f,\"p999_us\":%.1f,\"cdf_us\":[%s]}\n",
              static_cast<unsigned long long>(o.messages), static_cast<unsigned long long>(o.rate),
              o.latency_consumer ? "true" : "false", o.ping ? "true" : "false", static_cast<unsigned long long>(o.per_put), pct(0.5), pct(0.99), pct(0.999), cdf.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(1);
      }
      return argv[++i];
    };
    if (a == "--endpoint") o.endpoint = next();
    else if (a == "--queue") o.queue = next();
    else if (a == "--messages") o.messages = std::stoull(next());
    else if (a == "--size") o.size = std::stoull(next());
    else if (a == "--producers") o.producers = std::stoi(next());
    else if (a == "--consumers") o.consumers = std::stoi(next());
    else if (a == "--batch") {
      (void)std::stoull(next());
      o.batch_given = true;
    }
    else if (a == "--window") o.window = std::stoull(next());
    else if (a == "--credit") o.credit = std::stoull(next());
    else if (a == "--per-put") o.per_put = std::stoull(next());
    else if (a == "--latency") o.latency = true;
    else if (a == "--with-consumer") o.latency_consumer = true;
    else if (a == "--ping") o.ping = true;
    else if (a == "--rate") o.rate = std::stoull(next());
    else {
      std::fprintf(stderr,
                   "usage: proxy_load [--endpoint EP] [--queue Q] [--messages N] [--size B] [--producers P]\n"
                   "                  [--consumers C] [--window W] [--credit N] [--per-put K]\n"
                   "                  [--latency --rate R [--with-consumer] [--ping]]\n"
                   "  --per-put K: PUTs of exactly K messages from a raw CQP1 client (default: the\n"
                   "               library's Producer, which batches what waits)\n");
      return 1;
    }
  }
  if (o.producers < 1 || o.consumers < 0 || o.window < 1 || o.credit < 1 || o.rate < 1) {
    std::fprintf(stderr, "proxy_load: --producers, --window, --credit and --rate must be >= 1\n");
    return 1;
  }
  // Before issue 9 this client cut its own batch PUTs; courier::Producer
  // sends what waits behind the PUT on the wire as one batch (up to 4096).
  if (o.batch_given) std::fprintf(stderr, "proxy_load: --batch has no effect: the Producer makes its own batches\n");
  return o.latency ? run_latency(o) : run_throughput(o);
}
