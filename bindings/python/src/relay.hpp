// relay.hpp — deliveries of a C++ Consumer for courier.aio.
//
// Contract
// - Why: courier::Consumer has no file descriptor to wait on (its buffer is
//   guarded by a condition variable), and the C++ library stays as it is.
//   So an aio.Consumer's DeliveryRelay starts ONE C++ thread, "the relay",
//   for the life of the Consumer (not one per call). It never touches
//   Python: it waits in Consumer::receive_raw() and moves each delivery into
//   its own list, then makes a level-triggered eventfd (Waker) readable,
//   which asyncio watches with loop.add_reader().
// - Demand: the relay takes a delivery only while fewer are waiting in its
//   list than coroutines wait in receive() (demand()). So it never empties
//   the Consumer's buffer on its own, and with auto_ack (where taking a
//   delivery returns credit) nothing piles up here. A receive() cancelled
//   after the relay took its delivery leaves it in the list: the next
//   receive() gets it; nothing is lost.
// - Errors: an exception of receive_raw() (ClosedError: context shut down)
//   ends the relay; take() raises it once the list is empty.
// - Lifetime: the destructor stops the relay and joins it, within one
//   receive slice (kRelaySliceMs). No GIL needed; call it without.
// - Threading: every member but the destructor is called with the GIL, from
//   the event loop's thread.
#pragma once

#include "inbox.hpp"

#include <courier/consumer.hpp>

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace courier::python {

// How long the relay waits in receive_raw() before it looks at stop: bounds
// close(), not latency (a delivery wakes it at once).
constexpr int kRelaySliceMs = 200;

class DeliveryRelay {
 public:
  explicit DeliveryRelay(std::shared_ptr<Consumer> consumer);
  ~DeliveryRelay();
  DeliveryRelay(const DeliveryRelay&) = delete;
  DeliveryRelay& operator=(const DeliveryRelay&) = delete;

  int fileno() const noexcept { return waker_.fileno(); }
  // The event loop's reader callback: makes the eventfd unreadable again.
  void clear() noexcept { waker_.clear(); }
  // How many coroutines wait for a delivery now.
  void demand(std::size_t n);
  // The oldest relayed delivery; nullopt when none. Throws what ended the
  // relay, once nothing relayed is left.
  std::optional<RawDelivery> take();

 private:
  void run();

  std::shared_ptr<Consumer> consumer_;
  Waker waker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<RawDelivery> ready_;  // guarded by mu_
  std::size_t demand_ = 0;         // guarded by mu_
  bool stopping_ = false;          // guarded by mu_
  std::exception_ptr error_;       // guarded by mu_
  std::thread thread_;             // last: started once the rest exists
};

}  // namespace courier::python
