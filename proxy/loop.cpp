#include "loop.hpp"

#include <algorithm>

#include <courier/errors.hpp>
#include <courier/options.hpp>
#include <spdlog/spdlog.h>

namespace courier::proxy {

namespace {
// Bounds of one turn: enough to share an fsync among thousands of messages,
// small enough that replies are not held back for long.
constexpr int kMaxMessagesPerTurn = 2048;
constexpr std::size_t kMaxBytesPerTurn = 8u << 20;
}  // namespace

Loop::Loop(const ProxyConfig& config)
    : config_(config),
      router_(context_, zmq::socket_type::router),
      journal_(JournalConfig{config.data_dir, config.max_journal_size, config.sync}),
      broker_(config_, journal_, outbox_) {
  // No silent drops: an unroutable reply raises EHOSTUNREACH (the session is
  // closed and its deliveries requeued), and an unbounded send HWM means a
  // slow client's full pipe never drops a DELIVER. What can be out per
  // consumer is bounded by its credit instead.
  router_.set(zmq::sockopt::router_mandatory, 1);
  router_.set(zmq::sockopt::sndhwm, 0);
  router_.set(zmq::sockopt::rcvhwm, 0);
  router_.set(zmq::sockopt::linger, 2000);
  // Frames past this are refused by ZeroMQ itself (the peer is disconnected);
  // up to it, bodies over --max-message get a proper ERROR 413.
  // (Capped first: a --max-message near 2^64 must not wrap the sum.)
  router_.set(zmq::sockopt::maxmsgsize,
              static_cast<int64_t>(std::min<uint64_t>(config_.max_message, 1ull << 40) + (64ull << 20)));
  if (config_.curve.enabled()) {
    // The library's CURVE setup (security.hpp): the socket options, and the
    // ZAP handler checking --curve-allow before any command is read.
    SocketOptions curve_only;
    curve_only.curve = config_.curve;
    curve_only.send_hwm = 0;
    curve_only.receive_hwm = 0;
    curve_only.linger = std::chrono::milliseconds(2000);
    curve_only.max_message_size =
        static_cast<int64_t>(std::min<uint64_t>(config_.max_message, 1ull << 40) + (64ull << 20));
    apply_options(router_, curve_only, library_context_);
  }
  try {
    router_.bind(config_.listen);
  } catch (const zmq::error_t& e) {
    throw ConfigError("cannot listen on " + config_.listen + ": " + e.what() +
                      " (use --listen tcp://HOST:PORT or ipc://PATH; is another proxy on it?)");
  }
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
}

namespace {

// A signal (SIGTERM: stop after this turn) may interrupt any ZeroMQ call with
// EINTR; that is no error here, so the call is simply made again.
template <class Call>
auto retrying_eintr(Call call) {
  for (;;) {
    try {
      return call();
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
  }
}

}  // namespace

bool Loop::receive(std::vector<zmq::message_t>& frames) {
  frames.clear();
  zmq::message_t part;
  if (!retrying_eintr([&] { return router_.recv(part, zmq::recv_flags::dontwait); })) return false;
  bool more = part.more();
  frames.push_back(std::move(part));
  while (more) {
    zmq::message_t next;
    // the rest of a message is already here
    (void)retrying_eintr([&] { return router_.recv(next, zmq::recv_flags::none); });
    more = next.more();
    frames.push_back(std::move(next));
  }
  return true;
}

void Loop::turn() {
  const Clock clock = Clock::now();
  broker_.begin_turn(clock);
  std::size_t bytes = 0;
  bool drained = false;
  int received = 0;
  for (; received < kMaxMessagesPerTurn && bytes < kMaxBytesPerTurn; ++received) {
    if (!receive(frames_)) {
      drained = true;
      break;
    }
    for (const auto& f : frames_) bytes += f.size();
    broker_.handle(frames_);
  }
  // Peers found gone when sending are closed only once everything they sent
  // before leaving has been read: an ACK already waiting in the socket must
  // settle its delivery rather than see it requeued.
  if (drained && !unreachable_.empty()) {
    broker_.drop_sessions(unreachable_);
    unreachable_.clear();
  }
  broker_.run_timers();
  broker_.deliver();

  // GROUP COMMIT RULE. Everything this turn wrote (and the queue records it
  // changed, saved by the commit itself) becomes durable here, in one commit
  // with one fsync (unless --no-sync). CONFIRMs promise
  // durability and DELIVERs must not expose unjournalled state, so the outbox
  // is flushed only after the commit has returned — never before, never
  // from anywhere else.
  //
  // A turn that says nothing to anyone (typically one that only took ACKs)
  // promised nothing, so its writes may wait for the next turn's commit
  // instead of paying an fsync of their own: at a steady rate with a
  // consumer attached that halves the fsyncs, and a PUT no longer queues
  // behind an ACK's commit. They wait at most kDeferCommitMs, and never
  // past a turn that found nothing to read. (An ACK is not promised to
  // survive kill -9, PROTOCOL.md §3.3: at worst the message is redelivered.)
  const bool promised = !outbox_.empty();
  if (!promised && received > 0) {
    if (deferred_since_ms_ == 0) deferred_since_ms_ = std::max<uint64_t>(1, clock.steady_ms);
    if (clock.steady_ms < deferred_since_ms_ + kDeferCommitMs) return;
  }
  deferred_since_ms_ = 0;
  journal_.commit();
  outbox_.flush(router_, unreachable_);
}

void Loop::run(const volatile std::sig_atomic_t& stop) {
  zmq::pollitem_t items[] = {{static_cast<void*>(router_), 0, ZMQ_POLLIN, 0}};
  while (stop == 0) {
    const Clock clock = Clock::now();
    auto wait = std::min<uint64_t>(broker_.ms_until_next_timer(clock), 100);
    if (deferred_since_ms_ != 0) {
      const uint64_t due = deferred_since_ms_ + kDeferCommitMs;
      wait = std::min<uint64_t>(wait, due > clock.steady_ms ? due - clock.steady_ms : 0);
    }
    try {
      zmq::poll(items, 1, std::chrono::milliseconds(wait));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
    }
    turn();
    // One comparison per turn when --http is off; a snapshot a few times a
    // second when it is on, never one per turn.
    if (board_ != nullptr && clock.steady_ms >= next_snapshot_ms_) publish_snapshot();
  }
  journal_.commit();
}

}  // namespace courier::proxy
