// fuzz/broker_harness.hpp — one courier-proxy Broker driven in-process by
// fake clients, for broker_fuzz.
//
// The Broker, Journal and Outbox are the proxy's own (proxy/broker.hpp); the
// loop turn is Loop::turn's sequence (handle, timers, deliver, commit, then
// flush) with a clock the input moves instead of the system's. Clients are
// real DEALER sockets over inproc://, so what the Broker sends arrives framed
// exactly as a client would read it, through the client's own readers
// (src/protocol/replies.hpp).
//
// After every step check() compares three views of each queue:
//  - STATS (the Broker's counts): depth + inflight + delayed, delayed,
//    inflight, consumers;
//  - the journal's tables, counted entry by entry (journal_census.hpp), and
//    the queue records saved in it;
//  - what the clients were told (broker_model.hpp).
// Not thread-safe; one per process (its sockets are reused across inputs).
#pragma once

#include "broker.hpp"
#include "broker_model.hpp"

#include <msgpack.hpp>
#include <zmq.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace courier::fuzz {

inline constexpr int kClients = 3;

// A CQP1 header map under construction: entries packed as they come, the
// map's size written in front at the end.
class HeaderMap {
 public:
  template <class T>
  HeaderMap& set(std::string_view key, const T& value) {
    packer_.pack(key);
    packer_.pack(value);
    ++entries_;
    return *this;
  }
  HeaderMap& set_bin(std::string_view key, std::string_view bytes);
  std::string bytes() const;

 private:
  msgpack::sbuffer body_;
  msgpack::packer<msgpack::sbuffer> packer_{body_};
  uint32_t entries_ = 0;
};

class BrokerHarness {
 public:
  // A fresh journal of at most `journal_bytes` in `dir` (emptied first).
  BrokerHarness(const std::string& dir, uint64_t journal_bytes);
  ~BrokerHarness();

  // One command from client `client` (0..kClients-1), answered in one turn;
  // what the model must learn from it is passed along.
  struct Expect {
    enum Kind { none, put, consume, ack, nack, touch, add_credit, cancel, bye, del } kind = none;
    std::string q;
    uint64_t tag = 0;                   // put
    std::vector<std::string> bodies;    // put
    uint64_t credit = 0, n = 0, batch = 0;  // consume / credit
    bool auto_ack = false;
    std::optional<uint64_t> limit;
    std::vector<uint64_t> ids;          // ack / nack / touch
  };
  void command(int client, std::string_view name, const std::string& header, const Expect& expect);
  // An empty turn `ms` later (delays, ttls, dedup windows come due).
  void advance(uint64_t ms);
  // The three views of every queue agree (see above); aborts otherwise.
  void check();

  const BrokerModel& model() const noexcept { return model_; }

 private:
  // A command's expectations, with what the model predicted before its turn.
  struct Pending {
    const Expect& expect;
    std::vector<uint64_t> unknown;  // ids the proxy must call unknown (404)
    bool credit_known = false;      // CREDIT for a consumer the proxy has
  };
  void turn(std::vector<zmq::message_t>* request);
  // Reads everything `client` was sent, into the model; `pending` for the
  // client whose command the turn answered.
  void read_replies(int client, const Pending* pending);

  proxy::ProxyConfig config_;
  std::unique_ptr<proxy::Journal> journal_;
  proxy::Outbox outbox_;
  std::unique_ptr<proxy::Broker> broker_;
  proxy::Clock clock_;
  BrokerModel model_;
  std::string stats_header_;  // the last STATS a check() received
};

}  // namespace courier::fuzz
