// protocol/cqp1.hpp — the CQP1 wire protocol (PROTOCOL.md §3), in one place.
//
// Both courier-proxy and the client library (Producer/Consumer/Admin/Lock)
// build and parse CQP1 frames through this unit, so there is exactly one
// parser. Header keys are spelled once, in keys.hpp. The client side's typed
// messages sit on top: requests.hpp (what a client sends) and replies.hpp
// (what it reads); the CLI is a client of the library, not of this unit.
//
// Every CQP1 message is ["CQP1"][COMMAND][header map][body]*.
// - Reading: HeaderView parses frame 3 into a msgpack object that lives in a
//   caller-owned zone; strings and binaries point into the frame itself (no
//   copy), so a HeaderView is valid only while both the zone and the frame
//   are alive and the zone has not been cleared.
// - Writing: MapWriter packs a header map into a reused buffer.
// - Failures to follow the protocol throw BadRequest, whose text names the
//   command and key and which the proxy turns into ERROR 400.
// Thread-safety: none needed; all functions are reentrant, objects are owned
// by one thread.
#pragma once

#include "protocol/keys.hpp"  // the header keys, spelled once

#include <msgpack.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace courier::cqp1 {

inline constexpr std::string_view kMagic = "CQP1";
inline constexpr uint64_t kVersion = 1;
inline constexpr uint64_t kMaxBatch = 4096;          // K of batch PUT; CONSUME batch cap
inline constexpr std::size_t kMaxQueueName = 200;
inline constexpr std::size_t kMaxProducerId = 128;

// Error codes of §3.2.
enum Status : int {
  kBadRequest = 400,
  kNotFound = 404,
  kConflict = 409,
  kMoved = 421,  // extension (docs/PROTOCOL.md §3.13): publish to the proxy named in `moved_to`
  kTooLarge = 413,
  kQueueFull = 429,
  kInternal = 500,
  kUnavailable = 503,
};

// Client -> proxy commands, then proxy -> client ones.
enum class Command : uint8_t {
  HELLO, PUT, CONSUME, ACK, NACK, TOUCH, CREDIT, CANCEL, DECLARE, STATS, PURGE, PING, BYE,
  DELETE,  // extension (docs/PROTOCOL.md §3.8)
  WELCOME, CONFIRM, DELIVER, CONSUMING, CANCELLED, DECLARED, PURGED, PONG, ERROR, DELETED,
  UNKNOWN,
};

// Returns the command for an ASCII name, or Command::UNKNOWN.
Command parse_command(std::string_view name) noexcept;
// Returns the ASCII name of a command ("?" for UNKNOWN).
std::string_view command_name(Command command) noexcept;

// A request that breaks the protocol; what() names the key and the fault.
class BadRequest : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// True when `name` is 1–200 bytes of [A-Za-z0-9._:-].
bool valid_queue_name(std::string_view name) noexcept;

// True when `bytes` is well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, nothing past U+10FFFF). A msgpack str the proxy stores or
// echoes must be, or a client decoding with raw=False cannot read it.
bool valid_utf8(std::string_view bytes) noexcept;

// A producer's message id (§3.1 PUT "id"): str or bin, kept as sent so that a
// DELIVER gives it back with the same msgpack type.
struct ProducerId {
  std::string_view bytes;
  bool binary = false;
};

// A parsed header map. Keys that are not looked up are ignored (forward
// compatibility); a key with the wrong value type throws BadRequest.
class HeaderView {
 public:
  // Who sent the header decides how large it may be: a request (client ->
  // proxy) is held to small bounds so a hostile one cannot make the proxy
  // allocate much; a reply (proxy -> client) may be as large as the frame
  // (STATS lists every queue).
  enum class From { client, proxy };

  // Parses exactly one msgpack map with string keys from the frame.
  // Throws BadRequest when the frame is not that (garbage, trailing bytes,
  // non-map, non-string key, nesting or sizes past the limits of `from`).
  static HeaderView parse(const void* data, std::size_t size, msgpack::zone& zone,
                          From from = From::client);

  // The raw value for a key, or nullptr when absent.
  const msgpack::object* find(std::string_view key) const noexcept;

  // Typed getters: std::nullopt when the key is absent; BadRequest when it is
  // present with the wrong type. `uint` takes non-negative integers only.
  std::optional<uint64_t> uint(std::string_view key) const;
  std::optional<std::string_view> str(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  // A producer id: str or bin of at most 128 bytes.
  std::optional<ProducerId> producer_id(std::string_view key) const;
  // An array; nullptr when absent.
  const msgpack::object_array* array(std::string_view key) const;

  // Required forms: throw BadRequest naming the key when absent.
  uint64_t need_uint(std::string_view key) const;
  std::string_view need_str(std::string_view key) const;
  // The queue name under "q", validated.
  std::string_view need_queue() const;

  const msgpack::object_map& map() const noexcept { return map_; }

 private:
  explicit HeaderView(const msgpack::object_map& map) : map_(map) {}
  msgpack::object_map map_;  // {size, ptr}: the entries live in the zone
};

// Element access helpers for arrays inside headers (batch forms).
uint64_t as_uint(const msgpack::object& o, std::string_view what);
// A producer id slot of a batch: str or bin, nullopt for nil.
std::optional<ProducerId> as_producer_id(const msgpack::object& o, std::string_view what);
// Packs a producer id back with the msgpack type it came with.
void pack_producer_id(msgpack::packer<msgpack::sbuffer>& p, const ProducerId& id);

// Packs a header map of exactly `entries` key/value pairs into `buffer`
// (cleared first). Usage: MapWriter w(buf, 2); w.key("tag").pack(7); ...
class MapWriter {
 public:
  MapWriter(msgpack::sbuffer& buffer, uint32_t entries) : packer_(buffer) {
    buffer.clear();
    packer_.pack_map(entries);
  }
  msgpack::packer<msgpack::sbuffer>& key(std::string_view k) {
    packer_.pack_str(static_cast<uint32_t>(k.size()));
    packer_.pack_str_body(k.data(), static_cast<uint32_t>(k.size()));
    return packer_;
  }
  msgpack::packer<msgpack::sbuffer>& packer() { return packer_; }

 private:
  msgpack::packer<msgpack::sbuffer> packer_;
};

// Packs a str (used for strings held as string_view).
inline void pack_string(msgpack::packer<msgpack::sbuffer>& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

}  // namespace courier::cqp1
