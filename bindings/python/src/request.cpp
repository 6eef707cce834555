// Client and Server (PROTOCOL.md §2) for Python.
//
// Client: courier::Client owns an I/O thread; its raw callback form fills a
// Slot (blocking request) or posts to the completion queue (request_async),
// so no C++ thread touches Python. Server: courier::Server runs in the
// caller's thread; its async raw handler (called inside poll(), GIL
// released) only queues (body, responder). The Python thread pops them and
// runs the user's handler itself: handlers never run on a C++ thread.
#include "bindings.hpp"

#include "blocking.hpp"
#include "completions.hpp"
#include "frames.hpp"
#include "inbox.hpp"
#include "options.hpp"
#include "resource.hpp"

#include <courier/request.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <deque>
#include <mutex>

namespace nb = nanobind;

namespace courier::python {
namespace {

// The C++ Client enforces every request's timeout itself; "forever" is a
// year, far beyond any real wait and far from overflowing its clock.
std::chrono::milliseconds request_timeout(std::optional<double> timeout) {
  if (!timeout) return std::chrono::hours(24 * 365);
  if (!(*timeout > 0)) throw ConfigError("request timeout must be > 0 seconds or None, not " + std::to_string(*timeout));
  return std::max(std::chrono::milliseconds(1), to_ms(*timeout, "timeout"));
}

class PyClient : public Owner<Client> {
 public:
  PyClient(const SocketOptions* socket, const CurveOptions* curve, const Context* context)
      : Owner("Client", std::make_shared<Client>(ClientOptions{socket_options(socket, curve), context_or_global(context)})) {}

  void bind(const std::string& ep) {
    auto c = get();
    nb::gil_scoped_release unlocked;  // done by the I/O thread: a short wait
    c->bind(ep);
  }
  void connect(const std::string& ep) {
    auto c = get();
    nb::gil_scoped_release unlocked;
    c->connect(ep);
  }
  std::string last_endpoint() { return get()->last_endpoint(); }

  nb::object request(nb::handle value, std::optional<double> timeout) {
    Outcome o = call(pack_string(value), timeout);
    return unpack_bytes(o.body.data(), o.body.size());
  }
  nb::bytes request_raw(nb::handle data, std::optional<double> timeout) {
    Outcome o = call(buffer_bytes(data, "request_raw()"), timeout);
    return nb::bytes(o.body.data(), o.body.size());
  }
  nb::object request_async(nb::handle value, std::optional<double> timeout) {
    auto c = get();
    std::string body = pack_string(value);
    const auto t = request_timeout(timeout);
    nb::object future = new_future();
    // One reference for the completion queue, taken before the hand-over:
    // the GIL is held throughout, so the completion thread cannot release
    // it before this call returns.
    PyObject* f = future.inc_ref().ptr();
    try {
      c->request_raw(std::move(body), t,
                     [f](std::string rep) { post(f, Outcome{Outcome::Kind::reply, std::move(rep), 0, false, nullptr}); },
                     [f](std::exception_ptr e) { post(f, Outcome{Outcome::Kind::reply, {}, 0, false, e}); });
    } catch (...) {
      future.dec_ref();  // never handed over
      throw;
    }
    return future;
  }
  // For courier.aio: sends; the reply (or error) is posted to `inbox`
  // under `token` by the Client's I/O thread.
  void request_to(PyInbox& inbox, std::uint64_t token, nb::handle value, std::optional<double> timeout) {
    auto c = get();
    std::string body = pack_string(value);
    std::shared_ptr<Inbox> in = inbox.inbox;
    c->request_raw(std::move(body), request_timeout(timeout),
                   [in, token](std::string rep) {
                     in->post(token, Outcome{Outcome::Kind::reply, std::move(rep), 0, false, nullptr});
                   },
                   [in, token](std::exception_ptr e) { in->post(token, Outcome{Outcome::Kind::reply, {}, 0, false, e}); });
  }
  std::size_t in_flight() { return get()->in_flight(); }
  std::uint64_t late_replies() { return get()->late_replies(); }
  std::uint64_t malformed_replies() { return get()->malformed_replies(); }

