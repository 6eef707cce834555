// tools/json_msgpack.cpp — see json_msgpack.hpp for the mapping.
#include "json_msgpack.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>

namespace courier::cli {

namespace {

constexpr int kMaxDepth = 512;

// --- base64 ----------------------------------------------------------------

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;  // also accept the URL-safe alphabet
  if (c == '/' || c == '_') return 63;
  return -1;
}

// --- JSON text -> JSON ------------------------------------------------------

// nlohmann's own DOM builder (the detail class json::parse uses), made to
// refuse the numbers msgpack cannot hold instead of changing them: an integer
// beyond 64 bits would silently become a float, 1e999 a bare out_of_range.
class StrictNumbers : public nlohmann::detail::json_sax_dom_parser<json> {
 public:
  using json_sax_dom_parser::json_sax_dom_parser;

  bool number_float(double value, const std::string& text) {
    if (text.find_first_of(".eE") == std::string::npos) {
      char as_float[32];
      std::snprintf(as_float, sizeof as_float, "%.17g", value);
      throw ConversionError("a number out of range: the integer " + text.substr(0, 40) +
                            " needs more than 64 bits (msgpack integers run from -2^63 to 2^64-1); "
                            "write it as a string, or as a float such as " + as_float);
    }
    return json_sax_dom_parser::number_float(value, text);
  }

  // Called with out_of_range 406 for a float past +-1.8e308 (1e999).
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    if (e.id == 406)
      throw ConversionError("a number out of range: " + token.substr(0, 40) +
                            " is beyond a float64 (at most about +-1.8e308)");
    return json_sax_dom_parser::parse_error(position, token, e);
  }
};

// --- JSON -> msgpack ---------------------------------------------------------

// msgpack-c's pack_double() writes an integral double (1.0) as an integer,
// which would turn JSON 1.0 into 1 on the wire; floats must stay floats, so
// the float64 is written by hand (0xcb + IEEE 754 big-endian). pack_str_body
// is msgpack-c's plain "append these bytes".
void pack_float64(msgpack::packer<msgpack::sbuffer>& p, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  char out[9];
  out[0] = static_cast<char>(0xcb);
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((bits >> (56 - 8 * i)) & 0xff);
  p.pack_str_body(out, sizeof out);
}

// The type of {"$ext": [type, ...]}: an integer from -128 to 127.
std::optional<int8_t> ext_type(const json& v) {
  if (v.is_number_unsigned()) {  // checked apart: get<int64_t> would wrap 2^64-1 to -1
    if (v.get<uint64_t>() <= 127) return static_cast<int8_t>(v.get<uint64_t>());
  } else if (v.is_number_integer() && v.get<int64_t>() >= -128 && v.get<int64_t>() <= 127) {
    return static_cast<int8_t>(v.get<int64_t>());
  }
  return std::nullopt;
}

// {"$bin": "..."} or {"$ext": [type, "..."]}: the escape forms of the mapping.
bool pack_escape(msgpack::packer<msgpack::sbuffer>& p, const json& v) {
  if (!v.is_object() || v.size() != 1) return false;
  const auto first = v.begin();
  const std::string& key = first.key();
  const json& inner = first.value();
  if (key == "$bin") {
    if (!inner.is_string())
      throw ConversionError("{\"$bin\": ...} needs a base64 string, e.g. {\"$bin\": \"AAEC\"}");
    const std::string bytes = base64_decode(inner.get_ref<const std::string&>());
    p.pack_bin(static_cast<uint32_t>(bytes.size()));
    p.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
    return true;
  }
  if (key == "$ext") {
    const auto type = inner.is_array() && inner.size() == 2 ? ext_type(inner[0]) : std::nullopt;
    if (!type || !inner[1].is_string())
      throw ConversionError(
          "{\"$ext\": ...} needs [type -128..127, base64 string], e.g. {\"$ext\": [1, \"AAEC\"]}");
    const std::string bytes = base64_decode(inner[1].get_ref<const std::string&>());
    p.pack_ext(bytes.size(), *type);
    p.pack_ext_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
    return true;
  }
  return false;
}

void pack_value(msgpack::packer<msgpack::sbuffer>& p, const json& v, int depth) {
  if (depth > kMaxDepth) throw ConversionError("nested deeper than 512 levels");
  switch (v.type()) {
    case json::value_t::null: p.pack_nil(); return;
    case json::value_t::boolean: v.get<bool>() ? p.pack_true() : p.pack_false(); return;
    case json::value_t::number_integer: p.pack(v.get<int64_t>()); return;
    case json::value_t::number_unsigned: p.pack(v.get<uint64_t>()); return;
    case json::value_t::number_float: pack_float64(p, v.get<double>()); return;
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      p.pack_str(static_cast<uint32_t>(s.size()));
      p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
      return;
    }
    case json::value_t::array:
      p.pack_array(static_cast<uint32_t>(v.size()));
      for (const auto& e : v) pack_value(p, e, depth + 1);
      return;
    case json::value_t::object:
      if (pack_escape(p, v)) return;
      p.pack_map(static_cast<uint32_t>(v.size()));
      for (const auto& [key, e] : v.items()) {
        p.pack_str(static_cast<uint32_t>(key.size()));
        p.pack_str_body(key.data(), static_cast<uint32_t>(key.size()));
        pack_value(p, e, depth + 1);
      }
      return;
    case json::value_t::binary: {  // not produced by the parser; kept total
      const auto& b = v.get_binary();
      p.pack_bin(static_cast<uint32_t>(b.size()));
      p.pack_bin_body(reinterpret_cast<const char*>(b.data()), static_cast<uint32_t>(b.size()));
      return;
    }
    case json::value_t::discarded: break;
  }
  throw ConversionError("a JSON value of unknown type");
}

