// bench/raw_put_producer.hpp — a producer that cuts its own PUTs, for the
// "messages per PUT" axis of the proxy benchmarks (issue 13 item 2).
//
// courier::Producer sends whatever waits behind the PUT on the wire as one
// batch PUT (up to 4096), so it cannot be told to send one message per PUT
// while keeping a window of them in flight. This client speaks CQP1 directly
// (cppzmq + msgpack, as a pyzmq user's script would): PUTs of exactly
// `per_put` messages (1 = the single-message form, ≥ 2 the batch form of
// PROTOCOL.md §3.4), each with producer ids, up to `window` messages
// unconfirmed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct RawPutOptions {
  std::string endpoint;
  std::string queue;
  uint64_t messages = 0;
  uint64_t per_put = 1;
  uint64_t window = 1000;
};

// Publishes `messages` copies of `body` and returns once all are confirmed.
// Throws std::runtime_error on an ERROR reply or 30 s without any reply.
void publish_raw_puts(const RawPutOptions& o, const std::string& body);

// Open loop at `rate` msgs/s: each message is sent as its own PUT when due,
// whatever is still unconfirmed (as bench/rabbitmq_load does with
// basic.publish), and its publish -> CONFIRM latency is taken when the
// CONFIRM arrives. Returns the latencies in µs, one per message.
// With `ping`, PING takes the PUT's place and PONG the CONFIRM's (answered in
// order): the same path through both event loops without a journal write,
// so confirm latency minus ping latency is what the commit adds.
std::vector<double> confirm_latencies(const RawPutOptions& o, const std::string& body, uint64_t rate,
                                      bool ping = false);

}  // namespace bench
