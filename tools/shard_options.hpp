// tools/shard_options.hpp — what `courier` commands share when queues are
// spread over several proxies (docs/scaling.md): the --shards SPEC option
// beside --proxy, resolving a queue's owner, and ProxyProbe, a small raw
// CQP1 request/reply client for the operator commands that need figures the
// library's Admin does not type (a queue's `moved_to`, docs/PROTOCOL.md
// §3.13) or must ask several proxies at once (`courier stats --shards`,
// `courier move`).
#pragma once

#include "cli_common.hpp"
#include "curve_options.hpp"
#include "json_msgpack.hpp"
#include "proxy_options.hpp"

#include <courier/shard_map.hpp>
#include <courier/shard_source.hpp>

#include <zmq.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace courier::cli {

// Adds --shards SPEC to a command that already has --proxy; the two exclude
// each other (CLI11 reports both given as a usage error).
void add_shards_option(CLI::App* cmd, std::optional<std::string>& shards);

// Opens the map source named by --shards ("etcd://HOST:PORT/KEY" or a JSON
// file path). Throws: CliFailure(1) naming the spec and what to write.
std::shared_ptr<ShardMapSource> open_shards(const std::string& spec);

// The endpoint a one-queue command talks to: --proxy, or with --shards the
// endpoint of the queue's owner in the current map.
// Throws: CliFailure(1) (bad spec, empty map).
std::string queue_endpoint(const std::string& proxy, const std::optional<std::string>& shards,
                           const std::string& queue);

// One answer from a proxy: its command ("STATS", "ERROR", ...) and header.
struct ProbeReply {
  std::string command;
  json header;
  // For an ERROR: its code (0 otherwise).
  int code() const;
  std::string reason() const;
};

// One DEALER to one proxy, for request/reply commands only (STATS,
// DECLARE, PURGE, PING). No thread; every wait is bounded by the caller's
// deadline. Not thread-safe; move-only (owns its socket, linger 0 on close).
class ProxyProbe {
 public:
  ProxyProbe(const std::string& endpoint, const CurveArgs& curve, const std::string& client_name);
  // Sends `command` with `header` (a JSON object packed to msgpack).
  void send(const std::string& command, const json& header);
  // The next reply that is not a PONG, or nullopt once `deadline` passes.
  std::optional<ProbeReply> receive(Clock::time_point deadline);
  // send() then receive(); throws CliFailure(2) on timeout and
  // CliFailure(3) for an ERROR answer, both naming `what` and the endpoint.
  ProbeReply request(const std::string& command, const json& header, Clock::time_point deadline,
                     const std::string& what);
  const std::string& endpoint() const noexcept { return endpoint_; }

 private:
  std::string endpoint_;
  zmq::socket_t socket_;
};

// ---------------------------------------------------------------------------
// STATS of every proxy of a map (shard_stats.cpp)

// One proxy's STATS answer, or why there is none.
struct ProxyAnswer {
  ShardProxy proxy;
  bool ok = false;
  std::string error;  // when !ok: "no answer within 2 s", "refused: 400 ..."
  json stats;         // when ok: the STATS header (queues, uptime_ms, clients)
};

// Sends STATS (of `queue` only, when given) to every proxy of `map` at once
// and waits at most `timeout` in all: a dead proxy costs one timeout, not
// one per proxy. Returns: one answer per proxy, in the map's order.
std::vector<ProxyAnswer> stats_of_all(const ShardMap& map, const CurveArgs& curve,
                                      std::chrono::milliseconds timeout,
                                      const std::optional<std::string>& queue, const char* command);

// `courier stats`' arguments, shared by the one-proxy table (stats_table.cpp)
// and the sharded one.
struct StatsArgs {
  std::optional<std::string> queue;
  std::string proxy = default_proxy();
  std::optional<std::string> shards;  // --shards: every proxy of the map, one table
  CurveArgs curve;
  bool json_out = false;
  bool watch = false;
  double interval = 1;
  std::optional<uint64_t> count;
  double timeout = 5;
};

// `courier stats --shards SPEC`: one table for every proxy of the map.
// Returns: 0, or 2 when any proxy did not answer (after printing the others).
int run_sharded_stats(const StatsArgs& args);  // args.shards is set

}  // namespace courier::cli
