// Everything the call layer needs from provisioning, built off the worker
// (app's provisioning watcher) and swapped in whole on it
// (RequestRouter::setSnapshot): who a source is, where a number goes, the
// accounts for digest and certificates, the carriers we register with, the
// call policy's tables, and what of each peer's signalling crosses the
// B2BUA. Immutable once built and shared by const pointer: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/accounts.h"
#include "admission/call_policy.h"
#include "admission/number_form.h"
#include "admission/source_matcher.h"
#include "call/route_table.h"
#include "registrar/outbound.h"
#include "sip/header_crossing.h"
#include "sip/message.h"

namespace tollgate::call {

// What of one peer's signalling crosses to the other leg
// (sip/header_crossing.h), from its gateway's provisioning. Immutable.
struct PeerSignalling {
  sip::HeaderAllowList pass;     // extension headers let through by name
  bool trustIdentity = false;    // its identity headers cross (rewritten)
  std::string assertedIdentity;  // mapping: asserted when none of its own crosses
  // Media (docs/media.md): "relay", "passthrough" or "" (media.mode), and
  // the codecs its calls may negotiate ("" = any).
  std::string media;
  std::vector<std::string> codecs;
  // The rule of a peer with no settings: nothing extra crosses.
  static const std::shared_ptr<const PeerSignalling>& none();
};

// `realm` is the digest realm (sip.domain); "" accepts password gateways
// hashed for any realm (tests).
struct Snapshot {
  explicit Snapshot(const admission::Provisioning& p, uint64_t v = 0, std::string_view realm = {},
                    const std::vector<admission::NumberList>& lists = {},
                    const admission::NumberSettings& numbers = {});
  admission::SourceMatcher matcher;
  RouteTable routes;
  admission::AccountTable accounts;
  std::vector<registrar::CarrierRegistration> carrierRegistrations;
  uint64_t version = 0;
  std::shared_ptr<const admission::PolicySnapshot> policy;
  std::vector<std::string> mappingNames;  // for per-gateway counters
  std::vector<std::string> routingNames;
  std::shared_ptr<const PeerSignalling> mappingSignalling(std::string_view name) const;
  std::shared_ptr<const PeerSignalling> routingSignalling(std::string_view name) const;
  // The registered password gateway a call to `callee` (canonical) of
  // `request` reaches, or null. It is ours: no carrier gets the call.
  const admission::GatewayInfo* registeredAccount(const sip::Message& request,
                                                  std::string_view callee) const;

 private:
  std::unordered_map<std::string, std::shared_ptr<const PeerSignalling>> mappingSignalling_;
  std::unordered_map<std::string, std::shared_ptr<const PeerSignalling>> routingSignalling_;
};

}  // namespace tollgate::call
