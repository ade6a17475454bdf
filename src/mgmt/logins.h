// Management logins (docs/api.md): users with roles, argon2id passwords,
// sessions with an absolute lifetime and an idle timeout, API tokens, the
// local CLI token, and brute-force lockout.
//
// Lockout: every failed login counts against the (account, source IP) pair
// and against the source IP across all accounts; N failures within the
// window lock that key for the lock duration, during which even the right
// password is refused. An attacker can therefore lock only their own
// address, never the real admin at the admin's address. With
// api.lockout_scope = "account" failures also count against the account
// from any address (VOS3000 SERVER_LOGIN_FAILED_DISABLE_TIME behaviour).
// The limit holds under concurrency: an attempt takes a slot of every key
// it counts against, under the lockout mutex, before its password is
// hashed, and a key whose recorded failures plus attempts in flight reach
// the limit admits no more until they are decided; so N parallel attempts
// never check more passwords than the limit (the rest get Locked, retry
// after 1 s). The slots live in this process: nodes sharing a store each
// admit up to the limit at once.
// Answers and timing do not depend on whether the account exists: an
// unknown or disabled user costs one argon2id verification against a dummy
// hash, like a wrong password, and gets the same answer.
//
// Thread-safe: state lives in the store (each caller passes its own
// connection); a mutex serializes the lockout read-modify-write sequences.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/net.h"
#include "mgmt/api_counters.h"
#include "store/mgmt_store.h"

namespace tollgate::mgmt {

enum class Role : uint8_t { Readonly = 0, Operator = 1, Admin = 2 };
std::optional<Role> roleFromName(std::string_view name);
std::string_view roleName(Role r);

// Who made a request.
struct Principal {
  enum class Kind : uint8_t { Session, Token, Local };
  std::string name;  // user name, or "local-cli"
  Role role = Role::Readonly;
  Kind kind = Kind::Session;
  std::string sessionHash;  // Kind::Session
  int64_t tokenId = 0;      // Kind::Token
  int64_t expiresUs = 0;    // Kind::Token: its expiry (0 = never); Kind::Session: its end
};
inline constexpr std::string_view kLocalPrincipal = "local-cli";

// User names: what may be stored (and what a login attempt may name).
inline constexpr size_t kMaxUserNameLength = 64;
bool validUserName(std::string_view name);

struct LoginSettings {
  bool accountScope = false;  // api.lockout_scope = "account"
  int attempts = 5;
  int64_t windowUs = 900'000'000;
  int64_t durationUs = 900'000'000;
  size_t passwordMinLength = 12;
  int64_t sessionLifetimeUs = 28'800'000'000;
  int64_t sessionIdleUs = 1'800'000'000;
  size_t maxLockRows = 100'000;
};

struct LoginOutcome {
  enum class Kind : uint8_t { Ok, Failed, Locked, StoreError };
  Kind kind = Kind::Failed;
  std::string token;  // Ok: the session token (returned once)
  int64_t expiresUs = 0;
  Role role = Role::Readonly;
  int64_t retryAfterSeconds = 0;    // Locked
  std::vector<std::string> locked;  // Failed: lock scopes this failure started
  std::string detail;               // for the audit log (never the password)
};

enum class AuthFailure : uint8_t { Missing, Invalid, Expired, StoreError };

class LoginService {
 public:
  // localTokenHash: sha256Hex of the local CLI token ("" = none).
  LoginService(LoginSettings settings, const Clock& clock, ApiCounters& counters,
               std::string localTokenHash);

  const LoginSettings& settings() const { return settings_; }

  LoginOutcome login(store::MgmtStore& st, const std::string& user, std::string_view password,
                     const net::IpAddress& source, const std::string& sourceText);
  // "Bearer <token>" -> principal. Sessions past their lifetime or idle
  // timeout are deleted and refused.
  Result<Principal, AuthFailure> authenticate(store::MgmtStore& st,
                                              std::string_view authorizationHeader);
  // The node's local token (the CLI's), which needs no store: the API keeps
  // answering the CLI and /metrics while a shared database is away.
  // nullopt when the header carries another kind of token.
  std::optional<Result<Principal, AuthFailure>> authenticateLocal(
      std::string_view authorizationHeader) const;

  // Lock keys in force or counting, for GET /api/v1/lockouts.
  Result<std::vector<store::LoginFailure>, store::StoreError> lockouts(store::MgmtStore& st);
  size_t activeLocks(store::MgmtStore& st);

  // A password proof other than a login (the current password of a
  // password change): counted and locked like a login of `user` from
  // `source`, so a stolen session cannot guess the password either.
  LoginOutcome confirmPassword(store::MgmtStore& st, const std::string& user,
                               std::string_view password, const net::IpAddress& source);

  // Hashes a password with the same concurrency bound as logins.
  std::optional<std::string> hash(std::string_view password);

 private:
  // The lock keys one attempt counts against: (scope, account, source).
  struct LockKey {
    const char* scope;
    std::string account;
    std::string source;
    std::atomic<uint64_t>* started;  // lockouts counter of the scope
  };
  std::vector<LockKey> lockKeys(const std::string& account, const std::string& ip);
  // Under lockoutMu_: refuses (Locked) when a key is locked or its failures
  // plus attempts in flight reach the limit; otherwise takes a slot of
  // every key. Returns nullopt when the attempt may check the password.
  std::optional<LoginOutcome> admit(store::MgmtStore& st, const std::vector<LockKey>& keys,
                                    int64_t now);
  // Gives the slots back; a failure is recorded (and may start locks), a
  // match resets the pair and account counters, Undecided (store error)
  // changes nothing.
  enum class Verdict : uint8_t { Matched, Failed, Undecided };
  void settle(store::MgmtStore& st, const std::vector<LockKey>& keys, Verdict v, int64_t now,
              LoginOutcome& out);
  // One password check counted against the lockout of (account, ip):
  // admit, look the account up ("" = no lookup: the dummy hash), verify,
  // settle. Ok, Failed, Locked or StoreError; `found` gets the user.
  LoginOutcome countedCheck(store::MgmtStore& st, const std::string& account,
                            std::string_view password, const std::string& ip,
                            std::optional<store::MgmtUser>& found);
  // Verifies a password with the concurrency bound of hashSlots_. Private:
  // every password check goes through countedCheck (the lockout).
  bool verify(const std::string& hash, std::string_view password);
  // Hash check of a known (or unknown) user's password.
  bool passwordMatches(const std::optional<store::MgmtUser>& user, std::string_view password);

  LoginSettings settings_;
  const Clock& clock_;
  ApiCounters& counters_;
  std::string localTokenHash_;
  std::string dummyHash_;
  std::mutex lockoutMu_;
  // Attempts admitted to the password check and not yet decided, by lock
  // key. Guarded by lockoutMu_; bounded by the API's connection threads.
  std::unordered_map<std::string, int> inFlight_;
  // argon2id with m=64 MiB: bound memory and CPU when logins pile up.
  std::counting_semaphore<2> hashSlots_{2};
};

}  // namespace tollgate::mgmt
