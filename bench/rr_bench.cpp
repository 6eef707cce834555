// Request/reply: courier Client/Server against a hand-written cppzmq
// DEALER/ROUTER pair speaking the same PROTOCOL.md §2 frames, one process per
// role, over tcp loopback. Driven by bench/run_core.sh.
//
//   rr_bench --role server --impl courier|raw [--endpoint EP] [--endpoint-file F]
//   rr_bench --role client --impl courier|raw --mode latency|throughput
//            --endpoint EP --count N [--inflight N] [--warmup N]
//
// The request and the reply are both the Tick struct (bench_util.hpp); the
// server decodes the request and encodes the reply, like a real handler.
// latency: one request in flight, each round trip timed; prints p50/p99/mean.
// throughput: `inflight` requests kept in flight; prints replies per second.
// The server runs until killed (the driver sends SIGTERM).
#include "bench_util.hpp"

#include <courier/request.hpp>

#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <future>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using bench::Args;
using bench::Clock;
using bench::Tick;

struct Config {
  std::string role, impl, mode, endpoint, endpoint_file;
  long long count = 0, warmup = 0, inflight = 1;
};

void report_latency(const Config& c, std::vector<double>& us, bool ok) {
  std::sort(us.begin(), us.end());
  const auto at = [&](double q) { return us[static_cast<std::size_t>(q * (us.size() - 1))]; };
  double sum = 0;
  for (double v : us) sum += v;
  std::printf("{\"bench\":\"rr\",\"mode\":\"latency\",\"impl\":\"%s\",\"count\":%zu,"
              "\"p50_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f,\"max_us\":%.2f,\"ok\":%s}\n",
              c.impl.c_str(), us.size(), at(0.50), at(0.99), sum / us.size(), us.back(),
              ok ? "true" : "false");
}

// client_cpu_s: the client process's CPU (user + system, all threads: the
// caller, courier's I/O thread, ZeroMQ's) over the timed part.
void report_throughput(const Config& c, double secs, double cpu_s, bool ok) {
  const long long timed = c.count - c.warmup;
  std::printf("{\"bench\":\"rr\",\"mode\":\"throughput\",\"impl\":\"%s\",\"inflight\":%lld,"
              "\"count\":%lld,\"secs\":%.6f,\"msgs_per_s\":%.1f,\"client_cpu_s\":%.6f,"
              "\"client_cpu_ns_per_req\":%.1f,\"ok\":%s}\n",
              c.impl.c_str(), c.inflight, timed, secs, timed / secs, cpu_s, 1e9 * cpu_s / timed,
              ok ? "true" : "false");
}

courier::SocketOptions options() {
  courier::SocketOptions o;
  o.send_hwm = 100000;
  o.receive_hwm = 100000;
  return o;
}

// --- courier ------------------------------------------------------------------

void courier_server(const Config& c) {
  courier::Server server(courier::ServerOptions{options()});
  server.bind(c.endpoint);
  server.handle<Tick>([](const Tick& req) { return req; });
  bench::publish_endpoint(c.endpoint_file, server.last_endpoint());
  server.run();
}

void courier_client(const Config& c) {
  courier::Client client(courier::ClientOptions{options()});
  client.connect(c.endpoint);
  Tick t = bench::make_tick();
  bool ok = true;
  if (c.mode == "latency") {
    std::vector<double> us;
    us.reserve(c.count);
    for (long long i = 0; i < c.count + c.warmup; ++i) {
      t.id = i;
      const auto t0 = Clock::now();
      const Tick rep = client.call<Tick>(t, 10s);
      const double d = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      ok = ok && rep.id == i;
      if (i >= c.warmup) us.push_back(d);
    }
    report_latency(c, us, ok);
  } else {
    std::deque<std::future<Tick>> window;
    long long next = 0, done = 0;
    Clock::time_point t0 = Clock::now();
    double cpu0 = bench::cpu_seconds();
    while (done < c.count) {
      while (next < c.count && static_cast<long long>(window.size()) < c.inflight) {
        t.id = next++;
        window.push_back(client.request<Tick>(t, 30s));
      }
      const Tick rep = window.front().get();
      window.pop_front();
      ok = ok && rep.id == done;
      if (++done == c.warmup) {
        t0 = Clock::now();
        cpu0 = bench::cpu_seconds();
      }
    }
    report_throughput(c, bench::seconds_since(t0), bench::cpu_seconds() - cpu0, ok);
  }
}

// --- hand-rolled cppzmq + msgpack-c -------------------------------------------

// The §2 header {"id": n} (request) / {"id": n, "ok": true} (reply).
void pack_header(msgpack::sbuffer& buf, std::uint64_t id, bool reply) {
  buf.clear();
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(reply ? 2 : 1);
  pk.pack(std::string("id"));
  pk.pack(id);
  if (reply) {
    pk.pack(std::string("ok"));
    pk.pack(true);
  }
}

std::uint64_t header_id(const zmq::message_t& frame) {
  const msgpack::object_handle oh =
      msgpack::unpack(static_cast<const char*>(frame.data()), frame.size());
  const msgpack::object& o = oh.get();
  for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
    const msgpack::object_kv& kv = o.via.map.ptr[i];
    if (kv.key.as<std::string>() == "id") return kv.val.as<std::uint64_t>();
  }
  throw std::runtime_error("no id");
}

