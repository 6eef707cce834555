// tools/keygen_command.cpp — `courier keygen NAME [--dir DIR]`: a CurveZMQ
// key pair as ZeroMQ certificates (PROTOCOL.md §4.2, §5).
//
// The keys come from libzmq's own zmq_curve_keypair (no crypto of ours)
// through the library (security.hpp); the files are in the ZPL text that
// pyzmq's zmq.auth.create_certificates and CZMQ's zcert write, so
// zmq.auth.load_certificate() reads them:
//   DIR/NAME.key         public-key only: hand it to peers
//   DIR/NAME.key_secret  public-key and secret-key, created 0600
// Existing files are never overwritten (exit 1): a key in use must not be
// replaced by accident.
#include "cli_common.hpp"

#include <courier/errors.hpp>
#include <courier/security.hpp>

#include <sys/stat.h>

#include <memory>
#include <string>

namespace courier::cli {

namespace {

struct KeygenArgs {
  std::string name;
  std::string dir = ".";
};

int run_keygen(const KeygenArgs& a) {
  if (a.name.empty() || a.name.find('/') != std::string::npos) {
    throw CliFailure(kUsage, "NAME must be a file name (no '/'): the files are DIR/NAME.key and DIR/NAME.key_secret");
  }
  struct stat st {};
  if (::stat(a.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw CliFailure(kUsage, "--dir " + a.dir + " is not a directory");
  }
  try {
    save_certificate(new_curve_key_pair(), a.dir + "/" + a.name);
  } catch (const ConfigError& e) {
    throw CliFailure(kUsage, e.what());
  }
  return kOk;
}

}  // namespace

void add_keygen_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* keygen = app.add_subcommand(
      "keygen", "Write a CurveZMQ key pair as DIR/NAME.key (public) and DIR/NAME.key_secret (secret, mode "
                "0600), in the certificate format pyzmq's zmq.auth and CZMQ read. Never overwrites (exit 1).");
  keygen->add_option("name", args->name, "the pair's name: the files are NAME.key and NAME.key_secret")->required();
  keygen->add_option("--dir", args->dir, "directory to write to (default: the current one)")->capture_default_str();
  keygen->footer("Example:\n  courier keygen proxy --dir /etc/courier && courier keygen alice --dir ~/.curve");
  keygen->callback([&action, args] { action = [args] { return run_keygen(*args); }; });
}

}  // namespace courier::cli
