// Lock (lock.hpp) against a real courier-proxy: mutual exclusion of threads
// and of processes (lock_child), fences, a killed holder, a killed proxy,
// leases, semaphores, timeouts, and the token queue refusing PUT.
#include <courier/admin.hpp>
#include <courier/lock.hpp>
#include <courier/producer.hpp>

#include "proxy_process.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#ifndef COURIER_LOCK_CHILD_PATH
#error "COURIER_LOCK_CHILD_PATH must name the lock_child helper (see tests/client.cmake)"
#endif

namespace {

using namespace std::chrono_literals;
using courier::test::ProxyProcess;
using courier::test::RawCqp;
using courier::test::wait_until;
using Clock = std::chrono::steady_clock;

courier::LockOptions lock_for(const std::string& endpoint, std::uint32_t permits = 1) {
  courier::LockOptions o;
  o.endpoint = endpoint;
  o.permits = permits;
  return o;
}

courier::AdminOptions admin_for(const std::string& endpoint) {
  courier::AdminOptions o;
  o.endpoint = endpoint;
  return o;
}

// A lock_child process with its stdout on a pipe.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    args.insert(args.begin(), COURIER_LOCK_CHILD_PATH);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Returns: the next line of the child's stdout, or nullopt at EOF/timeout.
  std::optional<std::string> line(std::chrono::milliseconds timeout = 10000ms) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{out_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char chunk[4096];
      const ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // Returns: the exit status (waitpid's), or -1 when it did not exit within `timeout`.
  int wait(std::chrono::milliseconds timeout = 60000ms) {
    int status = 0;
    const auto deadline = Clock::now() + timeout;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (Clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(5ms);  // reaping a child: no fd to wait on
    }
    pid_ = -1;
    return status;
  }
  void kill9() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
};

// ---- mutual exclusion ---------------------------------------------------------

TEST(Lock, ThreadsTakeTurnsWithStrictlyIncreasingFences) {
  ProxyProcess proxy;
  std::atomic<int> inside{0};
  std::atomic<std::uint64_t> last_fence{0};
  std::atomic<int> overlaps{0}, fence_faults{0}, turns{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      courier::Lock lock("mutex", lock_for(proxy.endpoint()));
      for (int i = 0; i < 25; ++i) {
        auto g = lock.acquire(20000ms);
        if (!g) continue;
        if (inside.fetch_add(1) != 0) ++overlaps;
        if (g->fence() <= last_fence.load()) ++fence_faults;
        last_fence.store(g->fence());
        std::this_thread::sleep_for(100us);
        inside.fetch_sub(1);
        ++turns;
        EXPECT_TRUE(g->release());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(turns.load(), 100);
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(fence_faults.load(), 0);
}

TEST(Lock, ThreeProcessesHammeringAFileNeverOverlapAndFencesOnlyGrow) {
  ProxyProcess proxy;
  const std::string dir = courier::test::make_temp_dir("courier-lock-file");
  const std::string file = dir + "/shared.txt";
  constexpr int kTurns = 40;
  std::vector<std::unique_ptr<Child>> children;
  for (int i = 0; i < 3; ++i) {
    children.push_back(std::make_unique<Child>(std::vector<std::string>{
        "hammer", proxy.endpoint(), "file-lock", file, std::to_string(kTurns)}));
  }
  for (auto& c : children) EXPECT_EQ(c->wait(), 0) << "a holder saw a fence that did not grow, or failed";
  std::ifstream in(file);
  unsigned long long fence, count, last_fence = 0, lines = 0;
  while (in >> fence >> count) {
    ++lines;
    EXPECT_GT(fence, last_fence) << "line " << lines;
    EXPECT_EQ(count, lines) << "a lost update: two holders at once";
    last_fence = fence;
  }
  EXPECT_EQ(lines, 3u * kTurns);
  std::filesystem::remove_all(dir);
}

// ---- loss and take-over -------------------------------------------------------

TEST(Lock, AKilledHolderIsReplacedWithinThreeHeartbeats) {
  constexpr int kHeartbeatMs = 200;
  ProxyProcess proxy(kHeartbeatMs);
  Child holder({"hold", proxy.endpoint(), "killed"});
  const auto held = holder.line();
  ASSERT_TRUE(held && held->rfind("held ", 0) == 0) << "the child did not take the lock";
  const std::uint64_t child_fence = std::stoull(held->substr(5));

  courier::Lock lock("killed", lock_for(proxy.endpoint()));
  auto waiting = std::async(std::launch::async, [&] { return lock.acquire(10000ms); });
  courier::Admin admin(admin_for(proxy.endpoint()));
  ASSERT_TRUE(wait_until([&] { return admin.stats("killed")->consumers == 2; }));  // we wait in line

  const auto killed_at = Clock::now();
  holder.kill9();
  auto g = waiting.get();
  const auto took = Clock::now() - killed_at;
  ASSERT_TRUE(g);
  EXPECT_GT(g->fence(), child_fence);
  // The proxy gives up on a session silent for 3 x hb, counted from the
  // holder's last message (its CONSUME, a few ms before the kill: its first
  // PING is not due yet); half a heartbeat of slack for the proxy's timer
  // turn and a loaded machine.
  EXPECT_LE(took, std::chrono::milliseconds(3 * kHeartbeatMs + kHeartbeatMs / 2));
  std::cout << "[ figures  ] take-over after kill -9 of the holder: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms (hb "
            << kHeartbeatMs << " ms)" << std::endl;
}

TEST(Lock, ProxyKilledWhileHeldGuardReportsLossAndTheNextFenceIsHigher) {
  constexpr int kHeartbeatMs = 200;
  ProxyProcess proxy(kHeartbeatMs);
  courier::Lock lock("survivor", lock_for(proxy.endpoint()));
  std::uint64_t highest = 0;
  for (int i = 0; i < 5; ++i) {
    auto g = lock.acquire(5000ms);
    ASSERT_TRUE(g);
    highest = std::max(highest, g->fence());
  }
  auto g = lock.acquire(5000ms);
  ASSERT_TRUE(g);
  highest = std::max(highest, g->fence());
  EXPECT_FALSE(g->lost());

  proxy.kill9();
  proxy.start();
  ASSERT_TRUE(wait_until([&] { return g->lost(); }, 5000ms)) << "the guard still claims the lock";
  EXPECT_TRUE(g->loss() == courier::LockLoss::proxy_restarted ||
              g->loss() == courier::LockLoss::connection_lost)
      << courier::to_string(g->loss());
  EXPECT_THROW(g->check(), courier::LockLostError);
  EXPECT_THROW(g->extend(), courier::LockLostError);

  courier::Lock other("survivor", lock_for(proxy.endpoint()));
  auto next = other.acquire(5000ms);
  ASSERT_TRUE(next);
  EXPECT_GT(next->fence(), highest);
  EXPECT_FALSE(g->release());  // nothing left to give back
  next->release();
  // The first Lock works again after the restart.
  auto again = lock.acquire(5000ms);
  ASSERT_TRUE(again);
  EXPECT_GT(again->fence(), next->fence());
}

TEST(Lock, AnExpiredLeaseIsReportedAndTheTokenMovesOn) {
  ProxyProcess proxy;
  courier::LockOptions o = lock_for(proxy.endpoint());
  o.lease = 300ms;
  courier::Lock a("leased", o);
  courier::Lock b("leased", o);
  auto g = a.acquire(5000ms);
  ASSERT_TRUE(g);
  ASSERT_TRUE(g->lease_deadline());
  EXPECT_LE(*g->lease_deadline(), Clock::now() + 300ms);
  auto next = b.acquire(5000ms);  // comes once the proxy's ack_timeout requeues it
  ASSERT_TRUE(next);
  EXPECT_GT(next->fence(), g->fence());
  EXPECT_TRUE(g->lost());
  EXPECT_EQ(g->loss(), courier::LockLoss::lease_expired);
  EXPECT_FALSE(g->release());
  EXPECT_FALSE(next->lost());
}

TEST(Lock, ExtendKeepsTheLeaseAlive) {
  ProxyProcess proxy;
  courier::LockOptions o = lock_for(proxy.endpoint());
  o.lease = 300ms;
  courier::Lock a("extended", o);
  courier::Lock b("extended", o);
  auto g = a.acquire(5000ms);
  ASSERT_TRUE(g);
  const auto until = Clock::now() + 1200ms;
  while (Clock::now() < until) {
    std::this_thread::sleep_for(80ms);
    g->extend();
  }
  EXPECT_FALSE(g->lost());
  EXPECT_FALSE(b.acquire(100ms));
  EXPECT_TRUE(g->release());
  EXPECT_TRUE(b.acquire(5000ms));
}

// ---- semaphores, timeouts, API rules -------------------------------------------

TEST(Lock, ASemaphoreOfThreeLetsThreeHoldersIn) {
  ProxyProcess proxy;
  std::vector<std::unique_ptr<courier::Lock>> locks;
  for (int i = 0; i < 4; ++i) {
    locks.push_back(std::make_unique<courier::Lock>("sem3", lock_for(proxy.endpoint(), 3)));
  }
  std::vector<courier::LockGuard> held;
  for (int i = 0; i < 3; ++i) {
    auto g = locks[i]->acquire(5000ms);
    ASSERT_TRUE(g);
    held.push_back(std::move(*g));
  }
  EXPECT_FALSE(locks[3]->acquire(200ms));
  courier::Admin admin(admin_for(proxy.endpoint()));
  const auto s = admin.stats("sem3");
  EXPECT_EQ(s->tokens, std::optional<std::uint64_t>(3));
  EXPECT_EQ(s->inflight, 3u);
  EXPECT_EQ(s->depth, 0u);
  EXPECT_TRUE(held[1].release());
  EXPECT_TRUE(locks[3]->acquire(5000ms));
}

TEST(Lock, AcquireTimesOutWithNulloptAndLeavesNothingHeld) {
  ProxyProcess proxy;
  courier::Lock a("timed", lock_for(proxy.endpoint()));
  courier::Lock b("timed", lock_for(proxy.endpoint()));
  auto g = a.acquire(5000ms);
  ASSERT_TRUE(g);
  const auto start = Clock::now();
  EXPECT_FALSE(b.acquire(200ms));
  EXPECT_GE(Clock::now() - start, 200ms);
  g->release();
  // b gave up: the token must not be stuck with b's abandoned CONSUME.
  courier::Lock c("timed", lock_for(proxy.endpoint()));
  EXPECT_TRUE(c.acquire(5000ms));
  courier::Admin admin(admin_for(proxy.endpoint()));
  EXPECT_TRUE(wait_until([&] { return admin.stats("timed")->inflight == 0; }));
}

TEST(Lock, ReleaseThenAcquireAgainAndOnlyOneTokenPerLock) {
  ProxyProcess proxy;
  courier::Lock lock("again", lock_for(proxy.endpoint()));
  std::uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    auto g = lock.acquire(5000ms);
    ASSERT_TRUE(g);
    EXPECT_GT(g->fence(), last);
    last = g->fence();
    EXPECT_THROW(lock.acquire(10ms), courier::ConfigError);  // one token per Lock
    EXPECT_EQ(g->loss(), courier::LockLoss::none);
    g->check();
    EXPECT_TRUE(g->release());
    EXPECT_FALSE(g->release());
    EXPECT_EQ(g->loss(), courier::LockLoss::released);
    EXPECT_FALSE(g->lost());
    EXPECT_THROW(g->check(), courier::LockLostError);
  }
  {
    auto scoped = lock.acquire(5000ms);  // released by the destructor
    ASSERT_TRUE(scoped);
  }
  EXPECT_TRUE(lock.acquire(5000ms));
}

struct PutHeader {
  std::string q;
  int tag;
  MSGPACK_DEFINE_MAP(q, tag);
};

TEST(Lock, TheLockQueueRefusesPutWith409) {
  ProxyProcess proxy;
  courier::Lock lock("guarded", lock_for(proxy.endpoint()));
  ASSERT_TRUE(lock.acquire(5000ms));  // declares the token queue
  courier::ProducerOptions po;
  po.endpoint = proxy.endpoint();
  courier::Producer producer(po);
  try {
    producer.publish("guarded", 1);
    FAIL() << "a PUT on a token queue must be refused";
  } catch (const courier::RemoteError& e) {
    EXPECT_EQ(e.status(), 409);
  }
  RawCqp raw(proxy.endpoint());
  raw.send("PUT", PutHeader{"guarded", 7}, {courier::test::packb(1)});
  auto err = raw.expect("ERROR");
  ASSERT_GE(err.size(), 3u);
  msgpack::object_handle keep = courier::test::unpack_header(err[2]);
  const auto header = keep.get().as<std::map<std::string, msgpack::object>>();
  EXPECT_EQ(header.at("code").as<int>(), 409);
}

TEST(Lock, AnOrdinaryQueueWithMessagesCannotBecomeALock) {
  ProxyProcess proxy;
  courier::ProducerOptions po;
  po.endpoint = proxy.endpoint();
  courier::Producer producer(po);
  producer.publish("jobs", 1);
  courier::Lock lock("jobs", lock_for(proxy.endpoint()));
  try {
    (void)lock.acquire(5000ms);
    FAIL() << "a queue holding messages must not be taken for a lock";
  } catch (const courier::RemoteError& e) {
    EXPECT_EQ(e.status(), 409);
  }
  // Another number of permits on an existing lock: 409 as well.
  courier::Lock mutex("one", lock_for(proxy.endpoint(), 1));
  ASSERT_TRUE(mutex.acquire(5000ms));
  courier::Lock sem("one", lock_for(proxy.endpoint(), 2));
  EXPECT_THROW((void)sem.acquire(5000ms), courier::RemoteError);
}

TEST(Lock, BadNameOrOptionsAreConfigErrors) {
  EXPECT_THROW(courier::Lock("no spaces", lock_for("tcp://127.0.0.1:1")), courier::ConfigError);
  EXPECT_THROW(courier::Lock("q", lock_for("tcp://127.0.0.1:1", 0)), courier::ConfigError);
  EXPECT_THROW(courier::Lock("q", lock_for("tcp://127.0.0.1:1", 65537)), courier::ConfigError);
  courier::LockOptions o = lock_for("tcp://127.0.0.1:1");
  o.lease = 0ms;
  EXPECT_THROW(courier::Lock("q", o), courier::ConfigError);
}

TEST(Lock, AGuardOutlivingItsLockReportsClosedAndTheTokenIsFree) {
  ProxyProcess proxy;
  std::optional<courier::LockGuard> g;
  {
    courier::Lock lock("short-lived", lock_for(proxy.endpoint()));
    g = lock.acquire(5000ms);
    ASSERT_TRUE(g);
  }
  EXPECT_EQ(g->loss(), courier::LockLoss::closed);
  EXPECT_FALSE(g->release());
  courier::Lock other("short-lived", lock_for(proxy.endpoint()));
  EXPECT_TRUE(other.acquire(2000ms));  // BYE gave it back at once
}

// close(timeout) returns once the proxy has taken the token back, so another
// client sees it free at once.
TEST(Lock, CloseReturnsOnceTheReleaseIsApplied) {
  ProxyProcess proxy(10000);
  courier::Lock lock("handshake", lock_for(proxy.endpoint()));
  auto g = lock.acquire(5000ms);
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->release());
  EXPECT_TRUE(lock.close(5000ms));
  RawCqp raw(proxy.endpoint());
  auto s = raw.stats("handshake");  // no waiting
  EXPECT_EQ(s["depth"], 1u) << "the token is free";
  EXPECT_EQ(s["inflight"], 0u);
  EXPECT_THROW(lock.acquire(10ms), courier::ClosedError);
}

// ---- speed ----------------------------------------------------------------------

// Two processes hand the lock back and forth (each acquire right after the
// other's release). How quick that is, is measured by bench/lock_handover.sh
// (figures in docs/BENCHMARKS.md), not asserted here: machines are shared.
TEST(Lock, TwoProcessesHandTheLockBackAndForth) {
  ProxyProcess proxy;
  const std::string dir = courier::test::make_temp_dir("courier-lock-handover");
  const std::string file = dir + "/last-release";
  constexpr int kTurns = 120;
  Child a({"alternate", proxy.endpoint(), "handover", file, std::to_string(kTurns)});
  Child b({"alternate", proxy.endpoint(), "handover", file, std::to_string(kTurns)});
  std::size_t handovers = 0;
  for (Child* c : {&a, &b}) {
    while (auto l = c->line(30000ms)) {
      EXPECT_GE(std::stod(*l), 0.0) << "an acquire before the other's release";
      ++handovers;
    }
    EXPECT_EQ(c->wait(), 0);
  }
  std::filesystem::remove_all(dir);
  EXPECT_GE(handovers, 50u) << "the two processes hardly ever handed the lock to each other";
}

}  // namespace
