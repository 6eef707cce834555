// The proxy's DeliveryEngine (proxy/delivery_engine.hpp), without a Broker:
// a real journal in a temp dir, and what the engine sends read back from a
// ROUTER socket over inproc:// by a DEALER, frame by frame (PROTOCOL.md
// §3.2 and the batch form of §3.4).
#include "delivery_engine.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <zmq.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace courier::proxy {
namespace {

constexpr uint64_t kWallMs = 1'700'000'000'000;
constexpr uint64_t kSteadyMs = 5'000;
const std::string kPeer = "consumer-1";

// Records what the engine asked of the queues' owner; says yes to every
// dead-letter move unless told there is no room.
struct RecordingHost : DeliveryHost {
  std::vector<std::pair<uint64_t, bool>> dead_lettered;  // seq, expired
  std::vector<std::pair<uint64_t, bool>> removed;        // seq, may_have_attempts
  std::vector<uint32_t> waiting_for_room;
  bool room_for_moves = true;

  bool dead_letter(Queue&, const MessageView& m, bool expired) override {
    if (!room_for_moves) return false;
    dead_lettered.emplace_back(m.seq, expired);
    return true;
  }
  void remove_delivered(Queue&, const MessageView& m, bool may_have_attempts) override {
    removed.emplace_back(m.seq, may_have_attempts);
  }
  void wait_for_room(Queue& q) override { waiting_for_room.push_back(q.rec.id); }
  void mark_dirty(Queue& q) override { q.record_dirty = true; }
};

// One DELIVER as the consumer received it.
struct Received {
  std::string header;  // the msgpack bytes
  std::vector<std::string> bodies;
};

// The DELIVER headers PROTOCOL.md describes, packed by hand key by key.
std::string single_form(std::string_view q, uint64_t d, uint64_t seq, std::optional<std::string> id,
                        uint32_t attempt, uint64_t ts) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  p.pack_map(id ? 6 : 5);
  p.pack(std::string("q")), p.pack(std::string(q));
  p.pack(std::string("d")), p.pack(d);
  p.pack(std::string("seq")), p.pack(seq);
  if (id) p.pack(std::string("id")), p.pack(*id);
  p.pack(std::string("attempt")), p.pack(attempt);
  p.pack(std::string("ts")), p.pack(ts);
  return std::string(buf.data(), buf.size());
}

std::string batch_form(std::string_view q, const std::vector<uint64_t>& d, const std::vector<uint64_t>& seq,
                       const std::vector<uint32_t>& attempt, const std::vector<uint64_t>& ts) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> p(buf);
  p.pack_map(7);
  p.pack(std::string("q")), p.pack(std::string(q));
  p.pack(std::string("n")), p.pack(static_cast<uint32_t>(d.size()));
  p.pack(std::string("d")), p.pack(d);
  p.pack(std::string("seq")), p.pack(seq);
  p.pack(std::string("attempt")), p.pack(attempt);
  p.pack(std::string("ts")), p.pack(ts);
  p.pack(std::string("id")), p.pack_array(static_cast<uint32_t>(d.size()));
  for (std::size_t i = 0; i < d.size(); ++i) p.pack_nil();
  return std::string(buf.data(), buf.size());
}

// The queue named in a received header.
std::string queue_of(const Received& r) {
  const msgpack::object_handle h = msgpack::unpack(r.header.data(), r.header.size());
  return h.get().as<std::map<std::string, msgpack::object>>().at("q").as<std::string>();
}

class DeliveryEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    journal_ = std::make_unique<Journal>(JournalConfig{dir_.path() + "/data", 256ull << 20, false});
    engine_ = std::make_unique<DeliveryEngine>(*journal_, outbox_, queues_, deliveries_, host_);
    clock_.wall_ms = kWallMs;
    clock_.steady_ms = kSteadyMs;

    // As the proxy's ROUTER: unknown peers fail rather than vanish.
    router_.set(zmq::sockopt::router_mandatory, 1);
    const std::string endpoint = "inproc://delivery-engine-" + std::to_string(++endpoints_);
    router_.bind(endpoint);
    dealer_.set(zmq::sockopt::routing_id, kPeer);
    dealer_.connect(endpoint);
    // The ROUTER knows the peer once it has heard from it.
    dealer_.send(zmq::str_buffer("hello"), zmq::send_flags::none);
    ASSERT_EQ(test::recv_all(router_).size(), 2u);
    session_.peer = kPeer;
  }
  void TearDown() override {
    engine_.reset();
    journal_.reset();
  }

  Queue& queue(std::string_view name, QueueOptions options = {}) {
    Queue& q = queues_.create(name);
    q.rec.options = std::move(options);
    return q;
  }
  // Stores a message the way a PUT would; its enqueue time is kWallMs + seq.
  uint64_t store(Queue& q, std::string_view body, MessageMeta meta = {}) {
    const uint64_t seq = q.rec.next_seq++;
    if (meta.ts_ms == 0) meta.ts_ms = kWallMs + seq;
    journal_->put_message(q.rec.id, seq, meta, body);
    ++q.rec.stored;
    return seq;
  }
  Subscription& consume(Queue& q, uint64_t credit, uint32_t batch = 1, bool auto_ack = false) {
    auto& slot = session_.consumers[q.rec.id];
    slot = std::make_unique<Subscription>();
    slot->session = &session_;
    slot->queue = &q;
    slot->credit = credit;
    slot->window = credit;
    slot->batch = batch;
    slot->auto_ack = auto_ack;
    q.consumers.push_back(slot.get());
    return *slot;
  }
  // One turn's deliveries, as the consumer receives them after the commit.
  std::vector<Received> deliver_turn() {
    engine_->deliver(clock_);
    journal_->commit();
    std::vector<std::string> unreachable;
    EXPECT_EQ(outbox_.flush(router_, unreachable), 0u);
    // A marker after the turn's messages: the pipe is in order, so
    // everything before it is everything the turn sent.
    router_.send(zmq::buffer(kPeer), zmq::send_flags::sndmore);
    router_.send(zmq::str_buffer("END"), zmq::send_flags::none);
    std::vector<Received> out;
    for (;;) {
      const std::vector<zmq::message_t> frames = test::recv_all(dealer_);
      if (frames.size() == 1 && frames[0].to_string() == "END") return out;
      EXPECT_GE(frames.size(), 4u);
      if (frames.size() < 4) return out;
      EXPECT_EQ(frames[0].to_string(), "CQP1");
      EXPECT_EQ(frames[1].to_string(), "DELIVER");
      Received r;
      r.header = frames[2].to_string();
      for (std::size_t i = 3; i < frames.size(); ++i) r.bodies.push_back(frames[i].to_string());
      out.push_back(std::move(r));
    }
  }

  test::TempDir dir_;  // declared first: removed after the journal closes
  std::unique_ptr<Journal> journal_;
  Outbox outbox_;
  QueueTable queues_;
  DeliveryTable deliveries_;
  RecordingHost host_;
  std::unique_ptr<DeliveryEngine> engine_;
  Clock clock_;
  Session session_;
  zmq::context_t ctx_;
  zmq::socket_t router_{ctx_, zmq::socket_type::router};
  zmq::socket_t dealer_{ctx_, zmq::socket_type::dealer};
  static inline int endpoints_ = 0;
};

