// fuzz/journal_census.hpp — what the proxy's journal actually holds, counted
// record by record, for broker_fuzz's invariants.
//
// The Broker keeps counts (QueueRecord::stored, ::delayed) that STATS
// reports; this reads the tables those counts describe (layout in
// proxy/journal.hpp) without going through them, so the two can disagree.
// It reads inside the Journal's own turn transaction (Journal::txn()): a
// second LMDB environment on the same files in one process is not allowed.
#pragma once

#include "journal.hpp"

#include <cstdint>
#include <map>
#include <string>

namespace courier::fuzz {

struct QueueCensus {
  uint64_t messages = 0;  // stored: in `segs` less their acked bits, and in `msgs`
  uint64_t delayed = 0;   // entries in `delayed`
};

struct JournalCensus {
  std::map<uint32_t, QueueCensus> by_qid;       // every qid that has any entry
  std::map<std::string, proxy::QueueRecord> records;  // `queues`, by name
};

// Counts the tables. Throws JournalError.
JournalCensus take_census(proxy::Journal& journal);

}  // namespace courier::fuzz