// --- msgpack -> JSON ---------------------------------------------------------

// `in_key`: o is (inside) a map key that is not a string, printed as its JSON
// text. Such a key may not hold another one: each level escapes the quotes
// and backslashes of the one inside, doubling its length, so 40 nested
// one-entry maps (80 bytes) would print as 2^40 bytes (found by fuzzing).
json convert(const msgpack::object& o, int depth, bool in_key) {
  if (depth > kMaxDepth) throw ConversionError("msgpack nested deeper than 512 levels");
  switch (o.type) {
    case msgpack::type::NIL: return nullptr;
    case msgpack::type::BOOLEAN: return o.via.boolean;
    case msgpack::type::POSITIVE_INTEGER: return o.via.u64;
    case msgpack::type::NEGATIVE_INTEGER: return o.via.i64;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return o.via.f64;
    case msgpack::type::STR: return std::string(o.via.str.ptr, o.via.str.size);
    case msgpack::type::BIN:
      return json{{"$bin", base64_encode(o.via.bin.ptr, o.via.bin.size)}};
    case msgpack::type::EXT:
      return json{{"$ext", json::array({static_cast<int>(o.via.ext.type()),
                                        base64_encode(o.via.ext.data(), o.via.ext.size)})}};
    case msgpack::type::ARRAY: {
      json a = json::array();
      for (uint32_t i = 0; i < o.via.array.size; ++i) a.push_back(convert(o.via.array.ptr[i], depth + 1, in_key));
      return a;
    }
    case msgpack::type::MAP: {
      json m = json::object();
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        const msgpack::object_kv& kv = o.via.map.ptr[i];
        if (kv.key.type != msgpack::type::STR && in_key) {
          throw ConversionError("a map key that is not a string holds another such key: its JSON text "
                                "would grow exponentially (use --raw to print the bytes)");
        }
        std::string key = kv.key.type == msgpack::type::STR
                              ? std::string(kv.key.via.str.ptr, kv.key.via.str.size)
                              : to_line(convert(kv.key, depth + 1, true));
        m[key] = convert(kv.val, depth + 1, in_key);
      }
      return m;
    }
  }
  throw ConversionError("msgpack object of unknown type");
}

}  // namespace

json parse_json(const std::string& text) {
  json value;
  StrictNumbers builder(value);
  try {
    json::sax_parse(text, &builder);
    return value;
  } catch (const json::parse_error& e) {
    // nlohmann's text starts "[json.exception.parse_error.101] parse error at ..."
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    throw ConversionError("not JSON (" + what + ")");
  }
}

void pack_json(msgpack::packer<msgpack::sbuffer>& packer, const json& value) {
  pack_value(packer, value, 0);
}

std::string to_msgpack(const json& value) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  pack_value(packer, value, 0);
  return std::string(buffer.data(), buffer.size());
}

json from_msgpack(const msgpack::object& object) { return convert(object, 0, false); }

json decode_frame(const void* data, std::size_t size) {
  if (size == 0) throw ConversionError("empty frame, expected one msgpack object");
  std::size_t offset = 0;
  msgpack::object_handle handle;
  // Every element takes at least a byte: a header claiming more elements than
  // the frame holds is refused before msgpack allocates room for them (as
  // src/codec.cpp does). Nothing smaller bounds a message: it is data.
  const msgpack::unpack_limit limit(size, size / 2, size, size, size);
  try {
    msgpack::unpack(handle, static_cast<const char*>(data), size, offset, nullptr, nullptr, limit);
  } catch (const msgpack::insufficient_bytes&) {
    throw ConversionError("truncated msgpack (" + std::to_string(size) + " bytes)");
  } catch (const msgpack::size_overflow&) {
    throw ConversionError("truncated msgpack (a header declares more elements than the " +
                          std::to_string(size) + "-byte frame holds)");
  } catch (const std::exception& e) {
    throw ConversionError(std::string("not msgpack (") + e.what() + ")");
  }
  json value = convert(handle.get(), 0, false);
  if (offset != size)
    throw ConversionError(std::to_string(size - offset) + " trailing bytes after " +
                          to_line(value).substr(0, 60) + " (a frame must hold exactly one msgpack object)");
  return value;
}

std::string to_line(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string base64_encode(const void* data, std::size_t size) {
  const auto* in = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < size; i += 3) {
    const uint32_t n = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8) | in[i + 2];
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == size) {
    const uint32_t n = uint32_t(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == size) {
    const uint32_t n = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64_decode(const std::string& text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char c : text) {
    if (c == '=') {
      ++pad;
      continue;
    }
    const int v = sextet(c);
    if (v < 0 || pad > 0) throw ConversionError("bad base64 text \"" + text.substr(0, 40) + "\"");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (pad > 2 || bits >= 6) throw ConversionError("bad base64 text \"" + text.substr(0, 40) + "\"");
  return out;
}

}  // namespace courier::cli
