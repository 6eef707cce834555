#include <courier/codec.hpp>

#include <cxxabi.h>

#include <cstdio>
#include <memory>

namespace courier::detail {
namespace {

// Strings, bins and exts point into the frame instead of being copied into
// the zone: the frame outlives the conversion, which copies what it keeps.
bool reference_frame(msgpack::type::object_type, std::size_t, void*) { return true; }

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
    s.replace(pos, from.size(), to);
  }
}

void append_quoted(std::string& out, const char* p, std::size_t n) {
  constexpr std::size_t kMax = 40;
  out += '"';
  for (std::size_t i = 0; i < n && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (n > kMax) out += "...";
  out += '"';
}

// One level: scalars in full, containers by kind and size only.
void describe_shallow(std::string& out, const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL: out += "nil"; break;
    case msgpack::type::BOOLEAN: out += o.via.boolean ? "bool true" : "bool false"; break;
    case msgpack::type::POSITIVE_INTEGER: out += "int " + std::to_string(o.via.u64); break;
    case msgpack::type::NEGATIVE_INTEGER: out += "int " + std::to_string(o.via.i64); break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "float %g", o.via.f64);
      out += buf;
      break;
    }
    case msgpack::type::STR:
      out += "str ";
      append_quoted(out, o.via.str.ptr, o.via.str.size);
      break;
    case msgpack::type::BIN: out += "bin of " + std::to_string(o.via.bin.size) + " bytes"; break;
    case msgpack::type::EXT:
      out += "ext type " + std::to_string(static_cast<int>(o.via.ext.type())) + " of " +
             std::to_string(o.via.ext.size) + " bytes";
      break;
    case msgpack::type::ARRAY: out += "array of " + std::to_string(o.via.array.size); break;
    case msgpack::type::MAP: out += "map of " + std::to_string(o.via.map.size); break;
  }
}

// msgpack allocates a container's elements when it reads the header, and the
// per-header limit in unpack_one only bounds each header by the frame:
// nested headers could still promise depth x frame size elements together
// (a 1 MiB frame of nested array32 headers: gigabytes). This walk refuses a
// frame whose open containers promise, together, more elements than the
// bytes left can hold (each element takes at least one byte), before msgpack
// allocates anything. It returns true for a truncated frame: msgpack reports
// that itself.
bool promises_fit(const unsigned char* p, std::size_t size) {
  std::size_t i = 0;
  uint64_t promised = 1;  // the top-level object
  auto be = [&](std::size_t n) {
    uint64_t v = 0;
    for (std::size_t k = 0; k < n; ++k) v = (v << 8) | p[i + k];
    i += n;
    return v;
  };
  while (i < size && promised > 0) {
    if (promised > size - i) return false;
    const unsigned char b = p[i++];
    --promised;
    uint64_t elements = 0, skip = 0;
    std::size_t len_bytes = 0;  // a length field that follows the type byte
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3)) {
      // fixint, nil, never-used, false, true: nothing follows
    } else if (b <= 0x8f) {
      elements = 2 * (b & 0x0fu);
    } else if (b <= 0x9f) {
      elements = b & 0x0fu;
    } else if (b <= 0xbf) {
      skip = b & 0x1fu;
    } else {
      switch (b) {
        case 0xc4: case 0xd9: len_bytes = 1; break;               // bin8, str8
        case 0xc5: case 0xda: len_bytes = 2; break;               // bin16, str16
        case 0xc6: case 0xdb: len_bytes = 4; break;               // bin32, str32
        case 0xc7: len_bytes = 1; skip = 1; break;                // ext8/16/32: + type
        case 0xc8: len_bytes = 2; skip = 1; break;
        case 0xc9: len_bytes = 4; skip = 1; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;         // float32, (u)int32
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;         // float64, (u)int64
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xd4: skip = 2; break;                               // fixext1..16: type + data
        case 0xd5: skip = 3; break;
        case 0xd6: skip = 5; break;
        case 0xd7: skip = 9; break;
        case 0xd8: skip = 17; break;
        default: {                                                // array16/32, map16/32
          const std::size_t n = (b == 0xdc || b == 0xde) ? 2 : 4;
          if (size - i < n) return true;
          elements = be(n) * (b >= 0xde ? 2 : 1);
          break;
        }
      }
    }
    if (len_bytes != 0) {
      if (size - i < len_bytes) return true;
      skip += be(len_bytes);
    }
    if (skip > size - i) return true;
    i += skip;
    promised += elements;
  }
  return true;
}

}  // namespace

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                             std::free);
  std::string name = (status == 0 && out) ? out.get() : mangled;
  replace_all(name, "std::__cxx11::", "std::");
  replace_all(name, "std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
              "std::string");
  return name;
}

