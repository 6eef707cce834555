// tools/json_msgpack.hpp — JSON <-> msgpack, one to one (PROTOCOL.md §4.2).
//
// Mapping (both directions):
//   null <-> nil · true/false <-> bool · integer <-> int (signed or unsigned,
//   smallest msgpack encoding) · number with a fraction/exponent <-> float64
//   (float32 is read as well) · string <-> str · array <-> array ·
//   object <-> map with string keys.
// msgpack types JSON has no word for get a one-key object, and such an
// object given on the command line packs back to that type:
//   bin  <-> {"$bin": "<base64>"}
//   ext  <-> {"$ext": [type, "<base64>"]}
// Reading a map whose keys are not strings (outside §1's contract) turns each
// key into its JSON text ({1: "a"} prints as {"1": "a"}); such a key that
// holds another one is refused (its text would grow exponentially). Invalid UTF-8 in a
// str prints as U+FFFD. Nesting deeper than 512 levels is refused.
#pragma once

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace courier::cli {

using json = nlohmann::json;

// A value that cannot be converted; what() says why and where in the value.
class ConversionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses one JSON text (surrounding whitespace allowed).
// Throws: ConversionError "not JSON (<parser message>)", or "a number out of
// range: ..." for a number msgpack cannot hold (1e999, an integer beyond
// -2^63 .. 2^64-1) rather than rounding it to a float.
json parse_json(const std::string& text);

// Packs `value` as exactly one msgpack object. Throws: ConversionError for a
// malformed {"$bin"}/{"$ext"} object or too deep nesting.
std::string to_msgpack(const json& value);
void pack_json(msgpack::packer<msgpack::sbuffer>& packer, const json& value);

// Converts one msgpack object. Throws: ConversionError (too deep).
json from_msgpack(const msgpack::object& object);

// Decodes a frame that must hold exactly one msgpack object.
// Throws: ConversionError "truncated msgpack" / "N trailing bytes after ..." /
// "not msgpack".
json decode_frame(const void* data, std::size_t size);

// One compact JSON line (no newline), invalid UTF-8 replaced.
std::string to_line(const json& value);

// RFC 4648 base64 with padding. decode throws ConversionError.
std::string base64_encode(const void* data, std::size_t size);
std::string base64_decode(const std::string& text);

}  // namespace courier::cli
