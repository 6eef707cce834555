// A job that must never run twice at once, across processes and machines:
// a courier::Lock (a token queue on courier-proxy, docs/LOCKS.md).
// Usage: lock [NAME] [STEPS]   (proxy: $COURIER_PROXY_ENDPOINT or tcp://127.0.0.1:5555)
// Start courier-proxy, then run `lock` in two terminals: the second waits
// until the first is done, and each prints the fence it holds the lock with.
#include <courier/lock.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

// The resource the lock protects. It remembers the highest fence it has seen
// and refuses any writer below it: a holder that lost the lock without
// knowing (paused by the OS, cut off from the proxy) cannot overwrite the
// work of the holder after it. A database does the same with
// `UPDATE ... WHERE fence <= :fence`.
class FencedFile {
 public:
  explicit FencedFile(std::string path) : path_(std::move(path)) {}
  bool write(std::uint64_t fence, const std::string& line) {
    std::uint64_t seen = 0;
    std::ifstream(path_ + ".fence") >> seen;
    if (fence < seen) return false;
    std::ofstream(path_ + ".fence", std::ios::trunc) << fence;
    std::ofstream(path_, std::ios::app) << "fence " << fence << ": " << line << '\n';
    return true;
  }

 private:
  std::string path_;
};

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const std::string name = argc > 1 ? argv[1] : "nightly-report";
  const int steps = argc > 2 ? std::stoi(argv[2]) : 5;

  courier::LockOptions options;
  options.lease = 10s;  // a holder stuck for 10 s without extend() loses the lock
  courier::Lock lock(name, options);  // starts one I/O thread: heartbeats while we work

  std::cout << " [*] Waiting for lock " << name << std::endl;
  std::optional<courier::LockGuard> guard = lock.acquire(60s);
  if (!guard) {
    std::cerr << "lock " << name << " not free within 60 s" << std::endl;
    return 2;
  }
  std::cout << " [x] Holding " << name << " with fence " << guard->fence() << std::endl;

  FencedFile report("/tmp/courier-example-" + name + ".txt");
  for (int i = 1; i <= steps; ++i) {
    std::this_thread::sleep_for(1s);  // one step of the real work
    try {
      guard->extend();                // still at it: the lease starts again
    } catch (const courier::LockLostError& e) {
      std::cerr << e.what() << std::endl;  // lease passed, proxy restarted, connection lost
      return 1;
    }
    if (!report.write(guard->fence(), "step " + std::to_string(i))) {
      std::cerr << "the report refused fence " << guard->fence() << ": someone newer holds the lock" << std::endl;
      return 1;
    }
    std::cout << " [x] Step " << i << " of " << steps << " done" << std::endl;
  }
  guard->release();  // the next waiting process gets the lock now
  std::cout << " [x] Released " << name << std::endl;
}
