// The management API server (api_server.h): accept loop with web access
// control, connection threads, plain and TLS streams for cpp-httplib, the
// request pipeline (route, authenticate, authorize, handle) and the shared
// JSON helpers of the handlers. Over 800 lines: the pipeline's security steps
// (allowlist, authentication, role cap, audit) read in one place, in order.
#include "mgmt/api_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/log.h"
#include "mgmt/api_intake.h"
#include "mgmt/api_internal.h"
#include "mgmt/secrets.h"
#include "store/cdr_format.h"
#include "store/store_factory.h"

namespace tollgate::mgmt {

using Clock = std::chrono::steady_clock;

// --------------------------------------------------------------- shared state

ApiState::ApiState(ApiSettings s, NodeControl& n)
    : settings(std::move(s)),
      node(n),
      access(settings.allow),
      logins(settings.login, clock, counters, settings.localTokenHash),
      live(n, settings.store) {}

store::Store& RequestContext::store() {
  if (!stores.store) {
    auto s = store::openStore(stores.target);
    if (!s) fail(503, "store_unavailable", "", s.error().message);
    stores.store = std::move(s).value();
  }
  return *stores.store;
}

store::MgmtStore& RequestContext::mgmt() {
  if (!stores.mgmt) {
    auto s = store::openMgmtStore(stores.target);
    if (!s) fail(503, "store_unavailable", "", s.error().message);
    stores.mgmt = std::move(s).value();
  }
  return *stores.mgmt;
}

store::PolicyStore& RequestContext::policy() {
  if (!stores.policy) {
    auto s = store::openPolicyStore(stores.target);
    if (!s) fail(503, "store_unavailable", "", s.error().message);
    stores.policy = std::move(s).value();
  }
  return *stores.policy;
}

store::BanStore& RequestContext::bans() {
  if (!stores.bans) {
    auto s = store::openBanStore(stores.target);
    if (!s) fail(503, "store_unavailable", "", s.error().message);
    stores.bans = std::move(s).value();
  }
  return *stores.bans;
}

store::SuspensionStore& RequestContext::suspensions() {
  if (!stores.suspensions) {
    auto s = store::openSuspensionStore(stores.target);
    if (!s) fail(503, "store_unavailable", "", s.error().message);
    stores.suspensions = std::move(s).value();
  }
  return *stores.suspensions;
}

const std::string& RequestContext::actor() const {
  static const std::string kAnonymous = "-";
  return principal ? principal->name : kAnonymous;
}

void RequestContext::audit(const std::string& action, const std::string& target,
                           const std::string& result, const Json& before, const Json& after,
                           const std::string& actorOverride) {
  store::AuditEntry e;
  e.timeUs = api.clock.wallMicros();
  e.actor = actorOverride.empty() ? actor() : actorOverride;
  e.source = peer.toString();
  e.action = action;
  e.target = target;
  e.result = result;
  e.before = before.is_null() ? "" : before.dump();
  e.after = after.is_null() ? "" : after.dump();
  const auto t0 = Clock::now();
  auto r = mgmt().appendAudit(e);
  api.counters.storeLatency.record(Clock::now() - t0);
  if (!r) {
    log::error("api.audit_failed").kv("action", action).kv("error", r.error().message);
  }
}

void refusePrivilege(RequestContext& ctx, PrivilegeRefusal why, int status, std::string code,
                     std::string field, std::string message, const std::string& target) {
  ctx.api.counters.count(why);
  const std::string reason(privilegeRefusalName(why));
  const Principal* p = ctx.principal ? &*ctx.principal : nullptr;
  const char* kind = !p                                  ? "none"
                     : p->kind == Principal::Kind::Token ? "token"
                     : p->kind == Principal::Kind::Local ? "local"
                                                         : "session";
  const std::string where =
      ctx.route ? std::string(ctx.route->method) + " " + ctx.route->path : std::string();
  try {
    ctx.audit("privilege.refused", target.empty() ? where : target, "refused", nullptr,
              Json{{"reason", reason},
                   {"request", where},
                   {"role", p ? std::string(roleName(p->role)) : std::string()},
                   {"auth", kind}});
  } catch (const ApiError&) {
    // The store is down: the refusal still stands, and the log line says it.
  }
  if (auto n = ctx.api.privilegeLog.tick()) {
    log::warn("api.privilege_refused")
        .kv("actor", ctx.actor())
        .kv("auth", kind)
        .kv("source", ctx.peer.toString())
        .kv("reason", reason)
        .kv("request", where)
        .kv("refused_since_last_line", *n);
  }
  throw ApiError{status, std::move(code), std::move(field), std::move(message)};
}

// --------------------------------------------------------------- JSON helpers

void sendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n",
                  "application/json");
}

