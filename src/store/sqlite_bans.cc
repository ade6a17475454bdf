// SQLite implementation of BanStore (ban_store.h). It opens its own
// connection to the store file, after openSqliteStore() has created and
// migrated it, through the same opener (sqlite_open.h: file modes, busy
// timeout, WAL, synchronous=NORMAL); BEGIN IMMEDIATE for every write. Externally synchronized, like
// every store connection.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <unordered_map>
#include <utility>

#include "store/ban_store.h"
#include "store/sqlite_open.h"

namespace tollgate::store {
namespace {

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kColumns =
    "address, reason, detail, origin, created_us, expires_us, hits, level, deleted, seq, "
    "updated_us";

class SqliteBanStore final : public BanStore {
 public:
  SqliteBanStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteBanStore() override {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  SqliteBanStore(const SqliteBanStore&) = delete;
  SqliteBanStore& operator=(const SqliteBanStore&) = delete;

  Result<Ok, StoreError> putBans(const std::vector<BanRow>& rows) override;
  Result<bool, StoreError> deleteBan(std::string_view address) override;
  Result<Ok, StoreError> setHits(const std::vector<std::pair<std::string, int64_t>>& hits) override;
  Result<std::optional<BanRow>, StoreError> getBan(std::string_view address) override;
  Result<std::vector<BanRow>, StoreError> listBans(bool includeExpired, int64_t now,
                                                   size_t limit) override;
  Result<int64_t, StoreError> banSequence() override;
  Result<std::vector<BanRow>, StoreError> bansChangedSince(const BanCursor& after,
                                                           size_t limit) override;
  Result<size_t, StoreError> purgeBans(int64_t expiredBeforeUs,
                                       int64_t tombstonesBeforeUs) override;

 private:
  // A cached statement in use; reset on scope exit so no read transaction
  // stays open (it would pin the WAL and hide other processes' commits).
  class Stmt {
   public:
    explicit Stmt(sqlite3_stmt* s) : s_(s) {}
    Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Stmt(const Stmt&) = delete;
    ~Stmt() {
      if (s_ != nullptr) {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
      }
    }
    Stmt& bind(int i, int64_t v) {
      sqlite3_bind_int64(s_, i, v);
      return *this;
    }
    Stmt& bind(int i, std::string_view v) {
      sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
      return *this;
    }
    int step() { return sqlite3_step(s_); }
    void reset() {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
    int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
    std::string text(int col) const {
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
      int n = sqlite3_column_bytes(s_, col);
      return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(n));
    }

   private:
    sqlite3_stmt* s_;
  };

  // Rolls back on scope exit unless committed.
  class Txn {
   public:
    explicit Txn(SqliteBanStore* s) : s_(s) {}
    Txn(Txn&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Txn(const Txn&) = delete;
    ~Txn() {
      if (s_ != nullptr) (void)s_->exec("ROLLBACK");
    }
    Result<Ok, StoreError> commit() {
      auto r = s_->exec("COMMIT");
      if (r) s_ = nullptr;
      return r;
    }

   private:
    SqliteBanStore* s_;
  };

  StoreError error(std::string_view what) const {
    return StoreError{std::string(what) + ": " + sqlite3_errmsg(db_) + " (" + path_ + ")"};
  }
  Result<Ok, StoreError> exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      StoreError e{std::string(msg != nullptr ? msg : sqlite3_errmsg(db_)) + " (" + path_ + ")"};
      sqlite3_free(msg);
      return Err{std::move(e)};
    }
    return Ok{};
  }
  Result<Stmt, StoreError> prepare(const std::string& sql) {
    if (auto it = stmts_.find(sql); it != stmts_.end()) return Stmt(it->second);
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      return Err{error("prepare")};
    }
    stmts_.emplace(sql, s);
    return Stmt(s);
  }
  Result<Txn, StoreError> beginWrite() {
    auto r = exec("BEGIN IMMEDIATE");
    if (!r) return Err{r.error()};
    return Txn(this);
  }
  // Inside a write transaction: the next change sequence, stored.
  Result<int64_t, StoreError> bumpSequence() {
    auto st = prepare("UPDATE ban_seq SET value = value + 1 WHERE id = 1 RETURNING value");
    if (!st) return Err{st.error()};
    if (st->step() != SQLITE_ROW) return Err{error("bump ban_seq")};
    return st->int64(0);
  }
  static BanRow rowOf(const Stmt& st) {
    BanRow r;
    r.address = st.text(0);
    r.reason = st.text(1);
    r.detail = st.text(2);
    r.origin = st.text(3);
    r.createdUs = st.int64(4);
    r.expiresUs = st.int64(5);
    r.hits = st.int64(6);
    r.level = static_cast<int>(st.int64(7));
    r.deleted = st.int64(8) != 0;
    r.seq = st.int64(9);
    r.updatedUs = st.int64(10);
    return r;
  }

  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

Result<Ok, StoreError> SqliteBanStore::putBans(const std::vector<BanRow>& rows) {
  if (rows.empty()) return Ok{};
  auto txn = beginWrite();
  if (!txn) return Err{txn.error()};
  auto seq = bumpSequence();
  if (!seq) return Err{seq.error()};
  auto st = prepare(
      "INSERT INTO ban(address, reason, detail, origin, created_us, expires_us, hits, level, "
      "deleted, seq, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10) "
      "ON CONFLICT(address) DO UPDATE SET reason = excluded.reason, detail = excluded.detail, "
      "origin = excluded.origin, created_us = excluded.created_us, "
      "expires_us = excluded.expires_us, hits = excluded.hits, level = excluded.level, "
      "deleted = 0, seq = excluded.seq, updated_us = excluded.updated_us");
  if (!st) return Err{st.error()};
  const int64_t now = nowUs();
  for (const BanRow& r : rows) {
    st->bind(1, r.address)
        .bind(2, r.reason)
        .bind(3, r.detail)
        .bind(4, r.origin)
        .bind(5, r.createdUs)
        .bind(6, r.expiresUs)
        .bind(7, r.hits)
        .bind(8, int64_t{r.level})
        .bind(9, *seq)
        .bind(10, now);
    if (st->step() != SQLITE_DONE) return Err{error("insert ban")};
    st->reset();
  }
  return txn->commit();
}

Result<bool, StoreError> SqliteBanStore::deleteBan(std::string_view address) {
  auto txn = beginWrite();
  if (!txn) return Err{txn.error()};
  {
    auto st = prepare("SELECT 1 FROM ban WHERE address = ?1 AND deleted = 0");
    if (!st) return Err{st.error()};
    st->bind(1, address);
    int rc = st->step();
    if (rc == SQLITE_DONE) return false;  // the Txn rolls back: nothing written
    if (rc != SQLITE_ROW) return Err{error("find ban")};
  }
  auto seq = bumpSequence();
  if (!seq) return Err{seq.error()};
  auto st = prepare("UPDATE ban SET deleted = 1, seq = ?2, updated_us = ?3 WHERE address = ?1");
  if (!st) return Err{st.error()};
  st->bind(1, address).bind(2, *seq).bind(3, nowUs());
  if (st->step() != SQLITE_DONE) return Err{error("delete ban")};
  auto c = txn->commit();
  if (!c) return Err{c.error()};
  return true;
}

Result<Ok, StoreError> SqliteBanStore::setHits(
    const std::vector<std::pair<std::string, int64_t>>& hits) {
  if (hits.empty()) return Ok{};
  auto txn = beginWrite();
  if (!txn) return Err{txn.error()};
  auto st = prepare("UPDATE ban SET hits = max(hits, ?2) WHERE address = ?1 AND deleted = 0");
  if (!st) return Err{st.error()};
  for (const auto& [address, n] : hits) {
    st->bind(1, address).bind(2, n);
    if (st->step() != SQLITE_DONE) return Err{error("update hits")};
    st->reset();
  }
  return txn->commit();
}

Result<std::optional<BanRow>, StoreError> SqliteBanStore::getBan(std::string_view address) {
  auto st =
      prepare(std::string("SELECT ") + kColumns + " FROM ban WHERE address = ?1 AND deleted = 0");
  if (!st) return Err{st.error()};
  st->bind(1, address);
  int rc = st->step();
  if (rc == SQLITE_DONE) return std::optional<BanRow>();
  if (rc != SQLITE_ROW) return Err{error("read ban")};
  return std::optional<BanRow>(rowOf(*st));
}

Result<std::vector<BanRow>, StoreError> SqliteBanStore::listBans(bool includeExpired, int64_t now,
                                                                 size_t limit) {
  limit = std::min(limit, kMaxBanPage);
  std::string sql = std::string("SELECT ") + kColumns + " FROM ban WHERE deleted = 0";
  if (!includeExpired) sql += " AND (expires_us = 0 OR expires_us > ?1)";
  sql += " ORDER BY created_us DESC, address LIMIT ?2";
  auto st = prepare(sql);
  if (!st) return Err{st.error()};
  if (!includeExpired) st->bind(1, now);
  st->bind(2, static_cast<int64_t>(limit));
  std::vector<BanRow> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(rowOf(*st));
  if (rc != SQLITE_DONE) return Err{error("list bans")};
  return out;
}

Result<int64_t, StoreError> SqliteBanStore::banSequence() {
  auto st = prepare("SELECT value FROM ban_seq WHERE id = 1");
  if (!st) return Err{st.error()};
  if (st->step() != SQLITE_ROW) return Err{error("read ban_seq")};
  return st->int64(0);
}

Result<std::vector<BanRow>, StoreError> SqliteBanStore::bansChangedSince(const BanCursor& after,
                                                                         size_t limit) {
  limit = std::min(limit, kMaxBanPage);
  auto st = prepare(std::string("SELECT ") + kColumns +
                    " FROM ban WHERE seq > ?1 OR (seq = ?1 AND address > ?2)"
                    " ORDER BY seq, address LIMIT ?3");
  if (!st) return Err{st.error()};
  st->bind(1, after.seq).bind(2, after.address).bind(3, static_cast<int64_t>(limit));
  std::vector<BanRow> out;
  int rc;
  while ((rc = st->step()) == SQLITE_ROW) out.push_back(rowOf(*st));
  if (rc != SQLITE_DONE) return Err{error("read ban changes")};
  return out;
}

Result<size_t, StoreError> SqliteBanStore::purgeBans(int64_t expiredBeforeUs,
                                                     int64_t tombstonesBeforeUs) {
  auto txn = beginWrite();
  if (!txn) return Err{txn.error()};
  auto st = prepare(
      "DELETE FROM ban WHERE (deleted = 0 AND expires_us != 0 AND expires_us < ?1) "
      "OR (deleted = 1 AND updated_us < ?2)");
  if (!st) return Err{st.error()};
  st->bind(1, expiredBeforeUs).bind(2, tombstonesBeforeUs);
  if (st->step() != SQLITE_DONE) return Err{error("purge bans")};
  const auto n = static_cast<size_t>(sqlite3_changes(db_));
  auto c = txn->commit();
  if (!c) return Err{c.error()};
  return n;
}

}  // namespace

Result<std::unique_ptr<BanStore>, StoreError> openSqliteBanStore(const std::string& path) {
  if (path == ":memory:") return Err{StoreError{"the ban list needs a store file, not :memory:"}};
  // Creates, sets WAL on, and migrates the file; then it is not needed.
  {
    auto main = openSqliteStore(path);
    if (!main) return Err{main.error()};
  }
  auto db = detail::openSqliteDatabase(path);
  if (!db) return Err{db.error()};
  return std::unique_ptr<BanStore>(std::make_unique<SqliteBanStore>(*db, path));
}

}  // namespace tollgate::store
