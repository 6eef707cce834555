// fuzz/broker_fuzz.cpp — structure-aware fuzzing of courier-proxy's command
// handling: each input is a sequence of CQP1 commands from three clients
// (and the passing of time) played into one Broker over a fresh journal,
// with the invariants of broker_harness.hpp checked after every step.
//
// The input's bytes choose, step by step, a client, a command, its queue and
// its header values (FuzzedDataProvider); values are mostly valid, so the
// run goes deep into the state machine rather than stopping at 400s (raw
// header bytes are cqp1_header_fuzz's job). Queue names come from a small
// set so that commands meet: a, b, c and dl (a dead-letter target).
#include "broker_harness.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <unistd.h>

namespace {

using courier::fuzz::BrokerHarness;
using courier::fuzz::HeaderMap;
using Expect = BrokerHarness::Expect;

constexpr int kMaxSteps = 48;
const char* const kQueues[] = {"a", "b", "c", "dl"};

std::string journal_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp ? tmp : "/tmp") + "/courier-broker-fuzz-" + std::to_string(::getpid());
  }();
  return dir;
}

// A small uint, now and then one of the edges (0, 2^64-1).
uint64_t small_or_edge(FuzzedDataProvider& in, uint64_t max) {
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: return 0;
    case 1: return UINT64_MAX;
    default: return in.ConsumeIntegralInRange<uint64_t>(1, max);
  }
}

// Ids for ACK/NACK/TOUCH: mostly ones this client holds, some another
// client's, some never given out or already settled.
std::vector<uint64_t> pick_ids(FuzzedDataProvider& in, const BrokerHarness& h, int client) {
  const auto mine = h.model().held_by(client);
  const auto others = h.model().held_by_others(client);
  std::vector<uint64_t> ids;
  const int n = in.ConsumeIntegralInRange<int>(1, 4);
  for (int i = 0; i < n; ++i) {
    const int from = in.ConsumeIntegralInRange<int>(0, 5);
    if (from <= 3 && !mine.empty()) {
      ids.push_back(mine[in.ConsumeIntegralInRange<std::size_t>(0, mine.size() - 1)]);
    } else if (from == 4 && !others.empty()) {
      ids.push_back(others[in.ConsumeIntegralInRange<std::size_t>(0, others.size() - 1)]);
    } else {
      ids.push_back(in.ConsumeIntegralInRange<uint64_t>(1, h.model().last_id() + 2));
    }
  }
  return ids;
}

std::string producer_id(FuzzedDataProvider& in) { return "p" + std::to_string(in.ConsumeIntegralInRange<int>(0, 5)); }

// PUT, single or batch (§3.4), with optional producer ids, delay and ttl.
void put(FuzzedDataProvider& in, BrokerHarness& h, int client, const std::string& q, uint64_t& tag) {
  Expect e;
  e.kind = Expect::put;
  e.q = q;
  e.tag = ++tag;
  HeaderMap m;
  m.set("q", q).set("tag", e.tag);
  const bool batch = in.ConsumeBool();
  const int n = batch ? in.ConsumeIntegralInRange<int>(1, 5) : 1;
  if (batch) {
    m.set("n", n);
    if (in.ConsumeBool()) {
      std::vector<std::optional<std::string>> ids(n);  // nullopt packs as nil
      for (auto& id : ids) {
        if (in.ConsumeBool()) id = producer_id(in);
      }
      m.set("ids", ids);
    }
  } else if (in.ConsumeBool()) {
    if (in.ConsumeBool()) {
      m.set("id", producer_id(in));
    } else {
      m.set_bin("id", producer_id(in));
    }
  }
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) m.set("delay", small_or_edge(in, 120000));
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) m.set("ttl", small_or_edge(in, 120000));
  // Up to 20 bytes against a --max-message of 16: one body in five is too large.
  for (int i = 0; i < n; ++i) e.bodies.push_back(in.ConsumeBytesAsString(in.ConsumeIntegralInRange<std::size_t>(0, 20)));
  h.command(client, "PUT", m.bytes(), e);
}

void consume(FuzzedDataProvider& in, BrokerHarness& h, int client, const std::string& q) {
  Expect e;
  e.kind = Expect::consume;
  e.q = q;
  e.credit = in.ConsumeIntegralInRange<uint64_t>(0, 6);  // 0 is refused (400)
  HeaderMap m;
  m.set("q", q).set("credit", e.credit);
  if (in.ConsumeBool()) {
    e.auto_ack = in.ConsumeBool();
    m.set("auto_ack", e.auto_ack);
  }
  e.batch = 1;
  if (in.ConsumeBool()) {
    e.batch = in.ConsumeIntegralInRange<uint64_t>(0, 4);
    m.set("batch", e.batch);
  }
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    e.limit = in.ConsumeIntegralInRange<uint64_t>(1, 4);
    m.set("limit", *e.limit);
  }
  h.command(client, "CONSUME", m.bytes(), e);
}

