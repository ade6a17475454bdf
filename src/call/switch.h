// The B2BUA core of one worker ("the switch"): admits new requests by
// source (admission), answers OPTIONS, turns each admitted INVITE into an
// outbound leg towards routing gateways chosen by prefix with failover,
// relays responses and in-dialog requests (ACK, BYE, re-INVITE, UPDATE,
// INFO, PRACK, ...) between the two legs with separate Call-IDs, tags, CSeqs
// and Vias so neither side sees the other's topology, and hands one CDR per
// call attempt to the CdrSink. It is the TransactionUser of the worker's
// TransactionLayer. Confined to its worker; provisioning snapshots arrive
// through setSnapshot() on the same worker.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "admission/source_matcher.h"
#include "call/cdr.h"
#include "call/route_table.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/random.h"
#include "sip/checks.h"
#include "txn/transaction_layer.h"

namespace tollgate::call {

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
};

// Everything the switch needs from provisioning, built off the worker and
// swapped in whole.
struct Snapshot {
  explicit Snapshot(const admission::Provisioning& p, uint64_t v = 0)
      : matcher(p), routes(p), version(v) {
    for (const auto& g : p.mappingGateways) mappingNames.push_back(g.name);
    for (const auto& g : p.routingGateways) routingNames.push_back(g.name);
  }
  admission::SourceMatcher matcher;
  RouteTable routes;
  uint64_t version = 0;
  std::vector<std::string> mappingNames;  // for per-gateway counters
  std::vector<std::string> routingNames;
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
  uint64_t unwanted2xxHungUp = 0;       // late 2xx of abandoned attempts: ACK + BYE
  std::array<uint64_t, 32> byReason{};  // ended attempts by TerminationReason
  size_t activeCalls = 0;
};

// One call in progress, as the management API lists it. Values copied off
// the worker.
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
  uint64_t snapshotVersion() const { return snapshot_ ? snapshot_->version : 0; }

  // SIGTERM: refuse new calls with 503 from now on.
  void drain();
  bool draining() const { return draining_; }
  // Ends every call still up (BYE/CANCEL both legs, CDR reason "draining").
  void hangupAll();
  size_t activeCalls() const { return calls_.size(); }
  const SwitchStats& stats() const { return stats_; }

  // Management API (called on the worker through posted messages).
  // At most `limit` calls, oldest first.
  std::vector<LiveCall> liveCalls(size_t limit) const;
  // Ends one call: BYE both legs when answered, else 503 to the caller and
  // CANCEL to the carrier; the CDR says `reason`. False when no such call.
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

 private:
  class Call;
  friend class Call;

  enum class SourceKind : uint8_t { Mapping, Carrier, Unknown, PortMismatch };
  struct Source {
    SourceKind kind = SourceKind::Unknown;
    const admission::GatewayInfo* gateway = nullptr;
    bool portMismatch = false;  // the IP belongs to an ip_port gateway, the port does not
  };
  Source identify(const net::SockAddr& from) const;

  void onNewInvite(sip::MessagePtr request, const transport::Flow& from, const Source& src);
  void onInDialog(sip::MessagePtr request, const transport::Flow& from);
  void rejectUnknown(const sip::Message& request, const transport::Flow& from, const Source& src);
  void writeRejectCdr(const sip::Message& request, const transport::Flow& from,
                      const std::string& gateway, int code, TerminationReason reason);
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
  bool draining_ = false;

  uint64_t nextCallId_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  std::unordered_map<std::string, Call*> byTag_;     // our local tags, both legs
  std::unordered_map<txn::TxnId, Call*> byAInvite_;  // caller INVITE server txn
  std::vector<std::unique_ptr<Call>> deadCalls_;

  // Token bucket for unknown-source CDRs.
  double illegalTokens_ = 0;
  MonoTime illegalRefill_{};

  SwitchStats stats_;
  GatewayStats gateways_;
};

}  // namespace tollgate::call
