#include "protocol/cqp1.hpp"

#include <array>
#include <cstring>

namespace courier::cqp1 {

namespace {

struct NamedCommand {
  std::string_view name;
  Command command;
};

constexpr std::array<NamedCommand, 24> kCommands{{
    {"HELLO", Command::HELLO},         {"PUT", Command::PUT},
    {"CONSUME", Command::CONSUME},     {"ACK", Command::ACK},
    {"NACK", Command::NACK},           {"TOUCH", Command::TOUCH},
    {"CREDIT", Command::CREDIT},       {"CANCEL", Command::CANCEL},
    {"DECLARE", Command::DECLARE},     {"STATS", Command::STATS},
    {"PURGE", Command::PURGE},         {"PING", Command::PING},
    {"BYE", Command::BYE},             {"WELCOME", Command::WELCOME},
    {"CONFIRM", Command::CONFIRM},     {"DELIVER", Command::DELIVER},
    {"CONSUMING", Command::CONSUMING}, {"CANCELLED", Command::CANCELLED},
    {"DECLARED", Command::DECLARED},   {"PURGED", Command::PURGED},
    {"PONG", Command::PONG},           {"ERROR", Command::ERROR},
    {"DELETE", Command::DELETE},       {"DELETED", Command::DELETED},
}};

// Strings and binaries point into the frame instead of being copied into the
// zone: the header is read while its frame is alive, and this keeps the hot
// path free of copies.
bool reference_everything(msgpack::type::object_type, std::size_t, void*) { return true; }

// Bounds that keep a hostile header from making the parser allocate much:
// arrays up to a batch's worth (plus slack), small maps, shallow nesting.
const msgpack::unpack_limit kRequestLimits(/*array=*/kMaxBatch * 2, /*map=*/256,
                                           /*str=*/1 << 20, /*bin=*/1 << 20,
                                           /*ext=*/1 << 16, /*depth=*/8);

// A reply comes from the proxy the client chose to trust; its size follows
// the proxy's state (a STATS map has one entry per queue), so only the frame
// bounds it. msgpack still refuses a count larger than the bytes left.
msgpack::unpack_limit reply_limits(std::size_t size) {
  return msgpack::unpack_limit(size, size, size, size, size, /*depth=*/8);
}

std::string quoted(std::string_view key) { return "'" + std::string(key) + "'"; }

// The checks behind as_uint / as_producer_id and the HeaderView getters.
// `name()` gives what an error calls the value ("'tag'", "'ids' entry"); it
// is called only when one is thrown, because building it for every field
// read cost the proxy ~150 instructions per field.
template <class Name>
uint64_t uint_of(const msgpack::object& o, const Name& name) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) {
    throw BadRequest(name() + " must be a non-negative integer");
  }
  return o.via.u64;
}

template <class Name>
std::optional<ProducerId> producer_id_of(const msgpack::object& o, const Name& name) {
  ProducerId id;
  if (o.type == msgpack::type::NIL) return std::nullopt;
  if (o.type == msgpack::type::STR) {
    id.bytes = std::string_view(o.via.str.ptr, o.via.str.size);
    if (!valid_utf8(id.bytes)) {
      throw BadRequest(name() + " is a msgpack str that is not valid UTF-8 "
                       "(send arbitrary bytes as bin)");
    }
  } else if (o.type == msgpack::type::BIN) {
    id.bytes = std::string_view(o.via.bin.ptr, o.via.bin.size);
    id.binary = true;
  } else {
    throw BadRequest(name() + " must be a string or binary of at most 128 bytes");
  }
  if (id.bytes.size() > kMaxProducerId) {
    throw BadRequest(name() + " is " + std::to_string(id.bytes.size()) + " bytes; at most 128 are allowed");
  }
  return id;
}

}  // namespace

Command parse_command(std::string_view name) noexcept {
  for (const auto& c : kCommands) {
    if (c.name == name) return c.command;
  }
  return Command::UNKNOWN;
}

std::string_view command_name(Command command) noexcept {
  for (const auto& c : kCommands) {
    if (c.command == command) return c.name;
  }
  return "?";
}

bool valid_queue_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxQueueName) return false;
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_utf8(std::string_view bytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    // Runs of ASCII, all of most ids and names, eight bytes at a time.
    if (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof word);
      if ((word & 0x8080808080808080ull) == 0) {
        p += 8;
        continue;
      }
    }
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += n + 1;
  }
  return true;
}

