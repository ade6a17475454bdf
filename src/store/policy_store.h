// The PolicyStore interface: what the call policy keeps beyond one
// process's life besides provisioning -- number lists (`tollgate list`), the
// dynamic blacklist and the log of operator changes to it (`tollgate
// blacklist`), and saved policy counters. Gateway limits, accounts and fraud
// rules are provisioning and live behind Store.
//
// Threading: one PolicyStore is one session with the backend: externally
// synchronized; open one per thread that needs it. PolicySync
// (policy_sync.h) is the thread-safe way for the data plane to use it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admission/dynamic_blacklist.h"
#include "admission/number_lists.h"
#include "common/result.h"
#include "store/store.h"

namespace tollgate::store {

struct NumberListSummary {
  std::string name;
  admission::ListKind kind = admission::ListKind::Black;
  std::string description;
  size_t entries = 0;
  int64_t createdUs = 0;
  int64_t updatedUs = 0;
};

// One operator change to the dynamic blacklist, as the running node sees it.
struct BlacklistChange {
  enum class Action : uint8_t { Add, Remove, Clear };
  int64_t id = 0;
  Action action = Action::Add;
  admission::BlacklistEntry entry;  // Add: the entry; Remove: number (and side, see below)
  bool bothSides = false;           // Remove: the number on either side
  bool cutCalls = false;            // Add: end the number's live calls too
};

// What the node persists: an entry written as it is now, or removed.
struct BlacklistWrite {
  bool erase = false;
  admission::BlacklistEntry entry;  // erase: number and side only
};

class PolicyStore {
 public:
  virtual ~PolicyStore() = default;

  // ---- Number lists. Every change bumps the provisioning version, so
  // running nodes reload as they do for `tollgate import`.
  virtual Result<std::vector<NumberListSummary>, StoreError> numberLists() = 0;
  // One list with its patterns (sorted); an error names a missing list.
  virtual Result<admission::NumberList, StoreError> numberList(const std::string& name) = 0;
  virtual Result<std::vector<admission::NumberList>, StoreError> loadNumberLists() = 0;
  virtual Result<Ok, StoreError> createNumberList(const std::string& name, admission::ListKind kind,
                                                  const std::string& description) = 0;
  // Refused while a gateway or account names the list.
  virtual Result<Ok, StoreError> deleteNumberList(const std::string& name) = 0;
  // Each returns how many patterns were added / removed; replace returns
  // the new total. Patterns are validated by the caller (patternProblem).
  virtual Result<size_t, StoreError> addNumbers(const std::string& name,
                                                const std::vector<std::string>& patterns) = 0;
  virtual Result<size_t, StoreError> removeNumbers(const std::string& name,
                                                   const std::vector<std::string>& patterns) = 0;
  virtual Result<size_t, StoreError> replaceNumbers(const std::string& name,
                                                    const std::vector<std::string>& patterns) = 0;

  // ---- Dynamic blacklist.
  // Entries not expired at nowUs, by number then side.
  virtual Result<std::vector<admission::BlacklistEntry>, StoreError> loadBlacklist(
      int64_t nowUs) = 0;
  // The node's own writes (no change log: the node knows them already).
  virtual Result<Ok, StoreError> writeBlacklist(const std::vector<BlacklistWrite>& writes) = 0;
  // Operator changes: the entries and the change log in one transaction.
  virtual Result<Ok, StoreError> addBlacklistEntry(const admission::BlacklistEntry& e,
                                                   bool cutCalls) = 0;
  virtual Result<size_t, StoreError> removeBlacklistEntries(
      const std::string& number, std::optional<admission::NumberSide> side) = 0;
  virtual Result<size_t, StoreError> clearBlacklist() = 0;
  virtual Result<std::vector<BlacklistChange>, StoreError> blacklistChangesSince(int64_t id,
                                                                                 size_t limit) = 0;
  virtual Result<int64_t, StoreError> lastBlacklistChange() = 0;
  // Deletes entries expired before nowUs and change-log entries older than
  // changesBeforeUs (every node has seen them by then).
  virtual Result<Ok, StoreError> pruneBlacklist(int64_t nowUs, int64_t changesBeforeUs) = 0;

  // ---- Saved counters (opaque blobs by name).
  virtual Result<Ok, StoreError> saveCounters(
      const std::vector<std::pair<std::string, std::string>>& blobs) = 0;
  virtual Result<std::optional<std::string>, StoreError> loadCounters(const std::string& name) = 0;
};

// The SQLite backend (sqlite_backend.h): opens the policy state in the store
// file at `path` (created and migrated as by openSqliteStore).
Result<std::unique_ptr<PolicyStore>, StoreError> openSqlitePolicyStore(const std::string& path);

}  // namespace tollgate::store
