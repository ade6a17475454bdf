// SQLite implementation of MgmtStore (mgmt_store.h). Its own connection to
// the store file, opened after openSqliteStore() has configured the file
// (WAL) and brought the schema up to date, through the same opener
// (sqlite_open.h: file modes, busy timeout, pragmas); BEGIN IMMEDIATE for
// read-modify-write, statements cached for the connection's lifetime.
// Externally synchronized.
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "store/mgmt_store.h"
#include "store/sqlite_open.h"

namespace tollgate::store {
namespace {

// A cached prepared statement in use; reset on scope exit so no read
// transaction stays open (see sqlite_store.cc).
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(Stmt&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;
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
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v ? 1 : 0)); }
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

class SqliteMgmtStore final : public MgmtStore {
 public:
  SqliteMgmtStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteMgmtStore() override {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }
  SqliteMgmtStore(const SqliteMgmtStore&) = delete;
  SqliteMgmtStore& operator=(const SqliteMgmtStore&) = delete;

  // ---- users
  Result<std::optional<MgmtUser>, StoreError> findUser(const std::string& name) override {
    auto st = prepare(
        "SELECT name, role, password_hash, enabled, created_us, updated_us, password_us "
        "FROM mgmt_user WHERE name = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, name);
    int rc = st->step();
    if (rc == SQLITE_DONE) return std::optional<MgmtUser>();
    if (rc != SQLITE_ROW) return Err{error("read mgmt_user")};
    return std::optional<MgmtUser>(userRow(*st));
  }

  Result<std::vector<MgmtUser>, StoreError> listUsers() override {
    auto st = prepare(
        "SELECT name, role, password_hash, enabled, created_us, updated_us, password_us "
        "FROM mgmt_user ORDER BY name");
    if (!st) return Err{st.error()};
    std::vector<MgmtUser> out;
    int rc;
    while ((rc = st->step()) == SQLITE_ROW) out.push_back(userRow(*st));
    if (rc != SQLITE_DONE) return Err{error("read mgmt_user")};
    return out;
  }

  Result<bool, StoreError> insertUser(const MgmtUser& u) override {
    auto st = prepare(
        "INSERT INTO mgmt_user(name, role, password_hash, enabled, created_us, updated_us, "
        "password_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(name) DO NOTHING");
    if (!st) return Err{st.error()};
    st->bind(1, u.name)
        .bind(2, u.role)
        .bind(3, u.passwordHash)
        .bind(4, u.enabled)
        .bind(5, u.createdUs)
        .bind(6, u.updatedUs)
        .bind(7, u.passwordUs);
    if (st->step() != SQLITE_DONE) return Err{error("insert mgmt_user")};
    return sqlite3_changes(db_) > 0;
  }

  Result<bool, StoreError> updateUser(const MgmtUser& u) override {
    auto st = prepare(
        "UPDATE mgmt_user SET role = ?2, password_hash = ?3, enabled = ?4, updated_us = ?5, "
        "password_us = ?6 WHERE name = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, u.name)
        .bind(2, u.role)
        .bind(3, u.passwordHash)
        .bind(4, u.enabled)
        .bind(5, u.updatedUs)
        .bind(6, u.passwordUs);
    if (st->step() != SQLITE_DONE) return Err{error("update mgmt_user")};
    return sqlite3_changes(db_) > 0;
  }

  Result<bool, StoreError> deleteUser(const std::string& name) override {
    return deleteWhere("DELETE FROM mgmt_user WHERE name = ?1", name);
  }

  Result<size_t, StoreError> countEnabledAdmins(const std::string& except) override {
    auto st = prepare(
        "SELECT count(*) FROM mgmt_user WHERE role = 'admin' AND enabled = 1 AND name != ?1");
    if (!st) return Err{st.error()};
    st->bind(1, except);
    if (st->step() != SQLITE_ROW) return Err{error("count mgmt_user")};
    return static_cast<size_t>(st->int64(0));
  }

  // ---- sessions
  Result<Ok, StoreError> insertSession(const MgmtSession& s) override {
    auto st = prepare(
        "INSERT INTO mgmt_session(token_hash, user, source, created_us, expires_us, "
        "last_used_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st) return Err{st.error()};
    st->bind(1, s.tokenHash)
        .bind(2, s.user)
        .bind(3, s.source)
        .bind(4, s.createdUs)
        .bind(5, s.expiresUs)
        .bind(6, s.lastUsedUs);
    if (st->step() != SQLITE_DONE) return Err{error("insert mgmt_session")};
    return Ok{};
  }

  Result<std::optional<MgmtSession>, StoreError> findSession(
      const std::string& tokenHash) override {
    auto st = prepare(
        "SELECT token_hash, user, source, created_us, expires_us, last_used_us "
        "FROM mgmt_session WHERE token_hash = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, tokenHash);
    int rc = st->step();
    if (rc == SQLITE_DONE) return std::optional<MgmtSession>();
    if (rc != SQLITE_ROW) return Err{error("read mgmt_session")};
    MgmtSession s;
    s.tokenHash = st->text(0);
    s.user = st->text(1);
    s.source = st->text(2);
    s.createdUs = st->int64(3);
    s.expiresUs = st->int64(4);
    s.lastUsedUs = st->int64(5);
    return std::optional<MgmtSession>(std::move(s));
  }

  Result<Ok, StoreError> touchSession(const std::string& tokenHash, int64_t nowUs) override {
    auto st = prepare("UPDATE mgmt_session SET last_used_us = ?2 WHERE token_hash = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, tokenHash).bind(2, nowUs);
    if (st->step() != SQLITE_DONE) return Err{error("update mgmt_session")};
    return Ok{};
  }

  Result<bool, StoreError> deleteSession(const std::string& tokenHash) override {
    return deleteWhere("DELETE FROM mgmt_session WHERE token_hash = ?1", tokenHash);
  }

  Result<size_t, StoreError> deleteUserSessions(const std::string& user) override {
    auto st = prepare("DELETE FROM mgmt_session WHERE user = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, user);
    if (st->step() != SQLITE_DONE) return Err{error("delete mgmt_session")};
    return static_cast<size_t>(sqlite3_changes(db_));
  }

  Result<size_t, StoreError> pruneSessions(int64_t nowUs, int64_t idleUs) override {
    auto st = prepare("DELETE FROM mgmt_session WHERE expires_us <= ?1 OR last_used_us <= ?1 - ?2");
    if (!st) return Err{st.error()};
    st->bind(1, nowUs).bind(2, idleUs);
    if (st->step() != SQLITE_DONE) return Err{error("prune mgmt_session")};
    return static_cast<size_t>(sqlite3_changes(db_));
  }

  // ---- tokens
  Result<int64_t, StoreError> insertToken(const ApiToken& t) override {
    auto st = prepare(
        "INSERT INTO mgmt_token(name, user, role, token_hash, created_us, expires_us, "
        "last_used_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st) return Err{st.error()};
    st->bind(1, t.name)
        .bind(2, t.user)
        .bind(3, t.role)
        .bind(4, t.tokenHash)
        .bind(5, t.createdUs)
        .bind(6, t.expiresUs)
        .bind(7, t.lastUsedUs);
    if (st->step() != SQLITE_DONE) return Err{error("insert mgmt_token")};
    return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
  }

  Result<std::optional<ApiToken>, StoreError> findToken(const std::string& tokenHash) override {
    auto st = prepare(std::string(kTokenSelect) + " WHERE token_hash = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, tokenHash);
    return oneToken(*st);
  }

  Result<std::optional<ApiToken>, StoreError> findTokenById(int64_t id) override {
    auto st = prepare(std::string(kTokenSelect) + " WHERE id = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, id);
    return oneToken(*st);
  }

  Result<std::vector<ApiToken>, StoreError> listTokens(const std::string& user) override {
    auto st = user.empty() ? prepare(std::string(kTokenSelect) + " ORDER BY id")
                           : prepare(std::string(kTokenSelect) + " WHERE user = ?1 ORDER BY id");
    if (!st) return Err{st.error()};
    if (!user.empty()) st->bind(1, user);
    std::vector<ApiToken> out;
    int rc;
    while ((rc = st->step()) == SQLITE_ROW) out.push_back(tokenRow(*st));
    if (rc != SQLITE_DONE) return Err{error("read mgmt_token")};
    return out;
  }

  Result<bool, StoreError> deleteToken(int64_t id) override {
    auto st = prepare("DELETE FROM mgmt_token WHERE id = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, id);
    if (st->step() != SQLITE_DONE) return Err{error("delete mgmt_token")};
    return sqlite3_changes(db_) > 0;
  }

  Result<Ok, StoreError> touchToken(int64_t id, int64_t nowUs) override {
    auto st = prepare("UPDATE mgmt_token SET last_used_us = ?2 WHERE id = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, id).bind(2, nowUs);
    if (st->step() != SQLITE_DONE) return Err{error("update mgmt_token")};
    return Ok{};
  }

  // ---- login failures
  Result<std::optional<LoginFailure>, StoreError> loginFailure(const std::string& scope,
                                                               const std::string& account,
                                                               const std::string& source) override {
    auto st =
        prepare(std::string(kFailureSelect) + " WHERE scope = ?1 AND account = ?2 AND source = ?3");
    if (!st) return Err{st.error()};
    st->bind(1, scope).bind(2, account).bind(3, source);
    int rc = st->step();
    if (rc == SQLITE_DONE) return std::optional<LoginFailure>();
    if (rc != SQLITE_ROW) return Err{error("read mgmt_login_failure")};
    return std::optional<LoginFailure>(failureRow(*st));
  }

  Result<LoginFailure, StoreError> recordLoginFailure(const std::string& scope,
                                                      const std::string& account,
                                                      const std::string& source, int64_t nowUs,
                                                      const LockoutRule& rule) override {
    if (auto r = exec("BEGIN IMMEDIATE"); !r) return Err{r.error()};
    auto result = recordLocked(scope, account, source, nowUs, rule);
    if (!result) {
      (void)exec("ROLLBACK");
      return result;
    }
    if (auto r = exec("COMMIT"); !r) {
      (void)exec("ROLLBACK");
      return Err{r.error()};
    }
    return result;
  }

  Result<bool, StoreError> clearLoginFailure(const std::string& scope, const std::string& account,
                                             const std::string& source) override {
    auto st =
        prepare("DELETE FROM mgmt_login_failure WHERE scope = ?1 AND account = ?2 AND source = ?3");
    if (!st) return Err{st.error()};
    st->bind(1, scope).bind(2, account).bind(3, source);
    if (st->step() != SQLITE_DONE) return Err{error("delete mgmt_login_failure")};
    return sqlite3_changes(db_) > 0;
  }

  Result<std::vector<LoginFailure>, StoreError> listLoginFailures(int64_t nowUs,
                                                                  int64_t windowUs) override {
    auto st = prepare(std::string(kFailureSelect) +
                      " WHERE locked_until_us > ?1 OR window_start_us > ?1 - ?2"
                      " ORDER BY locked_until_us DESC, updated_us DESC LIMIT 10000");
    if (!st) return Err{st.error()};
    st->bind(1, nowUs).bind(2, windowUs);
    std::vector<LoginFailure> out;
    int rc;
    while ((rc = st->step()) == SQLITE_ROW) out.push_back(failureRow(*st));
    if (rc != SQLITE_DONE) return Err{error("read mgmt_login_failure")};
    return out;
  }

  // ---- audit
  Result<int64_t, StoreError> appendAudit(const AuditEntry& e) override {
    auto st = prepare(
        "INSERT INTO mgmt_audit(time_us, actor, source, action, target, result, before, after) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!st) return Err{st.error()};
    st->bind(1, e.timeUs)
        .bind(2, e.actor)
        .bind(3, e.source)
        .bind(4, e.action)
        .bind(5, e.target)
        .bind(6, e.result)
        .bind(7, e.before)
        .bind(8, e.after);
    if (st->step() != SQLITE_DONE) return Err{error("insert mgmt_audit")};
    int64_t id = sqlite3_last_insert_rowid(db_);
    // Keep the log bounded: every 1024 rows, drop what is older than the
    // newest kMaxAuditRows (ids increase with time).
    if (id % 1024 == 0) {
      auto del = prepare("DELETE FROM mgmt_audit WHERE id <= ?1");
      if (del) {
        del->bind(1, id - kMaxAuditRows);
        (void)del->step();
      }
    }
    return id;
  }

  Result<std::vector<AuditEntry>, StoreError> listAudit(const AuditQuery& q) override {
    std::vector<AuditEntry> out;
    const size_t limit = std::min(q.limit, kMaxAuditListLimit);
    if (limit == 0) return out;
    std::string sql =
        "SELECT id, time_us, actor, source, action, target, result, before, after "
        "FROM mgmt_audit WHERE id < ?1";
    const bool prefix = !q.action.empty() && q.action.back() == '.';
    if (!q.actor.empty()) sql += " AND actor = ?2";
    if (!q.action.empty())
      sql += prefix ? " AND substr(action, 1, length(?3)) = ?3" : " AND action = ?3";
    if (q.fromUs > 0) sql += " AND time_us >= ?4";
    if (q.toUs > 0) sql += " AND time_us < ?5";
    sql += " ORDER BY id DESC LIMIT ?6";
    auto st = prepare(sql);
    if (!st) return Err{st.error()};
    st->bind(1, q.beforeId > 0 ? q.beforeId : std::numeric_limits<int64_t>::max());
    if (!q.actor.empty()) st->bind(2, q.actor);
    if (!q.action.empty()) st->bind(3, q.action);
    if (q.fromUs > 0) st->bind(4, q.fromUs);
    if (q.toUs > 0) st->bind(5, q.toUs);
    st->bind(6, static_cast<int64_t>(limit));
    int rc;
    while ((rc = st->step()) == SQLITE_ROW) {
      AuditEntry e;
      e.id = st->int64(0);
      e.timeUs = st->int64(1);
      e.actor = st->text(2);
      e.source = st->text(3);
      e.action = st->text(4);
      e.target = st->text(5);
      e.result = st->text(6);
      e.before = st->text(7);
      e.after = st->text(8);
      out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return Err{error("read mgmt_audit")};
    return out;
  }

 private:
  static constexpr const char* kTokenSelect =
      "SELECT id, name, user, role, token_hash, created_us, expires_us, last_used_us "
      "FROM mgmt_token";
  static constexpr const char* kFailureSelect =
      "SELECT scope, account, source, failures, window_start_us, locked_until_us, updated_us "
      "FROM mgmt_login_failure";

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
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) return Stmt(it->second);
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      return Err{error("prepare")};
    }
    stmts_.emplace(sql, s);
    return Stmt(s);
  }

  Result<bool, StoreError> deleteWhere(const char* sql, const std::string& key) {
    auto st = prepare(sql);
    if (!st) return Err{st.error()};
    st->bind(1, key);
    if (st->step() != SQLITE_DONE) return Err{error("delete")};
    return sqlite3_changes(db_) > 0;
  }

  static MgmtUser userRow(const Stmt& st) {
    MgmtUser u;
    u.name = st.text(0);
    u.role = st.text(1);
    u.passwordHash = st.text(2);
    u.enabled = st.int64(3) != 0;
    u.createdUs = st.int64(4);
    u.updatedUs = st.int64(5);
    u.passwordUs = st.int64(6);
    return u;
  }

  static ApiToken tokenRow(const Stmt& st) {
    ApiToken t;
    t.id = st.int64(0);
    t.name = st.text(1);
    t.user = st.text(2);
    t.role = st.text(3);
    t.tokenHash = st.text(4);
    t.createdUs = st.int64(5);
    t.expiresUs = st.int64(6);
    t.lastUsedUs = st.int64(7);
    return t;
  }

  Result<std::optional<ApiToken>, StoreError> oneToken(Stmt& st) {
    int rc = st.step();
    if (rc == SQLITE_DONE) return std::optional<ApiToken>();
    if (rc != SQLITE_ROW) return Err{error("read mgmt_token")};
    return std::optional<ApiToken>(tokenRow(st));
  }

  static LoginFailure failureRow(const Stmt& st) {
    LoginFailure f;
    f.scope = st.text(0);
    f.account = st.text(1);
    f.source = st.text(2);
    f.failures = static_cast<int>(st.int64(3));
    f.windowStartUs = st.int64(4);
    f.lockedUntilUs = st.int64(5);
    f.updatedUs = st.int64(6);
    return f;
  }

  Result<LoginFailure, StoreError> recordLocked(const std::string& scope,
                                                const std::string& account,
                                                const std::string& source, int64_t nowUs,
                                                const LockoutRule& rule) {
    auto cur = loginFailure(scope, account, source);
    if (!cur) return Err{cur.error()};
    LoginFailure f;
    bool isNew = !cur->has_value();
    if (!isNew) f = **cur;
    f.scope = scope;
    f.account = account;
    f.source = source;
    const bool lockExpired = f.lockedUntilUs != 0 && f.lockedUntilUs <= nowUs;
    const bool windowPassed = nowUs - f.windowStartUs >= rule.windowUs;
    if (isNew || lockExpired || (f.lockedUntilUs == 0 && windowPassed)) {
      f.failures = 0;
      f.windowStartUs = nowUs;
      f.lockedUntilUs = 0;
    }
    // While locked, attempts are refused before a password is checked, so a
    // failure arriving here during a lock only keeps it; it never extends it.
    if (f.lockedUntilUs == 0) {
      ++f.failures;
      if (f.failures >= rule.attempts) f.lockedUntilUs = nowUs + rule.durationUs;
    }
    f.updatedUs = nowUs;
    auto st = prepare(
        "INSERT INTO mgmt_login_failure(scope, account, source, failures, window_start_us, "
        "locked_until_us, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT(scope, account, source) DO UPDATE SET failures = ?4, "
        "window_start_us = ?5, locked_until_us = ?6, updated_us = ?7");
    if (!st) return Err{st.error()};
    st->bind(1, scope)
        .bind(2, account)
        .bind(3, source)
        .bind(4, static_cast<int64_t>(f.failures))
        .bind(5, f.windowStartUs)
        .bind(6, f.lockedUntilUs)
        .bind(7, nowUs);
    if (st->step() != SQLITE_DONE) return Err{error("write mgmt_login_failure")};
    if (isNew) {
      // Bound the table: the keys (account names tried, source IPs) are
      // chosen by whoever tries to log in.
      auto count = prepare("SELECT count(*) FROM mgmt_login_failure");
      if (!count) return Err{count.error()};
      if (count->step() != SQLITE_ROW) return Err{error("count mgmt_login_failure")};
      const int64_t n = count->int64(0);
      if (n > static_cast<int64_t>(rule.maxRows)) {
        auto del = prepare(
            "DELETE FROM mgmt_login_failure WHERE rowid IN (SELECT rowid FROM "
            "mgmt_login_failure ORDER BY (locked_until_us > ?1), updated_us LIMIT ?2)");
        if (!del) return Err{del.error()};
        del->bind(1, nowUs).bind(2, n - static_cast<int64_t>(rule.maxRows));
        if (del->step() != SQLITE_DONE) return Err{error("evict mgmt_login_failure")};
      }
    }
    return f;
  }

  sqlite3* db_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> stmts_;
};

}  // namespace

Result<std::unique_ptr<MgmtStore>, StoreError> openSqliteMgmtStore(const std::string& path) {
  if (path == ":memory:") {
    return Err{StoreError{"the management store needs a file (\":memory:\" is per connection)"}};
  }
  // Creates, configures (WAL) and migrates the file like every store user.
  auto base = openSqliteStore(path);
  if (!base) return Err{base.error()};
  base.value().reset();

  auto db = detail::openSqliteDatabase(path);
  if (!db) return Err{db.error()};
  return std::unique_ptr<MgmtStore>(std::make_unique<SqliteMgmtStore>(*db, path));
}

}  // namespace tollgate::store
