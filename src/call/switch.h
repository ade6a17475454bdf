// The B2BUA core of one worker ("the switch"): admits new requests by
// source address, TLS client certificate or SIP digest (admission, auth:
// password gateways are challenged on every new request except ACK and
// CANCEL, with retry limits), hands authenticated REGISTERs to the
// registrar, answers OPTIONS, turns each admitted INVITE into an
// outbound leg towards routing gateways chosen by prefix with failover,
// (or to the contacts of a registered account), relays responses and
// in-dialog requests (ACK, BYE, re-INVITE, UPDATE, INFO, PRACK, ...) between
// the two legs with separate Call-IDs, tags, CSeqs and Vias so neither side
// sees the other's topology, answers carriers' 401/407 with the routing
// gateway's credentials, applies the call policy (limits, number lists,
// dynamic blacklist, fraud thresholds, max duration, carrier keep-alive)
// and hands one CDR per call attempt to the CdrSink.
// It is the TransactionUser of the worker's TransactionLayer. Confined to
// its worker; provisioning snapshots arrive through setSnapshot() on the
// same worker.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "admission/accounts.h"
#include "admission/call_policy.h"
#include "admission/number_form.h"
#include "admission/source_matcher.h"
#include "auth/authenticator.h"
#include "auth/digest.h"
#include "call/carrier_monitor.h"
#include "call/cdr.h"
#include "call/route_table.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/occupancy.h"
#include "common/random.h"
#include "registrar/outbound.h"
#include "registrar/registrar.h"
#include "shield/ban_sink.h"
#include "shield/trust_sink.h"
#include "sip/checks.h"
#include "sip/header_crossing.h"
#include "txn/transaction_layer.h"

