// The backend switch (store_factory.h).
#include "store/store_factory.h"

#include "store/pg_backend.h"
#include "store/pg_connection.h"

namespace tollgate::store {

Result<std::unique_ptr<Store>, StoreError> openStore(const StoreTarget& t) {
  return t.backend == Backend::Postgresql ? openPgStore(t.pg) : openSqliteStore(t.path);
}
Result<std::unique_ptr<RegistrationStore>, StoreError> openRegistrationStore(const StoreTarget& t) {
  return t.backend == Backend::Postgresql ? openPgRegistrationStore(t.pg)
                                          : openSqliteRegistrationStore(t.path);
}
Result<std::unique_ptr<SuspensionStore>, StoreError> openSuspensionStore(const StoreTarget& t) {
  return t.backend == Backend::Postgresql ? openPgSuspensionStore(t.pg)
                                          : openSqliteSuspensionStore(t.path);
}
Result<std::unique_ptr<PolicyStore>, StoreError> openPolicyStore(const StoreTarget& t) {
  return t.backend == Backend::Postgresql ? openPgPolicyStore(t.pg) : openSqlitePolicyStore(t.path);
}
Result<std::unique_ptr<BanStore>, StoreError> openBanStore(const StoreTarget& t) {
  return t.backend == Backend::Postgresql ? openPgBanStore(t.pg) : openSqliteBanStore(t.path);
}
Result<std::unique_ptr<MgmtStore>, StoreError> openMgmtStore(const StoreTarget& t) {
  return t.backend == Backend::Postgresql ? openPgMgmtStore(t.pg) : openSqliteMgmtStore(t.path);
}

std::string storeDescription(const StoreTarget& t) {
  if (t.backend != Backend::Postgresql) return t.path;
  return detail::pgDisplayUrl(t.pg);
}

}  // namespace tollgate::store
