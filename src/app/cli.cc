// Command-line front end. See cli.h.
#include "app/cli.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <type_traits>
#include <variant>

#include "admission/provisioning_fields.h"
#include "app/cli_api.h"
#include "app/cli_link.h"
#include "app/config.h"
#include "app/node.h"
#include "app/policy_cli.h"
#include "app/provisioning_file.h"
#include "app/shield_cli.h"
#include "call/cdr.h"
#include "call/numbers.h"
#include "mgmt/provisioning_import.h"
#include "sip/lint.h"
#include "store/cdr_format.h"
#include "store/pg_backend.h"
#include "store/registration_store.h"
#include "store/sqlite_backup.h"
#include "store/store.h"
#include "store/store_factory.h"
#include "store/store_migrate.h"
#include "store/suspension_store.h"

namespace tollgate::app {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kExitRuntime = 1;
constexpr int kExitBadConfig = 2;

std::unique_ptr<store::Store> storeOrNull(const Config& c) {
  auto s = store::openStore(c.store.target());
  if (!s.ok()) {
    std::fprintf(stderr, "store %s: %s\n", c.store.path.c_str(), s.error().message.c_str());
    return nullptr;
  }
  return std::move(s).value();
}

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s.empty() ? "\"\"" : s;
  }
  return out;
}

std::string jsonStringArray(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    store::appendJsonString(out, v[i]);
  }
  return out + "]";
}

// The names a provisioning file may refer to besides its own, as the
// running node has them: its number lists and (without prune) its accounts.
std::optional<admission::KnownNames> knownNamesViaApi(NodeLink& link, bool prune, int* rc) {
  admission::KnownNames known;
  const mgmt::ApiReply lists = link.request("GET", "/api/v1/number-lists");
  if (!answered(lists, rc)) return std::nullopt;
  const Json l = Json::parse(lists.body, nullptr, false);
  for (const Json& e : l.value("number_lists", Json::array())) {
    admission::ListKind kind;
    if (e.is_object() && e.value("name", Json()).is_string() &&
        admission::parseListKind(e.value("kind", ""), &kind)) {
      known.numberLists.emplace(e["name"].get<std::string>(), kind);
    }
  }
  if (!prune) {
    const mgmt::ApiReply accounts = link.request("GET", "/api/v1/accounts");
    if (!answered(accounts, rc)) return std::nullopt;
    const Json a = Json::parse(accounts.body, nullptr, false);
    for (const Json& e : a.value("accounts", Json::array())) {
      if (e.is_object() && e.value("name", Json()).is_string()) {
        known.accounts.push_back(e["name"].get<std::string>());
      }
    }
  }
  return known;
}

void printImported(const std::string& file, size_t added, size_t updated, size_t unchanged,
                   size_t removed) {
  std::printf("imported %s: %zu added, %zu updated, %zu unchanged, %zu removed\n", file.c_str(),
              added, updated, unchanged, removed);
}

