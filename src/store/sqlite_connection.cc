// SQLite connection helper for the side stores. See sqlite_connection.h.
#include "store/sqlite_connection.h"

namespace tollgate::store::detail {

Result<std::unique_ptr<SqliteConnection>, StoreError> SqliteConnection::open(
    const std::string& path) {
  if (path == ":memory:") {
    return Err{StoreError{"this store needs a file (\":memory:\" is private to one connection)"}};
  }
  // Creates the file, switches it to WAL, migrates the schema.
  if (auto main = openSqliteStore(path); !main) return Err{main.error()};
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Err{StoreError{"cannot open SQLite store " + path + ": " + msg}};
  }
  sqlite3_busy_timeout(db, kSqliteBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);
  std::unique_ptr<SqliteConnection> c(new SqliteConnection(db, path));
  if (auto r = c->exec("PRAGMA synchronous=NORMAL"); !r) return Err{r.error()};
  if (auto r = c->exec("PRAGMA foreign_keys=ON"); !r) return Err{r.error()};
  return c;
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
