#include "completions.hpp"

#include "bindings.hpp"
#include "errors.hpp"
#include "frames.hpp"

#include <chrono>
#include <deque>
#include <utility>
#include <vector>

namespace nb = nanobind;

namespace courier::python {

void Slot::set(Outcome outcome) noexcept {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_) return;
    outcome_ = std::move(outcome);
    done_ = true;
  }
  cv_.notify_all();
}

bool Slot::wait_for(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return done_; });
}

namespace {

struct Posted {
  PyObject* future;  // owned reference, released with the GIL held
  Outcome outcome;
};

// Leaked on purpose: I/O threads may post while the interpreter exits.
struct Queue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Posted> items;
  bool wake = false;
};
Queue& queue() {
  static auto* q = new Queue();
  return *q;
}

bool pump_started = false;

// The value a future gets, or the exception it gets. GIL held.
void resolve(PyObject* future, Outcome& o) {
  nb::handle f(future);
  try {
    if (o.error) {
      f.attr("set_exception")(python_error(o.error));
    } else if (o.kind == Outcome::Kind::confirm) {
      f.attr("set_result")(o.seq);
    } else if (o.kind == Outcome::Kind::reply_raw) {
      f.attr("set_result")(nb::bytes(o.body.data(), o.body.size()));
    } else {
      nb::object value;
      try {
        value = unpack_bytes(o.body.data(), o.body.size());
      } catch (nb::python_error& e) {
        f.attr("set_exception")(nb::borrow(e.value()));
        return;
      }
      f.attr("set_result")(value);
    }
  } catch (nb::python_error& e) {
    // set_result on a future already resolved (InvalidStateError): nothing
    // else to tell anyone; the outcome is dropped with the future.
    e.discard_as_unraisable("courier: completing a future");
  }
}

}  // namespace

nb::object new_future() {
  static PyObject* future_class =
      nb::object(nb::module_::import_("concurrent.futures").attr("Future")).release().ptr();
  if (!pump_started) {
    nb::module_::import_("courier._completions").attr("ensure_started")();
    pump_started = true;
  }
  nb::object f = nb::handle(future_class)();
  f.attr("set_running_or_notify_cancel")();
  return f;
}

void post(PyObject* future, Outcome outcome) noexcept {
  Queue& q = queue();
  try {
    std::lock_guard<std::mutex> lock(q.mu);
    q.items.push_back({future, std::move(outcome)});
  } catch (...) {
    return;  // out of memory: the future never completes (its reference leaks)
  }
  q.cv.notify_all();
}

std::size_t complete_pending(double timeout_s) {
  Queue& q = queue();
  std::deque<Posted> batch;
  {
    nb::gil_scoped_release unlocked;
    std::unique_lock<std::mutex> lock(q.mu);
    const auto ms = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
    q.cv.wait_for(lock, ms, [&] { return !q.items.empty() || q.wake; });
    q.wake = false;
    batch.swap(q.items);
  }
  for (auto& p : batch) {
    resolve(p.future, p.outcome);
    Py_DECREF(p.future);
  }
  return batch.size();
}

void bind_completions(nb::module_& m) {
  m.def("_complete_futures", &complete_pending, nb::arg("timeout"),
        "Complete queued futures, waiting up to timeout seconds; returns how many.");
  m.def("_wake_completions", [] {
    Queue& q = queue();
    {
      std::lock_guard<std::mutex> lock(q.mu);
      q.wake = true;
    }
    q.cv.notify_all();
  }, "Wake the completion thread (used to stop it).");
  m.def("_forget_completion_thread", [] { pump_started = false; },
        "After fork: the next future starts a new completion thread.");
}

}  // namespace courier::python