// `tollgate import`: through the running node's API (validated again there,
// written in one transaction, audited, applied live), else into the store.
int cmdImport(const std::string& configPath, const std::string& token, const std::string& file,
              bool prune) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  int rc = 0;
  auto link = NodeLink::forChange(*config, token, &rc);
  if (!link) return rc;
  // References to accounts and number lists already stored are valid.
  auto known =
      link->viaApi() ? knownNamesViaApi(*link, prune, &rc) : knownNamesForImport(*config, prune);
  if (!known) return rc != 0 ? rc : kExitRuntime;
  auto prov = loadProvisioningFile(file, &*known);
  if (!prov.ok()) {
    std::fprintf(stderr, "%s\n", prov.error().format().c_str());
    return kExitBadConfig;
  }
  if (link->viaApi()) {
    // The clear passwords travel to the node (loopback, or HTTPS with
    // api.certificate), which keeps their HA1 digests for its sip.domain.
    std::string body = mgmt::provisioningImportBody(*prov, prune, file);
    if (!fitsOneRequest(body)) {
      std::fill(body.begin(), body.end(), '\0');
      return kExitBadConfig;
    }
    const mgmt::ApiReply r = link->request("POST", "/api/v1/provisioning/import", body);
    std::fill(body.begin(), body.end(), '\0');
    if (!answered(r, &rc)) {
      std::fprintf(stderr, "import failed (nothing changed)\n");
      return rc;
    }
    const Json j = Json::parse(r.body, nullptr, false);
    printImported(file, j.value("added", size_t{0}), j.value("updated", size_t{0}),
                  j.value("unchanged", size_t{0}), j.value("removed", size_t{0}));
    return 0;
  }
  // Passwords become HA1 digests for our realm here; the store never sees them.
  hashPasswords(*prov, config->sip.domain);
  auto st = storeOrNull(*config);
  if (!st) return kExitRuntime;
  auto r = st->importProvisioning(*prov, prune);
  if (!r.ok()) {
    std::fprintf(stderr, "import failed (nothing changed): %s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  printImported(file, r->added, r->updated, r->unchanged, r->removed);
  return 0;
}

// The fields of a record's table (admission/provisioning_fields.h) as JSON
// members, keys as in the provisioning file, each after a comma unless
// `first`.
template <typename Record>
void appendFieldsJson(std::string& out, const Record& r, bool first) {
  for (const auto& f : admission::provisioningFields<Record>()) {
    out += first ? "\"" : ",\"";
    first = false;
    out += std::string(f.key) + "\":";
    std::visit(
        [&](const auto* v) {
          using T = std::remove_cv_t<std::remove_pointer_t<decltype(v)>>;
          if constexpr (std::is_same_v<T, int>) {
            out += std::to_string(*v);
          } else if constexpr (std::is_same_v<T, double>) {
            std::ostringstream o;
            o << *v;
            out += o.str();
          } else if constexpr (std::is_same_v<T, bool>) {
            out += *v ? "true" : "false";
          } else if constexpr (std::is_same_v<T, std::string>) {
            store::appendJsonString(out, *v);
          } else {
            out += jsonStringArray(*v);
          }
        },
        f.at(r));
  }
}

// A gateway's call policy as a JSON object.
template <typename Gateway>
std::string policyJson(const Gateway& g) {
  std::string out = "{";
  appendFieldsJson(out, g, /*first=*/true);
  return out + "}";
}

// Accounts and fraud rules: the name, then the table's fields.
template <typename Record>
std::string recordsJson(const std::vector<Record>& records) {
  std::string out;
  for (size_t i = 0; i < records.size(); ++i) {
    out += i ? ",\n{\"name\":" : "\n{\"name\":";
    store::appendJsonString(out, records[i].name);
    appendFieldsJson(out, records[i], /*first=*/false);
    out += "}";
  }
  return out;
}

// The call policy part of `gateway list`: limits per gateway,
// accounts, fraud rules; only what is set.
void printPolicyTables(const admission::Provisioning& p) {
  auto limits = [](const admission::CallLimitsSpec& l) {
    std::ostringstream o;
    if (l.cps > 0)
      o << "cps=" << l.cps << (l.cpsBurst > 0 ? "/" + std::to_string(l.cpsBurst) : "") << " ";
    if (l.maxConcurrent > 0) o << "channels=" << l.maxConcurrent << " ";
    return o.str();
  };
  auto lists = [](const admission::NumberListRefs& r) {
    std::string out;
    if (!r.caller.empty()) out += "caller_lists=" + joined(r.caller, ",") + " ";
    if (!r.callee.empty()) out += "callee_lists=" + joined(r.callee, ",") + " ";
    return out;
  };
  auto signalling = [](const admission::GatewayPolicy& pol) {
    std::string out;
    if (pol.trustIdentity) out += "trust_identity ";
    if (!pol.passHeaders.empty()) out += "pass_headers=" + joined(pol.passHeaders, ",") + " ";
    if (!pol.assertedIdentity.empty()) out += "asserted_identity=" + pol.assertedIdentity + " ";
    return out;
  };
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& g : p.mappingGateways) {
    std::string v = limits(g.policy.limits) + lists(g.policy.lists);
    if (!g.policy.account.empty()) v = "account=" + g.policy.account + " " + v;
    if (g.policy.maxDuration > 0) v += "max_duration=" + std::to_string(g.policy.maxDuration) + " ";
    if (g.policy.dynamicBlacklist) v += "dynamic_blacklist ";
    v += signalling(g.policy);
    if (!v.empty()) rows.emplace_back("mapping " + g.name, v);
  }
  for (const auto& g : p.routingGateways) {
    std::string v = limits(g.policy.limits) + lists(g.policy.lists);
    if (!g.policy.optionsCheck) v += "no_options_check ";
    v += signalling(g.policy);
    if (!v.empty()) rows.emplace_back("routing " + g.name, v);
  }
  for (const auto& a : p.accounts) {
    std::string v = limits(a.limits) + lists(a.lists);
    if (a.maxDuration > 0) v += "max_duration=" + std::to_string(a.maxDuration) + " ";
    if (a.dynamicBlacklist) v += "dynamic_blacklist ";
    rows.emplace_back("account " + a.name, v.empty() ? "-" : v);
  }
  for (const auto& r : p.fraudRules) {
    std::string v = "account=" + (r.account.empty() ? std::string("*") : r.account) +
                    " prefixes=" + joined(r.prefixes, ",");
    if (!r.window.empty()) v += " window=" + r.window;
    rows.emplace_back("fraud_rule " + r.name, v);
  }
  if (rows.empty()) return;
  std::printf("\n%-34s %s\n", "POLICY", "SETTINGS");
  for (const auto& [who, what] : rows) std::printf("%-34s %s\n", who.c_str(), what.c_str());
}

