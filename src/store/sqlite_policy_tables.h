// The call policy part of provisioning in SQLite (issue 5): gateway policy
// rows, accounts and fraud rules. Called by the SQLite Store's import and
// load, inside their transaction, on their connection. Externally
// synchronized (the caller's connection).
#pragma once

#include <sqlite3.h>

#include <string>

#include "admission/provisioning.h"
#include "common/result.h"
#include "store/store.h"

namespace tollgate::store {

// Writes the policy of every gateway of `p` whose policy differs from
// `stored` (or that is new), upserts accounts and fraud rules by name
// (counting them in *sum) and, with prune, deletes those `p` does not name.
// Refuses duplicate or empty account / rule names before writing.
Result<Ok, StoreError> importPolicyTables(sqlite3* db, const std::string& path,
                                          const admission::Provisioning& p,
                                          const admission::Provisioning& stored, bool prune,
                                          ImportSummary* sum);

// Fills the gateways' policy, the accounts and the fraud rules of *p
// (gateways must already be loaded). Accounts and rules sorted by name.
Result<Ok, StoreError> loadPolicyTables(sqlite3* db, const std::string& path,
                                        admission::Provisioning* p);

}  // namespace tollgate::store
