// Lock and LockGuard (token queues, PROTOCOL.md §3.6) for Python.
//
// acquire() waits in slices like every blocking call, but a slice that ends
// without a token makes the C++ Lock CANCEL its CONSUME (and CONSUME again on
// the next slice), so Lock slices are 250 ms, not 50: Ctrl-C ends an
// acquire() within ~250 ms.
#include "bindings.hpp"

#include "blocking.hpp"
#include "options.hpp"
#include "resource.hpp"

#include <courier/lock.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

namespace nb = nanobind;

namespace courier::python {
namespace {

constexpr int kLockSliceMs = 250;

class PyGuard {
 public:
  explicit PyGuard(LockGuard g) : g_(std::move(g)) {}
  std::uint64_t fence() const { return g_->fence(); }
  bool release() { return g_->release(); }
  void extend() { g_->extend(); }
  bool lost() const { return g_->lost(); }
  std::string loss() const { return to_string(g_->loss()); }
  void check() const { g_->check(); }
  // Seconds left on the lease as this side counts it; None without a lease.
  std::optional<double> lease_remaining() const {
    auto d = g_->lease_deadline();
    if (!d) return std::nullopt;
    return std::chrono::duration<double>(*d - std::chrono::steady_clock::now()).count();
  }

 private:
  std::optional<LockGuard> g_;  // optional: LockGuard has no default state to construct
};

class PyLock : public Owner<Lock> {
 public:
  PyLock(std::string name, std::optional<std::string> endpoint, std::string client_name, std::uint32_t permits,
         std::optional<double> lease, double heartbeat, const SocketOptions* socket, const CurveOptions* curve, const Context* context, std::optional<std::string> shards)
      : Owner("Lock", make(std::move(name), std::move(endpoint), std::move(client_name), permits, lease, heartbeat,
                           socket, curve, context, std::move(shards))) {}

  std::optional<PyGuard> try_acquire(std::optional<double> timeout) {
    auto l = get();
    std::optional<LockGuard> g;
    wait(Deadline::after(timeout), [&](int ms) {
      g = l->acquire(std::chrono::milliseconds(ms));
      return g.has_value();
    }, closed_flag(), kind(), kLockSliceMs);
    if (!g) return std::nullopt;
    return PyGuard(std::move(*g));
  }
  PyGuard acquire(std::optional<double> timeout) {
    std::optional<PyGuard> g = try_acquire(timeout);
    if (!g) throw TimeoutError("Lock " + get()->name() + ": not acquired within " +
                               std::to_string(timeout.value_or(0)) + " s");
    return std::move(*g);
  }
  std::string name() { return get()->name(); }
  std::string endpoint() { return get()->endpoint(); }

 private:
  static std::shared_ptr<Lock> make(std::string name, std::optional<std::string> endpoint, std::string client_name,
                                    std::uint32_t permits, std::optional<double> lease, double heartbeat,
                                    const SocketOptions* socket, const CurveOptions* curve, const Context* context, std::optional<std::string> shards) {
    LockOptions o;
    o.endpoint = endpoint_or_default(endpoint);
    o.shards = shard_source(shards);
    o.client_name = std::move(client_name);
    o.permits = permits;
    if (lease) o.lease = to_ms(*lease, "lease");
    o.heartbeat = to_ms(heartbeat, "heartbeat");
    o.socket = socket_options(socket, curve);
    o.context = context_or_global(context);
    nb::gil_scoped_release unlocked;
    return std::make_shared<Lock>(std::move(name), std::move(o));
  }
};

}  // namespace

void bind_lock(nb::module_& m) {
  nb::class_<PyGuard>(m, "LockGuard", "Proof of holding a token; `with` releases it on exit.")
      .def_prop_ro("fence", &PyGuard::fence, "Greater than every earlier holder's: pass it to the resource.")
      .def("release", &PyGuard::release, "Give the token back; False if already released or lost.")
      .def("extend", &PyGuard::extend, "Restart the lease; raises LockLostError when the token is gone.")
      .def_prop_ro("lost", &PyGuard::lost, "True once the token was taken away (lease, restart, silence, close).")
      .def_prop_ro("loss", &PyGuard::loss, "Why the token is not held ('held' while it is).")
      .def("check", &PyGuard::check, "Raise LockLostError unless the token is still held.")
      .def_prop_ro("lease_remaining", &PyGuard::lease_remaining, "Seconds left on the lease, None without one.")
      .def("__enter__", [](nb::handle self) { return self; })
      .def("__exit__", [](PyGuard& g, nb::handle, nb::handle, nb::handle) { g.release(); },
           nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());

  nb::class_<PyLock>(m, "Lock", "A distributed lock/semaphore on a courier-proxy token queue; owns one C++ I/O thread.")
      .def(nb::init<std::string, std::optional<std::string>, std::string, std::uint32_t, std::optional<double>, double,
                    const SocketOptions*, const CurveOptions*, const Context*, std::optional<std::string>>(),
           nb::arg("name"), nb::arg("endpoint") = nb::none(), nb::kw_only(), nb::arg("client_name") = "",
           nb::arg("permits") = 1, nb::arg("lease") = nb::none(), nb::arg("heartbeat") = 1.0,
           nb::arg("socket") = nb::none(), nb::arg("curve") = nb::none(), nb::arg("context") = nb::none(),
           nb::arg("shards") = nb::none())
      .def("acquire", &PyLock::acquire, nb::arg("timeout") = nb::none(),
           "Take a token; raises courier.TimeoutError when timeout passes first.")
      .def("try_acquire", &PyLock::try_acquire, nb::arg("timeout").none(),
           "Take a token within timeout (None: as long as it takes), else None. A token is a round "
           "trip to the proxy away, so 0 never gets one.")
      .def_prop_ro("name", &PyLock::name)
      .def_prop_ro("endpoint", &PyLock::endpoint)
      .def("close", [](PyLock& s) { s.close(); }, "Say BYE (a held token goes back) and close.")
      .def_prop_ro("closed", [](PyLock& s) { return s.closed(); })
      .def("__enter__", [](PyLock& s) -> PyLock& { s.get(); return s; }, nb::rv_policy::reference)
      .def("__exit__", [](PyLock& s, nb::handle, nb::handle, nb::handle) { s.close(); },
           nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());
}

}  // namespace courier::python