 private:
  // Sends and waits for the outcome in slices. Ctrl-C abandons the request
  // (a late reply is then counted by the Client and ignored).
  Outcome call(std::string body, std::optional<double> timeout) {
    auto c = get();
    const auto t = request_timeout(timeout);
    auto slot = std::make_shared<Slot>();
    c->request_raw(std::move(body), t,
                   [slot](std::string rep) { slot->set(Outcome{Outcome::Kind::reply, std::move(rep), 0, false, nullptr}); },
                   [slot](std::exception_ptr e) { slot->set(Outcome{Outcome::Kind::reply, {}, 0, false, e}); });
    wait(Deadline::after(std::nullopt), [&](int ms) { return slot->wait_for(ms); }, closed_flag(), kind());
    if (slot->outcome().error) std::rethrow_exception(slot->outcome().error);
    return std::move(slot->outcome());
  }
};

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

struct Incoming {
  std::string body;
  RawResponder responder;
};

// What the C++ handler fills (inside poll(), on the driving thread, without
// the GIL) and the Python side pops.
struct Inbox {
  std::mutex mu;
  std::deque<Incoming> items;
  bool pop(Incoming& out) {
    std::lock_guard<std::mutex> lock(mu);
    if (items.empty()) return false;
    out = std::move(items.front());
    items.pop_front();
    return true;
  }
};

// Shared by the Server and its Requests: a reply made while no thread drives
// the server is sent at once by a poll(0) from the replying thread, when
// nothing else uses the socket.
struct ServerLink {
  std::weak_ptr<Server> server;
  std::atomic<bool> busy{false};
};

class PyRequest {
 public:
  PyRequest(Incoming in, std::shared_ptr<ServerLink> link) : in_(std::move(in)), link_(std::move(link)) {}

  nb::object body() {
    if (!body_.is_valid()) body_ = unpack_bytes(in_.body.data(), in_.body.size());
    return body_;
  }
  nb::bytes raw() const { return nb::bytes(in_.body.data(), in_.body.size()); }
  std::uint64_t id() const { return in_.responder.id(); }
  bool answered() const { return in_.responder.answered(); }

  bool reply(nb::handle value) { return finish(in_.responder.reply(pack_string(value))); }
  bool reply_raw(nb::handle data) { return finish(in_.responder.reply(buffer_bytes(data, "reply_raw()"))); }
  bool fail(const std::string& error) { return finish(in_.responder.fail(error)); }

 private:
  bool finish(bool ok) {
    if (!ok) return false;
    std::shared_ptr<Server> s = link_->server.lock();
    if (s && !link_->busy.exchange(true)) {
      try {
        s->poll(std::chrono::milliseconds(0));  // sends the queued reply now
      } catch (...) {
        link_->busy.store(false);
        throw;
      }
      link_->busy.store(false);
    }
    return true;
  }

  Incoming in_;
  std::shared_ptr<ServerLink> link_;
  nb::object body_;
};

class PyServer : public Owner<Server> {
 public:
  PyServer(const SocketOptions* socket, const CurveOptions* curve, const Context* context)
      : Owner("Server", std::make_shared<Server>(ServerOptions{socket_options(socket, curve), context_or_global(context)})),
        inbox_(std::make_shared<Inbox>()),
        link_(std::make_shared<ServerLink>()) {
    auto s = get();
    link_->server = s;
    s->handle_raw_async([inbox = inbox_](std::string_view body, RawResponder r) {
      std::lock_guard<std::mutex> lock(inbox->mu);
      inbox->items.push_back({std::string(body), std::move(r)});
    });
  }

  void bind(const std::string& ep) { get()->bind(ep); }
  void connect(const std::string& ep) { get()->connect(ep); }
  std::string last_endpoint() { return get()->last_endpoint(); }

