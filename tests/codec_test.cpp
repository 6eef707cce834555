// Behaviours of courier/codec.hpp: values become one msgpack object per
// frame, exactly as msgpack-c (and Python's msgpack) would pack them, and bad
// frames become DecodeError naming the expected type and what was found.
#include <courier/codec.hpp>

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <limits>

#include <malloc.h>

namespace {

using courier::DecodeError;
using courier::decode;
using courier::encode;
using courier::test::packb;
using courier::test::str;

struct Point {
  std::int64_t id = 0;
  double x = 0;
  std::string name;
  MSGPACK_DEFINE(id, x, name);
  bool operator==(const Point& o) const { return id == o.id && x == o.x && name == o.name; }
};

struct Named {
  int a = 0;
  std::string b;
  MSGPACK_DEFINE_MAP(a, b);
};

enum class Color { red, green };
struct NoDefine {
  int a;
};

template <class T>
T round_trip(const T& v) {
  return decode<T>(encode(v));
}

// DecodeError thrown by `f`, or a failed test.
template <class F>
DecodeError decode_error(F f) {
  try {
    f();
  } catch (const DecodeError& e) {
    return e;
  }
  ADD_FAILURE() << "no DecodeError thrown";
  return DecodeError("", "");
}

}  // namespace

MSGPACK_ADD_ENUM(Color);
template <>
struct courier::is_serializable<Color> : std::true_type {};

static_assert(courier::detail::supported_v<Point, false> && courier::detail::supported_v<Point, true>);
static_assert(courier::detail::supported_v<std::vector<std::map<std::string, Point>>, true>);
static_assert(!courier::detail::supported_v<NoDefine, false>);
static_assert(!courier::detail::supported_v<std::vector<NoDefine>, false>);
static_assert(courier::detail::supported_v<std::string_view, false>);
static_assert(!courier::detail::supported_v<std::string_view, true>, "views cannot be decoded");
static_assert(!courier::detail::supported_v<std::vector<std::string_view>, true>);
static_assert(courier::detail::supported_v<Color, true>, "opt-in trait");

TEST(Codec, EncodesOneValueAsExactlyTheBytesMsgpackCProduces) {
  EXPECT_EQ(str(encode(42)), packb(42));
  EXPECT_EQ(str(encode(std::string("Hello World!"))), packb(std::string("Hello World!")));
  EXPECT_EQ(str(encode(-1.5)), packb(-1.5));
  EXPECT_EQ(str(encode(Point{1, 2.5, "p"})), packb(Point{1, 2.5, "p"}));
}

TEST(Codec, StructWithMsgpackDefineTravelsAsAnArray) {
  const std::string bytes = str(encode(Point{7, 0.5, "abc"}));
  // fixarray of 3, then 7, float64 0.5, fixstr "abc"
  ASSERT_GE(bytes.size(), 1u);
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x93);
  EXPECT_EQ(bytes, packb(std::make_tuple(std::int64_t{7}, 0.5, std::string("abc"))));
}

TEST(Codec, StructWithMsgpackDefineMapTravelsAsAMap) {
  const std::string bytes = str(encode(Named{1, "x"}));
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x82);
  const Named back = decode<Named>(encode(Named{5, "five"}));
  EXPECT_EQ(back.a, 5);
  EXPECT_EQ(back.b, "five");
  // A map with an unknown key still decodes (forward compatibility).
  std::map<std::string, int> extra{{"a", 3}, {"zzz", 9}};
  EXPECT_EQ(decode<Named>(encode(extra)).a, 3);
}

