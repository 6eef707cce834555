// tools/bench_command.cpp — `courier bench pipeline|request|proxy`:
// throughput and latency of a direct pipeline (§1), request/reply (§2) or a
// running courier-proxy (§3).
//
// Both ends run in this process, each on its own thread, so every message
// carries its send time (steady clock) and latency is measured without clock
// skew: pipeline = send -> receive, request = round trip, proxy = PUT sent ->
// DELIVER received (the PUT handed to the Producer, the DELIVER handed out by
// the Consumer). Each message body is the msgpack array
// [seq, send_time_ns, bin padding] of --size bytes in all.
#include "cli_common.hpp"
#include "json_msgpack.hpp"
#include "curve_options.hpp"
#include "proxy_options.hpp"

#include <courier/consumer.hpp>
#include <courier/context.hpp>
#include <courier/pipeline.hpp>
#include <courier/producer.hpp>
#include <courier/request.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <deque>
#include <future>
#include <iostream>
#include <memory>
#include <thread>
#include <unistd.h>

namespace courier::cli {

namespace {

// A latency sample per message is kept in memory for the percentiles.
constexpr uint64_t kMaxBenchCount = 100000000;

struct BenchArgs {
  std::string mode;
  uint64_t count = 0;  // 0: the mode's default
  std::size_t size = 100;
  std::string endpoint = "tcp://127.0.0.1:*";
  std::string proxy = default_proxy();
  CurveArgs curve;
  std::string queue;
  uint64_t window = 0;  // 0: the mode's default
  bool json_out = false;
  bool quiet = false;
  double timeout = 10;
};

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// [seq, now_ns, bin padding], `size` bytes in all (at least the 2 numbers).
std::string make_body(uint64_t seq, std::size_t size) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  p.pack_array(3);
  p.pack_fix_uint64(seq);
  p.pack_fix_uint64(now_ns());
  const std::size_t fixed = buf.size() + 5;  // bin32 header
  const std::size_t pad = size > fixed ? size - fixed : 0;
  p.pack_bin(static_cast<uint32_t>(pad));
  std::string zeros(pad, '\0');
  p.pack_bin_body(zeros.data(), static_cast<uint32_t>(pad));
  return std::string(buf.data(), buf.size());
}

// The send time carried by a body made by make_body; 0 if it is not one.
uint64_t sent_ns(const void* data, std::size_t size) {
  // fixarray(3), uint64 marker 0xcf + 8 bytes seq, 0xcf + 8 bytes time
  if (size < 19) return 0;
  const auto* b = static_cast<const unsigned char*>(data);
  if (b[0] != 0x93 || b[1] != 0xcf || b[10] != 0xcf) return 0;
  uint64_t t = 0;
  for (int i = 11; i < 19; ++i) t = (t << 8) | b[i];
  return t;
}

// The live progress line: a thread that redraws "count, rate, elapsed" on
// stderr every 250 ms, started only when stderr is a terminal.
class ProgressLine {
 public:
  ProgressLine(const std::atomic<uint64_t>& done, uint64_t total, bool enabled)
      : done_(done), total_(total), start_(Clock::now()) {
    if (enabled) thread_ = std::thread([this] { run(); });
  }
  ~ProgressLine() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
      std::fprintf(stderr, "\r\033[K");
    }
  }

 private:
  void run() {
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
      const uint64_t n = done_.load();
      std::fprintf(stderr, "\r\033[K%llu/%llu msgs  %.0f msgs/s  %.1f s", (unsigned long long)n,
                   (unsigned long long)total_, secs > 0 ? n / secs : 0.0, secs);
      std::fflush(stderr);
    }
  }
  const std::atomic<uint64_t>& done_;
  uint64_t total_;
  Clock::time_point start_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Result {
  std::string mode, target;
  uint64_t count = 0;
  std::size_t size = 0;
  double seconds = 0;
  std::vector<uint64_t> latency_ns;
};

double percentile_us(std::vector<uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t i = static_cast<std::size_t>(p * double(sorted.size()));
  if (i >= sorted.size()) i = sorted.size() - 1;
  return double(sorted[i]) / 1000.0;
}

std::string us_text(double us) {
  char buf[32];
  if (us >= 1000) std::snprintf(buf, sizeof buf, "%.2f ms", us / 1000);
  else std::snprintf(buf, sizeof buf, "%.1f us", us);
  return buf;
}

void report(Result& r, bool as_json) {
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  const double rate = r.seconds > 0 ? double(r.count) / r.seconds : 0;
  const double mbps = rate * double(r.size) / 1e6;
  const double p50 = percentile_us(r.latency_ns, 0.50), p99 = percentile_us(r.latency_ns, 0.99),
               p999 = percentile_us(r.latency_ns, 0.999);
  const double max = r.latency_ns.empty() ? 0 : double(r.latency_ns.back()) / 1000.0;
  if (as_json) {
    print_line(to_line(json{{"mode", r.mode}, {"target", r.target}, {"count", r.count}, {"size", r.size},
                            {"seconds", r.seconds}, {"msgs_per_s", rate}, {"mb_per_s", mbps},
                            {"latency_us", {{"p50", p50}, {"p99", p99}, {"p99_9", p999}, {"max", max}}}}));
    return;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s %s: %llu msgs x %zu B in %.3f s\n  throughput  %.0f msgs/s, %.2f MB/s\n"
                "  latency     p50 %s, p99 %s, p99.9 %s, max %s",
                r.mode.c_str(), r.target.c_str(), (unsigned long long)r.count, r.size, r.seconds, rate, mbps,
                us_text(p50).c_str(), us_text(p99).c_str(), us_text(p999).c_str(), us_text(max).c_str());
  print_line(buf);
}

