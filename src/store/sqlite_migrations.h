// The SQLite schema as an ordered list of migrations. Migration i (0-based)
// takes a database from `PRAGMA user_version` i to i+1; openSqliteStore()
// applies the missing ones in one write transaction. To change the schema,
// append one entry to the list in sqlite_migrations.cc (never edit or reorder
// a released one: databases in the field already ran it). See docs/store.md.
// Constant data; no threading rule applies.
#pragma once

#include <span>

namespace tollgate::store {

struct SqliteMigration {
  const char* name;  // short description, shown in errors
  const char* sql;   // one or more statements, run inside the migration transaction
};

std::span<const SqliteMigration> sqliteMigrations();

// The user_version a fully migrated database has.
inline int sqliteSchemaVersion() {
  return static_cast<int>(sqliteMigrations().size());
}

}  // namespace tollgate::store
