#include "broker.hpp"

#include <spdlog/spdlog.h>

#include <random>

namespace courier::proxy {

namespace {
// 16 random hex digits: a client that sees it change knows the proxy
// restarted (§3.7). Two starts colliding is a 1 in 2^64 chance.
std::string new_boot_id() {
  std::random_device rd;
  const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  static const char* hex = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 0; i < 16; ++i) out[i] = hex[(v >> (60 - 4 * i)) & 15];
  return out;
}
}  // namespace

// Recovery is only this: load the queue records. Every message still in the
// journal is ready again (in-flight state is memory only), delivery counts
// come back from the `attempts` table as messages are redelivered.
Broker::Broker(const ProxyConfig& config, Journal& journal, Outbox& outbox)
    : config_(config),
      boot_(new_boot_id()),
      journal_(journal),
      outbox_(outbox),
      engine_(journal, outbox, queues_, deliveries_, *this) {
  journal_.set_before_commit([this] { save_dirty_queues(); });
  queues_.load(journal_.load_queues());
  queues_.for_each([&](Queue& q) {
    if (!q.rec.repaired) return;
    spdlog::warn("queue {}: its record lagged behind stored messages; next seq raised to {}",
                 q.rec.name, q.rec.next_seq);
    q.rec.repaired = false;
    mark_dirty(q);
  });
  journal_.commit();
  clock_ = Clock::now();
  started_steady_ms_ = clock_.steady_ms;
  uint64_t stored = 0;
  queues_.for_each([&](Queue& q) {
    stored += q.rec.stored;
    mark_ready(q);
  });
  spdlog::info("journal {}: {} queue(s), {} message(s) stored", config_.data_dir, queues_.size(), stored);
}

void Broker::begin_turn(const Clock& clock) {
  // A turn longer than a heartbeat (a slow disk, a big batch) kept the proxy
  // from hearing anyone: that time does not count as the clients' silence.
  if (clock.steady_ms > clock_.steady_ms + config_.heartbeat_ms) deaf_until_ms_ = clock.steady_ms;
  clock_ = clock;
}

Queue& Broker::open_queue(std::string_view name) {
  if (Queue* q = queues_.find(name)) return *q;
  Queue& q = queues_.create(name);
  mark_dirty(q);
  return q;
}

Session& Broker::session_for(const std::string& peer) { return sessions_.heard_from(peer, clock_.steady_ms); }

// Every message counts as hearing from its sender, refused or not; what a
// command refuses while acting on it is answered like a refusal of the
// reader's (request_reader.hpp shapes every ERROR 400).
void Broker::handle(std::vector<zmq::message_t>& frames) {
  const ReadMessage in = reader_.read(frames);
  Session& s = session_for(in.peer);
  if (const auto* refusal = std::get_if<Refusal>(&in.outcome)) return refuse(in.peer, *refusal);
  const ClientRequest& request = std::get<ClientRequest>(in.outcome);
  try {
    dispatch(s, request.command, request.header, frames);
  } catch (const cqp1::BadRequest& e) {
    refuse(in.peer, request.refused(e));
  } catch (const msgpack::type_error& e) {
    refuse(in.peer, request.refused(e));
  }
}

// Only the queues changed since the last commit: a proxy with many idle
// queues pays nothing for them.
void Broker::save_dirty_queues() {
  for (uint32_t id : dirty_) {
    Queue* q = queues_.find(id);
    if (q == nullptr || !q->record_dirty) continue;  // deleted since
    q->rec.delivered_below = std::max(q->rec.delivered_below, q->scan_pos);
    journal_.save_queue(q->rec);
    q->record_dirty = false;
  }
  dirty_.clear();
}

void Broker::drop_sessions(const std::vector<std::string>& peers) {
  for (const auto& p : peers) {
    spdlog::debug("peer unreachable; closing its session");
    close_session(p);
  }
}

uint64_t Broker::ms_until_next_timer(const Clock& clock) const {
  if (engine_.has_ready()) return 0;  // messages to send: no sleeping
  return timers_.ms_until_next(clock, std::max<uint64_t>(1, config_.heartbeat_ms / 2),
                               deliveries_.next_deadline(), !waiting_for_room_.empty());
}

}  // namespace courier::proxy