int cmdGatewayList(const std::string& configPath, bool json) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  auto st = storeOrNull(*config);
  if (!st) return kExitRuntime;
  auto prov = st->loadProvisioning();
  if (!prov.ok()) {
    std::fprintf(stderr, "store: %s\n", prov.error().message.c_str());
    return kExitRuntime;
  }
  if (json) {
    std::string out = "{\"mapping_gateways\":[";
    for (size_t i = 0; i < prov->mappingGateways.size(); ++i) {
      const auto& g = prov->mappingGateways[i];
      if (i) out += ',';
      out += "\n{\"name\":";
      store::appendJsonString(out, g.name);
      out += ",\"auth\":";
      store::appendJsonString(out, admission::authModeName(g.auth));
      out += ",\"addresses\":" + jsonStringArray(g.addresses);
      out += std::string(",\"enabled\":") + (g.enabled ? "true" : "false");
      // Credentials show as the username only: HA1s are secrets too.
      out += ",\"username\":";
      store::appendJsonString(out, g.username);
      out += std::string(",\"register\":") + (g.registers ? "true" : "false");
      out += ",\"max_contacts\":" + std::to_string(g.maxContacts);
      out += ",\"challenge\":";
      store::appendJsonString(out, g.hasChallenge ? admission::challengeModeName(g.challenge) : "");
      out += ",\"tls_names\":" + jsonStringArray(g.tlsNames);
      std::vector<std::string> algs;
      for (auth::Algorithm a : g.digestAlgorithms) algs.emplace_back(auth::algorithmName(a));
      out += ",\"digest_algorithms\":" + jsonStringArray(algs);
      out += ",\"policy\":" + policyJson(g) + "}";
    }
    out += "],\n\"routing_gateways\":[";
    for (size_t i = 0; i < prov->routingGateways.size(); ++i) {
      const auto& g = prov->routingGateways[i];
      if (i) out += ',';
      out += "\n{\"name\":";
      store::appendJsonString(out, g.name);
      out += ",\"address\":";
      store::appendJsonString(out, g.address);
      out += ",\"transport\":";
      store::appendJsonString(out, g.transport);
      out += ",\"prefixes\":" + jsonStringArray(g.prefixes);
      out += ",\"priority\":" + std::to_string(g.priority);
      out += ",\"strip_digits\":" + std::to_string(g.stripDigits);
      out += ",\"add_prefix\":";
      store::appendJsonString(out, g.addPrefix);
      out += std::string(",\"enabled\":") + (g.enabled ? "true" : "false");
      out += ",\"auth_username\":";
      store::appendJsonString(out, g.authUsername);
      out += std::string(",\"register\":") + (g.registers ? "true" : "false");
      out += ",\"register_expires\":" + std::to_string(g.registerExpires);
      out += ",\"policy\":" + policyJson(g) + "}";
    }
    out += "],\n\"accounts\":[" + recordsJson(prov->accounts) + "],\n\"fraud_rules\":[" +
           recordsJson(prov->fraudRules) + "]}\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%-8s %-24s %-8s %-9s %-16s %s\n", "KIND", "NAME", "ENABLED", "AUTH", "IDENTITY",
              "ADDRESSES");
  for (const auto& g : prov->mappingGateways) {
    // IDENTITY: the digest username (with "+reg" when it registers) or the
    // certificate names; "-" for address-identified gateways.
    std::string identity = g.auth == admission::AuthMode::Password
                               ? g.username + (g.registers ? " +reg" : "")
                           : g.auth == admission::AuthMode::TlsCert ? joined(g.tlsNames, ",")
                                                                    : "-";
    std::printf("%-8s %-24s %-8s %-9s %-16s %s\n", "mapping", g.name.c_str(),
                g.enabled ? "yes" : "no", std::string(admission::authModeName(g.auth)).c_str(),
                identity.c_str(), g.addresses.empty() ? "-" : joined(g.addresses, ",").c_str());
  }
  std::printf("\n%-8s %-24s %-8s %-9s %-22s %-8s %-10s %s\n", "KIND", "NAME", "ENABLED",
              "TRANSPORT", "ADDRESS", "PRIORITY", "TRANSLATE", "PREFIXES");
  for (const auto& g : prov->routingGateways) {
    std::string translate = "-" + std::to_string(g.stripDigits) + "+" +
                            (g.addPrefix.empty() ? std::string("\"\"") : g.addPrefix);
    std::printf("%-8s %-24s %-8s %-9s %-22s %-8d %-10s %s\n", "routing", g.name.c_str(),
                g.enabled ? "yes" : "no", g.transport.c_str(), g.address.c_str(), g.priority,
                translate.c_str(), joined(g.prefixes, ",").c_str());
  }
  printPolicyTables(*prov);
  return 0;
}

