// DeliveryRelay (relay.hpp): one C++ thread per aio.Consumer between the
// Consumer's buffer and an eventfd the event loop watches.
#include "relay.hpp"

#include <chrono>
#include <utility>

namespace courier::python {

DeliveryRelay::DeliveryRelay(std::shared_ptr<Consumer> consumer)
    : consumer_(std::move(consumer)), thread_([this] { run(); }) {}

DeliveryRelay::~DeliveryRelay() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Relayed but never taken: destroyed unsettled here, so nacked (requeued)
  // by RawDelivery's own rule.
}

void DeliveryRelay::demand(std::size_t n) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    demand_ = n;
  }
  cv_.notify_all();
}

std::optional<RawDelivery> DeliveryRelay::take() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ready_.empty()) {
    RawDelivery d = std::move(ready_.front());
    ready_.pop_front();
    return d;
  }
  if (error_) std::rethrow_exception(error_);
  return std::nullopt;
}

void DeliveryRelay::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || demand_ > ready_.size(); });
      if (stopping_) return;
    }
    std::optional<RawDelivery> d;
    try {
      d = consumer_->receive_raw(std::chrono::milliseconds(kRelaySliceMs));
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        error_ = std::current_exception();
      }
      waker_.notify();
      return;
    }
    if (!d) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(std::move(*d));
    }
    waker_.notify();
  }
}

}  // namespace courier::python
