#include "eventfd_wakeup.hpp"

#include <courier/errors.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace courier::detail {

EventfdWakeup::EventfdWakeup() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) {
    throw Error(ErrorCode::config, std::string("cannot create an eventfd: ") + std::strerror(errno));
  }
}

EventfdWakeup::~EventfdWakeup() { ::close(fd_); }

void EventfdWakeup::notify() noexcept {
  const std::uint64_t one = 1;
  // EAGAIN only when the counter is saturated, i.e. already readable.
  while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void EventfdWakeup::drain() noexcept {
  std::uint64_t value;
  while (::read(fd_, &value, sizeof value) < 0 && errno == EINTR) {
  }
}

}  // namespace courier::detail