void sendError(httplib::Response& res, const ApiError& e) {
  Json j;
  j["error"] = e.code;
  j["field"] = e.field.empty() ? Json(nullptr) : Json(e.field);
  j["message"] = e.message;
  sendJson(res, e.status, j);
}

Json parseBody(const httplib::Request& req) {
  if (req.body.empty()) fail(400, "invalid_body", "", "a JSON object is required");
  Json j = Json::parse(req.body, nullptr, false);
  if (j.is_discarded()) fail(400, "invalid_json", "", "the body is not valid JSON");
  if (!j.is_object()) fail(400, "invalid_body", "", "the body must be a JSON object");
  return j;
}

std::string isoTime(int64_t us) {
  return store::formatUtcMicros(us);
}

Json timeOrNull(int64_t us) {
  return us == 0 ? Json(nullptr) : Json(isoTime(us));
}

int64_t queryInt(const httplib::Request& req, const char* name, int64_t lo, int64_t hi,
                 int64_t def) {
  if (!req.has_param(name)) return def;
  const std::string v = req.get_param_value(name);
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || out < lo || out > hi) {
    fail(400, "invalid_parameter", name,
         "must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return out;
}

namespace {

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<int64_t> parseTime(const std::string& v) {
  if (!v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 12) return std::nullopt;
    return std::stoll(v) * 1'000'000;
  }
  // YYYY-MM-DDTHH:MM:SS[.ffffff]Z
  int y, mo, d, h, mi, s;
  char tail[16] = {0};
  if (std::sscanf(v.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%15s", &y, &mo, &d, &h, &mi, &s, tail) < 6) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
  std::string t = tail;
  int64_t frac = 0;
  if (!t.empty() && t[0] == '.') {
    size_t i = 1;
    int64_t scale = 100000;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
      if (scale > 0) frac += (t[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    t = t.substr(i);
  }
  if (t != "Z" && t != "") return std::nullopt;
  const int64_t days = daysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi) * 60 * 1'000'000 + static_cast<int64_t>(s) * 1'000'000 + frac;
}

}  // namespace

int64_t queryTime(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return 0;
  auto t = parseTime(req.get_param_value(name));
  if (!t || *t <= 0) {
    fail(400, "invalid_parameter", name,
         "must be a UTC time like 2026-11-26T16:20:00Z or Unix seconds");
  }
  return *t;
}

std::string queryString(const httplib::Request& req, const char* name, size_t maxLen) {
  if (!req.has_param(name)) return "";
  std::string v = req.get_param_value(name);
  if (v.size() > maxLen) {
    fail(400, "invalid_parameter", name, "must be at most " + std::to_string(maxLen) + " bytes");
  }
  return v;
}

std::optional<std::string> JsonFields::string(const char* key, bool required, size_t maxLen) {
  known_.emplace_back(key);
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) {
    if (required) fail(400, "missing_field", key, "is required");
    return std::nullopt;
  }
  if (!it->is_string()) fail(400, "invalid_field", key, "must be a string");
  std::string v = it->get<std::string>();
  if (v.size() > maxLen) {
    fail(400, "invalid_field", key, "must be at most " + std::to_string(maxLen) + " bytes");
  }
  return v;
}

std::optional<std::vector<std::string>> JsonFields::strings(const char* key, bool required,
                                                            size_t maxItems, size_t maxLen) {
  known_.emplace_back(key);
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) {
    if (required) fail(400, "missing_field", key, "is required");
    return std::nullopt;
  }
  if (!it->is_array()) fail(400, "invalid_field", key, "must be an array of strings");
  if (it->size() > maxItems) {
    fail(400, "invalid_field", key, "has more than " + std::to_string(maxItems) + " entries");
  }
  std::vector<std::string> out;
  for (const auto& e : *it) {
    if (!e.is_string()) fail(400, "invalid_field", key, "must be an array of strings");
    std::string v = e.get<std::string>();
    if (v.size() > maxLen) fail(400, "invalid_field", key, "has an entry that is too long");
    out.push_back(std::move(v));
  }
  return out;
}

std::optional<int64_t> JsonFields::integer(const char* key, bool required, int64_t lo, int64_t hi) {
  known_.emplace_back(key);
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) {
    if (required) fail(400, "missing_field", key, "is required");
    return std::nullopt;
  }
  if (!it->is_number_integer()) fail(400, "invalid_field", key, "must be an integer");
  int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    fail(400, "invalid_field", key,
         "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  return v;
}

std::optional<bool> JsonFields::boolean(const char* key, bool required) {
  known_.emplace_back(key);
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) {
    if (required) fail(400, "missing_field", key, "is required");
    return std::nullopt;
  }
  if (!it->is_boolean()) fail(400, "invalid_field", key, "must be true or false");
  return it->get<bool>();
}