int cmdCdrList(const std::string& configPath, bool json, bool raw, size_t limit,
               const std::string& reason, const std::string& gateway) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  if (!reason.empty() && !call::reasonFromName(reason)) {
    std::fprintf(stderr, "--reason: unknown termination reason \"%s\" (see docs/cdr.md)\n",
                 reason.c_str());
    return kExitBadConfig;
  }
  auto st = storeOrNull(*config);
  if (!st) return kExitRuntime;
  store::CdrQuery q;
  q.limit = limit;
  q.reason = reason;
  q.mappingGateway = gateway;
  auto cdrs = st->listCdrs(q);
  if (!cdrs.ok()) {
    std::fprintf(stderr, "store: %s\n", cdrs.error().message.c_str());
    return kExitRuntime;
  }
  if (json) {
    std::fputs(store::cdrsToJson(*cdrs).c_str(), stdout);
    return 0;
  }
  const store::CdrNumbers numbers = raw ? store::CdrNumbers::Raw : store::CdrNumbers::Canonical;
  std::printf("%s\n", store::cdrTableHeader(numbers).c_str());
  for (const auto& c : *cdrs) std::printf("%s\n", store::cdrToTableRow(c, numbers).c_str());
  return 0;
}

int64_t wallNowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-11-26 16:20:00" (UTC, to the second) for tables.
std::string tableTime(int64_t us) {
  std::string iso = store::formatUtcMicros(us);  // 2026-11-26T16:20:00.123456Z
  if (iso.size() >= 19) iso = iso.substr(0, 10) + " " + iso.substr(11, 8);
  return iso;
}

