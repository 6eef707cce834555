// Inbox and Waker (inbox.hpp), and the courier._native.Inbox class the
// asyncio layer drains.
#include "inbox.hpp"

#include "bindings.hpp"
#include "errors.hpp"
#include "frames.hpp"

#include <courier/errors.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace nb = nanobind;

namespace courier::python {

Waker::Waker() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) throw ConfigError(std::string("cannot make an eventfd for courier.aio: ") + std::strerror(errno) +
                      " (too many open files? raise ulimit -n)");
}

Waker::~Waker() { ::close(fd_); }

void Waker::notify() noexcept {
  const std::uint64_t one = 1;
  // EAGAIN only when the counter is near 2^64: it is readable already.
  while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void Waker::clear() noexcept {
  std::uint64_t n;
  while (::read(fd_, &n, sizeof n) < 0 && errno == EINTR) {
  }
}

void Inbox::post(std::uint64_t token, Outcome outcome) noexcept {
  try {
    std::lock_guard<std::mutex> lock(mu_);
    items_.emplace_back(token, std::move(outcome));
  } catch (...) {
    return;  // out of memory: that call's future never completes
  }
  waker_.notify();
}

namespace {

// (ok, value): the result a finished call gives, or the exception it raises.
std::pair<bool, nb::object> resolve(Outcome& o) {
  if (o.error) return {false, python_error(o.error)};
  switch (o.kind) {
    case Outcome::Kind::confirm: return {true, nb::int_(o.seq)};
    case Outcome::Kind::reply_raw: return {true, nb::bytes(o.body.data(), o.body.size())};
    case Outcome::Kind::reply: break;
  }
  try {
    return {true, unpack_bytes(o.body.data(), o.body.size())};
  } catch (nb::python_error& e) {
    return {false, nb::borrow(e.value())};
  } catch (const Error&) {
    return {false, python_error(std::current_exception())};
  }
}

}  // namespace

nb::list Inbox::drain() {
  waker_.clear();  // before taking the queue: see the contract
  std::deque<std::pair<std::uint64_t, Outcome>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(items_);
  }
  nb::list out;
  for (auto& [token, outcome] : batch) {
    auto [ok, value] = resolve(outcome);
    out.append(nb::make_tuple(token, ok, value));
  }
  return out;
}

void bind_inbox(nb::module_& m) {
  nb::class_<PyInbox>(m, "_Inbox", "Outcomes from C++ I/O threads for courier.aio, behind a level-triggered eventfd.")
      .def(nb::init<>())
      .def("fileno", [](PyInbox& i) { return i.inbox->fileno(); })
      .def("drain", [](PyInbox& i) { return i.inbox->drain(); },
           "[(token, ok, result or exception)], after clearing the eventfd.");
}

}  // namespace courier::python