TEST(Codec, RoundTripsStandardTypes) {
  EXPECT_EQ(round_trip(true), true);
  EXPECT_EQ(round_trip(std::numeric_limits<std::int64_t>::min()), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(round_trip(std::numeric_limits<std::uint64_t>::max()), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(round_trip(3.25), 3.25);
  EXPECT_EQ(round_trip(std::string()), "");
  EXPECT_EQ(round_trip(std::string(100000, 'x')), std::string(100000, 'x'));
  EXPECT_EQ(round_trip(std::vector<int>{1, 2, 3}), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ((round_trip(std::map<std::string, int>{{"a", 1}, {"b", 2}})),
            (std::map<std::string, int>{{"a", 1}, {"b", 2}}));
  EXPECT_EQ((round_trip(std::unordered_map<int, std::string>{{1, "a"}})),
            (std::unordered_map<int, std::string>{{1, "a"}}));
  EXPECT_EQ((round_trip(std::array<int, 3>{4, 5, 6})), (std::array<int, 3>{4, 5, 6}));
  EXPECT_EQ(round_trip(std::make_pair(1, std::string("one"))), std::make_pair(1, std::string("one")));
  EXPECT_EQ(round_trip(std::make_tuple(1, 2.0, std::string("3"))), std::make_tuple(1, 2.0, std::string("3")));
  EXPECT_EQ(round_trip(std::optional<int>(5)), std::optional<int>(5));
  EXPECT_EQ(round_trip(std::optional<int>()), std::optional<int>());
  EXPECT_EQ(round_trip(std::vector<Point>{{1, 1, "a"}, {2, 2, "b"}}), (std::vector<Point>{{1, 1, "a"}, {2, 2, "b"}}));
  EXPECT_EQ(round_trip(Color::green), Color::green);
}

TEST(Codec, ByteVectorsTravelAsMsgpackBin) {
  const std::vector<unsigned char> bytes{0, 1, 2, 255};
  const std::string wire = str(encode(bytes));
  EXPECT_EQ(static_cast<unsigned char>(wire[0]), 0xc4);  // bin8
  EXPECT_EQ(round_trip(bytes), bytes);
  EXPECT_EQ(round_trip(std::vector<char>{'a', '\0'}), (std::vector<char>{'a', '\0'}));
}

TEST(Codec, StringViewAndCStringEncodeAsStr) {
  EXPECT_EQ(str(encode(std::string_view("abc"))), packb(std::string("abc")));
  const char* c = "abc";
  EXPECT_EQ(str(encode(c)), packb(std::string("abc")));
}

TEST(Codec, DecodesFramesBuiltByHand) {
  // {"a": 1} as Python's msgpack.packb({"a": 1}) writes it.
  const std::string frame("\x81\xa1" "a\x01", 4);
  EXPECT_EQ((decode<std::map<std::string, int>>(frame.data(), frame.size())),
            (std::map<std::string, int>{{"a", 1}}));
}

TEST(Codec, DecodedValueOwnsItsDataAfterTheFrameIsGone) {
  std::string value;
  {
    zmq::message_t frame = encode(std::string("survives the frame"));
    value = decode<std::string>(frame);
  }
  EXPECT_EQ(value, "survives the frame");
}

TEST(Codec, TrailingBytesAreADecodeErrorThatCountsThem) {
  const std::string frame = packb(1) + "\x01\x02\x03";
  const DecodeError e = decode_error([&] { decode<int>(frame.data(), frame.size()); });
  EXPECT_EQ(e.code(), courier::ErrorCode::decode);
  EXPECT_EQ(e.expected(), "int32_t");
  EXPECT_NE(e.found().find("3 trailing bytes"), std::string::npos) << e.found();
}

TEST(Codec, TruncatedFrameIsADecodeError) {
  const std::string full = packb(std::string("hello"));
  const DecodeError e = decode_error([&] { decode<std::string>(full.data(), full.size() - 1); });
  EXPECT_EQ(e.expected(), "std::string");
  EXPECT_NE(e.found().find("truncated msgpack"), std::string::npos) << e.found();
}

// Nested headers that together promise more elements than the frame holds
// are refused before msgpack allocates room for them: 200 array32 headers of
// 2^20 elements each in a 1 MiB frame would make it reserve ~5 GB.
TEST(Codec, NestedHeadersPromisingMoreThanTheFrameAreRefusedBeforeAllocating) {
  std::string frame;
  for (int level = 0; level < 200; ++level) frame += std::string("\xdd\x00\x10\x00\x00", 5);
  frame.resize(1 << 20, '\xc0');  // nils: every element a byte
  const std::size_t mapped_before = mallinfo2().hblkhd;
  const DecodeError e = decode_error([&] { decode<std::vector<int>>(frame.data(), frame.size()); });
  const std::size_t mapped_after = mallinfo2().hblkhd;
  EXPECT_NE(e.found().find("more elements than"), std::string::npos) << e.found();
  EXPECT_LT(mapped_after, mapped_before + (64u << 20)) << "msgpack reserved room for the promises";
}

TEST(Codec, EmptyFrameIsADecodeError) {
  const DecodeError e = decode_error([&] { decode<int>("", 0); });
  EXPECT_NE(e.found().find("empty frame"), std::string::npos) << e.found();
}

TEST(Codec, GarbageIsADecodeError) {
  const DecodeError e = decode_error([&] { decode<int>("\xc1", 1); });
  EXPECT_NE(e.found().find("invalid msgpack"), std::string::npos) << e.found();
}

TEST(Codec, LyingLengthHeaderIsRefusedWithoutAllocatingForIt) {
  // array32 claiming 4 294 967 295 elements in a 5-byte frame.
  const DecodeError e = decode_error([&] { decode<std::vector<int>>("\xdd\xff\xff\xff\xff", 5); });
  EXPECT_NE(e.found().find("truncated msgpack"), std::string::npos) << e.found();
}

TEST(Codec, AbsurdNestingIsADecodeError) {
  std::string frame(2000, '\x91');  // [[[[...]]]]
  frame += '\xc0';
  const DecodeError e = decode_error([&] { decode<std::vector<int>>(frame.data(), frame.size()); });
  EXPECT_NE(e.found().find("nested deeper"), std::string::npos) << e.found();
}

TEST(Codec, TypeMismatchNamesTheExpectedTypeAndWhatWasFound) {
  const DecodeError map = decode_error(
      [&] { decode<std::string>(encode(std::map<std::string, int>{{"a", 1}, {"b", 2}})); });
  EXPECT_EQ(map.expected(), "std::string");
  EXPECT_EQ(map.found().rfind("map of 2", 0), 0u) << map.found();

  const DecodeError s = decode_error([&] { decode<int>(encode(std::string("abc"))); });
  EXPECT_EQ(s.found(), "str \"abc\"");
  EXPECT_NE(std::string(s.what()).find("expected int32_t, found str \"abc\""), std::string::npos) << s.what();

  const DecodeError p = decode_error([&] { decode<Point>(encode(std::string("x"))); });
  EXPECT_NE(p.expected().find("Point"), std::string::npos) << p.expected();

  const DecodeError v = decode_error([&] { decode<std::vector<std::string>>(encode(std::vector<int>{1, 2})); });
  EXPECT_EQ(v.expected(), "std::vector<std::string>");
  EXPECT_EQ(v.found(), "array of 2 [int 1, int 2]");
}

TEST(Codec, OutOfRangeIntegerIsATypeMismatch) {
  EXPECT_THROW(decode<std::uint8_t>(encode(300)), DecodeError);
  EXPECT_THROW(decode<std::uint32_t>(encode(-1)), DecodeError);
}

TEST(Codec, StructFromWrongArrayElementIsADecodeError) {
  const std::string frame = packb(std::make_tuple(std::string("not an id"), 1.0, std::string("n")));
  EXPECT_THROW(decode<Point>(frame.data(), frame.size()), DecodeError);
}

TEST(Codec, DecodeWorksFromManyThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (round_trip(Point{t * 10000 + i, 1.0, std::to_string(i)}).id == t * 10000 + i) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 8000);
}

namespace {
struct Reading {
  double value;
  float ratio;
  MSGPACK_DEFINE(value, ratio);
};
}  // namespace

// msgpack-c alone would pack 1.0 as the integer 1: a Python peer would then
// read an int. courier keeps the float type on the wire.
TEST(Codec, WholeNumberDoublesAndFloatsStayFloatsOnTheWire) {
  const zmq::message_t d = courier::encode(1.0);
  ASSERT_EQ(d.size(), 9u);
  EXPECT_EQ(static_cast<unsigned char>(d.data<char>()[0]), 0xcbu);
  EXPECT_EQ(courier::decode<double>(d), 1.0);

  const zmq::message_t r = courier::encode(Reading{2.0, 3.0f});
  const auto* b = r.data<unsigned char>();
  ASSERT_EQ(r.size(), 1u + 9u + 5u);  // fixarray(2), float64, float32
  EXPECT_EQ(b[0], 0x92u);
  EXPECT_EQ(b[1], 0xcbu);
  EXPECT_EQ(b[10], 0xcau);
  const Reading back = courier::decode<Reading>(r);
  EXPECT_EQ(back.value, 2.0);
  EXPECT_EQ(back.ratio, 3.0f);

  // An integer from a peer still decodes into a double field.
  msgpack::sbuffer ints;
  msgpack::pack(ints, std::make_tuple(4, 5));
  EXPECT_EQ(courier::decode<Reading>(ints.data(), ints.size()).value, 4.0);
}
