// API resources of logins and people: login/logout, users, passwords, API
// tokens, lockouts and the audit log. Every change is audited (who, from
// where, what, before/after); secrets never reach the audit log.
#include <charconv>
#include <chrono>

#include "common/log.h"
#include "mgmt/api_internal.h"
#include "mgmt/password_policy.h"
#include "mgmt/secrets.h"

namespace tollgate::mgmt {
namespace {

using Clock = std::chrono::steady_clock;

Json userJson(const store::MgmtUser& u) {
  return Json{{"name", u.name},
              {"role", u.role},
              {"enabled", u.enabled},
              {"created", timeOrNull(u.createdUs)},
              {"updated", timeOrNull(u.updatedUs)},
              {"password_changed", timeOrNull(u.passwordUs)}};
}

Json tokenJson(const store::ApiToken& t) {
  return Json{{"id", t.id},
              {"name", t.name},
              {"user", t.user},
              {"role", t.role},
              {"created", timeOrNull(t.createdUs)},
              {"expires", timeOrNull(t.expiresUs)},
              {"last_used", timeOrNull(t.lastUsedUs)}};
}

Json lockJson(const store::LoginFailure& f) {
  return Json{{"scope", f.scope},
              {"account", f.account},
              {"source", f.source},
              {"failures", f.failures},
              {"window_start", timeOrNull(f.windowStartUs)},
              {"locked_until", timeOrNull(f.lockedUntilUs)}};
}

Role parseRole(const std::string& name, const char* field) {
  auto r = roleFromName(name);
  if (!r) fail(400, "invalid_field", field, "must be \"admin\", \"operator\" or \"readonly\"");
  return *r;
}

void checkPolicy(RequestContext& ctx, const std::string& password, const std::string& user) {
  PasswordVerdict v = checkPassword(password, user, ctx.api.settings.login.passwordMinLength);
  if (!v.ok) fail(400, "weak_password", "password", v.message + " (rule " + v.rule + ")");
}

// A credential gives away at most what it has: the role of a user or
// token it creates or edits, and the role of a user it edits or deletes,
// must not exceed its own effective role.
void requireAtMostOwn(RequestContext& ctx, Role role, PrivilegeRefusal why, const char* field,
                      const std::string& target) {
  const Role own = ctx.principal->role;
  if (role <= own) return;
  const bool isTarget = why == PrivilegeRefusal::TargetAboveOwn;
  refusePrivilege(ctx, why, 403, "forbidden", field,
                  std::string(isTarget ? "the user has" : "must not exceed") + " the " +
                      std::string(roleName(role)) + " role, above yours (" +
                      std::string(roleName(own)) + ")",
                  target);
}

store::MgmtUser mustFindUser(RequestContext& ctx, const std::string& name) {
  auto u = ctx.mgmt().findUser(name);
  if (!u) fail(503, "store_unavailable", "", u.error().message);
  if (!u->has_value()) fail(404, "not_found", "name", "no user \"" + name + "\"");
  return **u;
}

// --- login / logout / whoami

}  // namespace

LoginOutcome checkLogin(RequestContext& ctx, const httplib::Request& req, httplib::Response& res,
                        std::string& user) {
  Json body = parseBody(req);
  JsonFields f(body);
  user = f.string("username", true, 256).value();
  const std::string password = f.string("password", true, 4096).value();
  f.finish();
  // Not timed as store latency: most of a login is the argon2id hash.
  LoginOutcome out =
      ctx.api.logins.login(ctx.mgmt(), user, password, ctx.peer.ip(), ctx.peer.toString());
  // The name tried is recorded as given (it may not exist); the password never.
  const std::string actor = validUserName(user) ? user : "(invalid name)";
  switch (out.kind) {
    case LoginOutcome::Kind::Ok:
      ctx.audit("login", user, "ok", nullptr, nullptr, user);
      break;
    case LoginOutcome::Kind::Locked:
      ctx.audit("login.refused_locked", actor, "refused", nullptr,
                Json{{"retry_after", out.retryAfterSeconds}}, actor);
      res.set_header("Retry-After", std::to_string(out.retryAfterSeconds));
      sendError(res, {429, "locked", "",
                      "too many failed logins from here; try again in " +
                          std::to_string(out.retryAfterSeconds) + " s"});
      break;
    case LoginOutcome::Kind::Failed:
      ctx.audit("login.failed", actor, "failed", nullptr, Json{{"reason", out.detail}}, actor);
      for (const std::string& scope : out.locked) {
        ctx.audit("lockout.start", actor, "locked", nullptr,
                  Json{{"scope", scope},
                       {"account", scope == "source" ? "" : actor},
                       {"source", scope == "account" ? "" : ctx.peer.ip().toString()},
                       {"seconds", ctx.api.settings.login.durationUs / 1'000'000}},
                  actor);
      }
      // One answer for unknown users, disabled users and wrong passwords.
      sendError(res, {401, "login_failed", "", "wrong user name or password"});
      break;
    case LoginOutcome::Kind::StoreError:
      log::error("api.login_store_error").kv("error", out.detail);
      sendError(res, {503, "store_unavailable", "", "cannot read the store"});
      break;
  }
  return out;
}

namespace {

void login(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  std::string user;
  LoginOutcome out = checkLogin(ctx, req, res, user);
  if (out.kind != LoginOutcome::Kind::Ok) return;
  sendJson(res, 200,
           Json{{"token", out.token},
                {"expires", isoTime(out.expiresUs)},
                {"user", user},
                {"role", std::string(roleName(out.role))}});
}

void logout(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  const Principal& p = *ctx.principal;
  if (p.kind != Principal::Kind::Session) {
    fail(400, "not_a_session", "",
         "only sessions log out; revoke tokens with DELETE /api/v1/tokens/{id}");
  }
  (void)ctx.mgmt().deleteSession(p.sessionHash);
  ctx.audit("logout", p.name, "ok");
  res.status = 204;
}

void whoami(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  const Principal& p = *ctx.principal;
  const char* kind = p.kind == Principal::Kind::Session ? "session"
                     : p.kind == Principal::Kind::Token ? "token"
                                                        : "local";
  sendJson(res, 200,
           Json{{"user", p.name}, {"role", std::string(roleName(p.role))}, {"auth", kind}});
}

// --- users

void listUsers(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto users = ctx.mgmt().listUsers();
  if (!users) fail(503, "store_unavailable", "", users.error().message);
  Json arr = Json::array();
  for (const auto& u : *users) arr.push_back(userJson(u));
  sendJson(res, 200, Json{{"users", arr}});
}

void getUser(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  sendJson(res, 200, userJson(mustFindUser(ctx, ctx.params[0])));
}

void createUser(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parseBody(req);
  JsonFields f(body);
  std::string name = f.string("name", true, kMaxUserNameLength + 1).value();
  std::string role = f.string("role", true, 16).value();
  std::string password = f.string("password", true, 4096).value();
  bool enabled = f.boolean("enabled", false).value_or(true);
  f.finish();
  if (!validUserName(name)) {
    fail(400, "invalid_field", "name", "must be 1-64 of A-Z a-z 0-9 . _ - (and not local-cli)");
  }
  requireAtMostOwn(ctx, parseRole(role, "role"), PrivilegeRefusal::RoleAboveOwn, "role", name);
  checkPolicy(ctx, password, name);
  auto hash = ctx.api.logins.hash(password);
  if (!hash) fail(503, "hash_failed", "", "cannot hash the password (out of memory)");
  const int64_t now = ctx.api.clock.wallMicros();
  store::MgmtUser u{name, role, *hash, enabled, now, now, now};
  auto ins = ctx.mgmt().insertUser(u);
  if (!ins) fail(503, "store_unavailable", "", ins.error().message);
  if (!*ins) fail(409, "conflict", "name", "a user \"" + name + "\" exists");
  ctx.audit("user.create", name, "ok", nullptr, userJson(u));
  sendJson(res, 201, userJson(u));
}

void updateUser(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parseBody(req);
  JsonFields f(body);
  auto role = f.string("role", false, 16);
  auto enabled = f.boolean("enabled", false);
  f.finish();
  store::MgmtUser before = mustFindUser(ctx, ctx.params[0]);
  requireAtMostOwn(ctx, roleFromName(before.role).value_or(Role::Admin),
                   PrivilegeRefusal::TargetAboveOwn, "name", before.name);
  store::MgmtUser u = before;
  if (role) {
    requireAtMostOwn(ctx, parseRole(*role, "role"), PrivilegeRefusal::RoleAboveOwn, "role",
                     before.name);
    u.role = *role;
  }
  if (enabled) u.enabled = *enabled;
  // Never leave the node without an enabled admin.
  if (before.role == "admin" && before.enabled && (u.role != "admin" || !u.enabled)) {
    auto n = ctx.mgmt().countEnabledAdmins(u.name);
    if (n && *n == 0)
      fail(409, "last_admin", "role", "the last enabled admin cannot be demoted or disabled");
  }
  u.updatedUs = ctx.api.clock.wallMicros();
  auto up = ctx.mgmt().updateUser(u);
  if (!up) fail(503, "store_unavailable", "", up.error().message);
  if (!u.enabled) (void)ctx.mgmt().deleteUserSessions(u.name);
  ctx.audit("user.update", u.name, "ok", userJson(before), userJson(u));
  sendJson(res, 200, userJson(u));
}

void deleteUser(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  store::MgmtUser before = mustFindUser(ctx, ctx.params[0]);
  requireAtMostOwn(ctx, roleFromName(before.role).value_or(Role::Admin),
                   PrivilegeRefusal::TargetAboveOwn, "name", before.name);
  if (before.role == "admin" && before.enabled) {
    auto n = ctx.mgmt().countEnabledAdmins(before.name);
    if (n && *n == 0) fail(409, "last_admin", "name", "the last enabled admin cannot be deleted");
  }
  auto del = ctx.mgmt().deleteUser(before.name);
  if (!del) fail(503, "store_unavailable", "", del.error().message);
  ctx.audit("user.delete", before.name, "ok", userJson(before), nullptr);
  res.status = 204;
}

void changePassword(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parseBody(req);
  JsonFields f(body);
  auto current = f.string("current_password", false, 4096);
  std::string password = f.string("password", true, 4096).value();
  f.finish();
  const Principal& p = *ctx.principal;
  const std::string& name = ctx.params[0];
  // A token is a credential for automation, possibly with less than its
  // user's role: it never proves who the user is, so it never sets a
  // password (or a readonly token could take over its admin).
  if (p.kind == Principal::Kind::Token) {
    refusePrivilege(ctx, PrivilegeRefusal::TokenChangesPassword, 403, "forbidden", "",
                    "API tokens cannot change passwords; log in to change one", name);
  }
  const bool self = p.name == name;
  if (!self && p.role != Role::Admin) {
    refusePrivilege(ctx, PrivilegeRefusal::OtherUserNotAdmin, 403, "forbidden", "",
                    "only an admin changes another user's password", name);
  }
  store::MgmtUser u = mustFindUser(ctx, name);
  if (!self) {
    requireAtMostOwn(ctx, roleFromName(u.role).value_or(Role::Admin),
                     PrivilegeRefusal::TargetAboveOwn, "name", name);
  }
  // Your own password needs the current one, even from an admin session (a
  // stolen session must not lock the owner out). Wrong guesses count
  // against the login lockout like wrong logins.
  if (self) {
    if (!current) {
      refusePrivilege(ctx, PrivilegeRefusal::CurrentPasswordMissing, 400, "missing_field",
                      "current_password", "is required", name);
    }
    LoginOutcome proof = ctx.api.logins.confirmPassword(ctx.mgmt(), name, *current, ctx.peer.ip());
    for (const std::string& scope : proof.locked) {
      ctx.audit("lockout.start", name, "locked", nullptr,
                Json{{"scope", scope},
                     {"account", scope == "source" ? "" : name},
                     {"source", scope == "account" ? "" : ctx.peer.ip().toString()},
                     {"seconds", ctx.api.settings.login.durationUs / 1'000'000}});
    }
    switch (proof.kind) {
      case LoginOutcome::Kind::Ok:
        break;
      case LoginOutcome::Kind::Locked:
        res.set_header("Retry-After", std::to_string(proof.retryAfterSeconds));
        fail(429, "locked", "",
             "too many failed password checks from here; try again in " +
                 std::to_string(proof.retryAfterSeconds) + " s");
      case LoginOutcome::Kind::Failed:
        refusePrivilege(ctx, PrivilegeRefusal::CurrentPasswordWrong, 403, "wrong_password",
                        "current_password", "is not the current password", name);
      case LoginOutcome::Kind::StoreError:
        fail(503, "store_unavailable", "", "cannot read the store");
    }
  }
  checkPolicy(ctx, password, name);
  auto hash = ctx.api.logins.hash(password);
  if (!hash) fail(503, "hash_failed", "", "cannot hash the password (out of memory)");
  const int64_t now = ctx.api.clock.wallMicros();
  u.passwordHash = *hash;
  u.passwordUs = now;
  u.updatedUs = now;
  auto up = ctx.mgmt().updateUser(u);
  if (!up) fail(503, "store_unavailable", "", up.error().message);
  // Other sessions of the user end with the old password.
  (void)ctx.mgmt().deleteUserSessions(name);
  ctx.audit("user.password", name, "ok");
  res.status = 204;
}

// --- tokens

void listTokens(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const Principal& p = *ctx.principal;
  std::string user = p.role == Role::Admin ? queryString(req, "user", 64) : p.name;
  auto tokens = ctx.mgmt().listTokens(user);
  if (!tokens) fail(503, "store_unavailable", "", tokens.error().message);
  Json arr = Json::array();
  for (const auto& t : *tokens) arr.push_back(tokenJson(t));
  sendJson(res, 200, Json{{"tokens", arr}});
}

void createToken(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parseBody(req);
  JsonFields f(body);
  std::string name = f.string("name", true, 128).value();
  auto role = f.string("role", false, 16);
  auto expiresIn = f.integer("expires_in", false, 60, 10LL * 365 * 86400);
  auto forUser = f.string("user", false, 64);
  f.finish();
  const Principal& p = *ctx.principal;
  if (name.empty()) fail(400, "invalid_field", "name", "must not be empty");
  // The CLI (local-cli) and admin sessions may make tokens for a named
  // user; a token makes tokens only for its own user.
  std::string owner = p.name;
  if (forUser && *forUser != p.name) {
    if (p.kind == Principal::Kind::Token) {
      refusePrivilege(ctx, PrivilegeRefusal::TokenForOtherUser, 403, "forbidden", "user",
                      "an API token makes tokens only for its own user", *forUser);
    }
    if (p.role != Role::Admin) {
      refusePrivilege(ctx, PrivilegeRefusal::OtherUserNotAdmin, 403, "forbidden", "user",
                      "only an admin makes tokens for others", *forUser);
    }
    owner = *forUser;
  }
  if (owner == kLocalPrincipal)
    fail(400, "missing_field", "user", "name the user the token acts as");
  store::MgmtUser u = mustFindUser(ctx, owner);
  Role ownerRole = roleFromName(u.role).value_or(Role::Readonly);
  // Without a role, the token gets what the caller may give: the owner's
  // role, capped by the caller's effective role.
  Role r = role ? parseRole(*role, "role") : std::min(ownerRole, p.role);
  if (r > ownerRole) fail(400, "invalid_field", "role", "must not exceed the user's role");
  requireAtMostOwn(ctx, r, PrivilegeRefusal::RoleAboveOwn, "role", owner);
  const int64_t now = ctx.api.clock.wallMicros();
  int64_t expiresUs = expiresIn ? now + *expiresIn * 1'000'000 : 0;
  // A token cannot make a credential that outlives it: without expires_in
  // the new token ends with its maker.
  if (p.kind == Principal::Kind::Token && p.expiresUs != 0) {
    if (expiresUs == 0) {
      expiresUs = p.expiresUs;
    } else if (expiresUs > p.expiresUs) {
      refusePrivilege(
          ctx, PrivilegeRefusal::TokenOutlivesCredential, 403, "forbidden", "expires_in",
          "must not end after the token making it (" + isoTime(p.expiresUs) + ")", owner);
    }
  }
  store::ApiToken t;
  std::string secret = newToken(kApiTokenPrefix);
  t.name = name;
  t.user = owner;
  t.role = std::string(roleName(r));
  t.tokenHash = sha256Hex(secret);
  t.createdUs = now;
  t.expiresUs = expiresUs;
  auto id = ctx.mgmt().insertToken(t);
  if (!id) fail(503, "store_unavailable", "", id.error().message);
  t.id = *id;
  Json j = tokenJson(t);
  ctx.audit("token.create", std::to_string(t.id), "ok", nullptr, j);
  j["token"] = secret;  // shown once; only its SHA-256 is stored
  sendJson(res, 201, j);
}

void deleteToken(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  int64_t id = 0;
  const std::string& s = ctx.params[0];
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (ec != std::errc() || ptr != s.data() + s.size())
    fail(404, "not_found", "id", "no such token");
  auto t = ctx.mgmt().findTokenById(id);
  if (!t) fail(503, "store_unavailable", "", t.error().message);
  const Principal& p = *ctx.principal;
  if (!t->has_value() || (p.role != Role::Admin && (*t)->user != p.name)) {
    fail(404, "not_found", "id", "no such token");
  }
  (void)ctx.mgmt().deleteToken(id);
  ctx.audit("token.delete", std::to_string(id), "ok", tokenJson(**t), nullptr);
  res.status = 204;
}

// --- lockouts

void listLockouts(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto all = ctx.api.logins.lockouts(ctx.mgmt());
  if (!all) fail(503, "store_unavailable", "", all.error().message);
  Json arr = Json::array();
  for (const auto& f : *all) arr.push_back(lockJson(f));
  sendJson(res, 200, Json{{"lockouts", arr}});
}

void clearLockout(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  std::string scope = queryString(req, "scope", 16);
  std::string account = queryString(req, "account", 256);
  std::string source = queryString(req, "source", 64);
  if (scope != "pair" && scope != "source" && scope != "account") {
    fail(400, "invalid_parameter", "scope", "must be pair, source or account");
  }
  if (scope != "source" && account.empty())
    fail(400, "invalid_parameter", "account", "is required");
  if (scope != "account" && source.empty()) fail(400, "invalid_parameter", "source", "is required");
  if (scope == "source") account.clear();
  if (scope == "account") source.clear();
  if (!source.empty()) {
    auto ip = net::IpAddress::parse(source);
    if (!ip) fail(400, "invalid_parameter", "source", "must be an IP address");
    source = ip->toString();
  }
  auto before = ctx.mgmt().loginFailure(scope, account, source);
  if (!before) fail(503, "store_unavailable", "", before.error().message);
  if (!before->has_value()) fail(404, "not_found", "scope", "no such lockout or failure counter");
  (void)ctx.mgmt().clearLoginFailure(scope, account, source);
  ctx.audit("lockout.clear", scope + ":" + account + "@" + source, "ok", lockJson(**before),
            nullptr);
  res.status = 204;
}

// --- audit

void listAudit(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  store::AuditQuery q;
  q.limit = static_cast<size_t>(queryInt(req, "limit", 1, store::kMaxAuditListLimit, 100));
  q.beforeId = queryInt(req, "before_id", 1, INT64_MAX, 0);
  q.actor = queryString(req, "actor", 256);
  q.action = queryString(req, "action", 64);
  q.fromUs = queryTime(req, "from");
  q.toUs = queryTime(req, "to");
  auto rows = ctx.mgmt().listAudit(q);
  if (!rows) fail(503, "store_unavailable", "", rows.error().message);
  Json arr = Json::array();
  for (const auto& e : *rows) {
    auto parsed = [](const std::string& s) {
      if (s.empty()) return Json(nullptr);
      Json j = Json::parse(s, nullptr, false);
      return j.is_discarded() ? Json(s) : j;
    };
    arr.push_back(Json{{"id", e.id},
                       {"time", isoTime(e.timeUs)},
                       {"actor", e.actor},
                       {"source", e.source},
                       {"action", e.action},
                       {"target", e.target},
                       {"result", e.result},
                       {"before", parsed(e.before)},
                       {"after", parsed(e.after)}});
  }
  Json out{{"entries", arr},
           {"next_before_id",
            rows->size() == q.limit && !rows->empty() ? Json(rows->back().id) : Json(nullptr)}};
  sendJson(res, 200, out);
}

void openapi(RequestContext&, const httplib::Request&, httplib::Response& res) {
  static const std::string doc = buildOpenApi();
  res.status = 200;
  res.set_content(doc, "application/json");
}

}  // namespace

void registerAuthRoutes(std::vector<Route>& r) {
  r.push_back({"GET", "/api/v1/openapi.json", Access::Public, "meta", "This document (OpenAPI 3.0)",
               nullptr, "openapi", 200, nullptr, openapi});
  r.push_back({"POST", "/api/v1/login", Access::Public, "auth",
               "Log in with user name and password; returns a session token", "LoginRequest",
               "Session", 200, nullptr, login});
  r.push_back({"POST", "/api/v1/logout", Access::Read, "auth", "End this session", nullptr, nullptr,
               204, nullptr, logout});
  r.push_back({"GET", "/api/v1/whoami", Access::Read, "auth", "Who this token belongs to", nullptr,
               "Whoami", 200, nullptr, whoami});
  r.push_back({"GET", "/api/v1/users", Access::Admin, "users", "List management users", nullptr,
               "UserList", 200, nullptr, listUsers});
  r.push_back({"POST", "/api/v1/users", Access::Admin, "users", "Create a management user",
               "UserCreate", "User", 201, nullptr, createUser});
  r.push_back({"GET", "/api/v1/users/{name}", Access::Admin, "users", "Read one user", nullptr,
               "User", 200, nullptr, getUser});
  r.push_back({"PATCH", "/api/v1/users/{name}", Access::Admin, "users",
               "Change a user's role or enable/disable it", "UserUpdate", "User", 200, nullptr,
               updateUser});
  r.push_back({"DELETE", "/api/v1/users/{name}", Access::Admin, "users",
               "Delete a user (its sessions and tokens go too)", nullptr, nullptr, 204, nullptr,
               deleteUser});
  r.push_back({"PUT", "/api/v1/users/{name}/password", Access::Read, "users",
               "Set a password (your own from a session with current_password, or another "
               "user's from an admin session; never with an API token)",
               "PasswordChange", nullptr, 204, nullptr, changePassword});
  r.push_back({"GET", "/api/v1/tokens", Access::Read, "tokens",
               "List API tokens (yours; an admin sees all)", nullptr, "TokenList", 200,
               "user:string:admin only: tokens of this user", listTokens});
  r.push_back({"POST", "/api/v1/tokens", Access::Read, "tokens",
               "Create an API token; the secret is in this answer only", "TokenCreate", "Token",
               201, nullptr, createToken});
  r.push_back({"DELETE", "/api/v1/tokens/{id}", Access::Read, "tokens", "Revoke an API token",
               nullptr, nullptr, 204, nullptr, deleteToken});
  r.push_back({"GET", "/api/v1/lockouts", Access::Admin, "auth",
               "Login failure counters and locks in force", nullptr, "LockoutList", 200, nullptr,
               listLockouts});
  r.push_back({"DELETE", "/api/v1/lockouts", Access::Admin, "auth",
               "Clear one lock (unlock) or failure counter", nullptr, nullptr, 204,
               "scope:string:pair, source or account|account:string:user name (pair, "
               "account)|source:string:IP address (pair, source)",
               clearLockout});
  r.push_back({"GET", "/api/v1/audit", Access::Admin, "audit", "The audit log, newest first",
               nullptr, "AuditList", 200,
               "limit:integer:1-10000, default 100|before_id:integer:paging|actor:string:exact "
               "actor|action:string:exact action, or a prefix ending in '.'|from:string:UTC time "
               "or Unix seconds|to:string:UTC time or Unix seconds",
               listAudit});
}

}  // namespace tollgate::mgmt
