#include <courier/errors.hpp>
#include <courier/options.hpp>

#include <zmq.hpp>

#include <climits>
#include <cstdlib>
#include <string>

namespace courier {
namespace {

void set_int(zmq::socket_ref s, int option, const char* name, long long value, long long min,
             long long max) {
  if (value < min || value > max) {
    throw ConfigError("socket option " + std::string(name) + " = " + std::to_string(value) +
                      " is out of range: accepted " + std::to_string(min) + ".." +
                      std::to_string(max));
  }
  const int v = static_cast<int>(value);
  if (zmq_setsockopt(s.handle(), option, &v, sizeof v) != 0) {
    throw ConfigError("cannot set socket option " + std::string(name) + " = " +
                      std::to_string(value) + ": " + zmq_strerror(zmq_errno()));
  }
}

}  // namespace

std::string default_proxy_endpoint() {
  const char* env = std::getenv("COURIER_PROXY_ENDPOINT");
  if (env != nullptr && *env != '\0') return env;
  return "tcp://127.0.0.1:5555";
}

void apply_options(zmq::socket_ref s, const SocketOptions& o) {
  set_int(s, ZMQ_SNDHWM, "send_hwm", o.send_hwm, 0, INT_MAX);
  set_int(s, ZMQ_RCVHWM, "receive_hwm", o.receive_hwm, 0, INT_MAX);
  if (o.linger.count() < 0) {
    throw ConfigError("socket option linger = " + std::to_string(o.linger.count()) +
                      " ms is not allowed: an infinite linger can hang close and exit; "
                      "use a bound such as 1000 ms (accepted 0.." +
                      std::to_string(INT_MAX) + ")");
  }
  set_int(s, ZMQ_LINGER, "linger", o.linger.count(), 0, INT_MAX);
  set_int(s, ZMQ_RECONNECT_IVL, "reconnect_interval", o.reconnect_interval.count(), 0, INT_MAX);
  set_int(s, ZMQ_RECONNECT_IVL_MAX, "reconnect_interval_max", o.reconnect_interval_max.count(), 0,
          INT_MAX);
  if (o.tcp_keepalive) {
    set_int(s, ZMQ_TCP_KEEPALIVE, "tcp_keepalive", 1, 0, 1);
    if (o.tcp_keepalive_idle.count() > 0) {
      set_int(s, ZMQ_TCP_KEEPALIVE_IDLE, "tcp_keepalive_idle", o.tcp_keepalive_idle.count(), 1,
              INT_MAX);
    }
    if (o.tcp_keepalive_interval.count() > 0) {
      set_int(s, ZMQ_TCP_KEEPALIVE_INTVL, "tcp_keepalive_interval",
              o.tcp_keepalive_interval.count(), 1, INT_MAX);
    }
  }
  if (o.immediate) set_int(s, ZMQ_IMMEDIATE, "immediate", 1, 0, 1);
  if (!o.routing_id.empty()) {
    if (o.routing_id.size() > 255 || o.routing_id[0] == '\0') {
      throw ConfigError("socket option routing_id must be 1..255 bytes and must not start with a "
                        "zero byte (got " + std::to_string(o.routing_id.size()) + " bytes)");
    }
    if (zmq_setsockopt(s.handle(), ZMQ_ROUTING_ID, o.routing_id.data(), o.routing_id.size()) != 0) {
      throw ConfigError(std::string("cannot set socket option routing_id: ") +
                        zmq_strerror(zmq_errno()));
    }
  }
  if (o.max_message_size < -1) {
    throw ConfigError("socket option max_message_size = " + std::to_string(o.max_message_size) +
                      " is out of range: accepted -1 (no limit) or a byte count");
  }
  const std::int64_t max = o.max_message_size;
  if (zmq_setsockopt(s.handle(), ZMQ_MAXMSGSIZE, &max, sizeof max) != 0) {
    throw ConfigError(std::string("cannot set socket option max_message_size: ") +
                      zmq_strerror(zmq_errno()));
  }
}

}  // namespace courier
