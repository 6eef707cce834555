// The journal's ceiling (issue 13): what LMDB alone does on this disk, so the
// proxy's figures can be read as ratios to it, measured in the same run.
//
//   cycle   the records the proxy's journal writes for one durable message
//           with a producer id — the message (MDB_APPEND, 128 B body), the
//           dedup claim (MDB_NOOVERWRITE) and its age entry (MDB_APPEND) —
//           and the message's erase one commit later, as an ACK does; one
//           fsync'd commit per --batch messages. Reported: messages/s.
//   segments  the same work with the message records of a commit stored as
//           one record (the format sketched in docs/RATIONALE.md, "Fewer
//           journal records per message"): bodies length-prefixed in one
//           value that LMDB puts on overflow pages of its own, erased whole
//           one commit later. Dedup claims and age entries as in `cycle`.
//           What the format would gain before any of it is built.
//   commit  a bare durable commit: one small record, mdb_txn_commit with
//           sync; --commits of them. Reported: p50/p90/p99 latency.
//
// One JSON line per measurement on stdout. Benchmark only, never a test.
//
//   journal_ceiling --dir /tmp/x --mode cycle --batch 256 --messages 1000000
//   journal_ceiling --dir /tmp/x --mode commit --commits 2000
#include <CLI/CLI.hpp>
#include <lmdb.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

void check(int rc, const char* what) {
  if (rc != 0) throw std::runtime_error(std::string(what) + ": " + mdb_strerror(rc));
}

// Keys big-endian as in proxy/journal.hpp, so LMDB's order is queue order.
void put_be64(unsigned char* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<unsigned char>(v);
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

struct Env {
  MDB_env* env = nullptr;
  MDB_dbi msgs = 0, dedup = 0, dedup_age = 0;
  explicit Env(const std::string& dir) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    check(mdb_env_create(&env), "mdb_env_create");
    check(mdb_env_set_maxdbs(env, 8), "mdb_env_set_maxdbs");
    check(mdb_env_set_mapsize(env, std::size_t(8) << 30), "mdb_env_set_mapsize");
    check(mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0600), "mdb_env_open");  // the proxy's flags
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env, nullptr, 0, &txn), "begin");
    check(mdb_dbi_open(txn, "msgs", MDB_CREATE, &msgs), "open msgs");
    check(mdb_dbi_open(txn, "dedup", MDB_CREATE, &dedup), "open dedup");
    check(mdb_dbi_open(txn, "dedupage", MDB_CREATE, &dedup_age), "open dedupage");
    check(mdb_txn_commit(txn), "commit");
  }
  ~Env() { mdb_env_close(env); }
};

// The dedup claim and age entry of message `n`, as the proxy writes them.
void claim_id(MDB_txn* txn, const Env& e, std::uint64_t n, const std::vector<unsigned char>& body) {
  char id[32] = {0, 0, 0, 1};  // qid u32 | producer id
  const int id_len = 4 + std::snprintf(id + 4, sizeof id - 4, "producer-%llu", (unsigned long long)n);
  MDB_val dk{static_cast<std::size_t>(id_len), id}, dv{24, const_cast<unsigned char*>(body.data())};
  check(mdb_put(txn, e.dedup, &dk, &dv, MDB_NOOVERWRITE), "dedup claim");
  unsigned char age[16];
  put_be64(age, 1700000000000ull + n / 1000);
  put_be64(age + 8, n);
  MDB_val ak{sizeof age, age}, av{static_cast<std::size_t>(id_len), id};
  check(mdb_put(txn, e.dedup_age, &ak, &av, MDB_APPEND), "dedup age");
}

void report(const char* mode, std::uint64_t batch, std::uint64_t messages, std::size_t body_size,
            std::uint64_t commits, Clock::time_point t0, double cpu0) {
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  std::printf(
      "{\"bench\": \"journal_ceiling\", \"mode\": \"%s\", \"batch\": %llu, \"messages\": %llu, \"body\": %zu, "
      "\"commits\": %llu, \"seconds\": %.4f, \"msgs_per_s\": %.0f, \"cpu_us_per_msg\": %.3f}\n",
      mode, (unsigned long long)batch, (unsigned long long)messages, body_size, (unsigned long long)commits,
      seconds, messages / seconds, cpu / messages * 1e6);
}

