#include <courier/request.hpp>

#include "eventfd_wakeup.hpp"
#include "request_header.hpp"
#include "zmq_util.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <queue>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace courier {
namespace detail {

Completion::~Completion() = default;

namespace {

// ---------------------------------------------------------------------------
// §2 headers
// ---------------------------------------------------------------------------

// msgpack writes through this into a reused std::string (no allocation once
// the string has grown to the usual header size).
struct StringSink {
  std::string& out;
  void write(const char* p, std::size_t n) { out.append(p, n); }
};

std::uint64_t unix_ms_now() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

constexpr char kNil[] = "\xc0";

// Receives one whole multipart message into `parts` (reused). Returns the
// number of parts, 0 when nothing is waiting. Messages with more than
// kMaxParts parts are consumed and reported as kMaxParts + 1.
constexpr std::size_t kMaxParts = 32;

std::size_t recv_message(void* socket, std::vector<zmq::message_t>& parts) {
  if (parts.empty()) parts.resize(4);
  if (!recv_frame(socket, parts[0].handle(), 0)) return 0;
  std::size_t n = 1;
  while (has_more(parts[n - 1].handle())) {
    if (n == kMaxParts) {
      discard_rest(socket);
      return kMaxParts + 1;
    }
    if (parts.size() <= n) parts.resize(n + 4);
    // The rest of a multipart message is already here: this never waits.
    recv_frame(socket, parts[n].handle(), -1);
    ++n;
  }
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------
// Server hand-off: replies completed by Responders on any thread
// ---------------------------------------------------------------------------

struct OutgoingReply {
  std::vector<zmq::message_t> envelope;
  std::uint64_t id = 0;
  bool ok = true;
  std::string error;
  zmq::message_t body;
};

struct ServerOutbox {
  std::mutex mu;
  std::vector<OutgoingReply> queue;  // guarded by mu
  bool closed = false;               // guarded by mu
  EventfdWakeup wake;
  std::atomic<bool> stop{false};

  // Thread-safety: any thread. Returns false once the Server is gone.
  bool post(OutgoingReply&& reply) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed) return false;
      was_empty = queue.empty();
      queue.push_back(std::move(reply));
    }
    // The server drains the whole queue per wake-up: one write per batch.
    if (was_empty) wake.notify();
    return true;
  }
};

struct ResponderState {
  std::shared_ptr<ServerOutbox> outbox;
  std::vector<zmq::message_t> envelope;
  std::uint64_t id = 0;
  std::atomic<bool> answered{false};

  bool finish(bool ok, std::string error, zmq::message_t body) noexcept {
    if (answered.exchange(true)) return false;
    try {
      OutgoingReply r;
      r.envelope = std::move(envelope);
      r.id = id;
      r.ok = ok;
      r.error = std::move(error);
      r.body = std::move(body);
      return outbox->post(std::move(r));
    } catch (...) {
      return false;
    }
  }

  ~ResponderState() {
    finish(false, "the handler did not reply (its Responder was dropped unanswered)",
           zmq::message_t(kNil, 1));
  }
};

}  // namespace detail

// ---------------------------------------------------------------------------
// RawResponder
// ---------------------------------------------------------------------------

bool RawResponder::reply(zmq::message_t&& body) noexcept {
  return state_ && state_->finish(true, std::string(), std::move(body));
}

bool RawResponder::reply(std::string_view body_bytes) noexcept {
  if (!state_ || state_->answered.load()) return false;
  try {
    return reply(zmq::message_t(body_bytes.data(), body_bytes.size()));
  } catch (...) {
    return false;
  }
}

bool RawResponder::fail(std::string_view error) noexcept {
  if (!state_ || state_->answered.load()) return false;
  try {
    return state_->finish(false, std::string(error), zmq::message_t(detail::kNil, 1));
  } catch (...) {
    return false;
  }
}

bool RawResponder::answered() const noexcept { return !state_ || state_->answered.load(); }

std::uint64_t RawResponder::id() const noexcept { return state_ ? state_->id : 0; }

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

namespace {
// How long a reply may wait for room in a client's queue before it is
// dropped and counted (bounded, so one stuck client cannot stall the server).
constexpr int kReplySendTimeoutMs = 1000;
constexpr int kServeBatch = 256;
}  // namespace

struct Server::Impl {
  Context context;
  zmq::socket_t socket;
  std::shared_ptr<detail::ServerOutbox> outbox = std::make_shared<detail::ServerOutbox>();
  SyncHandler sync;
  AsyncHandler async;

  std::vector<zmq::message_t> parts;
  std::string header;
  std::vector<detail::OutgoingReply> draining;

  std::atomic<std::uint64_t> handled{0}, dropped{0}, expired{0}, unroutable{0}, dropped_replies{0};
  // Routing ids whose last reply timed out (send_reply); serving thread only.
  std::unordered_set<std::string> full_peers;
  static constexpr std::size_t kMaxFullPeers = 1024;

