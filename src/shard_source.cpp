// ShardMapSource: the shared rules, the fixed map and the file source
// (include/courier/shard_source.hpp). The etcd source: shard_source_etcd.cpp.
#include "shard_source_impl.hpp"

#include <courier/errors.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>

namespace courier {

// ---- Shared rules ----

ShardMapSource::Impl::~Impl() { stop(); }

bool ShardMapSource::Impl::take(ShardMap next) {
  std::lock_guard<std::mutex> lock(mutex);
  if (map && next.version() <= map->version()) return false;
  version.store(next.version());
  map = std::make_shared<const ShardMap>(std::move(next));
  return true;
}

bool ShardMapSource::Impl::read_once(bool now) noexcept {
  try {
    auto next = now ? fetch() : read();
    {
      std::lock_guard<std::mutex> lock(mutex);
      error.clear();
    }
    return next && take(std::move(*next));
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mutex);
    error = e.what();
    return false;
  }
}

void ShardMapSource::Impl::watch() {
  thread_ = std::thread([this] {
    while (!stopping_.load()) {
      read_once();
      std::unique_lock<std::mutex> lock(stop_mutex_);
      stop_cv_.wait_for(lock, pause(), [this] { return stopping_.load(); });
    }
  });
}

void ShardMapSource::Impl::stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stopping_.store(true);
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// ---- A fixed map ----

namespace {

struct FixedImpl final : ShardMapSource::Impl {
  FixedImpl() : Impl("fixed map") {}
  ~FixedImpl() override { stop(); }
  std::optional<ShardMap> read() override { return std::nullopt; }
  void write(const ShardMap&, const ShardMap&) override {}
  std::chrono::milliseconds pause() const override { return std::chrono::hours(1); }
};

// ---- A file, polled ----

struct FileImpl final : ShardMapSource::Impl {
  FileImpl(std::string path, std::chrono::milliseconds poll)
      : Impl("file " + path), path_(std::move(path)), poll_(poll) {}
  ~FileImpl() override { stop(); }

  // Parses only when the file's mtime or size changed since the last read.
  // The watch thread and refresh() both come here, hence the lock.
  std::optional<ShardMap> read() override {
    std::lock_guard<std::mutex> lock(read_mutex_);
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0)
      throw ConfigError("shard map file '" + path_ + "' cannot be read: check the path and its permissions");
    const Stamp stamp{st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_size};
    if (seen_ && stamp == last_) return std::nullopt;
    auto map = ShardMap::load_file(path_);
    last_ = stamp;
    seen_ = true;
    return map;
  }

  // Write beside it, then rename: readers see the old map or the new one,
  // never half a file.
  void write(const ShardMap& next, const ShardMap&) override {
    const std::string temp = path_ + ".tmp";
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      out << next.to_json() << '\n';
      out.flush();
      if (!out) throw ConfigError("cannot write shard map file '" + temp + "': check the directory's permissions and free space");
    }
    if (std::rename(temp.c_str(), path_.c_str()) != 0)
      throw ConfigError("cannot replace shard map file '" + path_ + "' by '" + temp + "'");
  }

  std::chrono::milliseconds pause() const override { return poll_; }

 private:
  struct Stamp {
    long sec, nsec, size;
    bool operator==(const Stamp& o) const { return sec == o.sec && nsec == o.nsec && size == o.size; }
  };
  std::string path_;
  std::chrono::milliseconds poll_;
  std::mutex read_mutex_;
  Stamp last_{};
  bool seen_ = false;
};

}  // namespace

// ---- The public face ----

ShardMapSource::ShardMapSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ShardMapSource::~ShardMapSource() = default;

std::shared_ptr<ShardMapSource> ShardMapSource::fixed(ShardMap map) {
  auto impl = std::make_unique<FixedImpl>();
  impl->take(std::move(map));
  return std::shared_ptr<ShardMapSource>(new ShardMapSource(std::move(impl)));
}

std::shared_ptr<ShardMapSource> ShardMapSource::from_file(std::string path, std::chrono::milliseconds poll) {
  if (poll <= std::chrono::milliseconds(0)) throw ConfigError("shard map file poll interval must be above 0 ms");
  auto impl = std::make_unique<FileImpl>(std::move(path), poll);
  if (auto map = impl->read()) impl->take(std::move(*map));  // throws: nothing to serve yet
  impl->watch();
  return std::shared_ptr<ShardMapSource>(new ShardMapSource(std::move(impl)));
}

std::shared_ptr<ShardMapSource> ShardMapSource::from_etcd(std::vector<std::string> endpoints, std::string key,
                                                          std::chrono::milliseconds timeout) {
  auto impl = make_etcd_impl(std::move(endpoints), std::move(key), timeout);
  return std::shared_ptr<ShardMapSource>(new ShardMapSource(std::move(impl)));
}

// "etcd://HOST:PORT[,HOST:PORT...]/KEY" (the key keeps its leading '/'),
// "file:PATH", or a bare PATH.
std::shared_ptr<ShardMapSource> ShardMapSource::open(const std::string& spec) {
  const std::string etcd = "etcd://", file = "file:";
  if (spec.compare(0, etcd.size(), etcd) == 0) {
    const auto slash = spec.find('/', etcd.size());
    if (slash == std::string::npos || slash == etcd.size() || slash + 1 == spec.size())
      throw ConfigError("shard map '" + spec + "': write etcd://HOST:PORT[,HOST:PORT...]/KEY");
    std::vector<std::string> endpoints;
    const std::string hosts = spec.substr(etcd.size(), slash - etcd.size());
    for (std::size_t start = 0; start <= hosts.size();) {
      const auto comma = std::min(hosts.find(',', start), hosts.size());
      if (comma == start) throw ConfigError("shard map '" + spec + "': an empty HOST:PORT in the list");
      endpoints.push_back("http://" + hosts.substr(start, comma - start));
      start = comma + 1;
    }
    return from_etcd(std::move(endpoints), spec.substr(slash));
  }
  if (spec.empty()) throw ConfigError("shard map: empty spec: give a file path or etcd://HOST:PORT/KEY");
  return from_file(spec.compare(0, file.size(), file) == 0 ? spec.substr(file.size()) : spec);
}

std::shared_ptr<ShardMap const> ShardMapSource::current() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->map;
}

std::uint64_t ShardMapSource::version() const noexcept { return impl_->version.load(); }

void ShardMapSource::publish(const ShardMap& next) {
  const auto previous = current();
  if (next.version() <= previous->version())
    throw ConfigError("shard map version " + std::to_string(next.version()) + " is not above the current " +
                      std::to_string(previous->version()) + ": raise \"version\" on every change");
  impl_->write(next, *previous);
  impl_->take(next);
}

bool ShardMapSource::refresh() noexcept { return impl_->read_once(true); }

std::string ShardMapSource::last_error() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->error;
}

const std::string& ShardMapSource::description() const noexcept { return impl_->description; }

}  // namespace courier
