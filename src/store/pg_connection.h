// Internal to src/store: the PostgreSQL foundation, with the same shape as
// the SQLite one (sqlite_connection.h) so that each store's queries are
// written once, as a template over the connection type (sqlite_*.cc):
//   - PgConnection owns one libpq connection to the server named by a
//     PgTarget (pg_target.h), reconnects by itself between transactions
//     after the server went away, and rewrites the shared SQL text into
//     PostgreSQL's spelling once per text (numbered parameters ?N -> $N,
//     instr() -> strpos());
//   - PgStatement is one statement in use: bind, step, read columns. The
//     first step sends it (parameters as text, integers typed int8, blobs
//     as binary bytea) and keeps the whole result; next() walks its rows;
//   - PgTransaction is the RAII guard: beginRead() is one REPEATABLE READ
//     snapshot; beginWrite() takes the store's write lock
//     (pg_advisory_xact_lock, kPgWriteLock) so read-modify-writes from every
//     node serialize exactly as SQLite's BEGIN IMMEDIATE does in one file;
//     rolled back on scope exit unless committed;
//   - every failure is a StoreError naming what failed, the server's message
//     and the server (never a password): "insert cdr: connection refused
//     (postgresql://tollgate@127.0.0.1:5432/tollgate)".
// A connection and everything borrowed from it are externally synchronized:
// one thread at a time; open one connection per thread.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "store/pg_target.h"
#include "store/store.h"

namespace tollgate::store::detail {

class PgConnection;

// The advisory lock every write transaction takes (beginWrite): one writer
// at a time per database, as in a SQLite file, so modifyProvisioning and
// the other read-modify-writes never lose a concurrent change. CDR batches
// take no lock (beginAppend): inserts of distinct rows need no ordering.
inline constexpr int64_t kPgWriteLock = 0x746f6c6c67617465;  // "tollgate"

// How long a connection that found the server gone waits before the next
// reconnect attempt: a store used in a loop (a poller, the CDR writer) must
// not hammer a server that is restarting.
inline constexpr std::chrono::milliseconds kPgReconnectInterval{500};

class PgStatement {
 public:
  PgStatement(PgStatement&& o) noexcept
      : c_(o.c_),
        sql_(std::move(o.sql_)),
        values_(std::move(o.values_)),
        types_(std::move(o.types_)),
        formats_(std::move(o.formats_)),
        res_(std::exchange(o.res_, nullptr)),
        row_(o.row_),
        rows_(o.rows_),
        sent_(o.sent_),
        failed_(o.failed_) {}
  PgStatement(const PgStatement&) = delete;
  PgStatement& operator=(const PgStatement&) = delete;
  PgStatement& operator=(PgStatement&&) = delete;
  ~PgStatement() { clearResult(); }

  // Parameters are numbered from 1, as in the SQL text (?1, ?2, ...).
  PgStatement& bind(int i, int64_t v) { return set(i, std::to_string(v), kInt8, 0); }
  PgStatement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  PgStatement& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  PgStatement& bind(int i, double v);
  PgStatement& bind(int i, std::string_view v) { return set(i, std::string(v), 0, 0); }
  PgStatement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  PgStatement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  PgStatement& bindBlob(int i, std::string_view v) { return set(i, std::string(v), kBytea, 1); }
  // SQL NULL whose type the server infers from where it goes (a copied
  // row's NULL column, whatever that column's type).
  PgStatement& bindNull(int i) { return bindNull(i, kUnknown); }
  // An empty optional binds SQL NULL (typed like the value would be).
  template <typename T>
  PgStatement& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bindNull(i, std::is_floating_point_v<T> ? kFloat8 : kInt8);
  }

  // The first call sends the statement; true when a row is ready to read.
  bool next();
  bool failed() const { return failed_; }
  Result<Ok, StoreError> run(std::string_view what) {
    if (next() || failed()) return Err{error(what)};
    return Ok{};
  }
  // Ready to run again with new bindings.
  void reset() {
    clearResult();
    for (auto& v : values_) v.reset();
  }

  int64_t int64(int col) const;
  double real(int col) const;
  bool isNull(int col) const;
  std::string text(int col) const;
  std::string blob(int col) const;  // bytea (hex text output decoded)

  StoreError error(std::string_view what) const;