  explicit Impl(ServerOptions options) : context(std::move(options.context)) {
    try {
      socket = zmq::socket_t(context.zmq(), ZMQ_ROUTER);
    } catch (const zmq::error_t& e) {
      detail::throw_zmq_error(e.num(), "creating the server's ROUTER socket");
    }
    apply_options(socket, options.socket, context);
    const int one = 1;
    zmq_setsockopt(socket.handle(), ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(socket.handle(), ZMQ_SNDTIMEO, &kReplySendTimeoutMs, sizeof kReplySendTimeoutMs);
  }

  ~Impl() {
    std::lock_guard<std::mutex> lock(outbox->mu);
    outbox->closed = true;
    outbox->queue.clear();
  }

  // Sends [envelope...][""][header][body]. The first frame decides whether
  // the client is reachable (ZMQ_ROUTER_MANDATORY): a vanished client and a
  // client whose queue stays full are counted, never silently lost.
  void send_reply(zmq::message_t* envelope, std::size_t n_env, std::uint64_t id, bool ok,
                  std::string_view error, zmq::message_t& body) {
    header.clear();
    detail::StringSink sink{header};
    msgpack::packer<detail::StringSink> pk(sink);
    pk.pack_map(ok ? 2 : 3);
    pk.pack(std::string_view("id"));
    pk.pack(id);
    pk.pack(std::string_view("ok"));
    pk.pack(ok);
    if (!ok) {
      pk.pack(std::string_view("error"));
      pk.pack(error);
    }
    void* s = socket.handle();
    // A client whose queue stayed full for a whole send timeout is not waited
    // for again until a reply gets through: thousands of replies owed to a
    // stuck or vanished client would each stall every other client 1 s.
    const std::string_view peer =
        n_env > 0 ? std::string_view(static_cast<const char*>(envelope[0].data()), envelope[0].size())
                  : std::string_view();
    // (Nearly always empty: then no key is built and no hash computed.)
    const bool known_full = n_env > 0 && !full_peers.empty() && full_peers.count(std::string(peer)) != 0;
    for (std::size_t i = 0; i < n_env; ++i) {
      for (;;) {
        const int flags = ZMQ_SNDMORE | (i == 0 && known_full ? ZMQ_DONTWAIT : 0);
        if (zmq_msg_send(envelope[i].handle(), s, flags) >= 0) {
          if (i == 0 && known_full) full_peers.erase(std::string(peer));
          break;
        }
        const int err = zmq_errno();
        if (err == EINTR) continue;
        if (i == 0 && err == EHOSTUNREACH) {
          ++unroutable;
          return;
        }
        if (i == 0 && err == EAGAIN) {
          if (full_peers.size() >= kMaxFullPeers) full_peers.clear();  // bounded; worst case one more wait each
          full_peers.emplace(peer);
          ++dropped_replies;
          return;
        }
        detail::throw_zmq_error(err, "sending a reply");
      }
    }
    zmq::message_t delimiter;
    zmq::message_t head(header.data(), header.size());
    detail::send_frame(s, delimiter.handle(), ZMQ_SNDMORE, -1);
    detail::send_frame(s, head.handle(), ZMQ_SNDMORE, -1);
    detail::send_frame(s, body.handle(), 0, -1);
    ++handled;
  }

  void send_error(zmq::message_t* envelope, std::size_t n_env, std::uint64_t id,
                  std::string_view error) {
    zmq::message_t nil(detail::kNil, 1);
    send_reply(envelope, n_env, id, false, error, nil);
  }

  // One request: [routing id(s)][""][header][body].
  void serve_one(std::size_t n) {
    std::size_t d = 0;
    while (d < n && d <= detail::kMaxParts && parts[d].size() != 0) ++d;
    // No routing id before the delimiter, or no delimiter: nobody to answer.
    if (d == 0 || d >= n || n > detail::kMaxParts || d + 1 >= n) {
      ++dropped;
      return;
    }
    const detail::Header h = detail::parse_header(parts[d + 1]);
    if (!h.id) {
      ++dropped;
      return;
    }
    const std::uint64_t id = *h.id;
    if (n != d + 3) {
      send_error(parts.data(), d, id,
                 "malformed request: expected [\"\"][header][body] after the routing id, got " +
                     std::to_string(n - d) + " frames from the delimiter on");
      return;
    }
    if (h.deadline && unix_now_past(*h.deadline)) {
      ++expired;
      return;
    }
    const zmq::message_t& body = parts[d + 2];
    if (sync) {
      std::string error;
      try {
        zmq::message_t rep = sync(body);
        send_reply(parts.data(), d, id, true, {}, rep);
        return;
      } catch (const ClosedError&) {
        throw;
      } catch (const std::exception& e) {
        error = e.what();
      } catch (...) {
        error = "the handler threw a non-standard exception";
      }
      send_error(parts.data(), d, id, error);
    } else if (async) {
      auto state = std::make_shared<detail::ResponderState>();
      state->outbox = outbox;
      state->id = id;
      state->envelope.reserve(d);
      for (std::size_t i = 0; i < d; ++i) state->envelope.push_back(std::move(parts[i]));
      std::string error;
      try {
        async(body, RawResponder(state));
        return;
      } catch (const std::exception& e) {
        error = e.what();
      } catch (...) {
        error = "the handler threw a non-standard exception";
      }
      // The handler threw: answer now unless it already answered.
      if (!state->answered.exchange(true)) {
        send_error(state->envelope.data(), state->envelope.size(), id, error);
      }
    } else {
      send_error(parts.data(), d, id, "no handler is installed on this server");
    }
  }

  static bool unix_now_past(std::uint64_t deadline_ms) { return detail::unix_ms_now() > deadline_ms; }

  bool serve_batch() {
    bool did = false;
    for (int i = 0; i < kServeBatch; ++i) {
      const std::size_t n = detail::recv_message(socket.handle(), parts);
      if (n == 0) break;
      did = true;
      serve_one(n);
    }
    return did;
  }

  bool drain_outbox() {
    {
      std::lock_guard<std::mutex> lock(outbox->mu);
      if (outbox->queue.empty()) return false;
      draining.swap(outbox->queue);
    }
    for (auto& r : draining) {
      send_reply(r.envelope.data(), r.envelope.size(), r.id, r.ok, r.error, r.body);
    }
    draining.clear();
    return true;
  }

  bool step(int timeout_ms) {
    bool did = drain_outbox();
    did = serve_batch() || did;
    if (did || timeout_ms == 0) return did;
    zmq_pollitem_t items[2] = {{socket.handle(), 0, ZMQ_POLLIN, 0}, outbox->wake.poll_item()};
    if (zmq_poll(items, 2, timeout_ms) < 0) {
      const int err = zmq_errno();
      if (err == EINTR) return false;
      detail::throw_zmq_error(err, "server waiting for requests");
    }
    if (items[1].revents) {
      outbox->wake.drain();
      did = drain_outbox() || did;
    }
    if (items[0].revents) did = serve_batch() || did;
    return did;
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&&) noexcept = default;
Server::~Server() = default;

Server& Server::bind(const std::string& endpoint) {
  detail::bind_or_throw(impl_->socket.handle(), endpoint);
  return *this;
}

Server& Server::connect(const std::string& endpoint) {
  detail::connect_or_throw(impl_->socket.handle(), endpoint);
  return *this;
}

std::string Server::last_endpoint() const { return detail::last_endpoint_of(impl_->socket.handle()); }

void Server::set_sync(SyncHandler h) {
  impl_->sync = std::move(h);
  impl_->async = nullptr;
}

void Server::set_async(AsyncHandler h) {
  impl_->async = std::move(h);
  impl_->sync = nullptr;
}

Server& Server::handle_raw(std::function<std::string(std::string_view)> f) {
  set_sync([f = std::move(f)](const zmq::message_t& body) {
    std::string rep = f(std::string_view(static_cast<const char*>(body.data()), body.size()));
    return zmq::message_t(rep.data(), rep.size());
  });
  return *this;
}

Server& Server::handle_raw_async(std::function<void(std::string_view, RawResponder)> f) {
  set_async([f = std::move(f)](const zmq::message_t& body, RawResponder r) {
    f(std::string_view(static_cast<const char*>(body.data()), body.size()), std::move(r));
  });
  return *this;
}

void Server::run() {
  struct ClearStop {
    detail::ServerOutbox& o;
    ~ClearStop() { o.stop.store(false); }
  } clear{*impl_->outbox};
  while (!impl_->outbox->stop.load()) impl_->step(-1);
}

bool Server::poll(std::chrono::milliseconds timeout) {
  return impl_->step(timeout.count() <= 0 ? 0 : detail::ms_until(detail::deadline_after(timeout)));
}

void Server::stop() noexcept {
  impl_->outbox->stop.store(true);
  impl_->outbox->wake.notify();
}

std::uint64_t Server::handled_requests() const noexcept { return impl_->handled.load(); }
std::uint64_t Server::dropped_requests() const noexcept { return impl_->dropped.load(); }
std::uint64_t Server::expired_requests() const noexcept { return impl_->expired.load(); }
std::uint64_t Server::unroutable_replies() const noexcept { return impl_->unroutable.load(); }
std::uint64_t Server::dropped_replies() const noexcept { return impl_->dropped_replies.load(); }
zmq::socket_ref Server::socket() noexcept { return impl_->socket; }

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

namespace {

struct Submission {
  zmq::message_t body;
  detail::Clock::time_point deadline;
  std::chrono::milliseconds timeout;
  std::unique_ptr<detail::Completion> done;
};

struct Pending {
  zmq::message_t body;  // emptied once sent
  detail::Clock::time_point deadline;
  std::chrono::milliseconds timeout;
  std::unique_ptr<detail::Completion> done;
};

class StringPromise final : public detail::Completion {
 public:
  StringPromise() : promise_(std::allocator_arg, detail::CompletionAllocator<char>()) {}
  std::future<std::string> future() { return promise_.get_future(); }
  void complete(const zmq::message_t& body) noexcept override {
    try {
      promise_.set_value(std::string(static_cast<const char*>(body.data()), body.size()));
    } catch (...) {
      promise_.set_exception(std::current_exception());
    }
  }
  void fail(std::exception_ptr e) noexcept override { promise_.set_exception(e); }

 private:
  std::promise<std::string> promise_;
};

class StringCallback final : public detail::Completion {
 public:
  StringCallback(std::function<void(std::string)> r, std::function<void(std::exception_ptr)> e)
      : on_reply_(std::move(r)), on_error_(std::move(e)) {}
  void complete(const zmq::message_t& body) noexcept override {
    try {
      on_reply_(std::string(static_cast<const char*>(body.data()), body.size()));
    } catch (...) {
    }
  }
  void fail(std::exception_ptr e) noexcept override {
    try {
      on_error_(e);
    } catch (...) {
    }
  }

 private:
  std::function<void(std::string)> on_reply_;
  std::function<void(std::exception_ptr)> on_error_;
};

// Replies taken per pass before their futures are completed. Small enough
// that the batch does not pin many of ZeroMQ's 8 KiB zero-copy receive
// buffers (held ones make its I/O thread allocate new ones: 4096 cost ~25 %
// more CPU per request in rr_bench), large enough that a waiting caller is
// woken once per burst, not once per reply.
constexpr int kReplyBatch = 256;
// Hash-map nodes kept for reuse: enough for a deep pipeline, bounded memory.
constexpr std::size_t kSpareNodes = 4096;
// Timer entries allowed beyond twice the requests in flight before the heap
// is rebuilt without the answered ones.
constexpr std::size_t kTimerSlack = 1024;
// How long the I/O thread sleeps at most while replies are coming in: during
// such a short sleep callers who send skip the ZMQ_EVENTS check, because the
// pass that ends the sleep receives whatever a send may have hidden. A
// reply's signal taken in by a caller's send is so late by at most this.
constexpr std::chrono::microseconds kShortSleep{200};

// A bind() or connect() handed to the I/O thread, which owns the socket; the
// caller waits for the endpoint ZeroMQ resolved, or for the error.
struct EndpointOp {
  bool bind = false;
  std::string endpoint;
  std::promise<std::string> done;
};

}  // namespace

// What a finished request hands to its Completion once the I/O thread has let
// go of the socket: the reply body, or the error.
struct Finished {
  std::unique_ptr<detail::Completion> done;
  zmq::message_t body;
  std::exception_ptr error;
};

// Threads and the socket
// - The I/O TOKEN (`token`, a mutex) is the right to use the socket and the
//   request tables. The I/O thread holds it while it works and lets go of it
//   while it sleeps; a thread calling request() that finds it free (try_lock)
//   registers and sends its own request, so a busy caller does not wait for
//   the I/O thread to wake. The mutex is the full memory barrier ZeroMQ asks
//   for each time the socket changes threads. Only the I/O thread receives:
//   futures are completed and callbacks run there, never with the token held.
// - The I/O thread sleeps in poll() on the socket's ZMQ_FD and the eventfd,
//   not in zmq_poll (which would use the socket without the token). ZMQ_FD
//   only signals a change of ZMQ_EVENTS, and any use of the socket may
//   consume that signal (libzmq takes in pending commands inside send). So
//   the I/O thread sleeps only after a pass that ended on a receive finding
//   nothing (which took those commands in), and a caller who uses the socket
//   while it sleeps re-reads ZMQ_EVENTS and writes the eventfd if a reply is
//   ready or its deadline comes before the I/O thread's wake-up — once per
//   sleep (`io_sleeping` is cleared by that write). That check costs two
//   system calls inside libzmq (poll, getpid), so it is skipped while the I/O
//   thread sleeps *briefly*: with requests in flight and replies or sends
//   since its last sleep, it sleeps at most kShortSleep, and the pass that
//   ends that sleep receives until EAGAIN, which takes in whatever a
//   caller's send hid from ZMQ_FD (docs/BENCHMARKS.md, "Request/reply
//   pipelined"). A short sleep in which nothing happened is followed by a
//   long one, so an idle client with requests in flight does not poll.
// - Replies are taken in batches and completed after the token is let go,
//   so a burst wakes a waiting caller once and no user code runs with the
//   token held (a callback may call request() or connect()).
struct Client::Impl {
  Context context;
  zmq::socket_t socket;
  int socket_fd = -1;  // ZMQ_FD: readable when ZMQ_EVENTS may have changed
  detail::EventfdWakeup wake;

  std::mutex mu;
  std::vector<Submission> inbox;  // guarded by mu
  std::atomic<bool> inbox_nonempty{false};  // written under mu; read without, as a hint
  std::vector<std::unique_ptr<EndpointOp>> endpoint_ops;  // guarded by mu
  std::string last_endpoint;      // guarded by mu
  bool closing = false;           // guarded by mu
  bool closed = false;            // guarded by mu (and written holding the token too)
  std::string closed_reason;      // guarded by mu

  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::uint64_t> late{0}, malformed{0};
  std::thread io;

  // Guarded by the token: the socket and everything below.
  std::mutex token;
  bool socket_closed = false;
  std::exception_ptr socket_error;  // met by a caller; the I/O thread closes with it
  bool io_sleeping = false;  // the I/O thread let go of the token to sleep
  detail::Clock::time_point io_wakes_at{};  // when that sleep ends on its own
  bool io_sleep_short = false;  // that sleep is a short one (kShortSleep)
  bool active_since_sleep = false;  // replies came or callers sent since the last sleep
  std::string endpoints;  // for error texts
  using PendingMap = std::unordered_map<std::uint64_t, Pending>;
  PendingMap pending;
  std::vector<PendingMap::node_type> spare_nodes;
  std::deque<std::uint64_t> unsent;
  using Timer = std::pair<detail::Clock::time_point, std::uint64_t>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers;
  std::uint64_t next_id = 1;
  std::vector<Submission> taken;
  std::vector<zmq::message_t> parts;
  std::string header;

  // Owned by the I/O thread.
  std::vector<std::unique_ptr<EndpointOp>> ops_taken;
  std::vector<Finished> finished;  // filled with the token, run without it
  std::vector<Finished> completing;

  explicit Impl(ClientOptions options) : context(std::move(options.context)) {
    try {
      socket = zmq::socket_t(context.zmq(), ZMQ_DEALER);
    } catch (const zmq::error_t& e) {
      detail::throw_zmq_error(e.num(), "creating the client's DEALER socket");
    }
    apply_options(socket, options.socket, context);
    std::size_t len = sizeof socket_fd;
    if (zmq_getsockopt(socket.handle(), ZMQ_FD, &socket_fd, &len) != 0) {
      detail::throw_zmq_error(zmq_errno(), "reading the client socket's ZMQ_FD");
    }
    // The socket is handed to the I/O thread here; thread start is the full
    // memory barrier ZeroMQ asks for when a socket changes threads.
    io = std::thread([this] { thread_main(); });
  }

  bool on_io_thread() const { return std::this_thread::get_id() == io.get_id(); }

  // Binds or connects the socket. Holding the token.
  // Returns: the endpoint as ZeroMQ resolved it. Throws: ConfigError.
  std::string apply_endpoint(bool bind, const std::string& endpoint) {
    if (bind) {
      detail::bind_or_throw(socket.handle(), endpoint);
    } else {
      detail::connect_or_throw(socket.handle(), endpoint);
    }
    std::string resolved = detail::last_endpoint_of(socket.handle());
    endpoints += endpoints.empty() ? resolved : ", " + resolved;
    std::lock_guard<std::mutex> lock(mu);
    last_endpoint = resolved;
    return resolved;
  }

  // bind()/connect() from any thread. From the I/O thread itself (a
  // callback, run without the token) it runs at once: handing it over and
  // waiting would deadlock.
  void endpoint_op(bool bind, const std::string& endpoint) {
    if (on_io_thread()) {
      std::lock_guard<std::mutex> tok(token);
      (void)apply_endpoint(bind, endpoint);
      return;
    }
    auto op = std::make_unique<EndpointOp>();
    op->bind = bind;
    op->endpoint = endpoint;
    std::future<std::string> done = op->done.get_future();
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed || closing) {
        throw ClosedError(std::string("cannot ") + (bind ? "bind " : "connect ") + endpoint +
                          ": the client is closed" + (closed_reason.empty() ? "" : ": " + closed_reason));
      }
      endpoint_ops.push_back(std::move(op));
    }
    wake.notify();
    (void)done.get();  // rethrows the ConfigError or ClosedError
  }

