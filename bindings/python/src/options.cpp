#include "options.hpp"

#include "blocking.hpp"

#include <nanobind/stl/string.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include <unistd.h>

namespace nb = nanobind;

namespace courier::python {
namespace {

double seconds(std::chrono::milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }

// Guarded by the GIL. The pid is the module's loader's; a child's context is
// kept in `child` until release_default_context().
const pid_t loader_pid = getpid();
std::unique_ptr<Context> child;
pid_t child_pid = 0;

}  // namespace

std::shared_ptr<ShardMapSource> shard_source(const std::optional<std::string>& spec) {
  if (!spec) return nullptr;
  // Same spec, same source: one watch thread (file poll or etcd watch) for
  // all the clients of a process that name it. The entries are weak: the
  // source closes with its last client.
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<ShardMapSource>> open;
  nb::gil_scoped_release unlocked;  // etcd may take up to its timeout
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = open.find(*spec); it != open.end()) {
    if (auto live = it->second.lock()) return live;
  }
  auto source = ShardMapSource::open(*spec);
  open[*spec] = source;
  return source;
}

Context default_context() {
  const pid_t pid = getpid();
  if (pid == loader_pid) return Context::global();
  if (!child || child_pid != pid) {
    (void)child.release();  // a grandparent's: its threads are gone too; never terminated here
    child = std::make_unique<Context>();
    child_pid = pid;
  }
  return *child;
}

void release_default_context() {
  if (!child || child_pid != getpid()) return;
  std::unique_ptr<Context> last = std::move(child);
  nb::gil_scoped_release unlocked;
  last.reset();  // terminates it once its sockets are closed (linger-bounded)
}

void bind_options(nb::module_& m) {
  // Durations are float seconds on the Python side, milliseconds in C++.
  nb::class_<SocketOptions>(m, "SocketOptions",
                            "ZeroMQ socket options, applied before bind/connect (C++ courier::SocketOptions).")
      .def(
          "__init__",
          [](SocketOptions* self, int send_hwm, int receive_hwm, double linger, double reconnect_interval,
             double reconnect_interval_max, bool tcp_keepalive, double tcp_keepalive_idle,
             double tcp_keepalive_interval, bool immediate, std::string routing_id, std::int64_t max_message_size) {
            auto* o = new (self) SocketOptions();
            o->send_hwm = send_hwm;
            o->receive_hwm = receive_hwm;
            o->linger = to_ms(linger, "linger");
            o->reconnect_interval = to_ms(reconnect_interval, "reconnect_interval");
            o->reconnect_interval_max = to_ms(reconnect_interval_max, "reconnect_interval_max");
            o->tcp_keepalive = tcp_keepalive;
            o->tcp_keepalive_idle = std::chrono::duration_cast<std::chrono::seconds>(
                to_ms(tcp_keepalive_idle, "tcp_keepalive_idle"));
            o->tcp_keepalive_interval = std::chrono::duration_cast<std::chrono::seconds>(
                to_ms(tcp_keepalive_interval, "tcp_keepalive_interval"));
            o->immediate = immediate;
            o->routing_id = std::move(routing_id);
            o->max_message_size = max_message_size;
          },
          nb::kw_only(), nb::arg("send_hwm") = 1000, nb::arg("receive_hwm") = 1000, nb::arg("linger") = 1.0,
          nb::arg("reconnect_interval") = 0.1, nb::arg("reconnect_interval_max") = 0.0,
          nb::arg("tcp_keepalive") = false, nb::arg("tcp_keepalive_idle") = 0.0,
          nb::arg("tcp_keepalive_interval") = 0.0, nb::arg("immediate") = false, nb::arg("routing_id") = "",
          nb::arg("max_message_size") = -1)
      .def_rw("send_hwm", &SocketOptions::send_hwm)
      .def_rw("receive_hwm", &SocketOptions::receive_hwm)
      .def_prop_ro("linger", [](const SocketOptions& o) { return seconds(o.linger); })
      .def_prop_ro("reconnect_interval", [](const SocketOptions& o) { return seconds(o.reconnect_interval); })
      .def_prop_ro("reconnect_interval_max",
                   [](const SocketOptions& o) { return seconds(o.reconnect_interval_max); })
      .def_rw("tcp_keepalive", &SocketOptions::tcp_keepalive)
      .def_rw("immediate", &SocketOptions::immediate)
      .def_rw("routing_id", &SocketOptions::routing_id)
      .def_rw("max_message_size", &SocketOptions::max_message_size);

  nb::class_<Context>(m, "Context",
                      "A ZeroMQ context shared by sockets; shutdown() wakes every blocked call with ClosedError.")
      .def(nb::init<int>(), nb::arg("io_threads") = 1)
      .def("shutdown", &Context::shutdown, "Make every call on this context's sockets raise ClosedError.")
      .def_prop_ro("is_shut_down", &Context::is_shut_down);

  m.def("default_proxy_endpoint", &default_proxy_endpoint,
        "$COURIER_PROXY_ENDPOINT, else tcp://127.0.0.1:5555.");
}

}  // namespace courier::python
