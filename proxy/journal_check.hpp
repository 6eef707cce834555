// proxy/journal_check.hpp — what `courier-proxy --check DIR` finds in a
// stopped journal (docs/OPERATIONS.md, "Checking a journal").
//
// Problems are breaks of the invariants the proxy relies on (journal.hpp,
// "Layout"); any one makes the check fail. Notes are harmless leftovers a
// running proxy tolerates (and repairs where it can).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace courier::proxy {

struct QueueCheck {
  std::string name;
  uint32_t id = 0;
  uint64_t next_seq = 0;
  uint64_t messages = 0;         // stored: ready + delayed (in flight is not kept across a stop)
  uint64_t delayed = 0;          // entries of the delayed index
  uint64_t expiring = 0;         // entries of the expiry index
  uint64_t dedup_ids = 0;        // producer ids remembered
  std::optional<uint64_t> tokens;  // a token queue
};

struct JournalCheck {
  std::vector<QueueCheck> queues;
  std::vector<std::string> problems;  // at most kMaxListed, then a count
  std::vector<std::string> notes;
  uint64_t problem_count = 0;
  bool ok() const noexcept { return problem_count == 0; }

  static constexpr std::size_t kMaxListed = 50;
  void problem(std::string what) {
    if (problems.size() < kMaxListed) problems.push_back(std::move(what));
    ++problem_count;
  }
};

}  // namespace courier::proxy
