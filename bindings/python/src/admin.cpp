// Admin (STATS, DECLARE, PURGE, DELETE) and rates() for Python.
//
// The C++ Admin waits for each answer itself (bounded by its `timeout`,
// default 5 s), so these calls release the GIL for the whole call and are
// not sliced: Ctrl-C is seen when the call returns, at most `timeout` later.
#include "bindings.hpp"

#include "blocking.hpp"
#include "options.hpp"
#include "resource.hpp"

#include <courier/admin.hpp>

#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace nb = nanobind;

namespace courier::python {
namespace {

class PyAdmin : public Owner<Admin> {
 public:
  PyAdmin(std::optional<std::string> endpoint, std::string client_name, double timeout, const SocketOptions* socket,
          const CurveOptions* curve, const Context* context, std::optional<std::string> shards)
      : Owner("Admin", make(std::move(endpoint), std::move(client_name), timeout, socket, curve, context, std::move(shards))) {}

  ProxyStats stats_all() {
    auto a = get();
    nb::gil_scoped_release unlocked;
    return a->stats();
  }
  std::vector<ProxyStats> stats_by_proxy() {
    auto a = get();
    nb::gil_scoped_release unlocked;
    return a->stats_by_proxy();
  }
  std::optional<QueueStats> stats_queue(const std::string& queue) {
    auto a = get();
    nb::gil_scoped_release unlocked;
    return a->stats(queue);
  }
  std::uint64_t declare(const std::string& queue, std::optional<std::uint64_t> max_length,
                        std::optional<std::uint64_t> max_attempts, std::optional<double> ttl,
                        std::optional<double> ack_timeout, std::optional<std::string> dead_letter,
                        std::optional<std::uint32_t> tokens, std::optional<std::string> moved_to) {
    QueueOptions o;
    o.max_length = max_length;
    o.max_attempts = max_attempts;
    if (ttl) o.ttl = to_ms(*ttl, "ttl");
    if (ack_timeout) o.ack_timeout = to_ms(*ack_timeout, "ack_timeout");
    o.dead_letter = std::move(dead_letter);
    o.tokens = tokens;
    o.moved_to = std::move(moved_to);
    auto a = get();
    nb::gil_scoped_release unlocked;
    return a->declare(queue, o);
  }
  std::uint64_t purge(const std::string& queue) {
    auto a = get();
    nb::gil_scoped_release unlocked;
    return a->purge(queue);
  }
  void remove(const std::string& queue) {
    auto a = get();
    nb::gil_scoped_release unlocked;
    a->remove(queue);
  }
  std::string endpoint() { return get()->endpoint(); }

