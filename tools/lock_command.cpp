// tools/lock_command.cpp — `courier lock QUEUE -- COMMAND [ARG...]`: flock(1)
// across machines on a token queue of one token (PROTOCOL.md §3.6, §4.2).
//
// Holding the lock is holding the queue's one token, unacked: the proxy
// gives it to nobody else until this session ACKs it, says BYE, or goes
// silent for 3 heartbeats. So while COMMAND runs this process keeps PINGing;
// when COMMAND exits it ACKs (the token goes back) and exits with COMMAND's
// status. COMMAND gets the token's `attempt` as COURIER_FENCE: it only grows
// (§3.6 "Fencing"), so a resource that refuses a writer whose fence is lower
// than one it has seen is safe even from a holder that lost the lock.
#include "cli_common.hpp"
#include "proxy_session.hpp"

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
  std::optional<double> timeout;  // none: wait for ever
  std::vector<std::string> command;
};

volatile std::sig_atomic_t g_forward_signal = 0;
void remember_signal(int sig) { g_forward_signal = sig; }

msgpack::sbuffer queue_header(const std::string& queue, std::initializer_list<std::pair<const char*, uint64_t>> more) {
  msgpack::sbuffer header;
  cqp1::MapWriter w(header, 1 + static_cast<uint32_t>(more.size()));
  cqp1::pack_string(w.key("q"), queue);
  for (const auto& [k, v] : more) w.key(k).pack(v);
  return header;
}

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

// Watches `boot` in PONGs: a change means the proxy restarted and requeued
// the token (§3.7); the holder can no longer rely on holding it.
struct BootWatch {
  std::string boot;  // empty until the first PONG
  bool changed(const ProxyReply& r) {
    const auto b = r.header->str("boot");
    if (!b || *b == boot) return false;
    const bool was_known = !boot.empty();
    boot = std::string(*b);
    return was_known;
  }
};

int run_lock(const LockArgs& a) {
  check_queue_name(a.queue);
  if (a.command.empty()) throw CliFailure(kUsage, "no COMMAND: courier lock QUEUE -- COMMAND [ARG...]");
  const auto deadline = deadline_in(a.timeout);
  zmq::context_t context(1);
  ProxySession session(context, a.proxy);
  const int handshake_ms = a.timeout ? std::min(seconds_to_ms(*a.timeout), 10000) : 10000;
  ProxyReply reply;
  const uint64_t hb = std::max<uint64_t>(10, session.hello("courier-cli lock pid " + std::to_string(::getpid()),
                                                           handshake_ms));
  BootWatch boot;
  session.call("DECLARE", queue_header(a.queue, {{"tokens", 1}}), cqp1::Command::DECLARED, reply, handshake_ms);
  const msgpack::sbuffer consume = queue_header(a.queue, {{"credit", 1}});
  session.call("CONSUME", consume, cqp1::Command::CONSUMING, reply, handshake_ms);

  // ---- wait for the token ----
  uint64_t delivery = 0, fence = 0;
  for (;;) {
    if (deadline && Clock::now() >= *deadline) {
      session.bye_and_drain(1000);
      throw CliFailure(kTimeout, "lock " + a.queue + " not acquired within " + seconds_text(*a.timeout) +
                                     " s: another holder has it");
    }
    if (session.ms_since_recv() > static_cast<int64_t>(3 * hb))
      throw session.no_answer("no PONG for " + std::to_string(3 * hb) + " ms", static_cast<int>(3 * hb));
    if (session.ms_since_send() >= static_cast<int64_t>(hb)) session.send_empty("PING");
    if (!session.recv(reply, ms_left(deadline, static_cast<int>(hb)))) continue;
    if (reply.command == cqp1::Command::PONG && boot.changed(reply)) {
      session.send("CONSUME", consume);  // a restarted proxy forgot our consumer
    }
    if (reply.command == cqp1::Command::ERROR) throw session.refused(reply, "waiting for lock " + a.queue);
    if (reply.command != cqp1::Command::DELIVER) continue;
    delivery = reply.header->need_uint("d");
    fence = reply.header->uint("attempt").value_or(0);
    break;
  }

  // ---- hold it while COMMAND runs ----
  std::signal(SIGINT, remember_signal);   // passed on to COMMAND, which decides
  std::signal(SIGTERM, remember_signal);
  std::signal(SIGHUP, remember_signal);
  const pid_t child = spawn_command(a.command, fence);
  int wait_status = 0;
  bool warned = false;
  for (;;) {
    if (g_forward_signal != 0) {
      ::kill(child, g_forward_signal);
      g_forward_signal = 0;
    }
    const pid_t done = ::waitpid(child, &wait_status, WNOHANG);
    if (done == child) break;
    if (session.ms_since_send() >= static_cast<int64_t>(hb / 2)) session.send_empty("PING");
    // Short waits: COMMAND's exit is noticed within ~20 ms, and the token
    // goes back that soon.
    if (session.recv(reply, 20)) {
      if (reply.command == cqp1::Command::PONG && boot.changed(reply) && !warned) {
        warned = true;
        std::cerr << "courier lock: courier-proxy restarted while " << a.queue
                  << " was held: the lock may have passed to another holder (fence " << fence << ")\n";
      }
    } else if (!warned && session.ms_since_recv() > static_cast<int64_t>(3 * hb)) {
      warned = true;
      std::cerr << "courier lock: no answer from courier-proxy for " << 3 * hb << " ms: the lock on "
                << a.queue << " may have passed to another holder (fence " << fence << ")\n";
    }
  }

  // ---- release ----
  msgpack::sbuffer ack;
  {
    cqp1::MapWriter w(ack, 1);
    w.key("d").pack_array(1);
    w.packer().pack(delivery);
  }
  session.send("ACK", ack);
  session.bye_and_drain(static_cast<int>(std::min<uint64_t>(2000, 3 * hb)));
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
  lock->add_option("--timeout", args->timeout, "give up (exit 2) when the lock is not ours within S seconds")
      ->check(positive_seconds());
  lock->footer("Examples:\n  courier lock nightly-report -- ./make-report.sh\n"
               "  courier lock db-migrate --timeout 30 -- sh -c 'migrate --fence \"$COURIER_FENCE\"'");
  lock->callback([&action, args] { action = [args] { return run_lock(*args); }; });
}

}  // namespace courier::cli
