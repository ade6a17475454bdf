// API resources of provisioning: mapping gateways (customers, with their
// digest credentials and call policy), routing gateways (carriers, with
// their outbound credentials and limits), accounts and fraud rules. Each
// change is one store transaction that loads the whole set, applies the
// change, validates the resulting set with admission::validateProvisioning
// (number list names checked against the store's lists) and writes the
// difference, so nothing is half-applied and concurrent edits never lose
// each other. Then the node is asked to load the new version at once
// (instead of at its next poll) and the answer waits for it, so a call
// placed right after the answer sees the change. JSON keys are the keys of
// the provisioning file (docs/configuration.md); secrets are write-only: a
// customer's password is stored as its HA1 digests for sip.domain (as
// `tollgate import` does) and never shown, a carrier's auth_password is
// never shown.
//
// POST /api/v1/provisioning/import takes a whole provisioning set, as
// `tollgate import` reads it from a file: entries upserted by name (with
// prune, what the set does not name is deleted), the set validated as the
// file is (with the stored accounts and number lists as known names), and
// the result validated against what is stored, in one transaction. Its body
// is written by provisioningImportBody() (provisioning_import.h, for the
// CLI) and read here with the same readers as each resource, so the JSON
// form of provisioning lives in this one file both ways.
#include <algorithm>
#include <chrono>
#include <climits>
#include <deque>
#include <set>

#include "admission/provisioning.h"
#include "auth/digest.h"
#include "common/log.h"
#include "mgmt/api_internal.h"
#include "mgmt/provisioning_import.h"
#include "mgmt/provisioning_json.h"

