// The web console's side of the management listener (docs/console.md): the
// embedded files under /console/, the security headers of every answer, the
// session cookie and its CSRF token, the console's login/session/logout, the
// live feed (server-sent events) and a trace's pcap download. The console is
// only another client of the API: the same listener, api.allow, TLS, logins,
// lockout, roles and audit apply to everything it does.
//
// Cookie and CSRF: a console login sets the session token as a cookie that
// scripts cannot read (HttpOnly), that no other site's page sends
// (SameSite=Strict) and, under TLS, that never travels in clear (Secure,
// __Host- prefix). Every change made with the cookie must also carry the
// session's CSRF token in a header (checked in api_server.cc's pipeline),
// which only a page of the console's own origin can read.
#include <charconv>
#include <chrono>
#include <string_view>
#include <thread>

#include "common/ascii.h"
#include "common/log.h"
#include "mgmt/api_internal.h"
#include "mgmt/console_assets.h"
#include "mgmt/pcap.h"
#include "mgmt/secrets.h"

namespace tollgate::mgmt {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kCookieName = "tg_session";
constexpr std::string_view kSecureCookieName = "__Host-tg_session";
// A console login must carry this header: a page of another site cannot
// send a custom header without a CORS preflight, which this server never
// grants, so it cannot log a browser into an account of its choosing.
constexpr const char* kConsoleHeader = "X-Tollgate-Console";
// Live calls sent per tick of the live feed; the calls page pages through
// GET /api/v1/calls beyond this.
constexpr size_t kLiveCallsPerTick = 500;
// Pcap download of a console trace: at most this many messages (the body
// is bounded by kApiMaxBodyBytes anyway).
constexpr size_t kMaxPcapMessages = 2048;

// Content-Security-Policy of every answer: scripts, styles and
// connections only from this origin, nothing inline, no plugins, no
// framing (clickjacking), no <base> rewriting, forms only to here.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

const ConsoleAsset* findAsset(std::string_view name) {
  for (const ConsoleAsset& a : consoleAssets()) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

// index.html names the asset directory of this build as @ASSETS@.
std::string indexPage() {
  const ConsoleAsset* a = findAsset("index.html");
  if (!a) return "<!doctype html><title>tollgate</title>no console in this build";
  std::string page(reinterpret_cast<const char*>(a->data), a->size);
  const std::string dir = std::string("/console/a/") + consoleAssetHash();
  for (size_t at = page.find("@ASSETS@"); at != std::string::npos;
       at = page.find("@ASSETS@", at + dir.size())) {
    page.replace(at, 8, dir);
  }
  return page;
}

std::string sseEvent(std::string_view name, const Json& data) {
  std::string out = "event: ";
  out += name;
  out += "\ndata: ";
  out += data.dump(-1, ' ', false, Json::error_handler_t::replace);
  out += "\n\n";
  return out;
}

Json historyJson(const std::vector<LiveSample>& h) {
  Json points = Json::array();
  for (size_t i = 1; i < h.size(); ++i) {
    const LiveSample& a = h[i - 1];
    const LiveSample& b = h[i];
    const double secs = std::max<double>(1.0, static_cast<double>(b.timeUs - a.timeUs) / 1e6);
    uint64_t drops = 0;
    for (size_t r = 0; r < b.shieldDropped.size(); ++r) {
      drops += b.shieldDropped[r] - std::min(a.shieldDropped[r], b.shieldDropped[r]);
    }
    const uint64_t answered = b.answered - std::min(a.answered, b.answered);
    const uint64_t ended = answered + (b.failed - std::min(a.failed, b.failed));
    points.push_back(
        Json{{"t", b.timeUs / 1000},
             {"cps", static_cast<double>(b.invites - std::min(a.invites, b.invites)) / secs},
             {"asr", ended ? Json(100.0 * static_cast<double>(answered) / ended) : Json(nullptr)},
             {"acd", b.cdrsAnswered ? Json(static_cast<double>(b.talkMs) / 1000.0 / b.cdrsAnswered)
                                    : Json(nullptr)},
             {"active", b.activeCalls},
             {"drops", static_cast<double>(drops) / secs}});
  }
  return Json{{"interval_s", kLiveSampleSeconds}, {"points", points}};
}

// Figures over the feed's hour: ASR and ACD, and shield drops by reason.
Json hourJson(const std::vector<LiveSample>& h, const NodeStats& now) {
  Json out = Json::object();
  const LiveSample* first = h.empty() ? nullptr : &h.front();
  const uint64_t answered = now.calls.callsAnswered - (first ? first->answered : 0);
  const uint64_t ended = answered + now.calls.callsFailed - (first ? first->failed : 0);
  uint64_t cdrs = 0;
  int64_t talkMs = 0;
  for (size_t i = 1; i < h.size(); ++i) {
    cdrs += h[i].cdrsAnswered;
    talkMs += h[i].talkMs;
  }
  out["since"] = first ? Json(isoTime(first->timeUs)) : Json(nullptr);
  out["asr"] = ended ? Json(100.0 * static_cast<double>(answered) / ended) : Json(nullptr);
  out["acd"] = cdrs ? Json(static_cast<double>(talkMs) / 1000.0 / cdrs) : Json(nullptr);
  Json drops = Json::object();
  for (size_t r = 0; r < shield::kShieldReasonCount; ++r) {
    const uint64_t base = first ? first->shieldDropped[r] : 0;
    drops[std::string(shield::shieldReasonName(static_cast<shield::ShieldReason>(r)))] =
        now.shield.dropped[r] - std::min(base, now.shield.dropped[r]);
  }
  out["shield_drops"] = drops;
  return out;
}

// --- console session

void consoleLogin(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  if (req.get_header_value(kConsoleHeader) != "1") {
    fail(403, "csrf", "",
         std::string("a console login carries the header ") + kConsoleHeader +
             ": 1 (use POST /api/v1/login for a bearer token)");
  }
  std::string user;
  LoginOutcome out = checkLogin(ctx, req, res, user);
  if (out.kind != LoginOutcome::Kind::Ok) return;
  const int64_t maxAge =
      std::max<int64_t>(1, (out.expiresUs - ctx.api.clock.wallMicros()) / 1'000'000);
  res.set_header("Set-Cookie", sessionCookieHeader(ctx.api.settings, out.token, maxAge));
  sendJson(res, 200,
           Json{{"user", user},
                {"role", std::string(roleName(out.role))},
                {"expires", isoTime(out.expiresUs)},
                {"csrf_token", csrfTokenFor(out.token)}});
}

void consoleSession(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  const Principal& p = *ctx.principal;
  sendJson(res, 200,
           Json{{"user", p.name},
                {"role", std::string(roleName(p.role))},
                {"expires", timeOrNull(p.expiresUs)},
                {"csrf_token", ctx.cookieSession.empty() ? Json(nullptr)
                                                         : Json(csrfTokenFor(ctx.cookieSession))}});
}

void consoleLogout(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  const Principal& p = *ctx.principal;
  if (p.kind == Principal::Kind::Session) {
    (void)ctx.mgmt().deleteSession(p.sessionHash);
    ctx.audit("logout", p.name, "ok");
  }
  res.set_header("Set-Cookie", sessionCookieHeader(ctx.api.settings, "", 0));
  res.status = 204;
}

// --- live feed

// Gives back a live-feed slot of a user.
void releaseLive(ApiState& api, const std::string& user) {
  std::lock_guard lock(api.liveMu);
  auto it = api.liveByUser.find(user);
  if (it != api.liveByUser.end() && --it->second == 0) api.liveByUser.erase(it);
  api.liveStreams.fetch_sub(1);
}

void liveFeed(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  // Read before a slot is taken: nothing may throw between taking one and
  // handing it to the stream's release callback.
  const int64_t seconds =
      queryInt(req, "duration", 1, kApiLiveStreamSeconds, kApiLiveStreamSeconds);
  ApiState* api = &ctx.api;
  const std::string user = ctx.actor();
  {
    std::lock_guard lock(api->liveMu);
    size_t& mine = api->liveByUser[user];
    if (mine >= kApiMaxLiveStreamsPerUser || api->liveStreams.load() >= kApiMaxLiveStreams) {
      if (mine == 0) api->liveByUser.erase(user);
      api->counters.liveStreamsRefused.fetch_add(1, std::memory_order_relaxed);
      res.set_header("Retry-After", "10");
      fail(429, "too_many_streams", "",
           "too many live feeds open (" + std::to_string(kApiMaxLiveStreamsPerUser) +
               " per user, " + std::to_string(kApiMaxLiveStreams) + " in all)");
    }
    ++mine;
    api->liveStreams.fetch_add(1);
  }
  api->counters.liveStreamsStarted.fetch_add(1, std::memory_order_relaxed);
  struct Stream {
    bool started = false;
    Clock::time_point deadline;
    Clock::time_point nextTick;
    Clock::time_point nextAuth;
    int64_t lastSampleUs = 0;
    std::string authorization;
  };
  auto st = std::make_shared<Stream>();
  st->deadline = Clock::now() + std::chrono::seconds(seconds);
  st->nextTick = Clock::now();
  st->nextAuth = Clock::now() + std::chrono::seconds(kLiveSampleSeconds);
  st->authorization = req.has_header("Authorization") ? req.get_header_value("Authorization")
                                                      : "Bearer " + ctx.cookieSession;
  RequestContext* c = &ctx;
  streamResponseLive();
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st, api, c](size_t, httplib::DataSink& sink) {
        std::string out;
        if (!st->started) {
          st->started = true;
          // EventSource reconnects this long after the stream ends.
          out = "retry: 2000\n\n";
        }
        if (api->stopping.load() || Clock::now() >= st->deadline || currentPeerClosed()) {
          sink.done();
          return true;
        }
        // The session may end (logout, expiry, user disabled) while the
        // feed is open: look again every sample period.
        if (Clock::now() >= st->nextAuth) {
          st->nextAuth = Clock::now() + std::chrono::seconds(kLiveSampleSeconds);
          bool valid = false;
          try {
            valid = static_cast<bool>(api->logins.authenticate(c->mgmt(), st->authorization));
          } catch (const ApiError&) {
            // The store cannot be read: end the feed; the browser retries.
          }
          if (!valid) {
            out += sseEvent("end", Json{{"reason", "session ended"}});
            sink.write(out.data(), out.size());
            sink.done();
            return true;
          }
        }
        if (Clock::now() < st->nextTick) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          return out.empty() || sink.write(out.data(), out.size());
        }
        st->nextTick = Clock::now() + std::chrono::seconds(1);
        const std::vector<LiveSample> hist = api->live.history();
        if (!hist.empty() && hist.back().timeUs != st->lastSampleUs) {
          st->lastSampleUs = hist.back().timeUs;
          out += sseEvent("history", historyJson(hist));
        }
        auto stats = api->node.stats();
        auto calls = api->node.liveCalls(kLiveCallsPerTick);
        if (!stats || !calls) {
          out += sseEvent("busy", Json{{"message", "the SIP worker did not answer in time"}});
        } else {
          const int64_t now = api->clock.wallMicros();
          Json callArr = Json::array();
          for (const auto& lc : *calls) callArr.push_back(liveCallJson(lc, now));
          Json carriers = Json::array();
          for (const auto& cs : stats->carriers) carriers.push_back(carrierStatusJson(cs));
          Json t{{"time", isoTime(now)},
                 {"invites", stats->calls.invitesReceived},
                 {"answered", stats->calls.callsAnswered},
                 {"active_calls", stats->activeCalls},
                 {"hour", hourJson(hist, *stats)},
                 {"bans_active", stats->shield.bansActive},
                 {"bans_placed", stats->shield.bansPlaced},
                 {"bans_lifted", stats->shield.bansLifted},
                 {"bans_expired", stats->shield.bansExpired},
                 {"carriers", carriers},
                 {"calls", callArr},
                 {"calls_total", stats->activeCalls}};
          out += sseEvent("tick", t);
        }
        return sink.write(out.data(), out.size());
      },
      [api, user](bool) { releaseLive(*api, user); });
}

