// Internal to src/store: a small SQLite connection for the stores that sit
// beside Store (registrations, suspensions). Opening goes through
// openSqliteStore() first, so the file is created, switched to WAL and
// migrated exactly as for the main store; then this connection is opened
// on it by the same opener (sqlite_open.h: modes, busy timeout, pragmas). Prepared statements are
// cached for the connection's lifetime; a Stmt resets its statement when it goes out of scope (a
// stepped, unreset SELECT would pin the WAL). Externally synchronized, like every store object.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/result.h"
#include "store/store.h"

namespace tollgate::store::detail {

class SqliteStmt {
 public:
  explicit SqliteStmt(sqlite3_stmt* s) : s_(s) {}
  SqliteStmt(SqliteStmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;
  ~SqliteStmt() {
    if (s_ != nullptr) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  SqliteStmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  SqliteStmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    int n = sqlite3_column_bytes(s_, col);
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(n));
  }

 private:
  sqlite3_stmt* s_;
};

class SqliteConnection {
 public:
  static Result<std::unique_ptr<SqliteConnection>, StoreError> open(const std::string& path);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Result<Ok, StoreError> exec(const char* sql);
  Result<SqliteStmt, StoreError> prepare(const std::string& sql);
  // BEGIN IMMEDIATE (write) or BEGIN; rolled back on destruction unless
  // committed.
  class Txn {
   public:
    explicit Txn(SqliteConnection* c) : c_(c) {}
    Txn(Txn&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
    Txn(const Txn&) = delete;
    ~Txn() {
      if (c_ != nullptr) (void)c_->exec("ROLLBACK");
    }
    Result<Ok, StoreError> commit() {
      auto r = c_->exec("COMMIT");
      if (r) c_ = nullptr;
      return r;
    }

   private:
    SqliteConnection* c_;
  };
  Result<Txn, StoreError> begin(bool write);
  StoreError error(std::string_view what) const;
  sqlite3* db() { return db_; }

 private:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

}  // namespace tollgate::store::detail
