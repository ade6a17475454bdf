// CdrRetention: deletes CDRs older than cdr.retention_days, on its own
// thread, in small batches (kRetentionBatch rows per transaction, a pause
// between), so neither the CDR writer nor an API reader waits behind one
// long DELETE; at start and then every kRetentionInterval. Works on any
// Store (Store::purgeCdrs). Thread-safe: constructed and destroyed by one
// owner; the thread is internal.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "store/store.h"

namespace tollgate::store {

// Rows per purge transaction: on SQLite a transaction of this size holds
// the write lock for a few milliseconds.
inline constexpr size_t kRetentionBatch = 1000;
// Pause between batches: the CDR writer and other writers get the lock.
inline constexpr std::chrono::milliseconds kRetentionPause{20};
inline constexpr std::chrono::hours kRetentionInterval{1};

class CdrRetention {
 public:
  CdrRetention(std::function<Result<std::unique_ptr<Store>, StoreError>()> open, int days);
  ~CdrRetention();
  CdrRetention(const CdrRetention&) = delete;
  CdrRetention& operator=(const CdrRetention&) = delete;
  uint64_t purged() const;

 private:
  void run();
  std::function<Result<std::unique_ptr<Store>, StoreError>()> open_;
  int days_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  uint64_t purged_ = 0;
  std::thread thread_;
};

}  // namespace tollgate::store
