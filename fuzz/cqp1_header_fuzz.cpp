// fuzz/cqp1_header_fuzz.cpp — CQP1 header maps and command names (§3) as a
// hostile client or a broken proxy would send them.
//
// Input: [1 byte command-name length n][n bytes command name][header frame].
// Properties, beyond "no crash, no leak, no UB":
//  - a header the client limits accept is accepted by the (looser) proxy
//    limits too, with the same map;
//  - packing the parsed map again and parsing that gives an equal map
//    (the parser neither invents nor loses anything);
//  - each typed getter succeeds exactly when the value has its type, and
//    returns that value; need_queue() returns only valid queue names;
//  - a known command name maps back to itself.
#include "fuzz_check.hpp"
#include "protocol/cqp1.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using courier::cqp1::BadRequest;
using courier::cqp1::HeaderView;
namespace cqp1 = courier::cqp1;

// Independent of cqp1::valid_utf8: the table of well-formed byte sequences
// (Unicode 15, table 3-7), so the two must agree on every input.
bool reference_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0, n = s.size();
  auto in = [&](std::size_t k, unsigned lo, unsigned hi) { return i + k < n && p[i + k] >= lo && p[i + k] <= hi; };
  while (i < n) {
    const unsigned c = p[i];
    if (c <= 0x7f) { i += 1; continue; }
    if (c >= 0xc2 && c <= 0xdf && in(1, 0x80, 0xbf)) { i += 2; continue; }
    if (c == 0xe0 && in(1, 0xa0, 0xbf) && in(2, 0x80, 0xbf)) { i += 3; continue; }
    if (((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) && in(1, 0x80, 0xbf) && in(2, 0x80, 0xbf)) { i += 3; continue; }
    if (c == 0xed && in(1, 0x80, 0x9f) && in(2, 0x80, 0xbf)) { i += 3; continue; }
    if (c == 0xf0 && in(1, 0x90, 0xbf) && in(2, 0x80, 0xbf) && in(3, 0x80, 0xbf)) { i += 4; continue; }
    if (c >= 0xf1 && c <= 0xf3 && in(1, 0x80, 0xbf) && in(2, 0x80, 0xbf) && in(3, 0x80, 0xbf)) { i += 4; continue; }
    if (c == 0xf4 && in(1, 0x80, 0x8f) && in(2, 0x80, 0xbf) && in(3, 0x80, 0xbf)) { i += 4; continue; }
    return false;
  }
  return true;
}

template <class F>
bool throws_bad_request(F&& f) {
  try {
    f();
    return false;
  } catch (const BadRequest&) {
    return true;
  }
}

// Every getter on one key, against what the raw value says it must return.
void check_getters(const HeaderView& h, std::string_view key) {
  FUZZ_CHECK(h.find(key) != nullptr, "find() misses a key the map holds");
  // find() returns the first entry of a repeated key: compare with that one.
  const msgpack::object& first = *h.find(key);

  const bool is_uint = first.type == msgpack::type::POSITIVE_INTEGER;
  if (is_uint) {
    FUZZ_CHECK(h.uint(key) == first.via.u64, "uint() changed the value");
  } else {
    FUZZ_CHECK(throws_bad_request([&] { (void)h.uint(key); }), "uint() took a non-uint");
  }

  const bool is_str = first.type == msgpack::type::STR;
  const std::string_view text = is_str ? std::string_view(first.via.str.ptr, first.via.str.size) : "";
  FUZZ_CHECK(!is_str || cqp1::valid_utf8(text) == reference_utf8(text), "valid_utf8 disagrees with table 3-7");
  if (is_str && reference_utf8(text)) {
    FUZZ_CHECK(h.str(key) == text, "str() changed the value");
  } else {
    FUZZ_CHECK(throws_bad_request([&] { (void)h.str(key); }), "str() took a non-string or bad UTF-8");
  }

  if (first.type == msgpack::type::BOOLEAN) {
    FUZZ_CHECK(h.boolean(key) == first.via.boolean, "boolean() changed the value");
  } else {
    FUZZ_CHECK(throws_bad_request([&] { (void)h.boolean(key); }), "boolean() took a non-bool");
  }

  try {
    const auto id = h.producer_id(key);
    FUZZ_CHECK(id && id->bytes.size() <= cqp1::kMaxProducerId, "producer_id() too long");
    FUZZ_CHECK(id->binary == (first.type == msgpack::type::BIN), "producer_id() lost its msgpack type");
    FUZZ_CHECK(id->binary || reference_utf8(id->bytes), "producer_id() took bad UTF-8");
  } catch (const BadRequest&) {
  }

  if (first.type == msgpack::type::ARRAY) {
    const auto* a = h.array(key);
    FUZZ_CHECK(a != nullptr && a->size == first.via.array.size, "array() lost the array");
    for (uint32_t i = 0; i < a->size; ++i) {
      try {
        FUZZ_CHECK(cqp1::as_uint(a->ptr[i], "e") == a->ptr[i].via.u64, "as_uint changed the value");
      } catch (const BadRequest&) {
        FUZZ_CHECK(a->ptr[i].type != msgpack::type::POSITIVE_INTEGER, "as_uint refused a uint");
      }
      try {
        (void)cqp1::as_producer_id(a->ptr[i], "e");
      } catch (const BadRequest&) {
      }
    }
  } else {
    FUZZ_CHECK(throws_bad_request([&] { (void)h.array(key); }), "array() took a non-array");
  }
}

