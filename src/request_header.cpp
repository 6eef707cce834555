// src/request_header.cpp — see request_header.hpp.
#include "request_header.hpp"

#include <courier/codec.hpp>
#include <courier/errors.hpp>

#include <limits>
#include <string>

namespace courier::detail {

namespace {

std::string header_type_name() { return "a §2 header map"; }

bool key_is(const msgpack::object& k, std::string_view name) {
  return k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == name;
}

}  // namespace

Header parse_header(msgpack::zone& zone, const zmq::message_t& frame) {
  Header h;
  msgpack::object obj;
  try {
    obj = unpack_one(zone, frame.data(), frame.size(), &header_type_name);
  } catch (const DecodeError&) {
    return h;
  }
  if (obj.type != msgpack::type::MAP) return h;
  h.is_map = true;
  for (std::uint32_t i = 0; i < obj.via.map.size; ++i) {
    const msgpack::object& k = obj.via.map.ptr[i].key;
    const msgpack::object& v = obj.via.map.ptr[i].val;
    if (key_is(k, "id")) {
      if (v.type == msgpack::type::POSITIVE_INTEGER) h.id = v.via.u64;
    } else if (key_is(k, "deadline")) {
      if (v.type == msgpack::type::POSITIVE_INTEGER) h.deadline = v.via.u64;
      // A float deadline at or past 2^64 ms (1e300, inf) saturates: converting
      // it to an integer would be undefined behaviour (found by fuzzing).
      if (v.type == msgpack::type::FLOAT64 && v.via.f64 > 0) {
        h.deadline = v.via.f64 < 18446744073709551616.0 ? static_cast<std::uint64_t>(v.via.f64)
                                                        : std::numeric_limits<std::uint64_t>::max();
      }
    } else if (key_is(k, "ok")) {
      if (v.type == msgpack::type::BOOLEAN) h.ok = v.via.boolean;
    } else if (key_is(k, "error")) {
      if (v.type == msgpack::type::STR) h.error = std::string_view(v.via.str.ptr, v.via.str.size);
    }
  }
  return h;
}

}  // namespace courier::detail
