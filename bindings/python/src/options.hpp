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
// `context` or Context::global() when None.
inline Context context_or_global(const Context* context) {
  return context ? *context : Context::global();
}
// "" (the C++ "use the default endpoint") for None.
inline std::string endpoint_or_default(const std::optional<std::string>& endpoint) {
  return endpoint ? *endpoint : std::string();
}

}  // namespace courier::python
