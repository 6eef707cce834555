// ShardMap: validation, the JSON form, and rendezvous hashing
// (include/courier/shard_map.hpp, docs/scaling.md).
#include <courier/errors.hpp>
#include <courier/shard_map.hpp>

#include "protocol/cqp1.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace courier {
namespace {

// ---- The score: fixed forever, other languages reimplement it ----

std::uint64_t fnv1a64(std::string_view a, char separator, std::string_view b) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ULL;
  };
  for (unsigned char c : a) mix(c);
  mix(static_cast<unsigned char>(separator));
  for (unsigned char c : b) mix(c);
  return h;
}

// FNV-1a alone diffuses a change in the last byte poorly into the high bits
// that make the score; splitmix64's finalizer spreads it over all 64.
std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// ---- Validation ----

bool valid_proxy_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

[[noreturn]] void refuse(std::string_view origin, const std::string& what) {
  throw ConfigError(std::string(origin) + ": " + what);
}

void check(const std::vector<ShardProxy>& proxies, const std::map<std::string, std::string>& pins,
           std::string_view origin) {
  std::set<std::string_view> names, endpoints;
  for (const auto& p : proxies) {
    if (!valid_proxy_name(p.name))
      refuse(origin, "proxy name '" + p.name + "' is invalid: use 1-64 characters of [A-Za-z0-9._-]");
    if (p.endpoint.empty()) refuse(origin, "proxy '" + p.name + "' has no endpoint: give one like tcp://host:5555");
    if (!(p.weight > 0) || !std::isfinite(p.weight))
      refuse(origin, "proxy '" + p.name + "' has weight " + std::to_string(p.weight) +
                         ": a weight must be a finite number above 0");
    if (!names.insert(p.name).second) refuse(origin, "proxy name '" + p.name + "' appears twice: names must be unique");
    if (!endpoints.insert(p.endpoint).second)
      refuse(origin, "endpoint '" + p.endpoint + "' appears twice: each proxy needs its own");
  }
  for (const auto& [queue, proxy] : pins) {
    if (!cqp1::valid_queue_name(queue))
      refuse(origin, "pin for '" + queue + "': a queue name is 1-200 bytes of [A-Za-z0-9._:-]");
    if (names.count(proxy) == 0)
      refuse(origin, "queue '" + queue + "' is pinned to '" + proxy + "', which is not in the proxies list");
  }
}

// ---- JSON ----

template <class T>
T field(const nlohmann::json& object, const char* key, std::string_view where, std::string_view origin) {
  try {
    return object.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    refuse(origin, std::string(where) + " needs \"" + key + "\" of the right type (see docs/scaling.md)");
  }
}

ShardProxy proxy_from_json(const nlohmann::json& j, std::size_t index, std::string_view origin) {
  const std::string where = "proxies[" + std::to_string(index) + "]";
  if (!j.is_object()) refuse(origin, where + " must be an object {\"name\", \"endpoint\", \"weight\"?}");
  ShardProxy p;
  p.name = field<std::string>(j, "name", where, origin);
  p.endpoint = field<std::string>(j, "endpoint", where, origin);
  if (j.contains("weight")) {
    if (!j["weight"].is_number()) refuse(origin, where + " \"weight\" must be a number");
    p.weight = j["weight"].get<double>();
  }
  return p;
}

}  // namespace

double rendezvous_score(std::string_view proxy_name, std::string_view queue, double weight) noexcept {
  const std::uint64_t h = splitmix64(fnv1a64(proxy_name, '/', queue));
  const double u = (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // 2^53
  return weight / -std::log(u);
}

ShardMap::ShardMap(std::uint64_t version, std::vector<ShardProxy> proxies,
                   std::map<std::string, std::string> pins)
    : version_(version), proxies_(std::move(proxies)), pins_(std::move(pins)) {
  check(proxies_, pins_, "shard map");
}

ShardMap ShardMap::from_json(std::string_view text, std::string_view origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    refuse(origin, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) refuse(origin, "must be a JSON object {\"version\", \"proxies\", \"pins\"?}");
  if (!j.contains("version") || !j["version"].is_number_unsigned())
    refuse(origin, "\"version\" must be an unsigned integer, raised on every change");
  if (!j.contains("proxies") || !j["proxies"].is_array() || j["proxies"].empty())
    refuse(origin, "\"proxies\" must be a non-empty list of {\"name\", \"endpoint\", \"weight\"?}");
  std::vector<ShardProxy> proxies;
  for (std::size_t i = 0; i < j["proxies"].size(); ++i) proxies.push_back(proxy_from_json(j["proxies"][i], i, origin));
  std::map<std::string, std::string> pins;
  if (j.contains("pins")) {
    if (!j["pins"].is_object()) refuse(origin, "\"pins\" must be an object {queue: proxy name}");
    for (const auto& [queue, proxy] : j["pins"].items()) {
      if (!proxy.is_string()) refuse(origin, "pin for '" + queue + "' must be a proxy name (a string)");
      pins.emplace(queue, proxy.get<std::string>());
    }
  }
  check(proxies, pins, origin);
  ShardMap map;
  map.version_ = j["version"].get<std::uint64_t>();
  map.proxies_ = std::move(proxies);
  map.pins_ = std::move(pins);
  return map;
}

ShardMap ShardMap::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("shard map file '" + path + "' cannot be read: check the path and its permissions");
  std::ostringstream text;
  text << in.rdbuf();
  return from_json(text.str(), "shard map file '" + path + "'");
}

std::string ShardMap::to_json() const {
  nlohmann::json j;
  j["version"] = version_;
  j["proxies"] = nlohmann::json::array();
  for (const auto& p : proxies_)
    j["proxies"].push_back({{"name", p.name}, {"endpoint", p.endpoint}, {"weight", p.weight}});
  j["pins"] = nlohmann::json::object();
  for (const auto& [queue, proxy] : pins_) j["pins"][queue] = proxy;
  return j.dump();
}

const ShardProxy& ShardMap::owner(std::string_view queue) const {
  if (proxies_.empty())
    throw ConfigError("shard map is empty: it lists no proxy to own queue '" + std::string(queue) + "'");
  if (auto pin = pins_.find(std::string(queue)); pin != pins_.end()) return *find(pin->second);
  const ShardProxy* best = nullptr;
  double best_score = -1;
  for (const auto& p : proxies_) {
    const double score = rendezvous_score(p.name, queue, p.weight);
    if (score > best_score || (score == best_score && p.name < best->name)) {
      best = &p;
      best_score = score;
    }
  }
  return *best;
}

const ShardProxy* ShardMap::find(std::string_view name) const noexcept {
  for (const auto& p : proxies_)
    if (p.name == name) return &p;
  return nullptr;
}

ShardMap ShardMap::with_pin(std::string_view queue, std::string_view proxy) const {
  auto pins = pins_;
  pins[std::string(queue)] = std::string(proxy);
  return ShardMap(version_ + 1, proxies_, std::move(pins));
}

bool operator==(const ShardMap& a, const ShardMap& b) {
  auto same = [](const ShardProxy& x, const ShardProxy& y) {
    return x.name == y.name && x.endpoint == y.endpoint && x.weight == y.weight;
  };
  return a.version_ == b.version_ && a.pins_ == b.pins_ &&
         std::equal(a.proxies_.begin(), a.proxies_.end(), b.proxies_.begin(), b.proxies_.end(), same);
}

}  // namespace courier
