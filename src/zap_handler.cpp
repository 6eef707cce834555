// zap_handler.cpp — see zap_handler.hpp. The protocol is ZeroMQ's ZAP 1.0
// (RFC 27): the request is [version, request_id, domain, address, identity,
// mechanism, credentials...], the reply [version, request_id, status_code,
// status_text, user_id, metadata].
#include "zap_handler.hpp"

#include <courier/errors.hpp>
#include <courier/security.hpp>

#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <vector>

namespace courier::detail {

namespace {

using Clock = std::chrono::steady_clock;

// The public keys (32 raw bytes each) of one allow-list directory.
struct AllowList {
  std::set<std::string> keys;
  Clock::time_point read_at{};
};

// Reads every *.key certificate of `dir`; unreadable ones are skipped (an
// operator copying a file in must not lock everyone out meanwhile).
std::set<std::string> read_allow_dir(const std::string& dir) {
  std::set<std::string> keys;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".key") continue;
    try {
      const CurveKeyPair cert = load_certificate(entry.path().string());
      uint8_t raw[32];
      if (zmq_z85_decode(raw, cert.public_key.c_str()) != nullptr) {
        keys.emplace(reinterpret_cast<const char*>(raw), sizeof raw);
      }
    } catch (const ConfigError&) {
    }
  }
  return keys;
}

std::string z85(const std::string& raw) {
  if (raw.size() != 32) return "(not a CURVE key)";
  char text[41];
  zmq_z85_encode(text, reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
  return text;
}

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context) : socket_(context, zmq::socket_type::rep) {
  socket_.set(zmq::sockopt::linger, 0);
  try {
    socket_.bind("inproc://zeromq.zap.01");
  } catch (const zmq::error_t& e) {
    throw ConfigError(std::string("cannot start the CURVE allow-list (ZAP) handler: ") + e.what() +
                      " (is another ZAP handler bound in this ZeroMQ context?)");
  }
  thread_ = std::thread([this] { run(); });
}

ZapHandler::~ZapHandler() {
  stop_.store(true);
  thread_.join();
}

void ZapHandler::run() noexcept {
  std::map<std::string, AllowList> lists;  // by directory
  std::vector<zmq::message_t> request;
  try {
    while (!stop_.load()) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
      request.clear();
      do {
        request.emplace_back();
        (void)socket_.recv(request.back());
      } while (request.back().more());
      // libzmq only ever sends well-formed requests; anything else is
      // refused (a REP socket must answer before it can read again).
      request.resize(std::max<std::size_t>(request.size(), 6));
      const std::string domain = request[2].to_string();
      const std::string address = request[3].to_string();
      const std::string mechanism = request[5].to_string();
      const std::string key = request.size() > 6 ? request[6].to_string() : std::string();
      bool allowed = mechanism == "CURVE" || mechanism == "NULL";
      if (allowed && !domain.empty()) {  // a server with an allow-list
        AllowList& list = lists[domain];
        const auto now = Clock::now();
        if (now - list.read_at >= std::chrono::seconds(1)) {
          list.keys = read_allow_dir(domain);
          list.read_at = now;
        }
        allowed = mechanism == "CURVE" && list.keys.count(key) != 0;
        if (!allowed) report_curve_refusal(domain, z85(key), address);
      }
      const char* status = allowed ? "200" : "400";
      const char* text = allowed ? "OK" : "key not in the allow-list";
      socket_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
      socket_.send(request[1], zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(status, 3), zmq::send_flags::sndmore);
      socket_.send(zmq::buffer(std::string(text)), zmq::send_flags::sndmore);
      socket_.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
      socket_.send(zmq::str_buffer(""), zmq::send_flags::none);
    }
  } catch (const zmq::error_t&) {
    // the context is shutting down (ETERM): nothing more to check
  }
  socket_.close();
}

}  // namespace courier::detail
