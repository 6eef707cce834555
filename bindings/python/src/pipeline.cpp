// Push and Pull (PROTOCOL.md §1) for Python: courier::RawPush / RawPull plus
// the value converter. Hot paths first try without waiting, with the GIL
// held (no release/reacquire per message when the socket is ready); only a
// call that must wait goes through blocking.hpp's sliced, interruptible wait.
#include "bindings.hpp"

#include "blocking.hpp"
#include "frames.hpp"
#include "options.hpp"
#include "resource.hpp"

#include <courier/pipeline.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <utility>
#include <vector>

namespace nb = nanobind;

namespace courier::python {
namespace {

// A Push keeps its packing buffer between sends, up to this size: one huge
// message does not pin its memory for the life of the socket.
constexpr std::size_t kKeepBuffer = 1 << 20;

// Sends `msg`, waiting (interruptibly) until `deadline`. Returns false on timeout.
bool send_waiting(RawPush& push, zmq::message_t& msg, const Deadline& deadline, const Resource& self) {
  if (push.try_send(msg)) return true;
  return wait(deadline, [&](int ms) { return push.send(msg, std::chrono::milliseconds(ms)); },
              self.closed_flag(), self.kind());
}

// ZMQ_FD and ZMQ_EVENTS of a socket, for courier.aio (aio/pipeline.py): the
// fd is readable when the socket's state MAY have changed; ZMQ_EVENTS says
// what it is now (and resets the fd). One thread at a time, as any call.
// What Push and Pull share: the C++ object, its endpoints, and the fd watch.
template <class Raw>
class PipeOwner : public Owner<Raw> {
 public:
  using Owner<Raw>::Owner;
  using Owner<Raw>::get;
  using Owner<Raw>::kind;

  void bind(const std::string& ep) { get()->bind(ep); }
  void connect(const std::string& ep) { get()->connect(ep); }
  std::string last_endpoint() { return get()->last_endpoint(); }
  int fd() { return get()->socket().get(zmq::sockopt::fd); }
  int events() {
    Exclusive one(busy_, kind());
    return get()->socket().get(zmq::sockopt::events);
  }

 protected:
  std::atomic<bool> busy_{false};  // one thread at a time in the socket
};

// Registers PipeOwner's methods on `cls` (Push and Pull alike).
template <class Py>
nb::class_<Py>& def_pipe_owner(nb::class_<Py>& cls) {
  return cls.def("bind", [](Py& self, const std::string& ep) { self.bind(ep); }, nb::arg("endpoint"))
      .def("connect", [](Py& self, const std::string& ep) { self.connect(ep); }, nb::arg("endpoint"))
      .def_prop_ro("last_endpoint", [](Py& self) { return self.last_endpoint(); })
      .def("_fd", [](Py& self) { return self.fd(); }, "ZMQ_FD, for courier.aio.")
      .def("_events", [](Py& self) { return self.events(); }, "ZMQ_EVENTS (POLLIN 1, POLLOUT 2), for courier.aio.");
}

class PyPush : public PipeOwner<RawPush> {
 public:
  PyPush(const SocketOptions* socket, const CurveOptions* curve, const Context* context)
      : PipeOwner("Push",
                  std::make_shared<RawPush>(PushOptions{socket_options(socket, curve), context_or_global(context)})) {}

  bool send(nb::handle value, std::optional<double> timeout) {
    Exclusive one(busy_, kind());
    auto push = get();
    zmq::message_t msg = pack_message(value, buf_);
    buf_.trim(kKeepBuffer);
    return send_waiting(*push, msg, Deadline::after(timeout), *this);
  }
  bool try_send(nb::handle value) {
    Exclusive one(busy_, kind());
    auto push = get();
    zmq::message_t msg = pack_message(value, buf_);
    buf_.trim(kKeepBuffer);
    return push->try_send(msg);
  }
  bool send_raw(nb::handle data, std::optional<double> timeout) {
    Exclusive one(busy_, kind());
    auto push = get();
    std::string bytes = buffer_bytes(data, "send_raw()");
    zmq::message_t msg(bytes.data(), bytes.size());
    return send_waiting(*push, msg, Deadline::after(timeout), *this);
  }

