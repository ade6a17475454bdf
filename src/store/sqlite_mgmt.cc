// SQLite implementation of MgmtStore (mgmt_store.h): only its queries. Its
// own connection to the store file, from the same foundation as every store
// (sqlite_connection.h: opener, cached statements, BEGIN IMMEDIATE for
// read-modify-write) on a migrated schema. Externally synchronized.
#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>

#include "store/mgmt_store.h"
#include "store/pg_backend.h"
#include "store/pg_migrations.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_migrations.h"

namespace tollgate::store {
namespace {

template <class Db>
class SqlMgmtStore final : public MgmtStore {
 public:
  explicit SqlMgmtStore(std::unique_ptr<Db> c) : c_(std::move(c)) {}

  // ---- users
  Result<std::optional<MgmtUser>, StoreError> findUser(const std::string& name) override {
    auto st = c_->prepare(
        "SELECT name, role, password_hash, enabled, created_us, updated_us, password_us "
        "FROM mgmt_user WHERE name = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, name);
    if (!st->next()) {
      if (st->failed()) return Err{st->error("read mgmt_user")};
      return std::optional<MgmtUser>();
    }
    return std::optional<MgmtUser>(userRow(*st));
  }

  Result<std::vector<MgmtUser>, StoreError> listUsers() override {
    auto st = c_->prepare(
        "SELECT name, role, password_hash, enabled, created_us, updated_us, password_us "
        "FROM mgmt_user ORDER BY name");
    if (!st) return Err{st.error()};
    std::vector<MgmtUser> out;
    while (st->next()) out.push_back(userRow(*st));
    if (st->failed()) return Err{st->error("read mgmt_user")};
    return out;
  }

  Result<bool, StoreError> insertUser(const MgmtUser& u) override {
    auto st = c_->prepare(
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
    if (auto r = st->run("insert mgmt_user"); !r) return Err{r.error()};
    return c_->changes() > 0;
  }

  Result<bool, StoreError> updateUser(const MgmtUser& u) override {
    auto st = c_->prepare(
        "UPDATE mgmt_user SET role = ?2, password_hash = ?3, enabled = ?4, updated_us = ?5, "
        "password_us = ?6 WHERE name = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, u.name)
        .bind(2, u.role)
        .bind(3, u.passwordHash)
        .bind(4, u.enabled)
        .bind(5, u.updatedUs)
        .bind(6, u.passwordUs);
    if (auto r = st->run("update mgmt_user"); !r) return Err{r.error()};
    return c_->changes() > 0;
  }

  Result<bool, StoreError> deleteUser(const std::string& name) override {
    return deleteWhere("DELETE FROM mgmt_user WHERE name = ?1", name);
  }

  Result<size_t, StoreError> countEnabledAdmins(const std::string& except) override {
    auto st = c_->prepare(
        "SELECT count(*) FROM mgmt_user WHERE role = 'admin' AND enabled = 1 AND name != ?1");
    if (!st) return Err{st.error()};
    st->bind(1, except);
    if (!st->next()) return Err{st->error("count mgmt_user")};
    return static_cast<size_t>(st->int64(0));
  }

  // ---- sessions
  Result<Ok, StoreError> insertSession(const MgmtSession& s) override {
    auto st = c_->prepare(
        "INSERT INTO mgmt_session(token_hash, \"user\", source, created_us, expires_us, "
        "last_used_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st) return Err{st.error()};
    st->bind(1, s.tokenHash)
        .bind(2, s.user)
        .bind(3, s.source)
        .bind(4, s.createdUs)
        .bind(5, s.expiresUs)
        .bind(6, s.lastUsedUs);
    if (auto r = st->run("insert mgmt_session"); !r) return Err{r.error()};
    return Ok{};
  }

  Result<std::optional<MgmtSession>, StoreError> findSession(
      const std::string& tokenHash) override {
    auto st = c_->prepare(
        "SELECT token_hash, \"user\", source, created_us, expires_us, last_used_us "
        "FROM mgmt_session WHERE token_hash = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, tokenHash);
    if (!st->next()) {
      if (st->failed()) return Err{st->error("read mgmt_session")};
      return std::optional<MgmtSession>();
    }
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
    auto st = c_->prepare("UPDATE mgmt_session SET last_used_us = ?2 WHERE token_hash = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, tokenHash).bind(2, nowUs);
    if (auto r = st->run("update mgmt_session"); !r) return Err{r.error()};
    return Ok{};
  }

  Result<bool, StoreError> deleteSession(const std::string& tokenHash) override {
    return deleteWhere("DELETE FROM mgmt_session WHERE token_hash = ?1", tokenHash);
  }

  Result<size_t, StoreError> deleteUserSessions(const std::string& user) override {
    auto st = c_->prepare("DELETE FROM mgmt_session WHERE \"user\" = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, user);
    if (auto r = st->run("delete mgmt_session"); !r) return Err{r.error()};
    return c_->changes();
  }

  Result<size_t, StoreError> pruneSessions(int64_t nowUs, int64_t idleUs) override {
    auto st =
        c_->prepare("DELETE FROM mgmt_session WHERE expires_us <= ?1 OR last_used_us <= ?1 - ?2");
    if (!st) return Err{st.error()};
    st->bind(1, nowUs).bind(2, idleUs);
    if (auto r = st->run("prune mgmt_session"); !r) return Err{r.error()};
    return c_->changes();
  }

  // ---- tokens
  Result<int64_t, StoreError> insertToken(const ApiToken& t) override {
    auto st = c_->prepare(
        "INSERT INTO mgmt_token(name, \"user\", role, token_hash, created_us, expires_us, "
        "last_used_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st) return Err{st.error()};
    st->bind(1, t.name)
        .bind(2, t.user)
        .bind(3, t.role)
        .bind(4, t.tokenHash)
        .bind(5, t.createdUs)
        .bind(6, t.expiresUs)
        .bind(7, t.lastUsedUs);
    if (auto r = st->run("insert mgmt_token"); !r) return Err{r.error()};
    return c_->lastInsertRowid();
  }

  Result<std::optional<ApiToken>, StoreError> findToken(const std::string& tokenHash) override {
    auto st = c_->prepare(std::string(kTokenSelect) + " WHERE token_hash = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, tokenHash);
    return oneToken(*st);
  }

  Result<std::optional<ApiToken>, StoreError> findTokenById(int64_t id) override {
    auto st = c_->prepare(std::string(kTokenSelect) + " WHERE id = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, id);
    return oneToken(*st);
  }

  Result<std::vector<ApiToken>, StoreError> listTokens(const std::string& user) override {
    auto st = user.empty()
                  ? c_->prepare(std::string(kTokenSelect) + " ORDER BY id")
                  : c_->prepare(std::string(kTokenSelect) + " WHERE \"user\" = ?1 ORDER BY id");
    if (!st) return Err{st.error()};
    if (!user.empty()) st->bind(1, user);
    std::vector<ApiToken> out;
    while (st->next()) out.push_back(tokenRow(*st));
    if (st->failed()) return Err{st->error("read mgmt_token")};
    return out;
  }

  Result<bool, StoreError> deleteToken(int64_t id) override {
    auto st = c_->prepare("DELETE FROM mgmt_token WHERE id = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, id);
    if (auto r = st->run("delete mgmt_token"); !r) return Err{r.error()};
    return c_->changes() > 0;
  }

  Result<Ok, StoreError> touchToken(int64_t id, int64_t nowUs) override {
    auto st = c_->prepare("UPDATE mgmt_token SET last_used_us = ?2 WHERE id = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, id).bind(2, nowUs);
    if (auto r = st->run("update mgmt_token"); !r) return Err{r.error()};
    return Ok{};
  }

  // ---- login failures
  Result<std::optional<LoginFailure>, StoreError> loginFailure(const std::string& scope,
                                                               const std::string& account,
                                                               const std::string& source) override {
    auto st = c_->prepare(std::string(kFailureSelect) +
                          " WHERE scope = ?1 AND account = ?2 AND source = ?3");
    if (!st) return Err{st.error()};
    st->bind(1, scope).bind(2, account).bind(3, source);
    if (!st->next()) {
      if (st->failed()) return Err{st->error("read mgmt_login_failure")};
      return std::optional<LoginFailure>();
    }
    return std::optional<LoginFailure>(failureRow(*st));
  }

  Result<LoginFailure, StoreError> recordLoginFailure(const std::string& scope,
                                                      const std::string& account,
                                                      const std::string& source, int64_t nowUs,
                                                      const LockoutRule& rule) override {
    auto txn = c_->beginWrite();
    if (!txn) return Err{txn.error()};
    auto result = recordLocked(scope, account, source, nowUs, rule);
    if (!result) return result;
    if (auto r = txn->commit(); !r) return Err{r.error()};
    return result;
  }

  Result<bool, StoreError> clearLoginFailure(const std::string& scope, const std::string& account,
                                             const std::string& source) override {
    auto st = c_->prepare(
        "DELETE FROM mgmt_login_failure WHERE scope = ?1 AND account = ?2 AND source = ?3");
    if (!st) return Err{st.error()};
    st->bind(1, scope).bind(2, account).bind(3, source);
    if (auto r = st->run("delete mgmt_login_failure"); !r) return Err{r.error()};
    return c_->changes() > 0;
  }

  Result<std::vector<LoginFailure>, StoreError> listLoginFailures(int64_t nowUs,
                                                                  int64_t windowUs) override {
    auto st = c_->prepare(std::string(kFailureSelect) +
                          " WHERE locked_until_us > ?1 OR window_start_us > ?1 - ?2"
                          " ORDER BY locked_until_us DESC, updated_us DESC LIMIT 10000");
    if (!st) return Err{st.error()};
    st->bind(1, nowUs).bind(2, windowUs);
    std::vector<LoginFailure> out;
    while (st->next()) out.push_back(failureRow(*st));
    if (st->failed()) return Err{st->error("read mgmt_login_failure")};
    return out;
  }

  // ---- audit
  Result<int64_t, StoreError> appendAudit(const AuditEntry& e) override {
    auto st = c_->prepare(
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
    if (auto r = st->run("insert mgmt_audit"); !r) return Err{r.error()};
    const int64_t id = c_->lastInsertRowid();
    // Keep the log bounded: every 1024 rows, drop what is older than the
    // newest kMaxAuditRows (ids increase with time).
    if (id % 1024 == 0) {
      auto del = c_->prepare("DELETE FROM mgmt_audit WHERE id <= ?1");
      if (del) {
        del->bind(1, id - kMaxAuditRows);
        (void)del->next();
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
    auto st = c_->prepare(sql);
    if (!st) return Err{st.error()};
    st->bind(1, q.beforeId > 0 ? q.beforeId : std::numeric_limits<int64_t>::max());
    if (!q.actor.empty()) st->bind(2, q.actor);
    if (!q.action.empty()) st->bind(3, q.action);
    if (q.fromUs > 0) st->bind(4, q.fromUs);
    if (q.toUs > 0) st->bind(5, q.toUs);
    st->bind(6, static_cast<int64_t>(limit));
    while (st->next()) {
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
    if (st->failed()) return Err{st->error("read mgmt_audit")};
    return out;
  }

 private:
  static constexpr const char* kTokenSelect =
      "SELECT id, name, \"user\", role, token_hash, created_us, expires_us, last_used_us "
      "FROM mgmt_token";
  static constexpr const char* kFailureSelect =
      "SELECT scope, account, source, failures, window_start_us, locked_until_us, updated_us "
      "FROM mgmt_login_failure";

  Result<bool, StoreError> deleteWhere(const char* sql, const std::string& key) {
    auto st = c_->prepare(sql);
    if (!st) return Err{st.error()};
    st->bind(1, key);
    if (auto r = st->run("delete"); !r) return Err{r.error()};
    return c_->changes() > 0;
  }

  static MgmtUser userRow(const typename Db::Statement& st) {
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

  static ApiToken tokenRow(const typename Db::Statement& st) {
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

  Result<std::optional<ApiToken>, StoreError> oneToken(typename Db::Statement& st) {
    if (!st.next()) {
      if (st.failed()) return Err{st.error("read mgmt_token")};
      return std::optional<ApiToken>();
    }
    return std::optional<ApiToken>(tokenRow(st));
  }

  static LoginFailure failureRow(const typename Db::Statement& st) {
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
    auto st = c_->prepare(
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
    if (auto r = st->run("write mgmt_login_failure"); !r) return Err{r.error()};
    if (isNew) {
      // Bound the table: the keys (account names tried, source IPs) are
      // chosen by whoever tries to log in.
      auto count = c_->prepare("SELECT count(*) FROM mgmt_login_failure");
      if (!count) return Err{count.error()};
      if (!count->next()) return Err{count->error("count mgmt_login_failure")};
      const int64_t n = count->int64(0);
      if (n > static_cast<int64_t>(rule.maxRows)) {
        auto del = c_->prepare(
            "DELETE FROM mgmt_login_failure WHERE (scope, account, source) IN (SELECT scope, "
            "account, source FROM mgmt_login_failure ORDER BY (locked_until_us > ?1), "
            "updated_us LIMIT ?2)");
        if (!del) return Err{del.error()};
        del->bind(1, nowUs).bind(2, n - static_cast<int64_t>(rule.maxRows));
        if (auto r = del->run("evict mgmt_login_failure"); !r) return Err{r.error()};
      }
    }
    return f;
  }

  std::unique_ptr<Db> c_;
};

}  // namespace

Result<std::unique_ptr<MgmtStore>, StoreError> openSqliteMgmtStore(const std::string& path) {
  auto c = detail::openMigratedSqliteFile(path, "the management store");
  if (!c) return Err{c.error()};
  return std::unique_ptr<MgmtStore>(
      std::make_unique<SqlMgmtStore<detail::SqliteConnection>>(std::move(c).value()));
}

Result<std::unique_ptr<MgmtStore>, StoreError> openPgMgmtStore(const PgTarget& target) {
  auto c = detail::openMigratedPg(target);
  if (!c) return Err{c.error()};
  return std::unique_ptr<MgmtStore>(
      std::make_unique<SqlMgmtStore<detail::PgConnection>>(std::move(c).value()));
}

}  // namespace tollgate::store
