// Internal to src/store: the one SQLite foundation every SQLite store is
// built on, so that each store keeps only its queries.
//   - SqliteConnection owns one sqlite3 handle, opened by the one opener
//     (sqlite_open.h: file modes, busy timeout, WAL, synchronous=NORMAL,
//     foreign_keys), and caches its prepared statements;
//   - SqliteStatement is one prepared statement in use: bind, step, read
//     columns; reset when it goes out of scope;
//   - SqliteTransaction is the RAII guard: BEGIN (readers, one snapshot) or
//     BEGIN IMMEDIATE (writers: the write lock is taken up front, where the
//     busy timeout applies, instead of upgrading a read snapshot later, which
//     fails at once with SQLITE_BUSY when another process committed in
//     between); rolled back on scope exit unless committed;
//   - every failure is a StoreError value naming what failed, SQLite's
//     message and the file: "insert cdr: database is locked (/var/lib/x.db)".
// A connection and everything borrowed from it are externally synchronized:
// one thread at a time (the handle is opened SQLITE_OPEN_NOMUTEX); open one
// connection per thread.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/result.h"
#include "store/store.h"

namespace tollgate::store::detail {

class SqliteConnection;

// Prepared statements a connection keeps for its lifetime. Stores build SQL
// only from fixed fragments (never a value: values are bound), so the set of
// texts is small (the largest, the Store, has about 150 with every CDR list
// filter combination); past this bound a statement is prepared for one use
// and finalized, so a store that broke that rule would get slower, never
// grow without bound.
inline constexpr size_t kMaxCachedStatements = 512;

// A prepared statement in use, borrowed from its connection's cache (or, when
// the same text is already in use or the cache is full, prepared for this use
// only). Going out of scope resets it and clears its bindings: a SELECT
// stepped but not reset would keep its read transaction open, pin the WAL
// and hide other processes' commits. Must not outlive its connection.
class SqliteStatement {
 public:
  SqliteStatement(SqliteStatement&& o) noexcept
      : c_(o.c_),
        s_(std::exchange(o.s_, nullptr)),
        inUse_(std::exchange(o.inUse_, nullptr)),
        last_(o.last_) {}
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  ~SqliteStatement() {
    if (s_ == nullptr) return;
    if (inUse_ == nullptr) {
      sqlite3_finalize(s_);
      return;
    }
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    *inUse_ = false;
  }

  // Parameters are numbered from 1, as in the SQL text (?1, ?2, ...). Text
  // and blobs are copied (SQLITE_TRANSIENT), so temporaries are fine.
  SqliteStatement& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  SqliteStatement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  SqliteStatement& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  SqliteStatement& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  // An empty optional binds SQL NULL.
  template <typename T>
  SqliteStatement& bind(int i, const std::optional<T>& v) {
    if (!v) {
      sqlite3_bind_null(s_, i);
      return *this;
    }
    return bind(i, *v);
  }
  SqliteStatement& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  SqliteStatement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  SqliteStatement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  SqliteStatement& bindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }

  // Steps once: true when a row is ready to read, false when the statement
  // is done or failed (failed() tells which).
  bool next() {
    last_ = sqlite3_step(s_);
    return last_ == SQLITE_ROW;
  }
  // The last step failed: neither a row nor the end.
  bool failed() const { return last_ != SQLITE_ROW && last_ != SQLITE_DONE; }
  // Steps a statement that returns no row (INSERT, UPDATE, DELETE):
  // an error naming `what` unless it ran to the end.
  Result<Ok, StoreError> run(std::string_view what) {
    if (next() || failed()) return Err{error(what)};
    return Ok{};
  }
  // Ready to run again with new bindings (a loop of writes on one statement).
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  // Columns of the current row, numbered from 0.
  int columns() const { return sqlite3_column_count(s_); }
  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL.
  int type(int col) const { return sqlite3_column_type(s_, col); }
  std::string name(int col) const {
    const char* n = sqlite3_column_name(s_, col);
    return n == nullptr ? std::string() : std::string(n);
  }
  int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
  double real(int col) const { return sqlite3_column_double(s_, col); }
  bool isNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p == nullptr ? std::string() : std::string(p, bytes(col));
  }
  std::string blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    return p == nullptr ? std::string() : std::string(p, bytes(col));
  }

  // "what: SQLite's message (file)", for the step that just failed.
  StoreError error(std::string_view what) const;

 private:
  friend class SqliteConnection;
  // inUse: the cache slot to release, or null when this statement is owned
  // (finalized on destruction).
  SqliteStatement(const SqliteConnection* c, sqlite3_stmt* s, bool* inUse)
      : c_(c), s_(s), inUse_(inUse) {}
  size_t bytes(int col) const { return static_cast<size_t>(sqlite3_column_bytes(s_, col)); }

  const SqliteConnection* c_;
  sqlite3_stmt* s_;
  bool* inUse_;
  int last_ = SQLITE_OK;
};

