// The SQLite schema as an ordered list of migrations, and the one way a
// SQLite store gets a connection on an up-to-date file. Migration i
// (0-based) takes a database from `PRAGMA user_version` i to i+1;
// migrateSqliteSchema() applies the missing ones in one write transaction.
// To change the schema, append one entry to the list in
// sqlite_migrations.cc (never edit or reorder a released one: databases in
// the field already ran it). See docs/store.md. The list is constant data;
// the functions work on a connection, which is externally synchronized.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/sqlite_connection.h"
#include "store/store.h"

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

namespace detail {

// Applies the migrations the database lacks. Takes no write lock when the
// schema is current (the common case); otherwise takes it, looks again
// (another process may have migrated meanwhile) and applies the rest with
// the new user_version in one transaction. Refuses a database whose schema
// is newer than this build's.
Result<Ok, StoreError> migrateSqliteSchema(SqliteConnection& c);

// A connection on `path` (created when missing, with the opener's file
// modes and settings) whose schema is current: what every openSqliteX
// factory starts from.
Result<std::unique_ptr<SqliteConnection>, StoreError> openMigratedSqlite(const std::string& path);
// The same for the stores beside Store, which other connections (threads,
// processes) must see: a private ":memory:" database is refused, naming
// `store` ("the ban list").
Result<std::unique_ptr<SqliteConnection>, StoreError> openMigratedSqliteFile(
    const std::string& path, std::string_view store);

}  // namespace detail

}  // namespace tollgate::store
