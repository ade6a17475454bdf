// Provisioning files: the TOML form of mapping gateways (customers),
// routing gateways (carriers), accounts and fraud rules that an operator
// imports into the store, e.g.
// examples/demo-provisioning.toml. This reads the file's structure (keys,
// types, unknown keys) and then runs admission::validateProvisioning(), so
// every problem, structural or semantic, is reported as
//   file:line: mapping_gateway[cust-a].addresses: "10.0.0.300" is not an IP address or CIDR
// with the line of the offending entry, key or array element. Keys are
// documented in docs/configuration.md. Plain functions: thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "admission/provisioning.h"
#include "app/config.h"
#include "common/result.h"

namespace tollgate::app {

// Entries per gateway list, addresses per mapping gateway and prefixes per
// routing gateway accepted in one file; the store and the matcher are sized
// for these. (A carrier's rate deck can hold thousands of prefixes.)
inline constexpr size_t kMaxGatewaysPerFile = 100'000;
inline constexpr size_t kMaxAddressesPerGateway = 4096;
inline constexpr size_t kMaxPrefixesPerGateway = admission::kMaxPrefixesPerEntry;

// `known` names the accounts and number lists that entries may refer to
// besides the file's own (see admission::validateProvisioning); null checks
// references against the file only, and number list names not at all.
Result<admission::Provisioning, ConfigError> loadProvisioningFile(
    const std::string& path, const admission::KnownNames* known = nullptr);
// Same, from text already in memory; sourceName is used in errors.
Result<admission::Provisioning, ConfigError> parseProvisioning(
    std::string_view text, const std::string& sourceName,
    const admission::KnownNames* known = nullptr);
// Turns the clear passwords of password gateways into their HA1 digests
// (MD5 and SHA-256) for `realm`, the node's sip.domain, and drops the
// passwords: what the store keeps. Run by `tollgate import`. A later change
// of sip.domain needs a re-import (HA1 depends on the realm).
void hashPasswords(admission::Provisioning& p, std::string_view realm);

}  // namespace tollgate::app
