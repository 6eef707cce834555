// proxy/journal_format.hpp — the byte layout of the journal's keys and
// message records (see journal.hpp, "Layout"), shared by the Journal and its
// checker (journal_check.cpp) so the format is written down once.
#pragma once

#include "journal.hpp"
#include "lmdb.hpp"
#include "protocol/cqp1.hpp"

#include <courier/errors.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace courier::proxy {

namespace format {
constexpr std::size_t kDedupValue = 24;     // seq | first PUT ms | age n
constexpr std::size_t kDedupRunValue = 32;  // last n | first seq | first PUT ms | age n

// ---- fixed-width big-endian encodings ---------------------------------
// One byte swap rather than a loop of shifts: GCC does not fold the loops,
// and three of them per dedup claim cost ~170 instructions (callgrind).
inline uint64_t to_be64(uint64_t v) noexcept {
  if constexpr (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) return __builtin_bswap64(v);
  return v;
}
inline uint32_t to_be32(uint32_t v) noexcept {
  if constexpr (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) return __builtin_bswap32(v);
  return v;
}
inline void store_be64(char* p, uint64_t v) noexcept {
  v = to_be64(v);
  std::memcpy(p, &v, 8);
}
inline void store_be32(char* p, uint32_t v) noexcept {
  v = to_be32(v);
  std::memcpy(p, &v, 4);
}
inline void put_be(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline uint64_t get_be(const char* p, int bytes) {
  if (bytes == 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return to_be64(v);
  }
  if (bytes == 4) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return to_be32(v);
  }
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// ---- message record: ts | due | expire | flags | idlen | id | body ------
constexpr std::size_t kMetaFixed = 8 + 8 + 8 + 1 + 1;
constexpr uint8_t kHasId = 1, kIdBinary = 2;

inline void write_u64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint64_t read_u64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Bytes of a record holding `meta` and a body of `body_size` bytes.
inline std::size_t record_bytes(const MessageMeta& meta, std::size_t body_size) noexcept {
  return kMetaFixed + (meta.id ? meta.id->bytes.size() : 0) + body_size;
}

// Writes the record's fixed part (kMetaFixed bytes) into `p`.
inline void encode_record_head(char* p, const MessageMeta& meta) noexcept {
  write_u64(p, meta.ts_ms);
  write_u64(p + 8, meta.due_ms);
  write_u64(p + 16, meta.expire_ms);
  p[24] = static_cast<char>((meta.id ? kHasId : 0) | (meta.id && meta.id->binary ? kIdBinary : 0));
  p[25] = static_cast<char>(meta.id ? meta.id->bytes.size() : 0);
}

// Writes the record into `p`, which has record_bytes(meta, body.size()).
inline void encode_record(char* p, const MessageMeta& meta, std::string_view body) noexcept {
  const std::size_t id_len = meta.id ? meta.id->bytes.size() : 0;
  encode_record_head(p, meta);
  if (id_len) std::memcpy(p + kMetaFixed, meta.id->bytes.data(), id_len);
  if (!body.empty()) std::memcpy(p + kMetaFixed + id_len, body.data(), body.size());
}

// Appends the record to `out`: no zero-filling of space then overwritten
// (callgrind: ~60 instructions per 128-byte message in SegmentBuilder::add).
inline void append_record(std::string& out, const MessageMeta& meta, std::string_view body) {
  char head[kMetaFixed];
  encode_record_head(head, meta);
  out.append(head, kMetaFixed);
  if (meta.id) out.append(meta.id->bytes);
  out.append(body);
}

inline MessageView decode_record(uint64_t seq, const MDB_val& v) {
  if (v.mv_size < kMetaFixed) throw JournalError("journal record too short: the data file is damaged");
  const char* p = static_cast<const char*>(v.mv_data);
  MessageView m;
  m.seq = seq;
  m.meta.ts_ms = read_u64(p);
  m.meta.due_ms = read_u64(p + 8);
  m.meta.expire_ms = read_u64(p + 16);
  const uint8_t flags = static_cast<uint8_t>(p[24]);
  const std::size_t id_len = static_cast<uint8_t>(p[25]);
  if (kMetaFixed + id_len > v.mv_size) throw JournalError("journal record id overruns: the data file is damaged");
  if (flags & kHasId) {
    m.meta.id = cqp1::ProducerId{std::string_view(p + kMetaFixed, id_len), (flags & kIdBinary) != 0};
  }
  m.body = std::string_view(p + kMetaFixed + id_len, v.mv_size - kMetaFixed - id_len);
  return m;
}

inline std::string& message_key(std::string& buf, uint32_t qid, uint64_t seq) {
  buf.resize(12);
  store_be32(buf.data(), qid);
  store_be64(buf.data() + 4, seq);
  return buf;
}

// Visits items 0, 4, 8, ..., then 1, 5, 9, ..., and so on: the order to
// erase a run of neighbouring records in. Erased in key order, each page is
// drained from one end, and once it is under a quarter full LMDB moves a
// node in from the next page for every further erase. Thinned out in four
// passes, the pages fall under that mark together and are merged whole.
// Callgrind (BENCHMARKS.md, "Erasing runs of records"): -1.8 % per message
// at 256 per PUT for acked messages, -1.8 % for pruned producer ids; two
// passes gained less on acks, eight lost to the extra lookups.
template <class Item, class Visit>
void for_each_thinned(const std::vector<Item>& items, Visit&& visit) {
  constexpr std::size_t kPasses = 4;
  for (std::size_t pass = 0; pass < kPasses; ++pass) {
    for (std::size_t i = pass; i < items.size(); i += kPasses) visit(items[i]);
  }
}

}  // namespace format
}  // namespace courier::proxy
