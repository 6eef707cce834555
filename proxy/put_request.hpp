// proxy/put_request.hpp — a PUT read from its header (PROTOCOL.md §3.1, and
// the batch form of §3.4), and what the store phase decides for each body.
//
// The Broker keeps one PutRequest and refills it for every PUT: at one
// message per PUT its three vectors were three heap allocations per message
// (~3 % of the proxy's instructions), now they reuse their capacity.
#pragma once

#include "protocol/cqp1.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace courier::proxy {

struct PutRequest {
  uint64_t tag = 0;
  std::string_view queue;
  std::optional<uint64_t> n;  // the batch form's count; nullopt: one body
  uint64_t delay = 0;
  std::optional<uint64_t> ttl;
  std::size_t bodies = 0;                            // frames[4 ..]
  std::vector<std::optional<cqp1::ProducerId>> ids;  // one slot per body

  // Filled by the store phase, one slot per body: the seq the message has
  // (the first one's, for a duplicate) and whether it was a duplicate.
  std::vector<uint64_t> seqs;
  std::vector<bool> dup;
};

// Reads a PUT's header `h` and its count of body frames into `put`, replacing
// everything it held. Views point into the header's frame. Throws
// cqp1::BadRequest, naming the key, for a PUT the proxy must refuse with 400.
void read_put(const cqp1::HeaderView& h, std::size_t bodies, PutRequest& put);

}  // namespace courier::proxy
