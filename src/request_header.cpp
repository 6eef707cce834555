// src/request_header.cpp — see request_header.hpp.
//
// Every request and every reply passes here, so the header is read with
// msgpack-cxx's visitor parser (msgpack::parse): the parser calls us for
// each element and nothing is built — no zone, no object tree. The result
// is what unpacking the frame into a msgpack::object and reading the map
// gives (fuzz/request_header_fuzz.cpp checks exactly that).
#include "request_header.hpp"

#include <courier/codec.hpp>

#include <limits>

namespace courier::detail {

namespace {

// Collects the keys courier knows from the top-level map; anything nested
// deeper is walked past. Returning false stops the parse.
class HeaderVisitor : public msgpack::null_visitor {
 public:
  explicit HeaderVisitor(Header& out) : h_(out) {}
  bool root_was_map() const noexcept { return root_is_map_; }

  bool start_map(uint32_t) { return open(true); }
  bool end_map() { return close(); }
  bool start_array(uint32_t) { return open(false); }
  bool end_array() { return close(); }
  bool start_map_key() {
    if (depth_ == 1) in_key_ = true, key_ = Key::other;
    return true;
  }
  bool end_map_key() {
    if (depth_ == 1) in_key_ = false;
    return true;
  }
  bool end_map_value() {
    if (depth_ == 1) key_ = Key::other;
    return true;
  }

  bool visit_str(const char* p, uint32_t n) {
    if (!top_level()) return true;
    const std::string_view s(p, n);
    if (in_key_) {
      key_ = s == "id" ? Key::id : s == "deadline" ? Key::deadline : s == "ok" ? Key::ok
           : s == "error" ? Key::error : Key::other;
    } else if (key_ == Key::error) {
      h_.error = s;
    }
    return true;
  }
  bool visit_positive_integer(uint64_t v) {
    if (top_level() && !in_key_) {
      if (key_ == Key::id) h_.id = v;
      if (key_ == Key::deadline) h_.deadline = v;
    }
    return true;
  }
  // The parser reports every signed encoding here, whatever the sign;
  // msgpack::object calls a non-negative one a positive integer, so do we.
  bool visit_negative_integer(int64_t v) {
    return v >= 0 ? visit_positive_integer(static_cast<uint64_t>(v)) : true;
  }
  bool visit_float64(double v) {
    // A float deadline at or past 2^64 ms (1e300, inf) saturates: converting
    // it to an integer would be undefined behaviour (found by fuzzing).
    if (top_level() && !in_key_ && key_ == Key::deadline && v > 0) {
      h_.deadline = v < 18446744073709551616.0 ? static_cast<std::uint64_t>(v)
                                               : std::numeric_limits<std::uint64_t>::max();
    }
    return true;
  }
  bool visit_boolean(bool v) {
    if (top_level() && !in_key_ && key_ == Key::ok) h_.ok = v;
    return true;
  }

 private:
  enum class Key { other, id, deadline, ok, error };

  // Scalars of the top-level map itself, not of a container inside it.
  bool top_level() const noexcept { return depth_ == 1 && root_is_map_; }
  bool open(bool is_map) {
    if (depth_ == 0) root_is_map_ = is_map;
    if (depth_ == kMaxNesting) return false;  // as unpack_one refuses it
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  Header& h_;
  std::size_t depth_ = 0;
  bool root_is_map_ = false;
  bool in_key_ = false;
  Key key_ = Key::other;
};

}  // namespace

Header parse_header(const zmq::message_t& frame) {
  Header h;
  HeaderVisitor visitor(h);
  std::size_t off = 0;
  const bool parsed = frame.size() != 0 &&
                      msgpack::parse(static_cast<const char*>(frame.data()), frame.size(), off, visitor);
  // One map and nothing after it, or not a header at all.
  if (!parsed || off != frame.size() || !visitor.root_was_map()) return Header{};
  h.is_map = true;
  return h;
}

}  // namespace courier::detail
