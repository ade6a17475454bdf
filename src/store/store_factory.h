// One opener per store interface whatever the backend: what the node, the
// CLI and the management API call with the `[store]` settings
// (StoreTarget: SQLite file or PostgreSQL server). Stateless and
// thread-safe; each returned object is one connection (externally
// synchronized).
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "store/ban_store.h"
#include "store/mgmt_store.h"
#include "store/pg_target.h"
#include "store/policy_store.h"
#include "store/registration_store.h"
#include "store/store.h"
#include "store/suspension_store.h"

namespace tollgate::store {

Result<std::unique_ptr<Store>, StoreError> openStore(const StoreTarget& t);
Result<std::unique_ptr<RegistrationStore>, StoreError> openRegistrationStore(const StoreTarget& t);
Result<std::unique_ptr<SuspensionStore>, StoreError> openSuspensionStore(const StoreTarget& t);
Result<std::unique_ptr<PolicyStore>, StoreError> openPolicyStore(const StoreTarget& t);
Result<std::unique_ptr<BanStore>, StoreError> openBanStore(const StoreTarget& t);
Result<std::unique_ptr<MgmtStore>, StoreError> openMgmtStore(const StoreTarget& t);

// What a log line or an error names: the SQLite file, or the server URL
// without password or query.
std::string storeDescription(const StoreTarget& t);

}  // namespace tollgate::store
