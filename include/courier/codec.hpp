// courier/codec.hpp — values to ZeroMQ frames and back, with msgpack.
//
// Contract
// - What: encode(value) packs one value as one msgpack object into a
//   zmq::message_t; decode<T>(bytes) turns a frame that holds exactly one
//   msgpack object back into a T (PROTOCOL.md §1: one frame = one object).
//   The codec knows nothing about sockets.
// - Supported types: arithmetic types and bool, std::string, std::string_view
//   and const char* (encode only), std::vector / list / deque / set /
//   unordered_set / map / unordered_map / array / pair / tuple / optional of
//   supported types, byte containers (std::vector<char>, <unsigned char>,
//   <std::byte>, std::array of them: msgpack bin), structs with
//   MSGPACK_DEFINE(...) (sent as an array) or MSGPACK_DEFINE_MAP(...) (a map),
//   and any type for which you specialize courier::is_serializable (after
//   giving msgpack an adaptor for it; enums: MSGPACK_ADD_ENUM). Anything else
//   is a compile error that says what to add.
//   std::variant is NOT supported: msgpack-cxx 4.1.3 ships no adaptor for it.
//   Use a struct with an explicit tag field, or write an adaptor and
//   specialize is_serializable.
// - Floats stay floats: a double is always msgpack float64 and a float
//   float32, also when the value is whole (msgpack-c alone would write 1.0 as
//   the integer 1, which Python or JSON peers read as an int).
// - Decoding follows msgpack-c's conversion rules: a MSGPACK_DEFINE struct
//   accepts a shorter array (missing fields keep their defaults) and ignores
//   extra elements; a MSGPACK_DEFINE_MAP struct ignores unknown keys.
// - Ownership: encode() hands msgpack's malloc'd buffer to the message (freed
//   by ZeroMQ, no copy). decode() copies everything it needs into the T it
//   returns; view types (string_view, raw_ref) cannot be decoded for that reason.
// - Threading: all functions are reentrant; decode<T> uses a per-thread
//   scratch zone, so it is cheap and safe from any number of threads.
// - Errors: decode throws courier::DecodeError naming the expected C++ type
//   and what the frame held ("map of 2", "str \"abc\"", "truncated msgpack",
//   "3 trailing bytes after int 1"). Encoding only fails on out-of-memory.
#pragma once

#include <courier/errors.hpp>
#include <courier/export.hpp>

#include <msgpack.hpp>
#include <zmq.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace courier::detail {
// The buffer encode() packs into: msgpack's sbuffer under its own name, so
// that the packer for it can keep floats floats (below).
struct FrameBuffer : msgpack::sbuffer {
  using msgpack::sbuffer::sbuffer;
};
}  // namespace courier::detail

// msgpack-c 4 packs a whole-number double or float (1.0) as the integer 1; a
// Python or JSON peer then reads an int where the C++ side sent a double.
// courier's frames keep the msgpack float type of the C++ value instead.
namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(v1) {
template <>
inline packer<courier::detail::FrameBuffer>& packer<courier::detail::FrameBuffer>::pack_double(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  char buf[9];
  buf[0] = static_cast<char>(0xcbu);
  _msgpack_store64(&buf[1], bits);
  append_buffer(buf, sizeof buf);
  return *this;
}
template <>
inline packer<courier::detail::FrameBuffer>& packer<courier::detail::FrameBuffer>::pack_float(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  char buf[5];
  buf[0] = static_cast<char>(0xcau);
  _msgpack_store32(&buf[1], bits);
  append_buffer(buf, sizeof buf);
  return *this;
}
}  // MSGPACK_API_VERSION_NAMESPACE(v1)
}  // namespace msgpack

