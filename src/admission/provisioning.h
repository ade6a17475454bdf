// The provisioning data model: mapping gateways (customers, calls come in)
// and routing gateways (carriers, calls go out), as imported from
// provisioning TOML and kept in the store. Plain data, validated by
// validateProvisioning(); the running core works on an immutable snapshot of
// it. No threading rule (values).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tollgate::admission {

enum class AuthMode : uint8_t { Ip, IpPort, Password };
std::string_view authModeName(AuthMode m);  // "ip", "ip_port", "password"
bool parseAuthMode(std::string_view text, AuthMode* out);

struct MappingGateway {
  std::string name;
  AuthMode auth = AuthMode::Ip;
  // ip: IP or CIDR strings; ip_port: "IP:port" strings ("[v6]:port").
  std::vector<std::string> addresses;
  bool enabled = true;
};

struct RoutingGateway {
  std::string name;
  std::string address;                // "host:port" or "[v6]:port"; host is an IP for now
  std::string transport = "udp";      // udp | tcp
  std::vector<std::string> prefixes;  // callee prefixes; "" = default route
  int priority = 0;                   // lower value is tried first among equal prefix lengths
  int stripDigits = 0;                // digits removed from the callee's front
  std::string addPrefix;              // prepended after stripping
  bool enabled = true;
};

struct Provisioning {
  std::vector<MappingGateway> mappingGateways;
  std::vector<RoutingGateway> routingGateways;
};

// A problem with one gateway entry: which gateway, which key, what is wrong.
struct ProvisioningError {
  std::string gateway;  // name (or "#N" when it has no name)
  std::string key;      // e.g. "addresses"
  std::string message;
  size_t index = 0;     // position in its list, to find the source line
  bool mapping = true;  // mapping_gateway vs routing_gateway
};

// Checks names (unique, [A-Za-z0-9._-]), addresses (parse per auth mode),
// and that no two mapping gateways claim the same source with the same
// specificity (ambiguity is an error; most-specific-wins otherwise).
std::vector<ProvisioningError> validateProvisioning(const Provisioning& p);

}  // namespace tollgate::admission
