// Private: the few etcd v3 calls a shard map needs — read a key, write it if
// unchanged, watch it — through etcd's JSON gateway (HTTP POST to /v3/...,
// keys and values base64, 64-bit numbers as strings). Over cpp-httplib, so
// no gRPC stack; etcd documents the gateway as its HTTP API.
//
// Thread-safety: none; one EtcdGateway per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace courier::detail {

class EtcdGateway {
 public:
  // `endpoints`: "http://HOST:PORT" each; tried in turn until one answers.
  EtcdGateway(std::vector<std::string> endpoints, std::chrono::milliseconds timeout);

  struct Value {
    std::string value;
    std::int64_t mod_revision = 0;  // 0: the key does not exist
    std::int64_t revision = 0;      // the store's revision when read
  };
  // Returns: the key's value, mod_revision 0 when it does not exist.
  // Throws: TimeoutError (no endpoint answered), ProtocolError (odd answer).
  Value get(const std::string& key);
  // Writes `value` when the key's mod_revision is still `expected` (0: only
  // if it does not exist). Returns: false when someone changed it first.
  // Throws: as get().
  bool put_if(const std::string& key, const std::string& value, std::int64_t expected);
  // Streams changes of `key` from `start_revision`, calling `on_put(value,
  // mod_revision)` for each write, until `on_put` returns false, `keep_going`
  // returns false, or no byte came for `idle` (returns normally then: the
  // caller watches again from the last revision it saw + 1).
  // Throws: TimeoutError (no endpoint answered), ProtocolError (compacted
  // past start_revision: the caller must get() again).
  void watch(const std::string& key, std::int64_t start_revision, std::chrono::milliseconds idle,
             const std::function<bool(const std::string&, std::int64_t)>& on_put,
             const std::function<bool()>& keep_going);

  const std::vector<std::string>& endpoints() const noexcept { return endpoints_; }

 private:
  std::string post(const std::string& path, const std::string& body);
  std::vector<std::string> endpoints_;
  std::chrono::milliseconds timeout_;
  std::size_t next_ = 0;  // the endpoint to try first: the last that answered
};

}  // namespace courier::detail