// The transaction guard: rolls back on scope exit unless committed, so every
// early error return leaves the database as it was.
class [[nodiscard]] SqliteTransaction {
 public:
  SqliteTransaction(SqliteTransaction&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(SqliteTransaction&&) = delete;
  ~SqliteTransaction();

  // A failed COMMIT may leave the transaction open (SQLITE_BUSY): the
  // destructor then rolls it back.
  Result<Ok, StoreError> commit();

 private:
  friend class SqliteConnection;
  explicit SqliteTransaction(SqliteConnection* c) : c_(c) {}
  SqliteConnection* c_;
};

class SqliteConnection {
 public:
  using Statement = SqliteStatement;
  using Transaction = SqliteTransaction;

  // Opens (creating when missing) the database at `path` through the opener
  // (sqlite_open.h), or a private in-memory one for ":memory:" (tests: no
  // WAL, nothing shared). Does not touch the schema (sqlite_migrations.h).
  static Result<std::unique_ptr<SqliteConnection>, StoreError> open(const std::string& path);
  ~SqliteConnection();
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // A cached statement for `sql` (one statement; see kMaxCachedStatements).
  Result<SqliteStatement, StoreError> prepare(std::string_view sql);
  // Runs one or more statements that return no rows (a migration script);
  // an error names `what`.
  Result<Ok, StoreError> exec(const char* sql, std::string_view what);

  // BEGIN: the reads inside see one snapshot.
  Result<SqliteTransaction, StoreError> beginRead();
  // BEGIN IMMEDIATE: every write transaction, and every read-modify-write.
  Result<SqliteTransaction, StoreError> beginWrite();
  // A write that reads nothing first (CDR batches): the same as beginWrite
  // in one file (PgConnection takes no store-wide lock for it).
  Result<SqliteTransaction, StoreError> beginAppend() { return beginWrite(); }

  // Rows changed by the last INSERT, UPDATE or DELETE.
  size_t changes() const { return static_cast<size_t>(sqlite3_changes(db_)); }
  // The rowid the last INSERT assigned.
  int64_t lastInsertRowid() const { return sqlite3_last_insert_rowid(db_); }

  // "what: SQLite's message (file)", for the call that just failed.
  StoreError error(std::string_view what) const;
  const std::string& path() const { return path_; }
  // Statements in the cache (at most kMaxCachedStatements).
  size_t cachedStatements() const { return stmts_.size(); }

  // How long a statement waits for another connection's lock before it
  // fails with SQLITE_BUSY; the opener sets kSqliteBusyTimeoutMs. Tests
  // shorten it to see the failure without waiting that long.
  void setBusyTimeout(std::chrono::milliseconds t) {
    sqlite3_busy_timeout(db_, static_cast<int>(t.count()));
  }

 private:
  SqliteConnection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool inUse = false;  // borrowed by a live SqliteStatement
  };
  // Looked up by string_view, so a literal costs no std::string per call.
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  sqlite3* db_;
  std::string path_;
  // Nodes never move, so a SqliteStatement may point at its slot's inUse.
  std::unordered_map<std::string, Cached, TextHash, std::equal_to<>> stmts_;
};

}  // namespace tollgate::store::detail