namespace tollgate::call {

struct Leg;  // one side of a call (switch.cc)

enum class UnknownSourcePolicy : uint8_t { Drop, Reject403 };

struct SwitchConfig {
  UnknownSourcePolicy unknownSource = UnknownSourcePolicy::Drop;
  std::string userAgent = "tollgate";  // Server / User-Agent we send; "" = none
  // host[:port] for Via/Contact/From instead of the listener address.
  std::string advertisedAddress;
  Millis ringTimeout{120'000};  // answer must come this long after the first provisional
  Millis setupTimeout{5'000};   // no response at all from a carrier -> next gateway
  int switchLimit = 3;          // gateways tried per call
  bool stopAfterBusy = true;    // 486/600 stop failover
  int noRouteCode = 404;
  bool illegalCallCdrs = true;  // CDRs for unknown-source INVITEs
  double illegalCdrRate = 20;   // per second
  double illegalCdrBurst = 100;
  // Digest authentication of password gateways (realm = sip.domain).
  admission::ChallengeMode challenge = admission::ChallengeMode::Proxy407;
  auth::AuthSettings auth;
  registrar::RegistrarSettings registrar;
  bool tcpCloseReset = false;  // unwanted TCP/TLS peers: RST instead of FIN
  // Call policy (issue 5).
  bool switchUntilConnect = false;    // failover goes on after a carrier rang
  Millis optionsCheckPeriod{0};       // carrier OPTIONS keep-alive; 0 = off
  int optionsFailureLimit = 2;        // unanswered probes in a row -> out of rotation
  admission::PolicySettings policy;   // limits, codes, dynamic blacklist rules
  admission::NumberSettings numbers;  // the canonical form of numbers
};

// What of one peer's signalling crosses to the other leg
// (sip/header_crossing.h), from its gateway's provisioning. Immutable.
struct PeerSignalling {
  sip::HeaderAllowList pass;     // extension headers let through by name
  bool trustIdentity = false;    // its identity headers cross (rewritten)
  std::string assertedIdentity;  // mapping: asserted when none of its own crosses
  // The rule of a peer with no settings: nothing extra crosses.
  static const std::shared_ptr<const PeerSignalling>& none();
};

// Everything the switch needs from provisioning, built off the worker and
// swapped in whole. `realm` is the digest realm (sip.domain); "" accepts
// password gateways hashed for any realm (tests).
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

 private:
  std::unordered_map<std::string, std::shared_ptr<const PeerSignalling>> mappingSignalling_;
  std::unordered_map<std::string, std::shared_ptr<const PeerSignalling>> routingSignalling_;
};

// The numbers of a new call, worked out once from its INVITE and used by
// admission, routing, the CDR and the request sent on.
// Every number is in its canonical form (admission/number_form.h): routing,
// the number lists, the dynamic blacklist, fraud rules, the CDR and the
// carrier all see the same string, whatever separators, escapes or
// international prefix the customer wrote.
struct CallNumbers {
  std::string caller;  // From user
  std::string callee;  // Request-URI user (To user when it has none)
  bool calleeDialable = false;
  std::string callerRaw;  // as received, for the CDR
  std::string calleeRaw;
  // Other caller numbers the carrier will see: identity headers of a gateway
  // trusted to assert them, the gateway's asserted identity.
  std::vector<std::string> identities;
};
// The numbers of `request` as CallNumbers (identities left empty).
CallNumbers normalizedNumbers(const sip::Message& request, const admission::NumberSettings& n);

// One call in progress, as the management API (and `tollgate calls`) lists
// it. Values copied off the worker.
struct LiveCall {
  uint64_t id = 0;      // the switch's handle: endCall(id)
  std::string callId;   // caller leg's Call-ID
  std::string bCallId;  // carrier leg's Call-ID ("" before the first attempt)
  std::string caller;
  std::string callee;
  std::string source;  // "ip:port"
  std::string transport;
  std::string mappingGateway;
  std::string routingGateway;  // current (last tried) carrier
  std::string state;           // "routing", "early", "answered", "confirmed"
  int64_t startUs = 0;
  int64_t answerUs = 0;  // 0 = not answered
  int maxDurationS = 0;  // 0 = unlimited (call policy)
};

struct SwitchStats {
  uint64_t invitesReceived = 0;
  uint64_t callsAnswered = 0;
  uint64_t callsFailed = 0;
  uint64_t unknownSourceDropped = 0;   // every request from an unknown source
  uint64_t unknownSourceRejected = 0;  // answered 403
  uint64_t malformedDropped = 0;
  uint64_t malformedAnswered = 0;
  uint64_t optionsAnswered = 0;
  uint64_t noDialog = 0;               // in-dialog request for no dialog (481 or dropped)
  uint64_t illegalCdrsSuppressed = 0;  // unknown-source CDRs over the rate limit
  uint64_t failovers = 0;
  uint64_t unwanted2xxHungUp = 0;  // late 2xx of abandoned attempts: ACK + BYE
  std::array<uint64_t, kTerminationReasonCount> byReason{};  // ended attempts by TerminationReason
  size_t activeCalls = 0;
  uint64_t challengesSent = 0;     // 401/407 to password-gateway requests
  uint64_t suspendedDropped = 0;   // requests from suspended sources/pairs not answered usefully
  uint64_t registersRefused = 0;   // authenticated but not a registering account
  uint64_t carrierChallenges = 0;  // carrier 401/407 answered with credentials
  uint64_t unwantedStreamsClosed = 0;  // TCP/TLS connections of unwanted peers closed
  uint64_t authBansPlaced = 0;         // suspensions the shield turned into a ban
  uint64_t authBansRefused = 0;        // ... it refused (trusted source, auto_ban off, full)
  // In-dialog requests and ACKs carrying a live dialog's Call-ID and tags
  // but sent from somewhere else than that leg's peer: dropped, never
  // relayed (the txn layer counts CANCELs: TxnStats::foreignCancels).
  uint64_t inDialogForeign = 0;
  uint64_t ackForeign = 0;
  uint64_t inDialogChallenged = 0;  // ... from a password gateway's new address: challenged
  uint64_t inDialogRejected = 0;    // in-dialog requests we do not relay (405, 483, 420 ...)
};

// Per-gateway counters (attempts: INVITEs admitted from a mapping gateway
// or sent to a routing gateway; CPS is their rate). Keyed by provisioned
// names only; entries of gateways no longer provisioned are dropped when a
// snapshot is installed.
struct GatewayCounters {
  uint64_t attempts = 0;
  uint64_t answered = 0;
  uint64_t failed = 0;  // attempts that ended unanswered
  size_t active = 0;    // filled by gatewayStats()
};
struct GatewayStats {
  std::unordered_map<std::string, GatewayCounters> mapping;
  std::unordered_map<std::string, GatewayCounters> routing;
};

class Switch final : public txn::TransactionUser {
 public:
  Switch(EventLoop& loop, txn::TransactionLayer& txns, CdrSink& cdrs, Random& random,
         const Clock& clock, SwitchConfig config);
  ~Switch() override;
  Switch(const Switch&) = delete;
  Switch& operator=(const Switch&) = delete;

