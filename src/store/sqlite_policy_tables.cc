// Gateway policy, accounts and fraud rules in SQLite. See
// sqlite_policy_tables.h; the schema is migrations 3 and 7 in
// sqlite_migrations.cc. The columns are the fields of each record's table
// (admission/provisioning_fields.h): the SQL is built from it once per kind.
#include "store/sqlite_policy_tables.h"

#include "store/pg_connection.h"

#include <map>
#include <set>
#include <string_view>
#include <type_traits>
#include <variant>

#include "admission/provisioning_fields.h"
#include "common/clock.h"
#include "store/sqlite_columns.h"

namespace tollgate::store {

using admission::Account;
using admission::FraudRule;
using admission::MappingGateway;
using admission::Provisioning;
using admission::RoutingGateway;

namespace {

// Where one record kind's table fields live: a row per record keyed by its
// name, a column per field; accounts and fraud rules also keep created_us
// and updated_us.
struct FieldTable {
  const char* table;
  const char* key;  // "gateway" (policy side tables) or "name"
  bool timestamps;
};

template <typename Record>
const FieldTable& fieldTable();
template <>
const FieldTable& fieldTable<MappingGateway>() {
  static constexpr FieldTable t{"mapping_gateway_policy", "gateway", false};
  return t;
}
template <>
const FieldTable& fieldTable<RoutingGateway>() {
  static constexpr FieldTable t{"routing_gateway_policy", "gateway", false};
  return t;
}
template <>
const FieldTable& fieldTable<Account>() {
  static constexpr FieldTable t{"account", "name", true};
  return t;
}
template <>
const FieldTable& fieldTable<FraudRule>() {
  static constexpr FieldTable t{"fraud_rule", "name", true};
  return t;
}

// The upsert of one record: ?1 its name, ?2.. its fields in table order,
// then (with timestamps) the time. Built once per kind.
template <typename Record>
const std::string& upsertSql() {
  static const std::string sql = [] {
    const FieldTable& t = fieldTable<Record>();
    const auto fields = admission::provisioningFields<Record>();
    std::string cols = t.key, values = "?1", updates;
    int i = 2;
    for (const auto& f : fields) {
      const std::string n = "?" + std::to_string(i++);
      cols += ", " + std::string(f.sqlColumn());
      values += ", " + n;
      updates += std::string(updates.empty() ? "" : ", ") + std::string(f.sqlColumn()) + " = " + n;
    }
    // ON CONFLICT ... DO UPDATE rather than SQLite's INSERT OR REPLACE: the
    // same SQL runs on PostgreSQL.
    if (!t.timestamps) {
      return "INSERT INTO " + std::string(t.table) + "(" + cols + ") VALUES (" + values +
             ") ON CONFLICT(" + t.key + ") DO UPDATE SET " + updates;
    }
    const std::string now = "?" + std::to_string(i);
    return "INSERT INTO " + std::string(t.table) + "(" + cols +
           ", created_us, updated_us) VALUES (" + values + ", " + now + ", " + now +
           ") ON CONFLICT(" + t.key + ") DO UPDATE SET " + updates + ", updated_us = " + now;
  }();
  return sql;
}

// The rows of one kind: its name, then its fields in table order.
template <typename Record>
const std::string& selectSql() {
  static const std::string sql = [] {
    const FieldTable& t = fieldTable<Record>();
    std::string out = "SELECT " + std::string(t.key);
    for (const auto& f : admission::provisioningFields<Record>()) {
      out += ", " + std::string(f.sqlColumn());
    }
    out += " FROM " + std::string(t.table);
    if (t.timestamps) out += " ORDER BY name";
    return out;
  }();
  return sql;
}

template <typename Record, typename Db>
Result<Ok, StoreError> writeFields(Db& c, const Record& r, int64_t now) {
  const FieldTable& t = fieldTable<Record>();
  auto st = c.prepare(upsertSql<Record>());
  if (!st) return Err{st.error()};
  st->bind(1, r.name);
  int i = 2;
  for (const auto& f : admission::provisioningFields<Record>()) {
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            st->bind(i, joinList(*v));
          } else {
            st->bind(i, *v);
          }
        },
        f.at(r));
    ++i;
  }
  if (t.timestamps) st->bind(i, now);
  return st->run(std::string("write ") + t.table);
}

