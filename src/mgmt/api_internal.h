// Internal to the management API (src/mgmt/api_*.cc): the route table, the
// per-request context, JSON helpers and the error type the handlers throw.
// Includes cpp-httplib and nlohmann-json, so it must stay out of every
// header outside this folder. Types here follow the threading rule of the
// server: the shared state is thread-safe, a RequestContext belongs to the
// connection thread serving the request.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "mgmt/access_list.h"
#include "mgmt/api_counters.h"
#include "mgmt/api_server.h"
#include "mgmt/live_feed.h"
#include "mgmt/log_limiter.h"
#include "mgmt/logins.h"
#include "mgmt/sip_trace.h"
#include "store/ban_store.h"
#include "store/mgmt_store.h"
#include "store/pg_target.h"
#include "store/policy_store.h"
#include "store/store.h"
#include "store/suspension_store.h"

namespace tollgate::mgmt {

using Json = nlohmann::ordered_json;

// Thrown by handlers; the dispatcher turns it into
// {"error": code, "field": field, "message": message} with `status`.
struct ApiError {
  int status = 400;
  std::string code;     // "invalid_field", "not_found", "conflict", ...
  std::string field;    // the offending field ("" = none)
  std::string message;  // for people
};
[[noreturn]] inline void fail(int status, std::string code, std::string field,
                              std::string message) {
  throw ApiError{status, std::move(code), std::move(field), std::move(message)};
}

// State shared by all connection threads. Thread-safe.
struct ApiState {
  ApiState(ApiSettings s, NodeControl& n);
  ApiSettings settings;
  NodeControl& node;
  SystemClock clock;
  ApiCounters counters;
  AccessList access;
  LoginService logins;
  SipTrace trace;
  std::atomic<size_t> traceStreams{0};
  // Console live feeds (api_console.cc): open in all, and by user name.
  std::atomic<size_t> liveStreams{0};
  std::mutex liveMu;
  std::unordered_map<std::string, size_t> liveByUser;  // guarded by liveMu
  LiveFeed live;
  std::atomic<bool> stopping{false};
  LogLimiter privilegeLog;  // api.privilege_refused lines
};

// Store connections of one connection thread, opened on first use.
struct ThreadStores {
  store::StoreTarget target;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<store::MgmtStore> mgmt;
  std::unique_ptr<store::PolicyStore> policy;           // number lists, dynamic blacklist
  std::unique_ptr<store::BanStore> bans;                // the shield's ban list
  std::unique_ptr<store::SuspensionStore> suspensions;  // digest retry-limit suspensions
};

enum class Access : uint8_t { Public, Read, Operate, Admin };

struct Route;

struct RequestContext {
  ApiState& api;
  ThreadStores& stores;
  net::SockAddr peer;
  const Route* route = nullptr;
  std::optional<Principal> principal;
  std::vector<std::string> params;  // {placeholders} of the path, in order
  // The session token when the request was authenticated by the console's
  // session cookie rather than an Authorization header ("" otherwise).
  std::string cookieSession;