  // Packs every value first (with the GIL: the converter reads Python
  // objects), then sends them all in one GIL-free stretch, waiting only
  // when the high-water mark is reached. Returns how many were sent.
  std::size_t send_many(nb::handle values, std::optional<double> timeout) {
    Exclusive one(busy_, kind());
    auto push = get();
    nb::object seq = nb::steal(PySequence_Fast(values.ptr(), "send_many() takes an iterable of values"));
    if (!seq.is_valid()) throw nb::python_error();
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq.ptr());
    PyObject** items = PySequence_Fast_ITEMS(seq.ptr());
    std::vector<zmq::message_t> msgs;
    msgs.reserve(static_cast<std::size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) msgs.push_back(pack_message(items[i], buf_));
    buf_.trim(kKeepBuffer);
    const Deadline deadline = Deadline::after(timeout);
    std::size_t sent = 0;
    {
      nb::gil_scoped_release unlocked;
      while (sent < msgs.size() && push->try_send(msgs[sent])) ++sent;
    }
    while (sent < msgs.size()) {
      if (!send_waiting(*push, msgs[sent], deadline, *this)) break;
      ++sent;
      nb::gil_scoped_release unlocked;
      while (sent < msgs.size() && push->try_send(msgs[sent])) ++sent;
    }
    return sent;
  }

 private:
  Buffer buf_;  // reused: one allocation for the life of the Push
};

class PyPull : public PipeOwner<RawPull> {
 public:
  PyPull(const SocketOptions* socket, const CurveOptions* curve, const Context* context)
      : PipeOwner("Pull",
                  std::make_shared<RawPull>(PullOptions{socket_options(socket, curve), context_or_global(context)})) {}

  nb::object receive(std::optional<double> timeout) {
    Exclusive one(busy_, kind());
    auto pull = get();
    if (!receive_frame(*pull, Deadline::after(timeout))) throw_timeout(timeout);
    return unpack_bytes(frame_.data(), frame_.size());
  }
  nb::object try_receive(nb::handle fallback) {
    Exclusive one(busy_, kind());
    auto pull = get();
    if (!std::exchange(held_, false) && !pull->receive_into(frame_, 0)) return nb::borrow(fallback);
    return unpack_bytes(frame_.data(), frame_.size());
  }
  nb::bytes receive_raw(std::optional<double> timeout) {
    Exclusive one(busy_, kind());
    auto pull = get();
    if (!receive_frame(*pull, Deadline::after(timeout))) throw_timeout(timeout);
    return to_bytes(frame_.data(), frame_.size());
  }
  // Waits (at most `timeout`) for one message, then takes what else is
  // already queued, up to `max_count`. Each frame is decoded as it is taken,
  // into the one reused zmq message, with the GIL held: the socket is never
  // waited on in that loop, and a cold vector of frames costs more than the
  // GIL hand-over it would save. Returns [] when the timeout passed with nothing.
  nb::list receive_many(std::size_t max_count, std::optional<double> timeout) {
    Exclusive one(busy_, kind());
    auto pull = get();
    nb::list out;
    if (max_count == 0 || !receive_frame(*pull, Deadline::after(timeout))) return out;
    std::size_t n = 0;
    do {
      nb::object value;
      try {
        value = unpack_bytes(frame_.data(), frame_.size());
      } catch (const DecodeError&) {
        if (n == 0) throw;
        held_ = true;  // return what decoded; the next call raises for this frame
        return out;
      }
      if (PyList_Append(out.ptr(), value.ptr()) < 0) throw nb::python_error();
    } while (++n < max_count && pull->receive_into(frame_, 0));
    return out;
  }

