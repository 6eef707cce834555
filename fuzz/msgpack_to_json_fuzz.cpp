// fuzz/msgpack_to_json_fuzz.cpp — the CLI's msgpack -> JSON path
// (tools/json_msgpack.hpp decode_frame + to_line): what `courier pull`,
// `courier consume` and `courier request` print of frames from anyone.
//
// Input: one frame.
// Properties, beyond "no crash, no leak, no UB":
//  - decode_frame either returns or throws ConversionError;
//  - the line printed is one line (no raw newline) of valid JSON;
//  - the JSON value is a fixed point: packing it and decoding that gives
//    the same value (the first conversion may lose distinctions JSON cannot
//    hold, such as non-string map keys; a second must lose nothing).
#include "fuzz_check.hpp"
#include "json_msgpack.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

using courier::cli::ConversionError;
using courier::cli::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  json value;
  try {
    value = courier::cli::decode_frame(data, size);
  } catch (const ConversionError&) {
    return 0;
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "decode_frame threw something other than ConversionError: %s", e.what());
  }
  try {
    const std::string line = courier::cli::to_line(value);
    FUZZ_CHECK(line.find('\n') == std::string::npos, "to_line printed a newline");
    FUZZ_CHECK(json::accept(line), "to_line printed invalid JSON: %s", line.c_str());
    const std::string packed = courier::cli::to_msgpack(value);
    const json back = courier::cli::decode_frame(packed.data(), packed.size());
    // Compared as bytes: a NaN is not equal to itself as a JSON value.
    FUZZ_CHECK(courier::cli::to_msgpack(back) == packed, "msgpack -> JSON is not a fixed point: %s became %s",
               line.c_str(), courier::cli::to_line(back).c_str());
  } catch (const ConversionError& e) {
    FUZZ_CHECK(false, "a decoded value cannot be packed or printed: %s", e.what());
  }
  return 0;
}
