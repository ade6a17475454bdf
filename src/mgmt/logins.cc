// Logins, sessions, tokens and lockout (logins.h).
#include "mgmt/logins.h"

#include <algorithm>
#include <cctype>

#include "common/ascii.h"
#include "common/log.h"
#include "mgmt/secrets.h"

namespace tollgate::mgmt {
namespace {

// A session or token is written back as "used" at most this often, so a
// busy API client does not turn every read into a store write.
constexpr int64_t kTouchIntervalUs = 60'000'000;

}  // namespace

std::optional<Role> roleFromName(std::string_view name) {
  if (name == "admin") return Role::Admin;
  if (name == "operator") return Role::Operator;
  if (name == "readonly") return Role::Readonly;
  return std::nullopt;
}

std::string_view roleName(Role r) {
  switch (r) {
    case Role::Admin:
      return "admin";
    case Role::Operator:
      return "operator";
    case Role::Readonly:
      return "readonly";
  }
  return "readonly";
}

bool validUserName(std::string_view name) {
  if (name.empty() || name.size() > kMaxUserNameLength) return false;
  if (name == kLocalPrincipal) return false;  // reserved for the CLI token
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

LoginService::LoginService(LoginSettings settings, const Clock& clock, ApiCounters& counters,
                           std::string localTokenHash)
    : settings_(settings),
      clock_(clock),
      counters_(counters),
      localTokenHash_(std::move(localTokenHash)) {
  // Verified when the user does not exist, so that case costs what a wrong
  // password costs.
  dummyHash_ = hashPassword(newToken("dummy")).value_or("");
}

bool LoginService::verify(const std::string& hash, std::string_view password) {
  hashSlots_.acquire();
  bool ok = verifyPassword(hash, password);
  hashSlots_.release();
  return ok;
}

std::optional<std::string> LoginService::hash(std::string_view password) {
  hashSlots_.acquire();
  auto h = hashPassword(password);
  hashSlots_.release();
  return h;
}

std::vector<LoginService::LockKey> LoginService::lockKeys(const std::string& account,
                                                          const std::string& ip) {
  std::vector<LockKey> keys;
  keys.push_back({"source", "", ip, &counters_.lockoutsSource});
  if (!account.empty()) {
    keys.push_back({"pair", account, ip, &counters_.lockoutsPair});
    if (settings_.accountScope)
      keys.push_back({"account", account, "", &counters_.lockoutsAccount});
  }
  return keys;
}

namespace {

std::string slotKey(const char* scope, const std::string& account, const std::string& source) {
  std::string k = scope;
  k += '\x1f';
  k += account;
  k += '\x1f';
  k += source;
  return k;
}

}  // namespace

std::optional<LoginOutcome> LoginService::admit(store::MgmtStore& st,
                                                const std::vector<LockKey>& keys, int64_t now) {
  std::lock_guard lock(lockoutMu_);
  LoginOutcome out;
  out.kind = LoginOutcome::Kind::Locked;
  int64_t until = 0;
  bool full = false;
  for (const LockKey& k : keys) {
    int failures = 0;
    auto f = st.loginFailure(k.scope, k.account, k.source);
    if (f.ok() && f->has_value()) {
      const store::LoginFailure& row = **f;
      if (row.lockedUntilUs > now) {
        until = std::max(until, row.lockedUntilUs);
        continue;
      }
      // The store starts a counter again once its window has passed or its
      // lock expired (MgmtStore::recordLoginFailure); count it the same way.
      const bool lockExpired = row.lockedUntilUs != 0;
      const bool windowPassed = now - row.windowStartUs >= settings_.windowUs;
      if (!lockExpired && !windowPassed) failures = row.failures;
    }
    auto it = inFlight_.find(slotKey(k.scope, k.account, k.source));
    const int pending = it == inFlight_.end() ? 0 : it->second;
    if (failures + pending >= settings_.attempts) full = true;
  }
  if (until > now) {
    counters_.loginRefusedLocked.fetch_add(1, std::memory_order_relaxed);
    out.retryAfterSeconds = (until - now + 999'999) / 1'000'000;
    out.detail = "refused while locked";
    return out;
  }
  if (full) {
    // The attempts being checked decide whether the key locks; this one
    // waits for them instead of adding a password check over the limit.
    counters_.loginRefusedInFlight.fetch_add(1, std::memory_order_relaxed);
    out.retryAfterSeconds = 1;
    out.detail = "refused: attempts in progress reach the limit";
    return out;
  }
  for (const LockKey& k : keys) ++inFlight_[slotKey(k.scope, k.account, k.source)];
  return std::nullopt;
}

void LoginService::settle(store::MgmtStore& st, const std::vector<LockKey>& keys, Verdict v,
                          int64_t now, LoginOutcome& out) {
  std::lock_guard lock(lockoutMu_);
  for (const LockKey& k : keys) {
    auto it = inFlight_.find(slotKey(k.scope, k.account, k.source));
    if (it != inFlight_.end() && --it->second <= 0) inFlight_.erase(it);
  }
  if (v == Verdict::Undecided) return;
  if (v == Verdict::Matched) {
    // Success resets the pair's (and account's) counter, not the source's:
    // one good account must not reset a password sprayer's count.
    for (const LockKey& k : keys) {
      if (std::string_view(k.scope) != "source")
        (void)st.clearLoginFailure(k.scope, k.account, k.source);
    }
    return;
  }
  store::LockoutRule rule{settings_.attempts, settings_.windowUs, settings_.durationUs,
                          settings_.maxLockRows};
  for (const LockKey& k : keys) {
    auto f = st.recordLoginFailure(k.scope, k.account, k.source, now, rule);
    if (!f) {
      log::error("api.lockout_store_failed").kv("error", f.error().message);
      continue;
    }
    if (f->lockedUntilUs > now && f->failures == settings_.attempts) {
      k.started->fetch_add(1, std::memory_order_relaxed);
      out.locked.push_back(k.scope);
      log::warn("api.login_locked")
          .kv("scope", k.scope)
          .kv("account", k.account)
          .kv("source", k.source)
          .kv("seconds", (f->lockedUntilUs - now) / 1'000'000);
    }
  }
}

bool LoginService::passwordMatches(const std::optional<store::MgmtUser>& user,
                                   std::string_view password) {
  const bool usable = user && user->enabled;
  const bool ok = verify(usable ? user->passwordHash : dummyHash_, password);
  return usable && ok;
}

LoginOutcome LoginService::countedCheck(store::MgmtStore& st, const std::string& account,
                                        std::string_view password, const std::string& ip,
                                        std::optional<store::MgmtUser>& found) {
  LoginOutcome out;
  const std::vector<LockKey> keys = lockKeys(account, ip);
  // Counted before the hash is checked: parallel attempts cannot outrun
  // the limit.
  if (auto refused = admit(st, keys, clock_.wallMicros())) return *refused;
  if (!account.empty()) {
    auto u = st.findUser(account);
    if (!u) {
      settle(st, keys, Verdict::Undecided, clock_.wallMicros(), out);
      out.kind = LoginOutcome::Kind::StoreError;
      out.detail = u.error().message;
      return out;
    }
    found = *u;
  }
  const bool ok = passwordMatches(found, password);
  settle(st, keys, ok ? Verdict::Matched : Verdict::Failed, clock_.wallMicros(), out);
  if (!ok) {
    counters_.loginFailed.fetch_add(1, std::memory_order_relaxed);
    out.kind = LoginOutcome::Kind::Failed;
    return out;
  }
  out.kind = LoginOutcome::Kind::Ok;
  return out;
}

LoginOutcome LoginService::login(store::MgmtStore& st, const std::string& user,
                                 std::string_view password, const net::IpAddress& source,
                                 const std::string& sourceText) {
  const bool nameOk = validUserName(user) && password.size() <= kMaxPasswordBytes;
  std::optional<store::MgmtUser> found;
  LoginOutcome out =
      countedCheck(st, nameOk ? user : std::string(), password, source.toString(), found);
  if (out.kind == LoginOutcome::Kind::Failed) {
    out.detail = !nameOk ? "invalid user name" : "wrong user name or password";
  }
  if (out.kind != LoginOutcome::Kind::Ok) return out;

  const int64_t now = clock_.wallMicros();
  if (passwordNeedsRehash(found->passwordHash)) {
    if (auto h = hash(password)) {
      store::MgmtUser u = *found;
      u.passwordHash = *h;
      (void)st.updateUser(u);
    }
  }
  store::MgmtSession s;
  out.token = newToken(kSessionPrefix);
  s.tokenHash = sha256Hex(out.token);
  s.user = user;
  s.source = sourceText;
  s.createdUs = now;
  s.expiresUs = now + settings_.sessionLifetimeUs;
  s.lastUsedUs = now;
  if (auto r = st.insertSession(s); !r) {
    out.kind = LoginOutcome::Kind::StoreError;
    out.detail = r.error().message;
    out.token.clear();
    return out;
  }
  (void)st.pruneSessions(now, settings_.sessionIdleUs);
  counters_.loginSucceeded.fetch_add(1, std::memory_order_relaxed);
  out.kind = LoginOutcome::Kind::Ok;
  out.expiresUs = s.expiresUs;
  out.role = roleFromName(found->role).value_or(Role::Readonly);
  return out;
}

LoginOutcome LoginService::confirmPassword(store::MgmtStore& st, const std::string& user,
                                           std::string_view password,
                                           const net::IpAddress& source) {
  std::optional<store::MgmtUser> found;
  LoginOutcome out = countedCheck(st, user, password, source.toString(), found);
  if (out.kind == LoginOutcome::Kind::Failed) out.detail = "wrong current password";
  return out;
}

namespace {

// The token of "Bearer <token>" (spaces around it trimmed); nullopt when the
// header is not a bearer header.
std::optional<std::string_view> bearerToken(std::string_view header) {
  constexpr std::string_view kBearer = "bearer ";
  if (header.size() <= kBearer.size() || !ascii::istartsWith(header, kBearer)) return std::nullopt;
  std::string_view token = header.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

}  // namespace

std::optional<Result<Principal, AuthFailure>> LoginService::authenticateLocal(
    std::string_view header) const {
  auto token = bearerToken(header);
  if (!token || token->size() > kMaxTokenLength ||
      token->substr(0, kLocalTokenPrefix.size()) != kLocalTokenPrefix) {
    return std::nullopt;
  }
  if (localTokenHash_.empty() || !constantTimeEquals(sha256Hex(*token), localTokenHash_)) {
    return Result<Principal, AuthFailure>(Err{AuthFailure::Invalid});
  }
  return Result<Principal, AuthFailure>(
      Principal{std::string(kLocalPrincipal), Role::Admin, Principal::Kind::Local, "", 0});
}

Result<Principal, AuthFailure> LoginService::authenticate(store::MgmtStore& st,
                                                          std::string_view header) {
  if (auto local = authenticateLocal(header)) return std::move(*local);
  auto bearer = bearerToken(header);
  if (!bearer) return Err{AuthFailure::Missing};
  const std::string_view token = *bearer;
  if (token.empty() || token.size() > kMaxTokenLength) return Err{AuthFailure::Invalid};
  const std::string digest = sha256Hex(token);
  const int64_t now = clock_.wallMicros();

  auto userRole = [&](const std::string& name) -> std::optional<Role> {
    auto u = st.findUser(name);
    if (!u.ok() || !u->has_value() || !(*u)->enabled) return std::nullopt;
    return roleFromName((*u)->role);
  };

  if (token.substr(0, kSessionPrefix.size()) == kSessionPrefix) {
    auto s = st.findSession(digest);
    if (!s) return Err{AuthFailure::StoreError};
    if (!s->has_value()) return Err{AuthFailure::Invalid};
    const store::MgmtSession& sess = **s;
    if (sess.expiresUs <= now || sess.lastUsedUs + settings_.sessionIdleUs <= now) {
      (void)st.deleteSession(digest);
      return Err{AuthFailure::Expired};
    }
    auto role = userRole(sess.user);
    if (!role) return Err{AuthFailure::Invalid};
    if (now - sess.lastUsedUs >= kTouchIntervalUs) (void)st.touchSession(digest, now);
    return Principal{sess.user, *role, Principal::Kind::Session, digest, 0, sess.expiresUs};
  }

  if (token.substr(0, kApiTokenPrefix.size()) == kApiTokenPrefix) {
    auto t = st.findToken(digest);
    if (!t) return Err{AuthFailure::StoreError};
    if (!t->has_value()) return Err{AuthFailure::Invalid};
    const store::ApiToken& tok = **t;
    if (tok.expiresUs != 0 && tok.expiresUs <= now) return Err{AuthFailure::Expired};
    auto role = userRole(tok.user);
    if (!role) return Err{AuthFailure::Invalid};
    // A token never has more rights than its user has now.
    Role r = std::min(*role, roleFromName(tok.role).value_or(Role::Readonly));
    if (now - tok.lastUsedUs >= kTouchIntervalUs) (void)st.touchToken(tok.id, now);
    return Principal{tok.user, r, Principal::Kind::Token, "", tok.id, tok.expiresUs};
  }
  return Err{AuthFailure::Invalid};
}

Result<std::vector<store::LoginFailure>, store::StoreError> LoginService::lockouts(
    store::MgmtStore& st) {
  return st.listLoginFailures(clock_.wallMicros(), settings_.windowUs);
}

size_t LoginService::activeLocks(store::MgmtStore& st) {
  auto all = lockouts(st);
  if (!all) return 0;
  const int64_t now = clock_.wallMicros();
  return static_cast<size_t>(std::count_if(all->begin(), all->end(),
                                           [&](const auto& f) { return f.lockedUntilUs > now; }));
}

}  // namespace tollgate::mgmt