  // Runs the bind()/connect() calls taken from user threads. Holding the token.
  void run_endpoint_ops() {
    for (auto& op : ops_taken) {
      try {
        op->done.set_value(apply_endpoint(op->bind, op->endpoint));
      } catch (...) {
        op->done.set_exception(std::current_exception());
      }
    }
    ops_taken.clear();
  }

  // Who requests go to, for error texts. Holding the token.
  std::string peers() const {
    return endpoints.empty() ? std::string("(no endpoint: call connect() or bind() first)") : endpoints;
  }

  // Queues the outcome to run once the token is let go. in_flight drops
  // first, so that a caller who sees its future ready also sees the count
  // without its request. Holding the token, on the I/O thread.
  void finish(Pending& p, zmq::message_t* body, std::exception_ptr error) {
    --in_flight;
    finished.push_back(Finished{std::move(p.done), body ? std::move(*body) : zmq::message_t(),
                                body ? nullptr : std::move(error)});
  }

  // Runs the queued outcomes: user code, on the I/O thread, without the token.
  void run_finished() {
    completing.swap(finished);
    for (auto& f : completing) {
      if (f.error) {
        f.done->fail(std::move(f.error));
      } else {
        f.done->complete(f.body);
      }
    }
    completing.clear();
  }

  // Gives an id, a timer and a place in the send queue to a submission.
  // Holding the token.
  std::uint64_t enqueue(Submission& s) {
    const std::uint64_t id = next_id++;
    if (s.deadline != detail::Clock::time_point::max()) timers.emplace(s.deadline, id);
    Pending p{std::move(s.body), s.deadline, s.timeout, std::move(s.done)};
    if (spare_nodes.empty()) {
      pending.emplace(id, std::move(p));
    } else {
      PendingMap::node_type node = std::move(spare_nodes.back());
      spare_nodes.pop_back();
      node.key() = id;
      node.mapped() = std::move(p);
      pending.insert(std::move(node));
    }
    unsent.push_back(id);
    if (timers.size() > 2 * pending.size() + kTimerSlack) compact_timers();
    return id;
  }

