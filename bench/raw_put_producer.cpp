#include "raw_put_producer.hpp"

#include "auto_id.hpp"

#include <msgpack.hpp>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <chrono>
#include <poll.h>
#include <ctime>
#include <random>
#include <stdexcept>
#include <vector>

namespace bench {
namespace {

void send_command(zmq::socket_t& s, const char* command, const msgpack::sbuffer& header, bool more) {
  s.send(zmq::buffer("CQP1", 4), zmq::send_flags::sndmore);
  s.send(zmq::buffer(std::string(command)), zmq::send_flags::sndmore);
  s.send(zmq::buffer(header.data(), header.size()), more ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

// A reply's command name and its header's "tag" (0 when absent); an ERROR
// throws with its reason.
std::pair<std::string, uint64_t> read_reply(zmq::socket_t& s) {
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(s, std::back_inserter(frames))) throw std::runtime_error("no reply");
  if (frames.size() < 3) throw std::runtime_error("reply with fewer than 3 frames");
  std::string command = frames[1].to_string();
  msgpack::object_handle h = msgpack::unpack(frames[2].data<char>(), frames[2].size());
  uint64_t tag = 0;
  std::string reason;
  for (const auto& kv : h.get().via.map) {
    const std::string key = kv.key.as<std::string>();
    if (key == "tag") tag = kv.val.as<uint64_t>();
    if (key == "reason") reason = kv.val.as<std::string>();
  }
  if (command == "ERROR") throw std::runtime_error("proxy answered ERROR: " + reason);
  return {command, tag};
}

// A DEALER that has said HELLO and got WELCOME.
zmq::socket_t connect_hello(zmq::context_t& ctx, const std::string& endpoint) {
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::rcvtimeo, 30000);
  s.connect(endpoint);
  msgpack::sbuffer header;
  msgpack::packer<msgpack::sbuffer> p(header);
  p.pack_map(1);
  p.pack("v");
  p.pack(1);
  send_command(s, "HELLO", header, false);
  if (read_reply(s).first != "WELCOME") throw std::runtime_error("HELLO not answered by WELCOME");
  return s;
}

// The id the library's Producer would give message n (src/auto_id.hpp), so
// the proxy's dedup index sees what it sees in production.
std::string auto_id(const std::string& prefix, uint64_t n) {
  char buf[courier::detail::kAutoCounterMax];
  return prefix + std::string(courier::detail::sortable_counter(n, buf));
}

// Sends one PUT of `k` copies of `body` with ids prefix + first.. (k ≥ 2:
// the batch form, §3.4).
void send_put(zmq::socket_t& s, msgpack::sbuffer& header, const std::string& queue, uint64_t tag,
              const std::string& prefix, uint64_t first, uint64_t k, const std::string& body) {
  header.clear();
  msgpack::packer<msgpack::sbuffer> p(header);
  p.pack_map(k > 1 ? 4 : 3);
  p.pack("q");
  p.pack(queue);
  p.pack("tag");
  p.pack(tag);
  if (k > 1) {
    p.pack("n");
    p.pack(k);
    p.pack("ids");
    p.pack_array(static_cast<uint32_t>(k));
    for (uint64_t i = 0; i < k; ++i) p.pack(auto_id(prefix, first + i));
  } else {
    p.pack("id");
    p.pack(auto_id(prefix, first));
  }
  send_command(s, "PUT", header, true);
  for (uint64_t i = 0; i < k; ++i) {
    s.send(zmq::buffer(body), i + 1 < k ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

// Ids unique per run (a random prefix), so the dedup window never folds
// one run's messages into an earlier one's.
std::string id_prefix() { return std::to_string(std::random_device{}()) + "-"; }

}  // namespace

void publish_raw_puts(const RawPutOptions& o, const std::string& body) {
  zmq::context_t ctx(1);
  zmq::socket_t s = connect_hello(ctx, o.endpoint);
  msgpack::sbuffer header;
  const std::string prefix = id_prefix();
  std::vector<uint64_t> size_of_tag(1, 0);  // messages in the PUT of each tag
  uint64_t sent = 0, confirmed = 0, unconfirmed = 0;
  while (confirmed < o.messages) {
    while (sent < o.messages && unconfirmed + o.per_put <= std::max(o.window, o.per_put)) {
      const uint64_t k = std::min(o.per_put, o.messages - sent);
      send_put(s, header, o.queue, size_of_tag.size(), prefix, sent, k, body);
      size_of_tag.push_back(k);
      sent += k;
      unconfirmed += k;
    }
    const auto [command, tag] = read_reply(s);
    if (command != "CONFIRM" || tag == 0 || tag >= size_of_tag.size()) continue;
    confirmed += size_of_tag[tag];
    unconfirmed -= size_of_tag[tag];
  }
}

std::vector<double> confirm_latencies(const RawPutOptions& o, const std::string& body, uint64_t rate, bool ping) {
  using Clock = std::chrono::steady_clock;
  zmq::context_t ctx(1);
  zmq::socket_t s = connect_hello(ctx, o.endpoint);
  msgpack::sbuffer header;
  const std::string prefix = id_prefix();
  std::vector<Clock::time_point> sent_at;  // by tag - 1
  sent_at.reserve(o.messages);
  std::vector<double> latencies;
  latencies.reserve(o.messages);
  const auto gap = std::chrono::nanoseconds(1000000000ull / rate);
  auto next = Clock::now();
  const int fd = s.get(zmq::sockopt::fd);
  const auto deadline = next + gap * o.messages + std::chrono::seconds(60);
  while (latencies.size() < o.messages) {
    const auto now = Clock::now();
    if (now > deadline) throw std::runtime_error("confirms stopped coming for 60 s");
    if (sent_at.size() < o.messages && now >= next) {
      sent_at.push_back(Clock::now());
      if (ping) {
        header.clear();
        msgpack::packer<msgpack::sbuffer>(header).pack_map(0);
        send_command(s, "PING", header, false);
      } else {
        send_put(s, header, o.queue, sent_at.size(), prefix, sent_at.size(), 1, body);
      }
      next += gap;
      continue;
    }
    // Wait for a confirm until the next send is due: ppoll on ZMQ_FD for
    // sub-millisecond sleeps (zmq_poll counts in ms: at 5000/s it would
    // spin), after ZMQ_EVENTS says nothing is waiting (ZMQ_FD is edge-like).
    if (!(s.get(zmq::sockopt::events) & ZMQ_POLLIN)) {
      const auto wait = sent_at.size() < o.messages ? next - now : std::chrono::nanoseconds(200000000);
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
      timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
      pollfd pfd{fd, POLLIN, 0};
      ::ppoll(&pfd, 1, &ts, nullptr);
      continue;
    }
    while (true) {
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(s, std::back_inserter(frames), zmq::recv_flags::dontwait)) break;
      const auto arrived = Clock::now();
      if (frames.size() < 3) continue;
      if (frames[1].to_string() == "ERROR") throw std::runtime_error("proxy answered ERROR to a PUT");
      if (ping && frames[1].to_string() == "PONG") {
        latencies.push_back(std::chrono::duration<double, std::micro>(arrived - sent_at[latencies.size()]).count());
        continue;
      }
      if (frames[1].to_string() != "CONFIRM") continue;
      msgpack::object_handle h = msgpack::unpack(frames[2].data<char>(), frames[2].size());
      for (const auto& kv : h.get().via.map) {
        if (kv.key.as<std::string>() != "tag") continue;
        const uint64_t tag = kv.val.as<uint64_t>();
        if (tag >= 1 && tag <= sent_at.size()) {
          latencies.push_back(std::chrono::duration<double, std::micro>(arrived - sent_at[tag - 1]).count());
        }
      }
    }
  }
  return latencies;
}

}  // namespace bench
