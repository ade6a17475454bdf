// Call policy: the admission checks a new call passes after its source is
// identified, in order --
//   1. the number lists of its mapping gateway and account (black/white);
//   2. the dynamic blacklist (skipped for numbers on the system white list
//      and, in per-gateway run mode, for gateways that do not enable it),
//      then the automatic rules count the attempt;
//   3. channels (max_concurrent) and calls per second of the gateway and
//      its account;
//   4. the fraud thresholds of its account and destination;
// and the carrier-side checks of each routing gateway tried (its number
// lists and its own channel/rate limits). Numbers are judged in their
// canonical form (number_form.h): the caller and callee handed in are
// canonical, and PolicySnapshot puts list patterns and fraud rule prefixes
// in the same form. PolicySnapshot is built from a
// provisioning snapshot and the number lists off the worker, then only read
// (immutable, thread-safe); CallPolicy holds the runtime state (buckets,
// counters, the blacklist) and is confined to its worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/call_limits.h"
#include "admission/dynamic_blacklist.h"
#include "admission/fraud_thresholds.h"
#include "admission/number_lists.h"
#include "admission/policy_stats.h"
#include "admission/provisioning.h"
#include "common/clock.h"

namespace tollgate::admission {

// The [policy] keys (docs/configuration.md).
struct PolicySettings {
  int maxDurationS = 0;      // node default for answered calls (SS_MAXCALLDURATION); 0 = none
  int durationWarningS = 0;  // warn this long before the limit (SS_CALLREMINTIME); 0 = none
  int concurrentLimitCode = 503;
  int blockedCode = 403;  // number lists and dynamic blacklist
  int fraudCode = 403;
  // How often the node saves the policy counters (rate windows, blacklist
  // rules, fraud) to the store; the node's timer, a [policy] key.
  std::chrono::seconds counterSaveInterval{10};
  DynamicBlacklistSettings blacklist;  // [blacklist]
};

class PolicySnapshot {
 public:
  PolicySnapshot() = default;
  // `numbers`: the canonical form list patterns and fraud rule prefixes
  // are put in, so "+1-900*" written by an operator matches "19005551234".
  PolicySnapshot(const Provisioning& p, const std::vector<NumberList>& lists,
                 const NumberSettings& numbers = {});

  struct Owner {
    std::string name;
    CallLimitsSpec limits;
    int maxDurationS = 0;
    ListBinding lists;
    bool dynamicBlacklist = false;
    int account = -1;     // index into accounts(); mapping gateways only
    std::string subject;  // fraud counters' subject: "account:NAME" / "gateway:NAME"
  };
  const Owner* mapping(std::string_view name, size_t* index = nullptr) const;
  const Owner* routing(std::string_view name, size_t* index = nullptr) const;
  const std::vector<Owner>& mappings() const { return mappings_; }
  const std::vector<Owner>& routings() const { return routings_; }
  const std::vector<Owner>& accounts() const { return accounts_; }
  const NumberListSet& lists() const { return lists_; }
  // Prefixes in canonical form.
  const std::vector<FraudRule>& fraudRules() const { return fraudRules_; }
  // References that could not be resolved (a store edited by hand), and
  // patterns the number form cannot express, for logs.
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  NumberListSet lists_;
  std::vector<Owner> mappings_, routings_, accounts_;
  std::unordered_map<std::string, size_t, StringHash, StringEq> mappingIndex_, routingIndex_;
  std::vector<FraudRule> fraudRules_;
  std::vector<std::string> problems_;
};

enum class Refusal : uint8_t {
  None,
  CpsLimit,
  ConcurrentLimit,
  CallerBlacklisted,
  CalleeBlacklisted,
  FraudThreshold,
};

struct PolicyDecision {
  Refusal refusal = Refusal::None;
  int code = 0;         // SIP status to answer with
  int retryAfterS = 0;  // CpsLimit: Retry-After
  std::string_view by;  // what refused: entity or rule name, "dynamic", list side
};

// What a call holds from admission until it ends.
struct CallTicket {
  CallLimits::Handle gateway = CallLimits::kNone;
  CallLimits::Handle account = CallLimits::kNone;
  bool admitted = false;
  bool watched = false;       // the dynamic blacklist applies
  bool liveCounted = false;   // counted by the caller-concurrency rule
  bool callerExempt = false;  // system white list
  bool calleeExempt = false;
  int maxDurationS = 0;  // 0 = unlimited
  FraudThresholds::Ticket fraud;
};

class CallPolicy {
 public:
  explicit CallPolicy(PolicySettings settings = {}, BlacklistPersistence* persistence = nullptr);

