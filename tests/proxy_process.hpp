// Test helper: a real courier-proxy process on a free port with a temporary
// --data directory, plus a raw CQP1 DEALER for STATS and hand-made frames.
//
// ProxyProcess starts the proxy (fork/exec of COURIER_PROXY_PATH), waits until
// it answers PING, and stops it by PID: SIGTERM, then SIGKILL if it has not
// exited within 5 s. kill9() + start() again reuse the same port and data
// directory (a crash and restart). $COURIER_TEST_PROXY, when set, names
// another courier-proxy binary to run instead of the one built here.
#pragma once

#include <msgpack.hpp>
#include <zmq.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef COURIER_PROXY_PATH
#error "COURIER_PROXY_PATH must name the courier-proxy binary (see tests/client.cmake)"
#endif

namespace courier::test {

// A TCP port nobody listens on right now (bound to :0, read back, released).
inline int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("cannot find a free TCP port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

inline const char* proxy_path() {
  const char* env = std::getenv("COURIER_TEST_PROXY");
  return env != nullptr && *env != '\0' ? env : COURIER_PROXY_PATH;
}

inline std::string make_temp_dir(const char* stem) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (std::string(stem) + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return buf.data();
}

// A raw CQP1 client: DEALER frames by hand, the way a pyzmq script would.
class RawCqp {
 public:
  explicit RawCqp(const std::string& endpoint) : socket_(context(), zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }

  static zmq::context_t& context() {
    static zmq::context_t ctx;
    return ctx;
  }

  template <class Header>
  void send(const std::string& command, const Header& header, const std::vector<std::string>& bodies = {}) {
    msgpack::sbuffer h;
    msgpack::pack(h, header);
    socket_.send(zmq::buffer(std::string("CQP1")), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(command), zmq::send_flags::sndmore);
    socket_.send(zmq::const_buffer(h.data(), h.size()),
                 bodies.empty() ? zmq::send_flags::none : zmq::send_flags::sndmore);
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      socket_.send(zmq::buffer(bodies[i]), i + 1 < bodies.size() ? zmq::send_flags::sndmore
                                                                 : zmq::send_flags::none);
    }
  }

  // Returns: the frames of the next message, empty when none came in time.
  std::vector<zmq::message_t> recv(std::chrono::milliseconds timeout) {
    std::vector<zmq::message_t> parts;
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, timeout) == 0) return parts;
    do {
      zmq::message_t m;
      (void)socket_.recv(m);
      parts.push_back(std::move(m));
    } while (socket_.get(zmq::sockopt::rcvmore));
    return parts;
  }

  // Receives until a message with `command` arrives. Returns its frames.
  std::vector<zmq::message_t> expect(const std::string& command,
                                     std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      auto parts = recv(left);
      if (parts.size() >= 2 && parts[1].to_string() == command) return parts;
    }
  }

  // STATS for one queue as name -> counter (empty when the proxy did not
  // answer). Fields that are not counters (a queue's `moved_to`) are left out.
  std::map<std::string, uint64_t> stats(const std::string& queue) {
    send("STATS", std::map<std::string, std::string>{{"q", queue}});
    auto parts = expect("STATS");
    std::map<std::string, uint64_t> out;
    if (parts.size() < 3) return out;
    msgpack::object_handle oh = msgpack::unpack(static_cast<const char*>(parts[2].data()), parts[2].size());
    auto top = oh.get().as<std::map<std::string, msgpack::object>>();
    auto queues = top.at("queues").as<std::map<std::string, msgpack::object>>();
    auto it = queues.find(queue);
    if (it == queues.end()) return out;
    for (const auto& [name, value] : it->second.as<std::map<std::string, msgpack::object>>())
      if (value.type == msgpack::type::POSITIVE_INTEGER) out[name] = value.as<uint64_t>();
    return out;
  }

  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
};

inline msgpack::object_handle unpack_header(const zmq::message_t& frame) {
  return msgpack::unpack(static_cast<const char*>(frame.data()), frame.size());
}

class ProxyProcess {
 public:
  explicit ProxyProcess(int heartbeat_ms = 200)
      : port_(free_tcp_port()), data_dir_(make_temp_dir("courier-proxy-data")), heartbeat_ms_(heartbeat_ms) {
    start();
  }
  ~ProxyProcess() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(data_dir_, ec);
  }
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  std::string endpoint() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  const std::string& data_dir() const { return data_dir_; }
  int heartbeat_ms() const { return heartbeat_ms_; }
  pid_t pid() const { return pid_; }

  // Starts the proxy and waits (at most 10 s) until it answers PING.
  void start() {
    ASSERT_LT(pid_, 0) << "proxy already running";
    const std::string listen = endpoint();
    const std::string hb = std::to_string(heartbeat_ms_);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0) << "fork failed";
    if (pid_ == 0) {
      const char* path = proxy_path();
      const char* argv[] = {path, "--listen", listen.c_str(), "--data", data_dir_.c_str(),
                            "--heartbeat", hb.c_str(), "--log-level", "warn", nullptr};
      ::execv(path, const_cast<char* const*>(argv));
      ::_exit(127);
    }
    // A DEALER queues the PING until the proxy is up; ZeroMQ keeps retrying
    // the connection, so one PING and one bounded wait are enough.
    RawCqp probe(listen);
    probe.send("PING", std::map<std::string, int>{});
    ASSERT_FALSE(probe.expect("PONG", std::chrono::milliseconds(10000)).empty())
        << "courier-proxy did not answer PING on " << listen;
  }

  // SIGTERM, then SIGKILL after 5 s. Returns the exit status (or -1).
  int stop() {
    if (pid_ < 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // reaping a child: no fd to wait on
    }
    pid_ = -1;
    return status;
  }

  // kill -9: no chance to close the journal.
  void kill9() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  int port_;
  std::string data_dir_;
  int heartbeat_ms_;
  pid_t pid_ = -1;
};

}  // namespace courier::test