std::optional<double> JsonFields::number(const char* key, bool required, double lo, double hi) {
  known_.emplace_back(key);
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) {
    if (required) fail(400, "missing_field", key, "is required");
    return std::nullopt;
  }
  if (!it->is_number()) fail(400, "invalid_field", key, "must be a number");
  double v = it->get<double>();
  if (!(v >= lo && v <= hi)) {
    std::ostringstream m;
    m << "must be between " << lo << " and " << hi;
    fail(400, "invalid_field", key, m.str());
  }
  return v;
}

void JsonFields::finish() {
  for (const auto& [k, v] : obj_.items()) {
    if (std::find(known_.begin(), known_.end(), k) == known_.end()) {
      fail(400, "unknown_field", k, "is not a field of this resource");
    }
  }
}

// --------------------------------------------------------------- streams

namespace {

// The connection being served by this thread (trace streams look at it).
class ConnStream;
thread_local ConnStream* tCurrentStream = nullptr;

// One request of a connection the intake (api_intake.h) handed over, as
// cpp-httplib's Stream. Reads come from what the intake read (the head and
// a small body) and then, for a large body the handler accepted, from the
// socket until the request deadline. Writes are kept in the connection's
// output for the intake to write, up to kApiMaxBufferedResponseBytes; past
// that (and for live streams) they go out directly, each wait bounded.
// The socket is non-blocking; every wait is a poll() with a bound.
class ConnStream final : public httplib::Stream {
 public:
  ConnStream(ApiConn& c, Clock::time_point deadline)
      : c_(c), deadline_(deadline), budget_(kApiMaxBodyBytes + kApiMaxHeadBytes) {}

  // Write what follows straight to the client (trace streams).
  void setLive() { direct_ = true; }
  // Input this request consumed leaves the connection's buffer.
  void finish() { c_.in.erase(0, std::min(pos_, c_.in.size())); }
  bool failed() const { return failed_; }

  // A reader that closed its end (trace streams poll this while idle).
  bool peerClosed() const {
    pollfd p{c_.fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLERR)) return true;
    char ch;
    return ::recv(c_.fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }

