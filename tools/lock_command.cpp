// tools/lock_command.cpp — `courier lock QUEUE -- COMMAND [ARG...]`: flock(1)
// across machines on a token queue of one token (PROTOCOL.md §3.6, §4.2).
//
// Holding the lock is holding the queue's one token, unacked, through the
// library's courier::Lock, whose I/O thread keeps the session alive while
// COMMAND runs. When COMMAND exits the token goes back and `lock` exits with
// COMMAND's status. COMMAND gets the token's fence as COURIER_FENCE: it only
// grows (§3.6 "Fencing"), so a resource that refuses a writer whose fence is
// lower than one it has seen is safe even from a holder that lost the lock.
#include "cli_common.hpp"
#include "curve_options.hpp"
#include "proxy_options.hpp"
#include "shard_options.hpp"

#include <courier/lock.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <thread>

extern char** environ;

namespace courier::cli {

namespace {

struct LockArgs {
  std::string queue;
  std::string proxy = default_proxy();
  std::optional<std::string> shards;  // --shards: the lock queue's owner instead of --proxy
  CurveArgs curve;
  std::optional<double> timeout;  // none: wait for ever
  std::vector<std::string> command;
};

volatile std::sig_atomic_t g_forward_signal = 0;
void remember_signal(int sig) { g_forward_signal = sig; }

// Starts COMMAND with COURIER_FENCE in its environment. Returns: its pid.
pid_t spawn_command(const std::vector<std::string>& command, uint64_t fence) {
  std::vector<std::string> env_strings{"COURIER_FENCE=" + std::to_string(fence)};
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string_view(*e).rfind("COURIER_FENCE=", 0) != 0) env_strings.emplace_back(*e);
  }
  std::vector<char*> env, argv;
  for (auto& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::vector<std::string> args = command;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), env.data());
  if (rc != 0) {
    throw CliFailure(kUsage, "cannot run '" + command[0] + "': " + std::strerror(rc) +
                                 " (give a program on PATH or a path to one after --)");
  }
  return pid;
}

// The shell's convention: a command killed by signal N exits 128 + N.
int exit_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return kRemote;
}

int run_lock(const LockArgs& a) {
  check_queue_name(a.queue);
  if (a.command.empty()) throw CliFailure(kUsage, "no COMMAND: courier lock QUEUE -- COMMAND [ARG...]");
  LockOptions options;
  options.endpoint = a.proxy;
  options.socket.curve = curve_options(a.curve, false);
  options.client_name = client_name("lock");
  Lock lock(a.queue, options);

  // ---- wait for the token ----
  std::optional<LockGuard> guard;
  if (a.timeout) {
    guard = lock.acquire(std::chrono::milliseconds(seconds_to_ms(*a.timeout)));
    if (!guard) {
      throw CliFailure(kTimeout, "lock " + a.queue + " not acquired within " + seconds_text(*a.timeout) +
                                     " s: another holder has it (or courier-proxy at " + a.proxy +
                                     " does not answer" + curve_hint(a.curve) + ")");
    }
  } else {
    guard = lock.acquire();
  }

  // ---- hold it while COMMAND runs ----
  std::signal(SIGINT, remember_signal);   // passed on to COMMAND, which decides
  std::signal(SIGTERM, remember_signal);
  std::signal(SIGHUP, remember_signal);
  const pid_t child = spawn_command(a.command, guard->fence());
  int wait_status = 0;
  bool warned = false;
  for (;;) {
    if (g_forward_signal != 0) {
      ::kill(child, g_forward_signal);
      g_forward_signal = 0;
    }
    if (::waitpid(child, &wait_status, WNOHANG) == child) break;
    if (!warned && guard->lost()) {
      warned = true;
      std::cerr << "courier lock: " << to_string(guard->loss()) << " while " << a.queue
                << " was held: the lock may have passed to another holder (fence " << guard->fence() << ")\n";
    }
    // Short naps: COMMAND's exit is noticed within ~20 ms, and the token
    // goes back that soon.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // ---- release, and wait until the proxy has applied it ----
  (void)guard->release();
  (void)lock.close(std::chrono::milliseconds(2000));
  return exit_status(wait_status);
}

}  // namespace

void add_lock_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<LockArgs>();
  CLI::App* lock = app.add_subcommand(
      "lock", "Run COMMAND while holding a lock on QUEUE (a token queue of one token), like flock(1) "
              "across machines; exits with COMMAND's status. COMMAND sees the lock's fence in COURIER_FENCE.");
  lock->add_option("queue", args->queue, "lock (queue) name: 1-200 of A-Z a-z 0-9 . _ : -")->required();
  lock->add_option("command", args->command, "the command and its arguments, after --")->required();
  add_proxy_option(lock, args->proxy);
  add_shards_option(lock, args->shards);
  add_curve_client_options(lock, args->curve);
  lock->add_option("--timeout", args->timeout, "give up (exit 2) when the lock is not ours within S seconds")
      ->check(positive_seconds());
  lock->footer("Examples:\n  courier lock nightly-report -- ./make-report.sh\n"
               "  courier lock db-migrate --timeout 30 -- sh -c 'migrate --fence \"$COURIER_FENCE\"'");
  lock->callback([&action, args] { action = [args] {
      check_queue_name(args->queue);
      args->proxy = queue_endpoint(args->proxy, args->shards, args->queue);
      return run_lock(*args);
    }; });
}

}  // namespace courier::cli
