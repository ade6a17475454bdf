// Web access control (VOS3000 "Web Access Control"): the CIDRs from which
// the management API accepts TCP connections. Checked on every accepted
// connection before a byte is read. Immutable after construction:
// thread-safe.
#pragma once

#include <vector>

#include "common/net.h"

namespace tollgate::mgmt {

class AccessList {
 public:
  explicit AccessList(std::vector<net::Cidr> allow) : allow_(std::move(allow)) {}
  // An empty list allows nothing: the API would be unreachable, which is
  // what an operator who wrote `allow = []` asked for.
  bool allows(const net::IpAddress& ip) const {
    for (const auto& c : allow_) {
      if (c.contains(ip)) return true;
    }
    return false;
  }
  const std::vector<net::Cidr>& entries() const { return allow_; }

 private:
  std::vector<net::Cidr> allow_;
};

}  // namespace tollgate::mgmt
