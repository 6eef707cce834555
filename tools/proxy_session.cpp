// tools/proxy_session.cpp — see proxy_session.hpp.
#include "proxy_session.hpp"

#include <courier/options.hpp>  // default_proxy_endpoint

#include <iostream>

namespace courier::cli {



json ProxyReply::header_json() const {
  if (!header) return json::object();
  msgpack::object o;
  o.type = msgpack::type::MAP;
  o.via.map = header->map();
  return from_msgpack(o);
}

ProxySession::ProxySession(zmq::context_t& context, std::string endpoint)
    : endpoint_(std::move(endpoint)), socket_(context, zmq::socket_type::dealer) {
  socket_.set(zmq::sockopt::linger, 2000);
  try {
    socket_.connect(endpoint_);
  } catch (const zmq::error_t& e) {
    throw CliFailure(kUsage, "cannot connect to proxy endpoint '" + endpoint_ + "': " + e.what() +
                                 "; pass --proxy tcp://HOST:PORT (default " + default_proxy() + ")");
  }
  last_send_ = last_recv_ = Clock::now();
}

ProxySession::~ProxySession() = default;

void ProxySession::send(std::string_view command, const msgpack::sbuffer& header, const std::string* body) {
  const auto more = zmq::send_flags::sndmore;
  socket_.send(zmq::buffer(cqp1::kMagic), more);
  socket_.send(zmq::buffer(command), more);
  socket_.send(zmq::const_buffer(header.data(), header.size()),
               body ? more : zmq::send_flags::none);
  if (body) socket_.send(zmq::buffer(*body), zmq::send_flags::none);
  last_send_ = Clock::now();
}

void ProxySession::send_empty(std::string_view command) {
  msgpack::sbuffer empty;
  cqp1::MapWriter(empty, 0);
  send(command, empty);
}

bool ProxySession::recv(ProxyReply& reply, int timeout_ms) {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms)) == 0) return false;
  reply.frames.clear();
  reply.header.reset();
  reply.zone.clear();
  do {
    zmq::message_t frame;
    (void)socket_.recv(frame, zmq::recv_flags::none);
    reply.frames.push_back(std::move(frame));
  } while (reply.frames.back().more());
  last_recv_ = Clock::now();
  const auto& f = reply.frames;
  if (f.size() < 3 || f[0].to_string_view() != cqp1::kMagic)
    throw CliFailure(kRemote, "the peer at " + endpoint_ +
                                  " does not speak CQP1 (expected [CQP1][COMMAND][header]); is it a "
                                  "courier-proxy?");
  reply.command = cqp1::parse_command(f[1].to_string_view());
  try {
    reply.header = cqp1::HeaderView::parse(f[2].data(), f[2].size(), reply.zone,
                                              cqp1::HeaderView::From::proxy);
  } catch (const cqp1::BadRequest& e) {
    throw CliFailure(kRemote, "courier-proxy sent a bad " + std::string(f[1].to_string_view()) +
                                  " header: " + e.what());
  }
  return true;
}

uint64_t ProxySession::hello(const std::string& name, int timeout_ms) {
  msgpack::sbuffer header;
  cqp1::MapWriter w(header, 2);
  w.key("v").pack(cqp1::kVersion);
  cqp1::pack_string(w.key("name"), name);
  ProxyReply reply;
  call("HELLO", header, cqp1::Command::WELCOME, reply, timeout_ms);
  try {
    return reply.header->uint("hb").value_or(1000);
  } catch (const cqp1::BadRequest& e) {
    throw CliFailure(kRemote, std::string("bad WELCOME from courier-proxy: ") + e.what());
  }
}

void ProxySession::bye_and_drain(int timeout_ms) {
  send_empty("BYE");
  send_empty("PING");
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  ProxyReply reply;
  while (recv(reply, ms_left(deadline, timeout_ms))) {
    if (reply.command == cqp1::Command::PONG) return;
  }
}

void ProxySession::call(std::string_view command, const msgpack::sbuffer& header, cqp1::Command expected,
                        ProxyReply& reply, int timeout_ms) {
  send(command, header);
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (!recv(reply, ms_left(deadline, timeout_ms)))
      throw no_answer("no answer to " + std::string(command), timeout_ms);
    if (reply.command == expected) return;
    if (reply.command == cqp1::Command::ERROR) throw refused(reply, std::string(command));
  }
}

CliFailure ProxySession::refused(const ProxyReply& error, const std::string& what) const {
  uint64_t code = 0;
  std::string reason;
  try {
    code = error.header->uint("code").value_or(0);
    reason = std::string(error.header->str("reason").value_or(""));
  } catch (const cqp1::BadRequest&) {
  }
  return CliFailure(kRemote, "courier-proxy refused " + what + ": " + std::to_string(code) + " " +
                                 error_meaning(static_cast<int>(code)) + (reason.empty() ? "" : " (" + reason + ")"));
}

CliFailure ProxySession::no_answer(const std::string& what, int waited_ms) {
  socket_.set(zmq::sockopt::linger, 0);
  return CliFailure(kTimeout, what + " from courier-proxy at " + endpoint_ + " within " +
                                  seconds_text(waited_ms / 1000.0) +
                                  " s; is it running (courier-proxy --listen " + endpoint_ +
                                  ")? Use --proxy EP for another endpoint, --timeout S to wait longer");
}

int64_t ProxySession::ms_since_send() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_send_).count();
}

int64_t ProxySession::ms_since_recv() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last_recv_).count();
}


}  // namespace courier::cli