  void setSnapshot(std::shared_ptr<const Snapshot> snapshot);
  // Told of every call (dialog) opening and ending, by the caller's source
  // IP (the shield's per-source concurrency limit). Null = nobody.
  void setOccupancyObserver(OccupancyObserver* observer) { occupancy_ = observer; }
  // The shield's hooks for digest authentication (shield/ban_sink.h,
  // shield/trust_sink.h): a new retry-limit suspension also bans the
  // request's source address (reason "auth", one ban list), and a
  // successful authentication vouches for its source for
  // registrar.max_expires, so a password customer at an address the shield
  // does not know is not rate-limited as a stranger. Null = no shield.
  void setShieldHooks(shield::BanSink* bans, shield::TrustSink* trust) {
    banSink_ = bans;
    trustSink_ = trust;
  }
  uint64_t snapshotVersion() const { return snapshot_ ? snapshot_->version : 0; }

  // SIGTERM: refuse new calls with 503 from now on.
  void drain();
  bool draining() const { return draining_; }
  // Ends every call still up (BYE/CANCEL both legs, CDR reason "draining").
  void hangupAll();
  size_t activeCalls() const { return calls_.size(); }
  const SwitchStats& stats() const { return stats_; }
  auth::DigestAuthenticator& authenticator() { return auth_; }
  registrar::Registrar& registrar() { return *registrar_; }
  registrar::OutboundRegistrations& outboundRegistrations() { return *outbound_; }

  // Call policy (issue 5): limits, number lists, dynamic blacklist, fraud
  // thresholds (admission/call_policy.h) and carrier keep-alive.
  admission::CallPolicy& policy() { return *policy_; }
  const admission::CallPolicy& policy() const { return *policy_; }
  const CarrierMonitor& carriers() const { return *carriers_; }
  // Ends every live call whose caller (or callee) is `number`, with reason
  // caller_blacklisted (callee_blacklisted). Returns how many.
  size_t cutCalls(std::string_view number, admission::NumberSide side);

  // Live calls, for the management API and `tollgate calls` (which speaks
  // it): called on the worker through posted messages. At most `limit`
  // calls in progress (not yet ended), oldest first.
  std::vector<LiveCall> liveCalls(size_t limit = SIZE_MAX) const;
  // Ends one call: BYE both legs when answered, else `code` (503) to the
  // caller and CANCEL to the carrier; the CDR says `reason`, hangup
  // "system". False when no such call is up.
  bool endCall(uint64_t id, TerminationReason reason = TerminationReason::AdminHangup);
  // Counters per gateway, with `active` filled in.
  GatewayStats gatewayStats() const;

  // txn::TransactionUser
  void onRequest(sip::MessagePtr request, const transport::Flow& from) override;
  void onStrayResponse(sip::MessagePtr response, const transport::Flow& from) override;
  void onMalformed(const transport::Flow& from, std::string_view raw,
                   const sip::ParseError& error) override;
  void onCancel(txn::TxnId invite) override;
  void onAckTimeout(txn::TxnId invite) override;
  void onConnectionClosed(transport::ConnectionId id) override;

 private:
  class Call;
  friend class Call;
  class CarrierAuthRetry;

  enum class SourceKind : uint8_t { Mapping, Carrier, Unknown, PortMismatch };
  struct Source {
    SourceKind kind = SourceKind::Unknown;
    const admission::GatewayInfo* gateway = nullptr;
    bool portMismatch = false;  // the IP belongs to an ip_port gateway, the port does not
  };
  Source identify(const net::SockAddr& from) const;
  Source identify(const transport::Flow& from) const;  // plus TLS client certificates

  // A new request whose sender is known (by address, certificate or digest).
  void admitted(sip::MessagePtr request, const transport::Flow& from, const Source& src);
  // A new request from a password gateway (or anyone, when those exist).
  void admitByDigest(sip::MessagePtr request, const transport::Flow& from);
  void sendChallenge(const sip::Message& request, const transport::Flow& from,
                     const auth::AuthResult& r);
  void dropSuspended(const sip::Message& request, const transport::Flow& from);
  // A retry-limit suspension just placed for a request from `from`: ban it.
  void reportSuspension(std::string_view username, const transport::Flow& from);
  void onRegister(sip::MessagePtr request, const transport::Flow& from,
                  const admission::GatewayInfo& account);
  // Closes the TCP/TLS connection of a peer whose request we dropped.
  void closeUnwanted(const transport::Flow& from);
  // Sends a request to a carrier that answers 401/407 once with credentials.
  void sendWithCarrierAuth(txn::OutgoingRequest&& out, const transport::Flow& flow,
                           const std::string& username, const std::string& password);
  void moveRetry(txn::TxnId from, txn::TxnId to);
  void retireRetry(txn::TxnId id);

