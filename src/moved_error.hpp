// Private: ERROR 421 as an exception that keeps the proxy's `moved_to`
// (docs/scaling.md "Routing in the clients"). Never installed.
//
// A single-proxy Producer fails a message refused with 421 with this error;
// users see a RemoteError 421 whose text names the new owner. A sharded
// Producer catches it (it is internal to the library) to resend the message
// to the queue's new owner.
#pragma once

#include "protocol/cqp1.hpp"

#include <courier/errors.hpp>

#include <string>
#include <utility>

namespace courier::detail {

class MovedError : public RemoteError {
 public:
  MovedError(const std::string& reason, std::string moved_to)
      : RemoteError(cqp1::kMoved, reason), moved_to_(std::move(moved_to)) {}
  // Returns: the proxy name the refusing proxy gave ("" when it gave none).
  const std::string& moved_to() const noexcept { return moved_to_; }

 private:
  std::string moved_to_;
};

}  // namespace courier::detail
