// `tollgate store migrate --to postgresql://...`: copies a SQLite store into
// a PostgreSQL database (created and migrated to the current schema
// first), table by table in dependency order, in transactions of
// kMigrateChunk rows. Idempotent: a row whose key is in the database already
// is left as it is and counted as present, so an interrupted copy is simply
// run again. Ids (CDRs, tokens, audit, blacklist changes) are kept, and the
// identity sequences moved past them; CDRs get the uid "sqlite/<id>". The
// provisioning version becomes the larger of the two, plus one when a
// provisioning row was added, so running nodes reload. Stateless and
// thread-safe; opens its own connections.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/pg_target.h"
#include "store/store.h"

namespace tollgate::store {

// Rows per transaction of the copy.
inline constexpr size_t kMigrateChunk = 1000;

struct TableCopy {
  std::string table;
  uint64_t rows = 0;     // rows in the SQLite table
  uint64_t copied = 0;   // inserted now
  uint64_t present = 0;  // there already (an earlier run, or the same key)
};

Result<std::vector<TableCopy>, StoreError> migrateSqliteToPg(const std::string& sqlitePath,
                                                             const PgTarget& to);

}  // namespace tollgate::store