HeaderView HeaderView::parse(const void* data, std::size_t size, msgpack::zone& zone, From from) {
  msgpack::object obj;
  std::size_t offset = 0;
  try {
    bool referenced = false;
    obj = msgpack::unpack(zone, static_cast<const char*>(data), size, offset, referenced,
                          reference_everything, nullptr,
                          from == From::client ? kRequestLimits : reply_limits(size));
  } catch (const std::exception& e) {
    throw BadRequest(std::string("header is not valid msgpack (") + e.what() + ")");
  }
  if (offset != size) {
    throw BadRequest("header frame has " + std::to_string(size - offset) +
                     " bytes after the msgpack map");
  }
  if (obj.type != msgpack::type::MAP) {
    throw BadRequest("header must be a msgpack map (send \\x80 for an empty one)");
  }
  const msgpack::object_map& map = obj.via.map;
  for (uint32_t i = 0; i < map.size; ++i) {
    if (map.ptr[i].key.type != msgpack::type::STR) {
      throw BadRequest("header map keys must be strings");
    }
  }
  return HeaderView(obj.via.map);
}

const msgpack::object* HeaderView::find(std::string_view key) const noexcept {
  for (uint32_t i = 0; i < map_.size; ++i) {
    const msgpack::object& k = map_.ptr[i].key;
    if (std::string_view(k.via.str.ptr, k.via.str.size) == key) return &map_.ptr[i].val;
  }
  return nullptr;
}

uint64_t as_uint(const msgpack::object& o, std::string_view what) {
  return uint_of(o, [what] { return std::string(what); });
}

std::optional<uint64_t> HeaderView::uint(std::string_view key) const {
  const msgpack::object* o = find(key);
  if (o == nullptr) return std::nullopt;
  return uint_of(*o, [key] { return quoted(key); });
}

std::optional<std::string_view> HeaderView::str(std::string_view key) const {
  const msgpack::object* o = find(key);
  if (o == nullptr) return std::nullopt;
  if (o->type != msgpack::type::STR) throw BadRequest(quoted(key) + " must be a string");
  const std::string_view s(o->via.str.ptr, o->via.str.size);
  if (!valid_utf8(s)) throw BadRequest(quoted(key) + " is not valid UTF-8");
  return s;
}

std::optional<bool> HeaderView::boolean(std::string_view key) const {
  const msgpack::object* o = find(key);
  if (o == nullptr) return std::nullopt;
  if (o->type != msgpack::type::BOOLEAN) throw BadRequest(quoted(key) + " must be true or false");
  return o->via.boolean;
}

std::optional<ProducerId> as_producer_id(const msgpack::object& o, std::string_view what) {
  return producer_id_of(o, [what] { return std::string(what); });
}

std::optional<ProducerId> HeaderView::producer_id(std::string_view key) const {
  const msgpack::object* o = find(key);
  if (o == nullptr) return std::nullopt;
  if (o->type == msgpack::type::NIL) {
    throw BadRequest(quoted(key) + " must be a string or binary of at most 128 bytes");
  }
  return producer_id_of(*o, [key] { return quoted(key); });
}

void pack_producer_id(msgpack::packer<msgpack::sbuffer>& p, const ProducerId& id) {
  const auto n = static_cast<uint32_t>(id.bytes.size());
  if (id.binary) {
    p.pack_bin(n);
    p.pack_bin_body(id.bytes.data(), n);
  } else {
    p.pack_str(n);
    p.pack_str_body(id.bytes.data(), n);
  }
}

const msgpack::object_array* HeaderView::array(std::string_view key) const {
  const msgpack::object* o = find(key);
  if (o == nullptr) return nullptr;
  if (o->type != msgpack::type::ARRAY) throw BadRequest(quoted(key) + " must be an array");
  return &o->via.array;
}

uint64_t HeaderView::need_uint(std::string_view key) const {
  auto v = uint(key);
  if (!v) throw BadRequest("missing " + quoted(key) + " (a non-negative integer)");
  return *v;
}

std::string_view HeaderView::need_str(std::string_view key) const {
  auto v = str(key);
  if (!v) throw BadRequest("missing " + quoted(key) + " (a string)");
  return *v;
}

std::string_view HeaderView::need_queue() const {
  const msgpack::object* o = find(key::q);
  if (o == nullptr) throw BadRequest("missing 'q' (the queue name)");
  if (o->type != msgpack::type::STR) throw BadRequest("'q' must be a string");
  std::string_view q(o->via.str.ptr, o->via.str.size);
  if (!valid_queue_name(q)) {
    throw BadRequest("queue name must be 1-200 bytes of [A-Za-z0-9._:-]");
  }
  return q;
}

}  // namespace courier::cqp1
