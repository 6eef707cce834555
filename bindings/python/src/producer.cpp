// Producer (PROTOCOL.md §3) for Python.
//
// Every publish goes through the C++ try_publish_raw_async with a confirm
// callback, which runs on the Producer's I/O thread and only fills a Slot
// (publish) or posts to the completion queue (publish_async): no GIL there.
// The caller waits in interruptible slices, for room in the window and for
// the confirm, so Ctrl-C ends a publish within a slice. A publish
// interrupted after hand-over stays in the window and is still confirmed.
#include "bindings.hpp"

#include "blocking.hpp"
#include "completions.hpp"
#include "frames.hpp"
#include "inbox.hpp"
#include "options.hpp"
#include "resource.hpp"

#include <courier/producer.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace nb = nanobind;

namespace courier::python {
namespace {

// A datetime (its timestamp(); naive means local time, as Python has it) or
// float Unix seconds, to the C++ clock.
std::chrono::system_clock::time_point to_time_point(nb::handle when) {
  double seconds;
  if (PyFloat_Check(when.ptr()) || PyLong_Check(when.ptr())) {
    seconds = nb::cast<double>(when);
  } else if (nb::hasattr(when, "timestamp")) {
    seconds = nb::cast<double>(when.attr("timestamp")());
  } else {
    throw ConfigError(std::string("deliver_at takes a datetime or Unix seconds (float), not ") +
                      Py_TYPE(when.ptr())->tp_name);
  }
  if (!std::isfinite(seconds)) throw ConfigError("deliver_at must be a finite time");
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0)));
}

PublishOptions publish_options(std::optional<std::string> id, std::optional<double> delay, nb::handle deliver_at,
                               std::optional<double> ttl) {
  PublishOptions o;
  if (id) o.id = std::move(*id);
  if (delay) o.delay = to_ms(*delay, "delay");
  if (!deliver_at.is_none()) o.deliver_at = to_time_point(deliver_at);
  if (ttl) o.ttl = to_ms(*ttl, "ttl");
  return o;
}

Outcome confirm_outcome(const Confirm& c) {
  Outcome o;
  o.kind = Outcome::Kind::confirm;
  o.seq = c.seq;
  o.dup = c.dup;
  o.error = c.error;
  return o;
}

// The confirms of one publish_many() call, filled by the I/O thread.
struct BatchConfirms {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint64_t> seqs;
  std::size_t pending = 0;
  std::exception_ptr error;  // the first failure
  void set(std::size_t i, const Confirm& c) noexcept {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (c.error && !error) error = c.error;
      seqs[i] = c.seq;
      --pending;
    }
    cv.notify_all();
  }
  bool wait_for(int ms) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return pending == 0; });
  }
};

class PyProducer : public Owner<Producer> {
 public:
  PyProducer(std::optional<std::string> endpoint, std::string client_name, std::size_t window,
             double publish_timeout, double confirm_timeout, double heartbeat, double close_timeout,
             double full_wait, std::string id_prefix, const SocketOptions* socket, const CurveOptions* curve, const Context* context, std::optional<std::string> shards)
      : Owner("Producer", make(std::move(endpoint), std::move(client_name), window, publish_timeout,
                               confirm_timeout, heartbeat, close_timeout, full_wait, std::move(id_prefix), socket,
                               curve, context, std::move(shards))),
        publish_timeout_(publish_timeout) {}

  std::uint64_t publish(const std::string& queue, nb::handle value, std::optional<std::string> id,
                        std::optional<double> delay, nb::handle deliver_at, std::optional<double> ttl,
                        std::optional<double> timeout) {
    return publish_bytes(queue, pack_string(value), publish_options(std::move(id), delay, deliver_at, ttl), timeout);
  }
  std::uint64_t publish_raw(const std::string& queue, nb::handle data, std::optional<std::string> id,
                            std::optional<double> delay, nb::handle deliver_at, std::optional<double> ttl,
                            std::optional<double> timeout) {
    return publish_bytes(queue, buffer_bytes(data, "publish_raw()"),
                         publish_options(std::move(id), delay, deliver_at, ttl), timeout);
  }

