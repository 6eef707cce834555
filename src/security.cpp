// security.cpp — certificates and keys for CurveZMQ (security.hpp). The keys
// are libzmq's (zmq_curve_keypair, zmq_curve_public); this file only reads
// and writes the ZPL text around them.
#include <courier/errors.hpp>
#include <courier/security.hpp>

#include "zap_handler.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>

namespace courier {

namespace {

std::mutex log_mu;
CurveRefusalLog refusal_log;  // guarded by log_mu

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// The value of `name = "..."` when `line` (trimmed) is that assignment.
bool read_assignment(const std::string& line, const char* name, std::string& value) {
  const std::size_t n = std::strlen(name);
  if (line.compare(0, n, name) != 0) return false;
  const auto eq = line.find('=', n);
  if (eq == std::string::npos || !trim(line.substr(n, eq - n)).empty()) return false;
  std::string v = trim(line.substr(eq + 1));
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
  value = v;
  return true;
}

std::string header(const char* kind) {
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  return std::string("#   ****  Generated on ") + when + " by courier  ****\n" + "#   ZeroMQ CURVE " + kind +
         " Certificate\n";
}

// Writes `text` to a new file `path` with `mode`; refuses an existing one.
void write_new(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    const int err = errno;
    throw ConfigError(err == EEXIST ? path + " exists already: a key is never overwritten (remove it first, or "
                                             "choose another name)"
                                    : "cannot create " + path + ": " + std::strerror(err));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = errno;
  ::close(fd);
  if (!ok) throw ConfigError("cannot write " + path + ": " + std::strerror(err));
}

}  // namespace

namespace detail {

bool valid_z85_key(const std::string& key) {
  if (key.size() != 40) return false;
  uint8_t raw[32];
  return zmq_z85_decode(raw, key.c_str()) != nullptr;
}

void report_curve_refusal(const std::string& allow_dir, const std::string& client_key, const std::string& address) {
  std::lock_guard<std::mutex> lock(log_mu);
  if (refusal_log) refusal_log(allow_dir, client_key, address);
}

}  // namespace detail

CurveKeyPair load_certificate(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read the certificate " + path + ": " + std::strerror(errno));
  CurveKeyPair keys;
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::string value;
    if (read_assignment(line, "public-key", value)) keys.public_key = value;
    if (read_assignment(line, "secret-key", value)) keys.secret_key = value;
  }
  if (keys.public_key.empty()) {
    throw ConfigError("the certificate " + path + " has no public-key: write one with `courier keygen` or "
                      "pyzmq's zmq.auth.create_certificates");
  }
  if (!detail::valid_z85_key(keys.public_key)) {
    throw ConfigError("the public-key in " + path + " is not a CURVE key (40 Z85 characters)");
  }
  if (!keys.secret_key.empty() && !detail::valid_z85_key(keys.secret_key)) {
    throw ConfigError("the secret-key in " + path + " is not a CURVE key (40 Z85 characters)");
  }
  return keys;
}

CurveKeyPair new_curve_key_pair() {
  char public_key[41], secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    throw ConfigError(std::string("libzmq cannot make CURVE keys: ") + zmq_strerror(zmq_errno()) +
                      " (it must be built with CURVE support, e.g. libsodium)");
  }
  return CurveKeyPair{public_key, secret_key};
}

void save_certificate(const CurveKeyPair& keys, const std::string& base) {
  if (!detail::valid_z85_key(keys.public_key) || !detail::valid_z85_key(keys.secret_key)) {
    throw ConfigError("save_certificate: both keys must be 40 Z85 characters");
  }
  const std::string public_line = "    public-key = \"" + keys.public_key + "\"\n";
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
                  "metadata\ncurve\n" + public_line + "    secret-key = \"" + keys.secret_key + "\"\n",
              0600);
  } catch (...) {
    ::unlink((base + ".key").c_str());  // never leave half a pair
    throw;
  }
}

void set_curve_refusal_log(CurveRefusalLog log) {
  std::lock_guard<std::mutex> lock(log_mu);
  refusal_log = std::move(log);
}

}  // namespace courier
