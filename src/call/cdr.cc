// Text names of termination reasons and hangup sides (cdr.h). The names are
// part of the operator interface: they are stored in CDR rows, printed by
// `tollgate cdr list` and documented in docs/cdr.md, so never rename one;
// add new reasons with new names.
#include "call/cdr.h"

#include <array>
#include <utility>

namespace tollgate::call {
namespace {

// Indexed by the enum value; reasonFromName() scans it (a few dozen entries,
// only on CDR reads and CLI filters, never per packet).
constexpr std::array<std::pair<TerminationReason, std::string_view>, kTerminationReasonCount>
    kReasonNames{{
        {TerminationReason::CallerBye, "caller_bye"},
        {TerminationReason::CalleeBye, "callee_bye"},
        {TerminationReason::Busy, "busy"},
        {TerminationReason::NoAnswer, "no_answer"},
        {TerminationReason::Cancelled, "cancelled"},
        {TerminationReason::Rejected, "rejected"},
        {TerminationReason::NoRoute, "no_route"},
        {TerminationReason::RouteFailed, "route_failed"},
        {TerminationReason::UnknownSource, "unknown_source"},
        {TerminationReason::PortMismatch, "port_mismatch"},
        {TerminationReason::BadRequest, "bad_request"},
        {TerminationReason::TooManyHops, "too_many_hops"},
        {TerminationReason::AckTimeout, "ack_timeout"},
        {TerminationReason::Draining, "draining"},
        {TerminationReason::InternalError, "internal_error"},
        {TerminationReason::AuthFailed, "auth_failed"},
        {TerminationReason::CalleeOffline, "callee_offline"},
        {TerminationReason::CarrierAuthFailed, "carrier_auth_failed"},
        {TerminationReason::CpsLimit, "cps_limit"},
        {TerminationReason::ConcurrentLimit, "concurrent_limit"},
        {TerminationReason::CallerBlacklisted, "caller_blacklisted"},
        {TerminationReason::CalleeBlacklisted, "callee_blacklisted"},
        {TerminationReason::MaxDuration, "max_duration"},
        {TerminationReason::FraudThreshold, "fraud_threshold"},
        {TerminationReason::CarrierUnavailable, "carrier_unavailable"},
        {TerminationReason::AdminHangup, "admin_hangup"},
        {TerminationReason::InvalidNumber, "invalid_number"},
        {TerminationReason::Overload, "overload"},
        {TerminationReason::MediaUnavailable, "media_unavailable"},
        {TerminationReason::MediaTimeout, "media_timeout"},
        {TerminationReason::MediaRejected, "media_rejected"},
        {TerminationReason::ClusterUnavailable, "cluster_unavailable"},
    }};

constexpr bool reasonTableMatchesEnum() {
  for (size_t i = 0; i < kReasonNames.size(); ++i) {
    if (static_cast<size_t>(kReasonNames[i].first) != i) return false;
  }
  return true;
}
static_assert(reasonTableMatchesEnum(), "kReasonNames must list reasons in enum order");
static_assert(kTerminationReasonCount == kReasonNames.size(),
              "a TerminationReason was added without a name");

}  // namespace

std::string_view reasonName(TerminationReason r) {
  auto i = static_cast<size_t>(r);
  if (i < kReasonNames.size()) return kReasonNames[i].second;
  return "internal_error";  // not reachable with a valid enum value
}

std::optional<TerminationReason> reasonFromName(std::string_view name) {
  for (const auto& [reason, text] : kReasonNames) {
    if (text == name) return reason;
  }
  return std::nullopt;
}

std::string_view hangupName(HangupSide s) {
  switch (s) {
    case HangupSide::None:
      return "";
    case HangupSide::Caller:
      return "caller";
    case HangupSide::Callee:
      return "callee";
    case HangupSide::System:
      return "system";
  }
  return "";
}

std::optional<HangupSide> hangupFromName(std::string_view name) {
  if (name.empty()) return HangupSide::None;
  if (name == "caller") return HangupSide::Caller;
  if (name == "callee") return HangupSide::Callee;
  if (name == "system") return HangupSide::System;
  return std::nullopt;
}

}  // namespace tollgate::call
