// proxy/loop.hpp — the single-threaded event loop of courier-proxy.
//
// One thread owns the ROUTER socket, the journal and all state (like Redis).
// Each turn: read what is waiting (bounded), apply it, run timers and
// deliveries, commit the journal once (one fsync shared by every message of
// the turn: group commit), and only then send the replies.
#pragma once

#include <courier/context.hpp>

#include "broker.hpp"
#include "config.hpp"
#include "journal.hpp"
#include "outbox.hpp"
#include "snapshot_board.hpp"

#include <zmq.hpp>

#include <atomic>
#include <csignal>

namespace courier::proxy {

class Loop {
 public:
  // Opens the journal (recovering it) and binds the endpoint. Throws
  // JournalError or ConfigError with a message that says what to change.
  explicit Loop(const ProxyConfig& config);
  // Runs until `stop` becomes non-zero (set from a signal handler); the
  // current turn is finished and committed first.
  void run(const volatile std::sig_atomic_t& stop);
  const std::string& endpoint() const noexcept { return endpoint_; }
  // --http: publishes a MetricsSnapshot to `board` now, then every
  // kSnapshotEveryMs from run() (loop_snapshots.cpp). Without this call the
  // loop builds no snapshot at all.
  void publish_snapshots_to(SnapshotBoard& board);
  static constexpr uint64_t kSnapshotEveryMs = 500;
  // Rates are taken over kRateWindowMs to twice that (loop_snapshots.cpp).
  static constexpr uint64_t kRateWindowMs = 1000;

 private:
  void turn();
  bool receive(std::vector<zmq::message_t>& frames);
  void publish_snapshot();

  ProxyConfig config_;
  zmq::context_t context_{1};
  // The library's handle on context_ (it runs the CURVE allow-list's ZAP
  // handler); declared after it, so it goes first.
  Context library_context_ = Context::borrow(context_);
  zmq::socket_t router_;
  Journal journal_;
  Outbox outbox_;
  Broker broker_;
  std::string endpoint_;
  std::vector<zmq::message_t> frames_;
  std::vector<std::string> unreachable_;
  SnapshotBoard* board_ = nullptr;  // null: --http is off
  // Rates are taken against rates_from_, which steps forward to
  // rates_next_from_ once that one is kRateWindowMs old.
  SnapshotBoard::Ptr rates_from_, rates_next_from_;
  uint64_t next_snapshot_ms_ = 0;  // steady clock
  // Steady-clock time of the first turn whose commit was put off (turn());
  // 0 while nothing waits.
  uint64_t deferred_since_ms_ = 0;
  static constexpr uint64_t kDeferCommitMs = 10;
};

}  // namespace courier::proxy
