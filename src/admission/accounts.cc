// Credential-identified mapping gateways. See accounts.h.
#include "admission/accounts.h"

#include <cctype>

#include "common/ascii.h"

namespace tollgate::admission {

bool AccountTable::Entry::admits(const net::IpAddress& ip) const {
  if (only.empty()) return true;
  for (const net::Cidr& c : only) {
    if (c.contains(ip)) return true;
  }
  return false;
}

AccountTable::AccountTable(const Provisioning& p, std::string_view realm) {
  for (const MappingGateway& g : p.mappingGateways) {
    if (!g.enabled) continue;
    if (g.auth != AuthMode::Password && g.auth != AuthMode::TlsCert) continue;
    auto e = std::make_unique<Entry>();
    e->info.name = g.name;
    e->info.auth = g.auth;
    e->info.username = g.username;
    e->info.registers = g.registers;
    e->info.maxContacts = g.maxContacts;
    e->info.hasChallenge = g.hasChallenge;
    e->info.challenge = g.challenge;
    e->info.digestAlgorithms = g.digestAlgorithms;
    for (const std::string& a : g.addresses) {
      if (auto c = net::Cidr::parse(a)) e->only.push_back(*c);
    }
    if (g.auth == AuthMode::Password) {
      if (g.username.empty()) continue;
      if (!realm.empty() && g.realm != realm) {
        realmMismatches_.push_back(g.name);
        continue;
      }
      e->username = g.username;
      e->ha1Md5 = g.ha1Md5;
      e->ha1Sha256 = g.ha1Sha256;
      e->algorithms = g.digestAlgorithms;
      accounts_.emplace(g.username, e.get());
    } else {
      // Certificate names are compared lowercased (DNS is case-insensitive).
      for (const std::string& n : g.tlsNames) {
        byTlsName_.emplace(ascii::lowered(n), e.get());
      }
    }
    entries_.push_back(std::move(e));
  }
}

const auth::Account* AccountTable::findAccount(std::string_view username) const {
  auto it = accounts_.find(username);
  return it == accounts_.end() ? nullptr : it->second;
}

bool AccountTable::permits(const auth::Account& account, const net::IpAddress& source) const {
  // Every Account handed out by findAccount() is an Entry of this table.
  return static_cast<const Entry&>(account).admits(source);
}

const GatewayInfo& AccountTable::gatewayOf(const auth::Account& account) const {
  return static_cast<const Entry&>(account).info;
}

const GatewayInfo* AccountTable::byUsername(std::string_view username) const {
  auto it = accounts_.find(username);
  return it == accounts_.end() ? nullptr : &it->second->info;
}

const GatewayInfo* AccountTable::byCertificate(const std::vector<std::string>& names,
                                               const net::IpAddress& source) const {
  for (const std::string& n : names) {
    auto it = byTlsName_.find(n);
    if (it != byTlsName_.end() && it->second->admits(source)) return &it->second->info;
  }
  return nullptr;
}

}  // namespace tollgate::admission
