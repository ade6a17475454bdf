// The credential-identified mapping gateways of one provisioning snapshot:
// password gateways by digest username (an auth::AccountDirectory for the
// digest check, whose optional address restriction is the second factor)
// and tls_cert gateways by the names in their client certificate. Built once
// per snapshot, then only read: immutable, thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/provisioning.h"
#include "admission/source_matcher.h"
#include "auth/authenticator.h"
#include "common/net.h"

namespace tollgate::admission {

class AccountTable final : public auth::AccountDirectory {
 public:
  // `realm` is the node's digest realm (sip.domain); "" accepts any. A
  // password gateway whose HA1s were computed for another realm (the domain
  // changed since its import) cannot authenticate: it is left out and named
  // in realmMismatches() so the node can say so.
  AccountTable(const Provisioning& p, std::string_view realm);

  // auth::AccountDirectory
  const auth::Account* findAccount(std::string_view username) const override;
  bool permits(const auth::Account& account, const net::IpAddress& source) const override;

  // The gateway an account from findAccount() belongs to.
  const GatewayInfo& gatewayOf(const auth::Account& account) const;
  // The password gateway with this username, or null.
  const GatewayInfo* byUsername(std::string_view username) const;
  // The tls_cert gateway one of whose names the (verified) certificate
  // carries, if its address restriction admits `source`; else null.
  const GatewayInfo* byCertificate(const std::vector<std::string>& names,
                                   const net::IpAddress& source) const;

  bool hasPasswordGateways() const { return !accounts_.empty(); }
  bool hasCertificateGateways() const { return !byTlsName_.empty(); }
  const std::vector<std::string>& realmMismatches() const { return realmMismatches_; }
  size_t size() const { return accounts_.size(); }

 private:
  struct Entry : auth::Account {
    GatewayInfo info;
    std::vector<net::Cidr> only;  // address restriction; empty = anywhere
    bool admits(const net::IpAddress& ip) const;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using Index = std::unordered_map<std::string, const Entry*, Hash, std::equal_to<>>;

  std::vector<std::unique_ptr<Entry>> entries_;
  Index accounts_;   // username -> password gateway
  Index byTlsName_;  // certificate name -> tls_cert gateway
  std::vector<std::string> realmMismatches_;
};

}  // namespace tollgate::admission
