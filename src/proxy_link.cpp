#include "proxy_link.hpp"

#include <courier/errors.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace courier::detail {

namespace {

constexpr std::string_view kMagic = cqp1::kMagic;

// Returns: false when ZeroMQ had nowhere to queue it (first part only).
bool send_part(void* s, const void* data, std::size_t size, int flags, bool first) {
  zmq_msg_t m;
  zmq_msg_init_size(&m, size);
  if (size) std::memcpy(zmq_msg_data(&m), data, size);
  // Unbounded send queue (see open()): a message ZeroMQ takes is queued at
  // once, and once its first part is taken the rest are too. Only a socket
  // without any pipe refuses (see send()): then nothing must wait.
  const bool ok = send_frame(s, &m, flags, first ? 0 : -1);
  zmq_msg_close(&m);
  if (!ok && !first) throw_zmq_error(EAGAIN, "sending to courier-proxy");
  return ok;
}

}  // namespace

ProxyLink::ProxyLink(LinkConfig config) : config_(std::move(config)), hb_(config_.heartbeat) {
  msgpack::packer<msgpack::sbuffer>(empty_map_).pack_map(0);
  if (hb_.count() <= 0) hb_ = std::chrono::milliseconds(1000);
}

ProxyLink::~ProxyLink() { close(false, std::chrono::milliseconds(0)); }

void ProxyLink::stop_monitor() noexcept {
  if (monitor_.handle() == nullptr) return;
  if (socket_.handle() != nullptr) (void)zmq_socket_monitor(socket_.handle(), nullptr, 0);
  monitor_.close();
}

void ProxyLink::open() {
  stop_monitor();
  if (socket_.handle() != nullptr) {
    socket_.set(zmq::sockopt::linger, 0);  // what the old session held is resent anyway
    socket_.close();
  }
  zmq::socket_t s;
  try {
    s = zmq::socket_t(config_.context.zmq(), ZMQ_DEALER);
  } catch (const zmq::error_t& e) {
    throw_zmq_error(e.num(), "creating the DEALER socket for courier-proxy at " + config_.endpoint);
  }
  SocketOptions o = config_.socket;
  // Each open is a new proxy session: a fixed routing id would collide with
  // the old session the proxy still remembers.
  o.routing_id.clear();
  // What is queued is bounded by the owner (producer window, consumer
  // credit), and a DEALER at its HWM would block the I/O thread.
  o.send_hwm = 0;
  o.receive_hwm = 0;
  apply_options(s, o, config_.context);
  ++epoch_;
  // Watch the connection: a dropped TCP connection means a new proxy session.
  // inproc names are released asynchronously (by ZeroMQ's reaper), so each
  // monitor gets a name never used before in this process.
  static std::atomic<std::uint64_t> monitors{0};
  const std::string monitor_ep = "inproc://courier-link-monitor-" + std::to_string(++monitors);
  if (zmq_socket_monitor(s.handle(), monitor_ep.c_str(), ZMQ_EVENT_DISCONNECTED) != 0) {
    throw_zmq_error(zmq_errno(), "monitoring the connection to " + config_.endpoint);
  }
  monitor_ = zmq::socket_t(config_.context.zmq(), ZMQ_PAIR);
  monitor_.set(zmq::sockopt::linger, 0);
  monitor_.connect(monitor_ep);
  connect_or_throw(s.handle(), config_.endpoint);
  socket_ = std::move(s);
  welcomed_ = false;
  // A fresh session: the first boot it hears is whatever process answers.
  boot_.clear();
  restarted_ = false;
  const auto now = Clock::now();
  last_send_ = last_recv_ = last_ping_ = now;

  msgpack::sbuffer hello;
  cqp1::encode(hello, cqp1::Hello{config_.name});
  send("HELLO", hello);
}

void ProxyLink::close(bool say_bye, std::chrono::milliseconds linger) noexcept {
  stop_monitor();
  if (socket_.handle() == nullptr) return;
  try {
    if (say_bye) send_empty("BYE");
    socket_.set(zmq::sockopt::linger, static_cast<int>(std::max<long long>(0, linger.count())));
  } catch (...) {
    // closing anyway; the proxy notices the silence after 3 x hb
  }
  socket_.close();
}

void ProxyLink::send(std::string_view command, const msgpack::sbuffer& header,
                     const zmq::message_t* const* bodies, std::size_t body_count) {
  void* s = socket_.handle();
  // A socket whose handshakes fail (a CURVE peer for a plain client, an
  // unknown key) may be left without a pipe: ZeroMQ stops retrying. The
  // message is then dropped rather than waited on for ever; the owner's
  // silence rule (3 x hb) opens a fresh socket and resends what matters.
  if (!send_part(s, kMagic.data(), kMagic.size(), ZMQ_SNDMORE, true)) {
    ++unsendable_;
    return;
  }
  send_part(s, command.data(), command.size(), ZMQ_SNDMORE, false);
  send_part(s, header.data(), header.size(), body_count ? ZMQ_SNDMORE : 0, false);
  for (std::size_t i = 0; i < body_count; ++i) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    // A reference-counted copy for large bodies: the original stays for resends.
    zmq_msg_copy(&m, const_cast<zmq_msg_t*>(bodies[i]->handle()));
    const bool ok = send_frame(s, &m, i + 1 < body_count ? ZMQ_SNDMORE : 0, -1);
    zmq_msg_close(&m);
    if (!ok) throw_zmq_error(EAGAIN, "sending to courier-proxy");
  }
  last_send_ = Clock::now();
}