  nb::object publish_async(const std::string& queue, nb::handle value, std::optional<std::string> id,
                           std::optional<double> delay, nb::handle deliver_at, std::optional<double> ttl,
                           std::optional<double> timeout) {
    return submit_async(queue, pack_string(value), publish_options(std::move(id), delay, deliver_at, ttl),
                        Deadline::after(timeout));
  }
  nb::object publish_raw_async(const std::string& queue, nb::handle data, std::optional<std::string> id,
                               std::optional<double> delay, nb::handle deliver_at, std::optional<double> ttl,
                               std::optional<double> timeout) {
    return submit_async(queue, buffer_bytes(data, "publish_raw_async()"),
                        publish_options(std::move(id), delay, deliver_at, ttl), Deadline::after(timeout));
  }

  // For courier.aio: hands the message over if the window has room (never
  // waits) and returns true; its confirm is posted to `inbox` under `token`
  // by the I/O thread. False: the window is full, nothing was queued; every
  // confirm posts to the inbox and frees room first, so the caller retries
  // after its next drain.
  bool publish_to(PyInbox& inbox, std::uint64_t token, const std::string& queue, nb::handle value,
                  std::optional<std::string> id, std::optional<double> delay, nb::handle deliver_at,
                  std::optional<double> ttl) {
    auto p = get();
    const std::string body = pack_string(value);
    const PublishOptions options = publish_options(std::move(id), delay, deliver_at, ttl);
    return p->try_publish_raw_async(queue, body, options, [in = inbox.inbox, token](const Confirm& c) {
      in->post(token, confirm_outcome(c));
    });
  }

