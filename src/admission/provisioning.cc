// Validation of provisioning data: names, addresses per auth mode, routes,
// and the ambiguity rule (two gateways claiming the same source with the same
// specificity).
#include "admission/provisioning.h"
#include "admission/provisioning_fields.h"

#include <algorithm>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <type_traits>
#include <variant>

#include "common/ascii.h"
#include "common/net.h"
#include "sip/header_crossing.h"

namespace tollgate::admission {

std::string_view authModeName(AuthMode m) {
  switch (m) {
    case AuthMode::Ip:
      return "ip";
    case AuthMode::IpPort:
      return "ip_port";
    case AuthMode::Password:
      return "password";
    case AuthMode::TlsCert:
      return "tls_cert";
  }
  return "ip";
}

std::string_view listKindName(ListKind k) {
  switch (k) {
    case ListKind::Black:
      return "black";
    case ListKind::White:
      return "white";
    case ListKind::SystemWhite:
      return "system_white";
  }
  return "black";
}

bool parseListKind(std::string_view text, ListKind* out) {
  if (text == "black")
    *out = ListKind::Black;
  else if (text == "white")
    *out = ListKind::White;
  else if (text == "system_white")
    *out = ListKind::SystemWhite;
  else
    return false;
  return true;
}

bool parseTimeWindow(std::string_view text, int* startMinute, int* endMinute) {
  // Exactly "HH:MM-HH:MM", 24-hour clock.
  auto two = [](std::string_view s, int* out) {
    if (s.size() != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') return false;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return true;
  };
  auto hhmm = [&](std::string_view s, int* minutes) {
    int h = 0, m = 0;
    if (s.size() != 5 || s[2] != ':' || !two(s.substr(0, 2), &h) || !two(s.substr(3, 2), &m) ||
        h > 23 || m > 59) {
      return false;
    }
    *minutes = h * 60 + m;
    return true;
  };
  if (text.size() != 11 || text[5] != '-') return false;
  int a = 0, b = 0;
  if (!hhmm(text.substr(0, 5), &a) || !hhmm(text.substr(6, 5), &b) || a == b) return false;
  *startMinute = a;
  *endMinute = b;
  return true;
}

bool parseAuthMode(std::string_view text, AuthMode* out) {
  if (text == "ip")
    *out = AuthMode::Ip;
  else if (text == "ip_port")
    *out = AuthMode::IpPort;
  else if (text == "password")
    *out = AuthMode::Password;
  else if (text == "tls_cert")
    *out = AuthMode::TlsCert;
  else
    return false;
  return true;
}

std::string_view challengeModeName(ChallengeMode m) {
  switch (m) {
    case ChallengeMode::Www401:
      return "401";
    case ChallengeMode::Proxy407:
      return "407";
    case ChallengeMode::Both:
      return "both";
  }
  return "407";
}

bool parseChallengeMode(std::string_view text, ChallengeMode* out) {
  if (text == "401")
    *out = ChallengeMode::Www401;
  else if (text == "407")
    *out = ChallengeMode::Proxy407;
  else if (text == "both")
    *out = ChallengeMode::Both;
  else
    return false;
  return true;
}

namespace {

constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxPrefixLength = 32;
constexpr int kMaxStripDigits = 32;

bool validName(std::string_view n) {
  if (n.empty() || n.size() > kMaxNameLength) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Dialled-number characters allowed in route prefixes and add_prefix.
bool validDigits(std::string_view s) {
  if (s.size() > kMaxPrefixLength) return false;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || c == '+' || c == '*' || c == '#';
    if (!ok) return false;
  }
  return true;
}

// A SIP user part we can put into URIs unescaped and match against the
// Request-URI of calls to a registered account: RFC 3261 §25.1 unreserved
// and user-unreserved characters, without the ones that start URI
// parameters or headers (; ? /).
bool validUsername(std::string_view u) {
  if (u.empty() || u.size() > kMaxUsernameLength) return false;
  for (char c : u) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::string_view("-_.!~*'()&=+$,").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Text that goes into a quoted-string of a digest header: no control
// characters (header injection), bounded.
bool validSecretText(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// A DNS name as found in a certificate's subjectAltName or CN.
bool validTlsName(std::string_view n) {
  if (n.empty() || n.size() > 253 || n.front() == '.' || n.back() == '.') return false;
  if (n.find("..") != std::string_view::npos) return false;
  for (char c : n) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool isHex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string label(const std::string& name, size_t index) {
  return name.empty() ? "#" + std::to_string(index + 1) : name;
}

// The value of an integer or number field (NaN for other kinds).
template <typename Record>
double numericValue(const ProvisioningField<Record>& f, const Record& r) {
  return std::visit(
      [](auto* v) -> double {
        using T = std::remove_pointer_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int> || std::is_same_v<T, double>) {
          return static_cast<double>(*v);
        } else {
          return std::numeric_limits<double>::quiet_NaN();
        }
      },
      f.at(r));
}

template <typename Record>
bool inRange(const ProvisioningField<Record>& f, const Record& r) {
  const double v = numericValue(f, r);
  return v >= f.min && v <= f.max;  // false for NaN
}

// The range of every integer and number field of the record's table
// (provisioning_fields.h), in table order.
template <typename Record, typename Fail>
void checkRanges(const Record& r, Fail fail) {
  for (const auto& f : provisioningFields<Record>()) {
    if (f.max != 0 && !inRange(f, r)) fail(std::string(f.key), rangeMessage(f));
  }
}

template <typename Fail>
void checkSignalling(const GatewayPolicy& p, bool mapping, Fail fail) {
  if (p.passHeaders.size() > kMaxPassHeaders) {
    fail("pass_headers", "at most " + std::to_string(kMaxPassHeaders) + " header names");
  }
  std::set<std::string> seen;
  for (const std::string& name : p.passHeaders) {
    std::string problem = sip::HeaderAllowList::problem(name);
    if (!problem.empty()) {
      fail("pass_headers", "\"" + name + "\": " + problem);
      continue;
    }
    if (!seen.insert(ascii::lowered(name)).second)
      fail("pass_headers", "\"" + name + "\" is listed twice");
  }
  if (!p.media.empty() && p.media != "relay" && p.media != "passthrough") {
    fail("media", "must be \"relay\", \"passthrough\" or \"\" (got \"" + p.media + "\")");
  }
  for (const std::string& c : p.codecs) {
    // rtpengine codec names: PCMA, opus, telephone-event, G729 ...
    const bool ok = !c.empty() && std::all_of(c.begin(), c.end(), [](char ch) {
      return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '.' || ch == '_' || ch == '/';
    });
    if (!ok) fail("codecs", "\"" + c + "\" is not a codec name (letters, digits, - . _ /)");
  }
  const std::string& id = p.assertedIdentity;
  if (!mapping && !id.empty()) {
    fail("asserted_identity", "only applies to mapping gateways");
  } else if (!id.empty()) {
    const size_t digits = id.front() == '+' ? id.size() - 1 : id.size();
    const bool ok = digits >= 1 && digits <= kMaxAssertedIdentityDigits &&
                    std::all_of(id.begin() + (id.front() == '+' ? 1 : 0), id.end(),
                                [](char c) { return c >= '0' && c <= '9'; });
    if (!ok) fail("asserted_identity", "must be a number: an optional + and 1-32 digits");
  }
}

template <typename Fail>
void checkListRefs(const NumberListRefs& refs, const KnownNames* known, Fail fail) {
  for (const auto* side : {&refs.caller, &refs.callee}) {
    const char* key = side == &refs.caller ? "caller_lists" : "callee_lists";
    if (side->size() > kMaxListRefs) {
      fail(key, "at most " + std::to_string(kMaxListRefs) + " lists");
      continue;
    }
    std::set<std::string_view> seen;
    for (const std::string& name : *side) {
      if (!validName(name)) {
        fail(key, "\"" + name + "\" is not a list name (1-64 of A-Z a-z 0-9 . _ -)");
      } else if (!seen.insert(name).second) {
        fail(key, "\"" + name + "\" is listed twice");
      } else if (known != nullptr) {
        auto it = known->numberLists.find(name);
        if (it == known->numberLists.end()) {
          fail(key,
               "\"" + name + "\" is not a number list (create it with `tollgate list create`)");
        } else if (it->second == ListKind::SystemWhite) {
          fail(key, "\"" + name +
                        "\" is the system white list, which applies to every call and cannot "
                        "be attached");
        }
      }
    }
  }
}

}  // namespace

std::vector<ProvisioningError> validateProvisioning(const Provisioning& p,
                                                    const KnownNames* known) {
  using Entry = ProvisioningError::Entry;
  std::vector<ProvisioningError> errors;
  auto failEntry = [&](Entry entry, size_t index, const std::string& name, std::string key,
                       std::string message) {
    errors.push_back(ProvisioningError{label(name, index), std::move(key), std::move(message),
                                       index, entry == Entry::Mapping, entry});
  };
  auto fail = [&](bool mapping, size_t index, const std::string& name, std::string key,
                  std::string message) {
    failEntry(mapping ? Entry::Mapping : Entry::Routing, index, name, std::move(key),
              std::move(message));
  };

  std::set<std::string, std::less<>> accountNames;
  for (const Account& a : p.accounts) accountNames.insert(a.name);
  if (known != nullptr) accountNames.insert(known->accounts.begin(), known->accounts.end());

  // Owner of each source key, for the ambiguity rule. Keys are canonical
  // text: "ip:10.0.0.0/8" (ip mode) or "ipport:[::1]:5060" (ip_port mode).
  std::map<std::string, std::string> owner;
  std::set<std::string> names;
  std::map<std::string, std::string> usernames;  // username -> gateway
  std::map<std::string, std::string> tlsNames;   // certificate name -> gateway
  for (size_t i = 0; i < p.mappingGateways.size(); ++i) {
    const MappingGateway& g = p.mappingGateways[i];
    if (!validName(g.name)) {
      fail(true, i, g.name, "name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
    } else if (!names.insert(g.name).second) {
      fail(true, i, g.name, "name", "duplicate mapping gateway name");
    }
    {
      auto policyFail = [&](std::string key, std::string message) {
        fail(true, i, g.name, std::move(key), std::move(message));
      };
      const GatewayPolicy& pol = g.policy;
      if (!pol.account.empty() && !accountNames.count(pol.account)) {
        policyFail("account", "\"" + pol.account + "\" is not an account");
      }
      checkRanges(g, policyFail);
      checkListRefs(pol.lists, known, policyFail);
      checkSignalling(pol, true, policyFail);
    }
    const bool password = g.auth == AuthMode::Password;
    const bool tlsCert = g.auth == AuthMode::TlsCert;
    // Keys of one mode given to another are mistakes, not harmless extras.
    if (!password) {
      const char* what = nullptr;
      if (!g.username.empty())
        what = "username";
      else if (!g.password.empty())
        what = "password";
      else if (g.registers)
        what = "register";
      else if (g.maxContacts != 1)
        what = "max_contacts";
      else if (g.hasChallenge)
        what = "challenge";
      else if (!g.digestAlgorithms.empty())
        what = "digest_algorithms";
      if (what) fail(true, i, g.name, what, "only applies to auth = \"password\"");
    }
    if (!tlsCert && !g.tlsNames.empty()) {
      fail(true, i, g.name, "tls_names", "only applies to auth = \"tls_cert\"");
    }
    if (password) {
      if (!validUsername(g.username)) {
        fail(true, i, g.name, "username",
             "must be 1-64 of A-Z a-z 0-9 and - _ . ! ~ * ' ( ) & = + $ ,");
      } else if (auto [it, fresh] = usernames.emplace(g.username, g.name); !fresh) {
        fail(true, i, g.name, "username",
             "\"" + g.username + "\" is also the username of mapping gateway \"" + it->second +
                 "\"");
      }
      // From a provisioning file: the password. Read back from the store:
      // the HA1s computed from it at import.
      const bool hashed = isHex(g.ha1Md5, 32) && isHex(g.ha1Sha256, 64);
      if (g.password.empty() && !hashed) {
        fail(true, i, g.name, "password", "a password is required for auth = \"password\"");
      } else if (!g.password.empty() && !validSecretText(g.password, kMaxPasswordLength)) {
        fail(true, i, g.name, "password", "must be 1-128 characters without control characters");
      }
      if (g.maxContacts < 1 || g.maxContacts > kMaxContactsLimit) {
        fail(true, i, g.name, "max_contacts", "must be 1..100");
      } else if (g.maxContacts != 1 && !g.registers) {
        fail(true, i, g.name, "max_contacts", "only applies with register = true");
      }
    }
    if (tlsCert) {
      if (g.tlsNames.empty()) {
        fail(true, i, g.name, "tls_names",
             "at least one certificate name is required for auth = \"tls_cert\"");
      }
      for (const std::string& n : g.tlsNames) {
        if (!validTlsName(n)) {
          fail(true, i, g.name, "tls_names", "\"" + n + "\" is not a DNS name");
        } else if (auto [it, fresh] = tlsNames.emplace(n, g.name); !fresh) {
          fail(true, i, g.name, "tls_names",
               "\"" + n + "\" is also claimed by mapping gateway \"" + it->second + "\"");
        }
      }
    }
    if (password || tlsCert) {
      // The addresses of a credential-identified gateway only restrict
      // where it may come from; they do not identify it, so they take no
      // part in the ambiguity rule.
      std::set<std::string> own;
      for (const std::string& a : g.addresses) {
        auto c = net::Cidr::parse(a);
        if (!c) {
          fail(true, i, g.name, "addresses", "\"" + a + "\" is not an IP address or CIDR");
        } else if (!own.insert(c->toString()).second) {
          fail(true, i, g.name, "addresses", "\"" + a + "\" is listed twice");
        }
      }
      continue;
    }
    if (g.addresses.empty()) {
      fail(true, i, g.name, "addresses", "at least one address is required");
    }
    std::set<std::string> own;
    for (const std::string& a : g.addresses) {
      std::string key;
      if (g.auth == AuthMode::Ip) {
        auto c = net::Cidr::parse(a);
        if (!c) {
          fail(true, i, g.name, "addresses", "\"" + a + "\" is not an IP address or CIDR");
          continue;
        }
        key = "ip:" + c->toString();
      } else {
        auto s = net::SockAddr::parse(a);
        if (!s || s->port() == 0) {
          fail(
              true, i, g.name, "addresses",
              "\"" + a + "\" is not IP:port (auth = \"ip_port\" needs a port; [v6]:port for IPv6)");
          continue;
        }
        key = "ipport:" + s->toString();
      }
      if (!own.insert(key).second) {
        fail(true, i, g.name, "addresses", "\"" + a + "\" is listed twice");
        continue;
      }
      auto [it, inserted] = owner.emplace(key, g.name);
      if (!inserted) {
        fail(true, i, g.name, "addresses",
             "\"" + a + "\" is also claimed by mapping gateway \"" + it->second +
                 "\" with the same specificity (ambiguous source)");
      }
    }
  }

  names.clear();
  for (size_t i = 0; i < p.routingGateways.size(); ++i) {
    const RoutingGateway& g = p.routingGateways[i];
    if (!validName(g.name)) {
      fail(false, i, g.name, "name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
    } else if (!names.insert(g.name).second) {
      fail(false, i, g.name, "name", "duplicate routing gateway name");
    }
    auto addr = net::SockAddr::parse(g.address, g.transport == "tls" ? 5061 : 5060);
    if (!addr || addr->port() == 0) {
      fail(false, i, g.name, "address",
           "\"" + g.address + "\" is not IP[:port] (use [v6]:port for IPv6)");
    }
    if (g.transport != "udp" && g.transport != "tcp" && g.transport != "tls") {
      fail(false, i, g.name, "transport", "must be \"udp\", \"tcp\" or \"tls\"");
    }
    if (!g.authUsername.empty() && !validSecretText(g.authUsername, kMaxPasswordLength)) {
      fail(false, i, g.name, "auth_username",
           "must be 1-128 characters without control characters");
    }
    if (!g.authPassword.empty() && !validSecretText(g.authPassword, kMaxPasswordLength)) {
      fail(false, i, g.name, "auth_password",
           "must be 1-128 characters without control characters");
    }
    if (g.authUsername.empty() != g.authPassword.empty()) {
      fail(false, i, g.name, g.authUsername.empty() ? "auth_username" : "auth_password",
           "auth_username and auth_password go together");
    }
    if (g.registers && g.authUsername.empty()) {
      fail(false, i, g.name, "register",
           "register = true needs auth_username (the user we register as)");
    }
    if (g.registerExpires < kMinRegisterExpires || g.registerExpires > kMaxRegisterExpires) {
      fail(false, i, g.name, "register_expires", "must be 60..86400");
    }
    if (g.prefixes.empty()) {
      fail(false, i, g.name, "prefixes", "at least one prefix is required (\"\" = default route)");
    }
    std::set<std::string> seen;
    for (const std::string& pre : g.prefixes) {
      if (!validDigits(pre)) {
        fail(false, i, g.name, "prefixes",
             "\"" + pre + "\" must be up to 32 of the characters 0-9 + * #");
      } else if (!seen.insert(pre).second) {
        fail(false, i, g.name, "prefixes", "\"" + pre + "\" is listed twice");
      }
    }
    if (g.priority < 0) fail(false, i, g.name, "priority", "must be >= 0");
    if (g.stripDigits < 0 || g.stripDigits > kMaxStripDigits) {
      fail(false, i, g.name, "strip_digits", "must be 0..32");
    }
    if (!validDigits(g.addPrefix)) {
      fail(false, i, g.name, "add_prefix", "must be up to 32 of the characters 0-9 + * #");
    }
    auto policyFail = [&](std::string key, std::string message) {
      fail(false, i, g.name, std::move(key), std::move(message));
    };
    checkRanges(g, policyFail);
    checkListRefs(g.policy.lists, known, policyFail);
    checkSignalling(g.policy, false, policyFail);
  }

  names.clear();
  for (size_t i = 0; i < p.accounts.size(); ++i) {
    const Account& a = p.accounts[i];
    auto accFail = [&](std::string key, std::string message) {
      failEntry(Entry::Account, i, a.name, std::move(key), std::move(message));
    };
    if (!validName(a.name)) {
      accFail("name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
    } else if (!names.insert(a.name).second) {
      accFail("name", "duplicate account name");
    }
    checkRanges(a, accFail);
    checkListRefs(a.lists, known, accFail);
  }

  names.clear();
  for (size_t i = 0; i < p.fraudRules.size(); ++i) {
    const FraudRule& r = p.fraudRules[i];
    auto ruleFail = [&](std::string key, std::string message) {
      failEntry(Entry::FraudRule, i, r.name, std::move(key), std::move(message));
    };
    if (!validName(r.name)) {
      ruleFail("name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
    } else if (!names.insert(r.name).second) {
      ruleFail("name", "duplicate fraud rule name");
    }
    if (!r.account.empty() && !accountNames.count(r.account)) {
      ruleFail("account", "\"" + r.account + "\" is not an account");
    }
    if (r.prefixes.empty()) {
      ruleFail("prefixes", "at least one prefix is required (\"\" = every number)");
    } else if (r.prefixes.size() > kMaxFraudPrefixes) {
      ruleFail("prefixes", "at most " + std::to_string(kMaxFraudPrefixes) + " prefixes");
    }
    std::set<std::string_view> seen;
    for (const std::string& pre : r.prefixes) {
      if (!validDigits(pre)) {
        ruleFail("prefixes", "\"" + pre + "\" must be up to 32 of the characters 0-9 + * #");
      } else if (!seen.insert(pre).second) {
        ruleFail("prefixes", "\"" + pre + "\" is listed twice");
      }
    }
    int a = 0, b = 0;
    if (!r.window.empty() && !parseTimeWindow(r.window, &a, &b)) {
      ruleFail("window", "must be \"HH:MM-HH:MM\" (24-hour local time, start != end), got \"" +
                             r.window + "\"");
    }
    // Thresholds: each in its range, a warning not above its critical
    // ("<name>_critical" follows "<name>_warning" in the table), one set.
    bool any = false;
    const ProvisioningField<FraudRule>* warning = nullptr;
    for (const auto& f : provisioningFields<FraudRule>()) {
      if (f.max == 0) continue;
      const double v = numericValue(f, r);
      if (!inRange(f, r)) ruleFail(std::string(f.key), rangeMessage(f));
      if (v > 0) any = true;
      if (f.key.ends_with("_warning")) {
        warning = &f;
      } else if (warning != nullptr && f.key.ends_with("_critical")) {
        const double w = numericValue(*warning, r);
        if (w > 0 && v > 0 && w > v) {
          ruleFail(std::string(warning->key), "must not be above " + std::string(f.key));
        }
        warning = nullptr;
      }
    }
    if (!any) ruleFail("", "sets no threshold (e.g. calls_per_minute_critical = 10)");
  }
  return errors;
}

std::vector<GatewayPrefix> gatewayPrefixOwners(const Provisioning& p) {
  std::vector<GatewayPrefix> out;
  for (const auto& g : p.mappingGateways) {
    for (const std::string& a : g.addresses) {
      if (auto c = net::Cidr::parse(a)) {
        out.push_back({*c, "mapping gateway " + g.name});
      } else if (auto sa = net::SockAddr::parse(a)) {
        out.push_back({*net::Cidr::parse(sa->ip().toString()), "mapping gateway " + g.name});
      }
    }
  }
  for (const auto& g : p.routingGateways) {
    if (auto sa = net::SockAddr::parse(g.address, 5060)) {
      out.push_back({*net::Cidr::parse(sa->ip().toString()), "routing gateway " + g.name});
    }
  }
  return out;
}

std::vector<net::Cidr> gatewayPrefixes(const Provisioning& p) {
  std::vector<net::Cidr> out;
  for (GatewayPrefix& g : gatewayPrefixOwners(p)) out.push_back(g.prefix);
  return out;
}

void hashPassword(MappingGateway& g, std::string_view realm) {
  if (g.password.empty()) return;
  auth::DigestHasher hasher;
  g.realm = std::string(realm);
  g.ha1Md5 = hasher.ha1(auth::Algorithm::Md5, g.username, realm, g.password);
  g.ha1Sha256 = hasher.ha1(auth::Algorithm::Sha256, g.username, realm, g.password);
  // Wipe, not just clear: the clear password must not linger in memory.
  std::fill(g.password.begin(), g.password.end(), '\0');
  g.password.clear();
}

}  // namespace tollgate::admission
