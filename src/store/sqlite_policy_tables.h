// Internal to src/store: the call policy part of provisioning in SQLite:
// gateway policy rows, accounts and fraud rules. Called by the SQLite
// Store's import and load, inside their transaction, on their connection.
// Externally synchronized (the caller's connection).
#pragma once

#include "admission/provisioning.h"
#include "common/result.h"
#include "store/sqlite_connection.h"
#include "store/store.h"

namespace tollgate::store {

// Writes the policy of every gateway of `p` whose policy differs from
// `stored` (or that is new), upserts accounts and fraud rules by name
// (counting them in *sum) and, with prune, deletes those `p` does not name.
// Refuses duplicate or empty account / rule names before writing.
Result<Ok, StoreError> importPolicyTables(detail::SqliteConnection& c,
                                          const admission::Provisioning& p,
                                          const admission::Provisioning& stored, bool prune,
                                          ImportSummary* sum);

// Fills the gateways' policy, the accounts and the fraud rules of *p
// (gateways must already be loaded). Accounts and rules sorted by name.
Result<Ok, StoreError> loadPolicyTables(detail::SqliteConnection& c, admission::Provisioning* p);

}  // namespace tollgate::store
