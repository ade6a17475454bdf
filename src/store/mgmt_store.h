// The management plane's persistent state: users, login sessions, API
// tokens, login-failure counters (brute-force lockout) and the audit log
// (docs/api.md). Plain records; the rules (roles, hashing, lockout policy)
// live in src/mgmt. Secrets are never stored: passwords as argon2id strings,
// tokens as their SHA-256 hex digest.
//
// Threading: one MgmtStore is one session with the backend: externally
// synchronized; open one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace tollgate::store {

struct MgmtUser {
  std::string name;
  std::string role;          // "admin" | "operator" | "readonly"
  std::string passwordHash;  // crypto_pwhash_str output
  bool enabled = true;
  int64_t createdUs = 0;
  int64_t updatedUs = 0;
  int64_t passwordUs = 0;  // last password change
};

struct MgmtSession {
  std::string tokenHash;
  std::string user;
  std::string source;  // ip:port that logged in
  int64_t createdUs = 0;
  int64_t expiresUs = 0;  // absolute end
  int64_t lastUsedUs = 0;
};

struct ApiToken {
  int64_t id = 0;
  std::string name;
  std::string user;
  std::string role;  // at most the user's role
  std::string tokenHash;
  int64_t createdUs = 0;
  int64_t expiresUs = 0;  // 0 = never
  int64_t lastUsedUs = 0;
};

// Failure counter of one lockout key: (scope, account, source).
struct LoginFailure {
  std::string scope;    // "pair" | "source" | "account"
  std::string account;  // "" for scope source
  std::string source;   // IP, "" for scope account
  int failures = 0;
  int64_t windowStartUs = 0;
  int64_t lockedUntilUs = 0;  // 0 = not locked
  int64_t updatedUs = 0;
};

// The lockout rule applied by recordLoginFailure (mgmt decides the numbers).
struct LockoutRule {
  int attempts = 5;          // failures within window that lock
  int64_t windowUs = 0;      // failures older than this are forgotten
  int64_t durationUs = 0;    // how long a lock lasts
  size_t maxRows = 100'000;  // hard bound of the counters kept (attacker-chosen keys)
};

struct AuditEntry {
  int64_t id = 0;
  int64_t timeUs = 0;
  std::string actor;
  std::string source;
  std::string action;
  std::string target;
  std::string result;
  std::string before;  // JSON text or ""
  std::string after;   // JSON text or ""
};

struct AuditQuery {
  size_t limit = 100;    // newest first; clamped to kMaxAuditListLimit
  int64_t beforeId = 0;  // paging
  std::string actor;     // "" = any
  std::string action;    // "" = any; a trailing '.' matches a prefix ("login.")
  int64_t fromUs = 0;
  int64_t toUs = 0;
};
inline constexpr size_t kMaxAuditListLimit = 10'000;
// The audit log keeps at most this many entries; the oldest go first. Failed
// logins are audited and their volume is chosen by whoever tries.
inline constexpr int64_t kMaxAuditRows = 1'000'000;

class MgmtStore {
 public:
  virtual ~MgmtStore() = default;

  // Users. insertUser returns false when the name exists; update/delete
  // return false when it does not. Deleting a user deletes its sessions and
  // tokens.
  virtual Result<std::optional<MgmtUser>, StoreError> findUser(const std::string& name) = 0;
  virtual Result<std::vector<MgmtUser>, StoreError> listUsers() = 0;
  virtual Result<bool, StoreError> insertUser(const MgmtUser& u) = 0;
  virtual Result<bool, StoreError> updateUser(const MgmtUser& u) = 0;
  virtual Result<bool, StoreError> deleteUser(const std::string& name) = 0;
  // Enabled admins other than `except` (to refuse removing the last one).
  virtual Result<size_t, StoreError> countEnabledAdmins(const std::string& except) = 0;

  // Sessions.
  virtual Result<Ok, StoreError> insertSession(const MgmtSession& s) = 0;
  virtual Result<std::optional<MgmtSession>, StoreError> findSession(
      const std::string& tokenHash) = 0;
  virtual Result<Ok, StoreError> touchSession(const std::string& tokenHash, int64_t nowUs) = 0;
  virtual Result<bool, StoreError> deleteSession(const std::string& tokenHash) = 0;
  virtual Result<size_t, StoreError> deleteUserSessions(const std::string& user) = 0;
  // Deletes sessions past their absolute expiry or idle longer than idleUs.
  virtual Result<size_t, StoreError> pruneSessions(int64_t nowUs, int64_t idleUs) = 0;

  // API tokens. insertToken assigns the id.
  virtual Result<int64_t, StoreError> insertToken(const ApiToken& t) = 0;
  virtual Result<std::optional<ApiToken>, StoreError> findToken(const std::string& tokenHash) = 0;
  virtual Result<std::optional<ApiToken>, StoreError> findTokenById(int64_t id) = 0;
  virtual Result<std::vector<ApiToken>, StoreError> listTokens(const std::string& user) = 0;
  virtual Result<bool, StoreError> deleteToken(int64_t id) = 0;
  virtual Result<Ok, StoreError> touchToken(int64_t id, int64_t nowUs) = 0;

  // Login failures. loginFailure reads one key. recordLoginFailure counts
  // one failure in one transaction (a counter whose window has passed, or
  // whose lock has expired, starts again) and returns the updated counter,
  // locked when it reached rule.attempts. Keeps at most rule.maxRows
  // counters by dropping unlocked ones first, oldest first.
  virtual Result<std::optional<LoginFailure>, StoreError> loginFailure(
      const std::string& scope, const std::string& account, const std::string& source) = 0;
  virtual Result<LoginFailure, StoreError> recordLoginFailure(const std::string& scope,
                                                              const std::string& account,
                                                              const std::string& source,
                                                              int64_t nowUs,
                                                              const LockoutRule& rule) = 0;
  virtual Result<bool, StoreError> clearLoginFailure(const std::string& scope,
                                                     const std::string& account,
                                                     const std::string& source) = 0;
  // Counters with failures in their window or a lock not yet expired.
  virtual Result<std::vector<LoginFailure>, StoreError> listLoginFailures(int64_t nowUs,
                                                                          int64_t windowUs) = 0;

  // Audit log.
  virtual Result<int64_t, StoreError> appendAudit(const AuditEntry& e) = 0;
  virtual Result<std::vector<AuditEntry>, StoreError> listAudit(const AuditQuery& q) = 0;
};

// The SQLite backend (sqlite_backend.h): the management state in the store
// file at `path` (created and migrated as by openSqliteStore).
Result<std::unique_ptr<MgmtStore>, StoreError> openSqliteMgmtStore(const std::string& path);

}  // namespace tollgate::store
