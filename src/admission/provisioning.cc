// Validation of provisioning data: names, addresses per auth mode, routes,
// and the ambiguity rule (two gateways claiming the same source with the same
// specificity).
#include "admission/provisioning.h"

#include <map>
#include <set>
#include <string_view>

#include "common/net.h"

namespace tollgate::admission {

std::string_view authModeName(AuthMode m) {
  switch (m) {
    case AuthMode::Ip:
      return "ip";
    case AuthMode::IpPort:
      return "ip_port";
    case AuthMode::Password:
      return "password";
  }
  return "ip";
}

bool parseAuthMode(std::string_view text, AuthMode* out) {
  if (text == "ip")
    *out = AuthMode::Ip;
  else if (text == "ip_port")
    *out = AuthMode::IpPort;
  else if (text == "password")
    *out = AuthMode::Password;
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

std::string label(const std::string& name, size_t index) {
  return name.empty() ? "#" + std::to_string(index + 1) : name;
}

}  // namespace

std::vector<ProvisioningError> validateProvisioning(const Provisioning& p) {
  std::vector<ProvisioningError> errors;
  auto fail = [&](bool mapping, size_t index, const std::string& name, std::string key,
                  std::string message) {
    errors.push_back(
        ProvisioningError{label(name, index), std::move(key), std::move(message), index, mapping});
  };

  // Owner of each source key, for the ambiguity rule. Keys are canonical
  // text: "ip:10.0.0.0/8" (ip mode) or "ipport:[::1]:5060" (ip_port mode).
  std::map<std::string, std::string> owner;
  std::set<std::string> names;
  for (size_t i = 0; i < p.mappingGateways.size(); ++i) {
    const MappingGateway& g = p.mappingGateways[i];
    if (!validName(g.name)) {
      fail(true, i, g.name, "name", "must be 1-64 characters of A-Z a-z 0-9 . _ -");
    } else if (!names.insert(g.name).second) {
      fail(true, i, g.name, "name", "duplicate mapping gateway name");
    }
    if (g.auth == AuthMode::Password) {
      fail(true, i, g.name, "auth", "auth = \"password\" is not supported yet");
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
    auto addr = net::SockAddr::parse(g.address, 5060);
    if (!addr || addr->port() == 0) {
      fail(false, i, g.name, "address",
           "\"" + g.address + "\" is not IP[:port] (use [v6]:port for IPv6)");
    }
    if (g.transport != "udp" && g.transport != "tcp") {
      fail(false, i, g.name, "transport", "must be \"udp\" or \"tcp\"");
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
  }
  return errors;
}

}  // namespace tollgate::admission
