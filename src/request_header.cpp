// src/request_header.cpp — see request_header.hpp.
#include "request_header.hpp"

#include <courier/codec.hpp>
#include <courier/errors.hpp>

#include <cstring>
#include <limits>
#include <optional>
#include <string>

namespace courier::detail {

namespace {

std::string header_type_name() { return "a §2 header map"; }

// A float deadline at or past 2^64 ms (1e300, inf) saturates: converting it
// to an integer would be undefined behaviour (found by fuzzing). NaN is not
// > 0, so it never gets here.
std::uint64_t deadline_from_float(double ms) {
  return ms < 18446744073709551616.0 ? static_cast<std::uint64_t>(ms)
                                     : std::numeric_limits<std::uint64_t>::max();
}

bool key_is(const msgpack::object& k, std::string_view name) {
  return k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == name;
}

// The headers courier itself sends — a fixmap of fixstr keys with unsigned
// integer, bool, nil, short string or float64 values, e.g. {"id": 7,
// "ok": true} — read straight from the bytes, without building msgpack
// objects in a zone (~1000 instructions per message on both sides of a
// request). Returns false, having decided nothing, for anything else: the
// general parse below then reads it, so both give the same Header
// (fuzz/request_header_fuzz checks every input against msgpack's reading).
bool parse_simple(const unsigned char* p, std::size_t size, Header& h) {
  if (size == 0 || (p[0] & 0xf0u) != 0x80u) return false;
  const unsigned entries = p[0] & 0x0fu;
  std::size_t i = 1;
  auto be = [&](std::size_t n) {  // big-endian unsigned of n bytes at p + i
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v = (v << 8) | p[i + k];
    i += n;
    return v;
  };
  Header out;
  out.is_map = true;
  for (unsigned e = 0; e < entries; ++e) {
    if (i >= size || (p[i] & 0xe0u) != 0xa0u) return false;  // key: fixstr only
    const std::size_t klen = p[i] & 0x1fu;
    if (size - i - 1 < klen + 1) return false;  // the key and at least the value's type byte
    const std::string_view key(reinterpret_cast<const char*>(p + i + 1), klen);
    i += 1 + klen;
    const unsigned char t = p[i++];
    std::optional<std::uint64_t> uint;
    std::optional<bool> boolean;
    std::optional<std::string_view> str;
    std::optional<double> f64;
    if (t <= 0x7fu) {
      uint = t;
    } else if (t >= 0xcc && t <= 0xcf) {
      const std::size_t n = std::size_t{1} << (t - 0xcc);
      if (size - i < n) return false;
      uint = be(n);
    } else if (t == 0xc2 || t == 0xc3) {
      boolean = t == 0xc3;
    } else if (t == 0xc0 || t >= 0xe0) {
      // nil, negative fixint: no field takes them
    } else if ((t & 0xe0u) == 0xa0u || t == 0xd9) {
      std::size_t n = t & 0x1fu;
      if (t == 0xd9) {
        if (size - i < 1) return false;
        n = be(1);
      }
      if (size - i < n) return false;
      str = std::string_view(reinterpret_cast<const char*>(p + i), n);
      i += n;
    } else if (t == 0xcb) {
      if (size - i < 8) return false;
      const std::uint64_t bits = be(8);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      f64 = d;
    } else {
      return false;  // any other type: the general parse decides
    }
    if (key == "id") {
      if (uint) out.id = uint;
    } else if (key == "deadline") {
      if (uint) out.deadline = uint;
      if (f64 && *f64 > 0) out.deadline = deadline_from_float(*f64);
    } else if (key == "ok") {
      if (boolean) out.ok = boolean;
    } else if (key == "error") {
      if (str) out.error = str;
    }
  }
  if (i != size) return false;  // trailing bytes: not one object
  h = out;
  return true;
}

}  // namespace

Header parse_header(msgpack::zone& zone, const zmq::message_t& frame) {
  Header h;
  if (parse_simple(static_cast<const unsigned char*>(frame.data()), frame.size(), h)) return h;
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
      if (v.type == msgpack::type::FLOAT64 && v.via.f64 > 0) h.deadline = deadline_from_float(v.via.f64);
    } else if (key_is(k, "ok")) {
      if (v.type == msgpack::type::BOOLEAN) h.ok = v.via.boolean;
    } else if (key_is(k, "error")) {
      if (v.type == msgpack::type::STR) h.error = std::string_view(v.via.str.ptr, v.via.str.size);
    }
  }
  return h;
}

}  // namespace courier::detail
