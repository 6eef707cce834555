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
}  // namespace

Refusal RequestReader::too_few_frames(std::size_t frames) {
  return bad_request("expected frames [CQP1][COMMAND][header map][body...], got " + std::to_string(frames) +
                     " frame(s)");
}

Refusal RequestReader::not_cqp1() { return bad_request("first frame must be the 4 bytes CQP1"); }

Refusal RequestReader::unknown_command(std::string_view name) {
  return bad_request("unknown command '" + printable(name.substr(0, 32)) +
                     "' (HELLO PUT CONSUME ACK NACK TOUCH CREDIT CANCEL DECLARE STATS PURGE DELETE PING BYE)");
}

// No tag even for a PUT: the header that would hold it could not be read.
Refusal RequestReader::bad_header(std::string_view name, const cqp1::BadRequest& fault) {
  return bad_request(std::string(name) + ": " + fault.what());
}

Refusal RequestReader::body_not_taken(std::string_view name, std::size_t bodies) {
  return bad_request(std::string(name) + ": takes no body frame, got " + std::to_string(bodies));
}

}  // namespace courier::proxy
