// Consumer and Delivery (PROTOCOL.md §3) for Python.
//
// The C++ Consumer's I/O thread receives, acks and heartbeats; Python code
// only ever runs on the thread that called receive() or iterates, so a
// handler may work for minutes while heartbeats keep flowing. receive()
// waits in interruptible slices (Ctrl-C within one slice).
#include "bindings.hpp"

#include "blocking.hpp"
#include "frames.hpp"
#include "options.hpp"
#include "relay.hpp"
#include "resource.hpp"

#include <courier/consumer.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <vector>

namespace nb = nanobind;

namespace courier::python {
namespace {

class PyDelivery {
 public:
  explicit PyDelivery(RawDelivery d) : d_(std::move(d)) {}

  nb::object body() {
    if (!body_.is_valid()) body_ = unpack_bytes(d_->bytes().data(), d_->bytes().size());
    return body_;
  }
  nb::bytes raw() const { return nb::bytes(d_->bytes().data(), d_->bytes().size()); }
  std::uint64_t seq() const { return d_->seq(); }
  // str when the producer's id is UTF-8 (always for courier producers),
  // else bytes: CQP1 allows a binary id (§3.1).
  nb::object id() const {
    const std::string& id = d_->id();
    PyObject* s = PyUnicode_DecodeUTF8(id.data(), static_cast<Py_ssize_t>(id.size()), nullptr);
    if (s) return nb::steal(s);
    PyErr_Clear();
    return nb::bytes(id.data(), id.size());
  }
  std::uint32_t attempt() const { return d_->attempt(); }
  bool redelivered() const { return d_->redelivered(); }
  std::string queue() const { return d_->queue(); }
  std::uint64_t delivery_id() const { return d_->delivery_id(); }
  // A timezone-aware UTC datetime: when the proxy enqueued the message.
  nb::object timestamp() const {
    static PyObject* utc = nb::object(nb::module_::import_("datetime").attr("timezone").attr("utc")).release().ptr();
    static PyObject* dt = nb::object(nb::module_::import_("datetime").attr("datetime")).release().ptr();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d_->timestamp().time_since_epoch()).count();
    return nb::handle(dt).attr("fromtimestamp")(static_cast<double>(ms) / 1000.0, nb::handle(utc));
  }
  bool settled() const { return d_->settled(); }
  bool ack() { return d_->ack(); }
  bool nack(bool requeue) { return d_->nack(requeue); }
  bool touch() { return d_->touch(); }

 private:
  std::optional<RawDelivery> d_;  // optional: RawDelivery has no default state to construct
  nb::object body_;
};

// `with delivery.process():` — ack on a clean exit, nack (requeue) when the
// block raised. Never swallows the exception.
struct Processing {
  nb::object delivery;
};

class PyConsumer : public Owner<Consumer> {
 public:
  PyConsumer(std::string queue, std::optional<std::string> endpoint, std::string client_name, std::uint32_t prefetch,
             bool auto_ack, std::uint32_t batch, std::optional<std::uint64_t> limit, double heartbeat,
             const SocketOptions* socket, const CurveOptions* curve, const Context* context, std::optional<std::string> shards)
      : Owner("Consumer", make(std::move(queue), std::move(endpoint), std::move(client_name), prefetch, auto_ack,
                               batch, limit, heartbeat, socket, curve, context, std::move(shards))) {}

  // The next delivery; nullopt when `timeout` passed or (stoppable) stop().
  std::optional<PyDelivery> next(std::optional<double> timeout, bool stoppable) {
    auto c = get();
    std::optional<RawDelivery> d = c->try_receive_raw();
    if (!d) {
      wait(Deadline::after(timeout), [&](int ms) {
        if (stoppable && stop_.load()) return true;
        if (ms > 0) d = c->receive_raw(std::chrono::milliseconds(ms));
        return d.has_value();
      }, closed_flag(), kind());
    }
    if (!d) return std::nullopt;
    return PyDelivery(std::move(*d));
  }

  PyDelivery receive(std::optional<double> timeout) {
    std::optional<PyDelivery> d = next(timeout, false);
    if (!d) throw TimeoutError("Consumer.receive from " + get()->queue() + ": nothing within " +
                               std::to_string(timeout.value_or(0)) + " s");
    return std::move(*d);
  }
  // Waits (at most `timeout`) for one delivery, then takes what else is
  // buffered, up to `max_count`, without the GIL. [] on timeout.
  nb::list receive_many(std::size_t max_count, std::optional<double> timeout) {
    nb::list out;
    if (max_count == 0) return out;
    std::optional<PyDelivery> first = next(timeout, false);
    if (!first) return out;
    auto c = get();
    std::vector<RawDelivery> more;
    {
      nb::gil_scoped_release unlocked;
      while (more.size() + 1 < max_count) {
        std::optional<RawDelivery> d = c->try_receive_raw();
        if (!d) break;
        more.push_back(std::move(*d));
      }
    }
    out.append(nb::cast(std::move(*first)));
    for (auto& d : more) out.append(nb::cast(PyDelivery(std::move(d))));
    return out;
  }
  std::optional<PyDelivery> try_receive() {
    auto c = get();
    std::optional<RawDelivery> d = c->try_receive_raw();
    if (!d) return std::nullopt;
    return PyDelivery(std::move(*d));
  }
  PyDelivery iter_next() {
    std::optional<PyDelivery> d = next(std::nullopt, true);
    if (!d) {
      stop_.store(false);
      throw nb::stop_iteration();
    }
    return std::move(*d);
  }
  void stop() { stop_.store(true); }

