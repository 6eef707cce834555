// The etcd kind of ShardMapSource (include/courier/shard_source.hpp): reads
// the key once, then follows it with an etcd watch; writes by
// compare-and-swap so two movers never overwrite each other's map.
#include "etcd_gateway.hpp"
#include "shard_source_impl.hpp"

#include <courier/errors.hpp>

#include <algorithm>

namespace courier {
namespace {

std::string joined(const std::vector<std::string>& endpoints) {
  std::string out;
  for (const auto& e : endpoints) out += (out.empty() ? "" : ",") + e;
  return out;
}

struct EtcdImpl final : ShardMapSource::Impl {
  EtcdImpl(std::vector<std::string> endpoints, std::string key, std::chrono::milliseconds timeout)
      : Impl("etcd key " + key + " at " + joined(endpoints)),
        key_(std::move(key)),
        watcher_(endpoints, timeout),
        reader_(std::move(endpoints), timeout) {}
  ~EtcdImpl() override { stop(); }

  // A plain read of the key (start-up, refresh(), and the watch thread
  // after it lost its place).
  std::optional<ShardMap> fetch() override {
    std::lock_guard<std::mutex> lock(reader_mutex_);
    const auto v = reader_.get(key_);
    if (v.mod_revision == 0)
      throw ConfigError("etcd key '" + key_ + "' does not exist: put a shard map there (docs/scaling.md)");
    position_.store(std::max(position_.load(), v.revision));
    return ShardMap::from_json(v.value, description);
  }

  // The watch thread: waits (≤ 1 s per call) for the next write of the key.
  std::optional<ShardMap> read() override {
    try {
      if (!placed_) {
        auto map = fetch();
        placed_ = healthy_ = true;
        return map;
      }
      std::optional<std::string> latest;
      watcher_.watch(
          key_, position_.load() + 1, std::chrono::seconds(1),
          [&](const std::string& value, std::int64_t revision) {
            position_.store(std::max(position_.load(), revision));
            latest = value;
            return false;  // hand each new map over at once
          },
          [this] { return !stopping(); });
      healthy_ = true;
      if (!latest) return std::nullopt;
      return ShardMap::from_json(*latest, description);
    } catch (const ProtocolError&) {
      placed_ = false;  // compacted past our place: read the key again
      throw;
    } catch (const TimeoutError&) {
      healthy_ = false;
      placed_ = false;
      throw;
    }
  }

  // Compare-and-swap: only over the version `next` was made from.
  void write(const ShardMap& next, const ShardMap& previous) override {
    std::lock_guard<std::mutex> lock(reader_mutex_);
    const auto v = reader_.get(key_);
    const auto stored = v.mod_revision == 0 ? ShardMap() : ShardMap::from_json(v.value, description);
    if (stored.version() != previous.version() ||
        !reader_.put_if(key_, next.to_json(), v.mod_revision))
      throw RemoteError(409, "etcd key '" + key_ + "' changed meanwhile (it holds version " +
                                 std::to_string(stored.version()) + ", this change was made from version " +
                                 std::to_string(previous.version()) + "): reread the map and retry");
  }

  // Back off only while etcd is unreachable; a healthy watch blocks by itself.
  std::chrono::milliseconds pause() const override {
    return healthy_ ? std::chrono::milliseconds(0) : std::chrono::milliseconds(500);
  }

 private:
  const std::string key_;
  detail::EtcdGateway watcher_;  // watch thread only
  std::mutex reader_mutex_;
  detail::EtcdGateway reader_;   // fetch() and write(), under reader_mutex_
  std::atomic<std::int64_t> position_{0};  // the last etcd revision seen
  std::atomic<bool> healthy_{true};
  bool placed_ = false;  // watch thread only: position_ is a valid start
};

}  // namespace

std::unique_ptr<ShardMapSource::Impl> make_etcd_impl(std::vector<std::string> endpoints, std::string key,
                                                     std::chrono::milliseconds timeout) {
  if (key.empty()) throw ConfigError("etcd shard map: the key is empty: give one like /courier/shards");
  const std::string where = "etcd key " + key + " at " + joined(endpoints);
  auto impl = std::make_unique<EtcdImpl>(std::move(endpoints), std::move(key), timeout);
  try {
    impl->take(*impl->read());  // the first read() is a plain get
  } catch (const ConfigError&) {
    throw;
  } catch (const Error& e) {
    throw ConfigError("cannot read the shard map from " + where + ": " + e.what());
  }
  impl->watch();
  return impl;
}

}  // namespace courier