// DECLARE with some options; never ack_timeout (broker_model.hpp says why).
void declare(FuzzedDataProvider& in, BrokerHarness& h, int client, const std::string& q) {
  HeaderMap m;
  m.set("q", q);
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) m.set("max_length", in.ConsumeIntegralInRange<uint64_t>(0, 8));
  if (in.ConsumeIntegralInRange<int>(0, 2) == 0) m.set("dead_letter", std::string(kQueues[in.ConsumeIntegralInRange<int>(0, 3)]));
  if (in.ConsumeIntegralInRange<int>(0, 2) == 0) m.set("max_attempts", in.ConsumeIntegralInRange<uint64_t>(0, 3));
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) m.set("ttl", small_or_edge(in, 60000));
  if (in.ConsumeIntegralInRange<int>(0, 5) == 0) m.set("tokens", in.ConsumeIntegralInRange<uint64_t>(0, 3));
  h.command(client, "DECLARE", m.bytes(), Expect{});
}

void step(FuzzedDataProvider& in, BrokerHarness& h, uint64_t& tag) {
  const int client = in.ConsumeIntegralInRange<int>(0, courier::fuzz::kClients - 1);
  // Queue "a" half the time, so that producers and consumers meet.
  const std::string q = kQueues[std::max(0, in.ConsumeIntegralInRange<int>(-3, 3))];
  Expect e;
  e.q = q;
  // Weighted: what fills and drains queues comes up most.
  switch (in.ConsumeIntegralInRange<int>(0, 19)) {
    case 0: h.command(client, "HELLO", HeaderMap().set("v", 1).set("name", "fuzz").bytes(), e); break;
    case 1: case 2: case 16: case 17: put(in, h, client, q, tag); break;
    case 3: case 18: consume(in, h, client, q); break;
    case 4: case 5:
      e.kind = Expect::ack;
      e.ids = pick_ids(in, h, client);
      h.command(client, "ACK", HeaderMap().set("d", e.ids).bytes(), e);
      break;
    case 6: {
      e.kind = Expect::nack;
      e.ids = pick_ids(in, h, client);
      HeaderMap m;
      m.set("d", e.ids);
      if (in.ConsumeBool()) m.set("requeue", in.ConsumeBool());
      h.command(client, "NACK", m.bytes(), e);
      break;
    }
    case 7:
      e.kind = Expect::touch;
      e.ids = pick_ids(in, h, client);
      h.command(client, "TOUCH", HeaderMap().set("d", e.ids).bytes(), e);
      break;
    case 8:
      e.kind = Expect::add_credit;
      e.n = small_or_edge(in, 4);
      h.command(client, "CREDIT", HeaderMap().set("q", q).set("n", e.n).bytes(), e);
      break;
    case 9:
      e.kind = Expect::cancel;
      h.command(client, "CANCEL", HeaderMap().set("q", q).bytes(), e);
      break;
    case 10: declare(in, h, client, q); break;
    case 11: h.command(client, "PURGE", HeaderMap().set("q", q).bytes(), e); break;
    case 12:
      e.kind = Expect::del;
      h.command(client, "DELETE", HeaderMap().set("q", q).bytes(), e);
      break;
    case 13:
      e.kind = Expect::bye;
      h.command(client, "BYE", HeaderMap().bytes(), e);
      break;
    case 14: h.command(client, "PING", HeaderMap().bytes(), e); break;
    case 15: case 19: {
      static const uint64_t kSteps[] = {1, 50, 1000, 30000, 600000};
      h.advance(kSteps[in.ConsumeIntegralInRange<int>(0, 4)]);
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  // A tiny journal half the time, so that "no room" paths (503 to PUTs and
  // DECLARE tokens, dead-letter moves that wait) run too.
  const uint64_t journal_bytes = in.ConsumeBool() ? (256u << 10) : (64u << 20);
  BrokerHarness h(journal_dir(), journal_bytes);
  uint64_t tag = 0;
  for (int i = 0; i < kMaxSteps && in.remaining_bytes() > 0; ++i) {
    step(in, h, tag);
    h.check();
  }
  return 0;
}
