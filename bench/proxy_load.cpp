// bench/proxy_load.cpp — durable end-to-end load against courier-proxy.
//
// P producer threads publish with batch PUTs and a window of unconfirmed
// messages (PROTOCOL.md §3.4); C consumer threads CONSUME with credit and
// batch delivery and ACK each DELIVER in one ACK. Reports the end-to-end
// rate (first PUT to last ACKed delivery) and, in --latency mode,
// publish->CONFIRM latency percentiles at a fixed rate.
//
// Speaks CQP1 through src/protocol (the same unit the proxy uses), so the
// client costs little and the proxy is what is measured.
#include "protocol/cqp1.hpp"

#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace cqp1 = courier::cqp1;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string endpoint = "tcp://127.0.0.1:5555";
  std::string queue = "bench";
  uint64_t messages = 1000000;
  std::size_t size = 128;
  int producers = 1;
  int consumers = 1;
  uint64_t batch = 256;    // bodies per PUT
  uint64_t window = 4096;  // unconfirmed messages per producer
  uint64_t credit = 4096;  // per consumer
  bool latency = false;
  uint64_t rate = 10000;   // msgs/s in latency mode
};

void send_cmd(zmq::socket_t& s, std::string_view cmd, const msgpack::sbuffer& header, bool more = false) {
  s.send(zmq::buffer(cqp1::kMagic), zmq::send_flags::sndmore);
  s.send(zmq::buffer(cmd), zmq::send_flags::sndmore);
  s.send(zmq::buffer(header.data(), header.size()), more ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

// Reads one CQP1 message; returns the command name.
std::string recv_msg(zmq::socket_t& s, std::vector<zmq::message_t>& frames) {
  frames.clear();
  do {
    frames.emplace_back();
    (void)s.recv(frames.back());
  } while (frames.back().more());
  return std::string(frames.size() > 1 ? frames[1].to_string_view() : "");
}

// Distinguishes this run's ids from an earlier run's on the same proxy, which
// the dedup window would otherwise confirm as duplicates without storing.
unsigned run_nonce() {
  static const unsigned nonce = static_cast<unsigned>(
      std::chrono::system_clock::now().time_since_epoch().count() ^ (static_cast<unsigned>(getpid()) << 16));
  return nonce;
}

void producer(const Options& o, uint64_t count, const std::string& body, int index) {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::sndhwm, 0);
  s.set(zmq::sockopt::linger, 0);
  s.connect(o.endpoint);
  msgpack::sbuffer header;
  msgpack::zone zone;
  std::vector<zmq::message_t> frames;
  uint64_t sent = 0, confirmed = 0, tag = 0;
  std::vector<std::string> ids;
  while (confirmed < count) {
    while (sent < count && sent - confirmed < o.window) {
      const uint64_t k = std::min({o.batch, count - sent, o.window - (sent - confirmed)});
      cqp1::MapWriter w(header, 4);
      cqp1::pack_string(w.key("q"), o.queue);
      w.key("tag").pack(++tag);
      w.key("n").pack(k);
      auto& p = w.key("ids");
      p.pack_array(static_cast<uint32_t>(k));
      for (uint64_t i = 0; i < k; ++i) {
        char id[48];
        // Fixed-width ids sort in publish order, as courier::Producer makes them.
        int n = std::snprintf(id, sizeof id, "%08x-p%02d-%012llx", run_nonce(), index,
                              static_cast<unsigned long long>(sent + i));
        p.pack_str(n);
        p.pack_str_body(id, n);
      }
      send_cmd(s, "PUT", header, true);
      for (uint64_t i = 0; i < k; ++i) {
        s.send(zmq::buffer(body), i + 1 < k ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
      sent += k;
    }
    const std::string cmd = recv_msg(s, frames);
    zone.clear();
    auto h = cqp1::HeaderView::parse(frames[2].data(), frames[2].size(), zone,
                                    cqp1::HeaderView::From::proxy);
    if (cmd == "CONFIRM") {
      confirmed += h.uint("n").value_or(1);
    } else {
      std::fprintf(stderr, "producer: unexpected %s\n", cmd.c_str());
      std::exit(3);
    }
  }
}

void consumer(const Options& o, std::atomic<uint64_t>& received, uint64_t total) {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.connect(o.endpoint);
  msgpack::sbuffer header;
  msgpack::zone zone;
  std::vector<zmq::message_t> frames;
  {
    cqp1::MapWriter w(header, 3);
    cqp1::pack_string(w.key("q"), o.queue);
    w.key("credit").pack(o.credit);
    w.key("batch").pack(std::min<uint64_t>(o.credit, 4096));
    send_cmd(s, "CONSUME", header);
  }
  std::vector<uint64_t> ack;
  s.set(zmq::sockopt::rcvtimeo, 200);
  while (received.load(std::memory_order_relaxed) < total) {
    frames.clear();
    zmq::message_t first;
    if (!s.recv(first)) continue;
    bool more = first.more();
    frames.push_back(std::move(first));
    while (more) {
      frames.emplace_back();
      (void)s.recv(frames.back());
      more = frames.back().more();
    }
    const std::string_view cmd = frames[1].to_string_view();
    if (cmd != "DELIVER") continue;
    zone.clear();
    auto h = cqp1::HeaderView::parse(frames[2].data(), frames[2].size(), zone,
                                    cqp1::HeaderView::From::proxy);
    ack.clear();
    if (auto n = h.uint("n")) {
      const msgpack::object_array* d = h.array("d");
      for (uint32_t i = 0; i < d->size; ++i) ack.push_back(d->ptr[i].via.u64);
    } else {
      ack.push_back(h.need_uint("d"));
    }
    cqp1::MapWriter w(header, 1);
    w.key("d").pack(ack);
    send_cmd(s, "ACK", header);
    received.fetch_add(ack.size(), std::memory_order_relaxed);
  }
  // Let the last ACK leave before the socket closes.
  s.set(zmq::sockopt::linger, 1000);
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
    threads.emplace_back(producer, std::cref(o), n, std::cref(body), p);
  }
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("{\"mode\":\"throughput\",\"messages\":%llu,\"size\":%zu,\"producers\":%d,\"consumers\":%d,"
              "\"seconds\":%.3f,\"msgs_per_s\":%.0f}\n",
              static_cast<unsigned long long>(o.messages), o.size, o.producers, o.consumers, secs,
              o.messages / secs);
  return 0;
}

// One PUT at a time on a fixed schedule; latency = CONFIRM time - send time.
int run_latency(const Options& o) {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.connect(o.endpoint);
  const std::string body(o.size, 'x');
  msgpack::sbuffer header;
  std::vector<zmq::message_t> frames;
  std::vector<double> lat;
  lat.reserve(o.messages);
  const auto gap = std::chrono::nanoseconds(1000000000ull / o.rate);
  auto next = Clock::now();
  std::vector<Clock::time_point> sent_at(o.messages + 1);
  uint64_t sent = 0, confirmed = 0;
  msgpack::zone zone;
  s.set(zmq::sockopt::rcvtimeo, 1);
  while (confirmed < o.messages) {
    if (sent < o.messages && Clock::now() >= next) {
      cqp1::MapWriter w(header, 2);
      cqp1::pack_string(w.key("q"), o.queue);
      w.key("tag").pack(sent);
      send_cmd(s, "PUT", header, true);
      s.send(zmq::buffer(body));
      sent_at[sent] = Clock::now();
      ++sent;
      next += gap;
    }
    zmq::message_t m;
    if (!s.recv(m)) continue;
    frames.clear();
    frames.push_back(std::move(m));
    while (frames.back().more()) {
      frames.emplace_back();
      (void)s.recv(frames.back());
    }
    zone.clear();
    auto h = cqp1::HeaderView::parse(frames[2].data(), frames[2].size(), zone,
                                    cqp1::HeaderView::From::proxy);
    const uint64_t tag = h.need_uint("tag");
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent_at[tag]).count());
    ++confirmed;
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
    else if (a == "--batch") o.batch = std::stoull(next());
    else if (a == "--window") o.window = std::stoull(next());
    else if (a == "--credit") o.credit = std::stoull(next());
    else if (a == "--latency") o.latency = true;
    else if (a == "--rate") o.rate = std::stoull(next());
    else {
      std::fprintf(stderr,
                   "usage: proxy_load [--endpoint EP] [--queue Q] [--messages N] [--size B] [--producers P]\n"
                   "                  [--consumers C] [--batch K] [--window W] [--credit N] [--latency --rate R]\n");
      return 1;
    }
  }
  return o.latency ? run_latency(o) : run_throughput(o);
}
