// Pipeline throughput: courier Push/Pull (typed) and RawPush/RawPull (bytes)
// against the same thing hand-written with cppzmq + msgpack-c, one process
// per role, over tcp loopback. Driven by bench/run_core.sh.
//
//   pipeline_bench --role recv --impl courier|raw --mode typed|bytes
//                  [--size N] --count N [--endpoint EP] [--endpoint-file F]
//                  [--hwm N] [--warmup N]
//   pipeline_bench --role send (same flags; --endpoint is where to connect)
//
// The receiver binds, publishes its endpoint, and times from message
// `warmup` to the last one; it checks every message (ids add up, sizes
// right) and prints one JSON line on stdout. The sender connects and sends
// `count` messages as fast as PUSH lets it (PUSH blocks at the high-water
// mark: nothing is dropped); a long linger makes sure the tail is delivered
// before it exits.
#include "bench_util.hpp"

#include <courier/pipeline.hpp>

#include <zmq.hpp>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using bench::Args;
using bench::Clock;
using bench::Tick;

constexpr int kLingerMs = 10000;

struct Config {
  std::string role, impl, mode, endpoint, endpoint_file;
  std::size_t size = 0;
  long long count = 0, warmup = 0;
  int hwm = 0;
};

// --- What the receiver measures ----------------------------------------------

class Meter {
 public:
  explicit Meter(const Config& c) : c_(c) {}
  // Call once per received message, after it is fully decoded.
  void tick(long long i) {
    if (i == c_.warmup) {
      t0_ = Clock::now();
      cpu0_ = bench::cpu_seconds();
    }
  }
  void report(std::int64_t checksum, std::int64_t expected) const {
    const double secs = bench::seconds_since(t0_);
    const double cpu = bench::cpu_seconds() - cpu0_;
    const long long timed = c_.count - 1 - c_.warmup;  // intervals timed
    const double rate = timed / secs;
    const std::size_t bytes = c_.mode == "typed" ? frame_size_ : c_.size;
    std::printf("{\"bench\":\"pipeline\",\"mode\":\"%s\",\"impl\":\"%s\",\"size\":%zu,"
                "\"frame_bytes\":%zu,\"count\":%lld,\"timed\":%lld,\"secs\":%.6f,"
                "\"msgs_per_s\":%.1f,\"mb_per_s\":%.2f,\"recv_cpu_s\":%.4f,\"ok\":%s}\n",
                c_.mode.c_str(), c_.impl.c_str(), c_.size, bytes, c_.count, timed, secs, rate,
                rate * static_cast<double>(bytes) / 1e6, cpu, checksum == expected ? "true" : "false");
    std::fflush(stdout);
  }
  void set_frame_size(std::size_t n) { frame_size_ = n; }

 private:
  const Config& c_;
  Clock::time_point t0_ = Clock::now();
  double cpu0_ = 0;
  std::size_t frame_size_ = 0;
};

std::int64_t expected_sum(long long count) { return count * (count - 1) / 2; }

// --- courier ------------------------------------------------------------------

courier::SocketOptions courier_options(const Config& c) {
  courier::SocketOptions o;
  o.send_hwm = c.hwm;
  o.receive_hwm = c.hwm;
  o.linger = std::chrono::milliseconds(kLingerMs);
  return o;
}

void courier_send(const Config& c) {
  // Its own context, like raw_send: destroying the last handle terminates it,
  // which waits (at most the linger) until the tail is delivered.
  courier::Context ctx;
  if (c.mode == "typed") {
    courier::Push<Tick> push(courier::PushOptions{courier_options(c), ctx});
    push.connect(c.endpoint);
    Tick t = bench::make_tick();
    for (long long i = 0; i < c.count; ++i) {
      t.id = i;
      t.ts = static_cast<double>(i);
      push.send(t);
    }
  } else {
    courier::RawPush push(courier::PushOptions{courier_options(c), ctx});
    push.connect(c.endpoint);
    std::vector<char> buf(c.size, 'x');
    for (long long i = 0; i < c.count; ++i) {
      std::memcpy(buf.data(), &i, sizeof i < c.size ? sizeof i : c.size);
      push.send(std::string_view(buf.data(), buf.size()));
    }
  }
}

void courier_recv(const Config& c) {
  Meter meter(c);
  std::int64_t sum = 0;
  if (c.mode == "typed") {
    courier::Pull<Tick> pull(courier::PullOptions{courier_options(c)});
    pull.bind(c.endpoint);
    bench::publish_endpoint(c.endpoint_file, pull.last_endpoint());
    for (long long i = 0; i < c.count; ++i) {
      const Tick t = pull.receive();
      if (t.name.size() != 16 || t.payload.size() != 64) sum = -1;
      sum += t.id;
      meter.tick(i);
    }
    meter.set_frame_size(courier::encode(bench::make_tick()).size());
  } else {
    courier::RawPull pull(courier::PullOptions{courier_options(c)});
    pull.bind(c.endpoint);
    bench::publish_endpoint(c.endpoint_file, pull.last_endpoint());
    // One reused frame, as the hand-written receiver below reuses its
    // message_t: receive_into is courier's allocation-free form of receive().
    zmq::message_t msg;
    for (long long i = 0; i < c.count; ++i) {
      pull.receive_into(msg, -1);
      if (msg.size() != c.size) sum = -1;
      sum += i;
      meter.tick(i);
    }
  }
  meter.report(sum, expected_sum(c.count));
}