  // The next request; nullopt when `timeout` passed or (stoppable) stop().
  std::optional<PyRequest> next(std::optional<double> timeout, bool stoppable) {
    Incoming in;
    auto s = get();
    bool popped = inbox_->pop(in);
    if (!popped) {
      Exclusive one(link_->busy, kind());
      wait(Deadline::after(timeout), [&](int ms) {
        if (stoppable && stop_.load()) return true;
        s->poll(std::chrono::milliseconds(ms));
        popped = inbox_->pop(in);
        return popped;
      }, closed_flag(), kind());
    }
    if (!popped) return std::nullopt;
    return PyRequest(std::move(in), link_);
  }

  // courier.aio: the socket's ZMQ_FD and ZMQ_EVENTS, and a receive that
  // never waits (it reads what the socket holds, then gives up).
  int fd() { return get()->socket().get(zmq::sockopt::fd); }
  int events() {
    Exclusive one(link_->busy, kind());
    return get()->socket().get(zmq::sockopt::events);
  }
  std::optional<PyRequest> try_receive() {
    Incoming in;
    auto s = get();
    if (!inbox_->pop(in)) {
      Exclusive one(link_->busy, kind());
      s->poll(std::chrono::milliseconds(0));
      if (!inbox_->pop(in)) return std::nullopt;
    }
    return PyRequest(std::move(in), link_);
  }

  PyRequest receive(std::optional<double> timeout) {
    std::optional<PyRequest> r = next(timeout, false);
    if (!r) throw TimeoutError("Server.receive: no request within " + std::to_string(timeout.value_or(0)) + " s");
    return std::move(*r);
  }

  // Runs `handler(body)` for each request on this thread and replies with
  // its result; an exception becomes an ok:false reply with its text and
  // serving goes on (KeyboardInterrupt and SystemExit propagate). Returns
  // after stop().
  void serve(nb::handle handler) {
    while (std::optional<PyRequest> r = next(std::nullopt, true)) {
      try {
        r->reply(handler(r->body()));
      } catch (nb::python_error& e) {
        if (!e.matches(PyExc_Exception)) throw;  // KeyboardInterrupt, SystemExit
        r->fail(error_text(e));
      }
    }
    stop_.store(false);
  }

  PyRequest iter_next() {
    std::optional<PyRequest> r = next(std::nullopt, true);
    if (!r) {
      stop_.store(false);
      throw nb::stop_iteration();
    }
    return std::move(*r);
  }

  void stop() {
    stop_.store(true);
    if (auto s = link_->server.lock()) s->stop();  // wakes a poll() under way
  }

  std::uint64_t handled_requests() { return get()->handled_requests(); }
  std::uint64_t dropped_requests() { return get()->dropped_requests(); }
  std::uint64_t expired_requests() { return get()->expired_requests(); }
  std::uint64_t unroutable_replies() { return get()->unroutable_replies(); }
  std::uint64_t dropped_replies() { return get()->dropped_replies(); }

