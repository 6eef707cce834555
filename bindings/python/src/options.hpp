// options.hpp — SocketOptions and Context as Python classes, and the
// conversions every constructor shares (seconds -> milliseconds, None ->
// defaults, endpoint None -> default_proxy_endpoint()).
#pragma once

#include <nanobind/nanobind.h>

#include <courier/context.hpp>
#include <courier/options.hpp>

#include <optional>
#include <string>

namespace courier::python {

void bind_options(nanobind::module_& m);

// `socket` or the C++ defaults when None.
inline SocketOptions socket_or_default(const SocketOptions* socket) {
  return socket ? *socket : SocketOptions{};
}
// The default context of this process: Context::global() in the process
// that loaded the module; in a fork()ed child (whose copy of that context
// lost its ZeroMQ I/O threads in the fork) a fresh one, made on first use.
Context default_context();
// Terminates a child's own default context (waiting at most the sockets'
// linger to flush them), after close_all() at exit. Needs the GIL.
void release_default_context();

// `context` or default_context() when None.
inline Context context_or_global(const Context* context) {
  return context ? *context : default_context();
}
// "" (the C++ "use the default endpoint") for None.
inline std::string endpoint_or_default(const std::optional<std::string>& endpoint) {
  return endpoint ? *endpoint : std::string();
}

}  // namespace courier::python