  store::Store& store();
  store::MgmtStore& mgmt();
  store::PolicyStore& policy();
  store::BanStore& bans();
  store::SuspensionStore& suspensions();
  const std::string& actor() const;
  // Appends to the audit log (who = principal or `actorOverride`).
  void audit(const std::string& action, const std::string& target, const std::string& result,
             const Json& before = nullptr, const Json& after = nullptr,
             const std::string& actorOverride = "");
};

// Refuses an action that would give the caller (or someone) more than the
// caller's effective role: counts it by reason, audits it
// ("privilege.refused", with the reason), logs it (rate-limited) and throws
// the ApiError that answers the request.
[[noreturn]] void refusePrivilege(RequestContext& ctx, PrivilegeRefusal why, int status,
                                  std::string code, std::string field, std::string message,
                                  const std::string& target = "");

using Handler = std::function<void(RequestContext&, const httplib::Request&, httplib::Response&)>;

struct Route {
  const char* method;  // GET POST PUT PATCH DELETE
  const char* path;    // "/api/v1/mapping-gateways/{name}"
  Access access;
  const char* tag;
  const char* summary;
  const char* requestSchema;   // components/schemas name, or nullptr
  const char* responseSchema;  // components/schemas name, "text", "csv", or nullptr (204)
  int successStatus;           // 200, 201, 204
  const char* query;           // documented query parameters: "name:type:description|..."
  Handler handler;
};

// The route table (api_routes.cc) and its dispatch.
const std::vector<Route>& apiRoutes();
// Finds the route for method+path; `params` gets the placeholders. Sets
// *pathKnown when some route has this path (for 405 vs 404).
const Route* matchRoute(const std::string& method, const std::string& path,
                        std::vector<std::string>& params, bool* pathKnown);
std::string buildOpenApi();

// JSON helpers.
void sendJson(httplib::Response& res, int status, const Json& body);
void sendError(httplib::Response& res, const ApiError& e);
Json parseBody(const httplib::Request& req);  // object or ApiError 400
std::string isoTime(int64_t us);              // "" for 0 -> null handled by callers
Json timeOrNull(int64_t us);
// Reads a query parameter as an integer in [lo, hi]; `def` when absent.
int64_t queryInt(const httplib::Request& req, const char* name, int64_t lo, int64_t hi,
                 int64_t def);
// Accepts ISO-8601 UTC ("2026-11-26T16:20:00Z", fraction optional) or Unix
// seconds; 0 when absent.
int64_t queryTime(const httplib::Request& req, const char* name);
std::string queryString(const httplib::Request& req, const char* name, size_t maxLen);

// Strict reading of a JSON object: typed getters that name the field in
// errors, and finish() refusing unknown fields.
class JsonFields {
 public:
  explicit JsonFields(const Json& obj) : obj_(obj) {}
  bool has(const char* key) const { return obj_.contains(key); }
  std::optional<std::string> string(const char* key, bool required, size_t maxLen = 1024);
  std::optional<std::vector<std::string>> strings(const char* key, bool required, size_t maxItems,
                                                  size_t maxLen = 256);
  std::optional<int64_t> integer(const char* key, bool required, int64_t lo, int64_t hi);
  std::optional<bool> boolean(const char* key, bool required);
  // A JSON number (integer or not) in [lo, hi].
  std::optional<double> number(const char* key, bool required, double lo, double hi);
  void finish();

 private:
  const Json& obj_;
  std::vector<std::string> known_;
};

// True when the client of the connection this thread serves has closed it
// (trace streams check this while no message comes).
bool currentPeerClosed();
// The response of this thread's request goes out as it is written, not
// kept for the intake to write (trace streams).
void streamResponseLive();

// Handlers, by file.
void registerAuthRoutes(std::vector<Route>& r);          // api_auth.cc
void registerProvisioningRoutes(std::vector<Route>& r);  // api_provisioning.cc
void registerNodeRoutes(std::vector<Route>& r);          // api_node.cc
void registerPolicyRoutes(std::vector<Route>& r);        // api_policy.cc
void registerSecurityRoutes(std::vector<Route>& r);      // api_security.cc
void registerConsoleRoutes(std::vector<Route>& r);       // api_console.cc

// One live call and one carrier as GET /api/v1/calls and /carriers show them
// (api_node.cc).
Json liveCallJson(const call::LiveCall& c, int64_t nowUs);
Json carrierStatusJson(const call::CarrierStatus& c);

// A login ({"username", "password"} in the body; `user` gets the name)
// checked against the lockout and audited (api_auth.cc). Unless the outcome
// is Ok, the error answer is already in `res`.
LoginOutcome checkLogin(RequestContext& ctx, const httplib::Request& req, httplib::Response& res,
                        std::string& user);

// The web console (api_console.cc). Serves / and /console/... (the
// embedded assets); false when the path is not the console's.
bool serveConsole(const httplib::Request& req, httplib::Response& res);
// Headers every answer carries: a strict Content-Security-Policy, no
// framing, no sniffing, no referrer.
void setSecurityHeaders(httplib::Response& res);
// The console's session token from the request's Cookie header ("" when none).
std::string sessionCookie(const httplib::Request& req);
// Set-Cookie for the console's session: HttpOnly, SameSite=Strict, and under
// TLS Secure with the __Host- prefix; `maxAgeSeconds` 0 deletes it.
std::string sessionCookieHeader(const ApiSettings& s, const std::string& token,
                                int64_t maxAgeSeconds);
// The CSRF token of a session: derived from the session token, so it needs
// no storage and dies with the session.
std::string csrfTokenFor(std::string_view sessionToken);
// The header a console change carries its CSRF token in.
inline constexpr const char* kCsrfHeader = "X-CSRF-Token";

}  // namespace tollgate::mgmt
