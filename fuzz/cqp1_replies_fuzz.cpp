// fuzz/cqp1_replies_fuzz.cpp — the client's typed readers of proxy replies
// (src/protocol/replies.hpp) over fuzzed reply headers: what a Consumer,
// Producer or Admin does with whatever a broken or hostile proxy sends.
//
// Input: [1 byte: body frame count][reply header frame].
// Properties, beyond "no crash, no leak, no UB":
//  - every reader either returns or throws BadRequest (nothing else);
//  - what a reader returns is what the header says (ERROR code/tag,
//    CONFIRM tag and per-message seq, DELIVER ids, STATS figures);
//  - a DELIVER never counts more messages than body frames came with it.
#include "fuzz_check.hpp"
#include "protocol/replies.hpp"

#include <cstddef>
#include <cstdint>

namespace {

namespace cqp1 = courier::cqp1;
namespace key = courier::cqp1::key;
using cqp1::BadRequest;
using cqp1::HeaderView;

void check_error(const HeaderView& h) {
  try {
    const cqp1::ErrorReply e = cqp1::ErrorReply::read(h);
    if (const auto code = h.uint(key::code)) FUZZ_CHECK(e.code == static_cast<int>(*code), "ERROR code changed");
    FUZZ_CHECK(e.tag == h.uint(key::tag), "ERROR tag changed");
    FUZZ_CHECK((e.ids != nullptr) == (h.find(key::d) != nullptr), "ERROR 'd' lost or invented");
    FUZZ_CHECK(e.answers_request() == (!e.tag && e.ids == nullptr), "answers_request() inconsistent");
  } catch (const BadRequest&) {
  }
}

void check_confirm(const HeaderView& h) {
  try {
    const cqp1::ConfirmReply c = cqp1::ConfirmReply::read(h);
    FUZZ_CHECK(c.tag() == h.need_uint(key::tag), "CONFIRM tag changed");
    const msgpack::object* seqs = h.find(key::seq);
    const bool batch = h.find(key::n) != nullptr;
    for (std::size_t i = 0; i < 8; ++i) {
      const uint64_t seq = c.seq(i);  // noexcept: any i, present or not
      (void)c.dup(i);
      if (batch && seqs && seqs->type == msgpack::type::ARRAY && i < seqs->via.array.size &&
          seqs->via.array.ptr[i].type == msgpack::type::POSITIVE_INTEGER) {
        FUZZ_CHECK(seq == seqs->via.array.ptr[i].via.u64, "batch CONFIRM seq %zu changed", i);
      }
    }
  } catch (const BadRequest&) {
  }
}

void check_deliver(const HeaderView& h, std::size_t bodies) {
  try {
    const cqp1::DeliverReply r = cqp1::DeliverReply::read(h, bodies);
    FUZZ_CHECK(r.size() <= bodies, "DELIVER counts %zu messages with %zu bodies", r.size(), bodies);
    for (std::size_t i = 0; i < r.size(); ++i) {
      try {
        const cqp1::Delivered m = r.at(i);
        if (r.batch()) {
          const auto* d = h.array(key::d);
          FUZZ_CHECK(d && i < d->size && d->ptr[i].via.u64 == m.d, "batch DELIVER id %zu changed", i);
        } else {
          FUZZ_CHECK(m.d == h.need_uint(key::d), "DELIVER id changed");
        }
        FUZZ_CHECK(!m.id || m.id->bytes.size() <= cqp1::kMaxProducerId, "DELIVER id too long");
      } catch (const BadRequest&) {
      }
    }
  } catch (const BadRequest&) {
  }
}

void check_stats(const HeaderView& h) {
  try {
    const courier::ProxyStats s = cqp1::read_stats(h);
    const msgpack::object* queues = h.find(key::queues);
    FUZZ_CHECK(queues != nullptr || s.queues.empty(), "STATS invented queues");
    if (queues == nullptr) return;
    FUZZ_CHECK(s.queues.size() <= queues->via.map.size, "STATS has more queues than the map");
    // The first entry of each name is the one kept (std::map::emplace).
    for (uint32_t i = 0; i < queues->via.map.size; ++i) {
      const auto& kv = queues->via.map.ptr[i];
      const std::string name(kv.key.via.str.ptr, kv.key.via.str.size);
      bool first = true;
      for (uint32_t j = 0; j < i; ++j) {
        const auto& k = queues->via.map.ptr[j].key;
        first = first && std::string(k.via.str.ptr, k.via.str.size) != name;
      }
      if (!first) continue;
      const auto it = s.queues.find(name);
      FUZZ_CHECK(it != s.queues.end(), "STATS lost queue %s", name.c_str());
      uint64_t depth = 0;  // the last "depth" of the entry wins
      for (const auto& f : kv.val.via.map) {
        if (f.key.type == msgpack::type::STR && std::string_view(f.key.via.str.ptr, f.key.via.str.size) == key::depth) {
          depth = f.val.via.u64;
        }
      }
      FUZZ_CHECK(it->second.depth == depth, "STATS depth of %s changed", name.c_str());
    }
  } catch (const BadRequest&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t bodies = data[0] % 8;
  msgpack::zone zone;
  try {
    const HeaderView h = HeaderView::parse(data + 1, size - 1, zone, HeaderView::From::proxy);
    check_error(h);
    check_confirm(h);
    check_deliver(h, bodies);
    check_stats(h);
    try {
      (void)cqp1::Welcome::read(h);
      (void)cqp1::read_boot(h);
      (void)cqp1::read_queue(h);
      (void)cqp1::read_depth(h);
      (void)cqp1::read_removed(h);
    } catch (const BadRequest&) {
    }
  } catch (const BadRequest&) {
  }
  return 0;
}