// --- trace pcap

void tracePcap(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parseBody(req);
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array()) {
    fail(400, "missing_field", "messages", "is required (an array of trace messages)");
  }
  if (body.size() != 1) fail(400, "unknown_field", "", "only \"messages\" is a field here");
  if (it->size() > kMaxPcapMessages) {
    fail(400, "invalid_field", "messages",
         "has more than " + std::to_string(kMaxPcapMessages) + " entries");
  }
  PcapWriter w;
  std::string out = PcapWriter::fileHeader();
  for (const Json& m : *it) {
    if (!m.is_object()) fail(400, "invalid_field", "messages", "each entry must be an object");
    JsonFields f(m);
    const int64_t t = f.integer("time_us", true, 0, INT64_MAX / 2).value();
    const std::string dir = f.string("direction", true, 8).value();
    const std::string tr = f.string("transport", true, 8).value();
    auto local = net::SockAddr::parse(f.string("local", true, 64).value());
    auto remote = net::SockAddr::parse(f.string("remote", true, 64).value());
    const std::string msg = f.string("message", true, kMaxPcapPayload).value();
    f.finish();
    if (dir != "in" && dir != "out") fail(400, "invalid_field", "direction", "must be in or out");
    if (!local || !remote) fail(400, "invalid_field", "local", "must be ip:port");
    const bool in = dir == "in";
    out += w.packet(t, in ? *remote : *local, in ? *local : *remote, tr != "udp", msg);
  }
  res.set_header("Content-Disposition", "attachment; filename=\"trace.pcap\"");
  res.status = 200;
  res.set_content(out, "application/vnd.tcpdump.pcap");
}

}  // namespace

