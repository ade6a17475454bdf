// Provisioning files: [[mapping_gateway]] and [[routing_gateway]] entries to
// admission::Provisioning, with source lines kept so that the validator's
// findings point at the line that caused them.
#include "app/provisioning_file.h"

#include "admission/provisioning_fields.h"
#include "app/toml_reader.h"
#include "auth/digest.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <type_traits>
#include <variant>

namespace tollgate::app {
namespace {

using toml_reader::ErrorList;
using toml_reader::TableReader;

// Where one entry and each of its keys and array elements came from.
struct EntrySource {
  std::string path;  // "mapping_gateway[cust-a]" or "mapping_gateway[#3]"
  int line = 1;      // the [[...]] header (or inline table) line
  std::map<std::string, int, std::less<>> keyLines;                           // "addresses" -> line
  std::map<std::string, std::vector<TableReader::Item>, std::less<>> arrays;  // element lines
};

// priority and strip_digits become int: any value that fits is passed on and
// the validator judges the range, so there is one rule in one place.
constexpr int64_t kIntMin = std::numeric_limits<int>::min();
constexpr int64_t kIntMax = std::numeric_limits<int>::max();

std::string entryPath(std::string_view list, const toml::table& t, size_t index) {
  const toml::node* name = t.get("name");
  std::string label;
  if (name && name->is_string() && !name->as_string()->get().empty()) {
    label = name->as_string()->get();
  } else {
    label = "#" + std::to_string(index + 1);  // as admission::validateProvisioning labels it
  }
  return std::string(list) + "[" + label + "]";
}

void recordLines(const toml::table& t, EntrySource& src) {
  for (auto&& [k, v] : t) src.keyLines[std::string(k.str())] = toml_reader::lineOf(v, src.line);
}

// The fields of the record's table (admission/provisioning_fields.h), each
// by its kind. Integers in int range are passed on and the validator judges
// them; numbers are bounded here above (below, the validator words it).
template <typename Record>
void readFields(TableReader& r, EntrySource& src, Record& record) {
  for (const auto& f : admission::provisioningFields<Record>()) {
    std::visit(
        [&](auto* v) {
          using T = std::remove_pointer_t<decltype(v)>;
          if constexpr (std::is_same_v<T, int>) {
            r.integerAs(f.key, kIntMin, kIntMax, v, f.required);
          } else if constexpr (std::is_same_v<T, double>) {
            r.number(f.key, -1, f.max, v, f.required);
          } else if constexpr (std::is_same_v<T, bool>) {
            r.boolean(f.key, v, f.required);
          } else if constexpr (std::is_same_v<T, std::string>) {
            r.string(f.key, v, f.required);
          } else {
            std::vector<TableReader::Item> items;
            if (r.stringArray(f.key, f.maxItems, &items, f.required)) {
              for (const auto& i : items) v->push_back(i.value);
              src.arrays[std::string(f.key)] = std::move(items);
            }
          }
        },
        f.at(record));
  }
}

void readMapping(TableReader& r, EntrySource& src, admission::MappingGateway& g) {
  r.string("name", &g.name, /*required=*/true);
  std::string auth;
  int authLine = r.lineOfKey("auth");
  if (r.string("auth", &auth, /*required=*/true) && !admission::parseAuthMode(auth, &g.auth)) {
    r.error("auth", authLine,
            "must be one of \"ip\", \"ip_port\", \"password\", \"tls_cert\" (got " +
                toml_reader::quoted(auth) + ")");
  }
  // Address-identified gateways need addresses; for password and tls_cert
  // gateways they are an optional restriction.
  const bool byAddress = g.auth == admission::AuthMode::Ip || g.auth == admission::AuthMode::IpPort;
  std::vector<TableReader::Item> addresses;
  if (r.stringArray("addresses", kMaxAddressesPerGateway, &addresses, /*required=*/byAddress)) {
    for (const auto& a : addresses) g.addresses.push_back(a.value);
    src.arrays["addresses"] = std::move(addresses);
  }
  r.boolean("enabled", &g.enabled);
  r.string("username", &g.username);
  r.string("password", &g.password);
  r.boolean("register", &g.registers);
  r.integerAs("max_contacts", kIntMin, kIntMax, &g.maxContacts);
  std::string challenge;
  int challengeLine = r.lineOfKey("challenge");
  if (r.string("challenge", &challenge)) {
    if (admission::parseChallengeMode(challenge, &g.challenge)) {
      g.hasChallenge = true;
    } else {
      r.error(
          "challenge", challengeLine,
          "must be one of \"401\", \"407\", \"both\" (got " + toml_reader::quoted(challenge) + ")");
    }
  }
  std::vector<TableReader::Item> algorithms;
  int algLine = r.lineOfKey("digest_algorithms");
  if (r.stringArray("digest_algorithms", 2, &algorithms)) {
    bool ok = !algorithms.empty();
    for (const auto& item : algorithms) {
      std::optional<auth::Algorithm> a;
      if (item.value == "MD5") a = auth::Algorithm::Md5;
      if (item.value == "SHA-256") a = auth::Algorithm::Sha256;
      if (!a || std::find(g.digestAlgorithms.begin(), g.digestAlgorithms.end(), *a) !=
                    g.digestAlgorithms.end()) {
        ok = false;
        break;
      }
      g.digestAlgorithms.push_back(*a);
    }
    if (!ok) {
      g.digestAlgorithms.clear();
      r.error("digest_algorithms", algLine,
              "must list \"MD5\" and/or \"SHA-256\", each once, in order of preference");
    }
  }
  std::vector<TableReader::Item> tlsNames;
  if (r.stringArray("tls_names", admission::kMaxTlsNames, &tlsNames)) {
    for (const auto& n : tlsNames) g.tlsNames.push_back(n.value);
    src.arrays["tls_names"] = std::move(tlsNames);
  }
  readFields(r, src, g);
  r.finish();
}

void readRouting(TableReader& r, EntrySource& src, admission::RoutingGateway& g) {
  r.string("name", &g.name, /*required=*/true);
  r.string("address", &g.address, /*required=*/true);
  size_t transport = 0;
  if (r.choice("transport", {"udp", "tcp", "tls"}, &transport)) {
    static constexpr const char* kTransports[] = {"udp", "tcp", "tls"};
    g.transport = kTransports[transport];
  }
  std::vector<TableReader::Item> prefixes;
  if (r.stringArray("prefixes", kMaxPrefixesPerGateway, &prefixes, /*required=*/true)) {
    for (const auto& p : prefixes) g.prefixes.push_back(p.value);
    src.arrays["prefixes"] = std::move(prefixes);
  }
  r.integerAs("priority", kIntMin, kIntMax, &g.priority, /*required=*/true);
  r.integerAs("strip_digits", kIntMin, kIntMax, &g.stripDigits);
  r.string("add_prefix", &g.addPrefix);
  r.boolean("enabled", &g.enabled);
  r.string("auth_username", &g.authUsername);
  r.string("auth_password", &g.authPassword);
  r.boolean("register", &g.registers);
  r.integerAs("register_expires", kIntMin, kIntMax, &g.registerExpires);
  readFields(r, src, g);
  r.finish();
}

void readAccount(TableReader& r, EntrySource& src, admission::Account& a) {
  r.string("name", &a.name, /*required=*/true);
  readFields(r, src, a);
  r.finish();
}

void readFraudRule(TableReader& r, EntrySource& src, admission::FraudRule& f) {
  r.string("name", &f.name, /*required=*/true);
  readFields(r, src, f);
  r.finish();
}

// Reads one [[list]] array of tables with readEntry for each element.
template <typename Gateway, typename ReadEntry>
void readList(TableReader& top, std::string_view list, std::vector<Gateway>* out,
              std::vector<EntrySource>* sources, ReadEntry readEntry) {
  const toml::node* node = top.take(list);
  if (!node) return;
  int line = toml_reader::lineOf(*node, 1);
  const toml::array* arr = node->as_array();
  if (!arr || (!arr->empty() && !arr->is_array_of_tables())) {
    top.error(list, line,
              "must be an array of tables: write each entry under a [[" + std::string(list) +
                  "]] header (got " + std::string(toml_reader::typeName(*node)) + ")");
    return;
  }
  if (arr->size() > kMaxGatewaysPerFile) {
    top.error(list, line,
              "has " + std::to_string(arr->size()) + " entries; at most " +
                  std::to_string(kMaxGatewaysPerFile) + " are allowed in one file");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    EntrySource src;
    src.line = toml_reader::lineOf(t, line);
    src.path = entryPath(list, t, i);
    recordLines(t, src);
    Gateway g;
    TableReader r(&t, src.path, src.line, top.errors());
    readEntry(r, src, g);
    out->push_back(std::move(g));
    sources->push_back(std::move(src));
  }
}

// The line a validator finding is about: the array element its message
// quotes ("\"10.0.0.300\" is not ..."), else the key, else the entry.
int lineFor(const EntrySource& src, const admission::ProvisioningError& e) {
  if (auto arr = src.arrays.find(e.key); arr != src.arrays.end()) {
    for (const auto& item : arr->second) {
      std::string q = "\"" + item.value + "\"";
      if (e.message.compare(0, q.size(), q) == 0) return item.line;
    }
  }
  if (auto k = src.keyLines.find(e.key); k != src.keyLines.end()) return k->second;
  return src.line;
}

}  // namespace

Result<admission::Provisioning, ConfigError> parseProvisioning(std::string_view text,
                                                               const std::string& sourceName,
                                                               const admission::KnownNames* known) {
  auto doc = toml_reader::parseToml(text, sourceName);
  if (!doc) return Err{doc.error()};

  admission::Provisioning p;
  std::vector<EntrySource> mappingSources, routingSources, accountSources, ruleSources;
  ErrorList errors(sourceName);
  TableReader top(&doc.value(), "", 1, errors);
  readList(top, "mapping_gateway", &p.mappingGateways, &mappingSources, readMapping);
  readList(top, "routing_gateway", &p.routingGateways, &routingSources, readRouting);
  readList(top, "account", &p.accounts, &accountSources, readAccount);
  readList(top, "fraud_rule", &p.fraudRules, &ruleSources, readFraudRule);
  // A common mix-up, worth a clearer word than "unknown table".
  for (std::string_view section : {"sip", "routing", "store", "cdr", "log", "node", "auth",
                                   "registrar", "tls", "policy", "blacklist"}) {
    if (const toml::node* node = top.take(section)) {
      top.error(section, toml_reader::lineOf(*node, 1),
                "node settings belong in the node's settings file (see examples/tollgate.toml), "
                "not in a provisioning file");
    }
  }
  top.finish();
  // Structural problems first: an entry with a missing or mistyped key would
  // only produce confusing follow-up findings from the validator.
  if (!errors.empty()) return Err{errors.first()};

  for (const admission::ProvisioningError& e : admission::validateProvisioning(p, known)) {
    using Entry = admission::ProvisioningError::Entry;
    const auto& sources = e.entry == Entry::Mapping   ? mappingSources
                          : e.entry == Entry::Routing ? routingSources
                          : e.entry == Entry::Account ? accountSources
                                                      : ruleSources;
    if (e.index >= sources.size()) {
      // Not expected; still report it rather than lose it.
      const char* list = e.entry == Entry::Mapping   ? "mapping_gateway"
                         : e.entry == Entry::Routing ? "routing_gateway"
                         : e.entry == Entry::Account ? "account"
                                                     : "fraud_rule";
      errors.add(1, std::string(list) + "[" + e.gateway + "]." + e.key, e.message);
      continue;
    }
    const EntrySource& src = sources[e.index];
    errors.add(lineFor(src, e), e.key.empty() ? src.path : src.path + "." + e.key, e.message);
  }
  if (!errors.empty()) return Err{errors.first()};
  return p;
}

void hashPasswords(admission::Provisioning& p, std::string_view realm) {
  for (admission::MappingGateway& g : p.mappingGateways) {
    if (g.auth == admission::AuthMode::Password) admission::hashPassword(g, realm);
  }
}

Result<admission::Provisioning, ConfigError> loadProvisioningFile(
    const std::string& path, const admission::KnownNames* known) {
  auto text = readTomlFile(path);
  if (!text) return Err{text.error()};
  return parseProvisioning(text.value(), path, known);
}

}  // namespace tollgate::app
