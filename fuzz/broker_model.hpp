// fuzz/broker_model.hpp — what broker_fuzz's fake clients know of their
// consumers, told only by what they sent and what the proxy answered.
//
// It follows PROTOCOL.md §3.3.7 (credit) and §3.1 (who holds which delivery)
// from the outside: a CONSUMING sets the window, each DELIVERed message takes
// one credit, each ACK/NACK of a delivery this client holds gives one back,
// CREDIT adds, CANCEL/BYE give everything back. Every DELIVER is checked
// against it: a known consumer, within credit, batch and limit, a delivery id
// never seen before, a message no other delivery holds, and the body that
// was confirmed for that seq. A failed check aborts (FUZZ_CHECK).
//
// Releases the model cannot see are kept out of the inputs: broker_fuzz
// never declares ack_timeout and runs with a heartbeat no run can outlast
// (docs/reliability.md, "Fuzzing").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace courier::fuzz {

class BrokerModel {
 public:
  struct Consumer {
    uint64_t credit = 0;
    bool auto_ack = false;
    uint64_t batch = 1;
    std::optional<uint64_t> remaining;  // CONSUME `limit`
    std::set<uint64_t> held;            // unacked delivery ids
  };

  // CONSUMING answered a CONSUME {q, credit, auto_ack, batch, limit}.
  void consuming(int client, const std::string& q, uint64_t credit, bool auto_ack, uint64_t batch,
                 std::optional<uint64_t> limit);
  // CANCELLED {q}: the consumer and what it held are gone.
  void cancelled(int client, const std::string& q);
  // BYE: every consumer of the client and what they held are gone.
  void bye(int client);
  // CREDIT {q, n} sent; returns whether the proxy knows that consumer (it
  // answers ERROR 404 otherwise).
  bool credit(int client, const std::string& q, uint64_t n);
  // ACK/NACK/TOUCH {d: ids} sent: returns the ids the proxy must call
  // unknown, in order; when `releases`, the known ones are released.
  std::vector<uint64_t> name_ids(int client, const std::vector<uint64_t>& ids, bool releases);
  // One message of a DELIVER, checked against everything above.
  void delivered(int client, const std::string& q, uint64_t d, uint64_t seq, std::string_view body,
                 std::size_t in_this_deliver);
  // A CONFIRMed (not dup) PUT: the body a later DELIVER of that seq must carry.
  void confirmed(const std::string& q, uint64_t seq, std::string body);
  // DELETED {q}: no consumer may be left; a queue of that name made later
  // numbers its messages from 1 again.
  void deleted(const std::string& q);

  bool consumes(int client, const std::string& q) const;
  uint64_t inflight(const std::string& q) const;
  uint64_t consumers(const std::string& q) const;
  // Ids for ACK/NACK/TOUCH inputs: what this client holds, then others'.
  std::vector<uint64_t> held_by(int client) const;
  std::vector<uint64_t> held_by_others(int client) const;
  uint64_t last_id() const noexcept { return seen_ids_.empty() ? 0 : *seen_ids_.rbegin(); }

 private:
  struct Holder {
    int client;
    std::string q;
    uint64_t seq;
  };
  void release(uint64_t d);

  std::map<std::pair<int, std::string>, Consumer> consumers_;
  std::map<uint64_t, Holder> held_;                       // every unacked delivery
  std::set<std::pair<std::string, uint64_t>> held_seqs_;  // the messages they hold
  std::set<uint64_t> seen_ids_;                           // every delivery id ever sent
  std::map<std::pair<std::string, uint64_t>, std::string> bodies_;
};

}  // namespace courier::fuzz
