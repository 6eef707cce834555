// proxy/broker.hpp — the proxy's state and what each command does to it.
//
// The Broker owns the journal, the queues, the sessions and the deliveries in
// flight. It is driven by the Loop, one turn at a time, from one thread:
//   handle(...) for each received message  → changes state, writes to the
//                                            turn's journal transaction,
//                                            queues replies in the outbox;
//   run_timers(), deliver()                 → same.
// The Loop then commits the journal and only after that flushes the outbox.
// Every commit first saves the queue records changed since the last one
// (the journal's before-commit hook), so a commit in the middle of a turn
// (map growth) is as consistent as the one at its end.
// Files: commands.cpp (one function per command), put.cpp (PUT by phase), delivery.cpp (requeue,
// settling, dead-lettering), timers.cpp, broker.cpp. Parts that stand alone have types of their
// own: RequestReader (a received message checked and decoded, or refused), TimerSchedule (when
// each timer is next due, on which clock), DeliveryEngine (picking ready messages and sending
// them, queues taking turns; the Broker is its DeliveryHost), DeliveryTable (unacked deliveries
// and their indexes), SessionTable, QueueTable, Outbox, Journal.
#pragma once

#include "clock.hpp"
#include "config.hpp"
#include "delivery_engine.hpp"
#include "delivery_table.hpp"
#include "journal.hpp"
#include "outbox.hpp"
#include "put_request.hpp"
#include "protocol/cqp1.hpp"
#include "queues.hpp"
#include "request_reader.hpp"
#include "sessions.hpp"
#include "timer_schedule.hpp"

#include <zmq.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace courier::proxy {

struct MetricsSnapshot;  // metrics_snapshot.hpp

// Final: the DeliveryHost functions it calls itself are not virtual calls.
class Broker final : private DeliveryHost {
 public:
  Broker(const ProxyConfig& config, Journal& journal, Outbox& outbox);

  // Starts a turn: the clock readings every command of the turn uses.
  void begin_turn(const Clock& clock);
  // One received message: frames[0] is the routing id. Never throws for bad
  // input: it is answered with ERROR.
  void handle(std::vector<zmq::message_t>& frames);
  // Timers due now: delayed messages, ttl expiry, ack timeouts, silent clients.
  void run_timers();
  // Sends what ready messages the consumers' credit allows, up to a bound
  // per turn (the rest goes out in the next turns, queues taking turns).
  void deliver() { engine_.deliver(clock_); }
  // Peers that ROUTER could not reach: their sessions are closed.
  void drop_sessions(const std::vector<std::string>& peers);

  // Milliseconds until the next timer is due (for the loop's poll), capped.
  uint64_t ms_until_next_timer(const Clock& clock) const;
  // The queue and session figures of a metrics snapshot (--http), as STATS
  // would report them now (broker_snapshot.cpp). Reads only.
  void fill_snapshot(MetricsSnapshot& out);

 private:
  // commands.cpp
  void dispatch(Session& s, cqp1::Command cmd, const cqp1::HeaderView& h,
                std::vector<zmq::message_t>& frames);
  void on_hello(Session& s, const cqp1::HeaderView& h);
  void on_put(Session& s, const cqp1::HeaderView& h, std::vector<zmq::message_t>& frames);
  // put.cpp: on_put's phases after read_put (put_request.hpp).
  // Returns false when the PUT was refused (the ERROR is queued).
  bool admit_put(Session& s, const PutRequest& put, Queue* existing, const std::vector<zmq::message_t>& frames);
  // Fills put.seqs and put.dup.
  void store_put(Queue& q, PutRequest& put, const std::vector<zmq::message_t>& frames);
  void confirm_put(Session& s, const PutRequest& put);
  // The oldest first-PUT time a producer id is still remembered from.
  uint64_t dedup_since() const;
  void on_consume(Session& s, const cqp1::HeaderView& h);
  void on_ack(Session& s, const cqp1::HeaderView& h);
  void on_nack(Session& s, const cqp1::HeaderView& h);
  void on_touch(Session& s, const cqp1::HeaderView& h);
  void on_credit(Session& s, const cqp1::HeaderView& h);
  void on_cancel(Session& s, const cqp1::HeaderView& h);
  void on_declare(Session& s, const cqp1::HeaderView& h);
  void on_stats(Session& s, const cqp1::HeaderView& h);
  void on_purge(Session& s, const cqp1::HeaderView& h);
  void on_delete(Session& s, const cqp1::HeaderView& h);
  // DECLARE `tokens` (§3.6): the room the tokens need, then storing them.
  uint64_t token_cost(uint64_t tokens);
  void store_tokens(Queue& q, uint64_t tokens);
  void reply_pong(Session& s);
  // The queue `dead_letter` would form a cycle through: nullopt when none.
  std::optional<std::string> dead_letter_cycle(std::string_view queue, std::string_view dead_letter);
  void reply_error(const std::string& peer, int code, std::string_view reason,
                   std::optional<uint64_t> tag = std::nullopt);
  void refuse(const std::string& peer, const Refusal& r) { reply_error(peer, r.code, r.reason, r.tag); }
  void reply_simple(Session& s, std::string_view command, std::string_view q);
  // Runs `f(delivery_id, delivery)` for each id of "d" owned by `s`; answers
  // one ERROR 404 listing the unknown ones.
  template <class F>
  void for_each_delivery(Session& s, const cqp1::HeaderView& h, std::string_view command, F&& f);