 private:
  bool receive_frame(RawPull& pull, const Deadline& deadline) {
    if (std::exchange(held_, false)) return true;  // frame_ holds it already
    if (pull.receive_into(frame_, 0)) return true;
    return wait(deadline, [&](int ms) { return ms > 0 && pull.receive_into(frame_, ms); }, closed_flag(), kind());
  }
  [[noreturn]] void throw_timeout(std::optional<double> timeout) {
    throw TimeoutError("Pull.receive: nothing arrived within " + std::to_string(timeout.value_or(0)) + " s");
  }

  zmq::message_t frame_;  // reused by receive()
  bool held_ = false;     // frame_ holds a frame receive_many() took but did not return
};

template <class T>
T& enter(T& self) {
  self.get();  // entering a closed object is an error, as any other use
  return self;
}

}  // namespace

void bind_pipeline(nb::module_& m) {
  nb::class_<PyPush> push(m, "Push", "The sending end of a pipeline (PROTOCOL.md §1): one value per message.");
  def_pipe_owner(push)
      .def(nb::init<const SocketOptions*, const CurveOptions*, const Context*>(), nb::kw_only(), nb::arg("socket") = nb::none(), nb::arg("curve") = nb::none(),
           nb::arg("context") = nb::none())
      .def("send", &PyPush::send, nb::arg("value").none(), nb::arg("timeout") = nb::none(),
           "Send value; False when timeout (seconds) passed first. Waits for room (HWM) or a peer.")
      .def("try_send", &PyPush::try_send, nb::arg("value").none(), "Send value if it can go now; False otherwise.")
      .def("send_raw", &PyPush::send_raw, nb::arg("data"), nb::arg("timeout") = nb::none(),
           "Send bytes as they are (they should hold one msgpack object).")
      .def("send_many", &PyPush::send_many, nb::arg("values"), nb::arg("timeout") = nb::none(),
           "Send each value as its own message; returns how many were sent before the timeout.")
      .def("close", [](PyPush& s) { s.close(); }, "Close the socket (idempotent); unsent messages linger at most `linger`.")
      .def_prop_ro("closed", [](PyPush& s) { return s.closed(); })
      .def("__enter__", &enter<PyPush>, nb::rv_policy::reference)
      .def("__exit__", [](PyPush& self, nb::handle, nb::handle, nb::handle) { self.close(); },
           nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());

  nb::class_<PyPull> pull(m, "Pull", "The receiving end of a pipeline (PROTOCOL.md §1).");
  def_pipe_owner(pull)
      .def(nb::init<const SocketOptions*, const CurveOptions*, const Context*>(), nb::kw_only(), nb::arg("socket") = nb::none(), nb::arg("curve") = nb::none(),
           nb::arg("context") = nb::none())
      .def("receive", &PyPull::receive, nb::arg("timeout") = nb::none(),
           "The next value; raises courier.TimeoutError when timeout (seconds) passes first.")
      .def("try_receive", &PyPull::try_receive, nb::arg("default").none() = nb::none(),
           "The next value if one is waiting, else default.")
      .def("receive_raw", &PyPull::receive_raw, nb::arg("timeout") = nb::none(),
           "The next message's bytes; raises courier.TimeoutError on timeout.")
      .def("receive_many", &PyPull::receive_many, nb::arg("max_count"), nb::arg("timeout") = nb::none(),
           "Wait for one value, then take up to max_count already queued; [] on timeout.")
      .def("close", [](PyPull& s) { s.close(); }, "Close the socket (idempotent); unsent messages linger at most `linger`.")
      .def_prop_ro("closed", [](PyPull& s) { return s.closed(); })
      .def("__enter__", &enter<PyPull>, nb::rv_policy::reference)
      .def("__exit__", [](PyPull& self, nb::handle, nb::handle, nb::handle) { self.close(); },
           nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none())
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__", [](PyPull& self) { return self.receive(std::nullopt); });
}

}  // namespace courier::python
