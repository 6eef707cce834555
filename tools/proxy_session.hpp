// tools/proxy_session.hpp — one CQP1 conversation with courier-proxy
// (PROTOCOL.md §3) for the CLI: a DEALER, frames built and parsed by the one
// CQP1 unit (src/protocol/cqp1.hpp), bounded waits everywhere.
//
// Not a client library: no reconnects, no resends. A command that gets no
// answer in time fails with exit status 2; an ERROR from the proxy, or a
// message that breaks CQP1, with exit status 3. One thread; the session owns
// its socket and closes it with a bounded linger (2 s, or 0 after a failure,
// so a dead proxy never holds the exit up).
#pragma once

#include "cli_common.hpp"
#include "proxy_options.hpp"
#include "json_msgpack.hpp"
#include "protocol/cqp1.hpp"

#include <msgpack.hpp>
#include <zmq.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace courier::cli {


// One message from the proxy. Valid until the next recv() into it.
struct ProxyReply {
  cqp1::Command command = cqp1::Command::UNKNOWN;
  std::vector<zmq::message_t> frames;     // [CQP1][COMMAND][header][body...]
  msgpack::zone zone;                     // backs `header`
  std::optional<cqp1::HeaderView> header;

  // The body frame (frame 4), or nullptr when there is none.
  const zmq::message_t* body() const { return frames.size() > 3 ? &frames[3] : nullptr; }
  // The header as a JSON object (for --json output).
  json header_json() const;
};

class ProxySession {
 public:
  // Connects a DEALER to `endpoint` (nothing is sent yet).
  // Throws: CliFailure(1) for an endpoint ZeroMQ refuses.
  ProxySession(zmq::context_t& context, std::string endpoint);
  ~ProxySession();
  ProxySession(const ProxySession&) = delete;
  ProxySession& operator=(const ProxySession&) = delete;

  // HELLO, then waits for WELCOME. Returns: the proxy's heartbeat in ms.
  // Throws: CliFailure(2) when no WELCOME within `timeout_ms`, (3) on ERROR.
  uint64_t hello(const std::string& name, int timeout_ms);

  // Sends [CQP1][command][header][body?]. `header` holds one packed map.
  void send(std::string_view command, const msgpack::sbuffer& header, const std::string* body = nullptr);
  // Sends a command whose header is the empty map (PING, BYE).
  void send_empty(std::string_view command);

  // Receives one message into `reply`, waiting at most `timeout_ms`.
  // Returns: false on timeout. Throws: CliFailure(3) when it breaks CQP1.
  bool recv(ProxyReply& reply, int timeout_ms);

  // Says BYE, then PINGs and waits (at most `timeout_ms`) for the PONG: the
  // proxy handles one peer's commands in order, so once the PONG is here
  // every ACK sent before has been applied. Closing right after an ACK
  // instead lets the proxy find the peer gone first and requeue what that
  // ACK settles (see the report in docs/CLI.md, "consume").
  void bye_and_drain(int timeout_ms);

  // Sends `command` and waits for the answer `expected` (other messages are
  // skipped). Throws: CliFailure(2) on timeout, (3) on an ERROR answer.
  void call(std::string_view command, const msgpack::sbuffer& header, cqp1::Command expected,
            ProxyReply& reply, int timeout_ms);

  // Turns an ERROR reply into the CliFailure(3) to throw, naming `what`.
  CliFailure refused(const ProxyReply& error, const std::string& what) const;
  // The exit-2 failure for "no answer"; also drops the linger to 0.
  CliFailure no_answer(const std::string& what, int waited_ms);

  const std::string& endpoint() const noexcept { return endpoint_; }
  // Milliseconds since this session last sent / received anything.
  int64_t ms_since_send() const;
  int64_t ms_since_recv() const;

 private:
  std::string endpoint_;
  zmq::socket_t socket_;
  Clock::time_point last_send_;
  Clock::time_point last_recv_;
};


}  // namespace courier::cli
