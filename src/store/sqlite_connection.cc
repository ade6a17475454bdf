// The SQLite foundation: connection, statement cache, transactions, errors.
// See sqlite_connection.h.
#include "store/sqlite_connection.h"

#include "store/sqlite_open.h"

namespace tollgate::store::detail {

namespace {

StoreError errorOf(sqlite3* db, const std::string& path, std::string_view what) {
  std::string m;
  m.reserve(what.size() + path.size() + 64);
  m.append(what).append(": ").append(sqlite3_errmsg(db)).append(" (").append(path).append(")");
  return StoreError{std::move(m)};
}

}  // namespace

StoreError SqliteStatement::error(std::string_view what) const {
  return c_->error(what);
}

SqliteTransaction::~SqliteTransaction() {
  if (c_ != nullptr) (void)c_->exec("ROLLBACK", "roll back");
}

Result<Ok, StoreError> SqliteTransaction::commit() {
  auto r = c_->exec("COMMIT", "commit");
  if (r) c_ = nullptr;
  return r;
}

Result<std::unique_ptr<SqliteConnection>, StoreError> SqliteConnection::open(
    const std::string& path) {
  auto db = openSqliteDatabase(path);
  if (!db) return Err{db.error()};
  return std::unique_ptr<SqliteConnection>(new SqliteConnection(*db, path));
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, cached] : stmts_) sqlite3_finalize(cached.stmt);
  sqlite3_close_v2(db_);
}

StoreError SqliteConnection::error(std::string_view what) const {
  return errorOf(db_, path_, what);
}

Result<Ok, StoreError> SqliteConnection::exec(const char* sql, std::string_view what) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return Err{error(what)};
  return Ok{};
}

Result<SqliteStatement, StoreError> SqliteConnection::prepare(std::string_view sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end() && !it->second.inUse) {
    it->second.inUse = true;
    return SqliteStatement(this, it->second.stmt, &it->second.inUse);
  }
  // The same text already in use (a store nesting one query in another of
  // the same text), or a full cache: a statement for this use only.
  const bool cache = it == stmts_.end() && stmts_.size() < kMaxCachedStatements;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                         cache ? SQLITE_PREPARE_PERSISTENT : 0, &s, nullptr) != SQLITE_OK) {
    return Err{error("prepare")};
  }
  if (!cache) return SqliteStatement(this, s, nullptr);
  auto& slot = stmts_.emplace(std::string(sql), Cached{s, true}).first->second;
  return SqliteStatement(this, s, &slot.inUse);
}

Result<SqliteTransaction, StoreError> SqliteConnection::beginRead() {
  if (auto r = exec("BEGIN", "begin read transaction"); !r) return Err{r.error()};
  return SqliteTransaction(this);
}

Result<SqliteTransaction, StoreError> SqliteConnection::beginWrite() {
  if (auto r = exec("BEGIN IMMEDIATE", "begin write transaction"); !r) return Err{r.error()};
  return SqliteTransaction(this);
}

}  // namespace tollgate::store::detail