  // An answered request leaves its timer entry in the heap until the
  // deadline passes: at 300 000 requests/s with 30 s timeouts that is nine
  // million entries. When dead entries outnumber live ones, rebuild the heap
  // from what is still pending (amortised O(1) per request), so it stays
  // O(requests in flight). Holding the token.
  void compact_timers() {
    std::vector<Timer> live;
    live.reserve(pending.size());
    for (const auto& [id, p] : pending) {
      if (p.deadline != detail::Clock::time_point::max()) live.emplace_back(p.deadline, id);
    }
    timers = decltype(timers)(std::greater<Timer>(), std::move(live));
  }

  // Takes a request out of the table, keeping its node for the next one (no
  // allocation per request once warm). Holding the token.
  Pending take_pending(PendingMap::iterator it) {
    PendingMap::node_type node = pending.extract(it);
    Pending p = std::move(node.mapped());
    if (spare_nodes.size() < kSpareNodes) spare_nodes.push_back(std::move(node));
    return p;
  }

  // Moves requests handed over through the inbox into the tables, in the
  // order they came. Holding the token (any thread).
  void take_submissions() {
    {
      std::lock_guard<std::mutex> lock(mu);
      taken.swap(inbox);
      inbox_nonempty.store(false, std::memory_order_relaxed);
    }
    for (auto& s : taken) enqueue(s);
    taken.clear();
  }