  // Callback style, as the C++ run<T>(): callback(delivery) on THIS thread
  // for each delivery until stop(). A body that does not decode is never
  // passed: it is counted and rejected with nack(requeue=False). After the
  // callback an unsettled delivery is acked; if it raises, nacked (requeue)
  // and the exception leaves run().
  void run(nb::handle callback) {
    while (std::optional<PyDelivery> d = next(std::nullopt, true)) {
      try {
        (void)d->body();
      } catch (const DecodeError&) {
        ++decode_errors_;
        d->nack(false);
        continue;
      }
      nb::object delivery = nb::cast(std::move(*d));
      PyDelivery& ref = nb::cast<PyDelivery&>(delivery);
      try {
        callback(delivery);
      } catch (...) {
        ref.nack(true);
        throw;
      }
      ref.ack();
    }
    stop_.store(false);
  }
  std::uint64_t decode_errors() const { return decode_errors_; }

  // courier.aio (relay.hpp): the relay starts on first use of relay().
  DeliveryRelay& relay() {
    if (!relay_) relay_ = std::make_unique<DeliveryRelay>(get());
    return *relay_;
  }
  std::optional<PyDelivery> relay_take() {
    std::optional<RawDelivery> d = relay().take();
    if (!d) return std::nullopt;
    return PyDelivery(std::move(*d));
  }

  bool wait_consuming(std::optional<double> timeout) {
    auto c = get();
    return wait(Deadline::after(timeout), [&](int ms) { return c->wait_consuming(std::chrono::milliseconds(ms)); },
                closed_flag(), kind());
  }
  std::string queue() { return get()->queue(); }
  std::string endpoint() { return get()->endpoint(); }
  std::uint64_t received() { return get()->received(); }
  std::uint64_t reconnects() { return get()->reconnects(); }
  std::uint64_t stale_settlements() { return get()->stale_settlements(); }
  std::uint64_t acks_sent() { return get()->acks_sent(); }

 private:
  static std::shared_ptr<Consumer> make(std::string queue, std::optional<std::string> endpoint,
                                        std::string client_name, std::uint32_t prefetch, bool auto_ack,
                                        std::uint32_t batch, std::optional<std::uint64_t> limit, double heartbeat,
                                        const SocketOptions* socket, const CurveOptions* curve, const Context* context, std::optional<std::string> shards) {
    ConsumerOptions o;
    o.endpoint = endpoint_or_default(endpoint);
    o.shards = shard_source(shards);
    o.client_name = std::move(client_name);
    o.prefetch = prefetch;
    o.auto_ack = auto_ack;
    o.batch = batch;
    o.limit = limit;
    o.heartbeat = to_ms(heartbeat, "heartbeat");
    o.socket = socket_options(socket, curve);
    o.context = context_or_global(context);
    nb::gil_scoped_release unlocked;  // connects and starts the I/O thread
    return std::make_shared<Consumer>(std::move(queue), std::move(o));
  }

  // close(): the relay goes with the Consumer, stopped first (it holds a
  // copy of it), both destroyed by close_with() without the GIL.
  std::shared_ptr<void> take() noexcept override {
    struct Both {
      std::shared_ptr<void> consumer;
      std::unique_ptr<DeliveryRelay> relay;  // destroyed first
    };
    auto both = std::make_shared<Both>();
    both->consumer = Owner::take();
    both->relay = std::move(relay_);
    return both;
  }

  std::atomic<bool> stop_{false};
  std::uint64_t decode_errors_ = 0;  // bodies run() could not decode (GIL-guarded)
  std::unique_ptr<DeliveryRelay> relay_;
};

}  // namespace

