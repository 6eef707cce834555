// protocol/replies.hpp — what courier-proxy sends a client (PROTOCOL.md
// §3.2, batch forms §3.4, `boot` §3.7), read into typed values. The client
// library reads every ERROR, CONFIRM, DELIVER, WELCOME and PONG here.
//
// Each read() takes a HeaderView (valid only while its frame and zone live;
// string_views in the result point into the frame too) and throws BadRequest
// when a key the reply needs is missing or has the wrong type. Keys it does
// not know are ignored (forward compatibility).
// Thread-safety: none needed (pure functions).
#pragma once

#include "protocol/cqp1.hpp"

#include <courier/admin.hpp>  // ProxyStats, QueueStats: what STATS reads into

#include <cstdint>
#include <optional>
#include <string_view>

namespace courier::cqp1 {

// ERROR {code, reason, tag?, d?}
struct ErrorReply {
  int code = kInternal;
  std::string_view reason = "(no reason given)";
  std::optional<std::uint64_t> tag;            // it answers the PUT of this tag
  const msgpack::object_array* ids = nullptr;  // it names delivery ids (an ACK/NACK/TOUCH of unknown ones)
  std::optional<std::string_view> moved_to;    // 421: the proxy that owns the queue now
  // Neither tagged nor about ids: it answers the client's last untagged
  // request (DECLARE, CONSUME, PURGE, ...), which the proxy handles in order.
  bool answers_request() const noexcept { return !tag && ids == nullptr; }
  static ErrorReply read(const HeaderView& h);
};

// WELCOME {v, hb, proxy, boot}
struct Welcome {
  std::optional<std::uint64_t> hb;
  std::optional<std::string_view> proxy;
  static Welcome read(const HeaderView& h);
};

// The proxy process's `boot` (WELCOME and PONG, §3.7); nullopt from a proxy
// older than §3.7.
std::optional<std::string_view> read_boot(const HeaderView& h);

// CONFIRM {tag, seq, dup?} or, for a batch PUT, {tag, n, seq: [...], dup: [...]}.
class ConfirmReply {
 public:
  static ConfirmReply read(const HeaderView& h);
  std::uint64_t tag() const noexcept { return tag_; }
  // The i-th message's seq and dup flag (0 / false when the proxy left them out).
  std::uint64_t seq(std::size_t i) const noexcept;
  bool dup(std::size_t i) const noexcept;

 private:
  std::uint64_t tag_ = 0;
  std::uint64_t seq_ = 0;
  bool dup_ = false;
  const msgpack::object_array* seqs_ = nullptr;  // batch form
  const msgpack::object_array* dups_ = nullptr;
  bool batch_ = false;
};

// One message of a DELIVER.
struct Delivered {
  std::uint64_t d = 0;        // delivery id
  std::uint64_t seq = 0;
  std::uint64_t attempt = 1;
  std::uint64_t ts_ms = 0;
  std::optional<ProducerId> id;
};

// DELIVER {q, d, seq, attempt, ts, id?} + 1 body, or the batch form
// {q, n, d: [...], seq: [...], attempt: [...], ts: [...], id: [...]} + n bodies.
class DeliverReply {
 public:
  // `bodies`: the body frames that came with it; a batch counts min(n, bodies).
  static DeliverReply read(const HeaderView& h, std::size_t bodies);
  std::optional<std::string_view> queue() const noexcept { return queue_; }
  bool batch() const noexcept { return batch_; }
  std::size_t size() const noexcept { return size_; }
  // Throws: BadRequest when the i-th entry of a required array is missing.
  Delivered at(std::size_t i) const;

 private:
  const HeaderView* h_ = nullptr;
  std::optional<std::string_view> queue_;
  bool batch_ = false;
  std::size_t size_ = 0;
  const msgpack::object_array *d_ = nullptr, *seq_ = nullptr, *attempt_ = nullptr, *ts_ = nullptr,
                              *id_ = nullptr;
};

// The queue a reply names ("q" of CONSUMING, DECLARED, PURGED, DELIVER, ...).
std::optional<std::string_view> read_queue(const HeaderView& h);
// DECLARED {q, depth}: the depth. PURGED {q, removed}: how many.
std::uint64_t read_depth(const HeaderView& h);
std::uint64_t read_removed(const HeaderView& h);

// STATS {queues: {name: {depth, inflight, ...}}, uptime_ms, clients} (§3.2).
// Figures a proxy does not send read as 0; unknown ones are ignored.
ProxyStats read_stats(const HeaderView& h);

}  // namespace courier::cqp1
