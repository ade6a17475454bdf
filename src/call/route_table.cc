// Prefix routing over routing gateways.
#include "call/route_table.h"

#include <algorithm>

namespace tollgate::call {

std::string RouteTarget::translate(std::string_view callee) const {
  size_t strip = std::min(callee.size(), static_cast<size_t>(stripDigits));
  std::string out = addPrefix;
  out.append(callee.substr(strip));
  return out;
}

RouteTable::RouteTable(const admission::Provisioning& p, const admission::NumberSettings& numbers) {
  for (const admission::RoutingGateway& g : p.routingGateways) {
    if (!g.enabled) continue;
    auto proto = transport::protocolFromName(g.transport);
    if (!proto) continue;
    auto addr = net::SockAddr::parse(g.address, *proto == transport::Protocol::Tls ? 5061 : 5060);
    if (!addr) continue;
    Gateway gw;
    gw.target.name = g.name;
    gw.target.address = *addr;
    gw.target.protocol = *proto;
    gw.target.priority = g.priority;
    gw.target.stripDigits = g.stripDigits;
    gw.target.addPrefix = g.addPrefix;
    gw.target.authUsername = g.authUsername;
    gw.target.authPassword = g.authPassword;
    gw.target.optionsCheck = g.policy.optionsCheck;
    // A route prefix is a prefix pattern without its '*' ("" stays "").
    gw.prefixes.reserve(g.prefixes.size());
    for (const std::string& pre : g.prefixes) {
      std::string canonical = admission::normalizePattern(pre + "*", numbers);
      canonical.pop_back();
      gw.prefixes.push_back(std::move(canonical));
    }
    carrierIps_.insert(addr->ip());
    gateways_.push_back(std::move(gw));
  }
}

std::vector<RouteTarget> RouteTable::lookup(std::string_view callee) const {
  std::vector<RouteTarget> out;
  for (const Gateway& g : gateways_) {
    size_t best = 0;
    bool matched = false;
    for (const std::string& pre : g.prefixes) {
      if (callee.substr(0, pre.size()) == pre && (!matched || pre.size() > best)) {
        best = pre.size();
        matched = true;
      }
    }
    if (!matched) continue;
    out.push_back(g.target);
    out.back().matchedPrefixLength = best;
  }
  std::sort(out.begin(), out.end(), [](const RouteTarget& a, const RouteTarget& b) {
    if (a.matchedPrefixLength != b.matchedPrefixLength) {
      return a.matchedPrefixLength > b.matchedPrefixLength;
    }
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.name < b.name;
  });
  return out;
}

}  // namespace tollgate::call
