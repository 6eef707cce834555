#include "zmq_util.hpp"

#include <courier/errors.hpp>

#include <cerrno>
#include <climits>
#include <string>

namespace courier::detail {

void throw_zmq_error(int err, std::string_view doing) {
  std::string text(doing);
  text += ": ";
  text += zmq_strerror(err);
  if (err == ETERM || err == ENOTSOCK) {
    throw ClosedError(text + " (the ZeroMQ context was shut down or the socket closed)");
  }
  throw Error(ErrorCode::protocol, text);
}

namespace {

std::string endpoint_hint(int err) {
  switch (err) {
    case EADDRINUSE:
      return " (something already listens there: pick another port, or bind "
             "tcp://127.0.0.1:* for an ephemeral one and read last_endpoint())";
    case EPROTONOSUPPORT:
      return " (use tcp://host:port, ipc:///path or inproc://name)";
    case EADDRNOTAVAIL:
    case ENODEV:
      return " (that address is not local to this machine)";
    case EINVAL:
      return " (malformed endpoint: expected e.g. tcp://127.0.0.1:5555 with a port in 1..65535, "
             "or ipc:///tmp/name)";
    case ENOCOMPATPROTO:
      return " (transport not compatible with this socket type)";
    default:
      return "";
  }
}

// libzmq 4.3 accepts "tcp://host:99999" and silently binds port 34463
// (99999 mod 65536). Refuse what ZeroMQ would misread.
bool tcp_port_is_valid(const std::string& endpoint) {
  constexpr std::string_view scheme = "tcp://";
  if (endpoint.compare(0, scheme.size(), scheme) != 0) return true;
  const std::size_t colon = endpoint.rfind(':');
  if (colon == std::string::npos || colon < scheme.size()) return false;
  const std::string port = endpoint.substr(colon + 1);
  if (port == "*") return true;
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoul(port) <= 65535;
}

void endpoint_op(void* socket, const std::string& endpoint, bool bind) {
  if (!tcp_port_is_valid(endpoint)) {
    throw ConfigError((bind ? "cannot bind " : "cannot connect ") + endpoint + ": " +
                      zmq_strerror(EINVAL) + endpoint_hint(EINVAL));
  }
  const int rc = bind ? zmq_bind(socket, endpoint.c_str()) : zmq_connect(socket, endpoint.c_str());
  if (rc == 0) return;
  const int err = zmq_errno();
  if (err == ETERM || err == ENOTSOCK) {
    throw_zmq_error(err, (bind ? "cannot bind " : "cannot connect ") + endpoint);
  }
  throw ConfigError((bind ? "cannot bind " : "cannot connect ") + endpoint + ": " +
                    zmq_strerror(err) + endpoint_hint(err));
}

}  // namespace

void bind_or_throw(void* socket, const std::string& endpoint) { endpoint_op(socket, endpoint, true); }

void connect_or_throw(void* socket, const std::string& endpoint) {
  endpoint_op(socket, endpoint, false);
}

std::string last_endpoint_of(void* socket) {
  char buf[1024];
  size_t len = sizeof buf;
  if (zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, buf, &len) != 0) {
    throw_zmq_error(zmq_errno(), "reading the last endpoint");
  }
  // ZeroMQ includes the terminating NUL in len.
  return std::string(buf, len > 0 ? len - 1 : 0);
}

int ms_until(Clock::time_point deadline) noexcept {
  const auto now = Clock::now();
  if (deadline <= now) return 0;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return left > INT_MAX ? INT_MAX : static_cast<int>(left);
}

Clock::time_point deadline_after(std::chrono::milliseconds timeout) noexcept {
  const auto now = Clock::now();
  if (timeout.count() <= 0) return now;
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now);
  if (timeout >= room) return Clock::time_point::max();
  return now + timeout;
}

bool wait_for(void* socket, short events, Clock::time_point deadline) {
  for (;;) {
    zmq_pollitem_t item{socket, 0, events, 0};
    const int left = deadline == Clock::time_point::max() ? -1 : ms_until(deadline);
    const int rc = zmq_poll(&item, 1, left);
    if (rc > 0) return true;
    if (rc == 0) {
      if (left == 0 || Clock::now() >= deadline) return false;
      continue;  // woke a little early (rounding): wait the rest
    }
    const int err = zmq_errno();
    if (err == EINTR) continue;
    throw_zmq_error(err, "waiting on a socket");
  }
}

namespace {

template <class Op>
bool timed_io(void* socket, short events, int timeout_ms, Op op, const char* doing) {
  Clock::time_point deadline{};
  bool have_deadline = false;
  for (;;) {
    if (op(timeout_ms < 0 ? 0 : ZMQ_DONTWAIT) >= 0) return true;
    const int err = zmq_errno();
    if (err == EINTR) continue;
    if (err != EAGAIN) throw_zmq_error(err, doing);
    if (timeout_ms == 0) return false;
    if (timeout_ms < 0) return false;  // the socket's own ZMQ_RCVTIMEO/SNDTIMEO expired
    if (!have_deadline) {
      deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
      have_deadline = true;
    }
    if (!wait_for(socket, events, deadline)) return false;
  }
}

}  // namespace

bool recv_frame(void* socket, zmq_msg_t* msg, int timeout_ms) {
  return timed_io(
      socket, ZMQ_POLLIN, timeout_ms, [&](int flags) { return zmq_msg_recv(msg, socket, flags); },
      "receiving");
}

bool send_frame(void* socket, zmq_msg_t* msg, int flags, int timeout_ms) {
  return timed_io(
      socket, ZMQ_POLLOUT, timeout_ms,
      [&](int f) { return zmq_msg_send(msg, socket, flags | f); }, "sending");
}

bool has_more(zmq_msg_t* msg) noexcept { return zmq_msg_more(msg) != 0; }

std::size_t discard_rest(void* socket) {
  std::size_t n = 0;
  zmq_msg_t part;
  zmq_msg_init(&part);
  int more = 1;
  size_t len = sizeof more;
  // Parts of a multipart message arrive together: these never wait.
  while (zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len) == 0 && more) {
    if (zmq_msg_recv(&part, socket, 0) < 0) {
      if (zmq_errno() == EINTR) continue;
      break;
    }
    ++n;
  }
  zmq_msg_close(&part);
  return n;
}

}  // namespace courier::detail