// One record per commit: key (queue, first seq), value the commit's bodies,
// each length-prefixed. The record of commit n is erased in commit n+1.
void segments(const std::string& dir, std::uint64_t messages, std::uint64_t batch, std::size_t body_size,
              bool with_ids) {
  Env e(dir);
  std::vector<unsigned char> body(body_size + 24, 0xab);
  std::uint64_t next = 0, commits = 0;
  std::optional<std::uint64_t> unacked;  // first seq of the previous commit's segment
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  while (next < messages || unacked) {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(e.env, nullptr, 0, &txn), "begin");
    const std::uint64_t first = next, put_to = std::min(messages, next + batch);
    if (first < put_to) {
      unsigned char key[12] = {0, 0, 0, 1};
      put_be64(key + 4, first);
      MDB_val k{sizeof key, key}, v{(put_to - first) * (4 + body.size()), nullptr};
      check(mdb_put(txn, e.msgs, &k, &v, MDB_RESERVE | MDB_APPEND), "put segment");
      auto* out = static_cast<unsigned char*>(v.mv_data);
      for (; next < put_to; ++next) {
        const auto len = static_cast<std::uint32_t>(body.size());
        std::memcpy(out, &len, 4);
        std::memcpy(out + 4, body.data(), body.size());
        out += 4 + body.size();
        if (with_ids) claim_id(txn, e, next, body);
      }
    }
    if (unacked) {  // the previous commit's messages are all acked now
      unsigned char key[12] = {0, 0, 0, 1};
      put_be64(key + 4, *unacked);
      MDB_val k{sizeof key, key};
      check(mdb_del(txn, e.msgs, &k, nullptr), "erase segment");
    }
    unacked = first < put_to ? std::optional<std::uint64_t>(first) : std::nullopt;
    check(mdb_txn_commit(txn), "commit");
    ++commits;
  }
  report(with_ids ? "segments" : "segments_no_ids", batch, messages, body_size, commits, t0, cpu0);
}

// Messages put in commit n are erased in commit n+1 (acked a turn later).
void cycle(const std::string& dir, std::uint64_t messages, std::uint64_t batch, std::size_t body_size, bool with_ids) {
  Env e(dir);
  std::vector<unsigned char> body(body_size + 24, 0xab);  // + the proxy's message meta
  std::uint64_t next = 0, erase_from = 0, commits = 0;
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  while (erase_from < messages) {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(e.env, nullptr, 0, &txn), "begin");
    const std::uint64_t put_to = std::min(messages, next + batch);
    for (; next < put_to; ++next) {
      unsigned char key[12] = {0, 0, 0, 1};
      put_be64(key + 4, next);
      MDB_val k{sizeof key, key}, v{body.size(), nullptr};
      check(mdb_put(txn, e.msgs, &k, &v, MDB_RESERVE | MDB_APPEND), "put message");
      std::memcpy(v.mv_data, body.data(), body.size());
      if (with_ids) claim_id(txn, e, next, body);
    }
    // The previous commit's messages are acked now: one cursor walk.
    const std::uint64_t erase_to = std::min(put_to == messages ? messages : put_to - batch, next);
    if (erase_from < erase_to) {
      MDB_cursor* cur = nullptr;
      check(mdb_cursor_open(txn, e.msgs, &cur), "cursor");
      unsigned char key[12] = {0, 0, 0, 1};
      put_be64(key + 4, erase_from);
      MDB_val k{sizeof key, key}, v{};
      int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
      for (; rc == 0 && erase_from < erase_to; ++erase_from) {
        check(mdb_cursor_del(cur, 0), "erase");
        rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
      }
      mdb_cursor_close(cur);
      erase_from = erase_to;
    }
    check(mdb_txn_commit(txn), "commit");
    ++commits;
  }
  report(with_ids ? "cycle" : "cycle_no_ids", batch, messages, body_size, commits, t0, cpu0);
}

void commit_latency(const std::string& dir, int commits) {
  Env e(dir);
  std::vector<double> ms;
  ms.reserve(commits);
  for (int i = 0; i < commits; ++i) {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(e.env, nullptr, 0, &txn), "begin");
    unsigned char key[12] = {0, 0, 0, 1};
    put_be64(key + 4, static_cast<std::uint64_t>(i));
    char value[32] = "a small durable record";
    MDB_val k{sizeof key, key}, v{sizeof value, value};
    check(mdb_put(txn, e.msgs, &k, &v, MDB_APPEND), "put");
    const auto t0 = Clock::now();
    check(mdb_txn_commit(txn), "commit");
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * ms.size()))]; };
  std::printf(
      "{\"bench\": \"journal_ceiling\", \"mode\": \"commit\", \"commits\": %d, \"p50_ms\": %.4f, \"p90_ms\": %.4f, "
      "\"p99_ms\": %.4f, \"max_ms\": %.4f}\n",
      commits, pct(0.50), pct(0.90), pct(0.99), ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"LMDB's own ceiling for the proxy's journal work (bench only)"};
  std::string dir, mode = "cycle";
  std::uint64_t messages = 1000000, batch = 256;
  std::size_t body = 128;
  int commits = 2000;
  bool no_ids = false;
  app.add_option("--dir", dir, "scratch directory on the disk to measure (emptied first)")->required();
  app.add_option("--mode", mode, "cycle | segments | commit")->check(CLI::IsMember({"cycle", "segments", "commit"}));
  app.add_option("--messages", messages, "messages in the cycle run")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "messages per fsync'd commit")->check(CLI::PositiveNumber);
  app.add_option("--body", body, "message body bytes");
  app.add_flag("--no-ids", no_ids, "cycle/segments without producer ids: the message records alone");
  app.add_option("--commits", commits, "commits in the commit-latency run")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    if (mode == "cycle") cycle(dir, messages, batch, body, !no_ids);
    else if (mode == "segments") segments(dir, messages, batch, body, !no_ids);
    else commit_latency(dir, commits);
    std::filesystem::remove_all(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "journal_ceiling: %s\n", e.what());
    return 1;
  }
}
