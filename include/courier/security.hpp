// courier/security.hpp — CurveZMQ encryption and authentication for every
// courier socket (PROTOCOL.md §5; docs/security.md).
//
// Contract
// - What: ZeroMQ's own CURVE mechanism (RFC 26) and its ZAP authentication
//   protocol (RFC 27), configured through one value, CurveOptions, which
//   every socket owner takes as SocketOptions::curve. No crypto of courier's
//   own: keys come from libzmq (zmq_curve_keypair), certificates are the ZPL
//   text files pyzmq's zmq.auth and CZMQ's zcert read and write.
// - A server (the side that binds and whose public key clients are given)
//   sets `server = true` and its key pair. Every client that knows the
//   server's public key may connect, encrypted; with `allow_dir` only those
//   whose public certificate (*.key) is in that directory. The allow-list is
//   checked by a ZAP handler inside the process (one thread per ZeroMQ
//   context, started with the first socket that needs it), read again for
//   new connections at most once a second: adding or removing a certificate
//   needs no restart. A refused client fails its handshake: it learns
//   nothing and no command of it is ever read.
// - A client sets `server_key` (the server's public key); its own key pair
//   is `keys`, or a fresh pair made for the socket when left empty (enough
//   for encryption; an allow-list needs a known pair).
// - Errors: ConfigError naming the file or option (unreadable certificate,
//   a key that is not 40 Z85 characters, a server without its secret key).
// - Thread-safety: the functions are thread-safe; set_curve_refusal_log()
//   should be called before sockets are made.
#pragma once

#include <courier/export.hpp>

#include <functional>
#include <string>

namespace courier {

// A CURVE key pair in Z85 text (40 characters each). A public certificate
// has no secret key.
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

struct CurveOptions {
  // Client: the server's public key (Z85). Set = this socket uses CURVE.
  std::string server_key;
  // This socket's key pair. A server needs its secret key (the public one is
  // derived when empty); a client may leave both empty: a fresh pair is made.
  CurveKeyPair keys;
  // Server: this socket answers CURVE handshakes (it binds; clients know its
  // public key). Needs keys.secret_key.
  bool server = false;
  // Server only: a directory of public certificates (*.key); only clients
  // whose public key is in one of them may connect. Empty = any client that
  // knows the server's public key.
  std::string allow_dir;

  // Returns: true when this socket uses CURVE (as server or as client).
  bool enabled() const noexcept { return server || !server_key.empty(); }
};

// Reads a ZeroMQ certificate file (ZPL: `curve` / `public-key = "..."`, and
// `secret-key = "..."` in a secret one), as written by zmq.auth, zcert and
// `courier keygen`. Returns: its keys (secret_key empty for a public one).
// Throws: ConfigError naming the file and what is wrong with it.
COURIER_EXPORT CurveKeyPair load_certificate(const std::string& path);

// Returns: a new key pair from libzmq. Throws: ConfigError when libzmq was
// built without CURVE support.
COURIER_EXPORT CurveKeyPair new_curve_key_pair();

// Writes `keys` as BASE.key (public, mode 0644) and BASE.key_secret (public
// and secret, mode 0600), in the format load_certificate() and zmq.auth
// read. Never overwrites: an existing file is a ConfigError, and a pair is
// never left half written. Throws: ConfigError.
COURIER_EXPORT void save_certificate(const CurveKeyPair& keys, const std::string& base);

// Where ZAP refusals are reported: `allow_dir` of the server socket, the
// client's public key (Z85) and its address. The proxy logs them; the
// default reports nothing. Thread-safety: call before making sockets; the
// hook runs on the ZAP handler's thread.
using CurveRefusalLog =
    std::function<void(const std::string& allow_dir, const std::string& client_key, const std::string& address)>;
COURIER_EXPORT void set_curve_refusal_log(CurveRefusalLog log);

}  // namespace courier