  void onNewInvite(sip::MessagePtr request, const transport::Flow& from, const Source& src);
  // Call policy hooks (issue 5); see switch.cc.
  CallNumbers callNumbers(const sip::Message& request, std::string_view gateway) const;
  // The registered password gateway a call to `callee` (canonical) reaches,
  // or null.
  const admission::GatewayInfo* registeredAccount(const sip::Message& request,
                                                  std::string_view callee) const;
  // One `call.refused` line, at the refusal log's rate.
  void refusalLogLine(std::string_view reason, std::string_view callId, int code,
                      std::string_view by, std::string_view gateway, const CallNumbers& numbers);
  bool admitByPolicy(sip::MessagePtr& request, const transport::Flow& from,
                     const std::string& gateway, const CallNumbers& numbers,
                     admission::CallTicket* ticket);
  void onCallAnswered(Call& call);
  void onCallEnded(Call& call, bool answered, TerminationReason reason);
  void applyListings(const std::vector<admission::Listing>& listings);
  void onInDialog(sip::MessagePtr request, const transport::Flow& from);
  // Whether `from` may send `request` in `leg`'s dialog: its peer address
  // (and port, for ip_port gateways), another address that identifies the
  // same mapping gateway, or (not for ACK) digest credentials of the same
  // password gateway, which are asked for when missing.
  enum class PeerCheck : uint8_t { Peer, Challenged, Foreign };
  PeerCheck fromLegPeer(const Leg& leg, const sip::Message& request, const transport::Flow& from);
  void dropForeign(const sip::Message& request, const transport::Flow& from);
  void rejectUnknown(const sip::Message& request, const transport::Flow& from, const Source& src);
  // numbers: the call's, when already worked out; else from `request`.
  void writeRejectCdr(const sip::Message& request, const transport::Flow& from,
                      const std::string& gateway, int code, TerminationReason reason,
                      const CallNumbers* numbers = nullptr);
  bool takeIllegalCdrToken();

  // Call bookkeeping.
  void registerTag(const std::string& tag, Call* call);
  void unregisterTag(const std::string& tag);
  void finishCall(Call* call);  // CDR written; destroyed after this event
  void submitCdr(Cdr&& cdr);

  // Helpers shared with Call.
  std::string localHostPort(transport::ListenerId listener) const;
  std::string contactFor(const transport::Flow& flow) const;
  std::string newTag() { return random_.token(12); }
  std::string newCallId() { return random_.token(20); }

  EventLoop& loop_;
  txn::TransactionLayer& txns_;
  CdrSink& cdrs_;
  Random& random_;
  const Clock& clock_;
  SwitchConfig config_;
  sip::CheckPolicy forwardPolicy_;
  sip::CheckPolicy localPolicy_;
  std::shared_ptr<const Snapshot> snapshot_;
  OccupancyObserver* occupancy_ = nullptr;
  shield::BanSink* banSink_ = nullptr;
  shield::TrustSink* trustSink_ = nullptr;
  bool draining_ = false;
  std::unique_ptr<admission::CallPolicy> policy_;
  std::unique_ptr<CarrierMonitor> carriers_;
  std::vector<admission::Listing> listings_;  // scratch, reused
  // `call.refused` log lines: a customer flooding over its limits must not
  // flood the log too (every refusal still has its CDR and counter).
  admission::TokenBucket refusalLog_;
  uint64_t refusalLogsSuppressed_ = 0;

  uint64_t nextCallId_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  std::unordered_map<std::string, Call*> byTag_;     // our local tags, both legs
  std::unordered_map<txn::TxnId, Call*> byAInvite_;  // caller INVITE server txn
  std::vector<std::unique_ptr<Call>> deadCalls_;

  auth::DigestAuthenticator auth_;
  auth::DigestHasher clientHasher_;  // our answers to carriers' challenges
  std::unique_ptr<registrar::Registrar> registrar_;
  std::unique_ptr<registrar::OutboundRegistrations> outbound_;
  std::unordered_map<txn::TxnId, std::unique_ptr<CarrierAuthRetry>> authRetries_;
  std::vector<std::unique_ptr<CarrierAuthRetry>> deadRetries_;

  // Token bucket for unknown-source CDRs.
  double illegalTokens_ = 0;
  MonoTime illegalRefill_{};

  SwitchStats stats_;
  GatewayStats gateways_;
};

}  // namespace tollgate::call
