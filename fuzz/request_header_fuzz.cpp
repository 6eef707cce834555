// fuzz/request_header_fuzz.cpp — the §2 request/reply header (src/
// request_header.hpp), as a Server reads requests from anyone who connects
// and a Client reads replies.
//
// Input: one header frame.
// Properties, beyond "no crash, no leak, no UB":
//  - parse_header never throws, whatever the bytes;
//  - is_map is true exactly when the frame is one msgpack map;
//  - each field holds what the last entry of its key says when that entry
//    has a usable type (id: uint; deadline: uint or a positive float, read
//    as whole ms and saturating at 2^64-1; ok: bool; error: str), and a
//    string points inside the frame.
#include "fuzz_check.hpp"
#include "request_header.hpp"

#include <courier/codec.hpp>
#include <courier/errors.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

namespace {

using courier::detail::Header;

std::string expected() { return "a map"; }

// What the header should say, read straight from the msgpack object.
Header expected_header(const msgpack::object& obj) {
  Header h;
  h.is_map = true;
  for (const auto& kv : obj.via.map) {
    if (kv.key.type != msgpack::type::STR) continue;
    const std::string_view k(kv.key.via.str.ptr, kv.key.via.str.size);
    const msgpack::object& v = kv.val;
    if (k == "id" && v.type == msgpack::type::POSITIVE_INTEGER) h.id = v.via.u64;
    if (k == "deadline" && v.type == msgpack::type::POSITIVE_INTEGER) h.deadline = v.via.u64;
    if (k == "deadline" && v.type == msgpack::type::FLOAT64 && v.via.f64 > 0) {
      // 2^64 is exactly representable; anything at or past it saturates.
      h.deadline = v.via.f64 >= 18446744073709551616.0 ? std::numeric_limits<uint64_t>::max()
                                                       : static_cast<uint64_t>(v.via.f64);
    }
    if (k == "ok" && v.type == msgpack::type::BOOLEAN) h.ok = v.via.boolean;
    if (k == "error" && v.type == msgpack::type::STR) h.error = std::string_view(v.via.str.ptr, v.via.str.size);
  }
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const zmq::message_t frame(data, size);
  Header h;
  try {
    h = courier::detail::parse_header(frame);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "parse_header threw: %s", e.what());
  }

  // The reference: the frame unpacked into a msgpack::object, read as a map.
  msgpack::zone zone;
  msgpack::object obj;
  bool is_map = false;
  try {
    obj = courier::detail::unpack_one(zone, frame.data(), frame.size(), &expected);
    is_map = obj.type == msgpack::type::MAP;
  } catch (const courier::DecodeError&) {
  }
  FUZZ_CHECK(h.is_map == is_map, "is_map is %d for a frame that is %sa map", h.is_map, is_map ? "" : "not ");
  if (!is_map) return 0;

  const Header want = expected_header(obj);
  FUZZ_CHECK(h.id == want.id, "id differs");
  FUZZ_CHECK(h.deadline == want.deadline, "deadline differs");
  FUZZ_CHECK(h.ok == want.ok, "ok differs");
  FUZZ_CHECK(h.error.has_value() == want.error.has_value(), "error presence differs");
  if (h.error) {
    const char* begin = static_cast<const char*>(frame.data());
    FUZZ_CHECK(h.error->data() >= begin && h.error->data() + h.error->size() <= begin + frame.size(),
               "error text points outside the frame");
    FUZZ_CHECK(*h.error == *want.error, "error text differs");
  }
  return 0;
}
