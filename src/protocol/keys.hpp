// protocol/keys.hpp — every CQP1 header key (PROTOCOL.md §3.1, §3.2, §3.4,
// §3.6, §3.7), spelled once. The proxy and the client library read and write
// headers through these names only, so adding or renaming a key is a change
// to this file (plus the code that gives the key a meaning).
#pragma once

#include <string_view>

namespace courier::cqp1::key {

// HELLO / WELCOME / PONG
inline constexpr std::string_view v = "v";          // protocol version
inline constexpr std::string_view name = "name";    // client name (HELLO)
inline constexpr std::string_view hb = "hb";        // heartbeat, ms (WELCOME)
inline constexpr std::string_view proxy = "proxy";  // proxy version string (WELCOME)
inline constexpr std::string_view boot = "boot";    // proxy process identity (§3.7)

// Addressing and correlation
inline constexpr std::string_view q = "q";      // queue name
inline constexpr std::string_view tag = "tag";  // client's PUT correlation
inline constexpr std::string_view d = "d";      // delivery id(s)
inline constexpr std::string_view n = "n";      // batch size (§3.4)

// PUT / CONFIRM / DELIVER
inline constexpr std::string_view id = "id";    // producer message id
inline constexpr std::string_view ids = "ids";  // producer ids of a batch PUT
inline constexpr std::string_view delay = "delay";
inline constexpr std::string_view ttl = "ttl";
inline constexpr std::string_view seq = "seq";
inline constexpr std::string_view dup = "dup";
inline constexpr std::string_view attempt = "attempt";
inline constexpr std::string_view ts = "ts";

// CONSUME / CREDIT / NACK
inline constexpr std::string_view credit = "credit";
inline constexpr std::string_view auto_ack = "auto_ack";
inline constexpr std::string_view batch = "batch";
inline constexpr std::string_view limit = "limit";
inline constexpr std::string_view requeue = "requeue";

// DECLARE (queue options)
inline constexpr std::string_view max_length = "max_length";
inline constexpr std::string_view dead_letter = "dead_letter";
inline constexpr std::string_view max_attempts = "max_attempts";
inline constexpr std::string_view ack_timeout = "ack_timeout";
inline constexpr std::string_view tokens = "tokens";
// extension (docs/PROTOCOL.md §3.13): the queue now lives on that proxy
inline constexpr std::string_view moved_to = "moved_to";

// ERROR
inline constexpr std::string_view code = "code";
inline constexpr std::string_view reason = "reason";

// DECLARED / PURGED / STATS
inline constexpr std::string_view depth = "depth";
inline constexpr std::string_view removed = "removed";
inline constexpr std::string_view queues = "queues";
inline constexpr std::string_view uptime_ms = "uptime_ms";
inline constexpr std::string_view clients = "clients";
// per-queue STATS figures
inline constexpr std::string_view inflight = "inflight";
inline constexpr std::string_view consumers = "consumers";
inline constexpr std::string_view delayed = "delayed";
inline constexpr std::string_view put = "put";
inline constexpr std::string_view delivered = "delivered";
inline constexpr std::string_view acked = "acked";
inline constexpr std::string_view redelivered = "redelivered";
inline constexpr std::string_view dead_lettered = "dead_lettered";
inline constexpr std::string_view dropped = "dropped";
inline constexpr std::string_view expired = "expired";

}  // namespace courier::cqp1::key