  bool is_readable() const override {
    if (pos_ < c_.in.size()) return true;
    if (c_.ssl && SSL_pending(c_.ssl) > 0) return true;
    return waitFor(POLLIN, remainingMs());
  }
  bool is_writable() const override {
    if (!direct_ && c_.out.size() < kApiMaxBufferedResponseBytes) return true;
    return waitFor(POLLOUT, kWriteTimeoutMs);
  }
  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < c_.in.size()) {
      const size_t n = std::min(size, c_.in.size() - pos_);
      std::memcpy(ptr, c_.in.data() + pos_, n);
      pos_ += n;
      return static_cast<ssize_t>(n);
    }
    if (budget_ == 0) return -1;  // request larger than any we accept
    size = std::min(size, budget_);
    while (true) {
      ssize_t n;
      short wait = POLLIN;
      if (c_.ssl) {
        ERR_clear_error();
        int r = SSL_read(c_.ssl, ptr, static_cast<int>(std::min<size_t>(size, INT32_MAX)));
        if (r > 0) {
          n = r;
        } else {
          const int e = SSL_get_error(c_.ssl, r);
          if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return -1;
          n = -1;
          wait = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
        }
      } else {
        n = ::recv(c_.fd, ptr, size, 0);
        if (n == 0) return 0;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      }
      if (n > 0) {
        budget_ -= static_cast<size_t>(n);
        return n;
      }
      if (!waitFor(wait, remainingMs())) return -1;
    }
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (failed_) return -1;
    if (!direct_ && c_.out.size() + size <= kApiMaxBufferedResponseBytes) {
      c_.out.append(ptr, size);
      return static_cast<ssize_t>(size);
    }
    direct_ = true;
    if (!c_.out.empty()) {
      if (!writeAll(c_.out.data(), c_.out.size())) return -1;
      c_.out.clear();
    }
    return writeAll(ptr, size) ? static_cast<ssize_t>(size) : -1;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.peer.ip().toString();
    port = c_.peer.port();
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.local.ip().toString();
    port = c_.local.port();
  }
  socket_t socket() const override { return c_.fd; }

 private:
  // One wait of a direct write; a client that reads nothing for this long
  // is cut.
  static constexpr int kWriteTimeoutMs = 5000;

  int remainingMs() const {
    return static_cast<int>(std::max<int64_t>(
        0,
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count()));
  }
  bool waitFor(short events, int ms) const {
    if (ms <= 0) return false;
    pollfd p{c_.fd, events, 0};
    int r;
    do {
      r = ::poll(&p, 1, ms);
    } while (r < 0 && errno == EINTR);
    return r > 0 && (p.revents & (events | POLLHUP)) && !(p.revents & POLLERR);
  }
  bool writeAll(const char* ptr, size_t size) {
    size_t done = 0;
    while (done < size) {
      short wait = POLLOUT;
      ssize_t n;
      if (c_.ssl) {
        ERR_clear_error();
        int r =
            SSL_write(c_.ssl, ptr + done, static_cast<int>(std::min<size_t>(size - done, 1 << 20)));
        if (r > 0) {
          n = r;
        } else {
          const int e = SSL_get_error(c_.ssl, r);
          if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) break;
          n = -1;
          wait = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        }
      } else {
        n = ::send(c_.fd, ptr + done, size - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;
      }
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (!waitFor(wait, kWriteTimeoutMs)) break;
    }
    if (done < size) failed_ = true;
    return done == size;
  }

  ApiConn& c_;
  Clock::time_point deadline_;
  size_t budget_;
  size_t pos_ = 0;
  bool direct_ = false;
  bool failed_ = false;
};

// cpp-httplib's request pipeline (parsing, handlers, response writing) on a
// stream we own. process_request is protected in httplib::Server. Streamed
// responses stop when httplib thinks its listening socket is gone
// (svr_sock_ == INVALID_SOCKET); we never call its listen(), so it gets a
// descriptor of its own to look at (/dev/null), valid while we serve.
class HttpCore final : public httplib::Server {
 public:
  HttpCore() : placeholder_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) { svr_sock_ = placeholder_; }
  ~HttpCore() override {
    svr_sock_ = INVALID_SOCKET;
    if (placeholder_ >= 0) ::close(placeholder_);
  }
  using httplib::Server::process_request;

 private:
  int placeholder_;
};

// Per-request state between the pre-routing step (before the body is read)
// and the handler.
thread_local std::optional<RequestContext> tRequest;

}  // namespace

bool currentPeerClosed() {
  return tCurrentStream != nullptr && tCurrentStream->peerClosed();
}

void streamResponseLive() {
  if (tCurrentStream != nullptr) tCurrentStream->setLive();
}

// --------------------------------------------------------------- the server

struct ApiServer::Impl {
  Impl(ApiSettings s, NodeControl& n) : state(std::move(s), n) {}

  ApiState state;
  HttpCore http;
  SSL_CTX* tls = nullptr;
  std::vector<net::SockAddr> bound;
  std::unique_ptr<ApiIntake> intake;
  std::vector<std::thread> workers;
  // Connections with a complete request head, waiting for a thread.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<ApiConn>> queue;
  bool stopped = false;
  bool started = false;

  void setupHttp();
  bool enqueue(std::unique_ptr<ApiConn>& c);
  void workerLoop();
  void serve(std::unique_ptr<ApiConn> c, ThreadStores& stores);
  bool preRoute(const httplib::Request& req, httplib::Response& res, ThreadStores& stores,
                const net::SockAddr& peer);
};

