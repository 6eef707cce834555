// EtcdGateway over cpp-httplib and nlohmann-json (etcd_gateway.hpp); base64
// from OpenSSL, which cpp-httplib already brings.
#include "etcd_gateway.hpp"

#include <courier/errors.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

namespace courier::detail {
namespace {

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string unbase64(const std::string& text) {
  if (text.empty()) return {};
  std::string out(3 * (text.size() / 4) + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) throw ProtocolError("etcd sent a value that is not base64");
  std::size_t size = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) --size;
  out.resize(size);
  return out;
}

// proto3 JSON: int64 as a string, omitted when zero.
std::int64_t number(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return 0;
  const auto& v = j[key];
  return v.is_string() ? std::stoll(v.get<std::string>()) : v.get<std::int64_t>();
}

template <class Rep, class Period>
std::pair<time_t, time_t> sec_usec(std::chrono::duration<Rep, Period> d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return {static_cast<time_t>(us / 1000000), static_cast<time_t>(us % 1000000)};
}

}  // namespace

EtcdGateway::EtcdGateway(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {
  if (endpoints_.empty()) throw ConfigError("etcd: no endpoint given: use http://HOST:PORT");
}

std::string EtcdGateway::post(const std::string& path, const std::string& body) {
  std::string failures;
  for (std::size_t tried = 0; tried < endpoints_.size(); ++tried) {
    const std::size_t i = (next_ + tried) % endpoints_.size();
    httplib::Client client(endpoints_[i]);
    auto [sec, usec] = sec_usec(timeout_);
    client.set_connection_timeout(sec, usec);
    client.set_read_timeout(sec, usec);
    client.set_write_timeout(sec, usec);
    auto result = client.Post(path.c_str(), body, "application/json");
    if (result && result->status == 200) {
      next_ = i;
      return result->body;
    }
    failures += (failures.empty() ? "" : "; ") + endpoints_[i] + ": " +
                (result ? "HTTP " + std::to_string(result->status) + " " + result->body
                        : httplib::to_string(result.error()));
  }
  throw TimeoutError("etcd did not answer " + path + " (" + failures + "): check that etcd runs and the endpoint");
}

EtcdGateway::Value EtcdGateway::get(const std::string& key) {
  const auto reply = nlohmann::json::parse(post("/v3/kv/range", nlohmann::json{{"key", base64(key)}}.dump()),
                                           nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) throw ProtocolError("etcd answered /v3/kv/range with something not JSON");
  Value v;
  v.revision = reply.contains("header") ? number(reply["header"], "revision") : 0;
  if (reply.contains("kvs") && reply["kvs"].is_array() && !reply["kvs"].empty()) {
    const auto& kv = reply["kvs"][0];
    v.value = unbase64(kv.value("value", ""));
    v.mod_revision = number(kv, "mod_revision");
  }
  return v;
}

bool EtcdGateway::put_if(const std::string& key, const std::string& value, std::int64_t expected) {
  const nlohmann::json request = {
      {"compare", {{{"key", base64(key)}, {"result", "EQUAL"}, {"target", "MOD"},
                    {"mod_revision", std::to_string(expected)}}}},
      {"success", {{{"request_put", {{"key", base64(key)}, {"value", base64(value)}}}}}}};
  const auto reply = nlohmann::json::parse(post("/v3/kv/txn", request.dump()), nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) throw ProtocolError("etcd answered /v3/kv/txn with something not JSON");
  return reply.value("succeeded", false);
}

void EtcdGateway::watch(const std::string& key, std::int64_t start_revision, std::chrono::milliseconds idle,
                        const std::function<bool(const std::string&, std::int64_t)>& on_put,
                        const std::function<bool()>& keep_going) {
  const std::string body =
      nlohmann::json{{"create_request", {{"key", base64(key)}, {"start_revision", std::to_string(start_revision)}}}}
          .dump();
  httplib::Client client(endpoints_[next_ % endpoints_.size()]);
  auto [csec, cusec] = sec_usec(timeout_);
  client.set_connection_timeout(csec, cusec);
  auto [sec, usec] = sec_usec(idle);
  client.set_read_timeout(sec, usec);

  std::string pending;  // the gateway streams one JSON object per line
  bool compacted = false;
  auto receive = [&](const char* data, std::size_t size, std::uint64_t, std::uint64_t) {
    pending.append(data, size);
    for (std::size_t end; (end = pending.find('\n')) != std::string::npos;) {
      const auto line = nlohmann::json::parse(pending.substr(0, end), nullptr, false);
      pending.erase(0, end + 1);
      if (line.is_discarded() || !line.contains("result")) continue;
      const auto& result = line["result"];
      if (number(result, "compact_revision") > 0) {
        compacted = true;
        return false;
      }
      if (!result.contains("events")) continue;
      for (const auto& event : result["events"]) {
        if (event.value("type", "PUT") != "PUT" || !event.contains("kv")) continue;  // a DELETE keeps the last map
        if (!on_put(unbase64(event["kv"].value("value", "")), number(event["kv"], "mod_revision"))) return false;
      }
    }
    return keep_going();
  };
  httplib::Request request;
  request.method = "POST";
  request.path = "/v3/watch";
  request.body = body;
  request.set_header("Content-Type", "application/json");
  request.content_receiver = receive;
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client.send(request, response, error);
  if (compacted) throw ProtocolError("etcd compacted its history past revision " + std::to_string(start_revision));
  // A read timeout is the idle end the caller asked for; anything else
  // before a byte came means this endpoint is down.
  if (!sent && error != httplib::Error::Read && error != httplib::Error::Canceled) {
    next_ = (next_ + 1) % endpoints_.size();
    throw TimeoutError("etcd watch on " + endpoints_[(next_ + endpoints_.size() - 1) % endpoints_.size()] +
                       " failed: " + httplib::to_string(error));
  }
}

}  // namespace courier::detail
