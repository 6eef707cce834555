// options.hpp — SocketOptions and Context as Python classes, and the
// conversions every constructor shares (seconds -> milliseconds, None ->
// defaults, endpoint None -> default_proxy_endpoint()).
#pragma once

#include <nanobind/nanobind.h>

#include <courier/context.hpp>
#include <courier/options.hpp>
#include <courier/shard_source.hpp>
#include <courier/security.hpp>

#include <memory>
#include <optional>
#include <string>

namespace courier::python {

void bind_options(nanobind::module_& m);

// `socket` or the C++ defaults when None, with `curve` (the owner's curve=
// argument) as its SocketOptions::curve when given.
inline SocketOptions socket_options(const SocketOptions* socket, const CurveOptions* curve) {
  SocketOptions o = socket ? *socket : SocketOptions{};
  if (curve) o.curve = *curve;
  return o;
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

// The `shards=` keyword of Producer, Consumer, Admin and Lock: "etcd://HOST:PORT/KEY"
// or a map file path (ShardMapSource::open). Clients given the same string
// share one source (one watch thread) while any of them lives.
// Throws: ConfigError (bad spec, no valid map now). Call without the GIL: etcd may take seconds.
std::shared_ptr<ShardMapSource> shard_source(const std::optional<std::string>& spec);

}  // namespace courier::python
