// bench/drain_load.cpp — one consumer draining a backlog from courier-proxy
// (issue 13 item 4, driven by bench/backlog_drain.sh).
//
// A single courier::Consumer (the library's own, as in proxy_load) takes
// --messages deliveries on credit --credit, acks each one, and prints a JSON
// line every --interval-ms with the rate of that interval, so a drain that
// slows down as the queue's position moves through the journal shows up as a
// falling line rather than hiding in one average. The clock starts at the
// first delivery: connecting and CONSUME are not part of the drain rate
// (their time is reported as first_delivery_s). The last line is a summary.
//
// Threads: main thread only, plus the Consumer's own I/O thread.
#include <courier/consumer.hpp>
#include <courier/context.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Options {
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::string queue = "bench";
  uint64_t messages = 0;        // required: how many to drain (CONSUME limit)
  uint32_t credit = 4096;       // prefetch: unacked deliveries out to us
  int interval_ms = 1000;       // one rate line per interval
  int idle_timeout_s = 30;      // give up when nothing arrives this long
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Wall-clock time, so the script can line these up with its RssAnon samples.
double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Takes exactly o.messages deliveries (CONSUME limit) and acks each; prints
// one line per interval and the summary. Returns the exit status.
int drain(const Options& o) {
  courier::ConsumerOptions co;
  co.endpoint = o.endpoint;
  co.client_name = "drain_load";
  co.prefetch = o.credit;
  co.batch = std::min<uint32_t>(o.credit, 4096);
  co.limit = o.messages;
  co.context = courier::Context();
  courier::Consumer c(o.queue, co);

  const auto connected = Clock::now();
  const auto interval = std::chrono::milliseconds(o.interval_ms);
  std::optional<Clock::time_point> start;  // first delivery
  Clock::time_point tick{}, interval_start{}, last_delivery = connected;
  uint64_t received = 0, at_tick = 0;

  // One line for the deliveries since the last line (its span is measured,
  // not assumed: a line can come a little after its tick).
  auto print_interval = [&](Clock::time_point now, bool partial) {
    const double span = seconds(now - interval_start);
    std::printf("{\"mode\":\"drain_interval\",\"t\":%.3f,\"unix\":%.3f,\"msgs\":%llu,\"interval_s\":%.3f,"
                "\"msgs_per_s\":%.0f,\"partial\":%s}\n",
                seconds(now - *start), unix_now(), static_cast<unsigned long long>(received), span,
                static_cast<double>(received - at_tick) / span, partial ? "true" : "false");
    std::fflush(stdout);
    at_tick = received;
    interval_start = now;
  };

  while (received < o.messages) {
    const auto now = Clock::now();
    if (start && now >= tick) {
      print_interval(now, false);
      while (tick <= now) tick += interval;  // a stall gives one long interval, not many empty ones
    }
    if (now - last_delivery > std::chrono::seconds(o.idle_timeout_s)) {
      std::fprintf(stderr, "drain_load: nothing delivered for %d s after %llu of %llu messages\n",
                   o.idle_timeout_s, static_cast<unsigned long long>(received),
                   static_cast<unsigned long long>(o.messages));
      return 2;
    }
    // Wait no longer than the next tick, so interval lines stay on time.
    const auto wait = start ? std::chrono::duration_cast<std::chrono::milliseconds>(tick - now) + 1ms : 200ms;
    std::optional<courier::RawDelivery> d = c.receive_raw(wait);
    if (!d) continue;
    d->ack();
    ++received;
    last_delivery = Clock::now();
    if (!start) {
      start = last_delivery;
      interval_start = *start;
      tick = *start + interval;
    }
  }
  const auto end = Clock::now();
  // The unfinished last interval, marked partial: the script leaves it out
  // of the minimum (it can be a few milliseconds long).
  if (received > at_tick) print_interval(end, true);
  const double secs = seconds(end - *start);
  std::printf("{\"mode\":\"drain\",\"messages\":%llu,\"credit\":%u,\"first_delivery_s\":%.3f,\"seconds\":%.3f,"
              "\"msgs_per_s\":%.0f}\n",
              static_cast<unsigned long long>(received), o.credit, seconds(*start - connected), secs,
              static_cast<double>(received) / secs);
  return 0;  // ~Consumer sends the last ACK, then BYE, with a bounded linger
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: drain_load --messages N [--endpoint EP] [--queue Q] [--credit C (1-65536)]\n"
               "                  [--interval-ms MS (100-10000)] [--idle-timeout S]\n");
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (i + 1 >= argc) usage();
      const std::string v = argv[++i];
      if (a == "--endpoint") o.endpoint = v;
      else if (a == "--queue") o.queue = v;
      else if (a == "--messages") o.messages = std::stoull(v);
      else if (a == "--credit") o.credit = static_cast<uint32_t>(std::stoul(v));
      else if (a == "--interval-ms") o.interval_ms = std::stoi(v);
      else if (a == "--idle-timeout") o.idle_timeout_s = std::stoi(v);
      else usage();
    }
  } catch (const std::exception&) {
    usage();  // std::stoull & co. on a value that is not a number
  }
  if (o.messages < 1 || o.credit < 1 || o.credit > 65536 || o.interval_ms < 100 || o.interval_ms > 10000 ||
      o.idle_timeout_s < 1)
    usage();
  try {
    return drain(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drain_load: %s\n", e.what());
    return 3;
  }
}
