// fuzz/journal_census.cpp — see journal_census.hpp.
#include "journal_census.hpp"

#include "lmdb.hpp"

namespace courier::fuzz {

namespace {

uint64_t big_endian(const char* p, std::size_t n) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Calls f(key) for every key of the named table.
template <class F>
void each_key(MDB_txn* txn, const char* table, F&& f) {
  MDB_dbi dbi;
  proxy::lmdb::check(mdb_dbi_open(txn, table, 0, &dbi), std::string("census: open ") + table);
  proxy::lmdb::Cursor c(txn, dbi);
  MDB_val k, v;
  for (bool ok = c.get(k, v, MDB_FIRST); ok; ok = c.get(k, v, MDB_NEXT)) {
    f(proxy::lmdb::view(k));
  }
}

}  // namespace

JournalCensus take_census(proxy::Journal& journal) {
  JournalCensus out;
  MDB_txn* txn = journal.txn();
  // Messages in `segs` (less their acked bits) and in older journals' `msgs`.
  journal.for_each_message([&](uint32_t qid, const proxy::MessageView&) { ++out.by_qid[qid].messages; });
  // delayed: due ms u64 | qid u32 | seq u64
  each_key(txn, "delayed", [&](std::string_view k) {
    if (k.size() == 20) ++out.by_qid[static_cast<uint32_t>(big_endian(k.data() + 8, 4))].delayed;
  });
  for (proxy::QueueRecord& r : journal.load_queues()) {
    std::string name = r.name;
    out.records.emplace(std::move(name), std::move(r));
  }
  return out;
}

}  // namespace courier::fuzz
