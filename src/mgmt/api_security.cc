// API resources of the defences around calls: the shield's ban list,
// digest retry-limit suspensions and registrar bindings.
//
// Bans and suspensions are changed in the store (as `tollgate ban` and
// `tollgate auth suspensions` do themselves when the node is stopped), so
// they survive a restart; the running node picks the change up
// within store.provisioning_poll_ms (its BanSync and suspension watcher).
// The two are one list for the operator: lifting an "auth" ban clears the
// address's suspensions, and clearing suspensions lifts the address's
// "auth" bans. Suspensions and bindings are read from the worker (the
// state in force); a force-unregister runs on the worker at once.
#include <algorithm>
#include <charconv>
#include <chrono>

#include "admission/provisioning.h"
#include "mgmt/api_internal.h"
#include "shield/ip_key.h"
#include "transport/transport.h"

namespace tollgate::mgmt {
namespace {

// Longest note an operator may attach to a ban (as `tollgate ban add`).
constexpr size_t kMaxBanNote = 200;
constexpr int64_t kMaxBanSeconds = 10LL * 365 * 86400;
constexpr int64_t kMaxBansListed = static_cast<int64_t>(store::kMaxBanPage);

[[noreturn]] void workerTimeout() {
  fail(503, "worker_busy", "", "the SIP worker did not answer in time; try again");
}

Json banJson(const store::BanRow& r, int64_t nowUs) {
  return Json{{"address", r.address},
              {"reason", r.reason},
              {"detail", r.detail},
              {"origin", r.origin},
              {"active", r.activeAt(nowUs)},
              {"created", timeOrNull(r.createdUs)},
              {"expires", timeOrNull(r.expiresUs)},
              {"hits", r.hits},
              {"level", r.level}};
}

shield::PrefixKey prefixParam(const std::string& text, const char* field, bool query) {
  auto p = shield::parsePrefix(text);
  if (!p) {
    fail(400, query ? "invalid_parameter" : "invalid_field", field,
         "\"" + text + "\" is not an IP address or CIDR");
  }
  return *p;
}

// A trusted source: shield.trusted or a gateway address.
struct Trusted {
  shield::PrefixKey prefix;
  const char* kind;   // "shield.trusted" or "a gateway address" (GET .../why)
  std::string owner;  // "shield.trusted" or "mapping gateway cust-a" (errors, POST)
};

std::vector<Trusted> trusted(RequestContext& ctx) {
  std::vector<Trusted> out;
  for (const net::Cidr& c : ctx.api.settings.shieldTrusted) {
    if (auto p = shield::parsePrefix(c.toString())) {
      out.push_back({*p, "shield.trusted", "shield.trusted"});
    }
  }
  auto prov = ctx.store().loadProvisioning();
  if (!prov) fail(503, "store_unavailable", "", prov.error().message);
  for (admission::GatewayPrefix& g : admission::gatewayPrefixOwners(*prov)) {
    if (auto p = shield::parsePrefix(g.prefix.toString())) {
      out.push_back({*p, "a gateway address", std::move(g.owner)});
    }
  }
  return out;
}

// Every ban row (active or kept for escalation) whose prefix holds `key`.
std::vector<store::BanRow> coveringBans(RequestContext& ctx, const shield::IpKey& key) {
  std::vector<store::BanRow> covering;
  store::BanCursor cursor;
  for (;;) {
    auto page = ctx.bans().bansChangedSince(cursor, store::kMaxBanPage);
    if (!page) fail(503, "store_unavailable", "", page.error().message);
    if (page->empty()) return covering;
    cursor = {page->back().seq, page->back().address};
    for (auto& r : *page) {
      auto p = shield::parsePrefix(r.address);
      if (!r.deleted && p && p->isV4() == key.isV4() && p->contains(key)) {
        covering.push_back(std::move(r));
      }
    }
  }
}

void listBans(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const bool all = queryString(req, "all", 8) == "true";
  const size_t limit = static_cast<size_t>(queryInt(req, "limit", 1, kMaxBansListed, 1000));
  const int64_t now = ctx.api.clock.wallMicros();
  auto rows = ctx.bans().listBans(all, now, limit);
  if (!rows) fail(503, "store_unavailable", "", rows.error().message);
  Json arr = Json::array();
  for (const auto& r : *rows) arr.push_back(banJson(r, now));
  sendJson(res, 200, Json{{"bans", arr}});
}

void addBan(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parseBody(req);
  JsonFields f(body);
  const shield::PrefixKey prefix = prefixParam(*f.string("address", true, 64), "address", false);
  const int64_t duration = f.integer("duration", false, 1, kMaxBanSeconds).value_or(0);
  const std::string note = f.string("note", false, kMaxBanNote).value_or("");
  if (std::any_of(note.begin(), note.end(),
                  [](char ch) { return static_cast<unsigned char>(ch) < 0x20; })) {
    fail(400, "invalid_field", "note", "must not contain control characters");
  }
  f.finish();
  std::vector<std::string> inside, insideBy;
  for (const Trusted& t : trusted(ctx)) {
    if (t.prefix.isV4() != prefix.isV4()) continue;
    // The whole ban inside trusted space could never drop anything.
    if (t.prefix.bits <= prefix.bits && t.prefix.contains(prefix.key)) {
      fail(400, "invalid_field", "address",
           shield::toString(prefix) + " is trusted (" + t.owner +
               "): trusted sources are never dropped, so the ban would do nothing");
    }
    if (prefix.bits < t.prefix.bits && prefix.contains(t.prefix.key)) {
      inside.push_back(shield::toString(t.prefix));
      insideBy.push_back(t.owner);
    }
  }
  const std::string canonical = shield::toString(prefix);
  store::BanRow row;
  row.address = canonical;
  row.reason = "manual";
  row.origin = "manual";
  row.detail = note.empty() ? "banned by an operator (" + ctx.actor() + ")" : note;
  row.createdUs = ctx.api.clock.wallMicros();
  row.expiresUs = duration > 0 ? row.createdUs + duration * 1'000'000 : 0;
  row.level = 1;
  Json before = nullptr;
  if (auto old = ctx.bans().getBan(canonical); old && old->has_value()) {
    row.hits = (*old)->hits;  // the count of the earlier ban carries on
    before = banJson(**old, row.createdUs);
  }
  if (auto r = ctx.bans().putBans({row}); !r) fail(503, "store_unavailable", "", r.error().message);
  ctx.api.node.securityChanged();
  Json after = banJson(row, row.createdUs);
  ctx.audit("ban.add", canonical, "ok", before, after);
  after["trusted_inside"] = inside;  // these stay trusted
  after["trusted_inside_by"] = insideBy;
  sendJson(res, 201, after);
}

void whyBan(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string text = queryString(req, "address", 64);
  if (text.empty()) fail(400, "invalid_parameter", "address", "is required");
  auto ip = net::IpAddress::parse(text);
  if (!ip) fail(400, "invalid_parameter", "address", "\"" + text + "\" is not an IP address");
  const shield::IpKey key = shield::keyOf(*ip);
  Json trustedWhy = nullptr;
  for (const Trusted& t : trusted(ctx)) {
    if (t.prefix.isV4() == key.isV4() && t.prefix.contains(key)) trustedWhy = t.kind;
  }
  const int64_t now = ctx.api.clock.wallMicros();
  std::vector<store::BanRow> covering = coveringBans(ctx, key);
  // Active first, the most specific first; then history, newest first.
  std::sort(covering.begin(), covering.end(), [now](const auto& a, const auto& b) {
    if (a.activeAt(now) != b.activeAt(now)) return a.activeAt(now);
    if (a.activeAt(now))
      return shield::parsePrefix(a.address)->bits > shield::parsePrefix(b.address)->bits;
    return a.createdUs > b.createdUs;
  });
  Json arr = Json::array();
  for (const auto& r : covering) arr.push_back(banJson(r, now));
  sendJson(res, 200,
           Json{{"address", ip->toString()},
                {"banned", !covering.empty() && covering[0].activeAt(now)},
                {"trusted", trustedWhy},
                {"bans", arr}});
}

// Clears the digest suspensions of `source` (an "auth" ban is only the
// shield's side of them). Returns how many.
size_t clearSuspensionsOf(RequestContext& ctx, const net::IpAddress& source) {
  store::SuspensionFilter f;
  f.source = source;
  auto n = ctx.suspensions().clearSuspensions(f, ctx.api.clock.wallMicros());
  if (!n) fail(503, "store_unavailable", "", n.error().message);
  return *n;
}

void deleteBan(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string text = queryString(req, "address", 64);
  if (text.empty()) fail(400, "invalid_parameter", "address", "is required");
  const shield::PrefixKey prefix = prefixParam(text, "address", true);
  const std::string canonical = shield::toString(prefix);
  const int64_t now = ctx.api.clock.wallMicros();
  auto old = ctx.bans().getBan(canonical);
  if (!old) fail(503, "store_unavailable", "", old.error().message);
  if (!*old) {
    // Say which wider ban holds it, if one does: lifting that is what the
    // operator is after.
    std::string message = canonical + " has no ban of its own";
    for (const store::BanRow& r : coveringBans(ctx, prefix.key)) {
      auto p = shield::parsePrefix(r.address);
      if (p && r.activeAt(now) && p->bits < prefix.bits) {
        message += "; it is inside the ban of " + r.address;
      }
    }
    fail(404, "not_found", "address", message);
  }
  auto r = ctx.bans().deleteBan(canonical);
  if (!r) fail(503, "store_unavailable", "", r.error().message);
  size_t cleared = 0;
  if ((*old)->reason == "auth") {
    if (auto ip = net::IpAddress::parse(canonical)) cleared = clearSuspensionsOf(ctx, *ip);
  }
  ctx.api.node.securityChanged();
  ctx.audit("ban.delete", canonical, "ok", banJson(**old, now), nullptr);
  sendJson(res, 200,
           Json{{"address", canonical}, {"unbanned", true}, {"suspensions_cleared", cleared}});
}

// --- suspensions

Json suspensionJson(const auth::Suspension& s, int64_t nowUs) {
  return Json{{"kind", std::string(auth::suspensionKindName(s.kind))},
              {"username", s.username},
              {"source", s.source.toString()},
              {"since", timeOrNull(s.sinceUs)},
              {"until", timeOrNull(s.untilUs)},
              {"remaining_s", std::max<int64_t>(0, (s.untilUs - nowUs) / 1'000'000)},
              {"offenses", s.offenses},
              {"failures", s.failures}};
}

void listSuspensions(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto list = ctx.api.node.suspensions();
  if (!list) workerTimeout();
  const int64_t now = ctx.api.clock.wallMicros();
  std::sort(list->begin(), list->end(),
            [](const auto& a, const auto& b) { return a.sinceUs > b.sinceUs; });
  Json arr = Json::array();
  for (const auto& s : *list) arr.push_back(suspensionJson(s, now));
  sendJson(res, 200, Json{{"suspensions", arr}});
}

// DELETE /api/v1/suspensions?source=IP[&username=U] or ?all=true
void clearSuspensions(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const bool all = queryString(req, "all", 8) == "true";
  const std::string source = queryString(req, "source", 64);
  const std::string username = queryString(req, "username", 256);
  store::SuspensionFilter f;
  if (all) {
    if (!source.empty() || !username.empty()) {
      fail(400, "invalid_parameter", "all", "all=true takes no source or username");
    }
    f.all = true;
  } else {
    if (source.empty()) {
      fail(400, "invalid_parameter", "source", "name the source IP (and username), or all=true");
    }
    auto ip = net::IpAddress::parse(source);
    if (!ip) fail(400, "invalid_parameter", "source", "\"" + source + "\" is not an IP address");
    f.source = *ip;
    if (!username.empty()) f.username = username;
  }
  auto n = ctx.suspensions().clearSuspensions(f, ctx.api.clock.wallMicros());
  if (!n) fail(503, "store_unavailable", "", n.error().message);
  auto lifted = store::deleteBansWithReason(ctx.bans(), "auth", f.all ? "" : f.source->toString());
  if (!lifted) fail(503, "store_unavailable", "", lifted.error().message);
  ctx.api.node.securityChanged();
  if (*n == 0 && *lifted == 0) fail(404, "not_found", "source", "no suspension matched");
  ctx.audit("suspension.clear", all ? "*" : source + (username.empty() ? "" : "/" + username), "ok",
            nullptr, Json{{"cleared", *n}, {"bans_lifted", *lifted}});
  sendJson(res, 200, Json{{"cleared", *n}, {"bans_lifted", *lifted}});
}

// --- registrations

Json bindingJson(const registrar::Binding& b) {
  return Json{{"username", b.username},
              {"contact", b.contact},
              {"gateway", b.gateway},
              {"transport", std::string(transport::protocolParam(b.protocol))},
              {"source", b.source.toString()},
              {"local", b.local.toString()},
              {"user_agent", b.userAgent},
              {"registered", timeOrNull(b.registeredUs)},
              {"expires", timeOrNull(b.expiresUs)},
              {"online", b.online},
              {"state_since", timeOrNull(b.stateUs)}};
}

void listRegistrations(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string user = queryString(req, "username", 256);
  auto list = ctx.api.node.registrations();
  if (!list) workerTimeout();
  std::sort(list->begin(), list->end(), [](const auto& a, const auto& b) {
    return a.username != b.username ? a.username < b.username : a.contact < b.contact;
  });
  Json arr = Json::array();
  for (const auto& b : *list) {
    if (user.empty() || b.username == user) arr.push_back(bindingJson(b));
  }
  sendJson(res, 200, Json{{"registrations", arr}});
}

void unregister(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string user = ctx.params[0];
  const std::string contact = queryString(req, "contact", 1024);
  auto n = ctx.api.node.unregister(user, contact);
  if (!n) workerTimeout();
  if (*n == 0) {
    fail(404, "not_found", contact.empty() ? "username" : "contact",
         contact.empty() ? "\"" + user + "\" has no registration"
                         : "\"" + user + "\" is not registered at " + contact);
  }
  ctx.audit("registration.delete", user, "ok", Json{{"contact", contact.empty() ? "*" : contact}},
            nullptr);
  sendJson(res, 200, Json{{"username", user}, {"removed", *n}});
}

}  // namespace

void registerSecurityRoutes(std::vector<Route>& r) {
  r.push_back({"GET", "/api/v1/bans", Access::Read, "security", "Bans in force, newest first",
               nullptr, "BanList", 200,
               "all:string:true = also expired bans kept for escalation|limit:integer:1-10000, "
               "default 1000",
               listBans});
  r.push_back({"POST", "/api/v1/bans", Access::Operate, "security",
               "Ban an address or CIDR, or replace its ban (the node applies it at once; "
               "a cluster's other nodes one Redis publish later)",
               "BanAdd", "Ban", 201, nullptr, addBan});
  r.push_back({"GET", "/api/v1/bans/why", Access::Read, "security",
               "Is this address banned, by which rule, since when; is it trusted", nullptr,
               "BanWhy", 200, "address:string:IP address (required)", whyBan});
  r.push_back({"DELETE", "/api/v1/bans", Access::Operate, "security",
               "Lift the ban of exactly this address or CIDR (an auth ban also clears the "
               "address's suspensions)",
               nullptr, "BanLifted", 200, "address:string:IP address or CIDR (required)",
               deleteBan});
  r.push_back({"GET", "/api/v1/suspensions", Access::Read, "security",
               "Digest retry-limit suspensions in force", nullptr, "SuspensionList", 200, nullptr,
               listSuspensions});
  r.push_back({"DELETE", "/api/v1/suspensions", Access::Operate, "security",
               "Lift suspensions (and the address's auth bans); the node applies it at once, a "
               "cluster's other nodes one Redis publish later",
               nullptr, "SuspensionsCleared", 200,
               "source:string:IP address|username:string:only this username at the "
               "source|all:string:true = every suspension",
               clearSuspensions});
  r.push_back({"GET", "/api/v1/registrations", Access::Read, "security",
               "Registered contacts (registrar bindings), online or not", nullptr,
               "RegistrationList", 200, "username:string:only this account", listRegistrations});
  r.push_back({"DELETE", "/api/v1/registrations/{username}", Access::Operate, "security",
               "Force-unregister an account (every contact, or one): calls reach it again once "
               "it registers",
               nullptr, "Unregistered", 200, "contact:string:only this Contact URI", unregister});
}

}  // namespace tollgate::mgmt
