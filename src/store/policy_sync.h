// PolicySync: the running node's link between its call policy and the
// PolicyStore, on one background thread with its own connection. It
// persists what the worker hands it without blocking it (dynamic blacklist
// entries, coalesced by number so a number refused a thousand times a
// second costs one row write per batch; saved counters), and it polls the
// store for operator changes to the blacklist made by other processes
// (`tollgate blacklist add/remove/clear`) and hands them to a callback on
// its thread (the node posts them to the worker). Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admission/dynamic_blacklist.h"
#include "common/clock.h"
#include "store/policy_store.h"

namespace tollgate::store {

struct PolicySyncStats {
  uint64_t entriesWritten = 0;
  uint64_t countersWritten = 0;
  uint64_t droppedFull = 0;  // writes dropped: too many pending
  uint64_t writeErrors = 0;
  uint64_t changesSeen = 0;
};

class PolicySync final : public admission::BlacklistPersistence {
 public:
  using Factory = std::function<Result<std::unique_ptr<PolicyStore>, StoreError>()>;
  using ChangeHandler = std::function<void(std::vector<BlacklistChange>&&)>;

  // Pending entry writes kept at most (distinct numbers); beyond, writes are
  // dropped and counted (the entry still works in memory until a restart).
  static constexpr size_t kMaxPending = 200'000;
  // Change-log rows read per poll.
  static constexpr size_t kChangesPerPoll = 1000;

  // lastChangeId: changes up to this id are already reflected in what the
  // node loaded. pollInterval: how often to look for operator changes.
  PolicySync(Factory factory, Millis pollInterval, int64_t lastChangeId, ChangeHandler onChanges);
  ~PolicySync() override;
  PolicySync(const PolicySync&) = delete;
  PolicySync& operator=(const PolicySync&) = delete;

  // admission::BlacklistPersistence
  void saveEntry(const admission::BlacklistEntry& e) override;
  void eraseEntry(std::string_view number, admission::NumberSide side) override;
  void saveCounters(std::string_view name, std::string blob) override;

  // Blocks until everything submitted before the call is written (or has
  // failed).
  void flush();
  PolicySyncStats stats() const;

 private:
  void run();
  void writeBatch(PolicyStore* st, std::map<std::string, BlacklistWrite>&& entries,
                  std::map<std::string, std::string>&& counters);

  Factory factory_;
  Millis pollInterval_;
  int64_t lastChangeId_;
  ChangeHandler onChanges_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable flushed_;
  std::map<std::string, BlacklistWrite> pending_;  // key: side + ':' + number
  std::map<std::string, std::string> counters_;
  uint64_t submitted_ = 0;
  uint64_t done_ = 0;
  bool stop_ = false;
  PolicySyncStats stats_;
  std::thread thread_;
};

}  // namespace tollgate::store