namespace {
thread_local ThreadStores* tStores = nullptr;
thread_local net::SockAddr tPeer;
thread_local bool tBodyRead = true;  // the intake read this request's body (or it has none)
}  // namespace

bool ApiServer::Impl::preRoute(const httplib::Request& req, httplib::Response& res,
                               ThreadStores& stores, const net::SockAddr& peer) {
  state.counters.requests.fetch_add(1, std::memory_order_relaxed);
  tRequest.reset();
  // The web console's files: public (they hold no data), behind api.allow
  // like everything here.
  if (state.settings.console && req.method == "GET" && serveConsole(req, res)) return true;
  std::vector<std::string> params;
  bool pathKnown = false;
  const Route* route = matchRoute(req.method, req.path, params, &pathKnown);
  if (!route) {
    if (pathKnown) {
      sendError(res, {405, "method_not_allowed", "", req.method + " is not allowed here"});
    } else {
      sendError(res, {404, "no_route", "", "no such resource: " + req.path});
    }
    return true;
  }
  tRequest.emplace(RequestContext{state, stores, peer, route, std::nullopt, std::move(params)});
  RequestContext& ctx = *tRequest;
  Access need = route->access;
  if (std::string_view(route->path) == "/metrics" && !state.settings.metricsAuth) {
    need = Access::Public;
  }
  // The console's session cookie stands for an Authorization header when
  // there is none (a script's bearer token always wins).
  std::string authorization = req.get_header_value("Authorization");
  if (authorization.empty()) {
    ctx.cookieSession = sessionCookie(req);
    if (!ctx.cookieSession.empty()) authorization = "Bearer " + ctx.cookieSession;
  }
  // Credentials are checked before the body is read: an unauthenticated
  // client cannot make us read a large body.
  if (need != Access::Public || !authorization.empty()) {
    try {
      const auto t0 = Clock::now();
      auto local = state.logins.authenticateLocal(authorization);
      auto p = local ? std::move(*local) : state.logins.authenticate(ctx.mgmt(), authorization);
      state.counters.storeLatency.record(Clock::now() - t0);
      if (p) {
        ctx.principal = *p;
      } else if (need != Access::Public) {
        state.counters.unauthenticated.fetch_add(1, std::memory_order_relaxed);
        const char* why = p.error() == AuthFailure::Expired ? "the session or token has expired"
                          : p.error() == AuthFailure::Missing
                              ? "an Authorization: Bearer token is required"
                              : "the token is not valid";
        if (!ctx.cookieSession.empty()) {
          // A stale console cookie: say so, and drop it.
          res.set_header("Set-Cookie", sessionCookieHeader(state.settings, "", 0));
        }
        if (p.error() == AuthFailure::StoreError) {
          sendError(res, {503, "store_unavailable", "", "cannot read the store"});
        } else {
          res.set_header("WWW-Authenticate", "Bearer");
          sendError(res, {401, "unauthenticated", "", why});
        }
        res.set_header("Connection", "close");
        return true;
      }
    } catch (const ApiError& e) {
      sendError(res, e);
      return true;
    }
  }
  // A request without credentials never holds a thread while its body
  // trickles in: the intake reads bodies up to kApiIntakeBodyBytes, and a
  // larger or chunked one is read only after credentials were accepted.
  if (!ctx.principal && !tBodyRead) {
    sendError(res, {413, "too_large", "",
                    "a request without credentials sends a body of at most " +
                        std::to_string(kApiIntakeBodyBytes / 1024) + " KiB, with Content-Length"});
    res.set_header("Connection", "close");
    return true;
  }
  // Cross-site request forgery: a change made with the cookie (which a
  // browser attaches by itself) must also carry the session's CSRF token,
  // which only the console's own pages can read (GET /api/v1/console/session).
  // Safe methods change nothing; bearer tokens are never sent by a browser
  // on its own, so scripts are unaffected.
  if (ctx.principal && !ctx.cookieSession.empty() && req.method != "GET" && req.method != "HEAD" &&
      !constantTimeEquals(req.get_header_value(kCsrfHeader), csrfTokenFor(ctx.cookieSession))) {
    try {
      refusePrivilege(ctx, PrivilegeRefusal::CsrfToken, 403, "csrf", "",
                      "a change made with the console's session needs its CSRF token (header " +
                          std::string(kCsrfHeader) + ")");
    } catch (const ApiError& e) {
      sendError(res, e);
    }
    res.set_header("Connection", "close");
    return true;
  }
  if (need != Access::Public) {
    Role want = need == Access::Admin     ? Role::Admin
                : need == Access::Operate ? Role::Operator
                                          : Role::Readonly;
    if (ctx.principal->role < want) {
      state.counters.forbidden.fetch_add(1, std::memory_order_relaxed);
      try {
        refusePrivilege(ctx, PrivilegeRefusal::RouteRole, 403, "forbidden", "",
                        "this needs the " + std::string(roleName(want)) + " role (you are " +
                            std::string(roleName(ctx.principal->role)) + ")");
      } catch (const ApiError& e) {
        sendError(res, e);
      }
      res.set_header("Connection", "close");
      return true;
    }
  }
  return false;
}

