// Private: the ZAP handler (ZeroMQ RFC 27) that checks CURVE clients against
// an allow-list directory (security.hpp). Never installed.
//
// One per ZeroMQ context (ZAP's endpoint, inproc://zeromq.zap.01, is per
// context), owned by the Context's shared state and started by the first
// socket that sets CurveOptions::allow_dir. Every CURVE handshake of the
// context then asks it: a server socket names its allow-list directory as
// its ZAP domain; an empty domain (a CURVE server without allow-list) is
// always allowed. Directories are read again at most once a second, so a
// certificate added or removed applies to new connections without a restart.
//
// Thread-safety: the constructor and destructor run in the owner's thread;
// the handler's socket lives on its own thread.
#pragma once

#include <zmq.hpp>

#include <atomic>
#include <string>
#include <thread>

namespace courier::detail {

class ZapHandler {
 public:
  // Binds the context's ZAP endpoint and starts the thread.
  // Throws: ConfigError when another ZAP handler is bound in this context.
  explicit ZapHandler(zmq::context_t& context);
  // Stops and joins the thread (at most ~100 ms), closing its socket.
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

 private:
  void run() noexcept;
  zmq::socket_t socket_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// security.cpp: a key that is 40 Z85 characters decoding to 32 bytes.
bool valid_z85_key(const std::string& key);
// security.cpp: hands a refusal to the hook of set_curve_refusal_log().
void report_curve_refusal(const std::string& allow_dir, const std::string& client_key, const std::string& address);

}  // namespace courier::detail
