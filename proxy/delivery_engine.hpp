// proxy/delivery_engine.hpp — sending ready messages to consumers.
//
// The engine keeps the set of queues whose consumers may be sent something,
// and each turn serves them, queues taking turns, within a bound per turn:
// for each consumer with credit it picks ready messages in seq order, books
// them as delivered (delivery ids, credit, counters, and the journal writes
// the DELIVER needs committed first), and encodes one DELIVER into the
// outbox (PROTOCOL.md §3.2; the batch form of §3.4 for more than one). The
// outbox leaves only after the turn's commit (Loop::turn).
//
// What is not delivery — removing a message, dead-lettering one, a queue
// waiting for journal room, saving queue records — belongs to the queues'
// owner, the Broker, and is asked of it through DeliveryHost.
// Single-threaded, like all proxy state.
#pragma once

#include "clock.hpp"
#include "delivery_table.hpp"
#include "journal.hpp"
#include "outbox.hpp"
#include "queues.hpp"
#include "sessions.hpp"

#include <msgpack.hpp>
#include <zmq.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace courier::proxy {

// What the engine asks of the queues' owner: the parts of a message's life
// that are not its delivery.
class DeliveryHost {
 public:
  // Removes an expired or exhausted message and moves it to its queue's
  // dead-letter queue, or drops it. Returns false, changing nothing, when the
  // move cannot be journalled now (the engine puts the message back).
  virtual bool dead_letter(Queue& q, const MessageView& m, bool expired) = 0;
  // An auto_ack delivery: the message is gone, with its index entries.
  // `may_have_attempts` false skips erasing an `attempts` entry known absent.
  virtual void remove_delivered(Queue& q, const MessageView& m, bool may_have_attempts) = 0;
  // The queue stopped for want of journal room: it tries again a little later.
  virtual void wait_for_room(Queue& q) = 0;
  // The queue's record changed (its read position): saved by the next commit.
  virtual void mark_dirty(Queue& q) = 0;

 protected:
  ~DeliveryHost() = default;
};

// A message picked for a consumer, already out of the journal.
struct Outgoing {
  uint64_t seq = 0;
  uint64_t ts_ms = 0, due_ms = 0, expire_ms = 0;
  uint32_t attempt = 1;
  bool has_id = false, id_binary = false;
  // The producer id, in place: a heap string per message cost ~1.5 % of
  // the proxy's instructions (PUT keeps ids to kMaxProducerId bytes).
  uint8_t id_size = 0;
  char id[cqp1::kMaxProducerId];
  zmq::message_t body;

  std::string_view id_view() const noexcept { return {id, id_size}; }
};

class DeliveryEngine {
 public:
  // Bounds of one turn's deliveries, like the bounds on reading: one consumer
  // with an endless credit must not hold everyone else's replies back.
  static constexpr uint64_t kMaxDeliveriesPerTurn = 8192;
  static constexpr uint64_t kMaxDeliveryBytesPerTurn = 16ull << 20;

  // Every reference must outlive the engine.
  DeliveryEngine(Journal& journal, Outbox& outbox, QueueTable& queues, DeliveryTable& deliveries,
                 DeliveryHost& host)
      : journal_(journal), outbox_(outbox), queues_(queues), deliveries_(deliveries), host_(host) {}

  // The queue's consumers may be sent something: the next deliver() looks.
  void mark_ready(const Queue& q) { mark_ready(q.rec.id); }
  void mark_ready(uint32_t qid) {
    // Every PUT and ACK marks its queue: most find it marked already.
    if (qid == last_marked_) return;
    ready_queues_.insert(qid);
    last_marked_ = qid;
  }
  // A deleted queue is looked at no more.
  void forget(uint32_t qid) {
    ready_queues_.erase(qid);
    last_marked_ = kNoQueue;
  }
  bool has_ready() const noexcept { return !ready_queues_.empty(); }

  // Sends what ready messages the consumers' credit allows, up to the bounds
  // above (the rest goes out in the next calls, queues taking turns). `clock`
  // is the turn's: it decides what is due, expired, and when acks time out.
  void deliver(const Clock& clock);
  // Ends a delivery's time in flight (ACK, NACK, requeue of any kind): the
  // consumer gets its credit back and the queue may deliver again. Returns the
  // delivery, or nullopt for an unknown id.
  std::optional<UnackedDelivery> release(uint64_t delivery_id);

 private:
  struct DeliveryBudget {
    uint64_t messages, bytes;
    bool spent() const noexcept { return messages == 0 || bytes == 0; }
  };
  // Returns false when the budget ran out before the queue's consumers were
  // served all they may take.
  bool deliver_queue(Queue& q, DeliveryBudget& budget);
  // deliver_queue's phases.
  uint64_t pick_batch(Queue& q, const Subscription& c, uint64_t want, uint64_t max_bytes,
                      std::vector<Outgoing>& batch, bool& blocked);
  void account_batch(Queue& q, Subscription& c, const std::vector<Outgoing>& batch, std::vector<uint64_t>& ids);
  void send_deliver(Queue& q, Subscription& c, std::vector<Outgoing>& batch, const std::vector<uint64_t>& ids);
  // The next ready message in seq order, with how often it was delivered before.
  std::optional<std::pair<MessageView, uint32_t>> take_ready(Queue& q);
  uint32_t prior_deliveries(Queue& q, const MessageView& m);
  // Whether delivering with this attempt writes it to the journal first.
  static bool journals_attempt(const Queue& q, uint32_t attempt, bool auto_ack) {
    return !auto_ack && (attempt >= 2 || q.rec.options.tokens.has_value());
  }

  Journal& journal_;
  Outbox& outbox_;
  QueueTable& queues_;
  DeliveryTable& deliveries_;
  DeliveryHost& host_;
  Clock clock_;  // the turn's, set by deliver()
  std::set<uint32_t> ready_queues_;  // queues whose consumers may be sent something
  // The queue mark_ready last inserted, known to be in ready_queues_ until
  // something takes queues out (deliver, forget): callgrind put the set's
  // insert at ~76 instructions per message, for queues already marked.
  static constexpr uint32_t kNoQueue = UINT32_MAX;
  uint32_t last_marked_ = kNoQueue;
  uint32_t next_ready_from_ = 0;     // deliver() starts here, so queues take turns
  msgpack::sbuffer header_;          // reused for every DELIVER header
  // deliver_queue's batch and its delivery ids, kept to reuse their memory:
  // a vector grown from empty for every batch cost ~85 instructions per
  // message in reallocations (callgrind, 256 per PUT).
  std::vector<Outgoing> batch_;
  std::vector<uint64_t> ids_;
};

}  // namespace courier::proxy