void ApiServer::Impl::setupHttp() {
  http.set_payload_max_length(kApiMaxBodyBytes);
  http.set_keep_alive_max_count(100);
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return preRoute(req, res, *tStores, tPeer) ? httplib::Server::HandlerResponse::Handled
                                               : httplib::Server::HandlerResponse::Unhandled;
  });
  auto dispatch = [this](const httplib::Request& req, httplib::Response& res) {
    if (!tRequest) {
      sendError(res, {500, "internal_error", "", "request context lost"});
      return;
    }
    RequestContext& ctx = *tRequest;
    try {
      ctx.route->handler(ctx, req, res);
    } catch (const ApiError& e) {
      sendError(res, e);
    } catch (const std::exception& e) {
      log::error("api.handler_failed").kv("path", req.path).kv("error", e.what());
      sendError(res, {500, "internal_error", "", "internal error"});
    }
  };
  http.Get(".*", dispatch);
  http.Post(".*", dispatch);
  http.Put(".*", dispatch);
  http.Patch(".*", dispatch);
  http.Delete(".*", dispatch);
  http.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
    if (res.status >= 500) {
      state.counters.responses5xx.fetch_add(1, std::memory_order_relaxed);
    } else if (res.status >= 400) {
      state.counters.responses4xx.fetch_add(1, std::memory_order_relaxed);
    }
    if (!res.has_header("Cache-Control")) res.set_header("Cache-Control", "no-store");
    setSecurityHeaders(res);
  });
  http.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const bool tooLarge = res.status == 413;
        sendError(res, ApiError{res.status, tooLarge ? "too_large" : "bad_request", "",
                                tooLarge ? "the request body is too large"
                                         : "the request could not be read"});
        return httplib::Server::HandlerResponse::Handled;
      }));
}

bool ApiServer::Impl::enqueue(std::unique_ptr<ApiConn>& c) {
  {
    std::lock_guard lock(mu);
    if (stopped || queue.size() >= kApiMaxQueuedConnections) return false;
    queue.push_back(std::move(c));
  }
  cv.notify_one();
  return true;
}

void ApiServer::Impl::workerLoop() {
  ThreadStores stores;
  stores.target = state.settings.store;
  while (true) {
    std::unique_ptr<ApiConn> c;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return stopped || !queue.empty(); });
      if (stopped) return;
      c = std::move(queue.front());
      queue.pop_front();
    }
    serve(std::move(c), stores);
  }
}

// One request: the intake has its head (and small body) already.
void ApiServer::Impl::serve(std::unique_ptr<ApiConn> c, ThreadStores& stores) {
  ConnStream s(*c, Clock::now() + std::chrono::seconds(kApiRequestDeadlineSeconds));
  tCurrentStream = &s;
  tStores = &stores;
  tPeer = c->peer;
  tBodyRead = c->bodyRead;
  bool closed = false;
  const bool last = c->requests + 1 >= kApiMaxRequestsPerConnection || state.stopping.load();
  const bool ok = http.process_request(s, last, closed, [](httplib::Request& req) {
    // Compression: gzip only. cpp-httplib compresses with Brotli at quality
    // 11 when a client offers "br" (every browser does), which costs about a
    // second of this thread for a 300 KB answer (1,000 bans); gzip's default
    // level takes a few milliseconds for the same.
    if (req.has_header("Accept-Encoding")) {
      const bool gzip = req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos;
      req.headers.erase("Accept-Encoding");
      if (gzip) req.headers.emplace("Accept-Encoding", "gzip");
    }
  });
  tRequest.reset();
  tCurrentStream = nullptr;
  s.finish();
  ++c->requests;
  c->close = !ok || closed || last || s.failed();
  intake->handBack(std::move(c));
}