// `tollgate auth suspensions list`: the suspensions in force, latest first.
int cmdSuspensionsList(const std::string& configPath, bool json) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  auto st = store::openSuspensionStore(config->store.target());
  if (!st.ok()) {
    std::fprintf(stderr, "store %s: %s\n", config->store.path.c_str(), st.error().message.c_str());
    return kExitRuntime;
  }
  const int64_t now = wallNowUs();
  auto list = (*st)->listSuspensions(now);
  if (!list.ok()) {
    std::fprintf(stderr, "store: %s\n", list.error().message.c_str());
    return kExitRuntime;
  }
  if (json) {
    std::string out = "[";
    for (size_t i = 0; i < list->size(); ++i) {
      const auth::Suspension& s = (*list)[i];
      out += i ? ",\n" : "\n";
      out += "{\"kind\":";
      store::appendJsonString(out, auth::suspensionKindName(s.kind));
      out += ",\"username\":";
      store::appendJsonString(out, s.username);
      out += ",\"source\":";
      store::appendJsonString(out, s.source.toString());
      out += ",\"since\":";
      store::appendJsonString(out, store::formatUtcMicros(s.sinceUs));
      out += ",\"until\":";
      store::appendJsonString(out, store::formatUtcMicros(s.untilUs));
      out += ",\"remaining_s\":" + std::to_string((s.untilUs - now + 999'999) / 1'000'000);
      out += ",\"offenses\":" + std::to_string(s.offenses);
      out += ",\"failures\":" + std::to_string(s.failures) + "}";
    }
    out += "\n]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%-12s %-20s %-40s %-20s %9s %8s\n", "KIND", "USERNAME", "SOURCE", "UNTIL (UTC)",
              "REMAINING", "OFFENSES");
  for (const auth::Suspension& s : *list) {
    std::string user = s.username.empty() ? "-" : s.username;
    for (char& c : user) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // from the network
    }
    std::printf("%-12s %-20s %-40s %-20s %8llds %8u\n",
                std::string(auth::suspensionKindName(s.kind)).c_str(), user.c_str(),
                s.source.toString().c_str(), tableTime(s.untilUs).c_str(),
                static_cast<long long>((s.untilUs - now + 999'999) / 1'000'000), s.offenses);
  }
  return 0;
}

void printCleared(size_t cleared, int64_t lifted) {
  std::printf("cleared %zu suspension%s\n", cleared, cleared == 1 ? "" : "s");
  if (lifted > 0)
    std::printf("lifted %lld auth ban%s\n", static_cast<long long>(lifted), lifted == 1 ? "" : "s");
}

// `auth suspensions clear` through the running node's API, which lifts the
// address's auth bans with them as the direct path does.
int suspensionsClearViaApi(NodeLink& link, const std::string& source, const std::string& user,
                           bool all) {
  const mgmt::ApiReply r = link.request(
      "DELETE", "/api/v1/suspensions" +
                    query({{"all", all ? "true" : ""}, {"source", source}, {"username", user}}));
  if (r.status == 404) {
    // Nothing matched: the same answer (and exit code) as the store path.
    printCleared(0, 0);
    return kExitRuntime;
  }
  int rc = 0;
  if (!answered(r, &rc)) return rc;
  const Json j = Json::parse(r.body, nullptr, false);
  printCleared(j.value("cleared", size_t{0}), j.value("bans_lifted", int64_t{0}));
  return 0;
}

// `tollgate auth suspensions clear --source IP [--user NAME] | --all`:
// through the running node's API, else in the store (cli_link.h).
int cmdSuspensionsClear(const std::string& configPath, const std::string& token,
                        const std::string& source, const std::string& user, bool all) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  store::SuspensionFilter f;
  if (all) {
    if (!source.empty() || !user.empty()) {
      std::fprintf(stderr, "--all clears everything; it takes no --source or --user\n");
      return kExitBadConfig;
    }
    f.all = true;
  } else {
    if (source.empty()) {
      std::fprintf(stderr, "name what to clear: --source IP [--user NAME], or --all\n");
      return kExitBadConfig;
    }
    auto ip = net::IpAddress::parse(source);
    if (!ip) {
      std::fprintf(stderr, "--source: \"%s\" is not an IP address\n", source.c_str());
      return kExitBadConfig;
    }
    f.source = *ip;
    if (!user.empty()) f.username = user;
  }
  int rc = 0;
  auto link = NodeLink::forChange(*config, token, &rc);
  if (!link) return rc;
  if (link->viaApi()) return suspensionsClearViaApi(*link, source, user, all);
  auto st = store::openSuspensionStore(config->store.target());
  if (!st.ok()) {
    std::fprintf(stderr, "store %s: %s\n", config->store.path.c_str(), st.error().message.c_str());
    return kExitRuntime;
  }
  auto n = (*st)->clearSuspensions(f, wallNowUs());
  if (!n.ok()) {
    std::fprintf(stderr, "store: %s\n", n.error().message.c_str());
    return kExitRuntime;
  }
  // The shield's bans for suspensions go too (one ban list): else the
  // address would stay dropped before it reaches the auth layer.
  const int64_t lifted = liftAuthBans(config->store.target(), f.all ? std::nullopt : f.source);
  if (lifted < 0) {
    std::printf("cleared %zu suspension%s\n", *n, *n == 1 ? "" : "s");
    return kExitRuntime;
  }
  printCleared(*n, lifted);
  // Nothing matched is worth a non-zero exit: a typo in the address should
  // not look like success in a script.
  return *n > 0 || lifted > 0 ? 0 : kExitRuntime;
}

// `tollgate registration list`: the registrar's bindings in the store.
int cmdRegistrationList(const std::string& configPath, bool json) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  auto st = store::openRegistrationStore(config->store.target());
  if (!st.ok()) {
    std::fprintf(stderr, "store %s: %s\n", config->store.path.c_str(), st.error().message.c_str());
    return kExitRuntime;
  }
  auto list = (*st)->listBindings();
  if (!list.ok()) {
    std::fprintf(stderr, "store: %s\n", list.error().message.c_str());
    return kExitRuntime;
  }
  const int64_t now = wallNowUs();
  if (json) {
    std::string out = "[";
    bool first = true;
    for (const registrar::Binding& b : *list) {
      if (b.expiresUs <= now) continue;
      out += first ? "\n" : ",\n";
      first = false;
      out += "{\"username\":";
      store::appendJsonString(out, b.username);
      out += ",\"gateway\":";
      store::appendJsonString(out, b.gateway);
      out += ",\"contact\":";
      store::appendJsonString(out, b.contact);
      out += ",\"source\":";
      store::appendJsonString(out, transport::toString({b.protocol, b.source}));
      out += ",\"user_agent\":";
      store::appendJsonString(out, b.userAgent);
      out += ",\"registered\":";
      store::appendJsonString(out, store::formatUtcMicros(b.registeredUs));
      out += ",\"expires\":";
      store::appendJsonString(out, store::formatUtcMicros(b.expiresUs));
      out += std::string(",\"online\":") + (b.online ? "true" : "false");
      out += ",\"node\":";
      store::appendJsonString(out, b.node);
      out += "}";
    }
    out += "\n]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  std::printf("%-16s %-20s %-8s %-30s %-20s %-16s %s\n", "USERNAME", "GATEWAY", "STATE", "SOURCE",
              "EXPIRES (UTC)", "NODE", "CONTACT");
  for (const registrar::Binding& b : *list) {
    if (b.expiresUs <= now) continue;
    std::string contact = b.contact;
    for (char& c : contact) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // from the network
    }
    std::printf("%-16s %-20s %-8s %-30s %-20s %-16s %s\n", b.username.c_str(), b.gateway.c_str(),
                b.online ? "online" : "offline",
                transport::toString({b.protocol, b.source}).c_str(), tableTime(b.expiresUs).c_str(),
                b.node.empty() ? "-" : b.node.c_str(), contact.c_str());
  }
  return 0;
}

// backup/restore copy a SQLite file; a PostgreSQL store has the server's
// own tools.
bool refusePostgres(const Config& config, const char* command) {
  if (config.store.backend != store::Backend::Postgresql) return false;
  std::fprintf(stderr,
               "%s works on a SQLite store; this one is PostgreSQL (%s): use pg_dump / "
               "pg_restore (docs/store.md, \"Backends\")\n",
               command, store::storeDescription(config.store.target()).c_str());
  return true;
}