msgpack::zone& decode_zone() noexcept {
  thread_local msgpack::zone zone;
  return zone;
}

msgpack::object unpack_one(msgpack::zone& zone, const void* data, std::size_t size,
                           std::string (*expected)()) {
  zone.clear();
  if (size == 0) throw DecodeError(expected(), "an empty frame (0 bytes, not a msgpack object)");
  const char* p = static_cast<const char*>(data);
  // Every element takes at least one byte, so no header may declare more
  // elements than the frame has bytes: a lying header is refused before
  // msgpack allocates room for it.
  const msgpack::unpack_limit limit(size, size / 2, size, size, size, kMaxNesting);
  std::size_t off = 0;
  bool referenced = false;
  msgpack::object obj;
  // Built only on the error paths: the hot path allocates nothing here.
  auto frame_of = [size] { return std::to_string(size) + "-byte frame"; };
  // Small frames cannot promise much even nested; the walk is for the rest.
  if (size > 1024 && !promises_fit(reinterpret_cast<const unsigned char*>(p), size)) {
    throw DecodeError(expected(), "truncated msgpack (nested headers declare more elements than the " +
                                      frame_of() + " holds)");
  }
  try {
    obj = msgpack::unpack(zone, p, size, off, referenced, &reference_frame, nullptr, limit);
  } catch (const msgpack::insufficient_bytes&) {
    const std::string frame = frame_of();
    throw DecodeError(expected(), "truncated msgpack (the " + frame + " ends inside an object)");
  } catch (const msgpack::depth_size_overflow&) {
    const std::string frame = frame_of();
    throw DecodeError(expected(), "msgpack nested deeper than " + std::to_string(kMaxNesting) +
                                      " levels (" + frame + ")");
  } catch (const msgpack::size_overflow&) {
    const std::string frame = frame_of();
    throw DecodeError(expected(), "truncated msgpack (a header declares more elements than the " +
                                      frame + " holds)");
  } catch (const msgpack::parse_error&) {
    const std::string frame = frame_of();
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned char>(p[0]));
    throw DecodeError(expected(), std::string("invalid msgpack (") + frame + " starting with " +
                                      buf + ")");
  } catch (const msgpack::unpack_error& e) {
    const std::string frame = frame_of();
    throw DecodeError(expected(), "invalid msgpack (" + frame + ": " + e.what() + ")");
  }
  if (off != size) {
    const std::size_t extra = size - off;
    throw DecodeError(expected(), std::to_string(extra) + (extra == 1 ? " trailing byte" : " trailing bytes") +
                                      " after " + describe(obj) +
                                      " (a frame must hold exactly one msgpack object)");
  }
  return obj;
}

std::string describe(const msgpack::object& o) {
  std::string out;
  describe_shallow(out, o);
  constexpr std::uint32_t kShown = 4;
  if (o.type == msgpack::type::ARRAY && o.via.array.size > 0) {
    out += " [";
    for (std::uint32_t i = 0; i < o.via.array.size && i < kShown; ++i) {
      if (i) out += ", ";
      describe_shallow(out, o.via.array.ptr[i]);
    }
    out += o.via.array.size > kShown ? ", ...]" : "]";
  } else if (o.type == msgpack::type::MAP && o.via.map.size > 0) {
    out += " {";
    for (std::uint32_t i = 0; i < o.via.map.size && i < kShown; ++i) {
      if (i) out += ", ";
      const auto& kv = o.via.map.ptr[i];
      if (kv.key.type == msgpack::type::STR) {
        append_quoted(out, kv.key.via.str.ptr, kv.key.via.str.size);
      } else {
        describe_shallow(out, kv.key);
      }
      out += ": ";
      describe_shallow(out, kv.val);
    }
    out += o.via.map.size > kShown ? ", ...}" : "}";
  }
  return out;
}

void throw_mismatch(const msgpack::object& obj, std::string expected) {
  throw DecodeError(std::move(expected), describe(obj));
}

}  // namespace courier::detail