  // The batch form: packs every value (GIL held), hands them all over and
  // waits for all their confirms in GIL-free slices; no Python object per
  // message besides the returned seqs. Returns the seqs in order. Raises the
  // first failure (the others may be stored: their ids say which).
  nb::list publish_many(const std::string& queue, nb::handle values, std::optional<double> timeout) {
    auto p = get();
    nb::object seq = nb::steal(PySequence_Fast(values.ptr(), "publish_many() takes an iterable of values"));
    if (!seq.is_valid()) throw nb::python_error();
    const std::size_t n = static_cast<std::size_t>(PySequence_Fast_GET_SIZE(seq.ptr()));
    PyObject** items = PySequence_Fast_ITEMS(seq.ptr());
    std::vector<std::string> bodies;
    bodies.reserve(n);
    for (std::size_t i = 0; i < n; ++i) bodies.push_back(pack_string(items[i]));
    const Deadline deadline = Deadline::after(timeout ? timeout : std::optional<double>(publish_timeout_));
    auto batch = std::make_shared<BatchConfirms>();
    batch->seqs.assign(n, 0);
    const PublishOptions options;
    std::size_t next = 0;
    const auto hand_over_some = [&](int ms) {
      const auto end = Clock::now() + std::chrono::milliseconds(ms);
      while (next < n) {
        {
          std::lock_guard<std::mutex> lock(batch->mu);
          ++batch->pending;
        }
        const std::size_t i = next;
        if (p->try_publish_raw_async(queue, bodies[i], options, [batch, i](const Confirm& c) { batch->set(i, c); })) {
          ++next;
          continue;
        }
        {
          std::lock_guard<std::mutex> lock(batch->mu);
          --batch->pending;
        }
        if (Clock::now() >= end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the window is full
      }
      return true;
    };
    if (!wait(deadline, hand_over_some, closed_flag(), kind()))
      throw TimeoutError("publish_many to " + queue + ": the window stayed full until the timeout; " +
                         std::to_string(next) + " of " + std::to_string(n) + " were queued");
    if (!wait(deadline, [&](int ms) { return batch->wait_for(ms); }, closed_flag(), kind()))
      throw TimeoutError("publish_many to " + queue + ": not every confirm came before the timeout; the "
                         "messages stay in the window and are resent until confirmed");
    if (batch->error) std::rethrow_exception(batch->error);
    nb::list out;
    for (std::uint64_t s : batch->seqs) out.append(s);
    return out;
  }

  // Waits until every message published so far is confirmed or failed, then
  // completes their futures on this thread. Returns false on timeout.
  bool flush(std::optional<double> timeout) {
    auto p = get();
    bool empty = wait(Deadline::after(timeout), [&](int ms) { return p->flush(std::chrono::milliseconds(ms)); },
                      closed_flag(), kind());
    complete_pending(0);
    return empty;
  }

  bool wait_connected(std::optional<double> timeout) {
    auto p = get();
    return wait(Deadline::after(timeout), [&](int ms) { return p->wait_connected(std::chrono::milliseconds(ms)); },
                closed_flag(), kind());
  }

  std::string endpoint() { return get()->endpoint(); }
  std::size_t unconfirmed() { return get()->unconfirmed(); }
  std::uint64_t confirmed() { return get()->confirmed(); }
  std::uint64_t duplicates() { return get()->duplicates(); }
  std::uint64_t batches_sent() { return get()->batches_sent(); }
  std::uint64_t messages_sent() { return get()->messages_sent(); }
  std::uint64_t resent() { return get()->resent(); }
  std::uint64_t reconnects() { return get()->reconnects(); }
  std::uint64_t full_retries() { return get()->full_retries(); }

 private:
  static std::shared_ptr<Producer> make(std::optional<std::string> endpoint, std::string client_name,
                                        std::size_t window, double publish_timeout, double confirm_timeout,
                                        double heartbeat, double close_timeout, double full_wait,
                                        std::string id_prefix, const SocketOptions* socket, const CurveOptions* curve, const Context* context, std::optional<std::string> shards) {
    ProducerOptions o;
    o.endpoint = endpoint_or_default(endpoint);
    o.shards = shard_source(shards);
    o.client_name = std::move(client_name);
    o.window = window;
    o.publish_timeout = to_ms(publish_timeout, "publish_timeout");
    o.confirm_timeout = to_ms(confirm_timeout, "confirm_timeout");
    o.heartbeat = to_ms(heartbeat, "heartbeat");
    o.close_timeout = to_ms(close_timeout, "close_timeout");
    o.full_wait = to_ms(full_wait, "full_wait");
    o.id_prefix = std::move(id_prefix);
    o.socket = socket_options(socket, curve);
    o.context = context_or_global(context);
    nb::gil_scoped_release unlocked;  // connects and starts the I/O thread
    return std::make_shared<Producer>(std::move(o));
  }

  // Hands the message over, waiting (interruptibly) while the window is
  // full. There is no wake-up for "room in the window", so the wait tries
  // again every millisecond within each slice. Returns false on timeout.
  bool hand_over(Producer& p, const std::string& queue, const std::string& body, const PublishOptions& options,
                 ConfirmCallback cb, const Deadline& deadline) {
    if (p.try_publish_raw_async(queue, body, options, cb)) return true;
    return wait(deadline, [&](int ms) {
      const auto end = Clock::now() + std::chrono::milliseconds(ms);
      do {
        if (p.try_publish_raw_async(queue, body, options, cb)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } while (Clock::now() < end);
      return false;
    }, closed_flag(), kind());
  }

  std::uint64_t publish_bytes(const std::string& queue, std::string body, const PublishOptions& options,
                              std::optional<double> timeout) {
    auto p = get();
    const Deadline deadline = Deadline::after(timeout ? timeout : std::optional<double>(publish_timeout_));
    auto slot = std::make_shared<Slot>();
    if (!hand_over(*p, queue, body, options, [slot](const Confirm& c) { slot->set(confirm_outcome(c)); }, deadline))
      throw TimeoutError("publish to " + queue + ": the window stayed full until the timeout; nothing was queued");
    if (!wait(deadline, [&](int ms) { return slot->wait_for(ms); }, closed_flag(), kind()))
      throw TimeoutError("publish to " + queue + ": no confirm before the timeout; the message stays in the "
                         "window and is resent until confirmed: publish again with the same id to be sure");
    if (slot->outcome().error) std::rethrow_exception(slot->outcome().error);
    return slot->outcome().seq;
  }

  nb::object submit_async(const std::string& queue, std::string body, const PublishOptions& options,
                          const Deadline& deadline) {
    auto p = get();
    nb::object future = new_future();
    PyObject* f = future.ptr();
    // The callback owns one reference, handed to the completion queue when
    // it runs; it runs exactly once (the C++ Producer's contract).
    auto cb = [f](const Confirm& c) { post(f, confirm_outcome(c)); };
    Py_INCREF(f);
    bool queued;
    try {
      queued = hand_over(*p, queue, body, options, cb, deadline);
    } catch (...) {
      Py_DECREF(f);
      throw;
    }
    if (!queued) {
      Py_DECREF(f);
      throw TimeoutError("publish_async to " + queue + ": the window stayed full until the timeout; nothing was queued");
    }
    return future;
  }

  double publish_timeout_;
};

}  // namespace

void bind_producer(nb::module_& m) {
  nb::class_<PyProducer>(m, "Producer",
                         "Publishes into courier-proxy queues; a message is published once the proxy "
                         "confirms it (fsync'd). Owns one C++ I/O thread.")
      .def(nb::init<std::optional<std::string>, std::string, std::size_t, double, double, double, double, double,
                    std::string, const SocketOptions*, const CurveOptions*, const Context*, std::optional<std::string>>(),
           nb::arg("endpoint") = nb::none(), nb::kw_only(), nb::arg("client_name") = "", nb::arg("window") = 1024,
           nb::arg("publish_timeout") = 30.0, nb::arg("confirm_timeout") = 10.0, nb::arg("heartbeat") = 1.0,
           nb::arg("close_timeout") = 5.0, nb::arg("full_wait") = 30.0, nb::arg("id_prefix") = "",
           nb::arg("socket") = nb::none(), nb::arg("curve") = nb::none(), nb::arg("context") = nb::none(),
           nb::arg("shards") = nb::none())
      .def("publish", &PyProducer::publish, nb::arg("queue"), nb::arg("value").none(), nb::kw_only(),
           nb::arg("id") = nb::none(), nb::arg("delay") = nb::none(), nb::arg("deliver_at").none() = nb::none(),
           nb::arg("ttl") = nb::none(), nb::arg("timeout") = nb::none(),
           "Publish value and wait for its confirm (timeout None = the Producer's publish_timeout); "
           "returns its seq.")
      .def("publish_raw", &PyProducer::publish_raw, nb::arg("queue"), nb::arg("data"), nb::kw_only(),
           nb::arg("id") = nb::none(), nb::arg("delay") = nb::none(), nb::arg("deliver_at").none() = nb::none(),
           nb::arg("ttl") = nb::none(), nb::arg("timeout") = nb::none(), "publish() of bytes as they are.")
      .def("publish_async", &PyProducer::publish_async, nb::arg("queue"), nb::arg("value").none(), nb::kw_only(),
           nb::arg("id") = nb::none(), nb::arg("delay") = nb::none(), nb::arg("deliver_at").none() = nb::none(),
           nb::arg("ttl") = nb::none(), nb::arg("timeout") = nb::none(),
           "Queue value (waiting while the window is full, at most timeout); returns a "
           "concurrent.futures.Future of its seq.")
      .def("publish_raw_async", &PyProducer::publish_raw_async, nb::arg("queue"), nb::arg("data"), nb::kw_only(),
           nb::arg("id") = nb::none(), nb::arg("delay") = nb::none(), nb::arg("deliver_at").none() = nb::none(),
           nb::arg("ttl") = nb::none(), nb::arg("timeout") = nb::none(), "publish_async() of bytes as they are.")
      .def("_publish_to", &PyProducer::publish_to, nb::arg("inbox"), nb::arg("token"), nb::arg("queue"),
           nb::arg("value").none(), nb::arg("id").none(), nb::arg("delay").none(), nb::arg("deliver_at").none(),
           nb::arg("ttl").none(), "For courier.aio: queue without waiting; the confirm goes to inbox.")
      .def("publish_many", &PyProducer::publish_many, nb::arg("queue"), nb::arg("values"), nb::kw_only(),
           nb::arg("timeout") = nb::none(),
           "Publish each value (batch form, no future per message) and wait for every confirm; "
           "returns their seqs in order.")
      .def("flush", &PyProducer::flush, nb::arg("timeout") = nb::none(),
           "Wait until everything published is confirmed or failed; False on timeout.")
      .def("wait_connected", &PyProducer::wait_connected, nb::arg("timeout") = nb::none(),
           "True once the proxy answered HELLO; False on timeout.")
      .def_prop_ro("endpoint", &PyProducer::endpoint)
      .def_prop_ro("unconfirmed", &PyProducer::unconfirmed)
      .def_prop_ro("confirmed", &PyProducer::confirmed)
      .def_prop_ro("duplicates", &PyProducer::duplicates)
      .def_prop_ro("batches_sent", &PyProducer::batches_sent)
      .def_prop_ro("messages_sent", &PyProducer::messages_sent)
      .def_prop_ro("resent", &PyProducer::resent)
      .def_prop_ro("reconnects", &PyProducer::reconnects)
      .def_prop_ro("full_retries", &PyProducer::full_retries)
      .def("close", [](PyProducer& s) { s.close(); },
           "Wait for confirms at most close_timeout, fail the rest (ClosedError), disconnect.")
      .def_prop_ro("closed", [](PyProducer& s) { return s.closed(); })
      .def("__enter__", [](PyProducer& s) -> PyProducer& { s.get(); return s; }, nb::rv_policy::reference)
      .def("__exit__", [](PyProducer& s, nb::handle, nb::handle, nb::handle) { s.close(); },
           nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());
}

}  // namespace courier::python
