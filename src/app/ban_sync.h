// BanSync: keeps the running node's ban list and the store's in step, on
// its own thread with its own store connection. The worker hands it the
// bans its shield placed (and their hit counts) and returns at once; the
// thread writes them in batches, and polls the store's ban change sequence
// every store.provisioning_poll_ms for operators' changes (`tollgate ban
// add|del`, another process), which it posts to the worker's shield. It
// also purges history older than shield.ban_memory. Conversions between
// the store's rows and the shield's bans live here too.
//
// Thread-safe: put()/hits() from the worker, start()/stop()/flush() from
// the node's main thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/event_loop.h"
#include "shield/ban.h"
#include "store/ban_store.h"
#include "store/pg_target.h"

namespace tollgate::shield {
class Shield;
}

namespace tollgate::app {

store::BanRow rowOf(const shield::BanInfo& ban);
// nullopt when the row's address does not parse (a hand-edited store).
std::optional<shield::BanInfo> infoOf(const store::BanRow& row);

// Bans waiting to be written at most; beyond this they are dropped and
// counted (the running shield still enforces them, they are only not
// persisted).
inline constexpr size_t kMaxPendingBanWrites = 100'000;
// Changes read from the store per page.
inline constexpr size_t kBanPollPage = 1000;
// Tombstones are kept this long for pollers to see, then purged.
inline constexpr std::chrono::hours kTombstoneRetention{1};
// How often old rows are purged.
inline constexpr std::chrono::minutes kBanPurgeInterval{60};

struct BanSyncStats {
  uint64_t written = 0;      // ban rows written
  uint64_t writeErrors = 0;  // rows lost to store errors
  uint64_t droppedFull = 0;  // rows dropped: queue full
  uint64_t applied = 0;      // changes read from the store and posted to the shield
  uint64_t purged = 0;
};

class BanSync {
 public:
  BanSync(store::StoreTarget storeTarget, Millis pollInterval, std::chrono::seconds banMemory,
          EventLoop& loop, shield::Shield& shield);
  ~BanSync();  // stop()
  BanSync(const BanSync&) = delete;
  BanSync& operator=(const BanSync&) = delete;

  // On the worker's thread before the node serves (the loop is not running
  // yet): reads every ban still active or within ban_memory into the
  // shield, and purges older ones. Errors are logged; the node runs on.
  void loadInitial();
  void start();
  void stop();

  // From the worker: persist a ban the shield placed; hit counts.
  void put(const shield::BanInfo& ban);
  // From the worker: delete a ban's row (another node of the cluster
  // lifted it; cluster/shared_bans.h).
  void remove(const shield::PrefixKey& prefix);
  void hits(const std::vector<shield::BanHits>& hits);
  // Writes everything queued now (at shutdown), at most `timeout`.
  void flush(Millis timeout);
  // Polls the store now (the API changed a ban): from any thread.
  void pollNow();

  BanSyncStats stats() const;

 private:
  void run();
  store::BanStore* storeOrNull();
  void writePending();
  void poll();

  store::StoreTarget target_;
  Millis pollInterval_;
  std::chrono::seconds banMemory_;
  EventLoop& loop_;
  shield::Shield& shield_;

  std::unique_ptr<store::BanStore> store_;  // the thread's connection
  store::BanCursor cursor_;
  std::chrono::steady_clock::time_point nextPurge_{};
  std::chrono::steady_clock::time_point nextOpen_{};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_;
  std::deque<store::BanRow> rows_;
  std::vector<std::pair<std::string, int64_t>> hits_;
  bool busy_ = false;
  bool stop_ = false;
  bool flushNow_ = false;
  bool pollNow_ = false;
  BanSyncStats stats_;
  std::thread thread_;
};

}  // namespace tollgate::app
