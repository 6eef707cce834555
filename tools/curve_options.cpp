// tools/curve_options.cpp — see curve_options.hpp.
#include "curve_options.hpp"

#include <courier/errors.hpp>

namespace courier::cli {

void add_curve_client_options(CLI::App* cmd, CurveArgs& args) {
  cmd->add_option("--curve-server", args.server_cert,
                  "use CurveZMQ: the public certificate (NAME.key) of the peer to connect to");
  cmd->add_option("--curve-cert", args.own_cert,
                  "with --curve-server: this side's secret certificate (NAME.key_secret); a fresh key pair "
                  "when absent (the peer's --curve-allow must list a known one)");
}

void add_curve_server_options(CLI::App* cmd, CurveArgs& args) {
  cmd->add_option("--curve-secret", args.secret_cert,
                  "with --bind (serve: always): serve CurveZMQ with this secret certificate (NAME.key_secret)");
  cmd->add_option("--curve-allow", args.allow_dir,
                  "with --curve-secret: only clients whose public certificate (*.key) is in DIR may connect");
}

namespace {

CurveKeyPair load(const std::string& path, const char* option, bool need_secret) {
  CurveKeyPair keys;
  try {
    keys = load_certificate(path);
  } catch (const ConfigError& e) {
    throw CliFailure(kUsage, std::string(option) + ": " + e.what());
  }
  if (need_secret && keys.secret_key.empty()) {
    throw CliFailure(kUsage, std::string(option) + " " + path +
                                 " holds no secret-key: give the NAME.key_secret file (from `courier keygen`)");
  }
  return keys;
}

}  // namespace

CurveOptions curve_options(const CurveArgs& a, bool binding) {
  CurveOptions c;
  if (binding) {
    if (!a.server_cert.empty() || !a.own_cert.empty()) {
      throw CliFailure(kUsage, "--curve-server and --curve-cert are for connecting; a socket that binds takes "
                               "--curve-secret FILE and --curve-allow DIR");
    }
    if (!a.allow_dir.empty() && a.secret_cert.empty()) {
      throw CliFailure(kUsage, "--curve-allow needs --curve-secret: the allow-list checks CURVE clients");
    }
    if (a.secret_cert.empty()) return c;
    c.server = true;
    c.keys = load(a.secret_cert, "--curve-secret", true);
    c.allow_dir = a.allow_dir;
    return c;
  }
  if (!a.secret_cert.empty() || !a.allow_dir.empty()) {
    throw CliFailure(kUsage, "--curve-secret and --curve-allow are for a socket that binds (--bind); to connect "
                             "give --curve-server FILE (and --curve-cert FILE)");
  }
  if (a.server_cert.empty()) {
    if (!a.own_cert.empty()) throw CliFailure(kUsage, "--curve-cert needs --curve-server (the peer's public key)");
    return c;
  }
  c.server_key = load(a.server_cert, "--curve-server", false).public_key;
  if (!a.own_cert.empty()) c.keys = load(a.own_cert, "--curve-cert", true);
  return c;
}

std::string curve_hint(const CurveArgs& a) {
  if (!a.server_cert.empty()) {
    return " (it may not accept this key: is its public certificate in the peer's --curve-allow directory?)";
  }
  return " (if the peer requires CURVE, give --curve-server FILE)";
}

}  // namespace courier::cli
