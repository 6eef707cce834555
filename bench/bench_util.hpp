// Shared by the core benchmarks (pipeline_bench, rr_bench): the benchmark
// struct, a tiny --key value argument parser, and the JSON result line.
// Benchmarks only; never installed, never a test.
#pragma once

#include <msgpack.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

// Issue 3 item 9: {int64 id; double ts; string name (16 chars); 64-byte
// payload}. The payload is std::vector<uint8_t>, which msgpack packs as bin.
struct Tick {
  std::int64_t id = 0;
  double ts = 0;
  std::string name;
  std::vector<std::uint8_t> payload;
  MSGPACK_DEFINE(id, ts, name, payload);
};

inline Tick make_tick() {
  Tick t;
  t.name = "courier-bench-16";  // exactly 16 chars: just past libstdc++'s SSO
  t.payload.assign(64, 0xab);
  return t;
}

// "--key value" pairs; every key must be known to the caller via get().
class Args {
 public:
  Args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string k = argv[i];
      if (k.rfind("--", 0) != 0 || i + 1 >= argc) usage("bad argument " + k);
      kv_[k.substr(2)] = argv[++i];
    }
  }
  std::string get(const std::string& k, const std::string& dflt) const {
    auto it = kv_.find(k);
    return it == kv_.end() ? dflt : it->second;
  }
  long long num(const std::string& k, long long dflt) const {
    auto it = kv_.find(k);
    return it == kv_.end() ? dflt : std::stoll(it->second);
  }
  [[noreturn]] static void usage(const std::string& why) {
    std::fprintf(stderr, "%s\n", why.c_str());
    std::exit(2);
  }

 private:
  std::map<std::string, std::string> kv_;
};

// The bound endpoint goes to a file the driver script waits for (written
// atomically: temp file + rename), so ephemeral ports never collide with
// other benchmarks running on the same machine.
inline void publish_endpoint(const std::string& file, const std::string& endpoint) {
  if (file.empty()) {
    std::fprintf(stderr, "endpoint %s\n", endpoint.c_str());
    return;
  }
  const std::string tmp = file + ".tmp";
  { std::ofstream(tmp) << endpoint << "\n"; }
  std::rename(tmp.c_str(), file.c_str());
}

// CPU time (user + system) of the whole process, all threads included:
// on a shared machine it moves much less than wall time does.
inline double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace bench