// --------------------------------------------------------------- shared

void setSecurityHeaders(httplib::Response& res) {
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cross-Origin-Opener-Policy", "same-origin");
  res.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

bool serveConsole(const httplib::Request& req, httplib::Response& res) {
  const std::string& path = req.path;
  if (path == "/" || path == "/console") {
    res.status = 303;
    res.set_header("Location", "/console/");
    return true;
  }
  if (path == "/console/" || path == "/console/index.html") {
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    res.set_content(indexPage(), "text/html; charset=utf-8");
    return true;
  }
  constexpr std::string_view kAssetDir = "/console/a/";
  if (path.rfind(kAssetDir, 0) != 0) return false;
  // /console/a/<hash>/<name>: any hash is served (a page of the previous
  // build still loads), but only this build's may be cached.
  const std::string_view rest = std::string_view(path).substr(kAssetDir.size());
  const size_t slash = rest.find('/');
  const ConsoleAsset* a =
      slash == std::string_view::npos ? nullptr : findAsset(rest.substr(slash + 1));
  if (!a || std::string_view(a->name) == "index.html") {
    sendError(res, {404, "no_route", "", "no such console file"});
    return true;
  }
  res.status = 200;
  res.set_header("Cache-Control", rest.substr(0, slash) == consoleAssetHash()
                                      ? "public, max-age=31536000, immutable"
                                      : "no-store");
  res.set_content(reinterpret_cast<const char*>(a->data), a->size, a->contentType);
  return true;
}

std::string sessionCookie(const httplib::Request& req) {
  // Cookie: a=b; tg_session=tgs_...; c=d  (RFC 6265 §5.4)
  for (const auto& [key, value] : req.headers) {
    if (!ascii::iequals(key, "Cookie")) continue;
    std::string_view v = value;
    while (!v.empty()) {
      const size_t end = v.find(';');
      std::string_view pair = v.substr(0, end);
      v = end == std::string_view::npos ? std::string_view() : v.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view name = pair.substr(0, eq);
      const std::string_view val = pair.substr(eq + 1);
      if ((name == kCookieName || name == kSecureCookieName) && !val.empty() &&
          val.size() <= kMaxTokenLength) {
        return std::string(val);
      }
    }
  }
  return "";
}

std::string sessionCookieHeader(const ApiSettings& s, const std::string& token,
                                int64_t maxAgeSeconds) {
  const bool tls = !s.certificate.empty();
  std::string h(tls ? kSecureCookieName : kCookieName);
  h += "=" + token + "; Path=/; Max-Age=" + std::to_string(maxAgeSeconds) +
       "; HttpOnly; SameSite=Strict";
  if (tls) h += "; Secure";
  return h;
}

std::string csrfTokenFor(std::string_view sessionToken) {
  // A one-way function of the session token: knowing the CSRF token tells
  // nothing about the session token; it changes with every login.
  return sha256Hex(std::string("tollgate-console-csrf:") + std::string(sessionToken));
}

void registerConsoleRoutes(std::vector<Route>& r) {
  r.push_back({"POST", "/api/v1/console/session", Access::Public, "auth",
               "Console login: sets the session cookie (header X-Tollgate-Console: 1)",
               "LoginRequest", "ConsoleSession", 200, nullptr, consoleLogin});
  r.push_back({"GET", "/api/v1/console/session", Access::Read, "auth",
               "The console session: user, role and its CSRF token", nullptr, "ConsoleSession", 200,
               nullptr, consoleSession});
  r.push_back({"DELETE", "/api/v1/console/session", Access::Read, "auth",
               "Console logout: ends the session and clears the cookie", nullptr, nullptr, 204,
               nullptr, consoleLogout});
  r.push_back({"GET", "/api/v1/live", Access::Read, "calls",
               "Live feed (server-sent events): dashboard figures, calls, last hour", nullptr,
               "events", 200, "duration:integer:seconds until the stream ends, 1-300 (default 300)",
               liveFeed});
  r.push_back({"POST", "/api/v1/trace/pcap", Access::Operate, "trace",
               "Trace messages (as GET /api/v1/trace?format=ndjson gives them) as a pcap file",
               "TracePcapRequest", "pcap", 200, nullptr, tracePcap});
}

}  // namespace tollgate::mgmt
