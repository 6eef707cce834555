// An asynchronous request/reply service in one process (PROTOCOL.md §2):
// the Server hands each request to a small worker pool and returns at once;
// the workers answer later through the Responder, from their own threads.
// The Client keeps many requests in flight (futures) and also shows the
// callback form and a remote error.
//   async_rpc [ENDPOINT]     (default tcp://127.0.0.1:* — an ephemeral port)
#include <courier/request.hpp>

#include <condition_variable>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

struct Fib {
  int n = 0;
  MSGPACK_DEFINE(n);
};

static std::uint64_t fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

// A minimal job queue for the workers.
class Jobs {
 public:
  void push(std::pair<Fib, courier::Responder<std::uint64_t>> job) {
    { std::lock_guard<std::mutex> l(mu_); q_.push_back(std::move(job)); }
    cv_.notify_one();
  }
  bool pop(std::pair<Fib, courier::Responder<std::uint64_t>>& job) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return closed_ || !q_.empty(); });
    if (q_.empty()) return false;
    job = std::move(q_.front());
    q_.pop_front();
    return true;
  }
  void close() {
    { std::lock_guard<std::mutex> l(mu_); closed_ = true; }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Fib, courier::Responder<std::uint64_t>>> q_;
  bool closed_ = false;
};

int main(int argc, char** argv) {
  courier::Server server;
  server.bind(argc > 1 ? argv[1] : "tcp://127.0.0.1:*");
  Jobs jobs;
  server.handle_async<Fib, std::uint64_t>([&](const Fib& req, courier::Responder<std::uint64_t> r) {
    if (req.n < 0 || req.n > 60) {
      r.fail("n must be in 0..60, got " + std::to_string(req.n));
      return;
    }
    jobs.push({req, std::move(r)});  // answer later, from a worker
  });
  std::vector<std::thread> workers;
  for (int i = 0; i < 2; ++i) {
    workers.emplace_back([&] {
      std::pair<Fib, courier::Responder<std::uint64_t>> job{Fib{}, courier::Responder<std::uint64_t>({})};
      while (jobs.pop(job)) job.second.reply(fib(job.first.n));
    });
  }
  std::thread serving([&] { server.run(); });  // Server runs in the thread you give it

  {
    courier::Client client;  // owns one I/O thread
    client.connect(server.last_endpoint());
    std::vector<std::future<std::uint64_t>> replies;
    for (int n = 20; n < 30; ++n) replies.push_back(client.request<std::uint64_t>(Fib{n}, 5s));
    for (int n = 20; n < 30; ++n) std::cout << "fib(" << n << ") = " << replies[n - 20].get() << "\n";

    std::promise<void> done;
    client.request<std::uint64_t>(Fib{10}, 5s,
        [&](std::uint64_t v) { std::cout << "callback: fib(10) = " << v << "\n"; done.set_value(); },
        [&](std::exception_ptr) { done.set_value(); });
    done.get_future().wait();

    try {
      client.call<std::uint64_t>(Fib{99}, 5s);
    } catch (const courier::RemoteError& e) {
      std::cout << "remote error, as expected: " << e.reason() << "\n";
    }
  }

  server.stop();
  serving.join();
  jobs.close();
  for (auto& w : workers) w.join();
}
