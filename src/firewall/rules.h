// Firewall rulesets equivalent to the shield, generated from the same
// settings (`tollgate firewall export`): the five layers operators build by
// hand today, as one nftables file or one iptables-restore file per family.
//
//   1. trusted peers (every gateway address plus shield.trusted) accepted
//      first;
//   2. signatures: scanner User-Agents (iptables `string`; nftables has no
//      substring match, so there the shield alone drops them) and the method
//      policy (a fixed-offset payload match on the first bytes of a UDP
//      datagram);
//   3. rate limits per source and per prefix: `recent`, `hashlimit`,
//      `connlimit` (nftables: meters with `limit rate` and `ct count`);
//   then RTP media ports, the management allowlist, and a default drop.
//   Layers 4 (tollgate's own admission) and 5 (monitoring: every drop rule
//   has a counter) need no rules.
//
// Pure functions of a FirewallSpec: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/net.h"

namespace tollgate::firewall {

struct FirewallSpec {
  std::vector<uint16_t> sipUdpPorts;  // listen ports (at least one of the two lists)
  std::vector<uint16_t> sipTcpPorts;
  std::vector<net::Cidr> trusted;
  std::vector<std::string> userAgents;
  std::vector<std::string> dropMethods;
  uint32_t recentHits = 20;
  int recentSeconds = 60;
  double rate = 10;
  double burst = 20;
  int rateIdleSeconds = 30;
  int prefixV4 = 24;
  int prefixV6 = 64;
  uint32_t prefixRecentHits = 100;
  double prefixRate = 30;
  double prefixBurst = 60;
  uint32_t maxConcurrent = 10;
  uint32_t prefixMaxConcurrent = 30;
  uint16_t rtpPortMin = 0;  // 0 = no RTP rule
  uint16_t rtpPortMax = 0;
  std::vector<uint16_t> managementPorts;
  std::vector<net::Cidr> managementAllow;
  // First comment lines (where the ruleset came from).
  std::vector<std::string> header;
};

// One `table inet tollgate_filter` (replaced whole on load), for `nft -f`.
std::string exportNft(const FirewallSpec& spec);
// An iptables-restore file (filter table) for IPv4, or for IPv6
// (ip6tables-restore) when ipv6 is true.
std::string exportIptables(const FirewallSpec& spec, bool ipv6);

// Name of the exported nftables table.
inline constexpr const char* kExportTable = "tollgate_filter";
// The longest method (plus its space) a payload match can hold: 128 bits.
inline constexpr size_t kMaxPayloadMatch = 16;

}  // namespace tollgate::firewall
