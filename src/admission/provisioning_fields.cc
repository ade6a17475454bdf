// The field tables of provisioning records (provisioning_fields.h). A new
// field is one line here; its member goes in provisioning.h and its column in
// a store migration.
#include "admission/provisioning_fields.h"

#include <array>

namespace tollgate::admission {
namespace {

// The member `path` of a record, as a FieldRef (a captureless lambda, so it
// converts to the table's function pointer).
#define TG_MEMBER(path) [](auto& r) -> FieldRef { return &r.path; }

// Call policy keys shared by gateways and accounts (docs/configuration.md).
constexpr std::string_view kCps = "calls per second (token bucket); 0 = no limit";
constexpr std::string_view kCpsBurst = "bucket depth; 0 = one second's worth";
constexpr std::string_view kMaxConcurrent = "channels; 0 = no limit";
constexpr std::string_view kMaxDuration = "seconds an answered call may last; 0 = node's";
constexpr std::string_view kCallerLists = "number lists checked against the caller";
constexpr std::string_view kCalleeLists = "number lists checked against the callee";
constexpr std::string_view kDynamicBlacklist =
    "watched by the dynamic blacklist when blacklist.run_mode = \"per_gateway\"";
// Lists: the validator's bound for a file, a wider one for the API, whose
// reader leaves the wording of the limit to the validator.
constexpr size_t kApiListRefs = 1024;
constexpr size_t kNameLength = 128;
constexpr std::string_view kMedia =
    "\"relay\" (media through rtpengine), \"passthrough\" or \"\" (media.mode)";
constexpr std::string_view kCodecs =
    "codec names its calls may negotiate when relayed (rtpengine strips the others); "
    "empty = any";
constexpr size_t kMaxCodecs = 16;
constexpr size_t kCodecLength = 32;

using M = MappingGateway;
using R = RoutingGateway;
using A = Account;
using F = FraudRule;

constexpr std::array kMappingFields = {
    ProvisioningField<M>{.key = "account",
                         .description = "the account it belongs to (\"\" = none)",
                         .ref = TG_MEMBER(policy.account),
                         .example = "acme",
                         .maxLength = kNameLength},
    ProvisioningField<M>{.key = "cps",
                         .description = kCps,
                         .ref = TG_MEMBER(policy.limits.cps),
                         .max = kMaxCps,
                         .unit = "calls per second"},
    ProvisioningField<M>{.key = "cps_burst",
                         .description = kCpsBurst,
                         .ref = TG_MEMBER(policy.limits.cpsBurst),
                         .max = kMaxCpsBurst},
    ProvisioningField<M>{.key = "max_concurrent",
                         .description = kMaxConcurrent,
                         .ref = TG_MEMBER(policy.limits.maxConcurrent),
                         .max = kMaxConcurrentCalls},
    ProvisioningField<M>{.key = "max_duration",
                         .description = kMaxDuration,
                         .ref = TG_MEMBER(policy.maxDuration),
                         .max = kMaxCallDurationS,
                         .unit = "seconds"},
    ProvisioningField<M>{.key = "overload_weight",
                         .description = "its part of the node's capacity when overloaded, "
                                        "against the other mapping gateways' weights",
                         .ref = TG_MEMBER(policy.overloadWeight),
                         .min = 1,
                         .max = 1000},
    ProvisioningField<M>{.key = "caller_lists",
                         .description = kCallerLists,
                         .ref = TG_MEMBER(policy.lists.caller),
                         .example = "clis,vip",
                         .maxItems = kMaxListRefs,
                         .apiMaxItems = kApiListRefs,
                         .maxLength = kNameLength},
    ProvisioningField<M>{.key = "callee_lists",
                         .description = kCalleeLists,
                         .ref = TG_MEMBER(policy.lists.callee),
                         .example = "premium",
                         .maxItems = kMaxListRefs,
                         .apiMaxItems = kApiListRefs,
                         .maxLength = kNameLength},
    ProvisioningField<M>{.key = "dynamic_blacklist",
                         .description = kDynamicBlacklist,
                         .ref = TG_MEMBER(policy.dynamicBlacklist)},
    ProvisioningField<M>{.key = "trust_identity",
                         .description = "its identity headers (P-Asserted-Identity, "
                                        "Remote-Party-ID, P-Charge-Info, Diversion ...) reach "
                                        "the carrier; false = removed",
                         .ref = TG_MEMBER(policy.trustIdentity)},
    ProvisioningField<M>{.key = "pass_headers",
                         .description = "extension header names relayed from it to the carrier",
                         .ref = TG_MEMBER(policy.passHeaders),
                         .example = "X-Account-Code",
                         .maxItems = kMaxPassHeaders,
                         .maxLength = kNameLength},
    ProvisioningField<M>{.key = "asserted_identity",
                         .description = "number sent as P-Asserted-Identity when its own "
                                        "identity headers do not cross; \"\" = none",
                         .ref = TG_MEMBER(policy.assertedIdentity),
                         .example = "+4420794601",
                         .maxLength = 64},
    ProvisioningField<M>{.key = "media",
                         .description = kMedia,
                         .ref = TG_MEMBER(policy.media),
                         .example = "relay",
                         .maxLength = 16},
    ProvisioningField<M>{.key = "codecs",
                         .description = kCodecs,
                         .ref = TG_MEMBER(policy.codecs),
                         .example = "PCMA,PCMU",
                         .maxItems = kMaxCodecs,
                         .maxLength = kCodecLength},
};

constexpr std::array kRoutingFields = {
    ProvisioningField<R>{.key = "cps",
                         .description = kCps,
                         .ref = TG_MEMBER(policy.limits.cps),
                         .max = kMaxCps,
                         .unit = "calls per second"},
    ProvisioningField<R>{.key = "cps_burst",
                         .description = kCpsBurst,
                         .ref = TG_MEMBER(policy.limits.cpsBurst),
                         .max = kMaxCpsBurst},
    ProvisioningField<R>{.key = "max_concurrent",
                         .description = kMaxConcurrent,
                         .ref = TG_MEMBER(policy.limits.maxConcurrent),
                         .max = kMaxConcurrentCalls},
    ProvisioningField<R>{.key = "caller_lists",
                         .description = kCallerLists,
                         .ref = TG_MEMBER(policy.lists.caller),
                         .example = "clis",
                         .maxItems = kMaxListRefs,
                         .apiMaxItems = kApiListRefs,
                         .maxLength = kNameLength},
    ProvisioningField<R>{.key = "callee_lists",
                         .description = kCalleeLists,
                         .ref = TG_MEMBER(policy.lists.callee),
                         .example = "premium,mobile",
                         .maxItems = kMaxListRefs,
                         .apiMaxItems = kApiListRefs,
                         .maxLength = kNameLength},
    ProvisioningField<R>{.key = "options_check",
                         .description = "OPTIONS keep-alive to it when "
                                        "routing.options_check_period > 0",
                         .ref = TG_MEMBER(policy.optionsCheck)},
    ProvisioningField<R>{.key = "trust_identity",
                         .description = "its identity headers reach the customer; false = removed",
                         .ref = TG_MEMBER(policy.trustIdentity)},
    ProvisioningField<R>{.key = "pass_headers",
                         .description = "extension header names relayed from it to the customer",
                         .ref = TG_MEMBER(policy.passHeaders),
                         .example = "X-Carrier-Ref",
                         .maxItems = kMaxPassHeaders,
                         .maxLength = kNameLength},
    ProvisioningField<R>{.key = "media",
                         .description = kMedia,
                         .ref = TG_MEMBER(policy.media),
                         .example = "passthrough",
                         .maxLength = 16},
    ProvisioningField<R>{.key = "codecs",
                         .description = kCodecs,
                         .ref = TG_MEMBER(policy.codecs),
                         .example = "PCMA",
                         .maxItems = kMaxCodecs,
                         .maxLength = kCodecLength},
};

constexpr std::array kAccountFields = {
    ProvisioningField<A>{.key = "cps",
                         .description = kCps,
                         .ref = TG_MEMBER(limits.cps),
                         .max = kMaxCps,
                         .unit = "calls per second"},
    ProvisioningField<A>{.key = "cps_burst",
                         .description = kCpsBurst,
                         .ref = TG_MEMBER(limits.cpsBurst),
                         .max = kMaxCpsBurst},
    ProvisioningField<A>{.key = "max_concurrent",
                         .description = kMaxConcurrent,
                         .ref = TG_MEMBER(limits.maxConcurrent),
                         .max = kMaxConcurrentCalls},
    ProvisioningField<A>{.key = "max_duration",
                         .description = kMaxDuration,
                         .ref = TG_MEMBER(maxDuration),
                         .max = kMaxCallDurationS,
                         .unit = "seconds"},
    ProvisioningField<A>{.key = "caller_lists",
                         .description = kCallerLists,
                         .ref = TG_MEMBER(lists.caller),
                         .example = "clis",
                         .maxItems = kMaxListRefs,
                         .apiMaxItems = kApiListRefs,
                         .maxLength = kNameLength},
    ProvisioningField<A>{.key = "callee_lists",
                         .description = kCalleeLists,
                         .ref = TG_MEMBER(lists.callee),
                         .example = "premium",
                         .maxItems = kMaxListRefs,
                         .apiMaxItems = kApiListRefs,
                         .maxLength = kNameLength},
    ProvisioningField<A>{.key = "dynamic_blacklist",
                         .description = kDynamicBlacklist,
                         .ref = TG_MEMBER(dynamicBlacklist)},
};

// Fraud thresholds come in warning/critical pairs (ThresholdLevels); the
// validator pairs "<name>_warning" with "<name>_critical".
#define TG_THRESHOLD(name, member)                                                            \
  ProvisioningField<F>{.key = name "_warning",                                                \
                       .description = "0 = not set",                                          \
                       .ref = TG_MEMBER(member.warning),                                      \
                       .max = kMaxThreshold},                                                 \
      ProvisioningField<F> {                                                                  \
    .key = name "_critical", .description = "0 = not set", .ref = TG_MEMBER(member.critical), \
    .max = kMaxThreshold                                                                      \
  }

constexpr std::array kFraudRuleFields = {
    ProvisioningField<F>{.key = "account",
                         .description = "\"\" = every account",
                         .ref = TG_MEMBER(account),
                         .example = "acme",
                         .maxLength = kNameLength},
    // A file takes as many prefixes as a carrier's rate deck, the validator
    // holds a rule to kMaxFraudPrefixes.
    ProvisioningField<F>{.key = "prefixes",
                         .description = "callee prefixes; \"\" = every number",
                         .ref = TG_MEMBER(prefixes),
                         .example = "1900,44",
                         .maxItems = kMaxPrefixesPerEntry,
                         .apiMaxItems = kMaxFraudPrefixes,
                         .maxLength = 64,
                         .required = true,
                         .emptyItem = true},
    // `window` is an SQL keyword.
    ProvisioningField<F>{.key = "window",
                         .description = "\"HH:MM-HH:MM\" local time; \"\" = all day",
                         .ref = TG_MEMBER(window),
                         .example = "22:00-06:00",
                         .maxLength = 16,
                         .column = "time_window"},
    TG_THRESHOLD("calls_per_minute", callsPerMinute),
    TG_THRESHOLD("concurrent", concurrent),
    TG_THRESHOLD("sequential_same_number", sequentialSameNumber),
    TG_THRESHOLD("minutes_per_day", minutesPerDay),
};

#undef TG_THRESHOLD
#undef TG_MEMBER

std::string number(double v) {
  return std::to_string(static_cast<long long>(v));
}

}  // namespace

template <>
std::span<const ProvisioningField<MappingGateway>> provisioningFields<MappingGateway>() {
  return kMappingFields;
}
template <>
std::span<const ProvisioningField<RoutingGateway>> provisioningFields<RoutingGateway>() {
  return kRoutingFields;
}
template <>
std::span<const ProvisioningField<Account>> provisioningFields<Account>() {
  return kAccountFields;
}
template <>
std::span<const ProvisioningField<FraudRule>> provisioningFields<FraudRule>() {
  return kFraudRuleFields;
}

template <typename Record>
std::string rangeMessage(const ProvisioningField<Record>& f) {
  std::string m = "must be " + number(f.min) + ".." + number(f.max);
  if (!f.unit.empty()) m += " " + std::string(f.unit);
  return m;
}

template <typename Record>
bool sameFields(const Record& a, const Record& b) {
  for (const auto& f : provisioningFields<Record>()) {
    const bool same =
        std::visit([&](auto* x) { return *x == *std::get<decltype(x)>(f.at(b)); }, f.at(a));
    if (!same) return false;
  }
  return true;
}

#define TG_INSTANTIATE(Record)                                         \
  template std::string rangeMessage(const ProvisioningField<Record>&); \
  template bool sameFields(const Record&, const Record&);
TG_INSTANTIATE(MappingGateway)
TG_INSTANTIATE(RoutingGateway)
TG_INSTANTIATE(Account)
TG_INSTANTIATE(FraudRule)
#undef TG_INSTANTIATE

}  // namespace tollgate::admission
