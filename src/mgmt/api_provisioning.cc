// API resources of provisioning: mapping gateways (customers) and routing
// gateways (carriers). Each change is one store transaction that loads the
// whole set, applies the change, validates the resulting set with
// admission::validateProvisioning and writes the difference, so nothing is
// half-applied and concurrent edits never lose each other. Then the node is
// asked to load the new version at once (instead of at its next poll) and
// the answer waits for it, so a call placed right after the answer sees
// the change. Later resources (accounts, number lists, ...) follow the same
// pattern: a JSON mapping, an edit closure, a route entry.
#include <algorithm>
#include <chrono>
#include <climits>
#include <deque>
#include <set>

#include "admission/provisioning.h"
#include "common/log.h"
#include "mgmt/api_internal.h"

namespace tollgate::mgmt {
namespace {

using admission::MappingGateway;
using admission::Provisioning;
using admission::RoutingGateway;
using Clock = std::chrono::steady_clock;

// Same bounds as provisioning files (app/provisioning_file.h).
constexpr size_t kMaxAddresses = 4096;
constexpr size_t kMaxPrefixes = 65536;
// How long a change waits for the worker to run it before answering.
constexpr std::chrono::milliseconds kApplyTimeout{2000};

Json mappingJson(const MappingGateway& g) {
  return Json{{"name", g.name},
              {"auth", std::string(admission::authModeName(g.auth))},
              {"addresses", g.addresses},
              {"enabled", g.enabled}};
}

Json routingJson(const RoutingGateway& g) {
  return Json{{"name", g.name},
              {"address", g.address},
              {"transport", g.transport},
              {"prefixes", g.prefixes},
              {"priority", g.priority},
              {"strip_digits", g.stripDigits},
              {"add_prefix", g.addPrefix},
              {"enabled", g.enabled}};
}

// Reads the fields present in `body` onto `g`. With `full`, the required
// fields must be there (create, PUT); PATCH passes full = false.
void readMapping(const Json& body, MappingGateway& g, bool full, bool nameAllowed) {
  JsonFields f(body);
  if (nameAllowed) {
    if (auto n = f.string("name", full, 128)) g.name = *n;
  } else if (body.contains("name")) {
    fail(400, "invalid_field", "name", "cannot be changed (delete and create instead)");
  }
  if (auto a = f.string("auth", full, 16)) {
    if (!admission::parseAuthMode(*a, &g.auth)) {
      fail(400, "invalid_field", "auth", "must be \"ip\", \"ip_port\" or \"password\"");
    }
  }
  if (auto a = f.strings("addresses", full, kMaxAddresses)) g.addresses = *a;
  if (auto e = f.boolean("enabled", false)) g.enabled = *e;
  if (!nameAllowed) f.string("name", false);  // reported above; keeps finish() quiet
  f.finish();
}

void readRouting(const Json& body, RoutingGateway& g, bool full, bool nameAllowed) {
  JsonFields f(body);
  if (nameAllowed) {
    if (auto n = f.string("name", full, 128)) g.name = *n;
  } else if (body.contains("name")) {
    fail(400, "invalid_field", "name", "cannot be changed (delete and create instead)");
  }
  if (auto a = f.string("address", full, 256)) g.address = *a;
  if (auto t = f.string("transport", false, 8)) {
    if (*t != "udp" && *t != "tcp")
      fail(400, "invalid_field", "transport", "must be \"udp\" or \"tcp\"");
    g.transport = *t;
  }
  if (auto p = f.strings("prefixes", full, kMaxPrefixes, 64)) g.prefixes = *p;
  if (auto p = f.integer("priority", full, 0, INT_MAX)) g.priority = static_cast<int>(*p);
  if (auto s = f.integer("strip_digits", false, 0, 32)) g.stripDigits = static_cast<int>(*s);
  if (auto a = f.string("add_prefix", false, 64)) g.addPrefix = *a;
  if (auto e = f.boolean("enabled", false)) g.enabled = *e;
  if (!nameAllowed) f.string("name", false);
  f.finish();
}

std::string errorKey(const admission::ProvisioningError& e) {
  return std::string(e.mapping ? "m:" : "r:") + e.gateway + "\x1f" + e.key + "\x1f" + e.message;
}

// Refuses the edit when the resulting set has a problem the stored set did
// not have (on the edited gateway, or on another one it now conflicts with).
Result<Ok, store::EditRefused> validateChange(const Provisioning& before, const Provisioning& after,
                                              bool mapping, const std::string& name) {
  std::set<std::string> known;
  for (const auto& e : admission::validateProvisioning(before)) known.insert(errorKey(e));
  const admission::ProvisioningError* found = nullptr;
  for (const auto& e : admission::validateProvisioning(after)) {
    if (known.count(errorKey(e))) continue;
    static thread_local admission::ProvisioningError keep;
    keep = e;
    found = &keep;
    if (e.mapping == mapping && e.gateway == name) break;  // prefer the edited gateway's own
  }
  if (!found) return Ok{};
  std::string msg = found->message;
  if (found->gateway != name || found->mapping != mapping) {
    msg += " (on " + std::string(found->mapping ? "mapping" : "routing") + " gateway \"" +
           found->gateway + "\")";
  }
  return Err{store::EditRefused{400, found->key, msg}};
}

template <typename G>
std::vector<G>& listOf(Provisioning& p);
template <>
std::vector<MappingGateway>& listOf<MappingGateway>(Provisioning& p) {
  return p.mappingGateways;
}
template <>
std::vector<RoutingGateway>& listOf<RoutingGateway>(Provisioning& p) {
  return p.routingGateways;
}

template <typename G>
Json toJson(const G& g) {
  if constexpr (std::is_same_v<G, MappingGateway>) {
    return mappingJson(g);
  } else {
    return routingJson(g);
  }
}

template <typename G>
void readGateway(const Json& body, G& g, bool full, bool nameAllowed) {
  if constexpr (std::is_same_v<G, MappingGateway>) {
    readMapping(body, g, full, nameAllowed);
  } else {
    readRouting(body, g, full, nameAllowed);
  }
}

template <typename G>
constexpr bool isMapping() {
  return std::is_same_v<G, MappingGateway>;
}

template <typename G>
const char* kindName() {
  return isMapping<G>() ? "mapping_gateway" : "routing_gateway";
}

enum class Op { Create, Replace, Patch, Delete };

// Runs one edit of one gateway in a store transaction, applies it live,
// audits it and answers.
template <typename G>
void editGateway(RequestContext& ctx, const httplib::Request& req, httplib::Response& res, Op op) {
  Json body = op == Op::Delete ? Json::object() : parseBody(req);
  std::string name = op == Op::Create ? std::string() : ctx.params[0];
  G incoming;
  if (op == Op::Create || op == Op::Replace) {
    // PUT names the gateway in the path; the body may repeat it.
    if (op == Op::Replace && !body.contains("name")) body["name"] = name;
    readGateway(body, incoming, /*full=*/true, /*nameAllowed=*/true);
    if (op == Op::Create) name = incoming.name;
    if (op == Op::Replace && incoming.name.empty()) incoming.name = name;
    if (op == Op::Replace && incoming.name != name) {
      fail(400, "invalid_field", "name", "must match the name in the path");
    }
  }
  Json before = nullptr, after = nullptr;
  const auto t0 = Clock::now();
  auto outcome =
      ctx.store().modifyProvisioning([&](Provisioning& p) -> Result<Ok, store::EditRefused> {
        Provisioning original = p;
        auto& list = listOf<G>(p);
        auto it =
            std::find_if(list.begin(), list.end(), [&](const G& g) { return g.name == name; });
        if (op == Op::Create) {
          if (it != list.end()) {
            return Err{store::EditRefused{409, "name",
                                          std::string(kindName<G>()) + " \"" + name + "\" exists"}};
          }
          list.push_back(incoming);
          after = toJson(incoming);
        } else {
          if (it == list.end()) {
            return Err{store::EditRefused{
                404, "name", "no " + std::string(kindName<G>()) + " \"" + name + "\""}};
          }
          before = toJson(*it);
          if (op == Op::Delete) {
            list.erase(it);
          } else if (op == Op::Replace) {
            *it = incoming;
            after = toJson(*it);
          } else {
            G patched = *it;
            try {
              readGateway(body, patched, /*full=*/false, /*nameAllowed=*/false);
            } catch (const ApiError& e) {
              return Err{store::EditRefused{e.status, e.field, e.message}};
            }
            *it = patched;
            after = toJson(*it);
          }
        }
        return validateChange(original, p, isMapping<G>(), name);
      });
  ctx.api.counters.storeLatency.record(Clock::now() - t0);
  if (!outcome) fail(503, "store_unavailable", "", outcome.error().message);
  if (outcome->refused) {
    const auto& r = outcome->refusal;
    const char* code = r.status == 404   ? "not_found"
                       : r.status == 409 ? "conflict"
                                         : "invalid_field";
    fail(r.status, code, r.field, r.message);
  }
  const char* verb = op == Op::Create ? "create" : op == Op::Delete ? "delete" : "update";
  const auto& sum = outcome->summary;
  bool applied = true;
  if (sum.added + sum.updated + sum.removed > 0) {
    applied = ctx.api.node.applyProvisioning(outcome->version, kApplyTimeout);
    if (!applied) {
      log::warn("api.provisioning_not_applied_yet").kv("version", outcome->version);
    }
  }
  ctx.audit(std::string(kindName<G>()) + "." + verb, name, "ok", before, after);
  res.set_header("X-Tollgate-Provisioning-Version", std::to_string(outcome->version));
  res.set_header("X-Tollgate-Applied", applied ? "true" : "false");
  if (op == Op::Delete) {
    res.status = 204;
    return;
  }
  sendJson(res, op == Op::Create ? 201 : 200, after);
}

template <typename G>
void listGateways(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto p = ctx.store().loadProvisioning();
  if (!p) fail(503, "store_unavailable", "", p.error().message);
  Json arr = Json::array();
  for (const auto& g : listOf<G>(*p)) arr.push_back(toJson(g));
  sendJson(res, 200, Json{{isMapping<G>() ? "mapping_gateways" : "routing_gateways", arr}});
}

template <typename G>
void getGateway(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto p = ctx.store().loadProvisioning();
  if (!p) fail(503, "store_unavailable", "", p.error().message);
  for (const auto& g : listOf<G>(*p)) {
    if (g.name == ctx.params[0]) {
      sendJson(res, 200, toJson(g));
      return;
    }
  }
  fail(404, "not_found", "name", "no " + std::string(kindName<G>()) + " \"" + ctx.params[0] + "\"");
}

template <typename G>
void addRoutes(std::vector<Route>& r, const char* base, const char* item, const char* one,
               const char* list, const char* what) {
  static std::deque<std::string> keep;  // summaries live as long as the table
  auto s = [&](std::string text) {
    keep.push_back(std::move(text));
    return keep.back().c_str();
  };
  r.push_back({"GET", base, Access::Read, "provisioning", s(std::string("List ") + what + "s"),
               nullptr, list, 200, nullptr, listGateways<G>});
  r.push_back({"POST", base, Access::Operate, "provisioning",
               s(std::string("Create a ") + what + " (applied live)"), one, one, 201, nullptr,
               [](RequestContext& c, const httplib::Request& q, httplib::Response& a) {
                 editGateway<G>(c, q, a, Op::Create);
               }});
  r.push_back({"GET", item, Access::Read, "provisioning", s(std::string("Read one ") + what),
               nullptr, one, 200, nullptr, getGateway<G>});
  r.push_back({"PUT", item, Access::Operate, "provisioning",
               s(std::string("Replace a ") + what + " (applied live)"), one, one, 200, nullptr,
               [](RequestContext& c, const httplib::Request& q, httplib::Response& a) {
                 editGateway<G>(c, q, a, Op::Replace);
               }});
  r.push_back({"PATCH", item, Access::Operate, "provisioning",
               s(std::string("Change some fields of a ") + what + " (applied live)"),
               "GatewayPatch", one, 200, nullptr,
               [](RequestContext& c, const httplib::Request& q, httplib::Response& a) {
                 editGateway<G>(c, q, a, Op::Patch);
               }});
  r.push_back({"DELETE", item, Access::Operate, "provisioning",
               s(std::string("Delete a ") + what + " (applied live; calls in progress go on)"),
               nullptr, nullptr, 204, nullptr,
               [](RequestContext& c, const httplib::Request& q, httplib::Response& a) {
                 editGateway<G>(c, q, a, Op::Delete);
               }});
}

}  // namespace

void registerProvisioningRoutes(std::vector<Route>& r) {
  addRoutes<MappingGateway>(r, "/api/v1/mapping-gateways", "/api/v1/mapping-gateways/{name}",
                            "MappingGateway", "MappingGatewayList", "mapping gateway");
  addRoutes<RoutingGateway>(r, "/api/v1/routing-gateways", "/api/v1/routing-gateways/{name}",
                            "RoutingGateway", "RoutingGatewayList", "routing gateway");
}

}  // namespace tollgate::mgmt