namespace courier {

// Opt-in: specialize as std::true_type for a type msgpack can pack through an
// adaptor you wrote (msgpack::adaptor::pack/convert specializations), or for
// an enum declared with MSGPACK_ADD_ENUM:
//   template <> struct courier::is_serializable<Color> : std::true_type {};
template <class T, class Enable = void>
struct is_serializable : std::false_type {};

namespace detail {

// --- Which types the codec accepts (encode: Decode=false, decode: true) -----

template <class T, class = void>
struct has_msgpack_pack : std::false_type {};
template <class T>
struct has_msgpack_pack<T, std::void_t<decltype(std::declval<const T&>().msgpack_pack(
                               std::declval<msgpack::packer<msgpack::sbuffer>&>()))>>
    : std::true_type {};

template <class T, class = void>
struct has_msgpack_unpack : std::false_type {};
template <class T>
struct has_msgpack_unpack<
    T, std::void_t<decltype(std::declval<T&>().msgpack_unpack(std::declval<const msgpack::object&>()))>>
    : std::true_type {};

template <class T, bool Decode>
struct supported_impl
    : std::bool_constant<std::is_arithmetic_v<T> ||
                         (Decode ? has_msgpack_unpack<T>::value : has_msgpack_pack<T>::value)> {};

template <class T, bool Decode>
struct supported
    : std::bool_constant<is_serializable<T>::value || supported_impl<T, Decode>::value> {};

template <class T, bool Decode>
inline constexpr bool supported_v = supported<std::remove_cv_t<T>, Decode>::value;

template <class T, bool D>
struct supported_impl<std::optional<T>, D> : supported<std::remove_cv_t<T>, D> {};
template <class C, class Tr, class A, bool D>
struct supported_impl<std::basic_string<C, Tr, A>, D> : std::true_type {};
// Views refer to the frame's bytes: fine to send, would dangle once decoded.
template <class C, class Tr, bool D>
struct supported_impl<std::basic_string_view<C, Tr>, D> : std::bool_constant<!D> {};
template <bool D>
struct supported_impl<const char*, D> : std::bool_constant<!D> {};
template <bool D>
struct supported_impl<char*, D> : std::bool_constant<!D> {};
template <std::size_t N, bool D>
struct supported_impl<char[N], D> : std::bool_constant<!D> {};
template <bool D>
struct supported_impl<msgpack::type::raw_ref, D> : std::bool_constant<!D> {};
template <bool D>
struct supported_impl<msgpack::type::ext_ref, D> : std::bool_constant<!D> {};
template <bool D>
struct supported_impl<msgpack::type::ext, D> : std::true_type {};
template <bool D>
struct supported_impl<msgpack::type::nil_t, D> : std::true_type {};
template <bool D>
struct supported_impl<std::byte, D> : std::true_type {};
template <class T, class A, bool D>
struct supported_impl<std::vector<T, A>, D> : supported<T, D> {};
template <class T, class A, bool D>
struct supported_impl<std::list<T, A>, D> : supported<T, D> {};
template <class T, class A, bool D>
struct supported_impl<std::deque<T, A>, D> : supported<T, D> {};
template <class T, class C, class A, bool D>
struct supported_impl<std::set<T, C, A>, D> : supported<T, D> {};
template <class T, class C, class A, bool D>
struct supported_impl<std::multiset<T, C, A>, D> : supported<T, D> {};
template <class T, class H, class E, class A, bool D>
struct supported_impl<std::unordered_set<T, H, E, A>, D> : supported<T, D> {};
template <class T, std::size_t N, bool D>
struct supported_impl<std::array<T, N>, D> : supported<T, D> {};
template <class K, class V, class C, class A, bool D>
struct supported_impl<std::map<K, V, C, A>, D>
    : std::bool_constant<supported<K, D>::value && supported<V, D>::value> {};
template <class K, class V, class C, class A, bool D>
struct supported_impl<std::multimap<K, V, C, A>, D>
    : std::bool_constant<supported<K, D>::value && supported<V, D>::value> {};
template <class K, class V, class H, class E, class A, bool D>
struct supported_impl<std::unordered_map<K, V, H, E, A>, D>
    : std::bool_constant<supported<K, D>::value && supported<V, D>::value> {};
template <class A, class B, bool D>
struct supported_impl<std::pair<A, B>, D>
    : std::bool_constant<supported<std::remove_cv_t<A>, D>::value &&
                         supported<std::remove_cv_t<B>, D>::value> {};
template <class... Ts, bool D>
struct supported_impl<std::tuple<Ts...>, D>
    : std::bool_constant<(supported<std::remove_cv_t<Ts>, D>::value && ...)> {};

// --- Readable type names for error messages ---------------------------------

// Demangles a typeid name and tidies std::string's spelling.
COURIER_EXPORT std::string demangle(const char* mangled);

template <class T>
struct type_name_of {
  static std::string get() { return demangle(typeid(T).name()); }
};
template <class T>
std::string type_name() {
  return type_name_of<std::remove_cv_t<T>>::get();
}
#define COURIER_DETAIL_NAME(type, text) \
  template <>                           \
  struct type_name_of<type> {           \
    static std::string get() { return text; } \
  }
COURIER_DETAIL_NAME(std::string, "std::string");
COURIER_DETAIL_NAME(std::int8_t, "int8_t");
COURIER_DETAIL_NAME(std::int16_t, "int16_t");
COURIER_DETAIL_NAME(std::int32_t, "int32_t");
COURIER_DETAIL_NAME(std::int64_t, "int64_t");
COURIER_DETAIL_NAME(std::uint8_t, "uint8_t");
COURIER_DETAIL_NAME(std::uint16_t, "uint16_t");
COURIER_DETAIL_NAME(std::uint32_t, "uint32_t");
COURIER_DETAIL_NAME(std::uint64_t, "uint64_t");
#undef COURIER_DETAIL_NAME
template <class T, class A>
struct type_name_of<std::vector<T, A>> {
  static std::string get() { return "std::vector<" + type_name<T>() + ">"; }
};
template <class T>
struct type_name_of<std::optional<T>> {
  static std::string get() { return "std::optional<" + type_name<T>() + ">"; }
};
template <class T, std::size_t N>
struct type_name_of<std::array<T, N>> {
  static std::string get() { return "std::array<" + type_name<T>() + ", " + std::to_string(N) + ">"; }
};
template <class K, class V, class C, class A>
struct type_name_of<std::map<K, V, C, A>> {
  static std::string get() { return "std::map<" + type_name<K>() + ", " + type_name<V>() + ">"; }
};
template <class K, class V, class H, class E, class A>
struct type_name_of<std::unordered_map<K, V, H, E, A>> {
  static std::string get() {
    return "std::unordered_map<" + type_name<K>() + ", " + type_name<V>() + ">";
  }
};
template <class A, class B>
struct type_name_of<std::pair<A, B>> {
  static std::string get() { return "std::pair<" + type_name<A>() + ", " + type_name<B>() + ">"; }
};
template <class... Ts>
struct type_name_of<std::tuple<Ts...>> {
  static std::string get() {
    std::string s = "std::tuple<";
    bool first = true;
    ((s += (first ? "" : ", ") + type_name<Ts>(), first = false), ...);
    return s + ">";
  }
};

// --- Non-template parts (src/codec.cpp) --------------------------------------

// Deeper nesting than this is refused (and reported) instead of parsed.
constexpr std::size_t kMaxNesting = 512;

// The calling thread's scratch zone for decode (cleared at each use).
COURIER_EXPORT msgpack::zone& decode_zone() noexcept;

// Parses [data, data+size) as exactly one msgpack object into `zone` (cleared
// first). Strings and bins refer to `data`, which must outlive the result.
// Throws: DecodeError(expected(), what was wrong) for an empty frame,
// truncated or invalid msgpack, or trailing bytes.
COURIER_EXPORT msgpack::object unpack_one(msgpack::zone& zone, const void* data, std::size_t size,
                                          std::string (*expected)());

// A short description of an object: "nil", "int -3", "str \"abc\"",
// "array of 2 [int 1, str \"x\"]", "map of 2 {\"a\": int 1, ...}".
COURIER_EXPORT std::string describe(const msgpack::object& obj);

// Throws: DecodeError(expected, describe(obj)).
[[noreturn]] COURIER_EXPORT void throw_mismatch(const msgpack::object& obj, std::string expected);

inline void free_buffer(void* data, void* /*hint*/) noexcept { std::free(data); }

// Each encoded type remembers, per thread, the size of its last frame, so the
// buffer is allocated once at the right size (msgpack's default is 8 KiB).
template <class T>
std::size_t& encode_size_hint() noexcept {
  thread_local std::size_t hint = 64;
  return hint;
}

template <class T>
T convert(const msgpack::object& obj) {
  try {
    return obj.as<T>();
  } catch (const std::bad_cast&) {  // msgpack::type_error derives from it
    throw_mismatch(obj, type_name<T>());
  }
}

}  // namespace detail

// Packs `value` as one msgpack object into a new message. The message takes
// over msgpack's buffer (freed by ZeroMQ with free()): no copy.
// Returns: the frame. Throws: std::bad_alloc only.
// Thread-safety: reentrant.
template <class T>
zmq::message_t encode(const T& value) {
  using U = std::remove_cv_t<std::remove_reference_t<T>>;
  static_assert(detail::supported_v<U, false>,
                "courier::encode: msgpack cannot pack this type. For your own struct, add "
                "MSGPACK_DEFINE(field1, field2, ...) (sent as an array) or "
                "MSGPACK_DEFINE_MAP(...) (sent as a map) to your struct, or write a msgpack "
                "adaptor and specialize courier::is_serializable<T> : std::true_type. "
                "std::variant has no msgpack-cxx 4.1 adaptor.");
  std::size_t& hint = detail::encode_size_hint<U>();
  detail::FrameBuffer buffer(hint);
  msgpack::pack(buffer, value);
  const std::size_t size = buffer.size();
  hint = size < 64 ? 64 : size;
  return zmq::message_t(buffer.release(), size, &detail::free_buffer, nullptr);
}

// Decodes a frame that must hold exactly one msgpack object convertible to T.
// Returns: the value (owning all its data). Throws: DecodeError naming T and
// what was found. Thread-safety: reentrant.
template <class T>
T decode(const void* data, std::size_t size) {
  static_assert(!std::is_reference_v<T> && !std::is_const_v<T>,
                "courier::decode<T>: T must be a plain value type");
  static_assert(detail::supported_v<T, true>,
                "courier::decode: msgpack cannot unpack this type. For your own struct, add "
                "MSGPACK_DEFINE(field1, field2, ...) or MSGPACK_DEFINE_MAP(...) to it, or write "
                "a msgpack adaptor and specialize courier::is_serializable<T> : std::true_type. "
                "View types (std::string_view, const char*, raw_ref) cannot be decoded: they "
                "would point into a freed frame; decode std::string instead.");
  const msgpack::object obj =
      detail::unpack_one(detail::decode_zone(), data, size, &detail::type_name<T>);
  return detail::convert<T>(obj);
}

// Same as decode<T>(msg.data(), msg.size()).
template <class T>
T decode(const zmq::message_t& msg) {
  return decode<T>(msg.data(), msg.size());
}

}  // namespace courier
