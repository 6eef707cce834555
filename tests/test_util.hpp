// Helpers shared by the core test suites: waiting on conditions instead of
// sleeping, temporary ipc directories, and hand-built msgpack frames for raw
// cppzmq peers that speak PROTOCOL.md byte for byte.
#pragma once

#include <msgpack.hpp>
#include <zmq.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace courier::test {

using namespace std::chrono_literals;

// Polls `pred` until it holds or `timeout` passes. Returns the last result.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Packs any msgpack-c value to bytes, the way a hand-rolled peer would.
template <class T>
std::string packb(const T& value) {
  msgpack::sbuffer buf;
  msgpack::pack(buf, value);
  return std::string(buf.data(), buf.size());
}

inline std::string str(const zmq::message_t& m) { return m.to_string(); }

// Whether any of `lines` (problems a check reported, log lines) contains `text`.
inline bool any_contains(const std::vector<std::string>& lines, std::string_view text) {
  for (const auto& line : lines) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

// A fresh directory (ipc:// endpoints, a journal), removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "courier-test-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string ipc(const std::string& name) const { return "ipc://" + path_ + "/" + name; }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// Receives a whole multipart message from a raw socket, waiting at most `timeout`.
inline std::vector<zmq::message_t> recv_all(zmq::socket_t& s, std::chrono::milliseconds timeout = 5000ms) {
  std::vector<zmq::message_t> parts;
  zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) == 0) return parts;
  do {
    zmq::message_t m;
    (void)s.recv(m);
    parts.push_back(std::move(m));
  } while (s.get(zmq::sockopt::rcvmore));
  return parts;
}

inline void send_all(zmq::socket_t& s, const std::vector<std::string>& frames) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    s.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

}  // namespace courier::test
