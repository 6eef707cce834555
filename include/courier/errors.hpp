// courier/errors.hpp — the exceptions courier throws.
//
// Contract
// - Every error courier raises derives from courier::Error, which carries a
//   stable ErrorCode and a message that names what was involved (endpoint,
//   queue, option, expected type) and, where there is one, the next step.
// - "Nothing yet" is never an exception: try_/timed forms return
//   std::optional or bool. Exceptions are for failures.
// - All types are plain values: copyable, thread-agnostic.
#pragma once

#include <courier/export.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace courier {

// Stable numbers, usable in logs and across the language binding.
enum class ErrorCode : int {
  decode = 1,    // a frame is not the msgpack object the receiver expected
  protocol = 2,  // a peer broke PROTOCOL.md (bad frames, bad header)
  timeout = 3,   // a deadline passed with no answer
  remote = 4,    // the peer answered with an error (ok:false, CQP1 ERROR)
  journal = 5,   // the proxy's LMDB journal failed
  config = 6,    // bad endpoint, option or argument given by the user
  closed = 7,    // the socket or its context was closed while in use
};

// Base of every courier exception.
class COURIER_EXPORT Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& what);
  ~Error() override;
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// A frame did not decode to the expected type. expected() is the C++ type
// asked for, found() a short description of what the frame held.
class COURIER_EXPORT DecodeError : public Error {
 public:
  DecodeError(std::string expected, std::string found);
  ~DecodeError() override;
  const std::string& expected() const noexcept { return expected_; }
  const std::string& found() const noexcept { return found_; }

 private:
  std::string expected_;
  std::string found_;
};

// A peer sent something PROTOCOL.md does not allow.
class COURIER_EXPORT ProtocolError : public Error {
 public:
  explicit ProtocolError(const std::string& what);
  ~ProtocolError() override;
};

// A deadline passed (request timeout, confirm timeout, ...).
class COURIER_EXPORT TimeoutError : public Error {
 public:
  explicit TimeoutError(const std::string& what);
  ~TimeoutError() override;
};

// The remote side reported a failure: a §2 reply with ok:false (status 0),
// or a CQP1 ERROR (status = its code: 400, 404, 413, 429, 503, 500).
class COURIER_EXPORT RemoteError : public Error {
 public:
  RemoteError(int status, const std::string& reason);
  ~RemoteError() override;
  int status() const noexcept { return status_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  int status_;
  std::string reason_;
};

// The journal (LMDB) failed; the text says which operation and what to do.
class COURIER_EXPORT JournalError : public Error {
 public:
  explicit JournalError(const std::string& what);
  ~JournalError() override;
};

// Bad configuration: an endpoint that cannot be bound or connected, an
// option out of range. The text names the endpoint/option and why.
class COURIER_EXPORT ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what);
  ~ConfigError() override;
};

// The socket or its ZeroMQ context was shut down while the call was waiting
// (for example Context::shutdown() from another thread).
class COURIER_EXPORT ClosedError : public Error {
 public:
  explicit ClosedError(const std::string& what);
  ~ClosedError() override;
};

}  // namespace courier