// Reads the fields of one row (column 0 is the name) onto `r`.
template <typename Record, typename St>
void readFields(const St& st, Record& r) {
  int col = 1;
  for (const auto& f : admission::provisioningFields<Record>()) {
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int>) {
            *v = static_cast<int>(st.int64(col));
          } else if constexpr (std::is_same_v<T, double>) {
            *v = st.real(col);
          } else if constexpr (std::is_same_v<T, bool>) {
            *v = st.int64(col) != 0;
          } else if constexpr (std::is_same_v<T, std::string>) {
            *v = st.text(col);
          } else {
            *v = splitList(st.text(col), f.emptyItem);
          }
        },
        f.at(r));
    ++col;
  }
}

// Fills the table fields of the gateways in `gateways` from their rows.
template <typename Gateway, typename Db>
Result<Ok, StoreError> loadGatewayFields(Db& c, std::vector<Gateway>& gateways) {
  std::map<std::string, Gateway*, std::less<>> byName;
  for (auto& g : gateways) byName.emplace(g.name, &g);
  auto st = c.prepare(selectSql<Gateway>());
  if (!st) return Err{st.error()};
  while (st->next()) {
    auto it = byName.find(st->text(0));
    if (it != byName.end()) readFields(*st, *it->second);
  }
  if (st->failed()) return Err{st->error(std::string("read ") + fieldTable<Gateway>().table)};
  return Ok{};
}

// Appends the records of one kind (accounts, fraud rules), sorted by name.
template <typename Record, typename Db>
Result<Ok, StoreError> loadRecords(Db& c, std::vector<Record>& out) {
  auto st = c.prepare(selectSql<Record>());
  if (!st) return Err{st.error()};
  while (st->next()) {
    Record r;
    r.name = st->text(0);
    readFields(*st, r);
    out.push_back(std::move(r));
  }
  if (st->failed()) return Err{st->error(std::string("read ") + fieldTable<Record>().table)};
  return Ok{};
}

}  // namespace

template <class Db>
Result<Ok, StoreError> importPolicyTables(Db& c, const Provisioning& p, const Provisioning& stored,
                                          bool prune, ImportSummary* sum) {
  if (auto r = checkImportNames(p.accounts, "account"); !r) return r;
  if (auto r = checkImportNames(p.fraudRules, "fraud rule"); !r) return r;
  const int64_t now = SystemClock().wallMicros();

  const auto oldMapping = storedByName(stored.mappingGateways);
  for (const MappingGateway& g : p.mappingGateways) {
    auto it = oldMapping.find(g.name);
    if (it != oldMapping.end() && it->second->policy == g.policy) continue;
    if (auto r = writeFields(c, g, now); !r) return r;
  }

  const auto oldRouting = storedByName(stored.routingGateways);
  for (const RoutingGateway& g : p.routingGateways) {
    auto it = oldRouting.find(g.name);
    if (it != oldRouting.end() && it->second->policy == g.policy) continue;
    if (auto r = writeFields(c, g, now); !r) return r;
  }

  const auto equal = [](const auto& a, const auto& b) { return a == b; };
  auto oldAccounts = storedByName(stored.accounts);
  for (const Account& a : p.accounts) {
    if (importStep(oldAccounts, a, equal, sum) == ImportStep::Unchanged) continue;
    if (auto r = writeFields(c, a, now); !r) return r;
  }

  auto oldRules = storedByName(stored.fraudRules);
  for (const FraudRule& f : p.fraudRules) {
    if (importStep(oldRules, f, equal, sum) == ImportStep::Unchanged) continue;
    if (auto r = writeFields(c, f, now); !r) return r;
  }

  if (!prune) return Ok{};
  if (auto r =
          deleteLeft(c, "DELETE FROM account WHERE name = ?1", "delete account", oldAccounts, sum);
      !r) {
    return r;
  }
  return deleteLeft(c, "DELETE FROM fraud_rule WHERE name = ?1", "delete fraud_rule", oldRules,
                    sum);
}

template <class Db>
Result<Ok, StoreError> loadPolicyTables(Db& c, Provisioning* p) {
  if (auto r = loadGatewayFields(c, p->mappingGateways); !r) return r;
  if (auto r = loadGatewayFields(c, p->routingGateways); !r) return r;
  if (auto r = loadRecords(c, p->accounts); !r) return r;
  return loadRecords(c, p->fraudRules);
}

// The two backends' connections (the stores' queries are shared).
template Result<Ok, StoreError> importPolicyTables(detail::SqliteConnection&, const Provisioning&,
                                                   const Provisioning&, bool, ImportSummary*);
template Result<Ok, StoreError> loadPolicyTables(detail::SqliteConnection&, Provisioning*);
template Result<Ok, StoreError> importPolicyTables(detail::PgConnection&, const Provisioning&,
                                                   const Provisioning&, bool, ImportSummary*);
template Result<Ok, StoreError> loadPolicyTables(detail::PgConnection&, Provisioning*);

}  // namespace tollgate::store
