// tools/shard_options.cpp — see shard_options.hpp.
#include "shard_options.hpp"

#include "proxy_options.hpp"

#include <courier/errors.hpp>
#include <courier/options.hpp>

#include <algorithm>

namespace courier::cli {

void add_shards_option(CLI::App* cmd, std::optional<std::string>& shards) {
  CLI::Option* opt = cmd->add_option(
      "--shards", shards,
      "route by a shard map instead of --proxy: etcd://HOST:PORT/KEY or a JSON map file (docs/scaling.md)");
  if (CLI::Option* proxy = cmd->get_option_no_throw("--proxy")) opt->excludes(proxy);
}

std::shared_ptr<ShardMapSource> open_shards(const std::string& spec) {
  try {
    return ShardMapSource::open(spec);
  } catch (const ConfigError& e) {
    throw CliFailure(kUsage, std::string("--shards ") + spec + ": " + e.what());
  }
}

std::string queue_endpoint(const std::string& proxy, const std::optional<std::string>& shards,
                           const std::string& queue) {
  if (!shards) return proxy;
  auto source = open_shards(*shards);
  try {
    return source->current()->owner(queue).endpoint;
  } catch (const ConfigError& e) {
    throw CliFailure(kUsage, std::string("--shards ") + *shards + ": " + e.what());
  }
}

int ProbeReply::code() const {
  if (command != "ERROR") return 0;
  auto it = header.find("code");
  return it != header.end() && it->is_number_integer() ? it->get<int>() : 0;
}

std::string ProbeReply::reason() const {
  auto it = header.find("reason");
  return it != header.end() && it->is_string() ? it->get<std::string>() : std::string("(no reason given)");
}

ProxyProbe::ProxyProbe(const std::string& endpoint, const CurveArgs& curve, const std::string& client_name)
    : endpoint_(endpoint), socket_(Context::global().zmq(), zmq::socket_type::dealer) {
  SocketOptions options;
  options.curve = curve_options(curve, false);
  options.linger = std::chrono::milliseconds(0);
  apply_options(socket_, options);
  try {
    socket_.connect(endpoint);
  } catch (const zmq::error_t& e) {
    throw CliFailure(kUsage, "cannot connect to '" + endpoint + "': " + e.what() +
                                 " (an endpoint is tcp://HOST:PORT or ipc://PATH)");
  }
  // No HELLO (optional, docs/PROTOCOL.md §3.10): a probe is not a client, so
  // it does not count in the `clients` figure of the STATS it reads.
  (void)client_name;
}

void ProxyProbe::send(const std::string& command, const json& header) {
  const std::string packed = to_msgpack(header);
  // DEALER: queued while not connected; never blocks (no HWM reached here).
  socket_.send(zmq::buffer(std::string_view("CQP1")), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  socket_.send(zmq::buffer(command), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
  socket_.send(zmq::buffer(packed), zmq::send_flags::dontwait);
}

std::optional<ProbeReply> ProxyProbe::receive(Clock::time_point deadline) {
  for (;;) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    // Past the deadline it still looks once: an answer already here counts.
    if (zmq::poll(&item, 1, std::max(left, std::chrono::milliseconds(0))) == 0) return std::nullopt;
    std::vector<zmq::message_t> frames;
    for (;;) {
      zmq::message_t m;
      (void)socket_.recv(m);
      const bool more = m.more();
      frames.push_back(std::move(m));
      if (!more) break;
    }
    if (frames.size() < 3 || frames[0].to_string_view() != "CQP1") continue;  // not CQP1: ignored
    ProbeReply r;
    r.command = std::string(frames[1].to_string_view());
    if (r.command == "WELCOME" || r.command == "PONG") continue;
    try {
      r.header = decode_frame(frames[2].data(), frames[2].size());
    } catch (const ConversionError& e) {
      throw CliFailure(kRemote, "courier-proxy at " + endpoint_ + " sent an undecodable " + r.command +
                                    " header: " + e.what());
    }
    return r;
  }
}

ProbeReply ProxyProbe::request(const std::string& command, const json& header, Clock::time_point deadline,
                               const std::string& what) {
  send(command, header);
  std::optional<ProbeReply> r = receive(deadline);
  if (!r) {
    throw CliFailure(kTimeout, what + ": no answer from courier-proxy at " + endpoint_ + " in time: is it running?");
  }
  if (r->command == "ERROR") {
    throw CliFailure(kRemote, what + ": courier-proxy at " + endpoint_ + " refused it: " +
                                  std::to_string(r->code()) + " " + error_meaning(r->code()) + " (" + r->reason() +
                                  ")");
  }
  return *r;
}

}  // namespace courier::cli