namespace tollgate::mgmt {
namespace {

using admission::Account;
using admission::FraudRule;
using admission::MappingGateway;
using admission::Provisioning;
using admission::RoutingGateway;
using Entry = admission::ProvisioningError::Entry;
using Clock = std::chrono::steady_clock;

// Same bounds as provisioning files (app/provisioning_file.h).
constexpr size_t kMaxAddresses = 4096;
constexpr size_t kMaxPrefixes = 65536;
constexpr size_t kMaxTlsNames = admission::kMaxTlsNames;
// Far above the validated bounds: the validator names the precise limit.
constexpr int64_t kIntMax = INT_MAX;
// How long a change waits for the worker to run it before answering.
constexpr std::chrono::milliseconds kApplyTimeout{2000};

std::vector<std::string> algorithmNames(const std::vector<auth::Algorithm>& algs) {
  std::vector<std::string> out;
  for (auth::Algorithm a : algs) out.emplace_back(auth::algorithmName(a));
  return out;
}

// Each resource's JSON: its own keys, then the fields of its table
// (admission/provisioning_fields.h) in table order.
Json mappingJson(const MappingGateway& g) {
  Json j{{"name", g.name},
         {"auth", std::string(admission::authModeName(g.auth))},
         {"addresses", g.addresses},
         {"enabled", g.enabled},
         // Credentials show as the username only: HA1s are secrets too.
         {"username", g.username},
         {"register", g.registers},
         {"max_contacts", g.maxContacts},
         {"challenge",
          g.hasChallenge ? std::string(admission::challengeModeName(g.challenge)) : std::string()},
         {"digest_algorithms", algorithmNames(g.digestAlgorithms)},
         {"tls_names", g.tlsNames}};
  writeProvisioningFields(j, g);
  return j;
}

Json routingJson(const RoutingGateway& g) {
  Json j{{"name", g.name},
         {"address", g.address},
         {"transport", g.transport},
         {"prefixes", g.prefixes},
         {"priority", g.priority},
         {"strip_digits", g.stripDigits},
         {"add_prefix", g.addPrefix},
         {"enabled", g.enabled},
         {"auth_username", g.authUsername},
         {"register", g.registers},
         {"register_expires", g.registerExpires}};
  writeProvisioningFields(j, g);
  return j;
}

Json accountJson(const Account& a) {
  Json j{{"name", a.name}};
  writeProvisioningFields(j, a);
  return j;
}

Json fraudRuleJson(const FraudRule& r) {
  Json j{{"name", r.name}};
  writeProvisioningFields(j, r);
  return j;
}

// The name: required on create, immutable afterwards.
void readName(JsonFields& f, const Json& body, std::string& name, bool full, bool nameAllowed) {
  if (nameAllowed) {
    if (auto n = f.string("name", full, 128)) name = *n;
  } else {
    if (body.contains("name")) {
      fail(400, "invalid_field", "name", "cannot be changed (delete and create instead)");
    }
    f.string("name", false);  // known: keeps finish() quiet
  }
}

// Reads the fields present in `body` onto `g`. With `full`, the required
// fields must be there (create, PUT); PATCH passes full = false. A password
// stays in g.password until the edit hashes it (after validation).
void readMapping(const Json& body, MappingGateway& g, bool full, bool nameAllowed) {
  JsonFields f(body);
  readName(f, body, g.name, full, nameAllowed);
  if (auto a = f.string("auth", full, 16)) {
    if (!admission::parseAuthMode(*a, &g.auth)) {
      fail(400, "invalid_field", "auth",
           "must be \"ip\", \"ip_port\", \"password\" or \"tls_cert\"");
    }
  }
  // ip and ip_port gateways need addresses; the validator says so.
  if (auto a = f.strings("addresses", false, kMaxAddresses)) g.addresses = *a;
  if (auto e = f.boolean("enabled", false)) g.enabled = *e;
  if (auto u = f.string("username", false, 256)) g.username = *u;
  if (auto p = f.string("password", false, 1024)) {
    g.password = *p;
    g.ha1Md5.clear();
    g.ha1Sha256.clear();
  }
  if (auto r = f.boolean("register", false)) g.registers = *r;
  if (auto m = f.integer("max_contacts", false, 0, kIntMax)) g.maxContacts = static_cast<int>(*m);
  if (auto c = f.string("challenge", false, 16)) {
    if (c->empty()) {
      g.hasChallenge = false;
    } else if (admission::parseChallengeMode(*c, &g.challenge)) {
      g.hasChallenge = true;
    } else {
      fail(400, "invalid_field", "challenge", "must be \"401\", \"407\", \"both\" or \"\"");
    }
  }
  if (auto algs = f.strings("digest_algorithms", false, 2, 16)) {
    std::vector<auth::Algorithm> out;
    for (const std::string& n : *algs) {
      auto a = auth::algorithmFromName(n);
      if (!a || std::find(out.begin(), out.end(), *a) != out.end()) {
        fail(400, "invalid_field", "digest_algorithms",
             "must list \"MD5\" and/or \"SHA-256\", each once, in order of preference");
      }
      out.push_back(*a);
    }
    g.digestAlgorithms = std::move(out);
  }
  if (auto t = f.strings("tls_names", false, kMaxTlsNames, 253)) g.tlsNames = *t;
  readProvisioningFields(f, g, full);
  f.finish();
}

void readRouting(const Json& body, RoutingGateway& g, bool full, bool nameAllowed) {
  JsonFields f(body);
  readName(f, body, g.name, full, nameAllowed);
  if (auto a = f.string("address", full, 256)) g.address = *a;
  if (auto t = f.string("transport", false, 8)) g.transport = *t;  // the validator checks it
  if (auto p = f.strings("prefixes", full, kMaxPrefixes, 64)) g.prefixes = *p;
  if (auto p = f.integer("priority", full, 0, INT_MAX)) g.priority = static_cast<int>(*p);
  if (auto s = f.integer("strip_digits", false, 0, 32)) g.stripDigits = static_cast<int>(*s);
  if (auto a = f.string("add_prefix", false, 64)) g.addPrefix = *a;
  if (auto e = f.boolean("enabled", false)) g.enabled = *e;
  if (auto u = f.string("auth_username", false, 256)) g.authUsername = *u;
  if (auto p = f.string("auth_password", false, 256)) g.authPassword = *p;
  if (auto r = f.boolean("register", false)) g.registers = *r;
  if (auto e = f.integer("register_expires", false, 0, kIntMax)) {
    g.registerExpires = static_cast<int>(*e);
  }
  readProvisioningFields(f, g, full);
  f.finish();
}

void readAccount(const Json& body, Account& a, bool full, bool nameAllowed) {
  JsonFields f(body);
  readName(f, body, a.name, full, nameAllowed);
  readProvisioningFields(f, a, full);
  f.finish();
}

void readFraudRule(const Json& body, FraudRule& r, bool full, bool nameAllowed) {
  JsonFields f(body);
  readName(f, body, r.name, full, nameAllowed);
  readProvisioningFields(f, r, full);
  f.finish();
}

// What each kind of entry needs: its list, JSON, reader, names.
template <typename T>
struct Kind;
template <>
struct Kind<MappingGateway> {
  static constexpr Entry entry = Entry::Mapping;
  static constexpr const char* name = "mapping_gateway";
  static constexpr const char* plural = "mapping_gateways";
  static std::vector<MappingGateway>& list(Provisioning& p) { return p.mappingGateways; }
  static Json json(const MappingGateway& g) { return mappingJson(g); }
  static void read(const Json& b, MappingGateway& g, bool full, bool named) {
    readMapping(b, g, full, named);
  }
};
template <>
struct Kind<RoutingGateway> {
  static constexpr Entry entry = Entry::Routing;
  static constexpr const char* name = "routing_gateway";
  static constexpr const char* plural = "routing_gateways";
  static std::vector<RoutingGateway>& list(Provisioning& p) { return p.routingGateways; }
  static Json json(const RoutingGateway& g) { return routingJson(g); }
  static void read(const Json& b, RoutingGateway& g, bool full, bool named) {
    readRouting(b, g, full, named);
  }
};
template <>
struct Kind<Account> {
  static constexpr Entry entry = Entry::Account;
  static constexpr const char* name = "account";
  static constexpr const char* plural = "accounts";
  static std::vector<Account>& list(Provisioning& p) { return p.accounts; }
  static Json json(const Account& a) { return accountJson(a); }
  static void read(const Json& b, Account& a, bool full, bool named) {
    readAccount(b, a, full, named);
  }
};
template <>
struct Kind<FraudRule> {
  static constexpr Entry entry = Entry::FraudRule;
  static constexpr const char* name = "fraud_rule";
  static constexpr const char* plural = "fraud_rules";
  static std::vector<FraudRule>& list(Provisioning& p) { return p.fraudRules; }
  static Json json(const FraudRule& r) { return fraudRuleJson(r); }
  static void read(const Json& b, FraudRule& r, bool full, bool named) {
    readFraudRule(b, r, full, named);
  }
};

const char* entryName(Entry e) {
  switch (e) {
    case Entry::Mapping:
      return "mapping gateway";
    case Entry::Routing:
      return "routing gateway";
    case Entry::Account:
      return "account";
    case Entry::FraudRule:
      return "fraud rule";
  }
  return "entry";
}

std::string errorKey(const admission::ProvisioningError& e) {
  return std::to_string(static_cast<int>(e.entry)) + e.gateway + "\x1f" + e.key + "\x1f" +
         e.message;
}

// The first problem of `after` that `before` did not have (on the entry
// `entry`/`name` when it has one, else on another entry it now conflicts
// with); nullopt when there is none.
std::optional<admission::ProvisioningError> newProblem(const Provisioning& before,
                                                       const Provisioning& after,
                                                       const admission::KnownNames& known,
                                                       std::optional<Entry> entry,
                                                       const std::string& name) {
  std::set<std::string> seen;
  for (const auto& e : admission::validateProvisioning(before, &known)) seen.insert(errorKey(e));
  std::optional<admission::ProvisioningError> found;
  for (const auto& e : admission::validateProvisioning(after, &known)) {
    if (seen.count(errorKey(e))) continue;
    found = e;
    if (e.entry == entry && e.gateway == name) break;  // prefer the edited entry's own
  }
  return found;
}

// Refuses the edit when the resulting set has a problem the stored set did
// not have (on the edited entry, or on another one it now conflicts with).
Result<Ok, store::EditRefused> validateChange(const Provisioning& before, const Provisioning& after,
                                              const admission::KnownNames& known, Entry entry,
                                              const std::string& name) {
  auto found = newProblem(before, after, known, entry, name);
  if (!found) return Ok{};
  std::string msg = found->message;
  if (found->gateway != name || found->entry != entry) {
    msg += " (on " + std::string(entryName(found->entry)) + " \"" + found->gateway + "\")";
  }
  return Err{store::EditRefused{400, found->key, msg}};
}

// The number lists in the store, for validating list references.
admission::KnownNames knownNames(RequestContext& ctx) {
  admission::KnownNames known;
  auto lists = ctx.policy().numberLists();
  if (!lists) fail(503, "store_unavailable", "", lists.error().message);
  for (const auto& l : *lists) known.numberLists.emplace(l.name, l.kind);
  return known;
}

// Who refers to account `name` (a delete must not leave them dangling).
std::string accountUser(const Provisioning& p, const std::string& name) {
  for (const auto& g : p.mappingGateways) {
    if (g.policy.account == name) return "mapping gateway \"" + g.name + "\"";
  }
  for (const auto& r : p.fraudRules) {
    if (r.account == name) return "fraud rule \"" + r.name + "\"";
  }
  return "";
}

enum class Op { Create, Replace, Patch, Delete };

// Runs one edit of one entry in a store transaction, applies it live,
// audits it and answers.
template <typename T>
void editEntry(RequestContext& ctx, const httplib::Request& req, httplib::Response& res, Op op) {
  using K = Kind<T>;
  Json body = op == Op::Delete ? Json::object() : parseBody(req);
  std::string name = op == Op::Create ? std::string() : ctx.params[0];
  T incoming;
  if (op == Op::Create || op == Op::Replace) {
    // PUT names the entry in the path; the body may repeat it.
    if (op == Op::Replace && !body.contains("name")) body["name"] = name;
    K::read(body, incoming, /*full=*/true, /*nameAllowed=*/true);
    if (op == Op::Create) name = incoming.name;
    if (op == Op::Replace && incoming.name != name) {
      fail(400, "invalid_field", "name", "must match the name in the path");
    }
  }
  const admission::KnownNames known = knownNames(ctx);
  const std::string& realm = ctx.api.settings.realm;
  Json before = nullptr, after = nullptr;
  const auto t0 = Clock::now();
  auto outcome =
      ctx.store().modifyProvisioning([&](Provisioning& p) -> Result<Ok, store::EditRefused> {
        Provisioning original = p;
        auto& list = K::list(p);
        auto it =
            std::find_if(list.begin(), list.end(), [&](const T& e) { return e.name == name; });
        T* edited = nullptr;
        if (op == Op::Create) {
          if (it != list.end()) {
            return Err{
                store::EditRefused{409, "name", std::string(K::name) + " \"" + name + "\" exists"}};
          }
          list.push_back(incoming);
          edited = &list.back();
        } else {
          if (it == list.end()) {
            return Err{store::EditRefused{404, "name",
                                          "no " + std::string(K::name) + " \"" + name + "\""}};
          }
          before = K::json(*it);
          if (op == Op::Delete) {
            if constexpr (std::is_same_v<T, Account>) {
              if (std::string user = accountUser(p, name); !user.empty()) {
                return Err{
                    store::EditRefused{409, "name", "account \"" + name + "\" is used by " + user}};
              }
            }
            list.erase(it);
          } else if (op == Op::Replace) {
            *it = incoming;
            edited = &*it;
          } else {
            T patched = *it;
            try {
              K::read(body, patched, /*full=*/false, /*nameAllowed=*/false);
            } catch (const ApiError& e) {
              return Err{store::EditRefused{e.status, e.field, e.message}};
            }
            if constexpr (std::is_same_v<T, MappingGateway>) {
              // HA1 covers the username: a new one needs the password again.
              if (patched.username != it->username && patched.password.empty() &&
                  patched.auth == admission::AuthMode::Password) {
                return Err{store::EditRefused{
                    400, "password",
                    "is required when the username changes (the stored digests depend on it)"}};
              }
            }
            *it = patched;
            edited = &*it;
          }
        }
        if (auto v = validateChange(original, p, known, K::entry, name); !v) return v;
        if (edited) {
          if constexpr (std::is_same_v<T, MappingGateway>) {
            // A clear password given to the API: stored as its HA1 digests.
            admission::hashPassword(*edited, realm);
          }
          after = K::json(*edited);
        }
        return Ok{};
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
  ctx.audit(std::string(K::name) + "." + verb, name, "ok", before, after);
  res.set_header("X-Tollgate-Provisioning-Version", std::to_string(outcome->version));
  res.set_header("X-Tollgate-Applied", applied ? "true" : "false");
  if (op == Op::Delete) {
    res.status = 204;
    return;
  }
  sendJson(res, op == Op::Create ? 201 : 200, after);
}

// --- import

// The provisioning file's name of an entry kind ("mapping_gateway").
const char* fileKey(Entry e) {
  switch (e) {
    case Entry::Mapping:
      return Kind<MappingGateway>::name;
    case Entry::Routing:
      return Kind<RoutingGateway>::name;
    case Entry::Account:
      return Kind<Account>::name;
    case Entry::FraudRule:
      return Kind<FraudRule>::name;
  }
  return "entry";
}

// A finding named as `tollgate import` names it in a file:
// "mapping_gateway[cust-a].callee_lists".
std::string findingField(const admission::ProvisioningError& e) {
  std::string f = std::string(fileKey(e.entry)) + "[" + e.gateway + "]";
  return e.key.empty() ? f : f + "." + e.key;
}

// Reads the import body's list `Kind<T>::plural` with the resource's own
// reader (full entries), naming a bad field with its entry.
template <typename T>
void readImportList(const Json& body, std::vector<T>& out) {
  using K = Kind<T>;
  if (!body.contains(K::plural)) return;
  const Json& arr = body[K::plural];
  if (!arr.is_array()) fail(400, "invalid_field", K::plural, "must be an array of entries");
  out.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const Json& e = arr[i];
    // Labelled as in a provisioning file: by name, or by position.
    std::string label = "#" + std::to_string(i + 1);
    if (e.is_object() && e.contains("name") && e["name"].is_string() &&
        !e["name"].get_ref<const std::string&>().empty() &&
        e["name"].get_ref<const std::string&>().size() <= 128) {
      label = e["name"].get<std::string>();
    }
    const std::string where = std::string(K::name) + "[" + label + "]";
    if (!e.is_object()) fail(400, "invalid_field", where, "must be an object");
    T entry;
    try {
      K::read(e, entry, /*full=*/true, /*nameAllowed=*/true);
    } catch (ApiError& err) {
      err.field = err.field.empty() ? where : where + "." + err.field;
      throw;
    }
    out.push_back(std::move(entry));
  }
}

size_t entryCount(const Provisioning& p) {
  return p.mappingGateways.size() + p.routingGateways.size() + p.accounts.size() +
         p.fraudRules.size();
}

// Names (as "mapping_gateway cust-a") the audit row of an import lists, at
// most this many of each of added and removed: the counts are always there.
constexpr size_t kMaxAuditedNames = 100;

void noteName(Json& names, const char* kind, const std::string& name) {
  if (names.size() < kMaxAuditedNames) names.push_back(std::string(kind) + " " + name);
}

// `incoming` entries replace stored ones of the same name; new ones are
// appended (and noted in `added`).
template <typename T>
void upsertByName(std::vector<T>& stored, std::vector<T>& incoming, Json& added) {
  std::map<std::string, size_t, std::less<>> at;
  for (size_t i = 0; i < stored.size(); ++i) at.emplace(stored[i].name, i);
  for (T& e : incoming) {
    if (auto it = at.find(e.name); it != at.end()) {
      stored[it->second] = std::move(e);
    } else {
      noteName(added, Kind<T>::name, e.name);
      stored.push_back(std::move(e));
    }
  }
}

// Notes the stored entries `incoming` does not name (what prune deletes).
template <typename T>
void noteAbsent(const std::vector<T>& stored, const std::vector<T>& incoming, Json& removed) {
  std::set<std::string_view> names;
  for (const T& e : incoming) names.insert(e.name);
  for (const T& e : stored) {
    if (!names.count(e.name)) noteName(removed, Kind<T>::name, e.name);
  }
}

// POST /api/v1/provisioning/import
void importSet(RequestContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body = parseBody(req);
  static constexpr const char* kKeys[] = {"prune",    "source",           "mapping_gateways",
                                          "accounts", "routing_gateways", "fraud_rules"};
  for (const auto& [k, v] : body.items()) {
    if (std::find(std::begin(kKeys), std::end(kKeys), k) == std::end(kKeys)) {
      fail(400, "unknown_field", k, "is not a field of this resource");
    }
  }
  JsonFields f(body);
  const bool prune = f.boolean("prune", false).value_or(false);
  const std::string source = f.string("source", false, 256).value_or("");
  if (std::any_of(source.begin(), source.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    fail(400, "invalid_field", "source", "must not contain control characters");
  }
  Provisioning file;
  readImportList(body, file.mappingGateways);
  readImportList(body, file.routingGateways);
  readImportList(body, file.accounts);
  readImportList(body, file.fraudRules);
  body = Json();  // the clear passwords go with it

  const admission::KnownNames lists = knownNames(ctx);
  const std::string& realm = ctx.api.settings.realm;
  Json added = Json::array(), removed = Json::array();
  const auto t0 = Clock::now();
  auto outcome =
      ctx.store().modifyProvisioning([&](Provisioning& p) -> Result<Ok, store::EditRefused> {
        // The set as a file: its references may name the stored accounts
        // (unless it replaces them all) and the number lists.
        admission::KnownNames known = lists;
        if (!prune) {
          for (const Account& a : p.accounts) known.accounts.push_back(a.name);
        }
        if (auto errors = admission::validateProvisioning(file, &known); !errors.empty()) {
          return Err{store::EditRefused{400, findingField(errors.front()), errors.front().message}};
        }
        Provisioning incoming = file;
        for (MappingGateway& g : incoming.mappingGateways) {
          // What the store keeps of a password: its HA1s, for password
          // gateways only (as `tollgate import`).
          if (g.auth == admission::AuthMode::Password) {
            admission::hashPassword(g, realm);
          } else {
            std::fill(g.password.begin(), g.password.end(), '\0');
            g.password.clear();
          }
        }
        const Provisioning stored = p;
        if (prune) {
          noteAbsent(stored.mappingGateways, incoming.mappingGateways, removed);
          noteAbsent(stored.routingGateways, incoming.routingGateways, removed);
          noteAbsent(stored.accounts, incoming.accounts, removed);
          noteAbsent(stored.fraudRules, incoming.fraudRules, removed);
          noteAbsent(incoming.mappingGateways, stored.mappingGateways, added);
          noteAbsent(incoming.routingGateways, stored.routingGateways, added);
          noteAbsent(incoming.accounts, stored.accounts, added);
          noteAbsent(incoming.fraudRules, stored.fraudRules, added);
          p = std::move(incoming);
          return Ok{};  // the set is the file's, validated above
        }
        upsertByName(p.mappingGateways, incoming.mappingGateways, added);
        upsertByName(p.routingGateways, incoming.routingGateways, added);
        upsertByName(p.accounts, incoming.accounts, added);
        upsertByName(p.fraudRules, incoming.fraudRules, added);
        // Entries of the file may conflict with stored ones it does not
        // name (two gateways claiming one source): refused like any edit.
        if (auto e = newProblem(stored, p, lists, std::nullopt, "")) {
          return Err{store::EditRefused{400, findingField(*e), e->message}};
        }
        return Ok{};
      });
  ctx.api.counters.storeLatency.record(Clock::now() - t0);
  if (!outcome) fail(503, "store_unavailable", "", outcome.error().message);
  if (outcome->refused) {
    const auto& r = outcome->refusal;
    fail(r.status, r.status == 409 ? "conflict" : "invalid_field", r.field, r.message);
  }
  const auto& sum = outcome->summary;
  // Entries of the set that neither came nor changed; stored entries it
  // does not name are not counted (as `tollgate import` counts).
  const size_t changed = sum.added + sum.updated;
  const size_t unchanged = entryCount(file) > changed ? entryCount(file) - changed : 0;
  bool applied = true;
  if (sum.added + sum.updated + sum.removed > 0) {
    applied = ctx.api.node.applyProvisioning(outcome->version, kApplyTimeout);
    if (!applied) log::warn("api.provisioning_not_applied_yet").kv("version", outcome->version);
  }
  Json result{{"added", sum.added},     {"updated", sum.updated},      {"unchanged", unchanged},
              {"removed", sum.removed}, {"version", outcome->version}, {"applied", applied}};
  Json audited = result;
  audited["prune"] = prune;
  audited["added_names"] = added;
  audited["removed_names"] = removed;
  ctx.audit("provisioning.import", source.empty() ? "-" : source, "ok", nullptr, audited);
  res.set_header("X-Tollgate-Provisioning-Version", std::to_string(outcome->version));
  res.set_header("X-Tollgate-Applied", applied ? "true" : "false");
  sendJson(res, 200, result);
}

template <typename T>
void listEntries(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto p = ctx.store().loadProvisioning();
  if (!p) fail(503, "store_unavailable", "", p.error().message);
  Json arr = Json::array();
  for (const auto& e : Kind<T>::list(*p)) arr.push_back(Kind<T>::json(e));
  sendJson(res, 200, Json{{Kind<T>::plural, arr}});
}

template <typename T>
void getEntry(RequestContext& ctx, const httplib::Request&, httplib::Response& res) {
  auto p = ctx.store().loadProvisioning();
  if (!p) fail(503, "store_unavailable", "", p.error().message);
  for (const auto& e : Kind<T>::list(*p)) {
    if (e.name == ctx.params[0]) {
      sendJson(res, 200, Kind<T>::json(e));
      return;
    }
  }
  fail(404, "not_found", "name", "no " + std::string(Kind<T>::name) + " \"" + ctx.params[0] + "\"");
}

template <typename T>
void addRoutes(std::vector<Route>& r, const char* base, const char* item, const char* one,
               const char* list, const char* patch, const char* what) {
  static std::deque<std::string> keep;  // summaries live as long as the table
  auto s = [&](std::string text) {
    keep.push_back(std::move(text));
    return keep.back().c_str();
  };
  r.push_back({"GET", base, Access::Read, "provisioning", s(std::string("List ") + what + "s"),
               nullptr, list, 200, nullptr, listEntries<T>});
  r.push_back({"POST", base, Access::Operate, "provisioning",
               s(std::string("Create a ") + what + " (applied live)"), one, one, 201, nullptr,
               [](RequestContext& c, const httplib::Request& q, httplib::Response& a) {
                 editEntry<T>(c, q, a, Op::Create);
               }});
  r.push_back({"GET", item, Access::Read, "provisioning", s(std::string("Read one ") + what),
               nullptr, one, 200, nullptr, getEntry<T>});
  r.push_back({"PUT", item, Access::Operate, "provisioning",
               s(std::string("Replace a ") + what + " (applied live)"), one, one, 200, nullptr,
               [](RequestContext& c, const httplib::Request& q, httplib::Response& a) {
                 editEntry<T>(c, q, a, Op::Replace);
               }});
  r.push_back({"PATCH", item, Access::Operate, "provisioning",
               s(std::string("Change some fields of a ") + what + " (applied live)"), patch, one,
               200, nullptr,
               [](RequestContext& c, const httplib::Request& q, httplib::Response& a) {
                 editEntry<T>(c, q, a, Op::Patch);
               }});
  r.push_back({"DELETE", item, Access::Operate, "provisioning",
               s(std::string("Delete a ") + what + " (applied live; calls in progress go on)"),
               nullptr, nullptr, 204, nullptr,
               [](RequestContext& c, const httplib::Request& q, httplib::Response& a) {
                 editEntry<T>(c, q, a, Op::Delete);
               }});
}

}  // namespace

std::string provisioningImportBody(const admission::Provisioning& p, bool prune,
                                   std::string_view source) {
  Json body{{"prune", prune}};
  if (!source.empty()) body["source"] = std::string(source);
  Json& mapping = body[Kind<MappingGateway>::plural] = Json::array();
  for (const MappingGateway& g : p.mappingGateways) {
    Json j = mappingJson(g);
    if (g.auth == admission::AuthMode::Password && !g.password.empty()) j["password"] = g.password;
    mapping.push_back(std::move(j));
  }
  Json& routing = body[Kind<RoutingGateway>::plural] = Json::array();
  for (const RoutingGateway& g : p.routingGateways) {
    Json j = routingJson(g);
    if (!g.authPassword.empty()) j["auth_password"] = g.authPassword;
    routing.push_back(std::move(j));
  }
  Json& accounts = body[Kind<Account>::plural] = Json::array();
  for (const Account& a : p.accounts) accounts.push_back(accountJson(a));
  Json& rules = body[Kind<FraudRule>::plural] = Json::array();
  for (const FraudRule& r : p.fraudRules) rules.push_back(fraudRuleJson(r));
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void registerProvisioningRoutes(std::vector<Route>& r) {
  addRoutes<MappingGateway>(r, "/api/v1/mapping-gateways", "/api/v1/mapping-gateways/{name}",
                            "MappingGateway", "MappingGatewayList", "GatewayPatch",
                            "mapping gateway");
  addRoutes<RoutingGateway>(r, "/api/v1/routing-gateways", "/api/v1/routing-gateways/{name}",
                            "RoutingGateway", "RoutingGatewayList", "GatewayPatch",
                            "routing gateway");
  addRoutes<Account>(r, "/api/v1/accounts", "/api/v1/accounts/{name}", "Account", "AccountList",
                     "EntryPatch", "account");
  addRoutes<FraudRule>(r, "/api/v1/fraud-rules", "/api/v1/fraud-rules/{name}", "FraudRule",
                       "FraudRuleList", "EntryPatch", "fraud rule");
  r.push_back({"POST", "/api/v1/provisioning/import", Access::Operate, "provisioning",
               "Import a provisioning set as `tollgate import` does: entries upserted by name "
               "(with prune, the stored entries it does not name are deleted), validated and "
               "written in one transaction, applied live",
               "ProvisioningImport", "ProvisioningImported", 200, nullptr, importSet});
}

}  // namespace tollgate::mgmt
