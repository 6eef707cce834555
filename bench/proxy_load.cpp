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
  bool latency = false;
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
    courier::Producer p(producer_options(o, courier::Context()));
    for (uint64_t i = 0; i < count; ++i) p.publish_raw_async(o.queue, body);
    // Without callbacks, a refused PUT is rethrown here.
    while (!p.flush(1s)) {
    }
  } catch (const std::exception& e) {
    fail("producer", e);
  }
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
      received.fetch_add(1, std::memory_order_relaxed);
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
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("{\"mode\":\"throughput\",\"messages\":%llu,\"size\":%zu,\"producers\":%d,\"consumers\":%d,"
              "\"seconds\":%.3f,\"msgs_per_s\":%.0f}\n",
              static_cast<unsigned long long>(o.messages), o.size, o.producers, o.consumers, secs,
              o.messages / secs);
  return 0;
}

// One message at a time on a fixed schedule; latency = confirm time - send
// time, taken in the confirm callback (on the Producer's I/O thread). With
// a message still unconfirmed when the next is due, the next waits for it
// (the Producer keeps one PUT per queue on the wire), as any user's would.
int run_latency(const Options& o) {
  std::vector<double> lat;
  lat.reserve(o.messages);
  std::mutex mu;  // lat: written by the I/O thread, read here after flush()
  std::exception_ptr error;
  try {
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
  } catch (const std::exception& e) {
    fail("latency", e);
  }
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      fail("latency", e);
    }
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))]; };
  std::printf("{\"mode\":\"latency\",\"messages\":%llu,\"rate\":%llu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f}\n",
              static_cast<unsigned long long>(o.messages), static_cast<unsigned long long>(o.rate), pct(0.5),
              pct(0.99), pct(0.999));
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
    else if (a == "--latency") o.latency = true;
    else if (a == "--rate") o.rate = std::stoull(next());
    else {
      std::fprintf(stderr,
                   "usage: proxy_load [--endpoint EP] [--queue Q] [--messages N] [--size B] [--producers P]\n"
                   "                  [--consumers C] [--window W] [--credit N] [--latency --rate R]\n");
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