// `tollgate store migrate --to URL`: the SQLite store of the settings copied
// into PostgreSQL (store/store_migrate.h).
int cmdStoreMigrate(const std::string& configPath, const std::string& url,
                    const std::string& passwordFile) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  if (auto problem = store::pgUrlProblem(url)) {
    std::fprintf(stderr, "--to %s\n", problem->c_str());
    return kExitBadConfig;
  }
  store::PgTarget to;
  to.url = url;
  const std::string pwFile = passwordFile.empty() ? config->store.passwordFile : passwordFile;
  if (!pwFile.empty()) {
    auto pw = readPasswordFile(pwFile);
    if (!pw.ok()) {
      std::fprintf(stderr, "--password-file: %s\n", pw.error().c_str());
      return kExitBadConfig;
    }
    to.password = std::move(pw).value();
  }
  std::printf("copying %s into %s\n", config->store.path.c_str(),
              store::storeDescription({store::Backend::Postgresql, "", to}).c_str());
  auto r = store::migrateSqliteToPg(config->store.path, to);
  if (!r.ok()) {
    std::fprintf(stderr, "store migrate failed: %s\n(run it again: rows already copied are kept)\n",
                 r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("%-24s %10s %10s %10s\n", "table", "rows", "copied", "present");
  uint64_t rows = 0, copied = 0, present = 0;
  for (const auto& t : *r) {
    std::printf("%-24s %10llu %10llu %10llu\n", t.table.c_str(),
                static_cast<unsigned long long>(t.rows), static_cast<unsigned long long>(t.copied),
                static_cast<unsigned long long>(t.present));
    rows += t.rows;
    copied += t.copied;
    present += t.present;
  }
  std::printf("%-24s %10llu %10llu %10llu\n", "total", static_cast<unsigned long long>(rows),
              static_cast<unsigned long long>(copied), static_cast<unsigned long long>(present));
  return 0;
}

// `tollgate backup FILE`: an online copy of the store (store/sqlite_backup.h).
int cmdBackup(const std::string& configPath, const std::string& file, bool replace) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  if (refusePostgres(*config, "backup")) return kExitRuntime;
  auto r = store::backupSqliteStore(config->store.path, file, replace);
  if (!r.ok()) {
    std::fprintf(stderr, "backup failed (no file written): %s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("backup %s: %lld bytes, schema %d, %lld CDRs, integrity ok, %.1f s\n", file.c_str(),
              static_cast<long long>(r->copy.bytes), r->copy.schemaVersion,
              static_cast<long long>(r->copy.cdrs), static_cast<double>(r->took.count()) / 1000.0);
  return 0;
}

// `tollgate restore FILE`: the node stopped, the store replaced by a backup.
int cmdRestore(const std::string& configPath, const std::string& file, bool checkOnly) {
  auto config = configOrExit(configPath);
  if (!config) return kExitBadConfig;
  if (refusePostgres(*config, "restore")) return kExitRuntime;
  if (checkOnly) {
    auto c = store::checkSqliteBackup(file);
    if (!c.ok()) {
      std::fprintf(stderr, "%s\n", c.error().message.c_str());
      return kExitRuntime;
    }
    std::printf("%s: %lld bytes, schema %d, %lld CDRs, integrity ok\n", file.c_str(),
                static_cast<long long>(c->bytes), c->schemaVersion,
                static_cast<long long>(c->cdrs));
    return 0;
  }
  auto r = store::restoreSqliteStore(file, config->store.path);
  if (!r.ok()) {
    std::fprintf(stderr, "restore failed (store unchanged): %s\n", r.error().message.c_str());
    return kExitRuntime;
  }
  std::printf("restored %s from %s: schema %d, %lld CDRs, integrity ok\n",
              config->store.path.c_str(), file.c_str(), r->copy.schemaVersion,
              static_cast<long long>(r->copy.cdrs));
  if (!r->previous.empty()) std::printf("the store it replaced: %s\n", r->previous.c_str());
  return 0;
}

int cmdLint(const std::vector<std::string>& files) {
  int rc = 0;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::printf("%s: error: cannot read file\n", f.c_str());
      rc = kExitRuntime;
      continue;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string bytes = ss.str();
    sip::LintResult r = sip::lint(bytes);
    if (r.line == "ok INVITE") {
      // The switch also refuses a new call whose called number is not
      // dialable once normalised (admission/number_form.h; judged with the
      // default [numbers] settings, towards a carrier).
      auto m = sip::Message::parse(std::string(bytes));
      const admission::NumberSettings numbers;
      if (m.ok() && m.value()->to().tag().empty() &&
          !call::normalizedNumbers(*m.value(), numbers).calleeDialable) {
        r.line +=
            " (answered " + std::to_string(numbers.invalidCode) + " called number is not dialable)";
      }
    }
    std::printf("%s: %s\n", f.c_str(), r.line.c_str());
    if (!r.ok) rc = kExitRuntime;
  }
  return rc;
}

}  // namespace

