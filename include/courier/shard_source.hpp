// courier/shard_source.hpp — where a client gets its ShardMap from, and how
// it learns of a new version without a restart (docs/scaling.md).
//
// Contract
// - What: a ShardMapSource holds the current ShardMap of one source — a
//   file, an etcd v3 key, or a fixed value — and replaces it when the source
//   changes. Clients (Producer, Consumer, Admin, Lock, the CLI) share one
//   source and ask current() when they route a queue.
// - Threads: from_file() and from_etcd() START ONE WATCH THREAD each, which
//   re-reads the file when it changes (polled) or follows the etcd key with
//   a watch, and stops in the destructor (bounded: ≤ 1 s). fixed() starts
//   none.
// - When the source fails (file unreadable or invalid, etcd down or the key
//   holding garbage), the last good map keeps serving; last_error() says
//   what went wrong, and the watch retries. A map is only replaced by one
//   with a higher version.
// - Ownership: held by std::shared_ptr (clients keep it alive); not movable.
// - Thread-safety: every member from any thread.
// - Errors: ConfigError (bad spec, no valid map at start), RemoteError
//   (etcd refused a write: someone else changed the map first).
#pragma once

#include <courier/export.hpp>
#include <courier/shard_map.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace courier {

class COURIER_EXPORT ShardMapSource {
 public:
  // A map that never changes unless publish() is called (tests, programs
  // that build their map themselves).
  static std::shared_ptr<ShardMapSource> fixed(ShardMap map);
  // The JSON file at `path` (shard_map.hpp), re-read when its modification
  // time or size changes, checked every `poll`.
  // Throws: ConfigError when the file cannot be read or parsed now.
  static std::shared_ptr<ShardMapSource> from_file(std::string path,
                                                   std::chrono::milliseconds poll = std::chrono::milliseconds(500));
  // The value of `key` in etcd v3, read through its JSON gateway at one of
  // `endpoints` ("http://127.0.0.1:2379"), followed with a watch.
  // Throws: ConfigError when no endpoint answers within `timeout` or the key
  // is missing or invalid.
  static std::shared_ptr<ShardMapSource> from_etcd(std::vector<std::string> endpoints, std::string key,
                                                   std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Opens a source from one string, as the CLI and the Python binding take
  // it: "etcd://HOST:PORT[,HOST:PORT...]/KEY" or a file path (optionally
  // "file:PATH"). Throws: ConfigError.
  static std::shared_ptr<ShardMapSource> open(const std::string& spec);

  ~ShardMapSource();
  ShardMapSource(const ShardMapSource&) = delete;
  ShardMapSource& operator=(const ShardMapSource&) = delete;

  // Returns: the current map, never null. Cheap (a shared_ptr copy).
  std::shared_ptr<const ShardMap> current() const;
  // Returns: current()->version(), without copying.
  std::uint64_t version() const noexcept;
  // Writes `next` to the source and makes it current: a file is replaced
  // atomically (write + rename); etcd is written only if the key still holds
  // the map this source last read (a compare-and-swap), so two movers never
  // overwrite each other. `next` must have a higher version than current().
  // Throws: ConfigError (version not higher), RemoteError (etcd: the key
  // changed meanwhile — reread and retry), TimeoutError (etcd unreachable).
  void publish(const ShardMap& next);
  // Reads the source now instead of at the next poll or watch event (a
  // client told "moved" by a proxy calls this). Returns: true when a newer
  // map was taken. Never throws; a failure goes to last_error().
  bool refresh() noexcept;
  // Returns: what went wrong the last time the source was read ("" when the
  // last read worked).
  std::string last_error() const;
  // Returns: "file PATH", "etcd KEY at ENDPOINTS" or "fixed map".
  const std::string& description() const noexcept;

  struct Impl;

 private:
  explicit ShardMapSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace courier
