// The PostgreSQL backend as the rest of tollgate sees it: one factory per
// store interface, beside the SQLite ones (store.h, *_store.h). Every store
// lives in one database shared by any number of nodes; each object is one
// connection (externally synchronized, like every store), migrated on open
// (pg_migrations.h), reconnecting by itself after the server went away.
// The queries are the SQLite stores' own (sqlite_*.cc are templates over
// the connection type), so both backends behave the same. See
// docs/store.md, "Backends". The functions are stateless and thread-safe.
#pragma once

#include <memory>
#include <optional>
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

// Why `url` cannot be a store URL, or nothing: it must be a libpq URI
// (postgresql:// or postgres://) that libpq parses, without a password
// (store.password_file holds that: a URL is shown by ps, logs, shells).
std::optional<std::string> pgUrlProblem(const std::string& url);

Result<std::unique_ptr<Store>, StoreError> openPgStore(const PgTarget& target);
Result<std::unique_ptr<RegistrationStore>, StoreError> openPgRegistrationStore(
    const PgTarget& target);
Result<std::unique_ptr<SuspensionStore>, StoreError> openPgSuspensionStore(const PgTarget& target);
Result<std::unique_ptr<PolicyStore>, StoreError> openPgPolicyStore(const PgTarget& target);
Result<std::unique_ptr<BanStore>, StoreError> openPgBanStore(const PgTarget& target);
Result<std::unique_ptr<MgmtStore>, StoreError> openPgMgmtStore(const PgTarget& target);

}  // namespace tollgate::store
