// The provisioning snapshot of the call layer. See snapshot.h.
#include "call/snapshot.h"

#include "call/numbers.h"

namespace tollgate::call {

const std::shared_ptr<const PeerSignalling>& PeerSignalling::none() {
  static const std::shared_ptr<const PeerSignalling> kNone = std::make_shared<PeerSignalling>();
  return kNone;
}

std::shared_ptr<const PeerSignalling> Snapshot::mappingSignalling(std::string_view name) const {
  auto it = mappingSignalling_.find(std::string(name));
  return it == mappingSignalling_.end() ? PeerSignalling::none() : it->second;
}

std::shared_ptr<const PeerSignalling> Snapshot::routingSignalling(std::string_view name) const {
  auto it = routingSignalling_.find(std::string(name));
  return it == routingSignalling_.end() ? PeerSignalling::none() : it->second;
}

Snapshot::Snapshot(const admission::Provisioning& p, uint64_t v, std::string_view realm,
                   const std::vector<admission::NumberList>& lists,
                   const admission::NumberSettings& numbers)
    : matcher(p),
      routes(p, numbers),
      accounts(p, realm),
      version(v),
      policy(std::make_shared<const admission::PolicySnapshot>(p, lists, numbers)) {
  for (const auto& g : p.mappingGateways) mappingNames.push_back(g.name);
  for (const auto& g : p.routingGateways) routingNames.push_back(g.name);
  auto signalling =
      [](const admission::GatewayPolicy& pol) -> std::shared_ptr<const PeerSignalling> {
    if (!pol.trustIdentity && pol.passHeaders.empty() && pol.assertedIdentity.empty() &&
        pol.media.empty() && pol.codecs.empty()) {
      return PeerSignalling::none();
    }
    auto s = std::make_shared<PeerSignalling>();
    s->pass = sip::HeaderAllowList(pol.passHeaders);
    s->trustIdentity = pol.trustIdentity;
    s->assertedIdentity = pol.assertedIdentity;
    s->media = pol.media;
    s->codecs = pol.codecs;
    return s;
  };
  for (const auto& g : p.mappingGateways) mappingSignalling_.emplace(g.name, signalling(g.policy));
  for (const auto& g : p.routingGateways) routingSignalling_.emplace(g.name, signalling(g.policy));
  for (const admission::RoutingGateway& g : p.routingGateways) {
    if (!g.enabled || !g.registers || g.authUsername.empty()) continue;
    auto proto = transport::protocolFromName(g.transport);
    if (!proto) continue;
    auto addr = net::SockAddr::parse(g.address, *proto == transport::Protocol::Tls ? 5061 : 5060);
    if (!addr) continue;
    registrar::CarrierRegistration r;
    r.name = g.name;
    r.protocol = *proto;
    r.address = *addr;
    r.username = g.authUsername;
    r.password = g.authPassword;
    r.expires = std::chrono::seconds(g.registerExpires);
    carrierRegistrations.push_back(std::move(r));
  }
}

const admission::GatewayInfo* Snapshot::registeredAccount(const sip::Message& request,
                                                          std::string_view callee) const {
  // A registered account is called by its username: its canonical form
  // ("1-0-0" reaches "100") or, for usernames that are no numbers
  // ("alice"), exactly as written. It is ours: no carrier gets the call.
  const admission::GatewayInfo* g = accounts.byUsername(callee);
  if (!g) {
    std::string_view user = calleeOf(request);
    user = user.substr(0, user.find(';'));
    g = accounts.byUsername(sip::unescape(user));
  }
  return g && g->registers ? g : nullptr;
}

}  // namespace tollgate::call