  // The I/O thread's pick-up: endpoint ops first (a caller connects, then
  // asks), then the requests. Holding the token.
  void take_inbox(bool& stop) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ops_taken.swap(endpoint_ops);
      stop = closing;
    }
    run_endpoint_ops();
    take_submissions();
  }

  TimeoutError timeout_error(std::uint64_t id, std::chrono::milliseconds t) const {
    return TimeoutError("request " + std::to_string(id) + " to " + peers() + ": no reply within " +
                        std::to_string(t.count()) + " ms");
  }

  // Sends queued requests until ZeroMQ's queue is full (then a POLLOUT
  // change of ZMQ_EVENTS wakes the I/O thread). Holding the token.
  void flush_unsent() {
    void* s = socket.handle();
    while (!unsent.empty()) {
      const std::uint64_t id = unsent.front();
      auto it = pending.find(id);
      if (it == pending.end()) {  // timed out before it could be sent
        unsent.pop_front();
        continue;
      }
      zmq::message_t delimiter;
      if (!detail::send_frame(s, delimiter.handle(), ZMQ_SNDMORE, 0)) return;
      header.clear();
      detail::StringSink sink{header};
      msgpack::packer<detail::StringSink> pk(sink);
      pk.pack_map(1);
      pk.pack(std::string_view("id"));
      pk.pack(id);
      zmq::message_t head(header.data(), header.size());
      // The rest of a multipart message always follows its first frame.
      detail::send_frame(s, head.handle(), ZMQ_SNDMORE, -1);
      detail::send_frame(s, it->second.body.handle(), 0, -1);
      unsent.pop_front();
    }
  }

  // Takes every reply waiting (up to kReplyBatch) and queues its outcome;
  // the futures are completed together afterwards, so a burst of replies
  // wakes a waiting caller once, not once per reply.
  // Returns: true when the batch limit stopped it (more may be waiting).
  // Holding the token, on the I/O thread.
  bool receive_replies() {
    void* s = socket.handle();
    for (int i = 0; i < kReplyBatch; ++i) {
      const std::size_t n = detail::recv_message(s, parts);
      if (n == 0) return false;
      active_since_sleep = true;
      if (n != 3 || parts[0].size() != 0) {
        ++malformed;
        continue;
      }
      const detail::Header h = detail::parse_header(parts[1]);
      if (!h.id) {
        ++malformed;
        continue;
      }
      auto it = pending.find(*h.id);
      if (it == pending.end()) {
        ++late;
        continue;
      }
      Pending p = take_pending(it);
      if (!h.ok) {
        ++malformed;
        finish(p, nullptr,
               std::make_exception_ptr(ProtocolError(
                   "malformed reply to request " + std::to_string(*h.id) + " from " + peers() +
                   ": the header has no boolean \"ok\" (PROTOCOL.md §2)")));
      } else if (*h.ok) {
        finish(p, &parts[2], nullptr);
      } else {
        finish(p, nullptr,
               std::make_exception_ptr(RemoteError(
                   0, h.error ? std::string(*h.error) : std::string("(no error text)"))));
      }
    }
    return true;
  }

  // Holding the token, on the I/O thread.
  void expire_timers() {
    const auto now = detail::Clock::now();
    while (!timers.empty() && timers.top().first <= now) {
      const Timer t = timers.top();
      timers.pop();
      auto it = pending.find(t.second);
      if (it == pending.end()) continue;  // already answered
      Pending p = take_pending(it);
      finish(p, nullptr, std::make_exception_ptr(timeout_error(t.second, p.timeout)));
    }
  }

  // ZMQ_EVENTS, which also takes in ZeroMQ's pending commands (the reason
  // ZMQ_FD was readable). Holding the token. Throws: ClosedError (ETERM).
  int socket_events() {
    int events = 0;
    std::size_t len = sizeof events;
    while (zmq_getsockopt(socket.handle(), ZMQ_EVENTS, &events, &len) != 0) {
      const int err = zmq_errno();
      if (err != EINTR) detail::throw_zmq_error(err, "client reading its socket's state");
    }
    return events;
  }

  // Whether the socket has work for the I/O thread right now. Holding the token.
  bool socket_ready() {
    const int events = socket_events();
    return (events & ZMQ_POLLIN) || (!unsent.empty() && (events & ZMQ_POLLOUT));
  }

  // Sleeps until ZMQ_FD or the eventfd is readable, or `until` (to the
  // microsecond: short sleeps are 200 us). Without the token.
  void sleep_until(detail::Clock::time_point until) {
    timespec ts{};
    const timespec* timeout = nullptr;
    if (until != detail::Clock::time_point::max()) {
      const auto left = std::max(until - detail::Clock::now(), detail::Clock::duration::zero());
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      timeout = &ts;
    }
    pollfd fds[2] = {{socket_fd, POLLIN, 0}, {wake.poll_item().fd, POLLIN, 0}};
    if (::ppoll(fds, 2, timeout, nullptr) < 0) {
      if (errno == EINTR) return;
      throw Error(ErrorCode::protocol,
                  std::string("client waiting for replies: poll: ") + std::strerror(errno));
    }
    if (fds[1].revents) wake.drain();
  }

  // One pass holds the token: pick up what was handed over, expire, send,
  // receive. Outcomes run after the token is let go, and then another pass
  // follows: the I/O thread sleeps only after a pass that found nothing, so
  // callers who send while it completes need not check the socket for it.
  void loop() {
    for (;;) {
      detail::Clock::time_point until = detail::Clock::time_point::max();
      bool more;
      {
        std::lock_guard<std::mutex> tok(token);
        io_sleeping = false;
        if (socket_error) std::rethrow_exception(socket_error);
        bool stop = false;
        take_inbox(stop);
        if (stop) return;
        expire_timers();
        flush_unsent();
        // The receive ends on EAGAIN, which took in ZeroMQ's pending commands:
        // from here a new reply makes ZMQ_FD readable. Only a full send queue
        // needs ZMQ_EVENTS read again (for POLLOUT).
        more = receive_replies();
        if (!more && !unsent.empty()) more = socket_ready();
        if (!more && finished.empty()) {
          if (!timers.empty()) until = timers.top().first;
          // While replies are coming in, sleep briefly, so that callers who
          // send meanwhile need not check the socket; after a short sleep in
          // which nothing happened, sleep until woken.
          io_sleep_short = active_since_sleep && !pending.empty();
          if (io_sleep_short) until = std::min(until, detail::Clock::now() + kShortSleep);
          active_since_sleep = false;
          io_sleeping = true;  // from here a caller who uses the socket checks it for us
          io_wakes_at = until;
        }
      }
      if (!finished.empty()) {
        run_finished();
        continue;
      }
      if (!more) sleep_until(until);
    }
  }

  void thread_main() noexcept {
    std::string reason = "the client was closed";
    try {
      loop();
    } catch (const std::exception& e) {
      reason = e.what();
    } catch (...) {
      reason = "the client's I/O thread failed";
    }
    {
      std::lock_guard<std::mutex> tok(token);
      {
        std::lock_guard<std::mutex> lock(mu);
        closed = true;
        closed_reason = reason;
        ops_taken.swap(endpoint_ops);
      }
      for (auto& op : ops_taken) {
        op->done.set_exception(std::make_exception_ptr(
            ClosedError("cannot " + std::string(op->bind ? "bind " : "connect ") + op->endpoint +
                        ": the client closed first: " + reason)));
      }
      ops_taken.clear();
      take_submissions();
      for (auto& [id, p] : pending) {
        finish(p, nullptr, std::make_exception_ptr(ClosedError(
                               "request " + std::to_string(id) + " to " + peers() +
                               " abandoned: " + reason)));
      }
      pending.clear();
      unsent.clear();
      socket_closed = true;
      socket.close();  // bounded by the linger
    }
    run_finished();
  }

  // The fast path: with the token free, register and send the request from
  // the caller's thread. Returns: false when the token is busy or the client
  // closed (the caller then hands the request over). Any thread but the I/O
  // thread (which may hold the token).
  bool try_send_now(Submission& s) {
    std::unique_lock<std::mutex> tok(token, std::try_to_lock);
    if (!tok.owns_lock() || socket_closed || socket_error) return false;
    // Requests handed over earlier (by this thread too) go first.
    if (inbox_nonempty.load(std::memory_order_relaxed)) take_submissions();
    const auto deadline = s.deadline;
    ++in_flight;
    enqueue(s);
    try {
      flush_unsent();
      // A short sleep ends with a pass that receives what our send may have
      // hidden from ZMQ_FD; a long one needs the ZMQ_EVENTS check.
      if (io_sleeping) active_since_sleep = true;
      if (io_sleeping && (deadline < io_wakes_at || (!io_sleep_short && socket_ready()))) {
        io_sleeping = false;  // one eventfd write per sleep is enough
        wake.notify();
      }
    } catch (...) {
      // The socket failed under us (ETERM: the context was shut down), maybe
      // in the middle of a message. As when the I/O thread meets an error
      // itself, the client closes with it and fails what is in flight,
      // this request included: the I/O thread rethrows it.
      socket_error = std::current_exception();
      io_sleeping = false;
      wake.notify();
    }
    return true;
  }

  void submit(Submission s) {
    if (!on_io_thread() && try_send_now(s)) return;
    {
      std::unique_lock<std::mutex> lock(mu);
      if (!closed) {
        const bool was_empty = inbox.empty();
        inbox.push_back(std::move(s));
        inbox_nonempty.store(true, std::memory_order_relaxed);
        ++in_flight;
        lock.unlock();
        if (was_empty) wake.notify();
        return;
      }
    }
    std::string who;
    {
      std::lock_guard<std::mutex> tok(token);
      who = peers();
    }
    s.done->fail(std::make_exception_ptr(ClosedError("client to " + who +
                                                     " is closed: " + closed_reason)));
  }
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::Client(Client&&) noexcept = default;

Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    Client dying(std::move(*this));
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Client::~Client() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->closing = true;
  }
  impl_->wake.notify();
  if (impl_->on_io_thread()) {
    // Destroyed from its own callback: the thread cannot join itself. It
    // sees `closing` and exits on its own; its state is left to it (leaked).
    impl_->io.detach();
    (void)impl_.release();
    return;
  }
  impl_->io.join();
}