TEST_F(DeliveryEngineTest, CreditThreeGetsOneBatchDeliverOfThreeInSeqOrder) {
  Queue& q = queue("jobs");
  for (const char* body : {"a", "b", "c", "d", "e"}) store(q, body);
  Subscription& c = consume(q, 3, /*batch=*/10);
  engine_->mark_ready(q);

  const std::vector<Received> got = deliver_turn();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header,
            batch_form("jobs", {1, 2, 3}, {1, 2, 3}, {1, 1, 1}, {kWallMs + 1, kWallMs + 2, kWallMs + 3}));
  EXPECT_EQ(got[0].bodies, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(c.credit, 0u);
  EXPECT_EQ(c.unacked_ids(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(q.inflight, (std::unordered_set<uint64_t>{1, 2, 3}));
  EXPECT_EQ(q.counters.delivered, 3u);
  EXPECT_TRUE(q.record_dirty) << "the read position moved: the queue record must be saved";

  EXPECT_TRUE(deliver_turn().empty()) << "no credit left: nothing more may go out";
}

TEST_F(DeliveryEngineTest, CreditOneGetsTheSingleFormWithTheProducerId) {
  Queue& q = queue("jobs");
  MessageMeta meta;
  meta.id = cqp1::ProducerId{"order-7", false};
  store(q, "payload", meta);
  store(q, "next");
  consume(q, 1, /*batch=*/10);
  engine_->mark_ready(q);

  const std::vector<Received> got = deliver_turn();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header, single_form("jobs", 1, 1, "order-7", 1, kWallMs + 1));
  EXPECT_EQ(got[0].bodies, (std::vector<std::string>{"payload"}));
}

TEST_F(DeliveryEngineTest, ConsumersOfAQueueTakeTurnsOneDeliverEach) {
  Queue& q = queue("jobs");
  for (int i = 0; i < 6; ++i) store(q, "m" + std::to_string(i + 1));
  Session other;
  other.peer = "consumer-2";  // unknown to the ROUTER: its DELIVERs are not read here
  Subscription& a = consume(q, 10, /*batch=*/2);
  auto b = std::make_unique<Subscription>();
  b->session = &other;
  b->queue = &q;
  b->credit = b->window = 10;
  b->batch = 2;
  q.consumers.push_back(b.get());
  engine_->mark_ready(q);

  engine_->deliver(clock_);
  EXPECT_EQ(a.unacked_ids(), (std::vector<uint64_t>{1, 2, 5, 6}));
  EXPECT_EQ(b->unacked_ids(), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(deliveries_.find(3)->seq, 3u);
  EXPECT_EQ(deliveries_.find(3)->consumer, b.get());
}

// A consumer without credit is passed over, not counted against the one that
// has credit: a turn goes on serving the latter until it is full or the queue
// is empty. (Nothing marks the queue ready again by itself, so a turn that
// stopped early would leave messages waiting beside a consumer with credit.)
TEST_F(DeliveryEngineTest, AConsumerWithoutCreditDoesNotStopTheOneWithCredit) {
  Queue& q = queue("jobs");
  for (int i = 0; i < 6; ++i) store(q, "m" + std::to_string(i + 1));
  Session other;
  other.peer = "consumer-2";
  auto idle = std::make_unique<Subscription>();
  idle->session = &other;
  idle->queue = &q;
  idle->credit = 0;
  idle->window = idle->batch = 2;
  q.consumers.push_back(idle.get());
  Subscription& busy = consume(q, 10, /*batch=*/2);
  engine_->mark_ready(q);

  const std::vector<Received> got = deliver_turn();
  EXPECT_EQ(got.size(), 3u) << "three DELIVERs of two in the one turn";
  EXPECT_EQ(busy.unacked_ids(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(idle->unacked_ids().empty());
}

TEST_F(DeliveryEngineTest, TheTurnsBudgetStopsATurnAndQueuesTakeTurnsAcrossTurns) {
  constexpr uint64_t kBudget = DeliveryEngine::kMaxDeliveriesPerTurn;
  Queue& first = queue("first");
  Queue& second = queue("second");
  for (uint64_t i = 0; i < kBudget + 10; ++i) {
    store(first, "f");
    store(second, "s");
  }
  journal_->commit();
  consume(first, UINT64_MAX, /*batch=*/256);
  consume(second, UINT64_MAX, /*batch=*/256);
  engine_->mark_ready(first);
  engine_->mark_ready(second);

  // Messages each queue got in a turn, in the order they went out.
  auto turn = [&] {
    std::vector<std::pair<std::string, std::size_t>> sent;
    for (const Received& r : deliver_turn()) {
      const std::string name = queue_of(r);
      if (sent.empty() || sent.back().first != name) sent.emplace_back(name, 0);
      sent.back().second += r.bodies.size();
    }
    return sent;
  };
  using Sent = std::vector<std::pair<std::string, std::size_t>>;
  EXPECT_EQ(turn(), (Sent{{"first", kBudget}}));
  EXPECT_TRUE(engine_->has_ready()) << "what the budget held back goes out next turn";
  EXPECT_EQ(turn(), (Sent{{"second", kBudget}})) << "the queue left waiting goes first";
  EXPECT_EQ(turn(), (Sent{{"first", 10}, {"second", 10}}));
  EXPECT_FALSE(engine_->has_ready());
}

TEST_F(DeliveryEngineTest, AMessagePastMaxAttemptsIsDeadLetteredInsteadOfDelivered) {
  QueueOptions options;
  options.max_attempts = 3;
  Queue& q = queue("jobs", options);
  const uint64_t poison = store(q, "poison");
  const uint64_t fine = store(q, "fine");
  q.scan_pos = fine;                  // poison was read and delivered before...
  q.returned.emplace(poison, 3);      // ...three times, and came back
  consume(q, 5, /*batch=*/10);
  engine_->mark_ready(q);

  const std::vector<Received> got = deliver_turn();
  EXPECT_EQ(host_.dead_lettered, (std::vector<std::pair<uint64_t, bool>>{{poison, false}}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header, single_form("jobs", 1, fine, std::nullopt, 1, kWallMs + fine));
}

TEST_F(DeliveryEngineTest, AnExpiredMessageIsDeadLetteredAsExpired) {
  Queue& q = queue("jobs");
  MessageMeta stale;
  stale.expire_ms = kWallMs;  // expires at the turn's wall clock
  const uint64_t seq = store(q, "late", stale);
  consume(q, 5);
  engine_->mark_ready(q);

  EXPECT_TRUE(deliver_turn().empty());
  EXPECT_EQ(host_.dead_lettered, (std::vector<std::pair<uint64_t, bool>>{{seq, true}}));
}

TEST_F(DeliveryEngineTest, NoRoomForADeadLetterMoveKeepsTheMessageInItsPlace) {
  QueueOptions options;
  options.max_attempts = 1;
  Queue& q = queue("jobs", options);
  const uint64_t seq = store(q, "poison");
  q.scan_pos = seq + 1;
  q.returned.emplace(seq, 1);
  consume(q, 5);
  host_.room_for_moves = false;
  engine_->mark_ready(q);

  EXPECT_TRUE(deliver_turn().empty());
  EXPECT_EQ(q.returned, (std::map<uint64_t, uint32_t>{{seq, 1}})) << "back in its place, tried later";
  EXPECT_EQ(host_.waiting_for_room, (std::vector<uint32_t>{q.rec.id}));
}

TEST_F(DeliveryEngineTest, AutoAckAsksTheHostToRemoveEachMessageAndKeepsNoneInFlight) {
  Queue& q = queue("jobs");
  store(q, "a");
  store(q, "b");
  Subscription& c = consume(q, 2, /*batch=*/2, /*auto_ack=*/true);
  engine_->mark_ready(q);

  const std::vector<Received> got = deliver_turn();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header, batch_form("jobs", {1, 2}, {1, 2}, {1, 1}, {kWallMs + 1, kWallMs + 2}));
  // First deliveries never wrote an `attempts` entry: none to erase.
  EXPECT_EQ(host_.removed, (std::vector<std::pair<uint64_t, bool>>{{1, false}, {2, false}}));
  EXPECT_EQ(deliveries_.size(), 0u);
  EXPECT_TRUE(q.inflight.empty());
  EXPECT_TRUE(c.unacked_ids().empty());
  EXPECT_EQ(c.credit, 0u);
}

TEST_F(DeliveryEngineTest, RedeliveriesComeFirstWithTheirAttemptCountedAndJournalled) {
  Queue& q = queue("jobs");
  const uint64_t out = store(q, "still out");
  const uint64_t back = store(q, "requeued");
  const uint64_t fresh = store(q, "fresh");
  q.scan_pos = fresh;
  q.inflight.insert(out);
  q.returned.emplace(back, 1);  // delivered once, then NACKed
  consume(q, 5, /*batch=*/10);
  engine_->mark_ready(q);

  const std::vector<Received> got = deliver_turn();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header, batch_form("jobs", {1, 2}, {back, fresh}, {2, 1}, {kWallMs + back, kWallMs + fresh}));
  EXPECT_EQ(got[0].bodies, (std::vector<std::string>{"requeued", "fresh"}));
  EXPECT_EQ(q.counters.redelivered, 1u);
  // A redelivery's count is committed before it leaves; a first one's is not.
  EXPECT_EQ(journal_->attempts(q.rec.id, back), 2u);
  EXPECT_EQ(journal_->attempts(q.rec.id, fresh), std::nullopt);
}

TEST_F(DeliveryEngineTest, ADelayedMessageNotYetDueIsSkippedAndMarkedNeverDelivered) {
  Queue& q = queue("jobs");
  MessageMeta later;
  later.due_ms = kWallMs + 60'000;
  const uint64_t delayed = store(q, "later", later);
  ++q.rec.delayed;
  const uint64_t ready = store(q, "now");
  consume(q, 5);
  engine_->mark_ready(q);

  const std::vector<Received> got = deliver_turn();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].bodies, (std::vector<std::string>{"now"}));
  EXPECT_EQ(got[0].header, single_form("jobs", 1, ready, std::nullopt, 1, kWallMs + ready));
  EXPECT_EQ(journal_->attempts(q.rec.id, delayed), 0u) << "a restart must not count it as delivered";
}

TEST_F(DeliveryEngineTest, AckTimeoutStartsAtTheTurnsSteadyClock) {
  QueueOptions options;
  options.ack_timeout = 30'000;
  Queue& q = queue("jobs", options);
  store(q, "a");
  consume(q, 1);
  engine_->mark_ready(q);

  engine_->deliver(clock_);
  EXPECT_EQ(deliveries_.next_deadline(), kSteadyMs + 30'000);
}

TEST_F(DeliveryEngineTest, ReleaseGivesTheCreditBackAndTheNextTurnDeliversAgain) {
  Queue& q = queue("jobs");
  store(q, "a");
  store(q, "b");
  Subscription& c = consume(q, 1);
  engine_->mark_ready(q);
  ASSERT_EQ(deliver_turn().size(), 1u);
  EXPECT_FALSE(engine_->has_ready()) << "served all it may take: not looked at again";

  const std::optional<UnackedDelivery> released = engine_->release(1);
  ASSERT_TRUE(released);
  EXPECT_EQ(released->seq, 1u);
  EXPECT_EQ(c.credit, 1u);
  EXPECT_TRUE(engine_->has_ready());
  EXPECT_FALSE(engine_->release(1)) << "an unknown id releases nothing";

  const std::vector<Received> got = deliver_turn();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header, single_form("jobs", 2, 2, std::nullopt, 1, kWallMs + 2));
}

}  // namespace
}  // namespace courier::proxy
