// CdrRetention (cdr_retention.h).
#include "store/cdr_retention.h"

#include "common/log.h"

namespace tollgate::store {

CdrRetention::CdrRetention(std::function<Result<std::unique_ptr<Store>, StoreError>()> open,
                           int days)
    : open_(std::move(open)), days_(days), thread_([this] { run(); }) {}

CdrRetention::~CdrRetention() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t CdrRetention::purged() const {
  std::lock_guard lock(mu_);
  return purged_;
}

void CdrRetention::run() {
  std::unique_ptr<Store> store;
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    if (!store) {
      auto opened = open_();
      if (opened) store = std::move(opened).value();
    }
    if (store) {
      const int64_t cutoff = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count() -
                             int64_t{days_} * 86'400'000'000;
      uint64_t total = 0;
      for (;;) {
        auto n = store->purgeCdrs(cutoff, kRetentionBatch);
        if (!n) {
          log::warn("cdr.retention_failed").kv("error", n.error().message);
          break;
        }
        total += *n;
        {
          std::lock_guard g(mu_);
          purged_ += *n;
          if (stop_) break;
        }
        if (*n < kRetentionBatch) break;
        std::this_thread::sleep_for(kRetentionPause);
      }
      log::info("cdr.retention_purged").kv("deleted", total).kv("retention_days", days_);
    }
    lock.lock();
    cv_.wait_for(lock, kRetentionInterval, [this] { return stop_; });
  }
}

}  // namespace tollgate::store
