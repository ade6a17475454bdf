// SQLite connection helper for the side stores. See sqlite_connection.h.
#include "store/sqlite_connection.h"

#include "store/sqlite_open.h"

namespace tollgate::store::detail {

Result<std::unique_ptr<SqliteConnection>, StoreError> SqliteConnection::open(
    const std::string& path) {
  if (path == ":memory:") {
    return Err{StoreError{"this store needs a file (\":memory:\" is private to one connection)"}};
  }
  // Creates the file, switches it to WAL, migrates the schema.
  if (auto main = openSqliteStore(path); !main) return Err{main.error()};
  auto db = openSqliteDatabase(path);
  if (!db) return Err{db.error()};
  return std::unique_ptr<SqliteConnection>(new SqliteConnection(*db, path));
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

StoreError SqliteConnection::error(std::string_view what) const {
  return StoreError{std::string(what) + ": " + sqlite3_errmsg(db_) + " (" + path_ + ")"};
}

Result<Ok, StoreError> SqliteConnection::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    StoreError e{std::string(msg != nullptr ? msg : sqlite3_errmsg(db_)) + " (" + path_ + ")"};
    sqlite3_free(msg);
    return Err{std::move(e)};
  }
  return Ok{};
}

Result<SqliteStmt, StoreError> SqliteConnection::prepare(const std::string& sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return SqliteStmt(it->second);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &s, nullptr) != SQLITE_OK) {
    return Err{error("prepare")};
  }
  stmts_.emplace(sql, s);
  return SqliteStmt(s);
}

Result<SqliteConnection::Txn, StoreError> SqliteConnection::begin(bool write) {
  auto r = exec(write ? "BEGIN IMMEDIATE" : "BEGIN");
  if (!r) return Err{r.error()};
  return Txn(this);
}

}  // namespace tollgate::store::detail
