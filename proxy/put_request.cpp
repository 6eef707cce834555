// proxy/put_request.cpp — reading a PUT's header (see put_request.hpp).
#include "put_request.hpp"

#include <string>

namespace courier::proxy {

using cqp1::BadRequest;

void read_put(const cqp1::HeaderView& h, std::size_t bodies, PutRequest& put) {
  put.tag = h.need_uint(cqp1::key::tag);
  put.queue = h.need_queue();
  put.n = h.uint(cqp1::key::n);
  put.delay = h.uint(cqp1::key::delay).value_or(0);
  put.ttl = h.uint(cqp1::key::ttl);
  put.bodies = bodies;
  put.ids.clear();
  if (!put.n) {
    if (bodies != 1) {
      throw BadRequest("carries exactly one body frame, got " + std::to_string(bodies) +
                       " (for several, use the batch form with 'n')");
    }
    put.ids.push_back(h.producer_id(cqp1::key::id));
  } else {
    if (*put.n < 1 || *put.n > cqp1::kMaxBatch) throw BadRequest("'n' must be 1..4096");
    if (bodies != *put.n) {
      throw BadRequest("batch says n=" + std::to_string(*put.n) + " but carries " + std::to_string(bodies) +
                       " body frame(s)");
    }
    put.ids.resize(bodies);
    if (const msgpack::object_array* arr = h.array(cqp1::key::ids)) {
      if (arr->size != *put.n) throw BadRequest("'ids' must have n entries");
      for (uint32_t i = 0; i < arr->size; ++i) put.ids[i] = cqp1::as_producer_id(arr->ptr[i], "'ids' entry");
    }
  }
  put.seqs.assign(bodies, 0);
  put.dup.assign(bodies, false);
}

}  // namespace courier::proxy
