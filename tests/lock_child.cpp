// Helper process for lock_test: one holder of a courier::Lock.
//
//   lock_child hammer    ENDPOINT QUEUE FILE N   N turns: under the lock, read
//       FILE's last line "<fence> <count>", refuse a fence not above it (exit 2),
//       then append "<fence> <count+1>" with a pause in between (a race would lose counts)
//   lock_child hold      ENDPOINT QUEUE          acquire, print "held <fence>", wait to be killed
//   lock_child alternate ENDPOINT QUEUE FILE N   N turns: print the hand-over time in µs
//       (previous holder's release -> this acquire, from FILE) when the previous holder
//       was another process; write "<pid> <now ns>" just before releasing
#include <courier/lock.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

namespace {

long long now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // one clock for every process on the machine
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

courier::LockOptions options_for(const std::string& endpoint) {
  courier::LockOptions o;
  o.endpoint = endpoint;
  o.client_name = "lock_child-" + std::to_string(::getpid());
  return o;
}

int hammer(const std::string& ep, const std::string& queue, const std::string& file, int n) {
  courier::Lock lock(queue, options_for(ep));
  for (int i = 0; i < n; ++i) {
    courier::LockGuard g = lock.acquire();
    unsigned long long last_fence = 0, count = 0, f, c;
    {
      std::ifstream in(file);
      while (in >> f >> c) {
        last_fence = f;
        count = c;
      }
    }
    if (g.fence() <= last_fence) {
      std::cerr << "fence " << g.fence() << " not above the last one written, " << last_fence << "\n";
      return 2;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // widen any race
    g.check();
    std::ofstream(file, std::ios::app) << g.fence() << ' ' << count + 1 << '\n';
  }
  return 0;
}

int hold(const std::string& ep, const std::string& queue) {
  courier::Lock lock(queue, options_for(ep));
  courier::LockGuard g = lock.acquire();
  std::cout << "held " << g.fence() << std::endl;
  for (;;) ::pause();
}

int alternate(const std::string& ep, const std::string& queue, const std::string& file, int n) {
  courier::Lock lock(queue, options_for(ep));
  const long long me = ::getpid();
  for (int i = 0; i < n; ++i) {
    courier::LockGuard g = lock.acquire();
    const long long acquired = now_ns();
    long long pid = 0, released = 0;
    {
      std::ifstream in(file);
      in >> pid >> released;
    }
    if (pid != 0 && pid != me) std::cout << (acquired - released) / 1000.0 << std::endl;
    std::ofstream(file, std::ios::trunc) << me << ' ' << now_ns() << '\n';
    g.release();
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "hammer" && argc == 6) return hammer(argv[2], argv[3], argv[4], std::atoi(argv[5]));
    if (mode == "hold" && argc == 4) return hold(argv[2], argv[3]);
    if (mode == "alternate" && argc == 6) return alternate(argv[2], argv[3], argv[4], std::atoi(argv[5]));
  } catch (const std::exception& e) {
    std::cerr << "lock_child " << mode << ": " << e.what() << "\n";
    return 3;
  }
  std::cerr << "usage: lock_child hammer|hold|alternate ENDPOINT QUEUE [FILE N]\n";
  return 1;
}