int runCli(int argc, char** argv) {
  CLI::App app{"tollgate: class-4 SIP softswitch edge"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tollgate " TOLLGATE_VERSION);

  std::string configPath;
  auto addConfig = [&](CLI::App* sub) { addConfigOption(sub, configPath); };
  // Commands that change something go through the node's API when it runs
  // (cli_link.h) and take its token like the API commands.
  std::string token;
  auto addToken = [&](CLI::App* sub) {
    sub->add_option("--token", token,
                    "API token when the node runs (default: $TOLLGATE_API_TOKEN, else the "
                    "node's token file)");
  };

  auto* run = app.add_subcommand("run", "run the switch");
  addConfig(run);

  std::string provFile;
  bool prune = false;
  auto* imp = app.add_subcommand(
      "import", "import a provisioning file (by name; via the node's API when it runs)");
  addConfig(imp);
  addToken(imp);
  imp->add_option("file", provFile, "provisioning TOML file")->required();
  imp->add_flag("--prune", prune, "also delete gateways absent from the file");

  bool json = false;
  auto* gateway = app.add_subcommand("gateway", "mapping and routing gateways");
  gateway->require_subcommand(1);
  auto* gwList = gateway->add_subcommand("list", "list gateways in the store");
  addConfig(gwList);
  gwList->add_flag("--json", json, "print JSON");

  size_t limit = 50;
  std::string reason;
  std::string gwFilter;
  auto* cdr = app.add_subcommand("cdr", "call detail records");
  cdr->require_subcommand(1);
  auto* cdrList = cdr->add_subcommand("list", "list CDRs, newest first");
  addConfig(cdrList);
  cdrList->add_flag("--json", json, "print JSON (fields in docs/cdr.md)");
  cdrList->add_option("--limit,-n", limit, "how many (default 50)")->check(CLI::Range(1, 1000000));
  cdrList->add_option("--reason", reason, "only this termination reason");
  cdrList->add_option("--gateway", gwFilter, "only this mapping gateway");
  bool rawNumbers = false;
  cdrList->add_flag("--raw", rawNumbers,
                    "table: caller and callee as received instead of canonical (JSON has both)");

  std::vector<std::string> lintFiles;
  auto* lint = app.add_subcommand("lint", "check SIP message files: ok METHOD/STATUS or error");
  lint->add_option("files", lintFiles, "files holding one SIP message each")->required();

  auto* authCmd = app.add_subcommand("auth", "digest authentication state");
  authCmd->require_subcommand(1);
  auto* susp =
      authCmd->add_subcommand("suspensions", "sources and users suspended by retry limits");
  susp->require_subcommand(1);
  auto* suspList = susp->add_subcommand("list", "list suspensions in force");
  addConfig(suspList);
  suspList->add_flag("--json", json, "print JSON");
  std::string clearSource, clearUser;
  bool clearAll = false;
  auto* suspClear = susp->add_subcommand("clear", "lift suspensions");
  addConfig(suspClear);
  addToken(suspClear);
  suspClear->add_option("--source", clearSource, "the source IP (IPv6: any address of the /64)");
  suspClear->add_option("--user", clearUser, "only the suspension of this username at --source");
  suspClear->add_flag("--all", clearAll, "every suspension");

  auto* reg = app.add_subcommand("registration", "registrar bindings");
  reg->require_subcommand(1);
  auto* regList = reg->add_subcommand("list", "list registered contacts");
  addConfig(regList);
  regList->add_flag("--json", json, "print JSON");
  // Commands that speak the management API of a running node (cli_api.cc).
  ApiCommandsPtr apiCommands = addApiCommands(app, gateway, cdr);

  auto* cfg = app.add_subcommand("config", "node settings");
  cfg->require_subcommand(1);
  auto* cfgCheck = cfg->add_subcommand("check", "validate the settings file and exit");
  addConfig(cfgCheck);

  PolicyCommands policyCommands(app);  // `list ...`, `blacklist ...`
  // The shield: bans, firewall export, kernel settings (shield_cli.h).
  std::string banAddress;
  int64_t banDuration = 0;
  std::string banNote;
  bool banAll = false;
  auto* ban = app.add_subcommand("ban", "the ban list (changes via the node's API when it runs)");
  ban->require_subcommand(1);
  auto* banAdd = ban->add_subcommand("add", "ban an IP address or CIDR");
  addConfig(banAdd);
  addToken(banAdd);
  banAdd->add_option("address", banAddress, "IP address or CIDR, e.g. 192.0.2.7 or 198.51.100.0/24")
      ->required();
  banAdd->add_option("--duration", banDuration, "seconds (default: permanent)")
      ->check(CLI::Range(int64_t{1}, int64_t{10} * 365 * 86400));
  banAdd->add_option("--note", banNote, "why (shown by ban why and ban list)");
  auto* banDel = ban->add_subcommand("del", "lift the ban of exactly this address or CIDR");
  addConfig(banDel);
  addToken(banDel);
  banDel->add_option("address", banAddress, "IP address or CIDR")->required();
  auto* banList = ban->add_subcommand("list", "active bans, newest first");
  addConfig(banList);
  banList->add_flag("--json", json, "print JSON");
  banList->add_flag("--all", banAll, "also expired bans kept for escalation");
  banList->add_option("--limit,-n", limit, "how many (default 50)")->check(CLI::Range(1, 10000));
  auto* banWhy = ban->add_subcommand("why", "is this address banned, by which rule, since when");
  addConfig(banWhy);
  banWhy->add_option("address", banAddress, "IP address")->required();
  banWhy->add_flag("--json", json, "print JSON");

  std::string fwFormat;
  auto* fw = app.add_subcommand("firewall", "kernel firewall rulesets");
  fw->require_subcommand(1);
  auto* fwExport = fw->add_subcommand(
      "export", "print a ruleset equivalent to the shield (nft, iptables or ip6tables)");
  addConfig(fwExport);
  fwExport->add_option("--format", fwFormat, "nft | iptables | ip6tables")->required();
  auto* doctor = app.add_subcommand("doctor", "check kernel settings and say what to change");
  addConfig(doctor);

  std::string backupFile;
  bool backupReplace = false;
  auto* backup = app.add_subcommand(
      "backup", "copy the store to FILE while the node runs (one consistent instant, checked)");
  addConfig(backup);
  backup->add_option("file", backupFile, "the backup file to write (0600)")->required();
  backup->add_flag("--force", backupReplace, "replace FILE when it exists");
  bool restoreCheck = false;
  auto* restore = app.add_subcommand(
      "restore", "replace the store with a backup (the node stopped; the old store is kept)");
  addConfig(restore);
  restore->add_option("file", backupFile, "a file written by tollgate backup")->required();
  restore->add_flag("--check", restoreCheck, "only check FILE; change nothing");
  auto* storeCmd = app.add_subcommand("store", "the store itself");
  storeCmd->require_subcommand(1);
  std::string migrateUrl;
  std::string migratePasswordFile;
  auto* storeMigrate = storeCmd->add_subcommand(
      "migrate",
      "copy the SQLite store (store.path) into PostgreSQL; idempotent, counts per table");
  addConfig(storeMigrate);
  storeMigrate->add_option("--to", migrateUrl, "postgresql://user@host:port/db (no password in it)")
      ->required();
  storeMigrate->add_option("--password-file", migratePasswordFile,
                           "the database password, first line of an owner-only file "
                           "(default store.password_file)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitBadConfig;
  }

  if (run->parsed()) {
    auto config = configOrExit(configPath);
    if (!config) return kExitBadConfig;
    return runNode(*config);
  }
  if (imp->parsed()) return cmdImport(configPath, token, provFile, prune);
  if (gwList->parsed()) return cmdGatewayList(configPath, json);
  if (cdrList->parsed()) {
    return cmdCdrList(configPath, json, rawNumbers, limit, reason, gwFilter);
  }
  if (lint->parsed()) return cmdLint(lintFiles);
  if (suspList->parsed()) return cmdSuspensionsList(configPath, json);
  if (suspClear->parsed()) {
    return cmdSuspensionsClear(configPath, token, clearSource, clearUser, clearAll);
  }
  if (regList->parsed()) return cmdRegistrationList(configPath, json);
  if (auto rc = policyCommands.run()) return *rc;
  if (banAdd->parsed()) return cmdBanAdd(configPath, token, banAddress, banDuration, banNote);
  if (banDel->parsed()) return cmdBanDel(configPath, token, banAddress);
  if (banList->parsed()) return cmdBanList(configPath, json, banAll, limit);
  if (banWhy->parsed()) return cmdBanWhy(configPath, banAddress, json);
  if (fwExport->parsed()) return cmdFirewallExport(configPath, fwFormat);
  if (doctor->parsed()) return cmdDoctor(configPath);
  if (backup->parsed()) return cmdBackup(configPath, backupFile, backupReplace);
  if (restore->parsed()) return cmdRestore(configPath, backupFile, restoreCheck);
  if (storeMigrate->parsed()) return cmdStoreMigrate(configPath, migrateUrl, migratePasswordFile);
  if (int rc = runApiCommands(*apiCommands); rc >= 0) return rc;
  if (cfgCheck->parsed()) {
    auto config = configOrExit(configPath);
    if (!config) return kExitBadConfig;
    std::printf("%s: ok\n", configPath.c_str());
    return 0;
  }
  return kExitBadConfig;
}

}  // namespace tollgate::app