void raw_server(const Config& c) {
  zmq::context_t ctx(1);
  zmq::socket_t sock(ctx, zmq::socket_type::router);
  sock.set(zmq::sockopt::router_mandatory, 1);
  sock.set(zmq::sockopt::sndhwm, 100000);
  sock.set(zmq::sockopt::rcvhwm, 100000);
  sock.set(zmq::sockopt::linger, 1000);
  sock.bind(c.endpoint);
  bench::publish_endpoint(c.endpoint_file, sock.get(zmq::sockopt::last_endpoint));
  std::vector<zmq::message_t> parts;
  msgpack::sbuffer head, body;
  for (;;) {
    parts.clear();
    (void)zmq::recv_multipart(sock, std::back_inserter(parts));
    if (parts.size() != 4) continue;  // [id][""][header][body]
    const std::uint64_t id = header_id(parts[2]);
    const msgpack::object_handle oh =
        msgpack::unpack(static_cast<const char*>(parts[3].data()), parts[3].size());
    const Tick req = oh.get().as<Tick>();
    pack_header(head, id, true);
    body.clear();
    msgpack::pack(body, req);
    sock.send(parts[0], zmq::send_flags::sndmore);
    sock.send(zmq::message_t(), zmq::send_flags::sndmore);
    sock.send(zmq::buffer(head.data(), head.size()), zmq::send_flags::sndmore);
    sock.send(zmq::buffer(body.data(), body.size()), zmq::send_flags::none);
  }
}

void raw_client(const Config& c) {
  zmq::context_t ctx(1);
  zmq::socket_t sock(ctx, zmq::socket_type::dealer);
  sock.set(zmq::sockopt::sndhwm, 100000);
  sock.set(zmq::sockopt::rcvhwm, 100000);
  sock.set(zmq::sockopt::linger, 1000);
  sock.connect(c.endpoint);
  Tick t = bench::make_tick();
  msgpack::sbuffer head, body;
  std::vector<zmq::message_t> parts;
  bool ok = true;
  const auto send = [&](long long id) {
    t.id = id;
    pack_header(head, static_cast<std::uint64_t>(id), false);
    body.clear();
    msgpack::pack(body, t);
    sock.send(zmq::message_t(), zmq::send_flags::sndmore);
    sock.send(zmq::buffer(head.data(), head.size()), zmq::send_flags::sndmore);
    sock.send(zmq::buffer(body.data(), body.size()), zmq::send_flags::none);
  };
  const auto recv = [&]() -> std::int64_t {  // the reply's decoded Tick id
    parts.clear();
    (void)zmq::recv_multipart(sock, std::back_inserter(parts));
    if (parts.size() != 3) return -1;  // [""][header][body]
    const std::uint64_t id = header_id(parts[1]);
    const msgpack::object_handle oh =
        msgpack::unpack(static_cast<const char*>(parts[2].data()), parts[2].size());
    const Tick rep = oh.get().as<Tick>();
    return rep.id == static_cast<std::int64_t>(id) ? rep.id : -1;
  };
  if (c.mode == "latency") {
    std::vector<double> us;
    us.reserve(c.count);
    for (long long i = 0; i < c.count + c.warmup; ++i) {
      const auto t0 = Clock::now();
      send(i);
      const std::int64_t id = recv();
      const double d = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      ok = ok && id == i;
      if (i >= c.warmup) us.push_back(d);
    }
    report_latency(c, us, ok);
  } else {
    long long next = 0, done = 0;
    Clock::time_point t0 = Clock::now();
    double cpu0 = bench::cpu_seconds();
    while (done < c.count) {
      while (next < c.count && next - done < c.inflight) send(next++);
      ok = ok && recv() == done;
      if (++done == c.warmup) {
        t0 = Clock::now();
        cpu0 = bench::cpu_seconds();
      }
    }
    report_throughput(c, bench::seconds_since(t0), bench::cpu_seconds() - cpu0, ok);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args a(argc, argv);
  Config c;
  c.role = a.get("role", "");
  c.impl = a.get("impl", "courier");
  c.mode = a.get("mode", "latency");
  c.endpoint = a.get("endpoint", c.role == "server" ? "tcp://127.0.0.1:*" : "");
  c.endpoint_file = a.get("endpoint-file", "");
  c.count = a.num("count", 20000);
  c.warmup = a.num("warmup", c.mode == "latency" ? 1000 : c.count / 20);
  c.inflight = a.num("inflight", c.mode == "latency" ? 1 : 1000);
  if (c.role != "server" && c.role != "client") Args::usage("--role server|client");
  if (c.impl != "courier" && c.impl != "raw") Args::usage("--impl courier|raw");
  if (c.mode != "latency" && c.mode != "throughput") Args::usage("--mode latency|throughput");
  if (c.endpoint.empty()) Args::usage("--role client needs --endpoint");
  if (c.count < 2 || c.inflight < 1 || c.warmup < 0 || c.warmup >= c.count) Args::usage("bad counts");

  if (c.role == "server") {
    c.impl == "courier" ? courier_server(c) : raw_server(c);
  } else {
    c.impl == "courier" ? courier_client(c) : raw_client(c);
  }
  return 0;
}