// Structural equality of two parsed objects. msgpack's own operator== calls
// memcmp with the null pointer an empty str may carry (undefined behaviour
// that UBSan stops on), so the harness compares by hand.
bool same(const msgpack::object& a, const msgpack::object& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case msgpack::type::NIL: return true;
    case msgpack::type::BOOLEAN: return a.via.boolean == b.via.boolean;
    case msgpack::type::POSITIVE_INTEGER: return a.via.u64 == b.via.u64;
    case msgpack::type::NEGATIVE_INTEGER: return a.via.i64 == b.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return std::memcmp(&a.via.f64, &b.via.f64, sizeof(double)) == 0;
    case msgpack::type::STR:
      return std::string_view(a.via.str.ptr, a.via.str.size) == std::string_view(b.via.str.ptr, b.via.str.size);
    case msgpack::type::BIN:
      return std::string_view(a.via.bin.ptr, a.via.bin.size) == std::string_view(b.via.bin.ptr, b.via.bin.size);
    case msgpack::type::EXT:
      return std::string_view(a.via.ext.ptr, a.via.ext.size + 1) == std::string_view(b.via.ext.ptr, b.via.ext.size + 1);
    case msgpack::type::ARRAY:
      if (a.via.array.size != b.via.array.size) return false;
      for (uint32_t i = 0; i < a.via.array.size; ++i) {
        if (!same(a.via.array.ptr[i], b.via.array.ptr[i])) return false;
      }
      return true;
    case msgpack::type::MAP:
      if (a.via.map.size != b.via.map.size) return false;
      for (uint32_t i = 0; i < a.via.map.size; ++i) {
        if (!same(a.via.map.ptr[i].key, b.via.map.ptr[i].key) || !same(a.via.map.ptr[i].val, b.via.map.ptr[i].val)) {
          return false;
        }
      }
      return true;
  }
  return false;
}

// msgpack-c packs an integral float as an integer (1.0 -> 1): a header with
// floats does not re-encode to itself, so the re-encoding check skips those.
bool has_float(const msgpack::object& o) {
  if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64) return true;
  if (o.type == msgpack::type::ARRAY) {
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
      if (has_float(o.via.array.ptr[i])) return true;
    }
  }
  if (o.type == msgpack::type::MAP) {
    for (uint32_t i = 0; i < o.via.map.size; ++i) {
      if (has_float(o.via.map.ptr[i].key) || has_float(o.via.map.ptr[i].val)) return true;
    }
  }
  return false;
}

// Re-encoding: msgpack packs each value in its smallest form, so the result
// is never longer and must parse back to the same map.
void check_reencoding(const HeaderView& h, std::size_t frame_size) {
  msgpack::object whole;
  whole.type = msgpack::type::MAP;
  whole.via.map = h.map();
  if (has_float(whole)) return;
  msgpack::sbuffer again;
  msgpack::pack(again, whole);
  FUZZ_CHECK(again.size() <= frame_size, "re-encoding grew from %zu to %zu bytes", frame_size, again.size());
  msgpack::zone zone2;
  const HeaderView h2 = HeaderView::parse(again.data(), again.size(), zone2, HeaderView::From::client);
  msgpack::object whole2;
  whole2.type = msgpack::type::MAP;
  whole2.via.map = h2.map();
  FUZZ_CHECK(same(whole, whole2), "re-encoded header parses to a different map");
}

void check_command_name(std::string_view name) {
  const cqp1::Command c = cqp1::parse_command(name);
  if (c != cqp1::Command::UNKNOWN) {
    FUZZ_CHECK(cqp1::command_name(c) == name, "command name does not map back");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t name_size = std::min<std::size_t>(data[0], size - 1);
  check_command_name(std::string_view(reinterpret_cast<const char*>(data + 1), name_size));
  const uint8_t* frame = data + 1 + name_size;
  const std::size_t frame_size = size - 1 - name_size;

  msgpack::zone client_zone, proxy_zone;
  bool client_ok = false;
  try {
    const HeaderView h = HeaderView::parse(frame, frame_size, client_zone, HeaderView::From::client);
    client_ok = true;
    for (uint32_t i = 0; i < h.map().size; ++i) {
      const auto& kv = h.map().ptr[i];
      FUZZ_CHECK(kv.key.type == msgpack::type::STR, "parse() let a non-string key through");
      check_getters(h, std::string_view(kv.key.via.str.ptr, kv.key.via.str.size));
    }
    try {
      const std::string_view q = h.need_queue();
      FUZZ_CHECK(cqp1::valid_queue_name(q), "need_queue() returned an invalid name");
    } catch (const BadRequest&) {
    }

    check_reencoding(h, frame_size);
  } catch (const BadRequest&) {
  }

  try {
    const HeaderView p = HeaderView::parse(frame, frame_size, proxy_zone, HeaderView::From::proxy);
    if (client_ok) {
      msgpack::zone z;
      const HeaderView c = HeaderView::parse(frame, frame_size, z, HeaderView::From::client);
      FUZZ_CHECK(c.map().size == p.map().size, "client and proxy limits parse different maps");
    }
  } catch (const BadRequest&) {
    FUZZ_CHECK(!client_ok, "the proxy limits refused what the client limits accepted");
  }
  return 0;
}
