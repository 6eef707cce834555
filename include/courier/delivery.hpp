// courier/delivery.hpp — one message handed to a Consumer by courier-proxy.
//
// Contract
// - What: a Delivery<T> is one DELIVER of PROTOCOL.md §3: the body (decoded
//   with codec.hpp on first access to body(); the bytes stay available with
//   raw()), the queue's seq, the producer's id, attempt (1 on the first
//   delivery, +1 on each redelivery), and ack()/nack()/touch() to settle it.
// - Ownership: move-only. It owns its body frame and shares (shared_ptr) a
//   small settlement channel with its Consumer, so it may outlive the
//   Consumer: ack()/nack() then return false and change nothing (the proxy
//   requeued the message when the Consumer said BYE).
// - Settling: exactly one ack() or nack() counts; later ones return false.
//   A delivery destroyed unsettled is NACKed with requeue (never leaked:
//   a leaked delivery would hold a credit forever). auto_ack deliveries are
//   settled from the start (ack/nack return false). Settling is handed to
//   the Consumer's I/O thread, which batches all pending acks into one ACK.
//   After a reconnect the proxy has already requeued what the old connection
//   held: settling such a delivery returns false (it will be redelivered).
// - Thread-safety: one Delivery is used by one thread at a time; settling
//   from any thread is fine.
// - Errors: body() throws DecodeError when the body is not a T; the delivery
//   stays valid and unsettled (nack(false) sends it to the dead-letter queue).
#pragma once

#include <courier/codec.hpp>
#include <courier/errors.hpp>
#include <courier/export.hpp>

#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace courier {

namespace detail {
class ConsumerShared;  // the Consumer's settlement channel (src/consumer.cpp)

// What the Consumer's I/O thread parsed out of a DELIVER, for one message.
struct DeliveryData {
  std::string queue;
  zmq::message_t body;
  std::uint64_t delivery_id = 0;
  std::uint64_t seq = 0;
  std::uint32_t attempt = 1;
  std::uint64_t ts_ms = 0;
  std::string id;           // producer id ("" when none)
  bool id_is_binary = false;  // the id came as msgpack bin, not str
  std::uint64_t epoch = 0;  // connection it came on
  bool auto_ack = false;
};
}  // namespace detail

class Consumer;

// The untyped delivery: body as bytes (by convention one msgpack object).
// Only a Consumer makes one (receive_raw()).
class COURIER_EXPORT RawDelivery {
 public:
  RawDelivery(RawDelivery&& other) noexcept;
  RawDelivery& operator=(RawDelivery&& other) noexcept;
  RawDelivery(const RawDelivery&) = delete;
  RawDelivery& operator=(const RawDelivery&) = delete;
  // NACKs with requeue when unsettled. noexcept.
  ~RawDelivery();

  // Returns: the body bytes. Lifetime: this object's.
  std::string_view bytes() const noexcept {
    return std::string_view(static_cast<const char*>(data_.body.data()), data_.body.size());
  }
  const zmq::message_t& message() const noexcept { return data_.body; }
  const std::string& queue() const noexcept { return data_.queue; }
  // Returns: the position in the queue (kept across redeliveries).
  std::uint64_t seq() const noexcept { return data_.seq; }
  // Returns: the producer's message id, "" when it had none.
  const std::string& id() const noexcept { return data_.id; }
  // Returns: true when the producer sent its id as msgpack bin (bytes), not str.
  bool id_is_binary() const noexcept { return data_.id_is_binary; }
  // Returns: 1 on first delivery, n on the n-th.
  std::uint32_t attempt() const noexcept { return data_.attempt; }
  bool redelivered() const noexcept { return data_.attempt > 1; }
  // Returns: the proxy's delivery id (unique per proxy process lifetime).
  std::uint64_t delivery_id() const noexcept { return data_.delivery_id; }
  // Returns: when the message was enqueued (Unix epoch ms from the proxy).
  std::chrono::system_clock::time_point timestamp() const noexcept {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(data_.ts_ms));
  }

  // Acknowledges: the proxy removes the message. Returns: true when handed
  // to the I/O thread; false when already settled, auto_ack, the connection
  // it came on is gone (it will be redelivered), or the Consumer is closed.
  // Throws: nothing. Thread-safety: any thread.
  bool ack() noexcept;
  // Rejects: requeue=true puts it back at its seq (redelivered with attempt+1);
  // requeue=false moves it to the queue's dead_letter queue, or drops it.
  // Returns/Throws/Thread-safety: as ack().
  bool nack(bool requeue = true) noexcept;
  // "Still working on it": restarts the queue's ack_timeout clock. Does not
  // settle. Returns: false when settled or the connection is gone.
  bool touch() noexcept;
  // Returns: true once ack()/nack() succeeded, or for auto_ack deliveries.
  bool settled() const noexcept { return settled_; }

 private:
  // Built by the Consumer from what its I/O thread parsed; private so that
  // no detail:: type is part of what users can call.
  friend class Consumer;
  RawDelivery(std::shared_ptr<detail::ConsumerShared> owner, detail::DeliveryData data) noexcept;

  bool settle(int how) noexcept;
  std::shared_ptr<detail::ConsumerShared> owner_;
  detail::DeliveryData data_;
  bool settled_ = true;
};

// A delivery whose body is a T, decoded lazily on first body() call.
template <class T>
class Delivery {
 public:
  explicit Delivery(RawDelivery raw) noexcept : raw_(std::move(raw)) {}

  // Returns: the decoded body (cached). Throws: DecodeError naming T and
  // what the frame held; the delivery stays usable (raw(), nack()).
  const T& body() const {
    if (!value_) value_.emplace(decode<T>(raw_.message().data(), raw_.message().size()));
    return *value_;
  }
  T& body() {
    static_cast<const Delivery&>(*this).body();
    return *value_;
  }

  std::uint64_t seq() const noexcept { return raw_.seq(); }
  const std::string& id() const noexcept { return raw_.id(); }
  bool id_is_binary() const noexcept { return raw_.id_is_binary(); }
  std::uint32_t attempt() const noexcept { return raw_.attempt(); }
  bool redelivered() const noexcept { return raw_.redelivered(); }
  const std::string& queue() const noexcept { return raw_.queue(); }
  std::uint64_t delivery_id() const noexcept { return raw_.delivery_id(); }
  std::chrono::system_clock::time_point timestamp() const noexcept { return raw_.timestamp(); }
  bool ack() noexcept { return raw_.ack(); }
  bool nack(bool requeue = true) noexcept { return raw_.nack(requeue); }
  bool touch() noexcept { return raw_.touch(); }
  bool settled() const noexcept { return raw_.settled(); }
  RawDelivery& raw() noexcept { return raw_; }
  const RawDelivery& raw() const noexcept { return raw_; }

 private:
  RawDelivery raw_;
  mutable std::optional<T> value_;
};

}  // namespace courier
