#include "broker.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>

namespace courier::proxy {

Clock Clock::now() {
  using namespace std::chrono;
  Clock c;
  c.wall_ms = static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  c.steady_ms = static_cast<uint64_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
  return c;
}

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
    : config_(config), boot_(new_boot_id()), journal_(journal), outbox_(outbox) {
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

// Peer-supplied bytes echoed in an ERROR reason must stay valid UTF-8 (the
// reason is a msgpack str): anything but printable ASCII becomes \xNN.
std::string printable(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : bytes) {
    if (ch >= 0x20 && ch < 0x7f) {
      out.push_back(static_cast<char>(ch));
    } else {
      out += "\\x";
      out.push_back(hex[ch >> 4]);
      out.push_back(hex[ch & 15]);
    }
  }
  return out;
}

Queue& Broker::open_queue(std::string_view name) {
  if (Queue* q = queues_.find(name)) return *q;
  Queue& q = queues_.create(name);
  mark_dirty(q);
  return q;
}

Session& Broker::session_for(const std::string& peer) { return sessions_.heard_from(peer, clock_.steady_ms); }

void Broker::handle(std::vector<zmq::message_t>& frames) {
  const std::string peer(static_cast<const char*>(frames[0].data()), frames[0].size());
  if (frames.size() < 4) {
    reply_error(peer, cqp1::kBadRequest,
                "expected frames [CQP1][COMMAND][header map][body...], got " +
                    std::to_string(frames.size() - 1) + " frame(s)");
    session_for(peer);
    return;
  }
  Session& s = session_for(peer);
  if (frames[1].to_string_view() != cqp1::kMagic) {
    reply_error(peer, cqp1::kBadRequest, "first frame must be the 4 bytes CQP1");
    return;
  }
  const std::string_view name = frames[2].to_string_view();
  const cqp1::Command cmd = cqp1::parse_command(name);
  if (cmd >= cqp1::Command::WELCOME) {
    reply_error(peer, cqp1::kBadRequest,
                "unknown command '" + printable(name.substr(0, 32)) +
                    "' (HELLO PUT CONSUME ACK NACK TOUCH CREDIT CANCEL DECLARE STATS PURGE DELETE PING BYE)");
    return;
  }
  zone_.clear();
  std::optional<uint64_t> tag;
  try {
    const cqp1::HeaderView h = cqp1::HeaderView::parse(frames[3].data(), frames[3].size(), zone_);
    if (cmd == cqp1::Command::PUT) {
      const msgpack::object* t = h.find(cqp1::key::tag);
      if (t && t->type == msgpack::type::POSITIVE_INTEGER) {
        tag = t->via.u64;
      }
    } else if (frames.size() != 4) {
      throw cqp1::BadRequest("takes no body frame, got " + std::to_string(frames.size() - 4));
    }
    dispatch(s, cmd, h, frames);
  } catch (const cqp1::BadRequest& e) {
    reply_error(peer, cqp1::kBadRequest, std::string(name) + ": " + e.what(), tag);
  } catch (const msgpack::type_error& e) {
    reply_error(peer, cqp1::kBadRequest, std::string(name) + ": a header value has the wrong type", tag);
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
  uint64_t wait = std::max<uint64_t>(1, config_.heartbeat_ms / 2);
  auto consider = [&](uint64_t at, uint64_t now) {
    if (at == 0) {
      wait = 0;
    } else if (at != UINT64_MAX) {
      wait = std::min(wait, at > now ? at - now : 0);
    }
  };
  consider(next_delayed_ms_, clock.wall_ms);
  consider(next_expiry_ms_, clock.wall_ms);
  consider(next_session_check_ms_ == 0 ? 1 : next_session_check_ms_, clock.steady_ms);
  if (auto at = deliveries_.next_deadline()) consider(std::max<uint64_t>(1, *at), clock.steady_ms);
  if (!waiting_for_room_.empty()) consider(std::max<uint64_t>(1, next_room_retry_ms_), clock.steady_ms);
  if (!ready_queues_.empty()) wait = 0;
  return wait;
}

}  // namespace courier::proxy