Client& Client::connect(const std::string& endpoint) {
  impl_->endpoint_op(false, endpoint);
  return *this;
}

Client& Client::bind(const std::string& endpoint) {
  impl_->endpoint_op(true, endpoint);
  return *this;
}

std::string Client::last_endpoint() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->last_endpoint;
}

void Client::submit(zmq::message_t body, std::chrono::milliseconds timeout,
                    std::unique_ptr<detail::Completion> completion) {
  if (timeout.count() <= 0) {
    throw ConfigError("request timeout must be > 0 ms (got " + std::to_string(timeout.count()) +
                      " ms)");
  }
  impl_->submit(Submission{std::move(body), detail::deadline_after(timeout), timeout,
                           std::move(completion)});
}

void Client::check_not_io_thread() const {
  if (impl_->on_io_thread()) {
    throw ConfigError(
        "Client::call() from a reply callback would deadlock: the callback runs on the "
        "client's I/O thread, which must deliver that reply; use the callback form instead");
  }
}

std::future<std::string> Client::request_raw(std::string body, std::chrono::milliseconds timeout) {
  auto completion = std::make_unique<StringPromise>();
  std::future<std::string> future = completion->future();
  submit(zmq::message_t(body.data(), body.size()), timeout, std::move(completion));
  return future;
}

void Client::request_raw(std::string body, std::chrono::milliseconds timeout,
                         std::function<void(std::string)> on_reply,
                         std::function<void(std::exception_ptr)> on_error) {
  submit(zmq::message_t(body.data(), body.size()), timeout,
         std::make_unique<StringCallback>(std::move(on_reply), std::move(on_error)));
}

std::size_t Client::in_flight() const noexcept { return impl_->in_flight.load(); }
std::uint64_t Client::late_replies() const noexcept { return impl_->late.load(); }
std::uint64_t Client::malformed_replies() const noexcept { return impl_->malformed.load(); }

}  // namespace courier