 private:
  static std::shared_ptr<Admin> make(std::optional<std::string> endpoint, std::string client_name, double timeout,
                                     const SocketOptions* socket, const CurveOptions* curve, const Context* context, std::optional<std::string> shards) {
    AdminOptions o;
    o.endpoint = endpoint_or_default(endpoint);
    o.shards = shard_source(shards);
    o.client_name = std::move(client_name);
    o.timeout = to_ms(timeout, "timeout");
    o.socket = socket_options(socket, curve);
    o.context = context_or_global(context);
    return std::make_shared<Admin>(std::move(o));
  }
};

// "Name(a=1, b=2)" for the read-only figure classes.
std::string fields_repr(const char* name, std::initializer_list<std::pair<const char*, std::uint64_t>> f) {
  std::string s = std::string(name) + "(";
  bool first = true;
  for (auto& [k, n] : f) {
    if (!first) s += ", ";
    first = false;
    s += std::string(k) + "=" + std::to_string(n);
  }
  return s + ")";
}

}  // namespace

void bind_admin(nb::module_& m) {
  nb::class_<QueueStats>(m, "QueueStats", "One queue's figures from STATS (counters since the proxy started).")
      .def_ro("depth", &QueueStats::depth)
      .def_ro("inflight", &QueueStats::inflight)
      .def_ro("consumers", &QueueStats::consumers)
      .def_ro("delayed", &QueueStats::delayed)
      .def_ro("put", &QueueStats::put)
      .def_ro("delivered", &QueueStats::delivered)
      .def_ro("acked", &QueueStats::acked)
      .def_ro("redelivered", &QueueStats::redelivered)
      .def_ro("dead_lettered", &QueueStats::dead_lettered)
      .def_ro("dropped", &QueueStats::dropped)
      .def_ro("expired", &QueueStats::expired)
      .def_ro("tokens", &QueueStats::tokens)
      .def_ro("moved_to", &QueueStats::moved_to, "The proxy the queue moved to (set on its old owner only).")
      .def("__repr__", [](const QueueStats& q) {
        return fields_repr("QueueStats", {{"depth", q.depth}, {"inflight", q.inflight}, {"consumers", q.consumers},
                                             {"delayed", q.delayed}, {"put", q.put}, {"delivered", q.delivered},
                                             {"acked", q.acked}, {"redelivered", q.redelivered},
                                             {"dead_lettered", q.dead_lettered}, {"dropped", q.dropped},
                                             {"expired", q.expired}});
      });

  nb::class_<ProxyStats>(m, "ProxyStats", "One STATS answer: every queue's figures and the proxy's.")
      .def_ro("queues", &ProxyStats::queues)
      .def_ro("uptime_ms", &ProxyStats::uptime_ms)
      .def_ro("clients", &ProxyStats::clients)
      .def_ro("name", &ProxyStats::name, "stats_by_proxy(): the proxy's name in the shard map.")
      .def_ro("endpoint", &ProxyStats::endpoint, "stats_by_proxy(): where it was asked.")
      .def_ro("reachable", &ProxyStats::reachable, "stats_by_proxy(): False when it did not answer.")
      .def_ro("error", &ProxyStats::error, "stats_by_proxy(): why it is not reachable.")
      .def("__repr__", [](const ProxyStats& p) {
        std::string r = "ProxyStats(";
        if (!p.name.empty()) r += "name='" + p.name + "', ";
        if (!p.endpoint.empty()) r += "endpoint='" + p.endpoint + "', ";
        if (!p.reachable) r += "reachable=False, error='" + p.error + "', ";
        return r + "queues=<" + std::to_string(p.queues.size()) + ">, uptime_ms=" + std::to_string(p.uptime_ms) +
               ", clients=" + std::to_string(p.clients) + ")";
      });

  nb::class_<QueueRate>(m, "QueueRate", "Per-second rates of one queue between two stats() samples.")
      .def_ro("put_per_s", &QueueRate::put_per_s)
      .def_ro("acked_per_s", &QueueRate::acked_per_s)
      .def_ro("delivered_per_s", &QueueRate::delivered_per_s)
      .def("__repr__", [](const QueueRate& r) {
        return "QueueRate(put_per_s=" + std::to_string(r.put_per_s) + ", acked_per_s=" +
               std::to_string(r.acked_per_s) + ", delivered_per_s=" + std::to_string(r.delivered_per_s) + ")";
      });

  m.def("rates", &rates, nb::arg("earlier"), nb::arg("later"),
        "Messages per second of every queue between two Admin.stats() samples.");

  nb::class_<PyAdmin>(m, "Admin", "Queue figures and policies on courier-proxy; starts no thread.")
      .def(nb::init<std::optional<std::string>, std::string, double, const SocketOptions*, const CurveOptions*, const Context*, std::optional<std::string>>(),
           nb::arg("endpoint") = nb::none(), nb::kw_only(), nb::arg("client_name") = "", nb::arg("timeout") = 5.0,
           nb::arg("socket") = nb::none(), nb::arg("curve") = nb::none(), nb::arg("context") = nb::none(),
           nb::arg("shards") = nb::none())
      .def("stats", &PyAdmin::stats_all, "Figures of every queue and of the proxy.")
      .def("stats", &PyAdmin::stats_queue, nb::arg("queue"), "One queue's figures, or None if it does not exist.")
      .def("stats_by_proxy", &PyAdmin::stats_by_proxy,
           "Every queue's figures per proxy of the shard map (one entry without shards); a proxy that "
           "does not answer is an entry with reachable False and the error.")
      .def("declare", &PyAdmin::declare, nb::arg("queue"), nb::kw_only(), nb::arg("max_length") = nb::none(),
           nb::arg("max_attempts") = nb::none(), nb::arg("ttl") = nb::none(), nb::arg("ack_timeout") = nb::none(),
           nb::arg("dead_letter") = nb::none(), nb::arg("tokens") = nb::none(), nb::arg("moved_to") = nb::none(),
           "Set queue policies (unset = unchanged; seconds for ttl/ack_timeout); returns its depth.")
      .def("purge", &PyAdmin::purge, nb::arg("queue"), "Remove the ready messages; returns how many.")
      .def("remove", &PyAdmin::remove, nb::arg("queue"), "Forget an empty, unused queue.")
      .def_prop_ro("endpoint", &PyAdmin::endpoint)
      .def("close", [](PyAdmin& s) { s.close(); }, "Say BYE and close (idempotent).")
      .def_prop_ro("closed", [](PyAdmin& s) { return s.closed(); })
      .def("__enter__", [](PyAdmin& s) -> PyAdmin& { s.get(); return s; }, nb::rv_policy::reference)
      .def("__exit__", [](PyAdmin& s, nb::handle, nb::handle, nb::handle) { s.close(); },
           nb::arg("exc_type").none(), nb::arg("exc").none(), nb::arg("tb").none());
}

}  // namespace courier::python
