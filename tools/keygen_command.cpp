// tools/keygen_command.cpp — `courier keygen NAME [--dir DIR]`: a CurveZMQ
// key pair as ZeroMQ certificates (PROTOCOL.md §4.2, §5).
//
// The keys come from libzmq's own zmq_curve_keypair (no crypto of ours); the
// files are in the ZPL text that pyzmq's zmq.auth.create_certificates and
// CZMQ's zcert write, so zmq.auth.load_certificate() reads them:
//   DIR/NAME.key         public-key only: hand it to peers
//   DIR/NAME.key_secret  public-key and secret-key, created 0600
// Existing files are never overwritten (exit 1): a key in use must not be
// replaced by accident.
#include "cli_common.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>

namespace courier::cli {

namespace {

struct KeygenArgs {
  std::string name;
  std::string dir = ".";
};

std::string header(const char* kind) {
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::gmtime(&now));
  return std::string("#   ****  Generated on ") + when + " by courier keygen  ****\n" +
         "#   ZeroMQ CURVE " + kind + " Certificate\n";
}

// Writes `text` to a new file `path` with `mode`; refuses an existing one.
void write_new(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    const int err = errno;
    throw CliFailure(kUsage, err == EEXIST ? path + " exists already: keygen never overwrites a key "
                                                    "(remove it first, or choose another NAME or --dir)"
                                           : "cannot create " + path + ": " + std::strerror(err));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok) throw CliFailure(kUsage, "cannot write " + path + ": " + std::strerror(errno));
}

int run_keygen(const KeygenArgs& a) {
  if (a.name.empty() || a.name.find('/') != std::string::npos) {
    throw CliFailure(kUsage, "NAME must be a file name (no '/'): the files are DIR/NAME.key and DIR/NAME.key_secret");
  }
  struct stat st {};
  if (::stat(a.dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw CliFailure(kUsage, "--dir " + a.dir + " is not a directory");
  }
  char public_key[41], secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    throw CliFailure(kRemote, std::string("libzmq cannot make CURVE keys: ") + zmq_strerror(zmq_errno()) +
                                  " (it must be built with CURVE support, e.g. libsodium)");
  }
  const std::string base = a.dir + "/" + a.name;
  const std::string public_line = std::string("    public-key = \"") + public_key + "\"\n";
  // The public file first: if it exists, nothing is written at all.
  write_new(base + ".key",
            header("Public") +
                "#   Exchange securely, or use a secure mechanism to verify the contents\n"
                "#   of this file after exchange.\n\nmetadata\ncurve\n" + public_line,
            0644);
  try {
    write_new(base + ".key_secret",
              header("**Secret**") +
                  "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n"
                  "metadata\ncurve\n" + public_line + "    secret-key = \"" + secret_key + "\"\n",
              0600);
  } catch (...) {
    ::unlink((base + ".key").c_str());  // never leave half a pair
    throw;
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
