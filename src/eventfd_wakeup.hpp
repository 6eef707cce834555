// Private: a Linux eventfd that lets any thread wake a thread sleeping in
// zmq_poll (polled as a plain fd next to the ZeroMQ socket). This is how
// user threads hand work to the thread that owns a socket without sharing
// the socket and without polling sleeps. Never installed.
#pragma once

#include <zmq.h>

namespace courier::detail {

class EventfdWakeup {
 public:
  // Throws: courier::Error if the kernel refuses an eventfd.
  EventfdWakeup();
  ~EventfdWakeup();
  EventfdWakeup(const EventfdWakeup&) = delete;
  EventfdWakeup& operator=(const EventfdWakeup&) = delete;

  // Makes the fd readable. Thread-safety: any thread. Never blocks.
  void notify() noexcept;
  // Resets the fd to not readable. Thread-safety: the polling thread.
  void drain() noexcept;
  // A zmq_pollitem_t for zmq_poll (ZMQ_POLLIN on the fd).
  zmq_pollitem_t poll_item() const noexcept { return zmq_pollitem_t{nullptr, fd_, ZMQ_POLLIN, 0}; }

 private:
  int fd_;
};

}  // namespace courier::detail
