// Routing: which routing gateways (carriers) to try for a callee number, in
// order. Longest matching callee prefix first, then priority (lower first),
// then name, each gateway at most once; "" is the default route and matches
// everything. Prefixes and callees are in canonical form (number_form.h). Built once per
// provisioning snapshot, then only read: immutable, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "admission/number_form.h"
#include "admission/provisioning.h"
#include "common/net.h"
#include "transport/transport.h"

namespace tollgate::call {

struct RouteTarget {
  std::string name;
  net::SockAddr address;
  transport::Protocol protocol = transport::Protocol::Udp;
  int priority = 0;
  int stripDigits = 0;
  std::string addPrefix;
  size_t matchedPrefixLength = 0;  // set on lookup results
  // Our credentials for this carrier's 401/407 ("" = none).
  std::string authUsername;
  std::string authPassword;
  bool optionsCheck = true;  // OPTIONS keep-alive wanted (carrier_monitor.h)

  // The number sent to this carrier: strip_digits removed, add_prefix added.
  std::string translate(std::string_view callee) const;
};

class RouteTable {
 public:
  // Expects validated provisioning; entries that do not parse are skipped.
  // Prefixes are put in the canonical form of `numbers` (normalizePattern),
  // so "+44" and "0044" route the canonical "44..." (form digits).
  explicit RouteTable(const admission::Provisioning& p,
                      const admission::NumberSettings& numbers = {});

  // Routes for `callee` (a canonical number, admission/number_form.h), best
  // first.
  std::vector<RouteTarget> lookup(std::string_view callee) const;
  // True when `ip` is the address of some routing gateway (a carrier may
  // send us OPTIONS keep-alives and in-dialog requests).
  bool isCarrierAddress(const net::IpAddress& ip) const { return carrierIps_.count(ip) > 0; }
  size_t size() const { return gateways_.size(); }
  // The i-th enabled routing gateway (in provisioning order).
  const RouteTarget& target(size_t i) const { return gateways_[i].target; }

 private:
  struct Gateway {
    RouteTarget target;
    std::vector<std::string> prefixes;
  };
  std::vector<Gateway> gateways_;
  std::unordered_set<net::IpAddress, net::IpAddressHash> carrierIps_;
};

}  // namespace tollgate::call