// --- pipeline: PUSH (this thread) -> PULL (a receiver thread) ---------------

Result bench_pipeline(const BenchArgs& a, uint64_t count, bool progress) {
  Context context;
  RawPull pull(PullOptions{{}, context});
  pull.bind(a.endpoint);
  const std::string endpoint = pull.last_endpoint();
  RawPush push(PushOptions{{}, context});
  push.connect(endpoint);

  Result r{"pipeline", endpoint, count, a.size, 0, {}};
  r.latency_ns.reserve(count);
  std::atomic<uint64_t> received{0};
  std::atomic<bool> timed_out{false};
  const int idle_ms = static_cast<int>(a.timeout * 1000);
  std::thread receiver([&] {
    zmq::message_t m;
    for (uint64_t i = 0; i < count; ++i) {
      if (!pull.receive_into(m, idle_ms)) {
        timed_out = true;
        return;
      }
      const uint64_t t = sent_ns(m.data(), m.size());
      r.latency_ns.push_back(now_ns() - t);
      received.fetch_add(1, std::memory_order_relaxed);
    }
  });
  ProgressLine line(received, count, progress);
  const auto start = Clock::now();
  for (uint64_t i = 0; i < count && !timed_out; ++i) {
    if (!push.send(make_body(i, a.size), std::chrono::milliseconds(idle_ms))) break;
  }
  receiver.join();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  line.stop();
  if (timed_out || received < count)
    throw CliFailure(kTimeout, "pipeline stalled: " + std::to_string(received.load()) + " of " +
                                   std::to_string(count) + " messages arrived");
  return r;
}

// --- request: Client (this thread, --window in flight) -> Server thread -----