ApiServer::ApiServer(ApiSettings settings, NodeControl& node)
    : impl_(std::make_unique<Impl>(std::move(settings), node)) {}

ApiServer::~ApiServer() {
  stop();
}

Result<Ok, std::string> ApiServer::start() {
  Impl& m = *impl_;
  const ApiSettings& s = m.state.settings;
  if (!s.certificate.empty()) {
    m.tls = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(m.tls, TLS1_2_VERSION);
    // Non-blocking sockets: a write may be partial and is retried from
    // wherever the rest of the buffer is then.
    SSL_CTX_set_mode(m.tls, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(m.tls, s.certificate.c_str()) != 1) {
      ERR_clear_error();
      return Err(std::string("api.certificate: cannot load ") + s.certificate);
    }
    if (SSL_CTX_use_PrivateKey_file(m.tls, s.privateKey.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(m.tls) != 1) {
      ERR_clear_error();
      return Err(std::string("api.private_key: cannot load ") + s.privateKey +
                 " (or it does not match the certificate)");
    }
  }
  std::vector<int> listenFds;
  auto closeListeners = [&listenFds] {
    for (int fd : listenFds) ::close(fd);
  };
  for (const auto& addr : s.listen) {
    int fd = ::socket(addr.ip().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      closeListeners();
      return Err("socket: " + std::string(std::strerror(errno)));
    }
    int one = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (addr.ip().isV6()) (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    sockaddr_storage ss;
    socklen_t len = addr.toSockaddr(&ss);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 128) != 0) {
      std::string e = "api.listen " + addr.toString() + ": " + std::strerror(errno);
      ::close(fd);
      closeListeners();
      return Err(std::move(e));
    }
    len = sizeof ss;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    m.bound.push_back(net::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss)));
    listenFds.push_back(fd);
  }
  m.setupHttp();
  m.intake = std::make_unique<ApiIntake>(
      s.limits, m.state.access, m.state.counters, m.tls, std::move(listenFds),
      [&m](std::unique_ptr<ApiConn>& c) { return m.enqueue(c); });
  if (!m.intake->start()) {
    m.intake.reset();  // closes the listeners
    return Err("api: cannot set up the connection intake: " + std::string(std::strerror(errno)));
  }
  m.started = true;
  m.state.live.start();
  for (size_t i = 0; i < kApiWorkerThreads; ++i) m.workers.emplace_back([&m] { m.workerLoop(); });
  std::string where;
  for (const auto& b : m.bound) where += (where.empty() ? "" : ",") + b.toString();
  log::info("api.listen")
      .kv("listen", where)
      .kv("tls", m.tls != nullptr)
      .kv("allow", static_cast<int64_t>(s.allow.size()));
  return Ok{};
}

void ApiServer::stop() {
  Impl& m = *impl_;
  if (!m.started) return;
  m.started = false;
  m.state.stopping = true;
  // The intake first (no new requests), then the connection threads
  // (trace streams end when they see `stopping`), then what they returned.
  m.intake->stop();
  std::deque<std::unique_ptr<ApiConn>> queued;
  {
    std::lock_guard lock(m.mu);
    m.stopped = true;
    queued.swap(m.queue);
  }
  for (auto& c : queued) m.intake->handBack(std::move(c));
  m.cv.notify_all();
  for (auto& t : m.workers) t.join();
  m.workers.clear();
  m.state.live.stop();
  m.intake->closeReturned();
  m.intake.reset();
  (void)m.state.node.setTap(nullptr);
  if (m.tls) SSL_CTX_free(m.tls);
  m.tls = nullptr;
}

const std::vector<net::SockAddr>& ApiServer::boundAddresses() const {
  return impl_->bound;
}

call::LegObserver* ApiServer::legObserver() {
  return &impl_->state.trace;
}

std::string ApiServer::openApiDocument() {
  return buildOpenApi();
}

std::vector<std::pair<std::string, std::string>> ApiServer::routeList() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& r : apiRoutes()) out.emplace_back(r.method, r.path);
  return out;
}

}  // namespace tollgate::mgmt
