// Queue length and throughput from the library: courier::Admin's STATS and
// rates from two samples (admin.hpp).
// Usage: queue_health [QUEUE] [--watch]   (proxy: $COURIER_PROXY_ENDPOINT or tcp://127.0.0.1:5555)
// Prints one table from two samples a second apart; --watch refreshes it
// every second until Ctrl-C.
#include <courier/admin.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

void print(const courier::ProxyStats& now, const courier::QueueRates& rates) {
  std::printf("%-24s %10s %9s %9s %10s %10s\n", "queue", "depth", "inflight", "consumers", "in/s", "out/s");
  for (const auto& [name, q] : now.queues) {
    const courier::QueueRate& r = rates.at(name);
    std::printf("%-24s %10llu %9llu %9llu %10.1f %10.1f\n", name.c_str(),
                static_cast<unsigned long long>(q.depth), static_cast<unsigned long long>(q.inflight),
                static_cast<unsigned long long>(q.consumers), r.put_per_s, r.acked_per_s);
  }
  std::printf("%zu queue(s), %llu client(s), proxy up %llu s\n", now.queues.size(),
              static_cast<unsigned long long>(now.clients),
              static_cast<unsigned long long>(now.uptime_ms / 1000));
}

int main(int argc, char** argv) {
  std::string queue;
  bool watch = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--watch") watch = true;
    else queue = argv[i];
  }
  courier::Admin admin;  // no thread: each call waits for its answer
  auto sample = [&] {
    if (queue.empty()) return admin.stats();
    courier::ProxyStats one = admin.stats();  // uptime and clients come with every answer
    auto it = one.queues.find(queue);
    courier::ProxyStats only{{}, one.uptime_ms, one.clients};
    if (it != one.queues.end()) only.queues.insert(*it);
    return only;
  };
  courier::ProxyStats before = sample();
  do {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const courier::ProxyStats now = sample();
    if (watch) std::printf("\033[H\033[2J");  // clear the terminal: refresh in place
    print(now, courier::rates(before, now));
    std::fflush(stdout);
    before = now;
  } while (watch);
}
