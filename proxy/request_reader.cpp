#include "request_reader.hpp"

namespace courier::proxy {

// Peer-supplied bytes echoed in an ERROR reason must stay valid UTF-8 (the
// reason is a msgpack str): anything but printable ASCII becomes \xNN.
std::string printable(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : bytes) {
    if (ch >= 0x20 && ch < 0x7f) {
      out.push_back(static_cast<char>(ch));
    } else {
      out += "\\x";
      out.push_back(hex[ch >> 4]);
      out.push_back(hex[ch & 15]);
    }
  }
  return out;
}

Refusal ClientRequest::refused(const cqp1::BadRequest& fault) const {
  return Refusal{cqp1::kBadRequest, std::string(name) + ": " + fault.what(), tag};
}

Refusal ClientRequest::refused(const msgpack::type_error&) const {
  return Refusal{cqp1::kBadRequest, std::string(name) + ": a header value has the wrong type", tag};
}

namespace {

Refusal bad_request(std::string reason) { return Refusal{cqp1::kBadRequest, std::move(reason), std::nullopt}; }

// The checks in the order PROTOCOL.md §3 states them; the first that fails
// is the one reported. `frames` holds the routing id first.
std::variant<ClientRequest, Refusal> decode(const std::vector<zmq::message_t>& frames, msgpack::zone& zone) {
  if (frames.size() < 4) {
    return bad_request("expected frames [CQP1][COMMAND][header map][body...], got " +
                       std::to_string(frames.size() - 1) + " frame(s)");
  }
  if (frames[1].to_string_view() != cqp1::kMagic) return bad_request("first frame must be the 4 bytes CQP1");
  const std::string_view name = frames[2].to_string_view();
  const cqp1::Command command = cqp1::parse_command(name);
  if (command >= cqp1::Command::WELCOME) {  // a reply's name, or none at all
    return bad_request("unknown command '" + printable(name.substr(0, 32)) +
                       "' (HELLO PUT CONSUME ACK NACK TOUCH CREDIT CANCEL DECLARE STATS PURGE DELETE PING BYE)");
  }
  zone.clear();  // the previous message's header goes here
  std::optional<cqp1::HeaderView> header;
  try {
    header = cqp1::HeaderView::parse(frames[3].data(), frames[3].size(), zone);
  } catch (const cqp1::BadRequest& e) {
    return bad_request(std::string(name) + ": " + e.what());
  }
  std::optional<uint64_t> tag;
  if (command == cqp1::Command::PUT) {
    // Read before anything else of the PUT, so that every refusal of it,
    // here or in put.cpp, can name the PUT it refuses.
    const msgpack::object* t = header->find(cqp1::key::tag);
    if (t && t->type == msgpack::type::POSITIVE_INTEGER) tag = t->via.u64;
  } else if (frames.size() != 4) {
    return bad_request(std::string(name) + ": takes no body frame, got " + std::to_string(frames.size() - 4));
  }
  return ClientRequest{command, name, *header, tag};
}

}  // namespace

ReadMessage RequestReader::read(const std::vector<zmq::message_t>& frames) {
  return ReadMessage{std::string(static_cast<const char*>(frames[0].data()), frames[0].size()),
                     decode(frames, zone_)};
}

}  // namespace courier::proxy