  // delivery.cpp
  void requeue(uint64_t delivery_id, bool count_attempt_limit);
  void settle(uint64_t delivery_id);  // ACK: message done
  // `may_have_attempts` false skips erasing an `attempts` entry known absent.
  void remove_message(Queue& q, const MessageView& m, bool may_have_attempts = true,
                      bool erase_at_commit = false);
  // Removes the message and moves it to the dead-letter queue, or drops it.
  // Returns false, changing nothing, when the move cannot be journalled now
  // (no room: the caller leaves the message where it is and tries later).
  bool dead_letter(Queue& q, const MessageView& m, bool expired) override;
  // An auto_ack delivery's message, removed in the commit before its DELIVER.
  void remove_delivered(Queue& q, const MessageView& m, bool may_have_attempts) override {
    remove_message(q, m, may_have_attempts);
  }
  // A queue that had to wait for journal room tries again a little later.
  void wait_for_room(Queue& q) override { waiting_for_room_.insert(q.rec.id); }
  void cancel_consumer(Subscription& c);
  void close_session(const std::string& peer);
  void mark_ready(Queue& q) { engine_.mark_ready(q); }
  // Its record is saved by the next commit.
  void mark_dirty(Queue& q) override {
    if (!q.record_dirty) dirty_.push_back(q.rec.id);
    q.record_dirty = true;
  }
  // The journal's before-commit hook: writes the changed queue records.
  void save_dirty_queues();

  // timers.cpp
  void release_due_delayed();
  void expire_ttl();
  void expire_ack_timeouts();
  void expire_silent_sessions();

  Session& session_for(const std::string& peer);
  // The queue of that name, created (and its record saved) when missing.
  Queue& open_queue(std::string_view name);
  uint64_t store(Queue& q, const MessageMeta& meta, std::string_view body);

  const ProxyConfig& config_;
  const std::string boot_;  // differs between any two starts (§3.7)
  Journal& journal_;
  Outbox& outbox_;
  Clock clock_;
  uint64_t started_steady_ms_ = 0;

  QueueTable queues_;
  SessionTable sessions_;
  DeliveryTable deliveries_;  // unacked deliveries, by id and by ack deadline
  DeliveryEngine engine_;     // which queues are ready, and sending to their consumers
  std::vector<uint32_t> dirty_;      // queues whose record changed since the last commit
  std::set<uint32_t> waiting_for_room_;  // queues held back by a full journal
  TimerSchedule timers_;  // when each timer is next due (timers.cpp)
  uint64_t deaf_until_ms_ = 0;  // end of the last turn too long to hear anyone in

  msgpack::sbuffer header_;  // reused for every reply header
  std::unordered_map<std::string_view, std::size_t> batch_ids_;  // ids seen in one batch PUT
  PutRequest put_;           // refilled by every PUT (put_request.hpp)
  RequestReader reader_;     // its msgpack zone is reused for every request header
};

}  // namespace courier::proxy
