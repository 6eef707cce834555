// Private: the machinery shared by every kind of ShardMapSource — the current
// map behind a mutex, the "only a higher version replaces it" rule, and the
// watch thread that each kind drives with its own read().
#pragma once

#include <courier/shard_map.hpp>
#include <courier/shard_source.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace courier {

struct ShardMapSource::Impl {
  explicit Impl(std::string description) : description(std::move(description)) {}
  virtual ~Impl();

  // Reads the source. Returns: the map it holds now, or nullopt when it
  // holds nothing new (the kind knows: unchanged file, no watch event).
  // Throws: ConfigError / RemoteError / TimeoutError with the reason.
  virtual std::optional<ShardMap> read() = 0;
  // Reads the source at once, for refresh(); may run beside the watch
  // thread's read(). Default: read().
  virtual std::optional<ShardMap> fetch() { return read(); }
  // Writes `next` over `previous` (shard_source.hpp publish()). Throws.
  virtual void write(const ShardMap& next, const ShardMap& previous) = 0;
  // The watch thread's wait between reads; a kind whose read() blocks on
  // the source itself (an etcd watch) returns zero.
  virtual std::chrono::milliseconds pause() const = 0;

  // Makes `map` current when it is the first or has a higher version.
  // Returns: true when it was taken.
  bool take(ShardMap map);
  // One read() (or fetch() when `now`); a failure is kept in `error`, the
  // current map stays. Returns: true when a newer map was taken.
  bool read_once(bool now = false) noexcept;
  // Starts the thread that calls read_once() until stop().
  void watch();
  void stop() noexcept;
  bool stopping() const noexcept { return stopping_.load(); }

  const std::string description;
  mutable std::mutex mutex;
  std::shared_ptr<const ShardMap> map;  // never null once a factory returned
  std::atomic<std::uint64_t> version{0};
  std::string error;

 private:
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// The etcd kind lives in its own file (it brings the HTTP client).
std::unique_ptr<ShardMapSource::Impl> make_etcd_impl(std::vector<std::string> endpoints, std::string key,
                                                     std::chrono::milliseconds timeout);

}  // namespace courier
