// fuzz/json_to_msgpack_fuzz.cpp — the CLI's JSON -> msgpack path
// (tools/json_msgpack.hpp parse_json + to_msgpack): what `courier push`,
// `courier publish` and `courier request` do with a body typed by a user.
//
// Input: JSON text.
// Properties, beyond "no crash, no leak, no UB":
//  - parse_json and to_msgpack either return or throw ConversionError;
//  - what to_msgpack makes decodes (decode_frame) to the same JSON value,
//    except where the text used the {"$bin"}/{"$ext"} forms, whose base64
//    may come back spelled differently: there, packing the decoded value
//    again must give the very same bytes;
//  - the decoded value prints (to_line) without throwing.
#include "fuzz_check.hpp"
#include "json_msgpack.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

using courier::cli::ConversionError;
using courier::cli::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string packed;
  json value;
  try {
    value = courier::cli::parse_json(text);
    packed = courier::cli::to_msgpack(value);
  } catch (const ConversionError&) {
    return 0;
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "JSON -> msgpack threw something other than ConversionError: %s", e.what());
  }
  json back;
  try {
    back = courier::cli::decode_frame(packed.data(), packed.size());
    (void)courier::cli::to_line(back);
    const std::string again = courier::cli::to_msgpack(back);
    FUZZ_CHECK(again == packed, "packing the decoded value again changed the bytes");
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "to_msgpack made bytes its own reader refuses: %s", e.what());
  }
  const bool special = text.find('$') != std::string::npos;
  FUZZ_CHECK(special || back == value, "JSON -> msgpack -> JSON changed the value: %s", courier::cli::to_line(back).c_str());
  return 0;
}
