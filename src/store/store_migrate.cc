// SQLite -> PostgreSQL copy (store_migrate.h).
#include "store/store_migrate.h"

#include <sqlite3.h>

#include <memory>
#include <optional>
#include <string_view>

#include "store/pg_connection.h"
#include "store/pg_migrations.h"
#include "store/sqlite_migrations.h"

namespace tollgate::store {
namespace {

using detail::PgConnection;
using detail::SqliteConnection;

// Parents before children (foreign keys), every table of the schema.
constexpr const char* kTables[] = {"mapping_gateway",
                                   "mapping_gateway_address",
                                   "mapping_gateway_policy",
                                   "routing_gateway",
                                   "routing_gateway_prefix",
                                   "routing_gateway_policy",
                                   "account",
                                   "fraud_rule",
                                   "number_list",
                                   "number_list_entry",
                                   "dynamic_blacklist",
                                   "blacklist_change",
                                   "policy_counters",
                                   "registration",
                                   "auth_suspension",
                                   "ban",
                                   "mgmt_user",
                                   "mgmt_session",
                                   "mgmt_token",
                                   "mgmt_login_failure",
                                   "mgmt_audit",
                                   "cdr"};
// Tables whose rows change provisioning (a copied row bumps the version).
constexpr std::string_view kProvisioningTables[] = {"mapping_gateway",
                                                    "mapping_gateway_address",
                                                    "mapping_gateway_policy",
                                                    "routing_gateway",
                                                    "routing_gateway_prefix",
                                                    "routing_gateway_policy",
                                                    "account",
                                                    "fraud_rule",
                                                    "number_list",
                                                    "number_list_entry"};
// Tables with an identity id whose sequence must move past the copied ids.
constexpr const char* kIdentityTables[] = {"cdr", "blacklist_change", "mgmt_token", "mgmt_audit"};

std::string quoted(const std::string& name) {
  return "\"" + name + "\"";
}

Result<Ok, StoreError> copyTable(SqliteConnection& from, PgConnection& to, const std::string& table,
                                 TableCopy* out) {
  auto st = from.prepare("SELECT * FROM " + table);
  if (!st) return Err{st.error()};
  std::vector<std::string> cols;
  std::string insert;
  const bool cdr = table == "cdr";
  size_t inChunk = 0;
  std::optional<detail::PgTransaction> txn;
  while (st->next()) {
    if (insert.empty()) {
      for (int c = 0; c < st->columns(); ++c) cols.push_back(st->name(c));
      insert = "INSERT INTO " + table + "(";
      std::string values;
      for (size_t c = 0; c < cols.size(); ++c) {
        insert += (c ? ", " : "") + quoted(cols[c]);
        values += (c ? ", ?" : "?") + std::to_string(c + 1);
      }
      if (cdr) {
        insert += ", uid";
        values += ", 'sqlite/' || ?1";
      }
      insert += ") VALUES (" + values + ") ON CONFLICT DO NOTHING";
    }
    if (!txn) {
      auto t = to.beginAppend();
      if (!t) return Err{t.error()};
      txn.emplace(std::move(t).value());
    }
    auto ins = to.prepare(insert);
    if (!ins) return Err{ins.error()};
    for (int c = 0; c < static_cast<int>(cols.size()); ++c) {
      switch (st->type(c)) {
        case SQLITE_INTEGER:
          ins->bind(c + 1, st->int64(c));
          break;
        case SQLITE_FLOAT:
          ins->bind(c + 1, st->real(c));
          break;
        case SQLITE_BLOB:
          ins->bindBlob(c + 1, st->blob(c));
          break;
        case SQLITE_NULL:  // e.g. loss/jitter of a CDR without RTCP figures
          ins->bindNull(c + 1);
          break;
        default:
          ins->bind(c + 1, st->text(c));
          break;
      }
    }
    if (auto r = ins->run("copy " + table); !r) return r;
    ++out->rows;
    ++(to.changes() > 0 ? out->copied : out->present);
    if (++inChunk >= kMigrateChunk) {
      if (auto r = txn->commit(); !r) return r;
      txn.reset();
      inChunk = 0;
    }
  }
  if (st->failed()) return Err{st->error("read " + table)};
  if (txn) return txn->commit();
  return Ok{};
}

}  // namespace

Result<std::vector<TableCopy>, StoreError> migrateSqliteToPg(const std::string& sqlitePath,
                                                             const PgTarget& to) {
  auto from = detail::openMigratedSqliteFile(sqlitePath, "store migrate");
  if (!from) return Err{from.error()};
  auto pg = detail::openMigratedPg(to);
  if (!pg) return Err{pg.error()};
  // One snapshot of the SQLite file for the whole copy.
  auto read = (*from)->beginRead();
  if (!read) return Err{read.error()};

  std::vector<TableCopy> out;
  bool provisioningAdded = false;
  for (const char* table : kTables) {
    TableCopy t;
    t.table = table;
    if (auto r = copyTable(**from, **pg, table, &t); !r) return Err{r.error()};
    for (std::string_view p : kProvisioningTables) {
      if (p == table && t.copied > 0) provisioningAdded = true;
    }
    out.push_back(std::move(t));
  }
  for (const char* table : kIdentityTables) {
    const std::string sql = std::string("SELECT setval(pg_get_serial_sequence('") + table +
                            "', 'id'), GREATEST((SELECT coalesce(max(id), 0) FROM " + table +
                            "), 1))";
    if (auto r = (*pg)->exec(sql.c_str(), std::string("move the id sequence of ") + table); !r) {
      return Err{r.error()};
    }
  }
  // Versions: never backwards; a copied provisioning row makes nodes reload.
  auto meta = (*from)->prepare("SELECT key, value FROM meta");
  if (!meta) return Err{meta.error()};
  while (meta->next()) {
    auto up = (*pg)->prepare(
        "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = "
        "GREATEST(meta.value, EXCLUDED.value) + ?3");
    if (!up) return Err{up.error()};
    const std::string key = meta->text(0);
    up->bind(1, key)
        .bind(2, meta->int64(1))
        .bind(3, int64_t{key == "provisioning_version" && provisioningAdded ? 1 : 0});
    if (auto r = up->run("copy meta"); !r) return Err{r.error()};
  }
  if (meta->failed()) return Err{meta->error("read meta")};
  auto seq = (*from)->prepare("SELECT value FROM ban_seq WHERE id = 1");
  if (!seq) return Err{seq.error()};
  if (seq->next()) {
    auto up = (*pg)->prepare("UPDATE ban_seq SET value = GREATEST(value, ?1) WHERE id = 1");
    if (!up) return Err{up.error()};
    up->bind(1, seq->int64(0));
    if (auto r = up->run("copy ban_seq"); !r) return Err{r.error()};
  }
  return out;
}

}  // namespace tollgate::store
