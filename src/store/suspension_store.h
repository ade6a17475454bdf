// Persistence of authentication suspensions: the running node writes each
// new suspension, reads them back at start-up (so a restart does not pardon
// a password guesser), and picks up operator clears made with `tollgate auth
// suspensions clear`.
//
// Clearing is a request to the node, not a delete behind its back: the
// suspension is marked cleared and authVersion() moves; the node lifts
// exactly that suspension in memory (not a newer one of the same key) and
// deletes the record (takeCleared).
//
// Threading: one object is one session with the backend: externally
// synchronized.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/retry_limiter.h"
#include "common/result.h"
#include "store/store.h"

namespace tollgate::store {

struct SuspensionFilter {
  bool all = false;
  std::optional<net::IpAddress> source;  // with username: that pair; alone: every kind
  std::optional<std::string> username;
};

class SuspensionStore {
 public:
  virtual ~SuspensionStore() = default;
  // Inserts or replaces the suspension of its key (kind, username, source).
  virtual Result<Ok, StoreError> saveSuspension(const auth::Suspension& s) = 0;
  // Not cleared, with until_us >= sinceUs (pass now for the ones in force,
  // an earlier time to also get recently expired ones for escalation).
  virtual Result<std::vector<auth::Suspension>, StoreError> listSuspensions(int64_t sinceUs) = 0;
  // Marks the matching suspensions in force at `nowUs` cleared and moves
  // authVersion(); returns how many.
  virtual Result<size_t, StoreError> clearSuspensions(const SuspensionFilter& f, int64_t nowUs) = 0;
  // Changes whenever suspensions are cleared. Cheap to poll.
  virtual Result<uint64_t, StoreError> authVersion() = 0;
  // Returns the cleared suspensions and deletes them, in one transaction.
  virtual Result<std::vector<auth::Suspension>, StoreError> takeCleared() = 0;
  // Deletes suspensions that ended before `beforeUs` (kept until then for
  // escalation).
  virtual Result<size_t, StoreError> purgeSuspensions(int64_t beforeUs) = 0;
};

// The SQLite backend (sqlite_backend.h): the suspensions in the store file
// at `path` (created and migrated as by openSqliteStore; ":memory:" refused).
Result<std::unique_ptr<SuspensionStore>, StoreError> openSqliteSuspensionStore(
    const std::string& path);

}  // namespace tollgate::store