void ProxyLink::send_empty(std::string_view command) { send(command, empty_map_); }

bool ProxyLink::receive(Incoming& in, msgpack::zone& zone, cqp1::HeaderView* header) {
  void* s = socket_.handle();
  for (;;) {
    in.frames.clear();
    zmq::message_t first;
    if (!recv_frame(s, first.handle(), 0)) return false;
    bool more = first.more();
    in.frames.push_back(std::move(first));
    while (more) {
      zmq::message_t part;
      recv_frame(s, part.handle(), -1);  // the rest of a message is already here
      more = part.more();
      in.frames.push_back(std::move(part));
    }
    last_recv_ = Clock::now();
    if (in.frames.size() < 3 || in.frames[0].to_string_view() != kMagic) {
      ++malformed_;
      continue;
    }
    in.command = cqp1::parse_command(in.frames[1].to_string_view());
    if (in.command == cqp1::Command::UNKNOWN) {
      ++malformed_;
      continue;
    }
    zone.clear();
    try {
      *header = cqp1::HeaderView::parse(in.frames[2].data(), in.frames[2].size(), zone,
                                         cqp1::HeaderView::From::proxy);
      if (in.command == cqp1::Command::WELCOME) {
        const auto welcome = cqp1::Welcome::read(*header);
        if (welcome.hb && *welcome.hb > 0) hb_ = std::chrono::milliseconds(*welcome.hb);
        if (welcome.proxy) proxy_version_ = std::string(*welcome.proxy);
        welcomed_ = true;
      }
      if (in.command == cqp1::Command::WELCOME || in.command == cqp1::Command::PONG) note_boot(*header);
    } catch (const cqp1::BadRequest&) {
      ++malformed_;
      continue;
    }
    return true;
  }
}

bool ProxyLink::cancel_and_wait(std::string_view queue, EventfdWakeup& wake, std::chrono::milliseconds patience,
                                int earlier_cancels) {
  if (!welcomed_) return false;  // no session, nothing to apply
  msgpack::sbuffer header;
  cqp1::encode(header, cqp1::QueueOnly{queue});
  send("CANCEL", header);
  const auto deadline = deadline_after(patience);
  msgpack::zone zone;
  Incoming in;
  cqp1::HeaderView h = cqp1::HeaderView::parse("\x80", 1, zone);
  while (Clock::now() < deadline) {
    while (receive(in, zone, &h)) {
      if (in.command == cqp1::Command::CANCELLED && earlier_cancels-- <= 0) return true;
      if (in.command == cqp1::Command::ERROR && cqp1::ErrorReply::read(h).answers_request()) return true;
    }
    wait(wake, deadline);
  }
  return false;
}

// docs/PROTOCOL.md §3.12: one `boot` per proxy process. Another one on the
// same socket means ZeroMQ reconnected it to a restarted proxy.
void ProxyLink::note_boot(const cqp1::HeaderView& header) {
  const auto boot = cqp1::read_boot(header);
  if (!boot || boot->empty()) return;  // a proxy from before §3.12: the monitor still helps
  if (boot_.empty()) {
    boot_ = std::string(*boot);
  } else if (*boot != boot_) {
    restarted_ = true;
  }
}

// PROTOCOL.md §3.3.8: some message at least every hb (PING when idle); a
// PING also when the proxy has said nothing for hb, so that a live proxy
// always answers within 3 x hb even to a client that only sends ACKs.
bool ProxyLink::keep_alive(Clock::time_point now) {
  if (restarted_ || now - last_recv_ >= 3 * hb_) return false;
  // A drop before the proxy ever answered loses no session: ZeroMQ retries
  // the same socket, where the HELLO still waits. Reopening then would spin:
  // a peer that fails the handshake (a CURVE proxy and a plain client, or an
  // unknown key) drops every connection at once, and each closed socket
  // lingers with its file descriptors.
  if (disconnected() && welcomed_) return false;
  const bool idle = now - last_send_ >= hb_;
  const bool quiet = now - last_recv_ >= hb_ && now - last_ping_ >= hb_;
  if (idle || quiet) {
    send_empty("PING");
    last_ping_ = now;
  }
  return true;
}

Clock::time_point ProxyLink::next_deadline() const {
  // The earliest of: idle PING, quiet PING, and giving up on the proxy.
  return std::min({last_send_ + hb_, std::max(last_recv_ + hb_, last_ping_ + hb_), last_recv_ + 3 * hb_});
}

// Drains the monitor. Returns: true when a DISCONNECTED event was among them.
bool ProxyLink::disconnected() {
  bool lost = false;
  for (;;) {
    zmq::message_t event;
    if (!recv_frame(monitor_.handle(), event.handle(), 0)) return lost;
    if (event.size() >= 2) {
      uint16_t id;
      std::memcpy(&id, event.data(), sizeof id);
      if (id == ZMQ_EVENT_DISCONNECTED) lost = true;
    }
    if (event.more()) discard_rest(monitor_.handle());
  }
}

bool ProxyLink::wait(EventfdWakeup& wake, Clock::time_point until) {
  zmq_pollitem_t items[3] = {{socket_.handle(), 0, ZMQ_POLLIN, 0}, wake.poll_item(),
                             {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
  const int timeout = ms_until(until);
  if (zmq_poll(items, 3, timeout) < 0) {
    const int err = zmq_errno();
    if (err == EINTR) return false;
    throw_zmq_error(err, "waiting on courier-proxy at " + config_.endpoint);
  }
  if (items[1].revents) {
    wake.drain();
    return true;
  }
  return false;
}

}  // namespace courier::detail