// --- hand-rolled cppzmq + msgpack-c (what a competent user writes) -----------

zmq::socket_t raw_socket(zmq::context_t& ctx, zmq::socket_type type, const Config& c) {
  zmq::socket_t s(ctx, type);
  s.set(zmq::sockopt::sndhwm, c.hwm);
  s.set(zmq::sockopt::rcvhwm, c.hwm);
  s.set(zmq::sockopt::linger, kLingerMs);
  return s;
}

void raw_send(const Config& c) {
  zmq::context_t ctx(1);
  zmq::socket_t sock = raw_socket(ctx, zmq::socket_type::push, c);
  sock.connect(c.endpoint);
  if (c.mode == "typed") {
    Tick t = bench::make_tick();
    msgpack::sbuffer sbuf;  // reused: one growth, then no allocation
    for (long long i = 0; i < c.count; ++i) {
      t.id = i;
      t.ts = static_cast<double>(i);
      sbuf.clear();
      msgpack::pack(sbuf, t);
      sock.send(zmq::buffer(sbuf.data(), sbuf.size()), zmq::send_flags::none);
    }
  } else {
    std::vector<char> buf(c.size, 'x');
    for (long long i = 0; i < c.count; ++i) {
      std::memcpy(buf.data(), &i, sizeof i < c.size ? sizeof i : c.size);
      sock.send(zmq::buffer(buf), zmq::send_flags::none);
    }
  }
  sock.close();
  ctx.close();  // waits (at most the linger) until the tail is delivered
}

void raw_recv(const Config& c) {
  zmq::context_t ctx(1);
  zmq::socket_t sock = raw_socket(ctx, zmq::socket_type::pull, c);
  sock.bind(c.endpoint);
  bench::publish_endpoint(c.endpoint_file, sock.get(zmq::sockopt::last_endpoint));
  Meter meter(c);
  std::int64_t sum = 0;
  zmq::message_t msg;
  if (c.mode == "typed") {
    for (long long i = 0; i < c.count; ++i) {
      (void)sock.recv(msg, zmq::recv_flags::none);
      const msgpack::object_handle oh =
          msgpack::unpack(static_cast<const char*>(msg.data()), msg.size());
      const Tick t = oh.get().as<Tick>();
      if (t.name.size() != 16 || t.payload.size() != 64) sum = -1;
      sum += t.id;
      meter.tick(i);
    }
    msgpack::sbuffer sbuf;
    msgpack::pack(sbuf, bench::make_tick());
    meter.set_frame_size(sbuf.size());
  } else {
    for (long long i = 0; i < c.count; ++i) {
      (void)sock.recv(msg, zmq::recv_flags::none);
      if (msg.size() != c.size) sum = -1;
      sum += i;
      meter.tick(i);
    }
  }
  meter.report(sum, expected_sum(c.count));
}

}  // namespace

int main(int argc, char** argv) {
  const Args a(argc, argv);
  Config c;
  c.role = a.get("role", "");
  c.impl = a.get("impl", "courier");
  c.mode = a.get("mode", "typed");
  c.endpoint = a.get("endpoint", c.role == "recv" ? "tcp://127.0.0.1:*" : "");
  c.endpoint_file = a.get("endpoint-file", "");
  c.size = static_cast<std::size_t>(a.num("size", 0));
  c.count = a.num("count", 1000000);
  c.warmup = a.num("warmup", c.count / 20);
  c.hwm = static_cast<int>(a.num("hwm", 10000));
  if (c.role != "send" && c.role != "recv") Args::usage("--role send|recv");
  if (c.impl != "courier" && c.impl != "raw") Args::usage("--impl courier|raw");
  if (c.mode != "typed" && c.mode != "bytes") Args::usage("--mode typed|bytes");
  if (c.mode == "bytes" && c.size == 0) Args::usage("--mode bytes needs --size N");
  if (c.endpoint.empty()) Args::usage("--role send needs --endpoint");
  if (c.count < 2 || c.warmup < 0 || c.warmup >= c.count - 1) Args::usage("bad --count/--warmup");

  if (c.role == "send") {
    c.impl == "courier" ? courier_send(c) : raw_send(c);
    // Whole-process CPU, all threads, start-up included (negligible at these
    // counts); the context is closed, so the tail has been delivered.
    std::printf("{\"send_cpu_s\":%.4f,\"send_count\":%lld}\n", bench::cpu_seconds(), c.count);
  } else {
    c.impl == "courier" ? courier_recv(c) : raw_recv(c);
  }
  return 0;
}
