// proxy/message.hpp — a stored message as the journal hands it out: its
// metadata and a view of its body (journal.hpp, segment.hpp).
#pragma once

#include "protocol/cqp1.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace courier::proxy {

struct MessageMeta {
  uint64_t ts_ms = 0;      // enqueue time
  uint64_t due_ms = 0;     // 0: ready on arrival; else delayed until then
  uint64_t expire_ms = 0;  // 0: never expires
  std::optional<cqp1::ProducerId> id;
};

// A stored message; views into the journal, valid until its next write or
// the end of the turn (journal.hpp, "Transactions").
struct MessageView {
  uint64_t seq = 0;
  MessageMeta meta;
  std::string_view body;
};

}  // namespace courier::proxy
