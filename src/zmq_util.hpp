// Private helpers shared by the socket owners (pipeline, request): ZeroMQ
// calls with EINTR retried, ETERM turned into ClosedError, endpoint errors
// that name the endpoint and the reason, and timed waits. Never installed.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <zmq.h>

namespace courier::detail {

using Clock = std::chrono::steady_clock;

// Throws: ClosedError for ETERM/ENOTSOCK (context shut down, socket closed),
// courier::Error otherwise; the text says what was being done.
[[noreturn]] void throw_zmq_error(int err, std::string_view doing);

// Binds / connects `socket` to `endpoint`.
// Throws: ConfigError "cannot bind tcp://...: <reason>" plus a hint.
void bind_or_throw(void* socket, const std::string& endpoint);
void connect_or_throw(void* socket, const std::string& endpoint);

// Returns: the socket's ZMQ_LAST_ENDPOINT ("" before any bind/connect).
std::string last_endpoint_of(void* socket);

// Milliseconds until `deadline`, rounded up, clamped to [0, INT_MAX].
int ms_until(Clock::time_point deadline) noexcept;

// A deadline `timeout` from now that never overflows (huge = forever).
Clock::time_point deadline_after(std::chrono::milliseconds timeout) noexcept;

// Waits until `socket` has `events` (ZMQ_POLLIN/ZMQ_POLLOUT) or `deadline`
// passes. EINTR is retried with the remaining time.
// Returns: false on timeout. Throws: ClosedError on ETERM.
bool wait_for(void* socket, short events, Clock::time_point deadline);

// Receives one frame into `msg`. timeout_ms: -1 blocks, 0 never waits, > 0
// waits at most that long. EINTR is retried.
// Returns: false when nothing arrived in time (with -1: when the socket's own
// ZMQ_RCVTIMEO expired). Throws: ClosedError on ETERM.
bool recv_frame(void* socket, zmq_msg_t* msg, int timeout_ms);

// Sends `msg` with `flags` (ZMQ_SNDMORE allowed), same timeout rules. On
// success the message is emptied; on false it is left intact.
bool send_frame(void* socket, zmq_msg_t* msg, int flags, int timeout_ms);

// Returns: true when the frame just received has more parts after it.
bool has_more(zmq_msg_t* msg) noexcept;

// Receives and discards the remaining parts of a multipart message.
// Returns: how many parts were discarded.
std::size_t discard_rest(void* socket);

}  // namespace courier::detail