Result bench_request(const BenchArgs& a, uint64_t count, uint64_t window, bool progress) {
  Context context;
  Server server(ServerOptions{{}, context});
  server.bind(a.endpoint);
  const std::string endpoint = server.last_endpoint();
  server.handle_raw([](std::string_view body) { return std::string(body); });
  std::thread serving([&] { server.run(); });

  Result r{"request", endpoint, count, a.size, 0, {}};
  r.latency_ns.reserve(count);
  std::atomic<uint64_t> done{0};
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(a.timeout * 1000));
  std::string failure;
  {
    Client client(ClientOptions{{}, context});
    client.connect(endpoint);
    ProgressLine line(done, count, progress);
    std::deque<std::pair<std::future<std::string>, uint64_t>> in_flight;
    const auto start = Clock::now();
    uint64_t sent = 0;
    try {
      while (done < count) {
        while (sent < count && in_flight.size() < window) {
          in_flight.emplace_back(client.request_raw(make_body(sent, a.size), timeout), now_ns());
          ++sent;
        }
        auto [future, t0] = std::move(in_flight.front());
        in_flight.pop_front();
        future.get();
        r.latency_ns.push_back(now_ns() - t0);
        done.fetch_add(1, std::memory_order_relaxed);
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  }
  server.stop();
  serving.join();
  if (!failure.empty()) throw CliFailure(kTimeout, "request bench stopped: " + failure);
  return r;
}

// --- proxy: a Producer thread publishes, this thread consumes and ACKs ------
//
// Both ends are the library's own clients (producer.hpp, consumer.hpp), so
// the figures are what an application gets. The Producer keeps `window`
// messages unconfirmed (it batches what waits behind the PUT on the wire);
// the Consumer takes `window` deliveries on credit and exactly `count`
// (CONSUME limit), so it never takes a message it does not count.

// "Nothing for S s": the exit-2 failure, worded as the other proxy commands word it.
CliFailure no_progress(const std::string& what, const std::string& proxy, double seconds,
                       const std::string& hint) {
  return CliFailure(kTimeout, what + " from courier-proxy at " + proxy + " within " + seconds_text(seconds) +
                                  " s; is it running (courier-proxy --listen " + proxy +
                                  ")? Use --proxy EP for another endpoint, --timeout S to wait longer" + hint);
}

Result bench_proxy(const BenchArgs& a, uint64_t count, uint64_t window, bool progress) {
  const std::string queue = a.queue.empty() ? "bench." + std::to_string(::getpid()) : a.queue;
  check_queue_name(queue);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(a.timeout * 1000));
  // Slices of waiting: a failed producer is noticed this soon, not after --timeout.
  const auto slice = std::min(timeout, std::chrono::milliseconds(100));
  Context context;  // one ZeroMQ I/O thread for both ends, as before
  ConsumerOptions co;
  co.endpoint = a.proxy;
  co.socket.curve = curve_options(a.curve, false);
  co.client_name = "courier-cli bench consumer";
  co.prefetch = static_cast<uint32_t>(window);
  co.limit = count;
  co.context = context;
  Consumer consumer(queue, co);
  try {
    if (!consumer.wait_consuming(timeout)) {
      throw no_progress("no answer to CONSUME", a.proxy, a.timeout, curve_hint(a.curve));
    }
  } catch (const RemoteError& e) {
    throw CliFailure(kRemote, std::string("courier-proxy refused CONSUME: ") + e.what());
  }

  Result r{"proxy", a.proxy + " queue " + queue, count, a.size, 0, {}};
  r.latency_ns.reserve(count);
  std::atomic<uint64_t> received{0};
  std::atomic<bool> producer_failed{false};
  std::string producer_failure;  // set before producer_failed, read after the join
  const auto start = Clock::now();
  std::thread producer([&] {
    try {
      ProducerOptions po;
      po.endpoint = a.proxy;
      po.socket.curve = curve_options(a.curve, false);
      po.client_name = "courier-cli bench producer";
      po.window = window;
      po.context = context;
      Producer p(po);
      // No callbacks: a refused PUT is rethrown by flush(), and the consumer
      // measures the latency.
      for (uint64_t i = 0; i < count; ++i) p.publish_raw_async(queue, make_body(i, a.size));
      while (!p.flush(slice)) {
      }
    } catch (const ClosedError&) {
      // the consumer gave up and shut the context down: its failure is the one to report
    } catch (const std::exception& e) {
      producer_failure = e.what();
      producer_failed = true;
    }
  });
  ProgressLine line(received, count, progress);
  std::string failure;
  try {
    uint64_t last = now_ns();  // the last delivery (one clock read per message)
    const uint64_t timeout_ns = static_cast<uint64_t>(a.timeout * 1e9);
    while (received < count && !producer_failed) {
      std::optional<RawDelivery> d = consumer.receive_raw(slice);
      if (!d) {
        if (now_ns() - last >= timeout_ns) {
          throw no_progress("no DELIVER", a.proxy, a.timeout, curve_hint(a.curve));
        }
        continue;
      }
      last = now_ns();
      r.latency_ns.push_back(last - sent_ns(d->bytes().data(), d->bytes().size()));
      d->ack();
      received.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  line.stop();
  // A stalled run: wake the producer wherever it waits (window full, flush).
  if (received < count) context.shutdown();
  producer.join();
  if (producer_failed) throw CliFailure(kRemote, "producer: " + producer_failure);
  if (!failure.empty()) throw CliFailure(kTimeout, "consumer: " + failure);
  return r;
}

int run_bench(const BenchArgs& a) {
  const bool progress = !a.quiet && ::isatty(STDERR_FILENO);
  Result r;
  if (a.mode == "pipeline") {
    r = bench_pipeline(a, a.count ? a.count : 200000, progress);
  } else if (a.mode == "request") {
    r = bench_request(a, a.count ? a.count : 20000, a.window ? a.window : 1, progress);
  } else {
    r = bench_proxy(a, a.count ? a.count : 20000, a.window ? a.window : 256, progress);
  }
  report(r, a.json_out);
  return kOk;
}

}  // namespace

void add_bench_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* bench = app.add_subcommand(
      "bench", "Measure throughput and latency: 'pipeline' (PUSH->PULL), 'request' (round trips) or "
               "'proxy' (PUT->DELIVER->ACK through a running courier-proxy). A live progress line on a "
               "terminal, then msgs/s, MB/s and latency p50/p99/p99.9 (text or --json).");
  bench->add_option("mode", args->mode, "pipeline, request or proxy")
      ->required()
      ->check(CLI::IsMember({"pipeline", "request", "proxy"}));
  bench->add_option("--count,-n", args->count,
                    "messages to send (default 200000 pipeline, 20000 request and proxy)")
      ->transform(whole_number("messages", 1, kMaxBenchCount));
  bench->add_option("--size", args->size, "bytes per message body (>= 21)")
      ->transform(whole_number("bytes", 0, uint64_t{64} << 20))
      ->capture_default_str();
  bench->add_option("--endpoint", args->endpoint, "pipeline/request: endpoint the receiving end binds")
      ->capture_default_str();
  bench->add_option("--proxy", args->proxy, "proxy: courier-proxy endpoint")->capture_default_str();
  add_curve_client_options(bench, args->curve);
  bench->add_option("--queue", args->queue, "proxy: queue to use (default bench.<pid>; left empty after)");
  bench->add_option("--window", args->window,
                    "requests / unconfirmed PUTs in flight (default 1 request, 256 proxy)")
      ->transform(whole_number("messages", 1, 100000));
  bench->add_option("--timeout", args->timeout, "seconds without progress before giving up (exit 2)")
      ->check(positive_seconds())
      ->capture_default_str();
  bench->add_flag("--json", args->json_out, "print the summary as one JSON object");
  bench->add_flag("--quiet,-q", args->quiet, "no progress line");
  bench->callback([&action, args] { action = [args] { return run_bench(*args); }; });
}

}  // namespace courier::cli