void bind_consumer(nb::module_& m) {
  nb::class_<PyDelivery>(m, "Delivery",
                         "One message from a Consumer. Settle it with ack()/nack(); one destroyed unsettled "
                         "is nacked (requeued).")
      .def_prop_ro("body", &PyDelivery::body, "The message value (decoded on first access).")
      .def_prop_ro("raw", &PyDelivery::raw, "The body's bytes.")
      .def_prop_ro("seq", &PyDelivery::seq)
      .def_prop_ro("id", &PyDelivery::id, nb::sig("def id(self) -> str | bytes"),
                   "The producer's message id ('' when none; bytes when not UTF-8).")
      .def_prop_ro("attempt", &PyDelivery::attempt, "1 on the first delivery, n on the n-th.")
      .def_prop_ro("redelivered", &PyDelivery::redelivered)
      .def_prop_ro("queue", &PyDelivery::queue)
      .def_prop_ro("delivery_id", &PyDelivery::delivery_id)
      .def_prop_ro("timestamp", &PyDelivery::timestamp, "When the proxy enqueued it (aware UTC datetime).")
      .def_prop_ro("settled", &PyDelivery::settled)
      .def("ack", &PyDelivery::ack, "Acknowledge; False when already settled, auto_ack or the connection is gone.")
      .def("nack", &PyDelivery::nack, nb::arg("requeue") = true,
           "Reject: requeue, or (requeue=False) dead-letter/drop. False as for ack().")
      .def("touch", &PyDelivery::touch, "Restart the queue's ack_timeout clock.")
      .def("process", [](nb::handle self) { return Processing{nb::borrow(self)}; },
           "Context manager: ack on success, nack (requeue) when the block raises.");

  nb::class_<Processing>(m, "Processing", "Returned by Delivery.process().")
      .def("__enter__", [](Processing& p) { return p.delivery; })
      .def("__exit__", [](Processing& p, nb::handle exc_type, nb::handle, nb::handle) {
        PyDelivery& d = nb::cast<PyDelivery&>(p.delivery);
        if (exc_type.is_none()) d.ack(); else d.nack(true);
        return false;
      }, nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());

  nb::class_<PyConsumer>(m, "Consumer",
                         "Takes messages from one courier-proxy queue. Owns one C++ I/O thread (heartbeats, "
                         "acks); your code runs on your thread.")
      .def(nb::init<std::string, std::optional<std::string>, std::string, std::uint32_t, bool, std::uint32_t,
                    std::optional<std::uint64_t>, double, const SocketOptions*, const CurveOptions*, const Context*, std::optional<std::string>>(),
           nb::arg("queue"), nb::arg("endpoint") = nb::none(), nb::kw_only(), nb::arg("client_name") = "",
           nb::arg("prefetch") = 100, nb::arg("auto_ack") = false, nb::arg("batch") = 0,
           nb::arg("limit") = nb::none(), nb::arg("heartbeat") = 1.0, nb::arg("socket") = nb::none(), nb::arg("curve") = nb::none(),
           nb::arg("context") = nb::none(),
           nb::arg("shards") = nb::none())
      .def("receive", &PyConsumer::receive, nb::arg("timeout") = nb::none(),
           "The next Delivery; raises courier.TimeoutError when timeout passes first.")
      .def("receive_many", &PyConsumer::receive_many, nb::arg("max_count"), nb::arg("timeout") = nb::none(),
           "Wait for one Delivery, then take up to max_count already buffered; [] on timeout.")
      .def("try_receive", &PyConsumer::try_receive, "The next Delivery if one is buffered, else None.")
      .def("run", &PyConsumer::run, nb::arg("callback"),
           "Call callback(delivery) on this thread for each delivery until stop(); acks after it, "
           "nacks (requeue) and re-raises when it raises.")
      .def("stop", &PyConsumer::stop, "End run() or a `for delivery in consumer` loop (any thread).")
      .def("_relay_fileno", [](PyConsumer& c) { return c.relay().fileno(); }, "For courier.aio (starts the relay).")
      .def("_relay_clear", [](PyConsumer& c) { c.relay().clear(); }, "For courier.aio: reset the eventfd.")
      .def("_relay_demand", [](PyConsumer& c, std::size_t n) { c.relay().demand(n); }, nb::arg("waiting"),
           "For courier.aio: how many coroutines wait.")
      .def("_relay_take", &PyConsumer::relay_take, "For courier.aio: a relayed Delivery or None.")
      .def_prop_ro("decode_errors", &PyConsumer::decode_errors, "Bodies run() could not decode (nacked, not requeued).")
      .def("__iter__", [](nb::handle self) { return self; })
      .def("__next__", &PyConsumer::iter_next)
      .def("wait_consuming", &PyConsumer::wait_consuming, nb::arg("timeout") = nb::none(),
           "True once the proxy answered CONSUME; False on timeout; RemoteError when refused.")
      .def_prop_ro("queue", &PyConsumer::queue)
      .def_prop_ro("endpoint", &PyConsumer::endpoint)
      .def_prop_ro("received", &PyConsumer::received)
      .def_prop_ro("reconnects", &PyConsumer::reconnects)
      .def_prop_ro("stale_settlements", &PyConsumer::stale_settlements)
      .def_prop_ro("acks_sent", &PyConsumer::acks_sent)
      .def("close", [](PyConsumer& s) { s.close(); }, "Hand over pending acks, say BYE (unacked go back), close.")
      .def_prop_ro("closed", [](PyConsumer& s) { return s.closed(); })
      .def("__enter__", [](PyConsumer& s) -> PyConsumer& { s.get(); return s; }, nb::rv_policy::reference)
      .def("__exit__", [](PyConsumer& s, nb::handle, nb::handle, nb::handle) { s.close(); },
           nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());
}

}  // namespace courier::python
