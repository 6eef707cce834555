// proxy/snapshot_board.hpp — hands immutable snapshots from the loop to readers.
//
// The loop thread publish()es a new MetricsSnapshot every few hundred ms;
// any thread takes latest() and keeps it as long as it likes (shared
// ownership: a snapshot lives until its last reader lets go). The mutex
// guards only the pointer swap, a few nanoseconds, so the loop never waits
// on a slow HTTP client. latest() is null until the first publish().
#pragma once

#include "metrics_snapshot.hpp"

#include <memory>
#include <mutex>

namespace courier::proxy {

class SnapshotBoard {
 public:
  using Ptr = std::shared_ptr<const MetricsSnapshot>;

  void publish(Ptr snapshot) {
    std::lock_guard<std::mutex> lock(mutex_);
    latest_.swap(snapshot);
    // the old snapshot (now in `snapshot`) is released after the unlock
  }
  Ptr latest() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return latest_;
  }

 private:
  mutable std::mutex mutex_;
  Ptr latest_;
};

}  // namespace courier::proxy
