// Source-address identification of mapping gateways.
#include "admission/source_matcher.h"

#include <algorithm>

namespace tollgate::admission {

SourceMatcher::SourceMatcher(const Provisioning& p) {
  for (const MappingGateway& g : p.mappingGateways) {
    // Password and tls_cert gateways are identified by credentials
    // (accounts.h), not by their source address.
    if (!g.enabled || g.auth == AuthMode::Password || g.auth == AuthMode::TlsCert) continue;
    auto info = std::make_unique<GatewayInfo>();
    info->name = g.name;
    info->auth = g.auth;
    const GatewayInfo* gi = info.get();
    gateways_.push_back(std::move(info));
    for (const std::string& a : g.addresses) {
      if (g.auth == AuthMode::IpPort) {
        auto s = net::SockAddr::parse(a);
        if (!s) continue;
        byIpPort_.emplace(*s, gi);
        ipPortOwners_.emplace(s->ip(), gi);
      } else {
        auto c = net::Cidr::parse(a);
        if (!c) continue;
        if (c->isHost()) {
          byIp_.emplace(c->network(), gi);
        } else {
          cidrs_.push_back(CidrEntry{*c, gi});
        }
      }
    }
  }
  std::stable_sort(cidrs_.begin(), cidrs_.end(), [](const CidrEntry& a, const CidrEntry& b) {
    return a.cidr.prefixLength() > b.cidr.prefixLength();
  });
}

Identification SourceMatcher::identify(const net::SockAddr& source) const {
  if (auto it = byIpPort_.find(source); it != byIpPort_.end()) {
    return {Identification::Matched, it->second};
  }
  if (auto it = byIp_.find(source.ip()); it != byIp_.end()) {
    return {Identification::Matched, it->second};
  }
  for (const CidrEntry& e : cidrs_) {
    if (e.cidr.contains(source.ip())) return {Identification::Matched, e.gateway};
  }
  if (auto it = ipPortOwners_.find(source.ip()); it != ipPortOwners_.end()) {
    return {Identification::PortMismatch, it->second};
  }
  return {Identification::Unknown, nullptr};
}

}  // namespace tollgate::admission
