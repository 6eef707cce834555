#include <courier/errors.hpp>
#include <courier/options.hpp>

#include "context_access.hpp"
#include "zap_handler.hpp"

#include <zmq.hpp>

#include <climits>
#include <filesystem>
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

namespace {

void set_key(zmq::socket_ref s, int option, const char* name, const std::string& z85) {
  if (!detail::valid_z85_key(z85)) {
    throw ConfigError(std::string("CurveOptions: ") + name + " is not a CURVE key (40 Z85 characters, as in a "
                      "certificate written by `courier keygen` or zmq.auth)");
  }
  if (zmq_setsockopt(s.handle(), option, z85.c_str(), z85.size()) != 0) {
    throw ConfigError(std::string("cannot set CurveOptions ") + name + ": " + zmq_strerror(zmq_errno()) +
                      " (libzmq needs CURVE support, e.g. libsodium)");
  }
}

// PROTOCOL.md §5: a server holds its secret key (and an allow-list through
// ZAP); a client names the server's public key and brings a pair of its own.
void apply_curve(zmq::socket_ref s, const CurveOptions& c, const Context* context) {
  if (!c.enabled()) {
    if (!c.allow_dir.empty()) throw ConfigError("CurveOptions::allow_dir needs server = true");
    return;
  }
  if (c.server && !c.server_key.empty()) {
    throw ConfigError("CurveOptions: a socket is a CURVE server (server = true) or a client (server_key set), "
                      "not both");
  }
  if (c.server) {
    if (c.keys.secret_key.empty()) {
      throw ConfigError("CurveOptions: a CURVE server needs its secret key (keys.secret_key; load it with "
                        "load_certificate(\"NAME.key_secret\"))");
    }
    const int one = 1;
    zmq_setsockopt(s.handle(), ZMQ_CURVE_SERVER, &one, sizeof one);
    set_key(s, ZMQ_CURVE_SECRETKEY, "keys.secret_key", c.keys.secret_key);
    if (!c.allow_dir.empty()) {
      std::error_code ec;
      if (!std::filesystem::is_directory(c.allow_dir, ec)) {
        throw ConfigError("CurveOptions::allow_dir " + c.allow_dir + " is not a directory");
      }
      if (context == nullptr) {
        throw ConfigError("CurveOptions::allow_dir needs the socket's Context: call "
                          "apply_options(socket, options, context)");
      }
      detail::ContextAccess::start_zap_handler(*context);
      // The domain tells the handler which allow-list this socket uses.
      if (zmq_setsockopt(s.handle(), ZMQ_ZAP_DOMAIN, c.allow_dir.data(), c.allow_dir.size()) != 0) {
        throw ConfigError(std::string("cannot set the ZAP domain: ") + zmq_strerror(zmq_errno()));
      }
    }
    return;
  }
  if (!c.allow_dir.empty()) throw ConfigError("CurveOptions::allow_dir is for a server (server = true)");
  set_key(s, ZMQ_CURVE_SERVERKEY, "server_key", c.server_key);
  const CurveKeyPair own = c.keys.secret_key.empty() ? new_curve_key_pair() : c.keys;
  std::string public_key = own.public_key;
  if (public_key.empty()) {  // derived from the secret one
    char derived[41];
    if (!detail::valid_z85_key(own.secret_key) || zmq_curve_public(derived, own.secret_key.c_str()) != 0) {
      throw ConfigError("CurveOptions: keys.secret_key is not a CURVE key (40 Z85 characters)");
    }
    public_key = derived;
  }
  set_key(s, ZMQ_CURVE_PUBLICKEY, "keys.public_key", public_key);
  set_key(s, ZMQ_CURVE_SECRETKEY, "keys.secret_key", own.secret_key);
}

void apply_all(zmq::socket_ref s, const SocketOptions& o, const Context* context) {
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
  apply_curve(s, o.curve, context);
}

}  // namespace

void apply_options(zmq::socket_ref s, const SocketOptions& o, const Context& context) { apply_all(s, o, &context); }

void apply_options(zmq::socket_ref s, const SocketOptions& o) { apply_all(s, o, nullptr); }

}  // namespace courier
