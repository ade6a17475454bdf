// Identifies the mapping gateway a new request comes from by its source
// address (VOS3000 "IP" and "IP + port" call authentication). Most specific
// match wins: IP+port, then exact IP, then the longest CIDR prefix. Built once
// per provisioning snapshot and then only read: immutable, thread-safe.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "admission/provisioning.h"
#include "common/net.h"

namespace tollgate::admission {

// What the core needs to know about an identified mapping gateway. Stable
// for the life of the snapshot; calls copy what they keep.
struct GatewayInfo {
  std::string name;
  AuthMode auth = AuthMode::Ip;
  // Password gateways (accounts.h).
  std::string username;
  bool registers = false;  // must REGISTER; calls to `username` are routed to it
  int maxContacts = 1;
  bool hasChallenge = false;  // overrides sip.challenge
  ChallengeMode challenge = ChallengeMode::Proxy407;
  std::vector<auth::Algorithm> digestAlgorithms;  // overrides auth.digest_algorithms
};

struct Identification {
  enum Kind : uint8_t {
    Matched,       // gateway identified
    Unknown,       // no mapping gateway has this source
    PortMismatch,  // the IP belongs to an ip_port gateway, the port does not
  };
  Kind kind = Unknown;
  const GatewayInfo* gateway = nullptr;  // Matched: the gateway; PortMismatch: the IP's owner
};

class SourceMatcher {
 public:
  // Expects validated provisioning; entries that do not parse are skipped.
  // Disabled gateways are not matched.
  explicit SourceMatcher(const Provisioning& p);

  Identification identify(const net::SockAddr& source) const;
  size_t gatewayCount() const { return gateways_.size(); }

 private:
  struct CidrEntry {
    net::Cidr cidr;
    const GatewayInfo* gateway;
  };
  std::vector<std::unique_ptr<GatewayInfo>> gateways_;
  std::unordered_map<net::SockAddr, const GatewayInfo*, net::SockAddrHash> byIpPort_;
  std::unordered_map<net::IpAddress, const GatewayInfo*, net::IpAddressHash> byIp_;
  // IPs used by ip_port gateways, to tell PortMismatch from Unknown.
  std::unordered_map<net::IpAddress, const GatewayInfo*, net::IpAddressHash> ipPortOwners_;
  std::vector<CidrEntry> cidrs_;  // longest prefix first
};

}  // namespace tollgate::admission
