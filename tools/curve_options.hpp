// tools/curve_options.hpp — the CurveZMQ options of `courier` commands
// (PROTOCOL.md §4.2, §5): --curve-server FILE and --curve-cert FILE on every
// command that connects; --curve-secret FILE and --curve-allow DIR on those
// that bind (push/pull --bind, serve). Files are certificates as `courier
// keygen` and pyzmq's zmq.auth write them.
#pragma once

#include "cli_common.hpp"

#include <courier/security.hpp>

#include <string>

namespace courier::cli {

struct CurveArgs {
  std::string server_cert;  // --curve-server: the peer's public certificate
  std::string own_cert;     // --curve-cert: this side's secret certificate (else a fresh pair)
  std::string secret_cert;  // --curve-secret: the binding side's secret certificate
  std::string allow_dir;    // --curve-allow: public certificates of the clients let in
};

// Adds --curve-server and --curve-cert to a command that connects.
void add_curve_client_options(CLI::App* cmd, CurveArgs& args);
// Adds --curve-secret and --curve-allow to a command that may bind.
void add_curve_server_options(CLI::App* cmd, CurveArgs& args);

// The socket's CurveOptions: a server's when `binding` (from --curve-secret
// and --curve-allow), a client's otherwise (from --curve-server and
// --curve-cert); CURVE off when none is given. Throws: CliFailure(1) naming
// the option and file when a certificate cannot be used, or when options of
// the other side were given.
CurveOptions curve_options(const CurveArgs& args, bool binding);

// What to add to a "no answer" message: a peer that requires CURVE, or does
// not accept this key, looks exactly like no peer at all (PROTOCOL.md §4.2).
std::string curve_hint(const CurveArgs& args);

}  // namespace courier::cli
