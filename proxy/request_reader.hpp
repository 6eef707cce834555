// proxy/request_reader.hpp — one received message, checked and decoded into a
// client request, or refused with the ERROR it must be answered with.
//
// What every command shares is checked here, before any state is looked at
// (PROTOCOL.md §3): the frame count, the CQP1 magic, a client command name, a
// header that is one msgpack map, and no body frame on a command that takes
// none. What a command's own keys must hold is checked by the command itself
// (commands.cpp, put.cpp), which throws cqp1::BadRequest saying what is
// wrong; ClientRequest::refused() turns that into the refusal, so every
// ERROR 400 the proxy sends is shaped in this file.
// Single-threaded, like all proxy state.
#pragma once

#include "protocol/cqp1.hpp"

#include <zmq.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace courier::proxy {

// `bytes` with anything but printable ASCII written as \xNN, for error texts
// that echo what a peer sent.
std::string printable(std::string_view bytes);

// Why a message is not acted on: answered with ERROR {code, reason, tag?}.
struct Refusal {
  int code = cqp1::kBadRequest;
  std::string reason;
  std::optional<uint64_t> tag;  // a PUT's, so the producer can match it
};

// A message that passed the checks shared by every command. Not called
// Request, so that it never shadows the public courier::Request.
// Lifetime: `name` and `header` point into the frames and into the reader's
// zone: valid while the frames live and until the reader's next read().
struct ClientRequest {
  cqp1::Command command;
  std::string_view name;  // as sent, to prefix error texts
  cqp1::HeaderView header;
  std::optional<uint64_t> tag;  // PUT's "tag", when it is a uint

  // The refusal for a fault its command found while acting on it:
  // "NAME: what the fault says", the tag echoed.
  Refusal refused(const cqp1::BadRequest& fault) const;
  // A header value msgpack could not convert to the type asked for.
  Refusal refused(const msgpack::type_error& fault) const;
};

// What read() made of a message: who sent it, and either the request or why
// it is refused. Every message has a sender, refused or not: the proxy
// answers it and counts it as heard from.
struct ReadMessage {
  std::string peer;  // ROUTER routing id (frames[0]), built once per message
  std::variant<ClientRequest, Refusal> outcome;
};

class RequestReader {
 public:
  // `frames` as ROUTER received them: frames[0] is the routing id (always
  // there), then [CQP1][COMMAND][header map][body...]. Never throws for bad
  // input: that is a Refusal. The header's msgpack zone is reused from one
  // message to the next (cleared here), so the previous result's header is
  // no longer valid.
  ReadMessage read(const std::vector<zmq::message_t>& frames) {
    return ReadMessage{std::string(static_cast<const char*>(frames[0].data()), frames[0].size()), decode(frames)};
  }

 private:
  // Defined here so that it inlines into the loop's per-message path; the
  // refusals, rare, are built out of line (request_reader.cpp).
  std::variant<ClientRequest, Refusal> decode(const std::vector<zmq::message_t>& frames);

  static Refusal too_few_frames(std::size_t frames);
  static Refusal not_cqp1();
  static Refusal unknown_command(std::string_view name);
  static Refusal bad_header(std::string_view name, const cqp1::BadRequest& fault);
  static Refusal body_not_taken(std::string_view name, std::size_t bodies);

  msgpack::zone zone_;
};

// The checks in the order PROTOCOL.md §3 states them; the first that fails
// is the one reported.
inline std::variant<ClientRequest, Refusal> RequestReader::decode(const std::vector<zmq::message_t>& frames) {
  if (frames.size() < 4) return too_few_frames(frames.size() - 1);
  if (frames[1].to_string_view() != cqp1::kMagic) return not_cqp1();
  const std::string_view name = frames[2].to_string_view();
  const cqp1::Command command = cqp1::parse_command(name);
  if (command >= cqp1::Command::WELCOME) return unknown_command(name);  // a reply's name, or none at all
  zone_.clear();  // the previous message's header goes here
  std::optional<cqp1::HeaderView> header;
  try {
    header = cqp1::HeaderView::parse(frames[3].data(), frames[3].size(), zone_);
  } catch (const cqp1::BadRequest& e) {
    return bad_header(name, e);
  }
  std::optional<uint64_t> tag;
  if (command == cqp1::Command::PUT) {
    // Read before anything else of the PUT, so that every refusal of it,
    // here or in put.cpp, can name the PUT it refuses.
    const msgpack::object* t = header->find(cqp1::key::tag);
    if (t && t->type == msgpack::type::POSITIVE_INTEGER) tag = t->via.u64;
  } else if (frames.size() != 4) {
    return body_not_taken(name, frames.size() - 4);
  }
  return ClientRequest{command, name, *header, tag};
}

}  // namespace courier::proxy
