// fuzz/codec_decode_fuzz.cpp — courier::decode<T> (include/courier/codec.hpp)
// on frames from anyone: a Pull, Server or Consumer decodes what peers send.
//
// Input: [1 byte: which T][frame]. T is one of int, std::string,
// std::vector<std::string>, std::map<std::string, int>, and a struct with
// MSGPACK_DEFINE_MAP.
// Properties, beyond "no crash, no leak, no UB" (and no huge allocation:
// libFuzzer's -rss_limit_mb catches a frame that makes decode allocate far
// more than its size):
//  - decode either returns or throws courier::DecodeError, nothing else;
//  - a decoded value encodes and decodes back to an equal value.
#include "fuzz_check.hpp"

#include <courier/codec.hpp>
#include <courier/errors.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <typeinfo>
#include <vector>

namespace {

struct Reading {
  int64_t sensor = 0;
  std::string unit;
  std::vector<int64_t> samples;
  std::map<std::string, std::string> labels;
  MSGPACK_DEFINE_MAP(sensor, unit, samples, labels);
  bool operator==(const Reading& o) const {
    return sensor == o.sensor && unit == o.unit && samples == o.samples && labels == o.labels;
  }
};

template <class T>
void round_trip(const uint8_t* data, std::size_t size) {
  T value;
  try {
    value = courier::decode<T>(data, size);
  } catch (const courier::DecodeError&) {
    return;
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "decode<%s> threw %s: %s", typeid(T).name(), typeid(e).name(), e.what());
  }
  const zmq::message_t again = courier::encode(value);
  T back{};
  try {
    back = courier::decode<T>(again);
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "decode<%s> refused its own encoding: %s", typeid(T).name(), e.what());
  }
  FUZZ_CHECK(back == value, "decode<%s> of its own encoding differs", typeid(T).name());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const uint8_t* frame = data + 1;
  const std::size_t n = size - 1;
  switch (data[0] % 5) {
    case 0: round_trip<int>(frame, n); break;
    case 1: round_trip<std::string>(frame, n); break;
    case 2: round_trip<std::vector<std::string>>(frame, n); break;
    case 3: round_trip<std::map<std::string, int>>(frame, n); break;
    case 4: round_trip<Reading>(frame, n); break;
  }
  return 0;
}
