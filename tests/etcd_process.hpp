// Test helper: a real etcd (Debian's etcd-server) on free loopback ports with
// a temporary data directory, stopped by PID (SIGTERM, then SIGKILL).
#pragma once

#include "proxy_process.hpp"

#include <httplib.h>

#include <fcntl.h>

namespace courier::test {

inline const char* etcd_path() {
  const char* env = std::getenv("COURIER_TEST_ETCD");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/etcd";
}

class EtcdProcess {
 public:
  EtcdProcess() : dir_(make_temp_dir("courier-etcd")), client_port_(free_tcp_port()), peer_port_(free_tcp_port()) {
    start();
  }
  ~EtcdProcess() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start() {
    const std::string client = "http://127.0.0.1:" + std::to_string(client_port_);
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    const std::vector<std::string> args = {etcd_path(), "--name", "test", "--data-dir", dir_ + "/data",
                                           "--listen-client-urls", client, "--advertise-client-urls", client,
                                           "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                                           "--initial-cluster", "test=" + peer, "--logger", "zap", "--log-level", "error"};
    const std::string log = dir_ + "/etcd.log";
    pid_ = ::fork();
    if (pid_ == 0) {
      // etcd talks a lot; its log stays beside its data for a failed run.
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // Ready when the gateway answers a range.
    httplib::Client probe(client);
    probe.set_connection_timeout(0, 200000);
    for (int i = 0; i < 200; ++i) {
      auto r = probe.Post("/v3/kv/range", R"({"key":"AA=="})", "application/json");
      if (r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("etcd did not start on " + client + " (is etcd-server installed?)");
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(client_port_); }
  std::string spec(const std::string& key) const { return "etcd://127.0.0.1:" + std::to_string(client_port_) + key; }

 private:
  std::string dir_;
  int client_port_, peer_port_;
  pid_t pid_ = -1;
};

}  // namespace courier::test
