// Private: the routing layer of a Producer built with ProducerOptions::shards
// (producer.hpp "Sharded"; docs/scaling.md "Routing in the clients").
// Never installed.
//
// It owns no socket and no thread: one inner single-proxy Producer per proxy
// does the wire work (each with its I/O thread). This layer gives every
// message its id, picks the inner Producer of the queue's owner in the
// current map, counts what is unfinished for flush(), and resends a message
// refused with 421 to the new owner. Inner confirm callbacks run on the
// inner I/O threads, so the outcome of an async publish reaches the user's
// callback there, as without shards.
//
// Locking: `mu` guards the map, the members and the counters below it. It is
// never held while waiting for window room; a redirect submits under it
// (an unbounded submit never waits), so that a member cannot be retired
// between being chosen and being handed the message.
#pragma once

#include <courier/producer.hpp>
#include <courier/shard_source.hpp>

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courier {

struct Producer::Sharded {
  using Counter = std::uint64_t (Producer::*)() const noexcept;
  // One proxy's connection. Keyed by endpoint: a proxy renamed in a new map
  // keeps its connection and gets its new name.
  struct Member {
    ShardProxy proxy;
    std::shared_ptr<Producer> producer;
  };
  // One async message from publish to its final outcome (through redirects).
  struct Pending;

  ProducerOptions base;  // for inner Producers: endpoint and shards filled/cleared per proxy
  std::shared_ptr<ShardMapSource> source;
  std::string description;  // what endpoint() returns: "shards: <source>"
  std::string prefix;       // of automatic ids: "<id_prefix or random>-"
  std::atomic<std::uint64_t> next_id{1};

  mutable std::mutex mu;
  std::condition_variable cv;                     // outstanding reached 0
  std::shared_ptr<const ShardMap> map;            // the version routed by
  std::map<std::string, Member, std::less<>> members;  // by endpoint
  std::vector<Member> retiring;                   // left the map; closed once empty
  std::size_t outstanding = 0;                    // published, outcome not yet delivered
  std::exception_ptr unreported;                  // first failure without a callback
  bool closing = false;                           // publishes refused
  bool shut = false;                              // members gone: redirects refused too
  std::vector<std::pair<Counter, std::uint64_t>> closed_totals;  // of inner Producers closed
  std::chrono::steady_clock::time_point last_refresh{};

  explicit Sharded(ProducerOptions options);
  ~Sharded();

  std::uint64_t publish(std::string_view queue, zmq::message_t body, const PublishOptions& options,
                        std::chrono::milliseconds timeout);
  bool submit(std::string_view queue, zmq::message_t body, const PublishOptions& options,
              ConfirmCallback on_confirm, std::optional<std::chrono::milliseconds> wait);
  bool flush(std::chrono::milliseconds timeout);
  bool wait_connected(std::chrono::milliseconds timeout);
  std::size_t unconfirmed() const noexcept;
  std::uint64_t sum(Counter counter) const noexcept;

  // ---- internals (sharded_producer.cpp) ----
  PublishOptions with_id(const PublishOptions& options);
  // Takes a newer map version if there is one, retiring members that left
  // it; closes retired members that hold nothing more when `to_close` is
  // given (user threads only: an I/O thread may be inside a callback of the
  // very member that would close).
  void follow_map_locked(std::vector<std::shared_ptr<Producer>>* to_close);
  // Throws: ClosedError once the Producer is being destroyed.
  Member& member_locked(const ShardProxy& proxy);
  // Closes retired members that hold nothing more (outside the lock).
  void sweep(std::vector<std::shared_ptr<Producer>>& to_close);
  // Where a message refused by `from_endpoint` with 421 goes now; nullopt
  // when nowhere (the map does not know the new owner). Refreshes the source.
  std::optional<ShardProxy> redirect_target(std::string_view queue, const std::string& from_endpoint,
                                            const std::string& moved_to);
  void on_outcome(const std::shared_ptr<Pending>& p, const Confirm& c);
  void finish(const std::shared_ptr<Pending>& p, Confirm c);
};

}  // namespace courier