 private:
  friend class PgConnection;
  static constexpr unsigned kInt8 = 20;  // pg_type oids
  static constexpr unsigned kFloat8 = 701;
  static constexpr unsigned kBytea = 17;
  static constexpr unsigned kText = 25;
  static constexpr unsigned kUnknown = 705;  // typed by where it goes, like a bare literal
  PgStatement(PgConnection* c, std::string sql) : c_(c), sql_(std::move(sql)) {}
  PgStatement& set(int i, std::string v, unsigned type, int format);
  PgStatement& bindNull(int i, unsigned type);
  void clearResult() {
    if (res_ != nullptr) PQclear(res_);
    res_ = nullptr;
    sent_ = false;
    failed_ = false;
    row_ = -1;
    rows_ = 0;
  }
  const char* cell(int col) const { return PQgetvalue(res_, row_, col); }

  PgConnection* c_;
  std::string sql_;  // the translated text
  std::vector<std::unique_ptr<std::string>> values_;
  std::vector<unsigned> types_;
  std::vector<int> formats_;
  PGresult* res_ = nullptr;
  int row_ = -1;
  int rows_ = 0;
  bool sent_ = false;
  bool failed_ = false;
};

class [[nodiscard]] PgTransaction {
 public:
  PgTransaction(PgTransaction&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  PgTransaction& operator=(PgTransaction&&) = delete;
  ~PgTransaction();
  Result<Ok, StoreError> commit();

 private:
  friend class PgConnection;
  explicit PgTransaction(PgConnection* c) : c_(c) {}
  PgConnection* c_;
};

class PgConnection {
 public:
  using Statement = PgStatement;
  using Transaction = PgTransaction;

  // Connects to the server (does not touch the schema: pg_migrations.h).
  static Result<std::unique_ptr<PgConnection>, StoreError> open(const PgTarget& target);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  Result<PgStatement, StoreError> prepare(std::string_view sql);
  // Runs one or more statements that return no rows; an error names `what`.
  Result<Ok, StoreError> exec(const char* sql, std::string_view what);

  Result<PgTransaction, StoreError> beginRead();
  Result<PgTransaction, StoreError> beginWrite();
  // A write transaction without the write lock (CDR batches).
  Result<PgTransaction, StoreError> beginAppend();

  // Rows changed by the last INSERT, UPDATE or DELETE.
  size_t changes() const { return changes_; }
  // The id the last INSERT into a table with an identity column assigned
  // (lastval(): one round trip).
  int64_t lastInsertRowid();

  StoreError error(std::string_view what) const;
  // "postgresql://user@host:port/db" (no password): shown in errors.
  const std::string& path() const { return display_; }
  PGconn* raw() { return conn_; }
  // True while a transaction is open on this connection.
  bool inTransaction() const { return inTxn_; }

 private:
  friend class PgStatement;
  friend class PgTransaction;
  PgConnection(PGconn* conn, PgTarget target);
  // Reconnects when the server went away and no transaction is open.
  bool ensureConnected();
  // Sends a statement (n < 0: a script of several, no parameters) and waits
  // for its result until target_.queryTimeoutMs; on time-out the connection
  // is shut down (the next use reconnects). Null when nothing came back.
  PGresult* execute(const char* sql, int n, const unsigned* types, const char* const* values,
                    const int* lengths, const int* formats);
  // What a failed call should report: the server's message, or the
  // connection's when there is no result.
  StoreError errorFrom(std::string_view what, const PGresult* res) const;
  const std::string& translated(std::string_view sql);
  void afterCommand(PGresult* res);

  PGconn* conn_;
  PgTarget target_;
  std::string display_;
  std::unordered_map<std::string, std::string> texts_;  // shared SQL -> PostgreSQL SQL
  size_t changes_ = 0;
  bool inTxn_ = false;
  bool timedOut_ = false;  // the last statement ran out of time
  std::chrono::steady_clock::time_point lastReconnect_{};
};

// The server URL without password or query ("postgresql://u@h:5432/db"):
// what errors and logs name.
std::string pgDisplayUrl(const PgTarget& t);

// "?N" -> "$N", and the SQLite function names PostgreSQL spells otherwise
// (instr -> strpos). Outside quoted literals only. Exposed for tests.
std::string translateSqlForPg(std::string_view sql);

}  // namespace tollgate::store::detail