  const PolicySettings& settings() const { return settings_; }
  void setSnapshot(std::shared_ptr<const PolicySnapshot> snap, MonoTime now);
  const PolicySnapshot* snapshot() const { return snap_.get(); }

  // Judges a new call from mapping gateway `gateway`. On None the call is
  // admitted and *ticket must be handed to onEnded() once. Numbers listed
  // by this attempt are appended to *listings (the switch cuts the live
  // calls of those marked cutCalls; when such a number is this call's, the
  // call is refused as well: it would be the first to cut).
  // `identities` are the other caller numbers the carrier will see (an
  // asserted identity, a charge number, a diversion): each must pass the
  // caller's number lists and the dynamic blacklist like `caller` does, or
  // a listed number presented in them would reach a carrier that bills on
  // it. Only `caller` is counted by the automatic rules.
  PolicyDecision admit(std::string_view gateway, std::string_view caller, std::string_view callee,
                       MonoTime now, int64_t wallUs, CallTicket* ticket,
                       std::vector<Listing>* listings,
                       std::span<const std::string> identities = {});
  void onAnswered(const CallTicket& t, std::string_view callee);
  // `unanswered`: the call reached a carrier and ended without an answer
  // (busy, no answer, cancelled, refused by the callee): input of the
  // no-answer rule. answeredMs is the talk time (fraud minutes).
  void onEnded(CallTicket& t, std::string_view gateway, std::string_view caller,
               std::string_view callee, bool unanswered, int64_t answeredMs, int64_t wallUs,
               std::vector<Listing>* listings);

  // Routing gateways. Ok takes one of its channels (and a token): release
  // it with releaseCarrier() when the attempt fails or the call ends.
  enum class CarrierCheck : uint8_t { Ok, Full, CallerBlocked, CalleeBlocked };
  CarrierCheck acquireCarrier(std::string_view carrier, std::string_view caller,
                              std::string_view callee, MonoTime now, CallLimits::Handle* handle,
                              std::span<const std::string> identities = {});
  // acquireCarrier() in two steps, for a caller that asks the limits shared
  // with other nodes between them: the checks alone (Ok: *handle is the
  // carrier's entity, kNone when it has no limits), then the take.
  CarrierCheck checkCarrier(std::string_view carrier, std::string_view caller,
                            std::string_view callee, MonoTime now, CallLimits::Handle* handle,
                            std::span<const std::string> identities = {});
  void takeCarrier(CallLimits::Handle h, MonoTime now) { limits_.acquire(h, now); }
  void releaseCarrier(CallLimits::Handle h) { limits_.release(h); }

  DynamicBlacklist& blacklist() { return blacklist_; }
  const DynamicBlacklist& blacklist() const { return blacklist_; }
  FraudThresholds& fraud() { return fraud_; }
  CallLimits& limits() { return limits_; }
  PolicyStats& stats() { return stats_; }
  const PolicyStats& stats() const { return stats_; }

 private:
  bool watched(const PolicySnapshot::Owner& gw) const;

  PolicySettings settings_;
  std::shared_ptr<const PolicySnapshot> snap_;
  CallLimits limits_;
  DynamicBlacklist blacklist_;
  FraudThresholds fraud_;
  // CallLimits handles of the snapshot's owners, by index.
  std::vector<CallLimits::Handle> mappingHandles_, accountHandles_, routingHandles_;
  PolicyStats stats_;
};

}  // namespace tollgate::admission
