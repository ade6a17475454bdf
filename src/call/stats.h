// What the call layer of one worker counts and lists, as plain values the
// management plane (src/mgmt) and the CLI read without compiling the SIP
// core: the call counters, per-gateway counters, one live call, the carrier
// keep-alive state. Values, externally synchronized: counted on the worker,
// copied off it by mgmt::NodeControl.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "call/cdr.h"

namespace tollgate::call {

// The counters of the call layer of one worker. Each part counts its own
// fields: the request router (RequestRouter), the calls (Call), the CDR
// recorder (CdrRecorder) and the live-call registry (CallRegistry).
struct CallStats {
  uint64_t invitesReceived = 0;        // router: every INVITE that starts a call or is refused
  uint64_t callsAnswered = 0;          // calls
  uint64_t callsFailed = 0;            // CDR recorder: CDRs of attempts never answered
  uint64_t unknownSourceDropped = 0;   // router: every request from an unknown source
  uint64_t unknownSourceRejected = 0;  // router: answered 403
  uint64_t malformedDropped = 0;       // router
  uint64_t malformedAnswered = 0;      // router
  uint64_t optionsAnswered = 0;        // router
  uint64_t noDialog = 0;               // router: in-dialog request for no dialog (481 or dropped)
  uint64_t illegalCdrsSuppressed = 0;  // CDR recorder: unknown-source CDRs over the rate limit
  uint64_t failovers = 0;              // calls
  uint64_t unwanted2xxHungUp = 0;      // router: late 2xx of abandoned attempts: ACK + BYE
  // CDR recorder: ended attempts by TerminationReason.
  std::array<uint64_t, kTerminationReasonCount> byReason{};
  size_t activeCalls = 0;              // registry
  uint64_t challengesSent = 0;         // router: 401/407 to password-gateway requests
  uint64_t suspendedDropped = 0;       // router: requests from suspended sources/pairs
  uint64_t registersRefused = 0;       // router: authenticated but not a registering account
  uint64_t carrierChallenges = 0;      // calls: carrier 401/407 answered with credentials
  uint64_t unwantedStreamsClosed = 0;  // router: TCP/TLS connections of unwanted peers closed
  uint64_t authBansPlaced = 0;         // router: suspensions the shield turned into a ban
  uint64_t authBansRefused = 0;        // ... it refused (trusted source, auto_ban off, full)
  // Router: in-dialog requests and ACKs carrying a live dialog's Call-ID
  // and tags but sent from somewhere else than that leg's peer: dropped,
  // never relayed (the txn layer counts CANCELs: TxnStats::foreignCancels).
  uint64_t inDialogForeign = 0;
  uint64_t ackForeign = 0;
  uint64_t inDialogChallenged = 0;  // ... from a password gateway's new address: challenged
  uint64_t inDialogRejected = 0;    // calls: in-dialog requests not relayed (405, 483, 420 ...)
  // Calls: bodies without a Content-Type not relayed (RFC 3261 §7.4.1: a
  // body says what it is; an untyped SDP would cross with its origin).
  uint64_t untypedBodiesDropped = 0;
  // Calls: media anchoring (docs/media.md).
  uint64_t mediaRelayed = 0;        // attempts whose media went through rtpengine
  uint64_t mediaActive = 0;         // calls holding an rtpengine session now
  uint64_t mediaFailures = 0;       // calls failed because no engine answered an offer/answer
  uint64_t mediaTimeouts = 0;       // answered calls ended for lack of RTP (media_timeout)
  uint64_t mediaSetupTimeouts = 0;  // ... of them, no RTP at all since the answer
  uint64_t mediaRejected = 0;       // offers rtpengine refused (488: initial or mid-call)
  // Peer delivery between the nodes of a cluster (docs/cluster-registrations.md).
  uint64_t peerLookups = 0;           // calls: account without a local binding, cluster asked
  uint64_t peerRouted = 0;            // ... a live node holding a binding was found and tried
  uint64_t peerInvitesIn = 0;         // router: authentic INVITEs from peer nodes, delivered here
  uint64_t peerInvitesNoBinding = 0;  // ... answered 480: no reachable binding here (any more)
  // Router: requests carrying X-Tollgate-Peer refused 403, by verdict
  // (registrar::PeerVerdict: not_peer, malformed, stale, bad_mac, replayed,
  // no_key; index 0, authentic, unused).
  // (registrar::kPeerVerdictCount; request_router.cc checks they agree).
  std::array<uint64_t, 7> peerRefused{};
};

// Per-gateway counters (attempts: INVITEs admitted from a mapping gateway
// or sent to a routing gateway; CPS is their rate). Keyed by provisioned
// names only; entries of gateways no longer provisioned are dropped when a
// snapshot is installed.
struct GatewayCounters {
  uint64_t attempts = 0;
  uint64_t answered = 0;
  uint64_t failed = 0;  // attempts that ended unanswered
  size_t active = 0;    // filled by CallRegistry::gatewayStats()
};
struct GatewayStats {
  std::unordered_map<std::string, GatewayCounters> mapping;
  std::unordered_map<std::string, GatewayCounters> routing;
};

// One call in progress, as the management API (and `tollgate calls`) lists
// it.
struct LiveCall {
  uint64_t id = 0;      // the registry's handle: CallRegistry::endCall(id)
  std::string callId;   // caller leg's Call-ID
  std::string bCallId;  // carrier leg's Call-ID ("" before the first attempt)
  std::string caller;
  std::string callee;
  // From display name and the caller's User-Agent, printable and bounded
  // (callerNameForRecord, userAgentForRecord in numbers.h).
  std::string callerName;
  std::string userAgent;
  std::string source;  // "ip:port"
  std::string transport;
  std::string mappingGateway;
  std::string routingGateway;  // current (last tried) carrier
  std::string state;           // "routing", "early", "answered", "confirmed"
  int64_t startUs = 0;
  int64_t answerUs = 0;  // 0 = not answered
  int maxDurationS = 0;  // 0 = unlimited (call policy)
};

// One routing gateway as the OPTIONS keep-alive (CarrierMonitor) sees it.
struct CarrierStatus {
  std::string name;
  std::string address;
  bool monitored = false;
  bool up = true;
  int misses = 0;  // unanswered probes in a row
  uint64_t probes = 0;
};

struct CarrierMonitorStats {
  uint64_t probesSent = 0;
  uint64_t answered = 0;
  uint64_t missed = 0;
  uint64_t wentDown = 0;
  uint64_t cameUp = 0;
};

}  // namespace tollgate::call
