// proxy/lmdb.hpp — thin RAII owners over LMDB handles, for the journal only.
//
// Env owns an MDB_env; Txn owns a transaction and aborts it in its
// destructor unless committed; Cursor is closed when its owner goes. All are
// move-only with noexcept destructors. Every LMDB failure becomes a
// JournalError that names the operation and, where one exists, the remedy.
// Single-threaded use: the proxy's loop thread owns all of them.
#pragma once

#include <courier/errors.hpp>

#include <lmdb.h>

#include <cerrno>

#include <string>
#include <string_view>
#include <utility>

namespace courier::proxy::lmdb {

// Throws JournalError "<what>: <lmdb text>" unless rc is 0.
inline void check(int rc, std::string_view what) {
  if (rc != 0) throw JournalError(std::string(what) + ": " + mdb_strerror(rc));
}

inline MDB_val val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view view(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

class Env {
 public:
  Env() { check(mdb_env_create(&env_), "mdb_env_create"); }
  ~Env() {
    if (env_ != nullptr) mdb_env_close(env_);
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  MDB_env* get() const noexcept { return env_; }

 private:
  MDB_env* env_ = nullptr;
};

class Txn {
 public:
  Txn() = default;
  Txn(MDB_env* env, unsigned flags) {
    check(mdb_txn_begin(env, nullptr, flags, &txn_), "mdb_txn_begin");
  }
  ~Txn() { abort(); }
  Txn(Txn&& o) noexcept : txn_(std::exchange(o.txn_, nullptr)) {}
  Txn& operator=(Txn&& o) noexcept {
    if (this != &o) {
      abort();
      txn_ = std::exchange(o.txn_, nullptr);
    }
    return *this;
  }
  // Commits (and, unless the env is MDB_NOSYNC, fsyncs). The Txn is then empty.
  void commit() {
    MDB_txn* t = std::exchange(txn_, nullptr);
    check(mdb_txn_commit(t), "journal commit");
  }
  void abort() noexcept {
    if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
  }
  bool active() const noexcept { return txn_ != nullptr; }
  MDB_txn* get() const noexcept { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

class Cursor {
 public:
  Cursor() = default;
  Cursor(MDB_txn* txn, MDB_dbi dbi) { check(mdb_cursor_open(txn, dbi, &cur_), "mdb_cursor_open"); }
  ~Cursor() { close(); }
  Cursor(Cursor&& o) noexcept : cur_(std::exchange(o.cur_, nullptr)) {}
  Cursor& operator=(Cursor&& o) noexcept {
    if (this != &o) {
      close();
      cur_ = std::exchange(o.cur_, nullptr);
    }
    return *this;
  }
  // Must run before the transaction ends.
  void close() noexcept {
    if (cur_ != nullptr) mdb_cursor_close(std::exchange(cur_, nullptr));
  }
  // Returns false at MDB_NOTFOUND, and for MDB_GET_CURRENT on a cursor that
  // rests on nothing: after mdb_cursor_del took the last record of a
  // database LMDB answers EINVAL there, which means "no current record".
  bool get(MDB_val& key, MDB_val& data, MDB_cursor_op op) {
    int rc = mdb_cursor_get(cur_, &key, &data, op);
    if (rc == MDB_NOTFOUND || (rc == EINVAL && op == MDB_GET_CURRENT)) return false;
    check(rc, "journal cursor");
    return true;
  }
  MDB_cursor* get() const noexcept { return cur_; }

 private:
  MDB_cursor* cur_ = nullptr;
};

}  // namespace courier::proxy::lmdb
