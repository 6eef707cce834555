// src/request_header.hpp — the §2 request/reply header map, parsed (private).
//
// Client and Server read every header frame through this one function. It is
// a private header (never installed) only so that fuzz/request_header_fuzz.cpp
// can feed it bytes directly; request.cpp is its sole library user.
// Thread-safety: reentrant; the result's strings point into the frame.
#pragma once

#include <msgpack.hpp>
#include <zmq.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace courier::detail {

// The header keys courier understands; any other key is ignored (§2: unknown
// keys MUST be ignored). Strings point into the header frame.
struct Header {
  bool is_map = false;
  std::optional<std::uint64_t> id;
  std::optional<std::uint64_t> deadline;
  std::optional<bool> ok;
  std::optional<std::string_view> error;
};

// Never throws for bad bytes: a frame that is not exactly one msgpack map
// gives is_map == false, a known key with an unusable value is left unset.
// Allocates nothing per element (msgpack's visitor parser, no zone).
Header parse_header(const zmq::message_t& frame);

}  // namespace courier::detail
