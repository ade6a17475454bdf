// The PostgreSQL schema as an ordered list of migrations, and the one way a
// PostgreSQL store gets a connection on an up-to-date database. Migration i
// (0-based) takes the database from tollgate_schema.version i to i+1;
// migratePgSchema() applies the missing ones in one transaction under the
// store's write lock, so nodes starting together migrate once. The tables
// and columns mirror the SQLite schema (sqlite_migrations.cc) in
// PostgreSQL's types; the SQL of the stores is shared. To change the
// schema, append one entry (never edit or reorder a released one). The list
// is constant data; the functions work on a connection, which is externally
// synchronized.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "common/result.h"
#include "store/pg_connection.h"
#include "store/pg_target.h"
#include "store/store.h"

namespace tollgate::store {

struct PgMigration {
  const char* name;
  const char* sql;
};

std::span<const PgMigration> pgMigrations();

inline int pgSchemaVersion() {
  return static_cast<int>(pgMigrations().size());
}

// The channel a provisioning change is announced on (NOTIFY from a trigger
// on meta, in the transaction that bumps provisioning_version): nodes
// LISTEN on it and reload at once (provisioning_listener.h).
inline constexpr std::string_view kPgProvisioningChannel = "tollgate_provisioning";

namespace detail {

// Applies the migrations the database lacks; refuses a database whose
// schema is newer than this build's.
Result<Ok, StoreError> migratePgSchema(PgConnection& c);

// A connection to `target` whose schema is current: what every
// openPgX factory starts from.
Result<std::unique_ptr<PgConnection>, StoreError> openMigratedPg(const PgTarget& target);

}  // namespace detail

}  // namespace tollgate::store
