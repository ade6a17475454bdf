// API resources of the call policy's own state, besides the
// provisioning entries in api_provisioning.cc: number lists (black/white
// list groups and the system white list) and the dynamic blacklist.
//
// Number lists live in the PolicyStore; every change bumps the
// provisioning version, so the node reloads them at once (the answer waits
// for it, as for gateways). The dynamic blacklist is read from the worker
// (the live list); a removal or an operator entry goes to the store with a
// change-log row in one transaction, as `tollgate blacklist` does when the
// node is stopped, and the node applies it within store.provisioning_poll_ms
// (its PolicySync).
#include <algorithm>
#include <chrono>
#include <set>

#include "admission/dynamic_blacklist.h"
#include "admission/number_form.h"
#include "admission/number_lists.h"
#include "admission/provisioning.h"
#include "common/log.h"
#include "mgmt/api_internal.h"

namespace tollgate::mgmt {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kApplyTimeout{2000};
// Patterns one request may add, remove or set (a list may hold more, built
// up over several requests; the body limit bounds this anyway).
constexpr size_t kMaxPatternsPerRequest = 50'000;
constexpr int64_t kMaxBlacklistListed = 100'000;
constexpr int64_t kMaxBlacklistExpireS = 30LL * 86400;

Json summaryJson(const store::NumberListSummary& l) {
  return Json{{"name", l.name},
              {"kind", std::string(admission::listKindName(l.kind))},
              {"description", l.description},
              {"entries", l.entries},
              {"created", timeOrNull(l.createdUs)},
              {"updated", timeOrNull(l.updatedUs)}};
}

Json listJson(const admission::NumberList& l) {
  return Json{{"name", l.name},
              {"kind", std::string(admission::listKindName(l.kind))},
              {"description", l.description},
              {"numbers", l.patterns}};
}

// Patterns from `key`, each checked (patternProblem names what is wrong).
std::vector<std::string> patterns(JsonFields& f, const char* key, bool required) {
  auto v = f.strings(key, required, kMaxPatternsPerRequest, admission::kMaxPatternLength + 1);
  if (!v) return {};
  for (size_t i = 0; i < v->size(); ++i) {
    if (std::string p = admission::patternProblem((*v)[i]); !p.empty()) {
      fail(400, "invalid_field", key, "\"" + (*v)[i] + "\": " + p);
    }
  }
  return *v;
}

std::optional<store::NumberListSummary> findList(RequestContext& ctx, const std::string& name) {
  auto lists = ctx.policy().numberLists();
  if (!lists) fail(503, "store_unavailable", "", lists.error().message);
  for (auto& l : *lists) {
    if (l.name == name) return l;
  }
  return std::nullopt;
}

admission::NumberList loadList(RequestContext& ctx, const std::string& name) {
  if (!findList(ctx, name)) fail(404, "not_found", "name", "no number list \"" + name + "\"");
  auto l = ctx.policy().numberList(name);
  if (!l) fail(503, "store_unavailable", "", l.error().message);
  return *l;
}

// Number lists take effect through a provisioning reload: ask for it now.
bool applyNow(RequestContext& ctx) {
  auto v = ctx.store().provisioningVersion();
  if (!v) return false;
  return ctx.api.node.applyProvisioning(*v, kApplyTimeout);
}

void answerApplied(httplib::Response& res, bool applied) {
  res.set_header("X-Tollgate-Applied", applied ? "true" : "false");
}

// Who names list `name` (a delete must not leave them dangling).
std::string listUser(RequestContext& ctx, const std::string& name) {
  auto p = ctx.store().loadProvisioning();
  if (!p) fail(503, "store_unavailable", "", p.error().message);
  auto names = [&](const admission::NumberListRefs& r) {
    return std::find(r.caller.begin(), r.caller.end(), name) != r.caller.end() ||
           std::find(r.callee.begin(), r.callee.end(), name) != r.callee.end();
  };
  for (const auto& g : p->mappingGateways) {
    if (names(g.policy.lists)) return "mapping gateway \"" + g.name + "\"";
  }
  for (const auto& g : p->routingGateways) {
    if (names(g.policy.lists)) return "routing gateway \"" + g.name + "\"";
  }
  for (const auto& a : p->accounts) {
    if (names(a.lists)) return "account \"" + a.name + "\"";
  }
  return "";
}

void listLists(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto lists = ctx.policy().numberLists();
  if (!lists) fail(503, "store_unavailable", "", lists.error().message);
  Json arr = Json::array();
  for (const auto& l : *lists) arr.push_back(summaryJson(l));
  sendJson(res, 200, Json{{"number_lists", arr}});
}

void getList(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  sendJson(res, 200, listJson(loadList(ctx, ctx.params[0])));
}

void createList(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parseBody(req);
  JsonFields f(body);
  const std::string name = *f.string("name", true, 128);
  if (!admission::validListName(name)) {
    fail(400, "invalid_field", "name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
  }
  admission::ListKind kind;
  if (!admission::parseListKind(*f.string("kind", true, 32), &kind)) {
    fail(400, "invalid_field", "kind", "must be \"black\", \"white\" or \"system_white\"");
  }
  const std::string description =
      f.string("description", false, admission::kMaxListDescription).value_or("");
  if (description.find_first_of("\r\n") != std::string::npos) {
    fail(400, "invalid_field", "description", "must be one line");
  }
  std::vector<std::string> numbers = patterns(f, "numbers", false);
  f.finish();
  if (findList(ctx, name)) fail(409, "conflict", "name", "number list \"" + name + "\" exists");
  if (auto r = ctx.policy().createNumberList(name, kind, description); !r) {
    fail(409, "conflict", "name", r.error().message);
  }
  if (!numbers.empty()) {
    if (auto r = ctx.policy().addNumbers(name, numbers); !r) {
      (void)ctx.policy().deleteNumberList(name);  // nothing half-created
      fail(400, "invalid_field", "numbers", r.error().message);
    }
  }
  const bool applied = applyNow(ctx);
  admission::NumberList created = loadList(ctx, name);
  Json after = listJson(created);
  ctx.audit("number_list.create", name, "ok", nullptr, after);
  answerApplied(res, applied);
  sendJson(res, 201, after);
}

// PATCH {"add": [...], "remove": [...]}: patterns in and out of the list.
void patchList(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string name = ctx.params[0];
  Json body = parseBody(req);
  JsonFields f(body);
  std::vector<std::string> add = patterns(f, "add", false);
  std::vector<std::string> remove = patterns(f, "remove", false);
  f.finish();
  if (!body.contains("add") && !body.contains("remove")) {
    fail(400, "missing_field", "add", "give \"add\" and/or \"remove\" (arrays of patterns)");
  }
  const Json before = listJson(loadList(ctx, name));
  size_t added = 0, removed = 0;
  if (!remove.empty()) {
    auto r = ctx.policy().removeNumbers(name, remove);
    if (!r) fail(503, "store_unavailable", "", r.error().message);
    removed = *r;
  }
  if (!add.empty()) {
    auto r = ctx.policy().addNumbers(name, add);
    if (!r) fail(400, "invalid_field", "add", r.error().message);
    added = *r;
  }
  const bool applied = applyNow(ctx);
  Json after = listJson(loadList(ctx, name));
  ctx.audit("number_list.update", name, "ok", before, after);
  answerApplied(res, applied);
  after["added"] = added;
  after["removed"] = removed;
  sendJson(res, 200, after);
}

// PUT .../numbers {"numbers": [...]}: the list's whole content.
void replaceNumbers(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string name = ctx.params[0];
  Json body = parseBody(req);
  JsonFields f(body);
  std::vector<std::string> numbers = patterns(f, "numbers", true);
  f.finish();
  const Json before = listJson(loadList(ctx, name));
  if (auto r = ctx.policy().replaceNumbers(name, numbers); !r) {
    fail(400, "invalid_field", "numbers", r.error().message);
  }
  const bool applied = applyNow(ctx);
  Json after = listJson(loadList(ctx, name));
  ctx.audit("number_list.update", name, "ok", before, after);
  answerApplied(res, applied);
  sendJson(res, 200, after);
}

void deleteList(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  const std::string name = ctx.params[0];
  const Json before = listJson(loadList(ctx, name));
  if (std::string user = listUser(ctx, name); !user.empty()) {
    fail(409, "conflict", "name", "number list \"" + name + "\" is used by " + user);
  }
  if (auto r = ctx.policy().deleteNumberList(name); !r) {
    fail(409, "conflict", "name", r.error().message);
  }
  const bool applied = applyNow(ctx);
  ctx.audit("number_list.delete", name, "ok", before, nullptr);
  answerApplied(res, applied);
  res.status = 204;
}

// --- dynamic blacklist

Json entryJson(const admission::BlacklistEntry& e) {
  return Json{{"number", e.number},
              {"side", std::string(admission::sideName(e.side))},
              {"rule", std::string(admission::ruleName(e.rule))},
              {"mode", e.enforced ? "enforce" : "count-only"},
              {"gateway", e.gateway},
              {"created", timeOrNull(e.createdUs)},
              {"last_hit", timeOrNull(e.lastHitUs)},
              {"expires", timeOrNull(e.expiresUs)},
              {"hits", e.hits}};
}

// A dynamic blacklist entry names one number, not a pattern, and holds it
// in the canonical form calls present it in ("+1-900..." -> "1900...").
std::string checkNumber(RequestContext& ctx, const std::string& number, const char* field) {
  std::string p = admission::patternProblem(number);
  if (p.empty() && (number.back() == '*' || number.find('?') != std::string::npos)) {
    p = "the dynamic blacklist holds numbers, not patterns (use a number list)";
  }
  if (!p.empty()) fail(400, "invalid_field", field, "\"" + number + "\": " + p);
  return admission::normalizeNumber(number, ctx.api.settings.numbers).canonical;
}

void listBlacklist(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const size_t limit =
      static_cast<size_t>(queryInt(req, "limit", 1, kMaxBlacklistListed, kMaxBlacklistListed));
  auto entries = ctx.api.node.blacklist(limit);
  if (!entries) fail(503, "worker_busy", "", "the SIP worker did not answer in time; try again");
  Json arr = Json::array();
  for (const auto& e : *entries) arr.push_back(entryJson(e));
  sendJson(res, 200, Json{{"entries", arr}});
}

void addBlacklist(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parseBody(req);
  JsonFields f(body);
  admission::BlacklistEntry e;
  e.number =
      checkNumber(ctx, *f.string("number", true, admission::kMaxPatternLength + 1), "number");
  if (!admission::parseSide(*f.string("side", true, 16), &e.side)) {
    fail(400, "invalid_field", "side", "must be \"caller\" or \"callee\"");
  }
  const int64_t expire = *f.integer("expires_in", true, 1, kMaxBlacklistExpireS);
  const std::string mode = f.string("mode", false, 16).value_or("enforce");
  if (mode != "enforce" && mode != "count-only") {
    fail(400, "invalid_field", "mode", "must be \"enforce\" or \"count-only\"");
  }
  const bool cut = f.boolean("cut_calls", false).value_or(false);
  f.finish();
  e.rule = admission::BlacklistRule::Manual;
  e.enforced = mode == "enforce";
  e.createdUs = e.lastHitUs = ctx.api.clock.wallMicros();
  e.expiresUs = e.createdUs + expire * 1'000'000;
  if (auto r = ctx.policy().addBlacklistEntry(e, cut); !r) {
    fail(503, "store_unavailable", "", r.error().message);
  }
  Json after = entryJson(e);
  after["cut_calls"] = cut;
  ctx.audit("blacklist.add", e.number, "ok", nullptr, after);
  sendJson(res, 201, after);
}

// DELETE /api/v1/blacklist/{number}?side=caller|callee (both when absent).
void removeBlacklist(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string number = checkNumber(ctx, ctx.params[0], "number");
  std::optional<admission::NumberSide> side;
  const std::string s = queryString(req, "side", 16);
  if (!s.empty()) {
    admission::NumberSide v;
    if (!admission::parseSide(s, &v)) {
      fail(400, "invalid_parameter", "side", "must be \"caller\" or \"callee\"");
    }
    side = v;
  }
  auto n = ctx.policy().removeBlacklistEntries(number, side);
  if (!n) fail(503, "store_unavailable", "", n.error().message);
  if (*n == 0)
    fail(404, "not_found", "number", "\"" + number + "\" is not on the dynamic blacklist");
  ctx.audit("blacklist.remove", number, "ok", Json{{"side", s.empty() ? "both" : s}}, nullptr);
  sendJson(res, 200, Json{{"number", number}, {"removed", *n}});
}

// DELETE /api/v1/blacklist: every entry (as `tollgate blacklist clear`).
void clearBlacklist(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto n = ctx.policy().clearBlacklist();
  if (!n) fail(503, "store_unavailable", "", n.error().message);
  ctx.audit("blacklist.clear", "*", "ok", nullptr, Json{{"removed", *n}});
  sendJson(res, 200, Json{{"removed", *n}});
}

}  // namespace

void registerPolicyRoutes(std::vector<Route>& r) {
  r.push_back({"GET", "/api/v1/number-lists", Access::Read, "policy",
               "Number lists (black/white list groups) with their sizes", nullptr, "NumberListList",
               200, nullptr, listLists});
  r.push_back({"POST", "/api/v1/number-lists", Access::Operate, "policy",
               "Create a number list, optionally with its numbers (applied live)",
               "NumberListCreate", "NumberList", 201, nullptr, createList});
  r.push_back({"GET", "/api/v1/number-lists/{name}", Access::Read, "policy",
               "Read one number list with its patterns", nullptr, "NumberList", 200, nullptr,
               getList});
  r.push_back({"PATCH", "/api/v1/number-lists/{name}", Access::Operate, "policy",
               "Add and/or remove patterns (applied live)", "NumberListPatch", "NumberList", 200,
               nullptr, patchList});
  r.push_back({"PUT", "/api/v1/number-lists/{name}/numbers", Access::Operate, "policy",
               "Replace every pattern of a number list (applied live)", "NumberListNumbers",
               "NumberList", 200, nullptr, replaceNumbers});
  r.push_back({"DELETE", "/api/v1/number-lists/{name}", Access::Operate, "policy",
               "Delete a number list no gateway or account names (applied live)", nullptr, nullptr,
               204, nullptr, deleteList});
  r.push_back({"GET", "/api/v1/blacklist", Access::Read, "policy",
               "The dynamic blacklist as the node holds it", nullptr, "BlacklistEntryList", 200,
               "limit:integer:1-100000, default all", listBlacklist});
  r.push_back({"POST", "/api/v1/blacklist", Access::Operate, "policy",
               "List a number by hand (the node applies it within store.provisioning_poll_ms)",
               "BlacklistAdd", "BlacklistEntry", 201, nullptr, addBlacklist});
  r.push_back({"DELETE", "/api/v1/blacklist/{number}", Access::Operate, "policy",
               "Take a number off the dynamic blacklist (applied within "
               "store.provisioning_poll_ms)",
               nullptr, "BlacklistRemoved", 200, "side:string:caller or callee (default both)",
               removeBlacklist});
  r.push_back({"DELETE", "/api/v1/blacklist", Access::Operate, "policy",
               "Remove every entry of the dynamic blacklist (applied within "
               "store.provisioning_poll_ms)",
               nullptr, "BlacklistCleared", 200, nullptr, clearBlacklist});
}

}  // namespace tollgate::mgmt
