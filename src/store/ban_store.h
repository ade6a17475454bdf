// BanStore: the persisted ban list (the shield's bans, auto and manual),
// shared by the running node (which writes its auto-bans and hit counts and
// polls for operators' changes) and `tollgate ban add|del|list|why`. Bans
// are keyed by their canonical address text ("192.0.2.7",
// "198.51.100.0/24"); the shield layer converts them.
//
// Threading: one BanStore object is one session with the backend: externally
// synchronized; open one per thread, like Store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace tollgate::store {

struct BanRow {
  std::string address;    // canonical host or prefix text
  std::string reason;     // "manual", "signature", "rate", "prefix_rate", "auth", ...
  std::string detail;     // which rule and what tripped it
  std::string origin;     // "auto" (a node's checks) or "manual" (an operator)
  int64_t createdUs = 0;  // microseconds since the epoch
  int64_t expiresUs = 0;  // 0 = never
  int64_t hits = 0;       // packets dropped because of it
  int level = 1;          // n-th ban of this address within ban_memory
  bool deleted = false;   // tombstone (only from bansChangedSince)
  int64_t seq = 0;        // change sequence stamp
  int64_t updatedUs = 0;

  bool activeAt(int64_t nowUs) const { return !deleted && (expiresUs == 0 || expiresUs > nowUs); }
};

// Where a poller is in the change sequence: rows are read in (seq, address)
// order, so a page boundary inside one transaction's rows loses nothing.
struct BanCursor {
  int64_t seq = 0;
  std::string address;
};

// Upper bound on one page of listBans/bansChangedSince (larger limits are
// clamped): keeps one read's memory small; page to read more.
inline constexpr size_t kMaxBanPage = 10'000;

class BanStore {
 public:
  virtual ~BanStore() = default;

  // Inserts or replaces each row by address (a tombstone comes back to
  // life), in one transaction that stamps them all with the next change
  // sequence. updatedUs and seq of the rows are set here.
  virtual Result<Ok, StoreError> putBans(const std::vector<BanRow>& rows) = 0;
  // Tombstones the ban of exactly this address. False when there is no
  // such (live) row; nothing changes then.
  virtual Result<bool, StoreError> deleteBan(std::string_view address) = 0;
  // Sets hit counts (never lowers one). Statistics only: no sequence bump.
  virtual Result<Ok, StoreError> setHits(
      const std::vector<std::pair<std::string, int64_t>>& hits) = 0;

  // The live row of this address, if any (expired rows included).
  virtual Result<std::optional<BanRow>, StoreError> getBan(std::string_view address) = 0;
  // Live rows, newest first: only those active at nowUs unless
  // includeExpired. At most `limit` (clamped to kMaxBanPage).
  virtual Result<std::vector<BanRow>, StoreError> listBans(bool includeExpired, int64_t nowUs,
                                                           size_t limit) = 0;
  // The current change sequence (0 when nothing was ever banned).
  virtual Result<int64_t, StoreError> banSequence() = 0;
  // Rows (tombstones included) changed after `after`, in change order, at
  // most `limit` (clamped to kMaxBanPage).
  virtual Result<std::vector<BanRow>, StoreError> bansChangedSince(const BanCursor& after,
                                                                   size_t limit) = 0;
  // Removes rows that expired before expiredBeforeUs and tombstones older
  // than tombstonesBeforeUs. Returns how many rows went.
  virtual Result<size_t, StoreError> purgeBans(int64_t expiredBeforeUs,
                                               int64_t tombstonesBeforeUs) = 0;
};

// Tombstones the live bans whose reason is `reason`: the ban of exactly
// `address`, or every one when address is empty (read through
// bansChangedSince, a page at a time). Returns how many went. Used to lift
// the "auth" bans of digest suspensions an operator clears.
Result<size_t, StoreError> deleteBansWithReason(BanStore& st, std::string_view reason,
                                                std::string_view address = {});

// The SQLite backend (sqlite_backend.h): the ban list in the store file at
// `path` (created and migrated as by openSqliteStore).
Result<std::unique_ptr<BanStore>, StoreError> openSqliteBanStore(const std::string& path);

}  // namespace tollgate::store