 private:
  static std::string error_text(nb::python_error& e) {
    nb::str name = nb::borrow<nb::str>(e.type().attr("__name__"));
    nb::str text = nb::str(e.value());
    return std::string(name.c_str()) + ": " + text.c_str();
  }
  std::shared_ptr<Inbox> inbox_;
  std::shared_ptr<ServerLink> link_;
  std::atomic<bool> stop_{false};
};

}  // namespace

void bind_request(nb::module_& m) {
  nb::class_<PyClient>(m, "Client", "Request/reply client (PROTOCOL.md §2); thread-safe, owns one C++ I/O thread.")
      .def(nb::init<const SocketOptions*, const CurveOptions*, const Context*>(), nb::kw_only(), nb::arg("socket") = nb::none(), nb::arg("curve") = nb::none(),
           nb::arg("context") = nb::none())
      .def("bind", &PyClient::bind, nb::arg("endpoint"))
      .def("connect", &PyClient::connect, nb::arg("endpoint"))
      .def_prop_ro("last_endpoint", &PyClient::last_endpoint)
      .def("request", &PyClient::request, nb::arg("value").none(), nb::arg("timeout") = nb::none(),
           "Send value and return the reply; raises TimeoutError, RemoteError (ok:false), ClosedError.")
      .def("request_raw", &PyClient::request_raw, nb::arg("data"), nb::arg("timeout") = nb::none(),
           "request() with msgpack bytes in and out.")
      .def("request_async", &PyClient::request_async, nb::arg("value").none(), nb::arg("timeout") = nb::none(),
           "Send value; returns a concurrent.futures.Future of the reply.")
      .def("_request_to", &PyClient::request_to, nb::arg("inbox"), nb::arg("token"), nb::arg("value").none(),
           nb::arg("timeout").none(), "For courier.aio: send; the reply goes to inbox.")
      .def_prop_ro("in_flight", &PyClient::in_flight)
      .def_prop_ro("late_replies", &PyClient::late_replies)
      .def_prop_ro("malformed_replies", &PyClient::malformed_replies)
      .def("close", [](PyClient& s) { s.close(); }, "Fail requests in flight with ClosedError and close.")
      .def_prop_ro("closed", [](PyClient& s) { return s.closed(); })
      .def("__enter__", [](PyClient& s) -> PyClient& { s.get(); return s; }, nb::rv_policy::reference)
      .def("__exit__", [](PyClient& s, nb::handle, nb::handle, nb::handle) { s.close(); },
           nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());

  nb::class_<PyRequest>(m, "Request", "One request taken from a Server; answer it with reply() or fail().")
      .def_prop_ro("body", &PyRequest::body, "The request value (decoded on first access).")
      .def_prop_ro("raw", &PyRequest::raw, "The request body's msgpack bytes.")
      .def_prop_ro("id", &PyRequest::id)
      .def_prop_ro("answered", &PyRequest::answered)
      .def("reply", &PyRequest::reply, nb::arg("value").none(), "Answer ok:true with value; False if already answered.")
      .def("reply_raw", &PyRequest::reply_raw, nb::arg("data"), "reply() with msgpack bytes.")
      .def("fail", &PyRequest::fail, nb::arg("error"), "Answer ok:false with the text error.");

  nb::class_<PyServer>(m, "Server", "Request/reply server (PROTOCOL.md §2); runs handlers on the calling thread.")
      .def(nb::init<const SocketOptions*, const CurveOptions*, const Context*>(), nb::kw_only(), nb::arg("socket") = nb::none(), nb::arg("curve") = nb::none(),
           nb::arg("context") = nb::none())
      .def("bind", &PyServer::bind, nb::arg("endpoint"))
      .def("connect", &PyServer::connect, nb::arg("endpoint"))
      .def_prop_ro("last_endpoint", &PyServer::last_endpoint)
      .def("receive", &PyServer::receive, nb::arg("timeout") = nb::none(),
           "The next Request; raises courier.TimeoutError when timeout passes first.")
      .def("_fd", &PyServer::fd, "ZMQ_FD, for courier.aio.")
      .def("_events", &PyServer::events, "ZMQ_EVENTS (POLLIN 1, POLLOUT 2), for courier.aio.")
      .def("_try_receive", &PyServer::try_receive, "The next Request if one is already here, else None (courier.aio).")
      .def("serve", &PyServer::serve, nb::arg("handler"),
           "Reply handler(body) to each request, on this thread, until stop().")
      .def("stop", &PyServer::stop, "Make serve() / iteration return (any thread).")
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__", &PyServer::iter_next)
      .def_prop_ro("handled_requests", &PyServer::handled_requests)
      .def_prop_ro("dropped_requests", &PyServer::dropped_requests)
      .def_prop_ro("expired_requests", &PyServer::expired_requests)
      .def_prop_ro("unroutable_replies", &PyServer::unroutable_replies)
      .def_prop_ro("dropped_replies", &PyServer::dropped_replies)
      .def("close", [](PyServer& s) { s.close(); }, "Close the socket (idempotent).")
      .def_prop_ro("closed", [](PyServer& s) { return s.closed(); })
      .def("__enter__", [](PyServer& s) -> PyServer& { s.get(); return s; }, nb::rv_policy::reference)
      .def("__exit__", [](PyServer& s, nb::handle, nb::handle, nb::handle) { s.close(); },
           nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());
}

}  // namespace courier::python
