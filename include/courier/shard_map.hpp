// courier/shard_map.hpp — which courier-proxy owns a queue when queues are
// spread over several proxies (docs/scaling.md).
//
// Contract
// - What: a ShardMap is a versioned list of proxies (name → endpoint,
//   weight) plus optional pins (queue → proxy name). The owner of a queue is
//   its pin when it has one, else the proxy with the highest rendezvous
//   (highest-random-weight) score for the queue's name. No proxy knows
//   another: clients compute the owner, so every client holding the same
//   map routes a queue to the same proxy, and adding a proxy moves only the
//   queues that the new proxy now scores highest for (about 1/N of them).
// - The score is fixed and documented (docs/scaling.md) so that any client,
//   a pyzmq script included, computes the same owner:
//     h     = splitmix64(fnv1a64(proxy_name + "/" + queue))
//     u     = ((h >> 11) + 0.5) / 2^53            in (0, 1)
//     score = weight / -ln(u)
//   The highest score wins; equal scores go to the smaller name.
// - The text form is JSON (a file, or the value of an etcd key):
//     {"version": 3,
//      "proxies": [{"name": "a", "endpoint": "tcp://10.0.0.1:5555", "weight": 1}],
//      "pins": {"orders": "a"}}
//   `weight` defaults to 1 and `pins` to none.
// - Ownership: a plain immutable value; copy it freely. Thread-safety: const
//   members from any thread.
// - Errors: ConfigError naming the source (file path, etcd key), the field
//   and what to write instead.
#pragma once

#include <courier/export.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace courier {

struct ShardProxy {
  // 1–64 bytes of [A-Za-z0-9._-]: shown in errors and `courier stats`.
  std::string name;
  // Where its ROUTER listens, e.g. "tcp://10.0.0.1:5555".
  std::string endpoint;
  // Share of the queues relative to the others (> 0, finite).
  double weight = 1.0;
};

class COURIER_EXPORT ShardMap {
 public:
  // An empty map (version 0, no proxies): owner() refuses every queue.
  ShardMap() = default;
  // Throws: ConfigError when a name, endpoint or weight is invalid, a name or
  // endpoint repeats, or a pin names a proxy that is not in the list.
  ShardMap(std::uint64_t version, std::vector<ShardProxy> proxies,
           std::map<std::string, std::string> pins = {});

  // Parses the JSON form above; `origin` names the source in errors.
  // Throws: ConfigError.
  static ShardMap from_json(std::string_view text, std::string_view origin = "shard map");
  // Reads and parses a file. Throws: ConfigError (unreadable or invalid).
  static ShardMap load_file(const std::string& path);
  // Returns: the JSON form, with proxies in their given order.
  std::string to_json() const;

  // Returns: the proxy that owns `queue` (its pin, else the rendezvous winner).
  // Lifetime: valid as long as this map.
  // Throws: ConfigError when the map has no proxy.
  const ShardProxy& owner(std::string_view queue) const;
  // Returns: the proxy called `name`, or nullptr.
  const ShardProxy* find(std::string_view name) const noexcept;
  // Returns: this map with `queue` pinned to `proxy` and the version raised
  // by one (what `courier move` writes). Throws: ConfigError (unknown proxy,
  // bad queue name).
  ShardMap with_pin(std::string_view queue, std::string_view proxy) const;

  std::uint64_t version() const noexcept { return version_; }
  const std::vector<ShardProxy>& proxies() const noexcept { return proxies_; }
  const std::map<std::string, std::string>& pins() const noexcept { return pins_; }
  bool empty() const noexcept { return proxies_.empty(); }

  friend bool operator==(const ShardMap& a, const ShardMap& b);
  friend bool operator!=(const ShardMap& a, const ShardMap& b) { return !(a == b); }

 private:
  std::uint64_t version_ = 0;
  std::vector<ShardProxy> proxies_;
  std::map<std::string, std::string> pins_;  // queue → proxy name
};

// Returns: the rendezvous score of `proxy_name` for `queue` at weight 1
// (multiply by the weight for weighted maps). Exposed for test vectors and
// for other languages' implementations to check against.
COURIER_EXPORT double rendezvous_score(std::string_view proxy_name, std::string_view queue,
                                       double weight = 1.0) noexcept;

}  // namespace courier
