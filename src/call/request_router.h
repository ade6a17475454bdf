// The request router: the one TransactionUser of a worker's transaction
// layer, and where the call layer starts. For each request, in order:
//   1. an ACK or in-dialog request (To tag) goes to the call owning that tag
//      (CallRegistry), only from that leg's peer (fromLegPeer: its address,
//      another address of the same gateway, or a password gateway's digest
//      from a new address); from anyone else it is dropped and counted;
//   2. a new request is identified: TLS client certificate, source address
//      (admission::SourceMatcher), or digest credentials
//      (auth::DigestAuthenticator: challenged, retry-limited; a new
//      suspension bans the source in the shield, a success vouches for it);
//      unknown sources are dropped or answered 403, their INVITEs recorded
//      as illegal-call CDRs;
//   3. dispatch: REGISTER -> registrar, OPTIONS -> 200, CANCEL without
//      transaction -> 481, other out-of-dialog requests -> 481, a new INVITE
//      -> stateless checks (sip/checks.h), drain, number normalisation,
//      call policy (admission::CallPolicy) -> a new Call (CallRegistry);
//      every refusal has its CDR (CdrRecorder);
//   (a new request carrying X-Tollgate-Peer is another node of the cluster
//   delivering a call to an account registered here, call_peer.cc: it is
//   authenticated by that header alone (registrar::PeerBindings::verify:
//   a live peer's address, a fresh MAC, used once), skips customer
//   identification and admission (the sending node did them) and goes to
//   this node's bindings; anything else carrying it is refused 403);
//   4. responses no client transaction matched (late 2xx: ACK and BYE) and
//      bytes that did not parse (400 to known peers, else dropped).
// It also installs provisioning snapshots and hands each peer its part.
// Confined to its worker; snapshots arrive through setSnapshot() posted to
// the same worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "admission/call_policy.h"
#include "auth/authenticator.h"
#include "auth/shared_retry.h"
#include "call/call_registry.h"
#include "call/numbers.h"
#include "call/services.h"
#include "call/snapshot.h"
#include "common/token_bucket.h"
#include "registrar/outbound.h"
#include "shield/ban_sink.h"
#include "shield/trust_sink.h"
#include "sip/checks.h"
#include "txn/transaction_layer.h"

namespace tollgate::call {

class RequestRouter final : public txn::TransactionUser {
 public:
  // Becomes the transaction layer's user until destroyed.
  RequestRouter(CallServices& services, CallRegistry& calls, auth::DigestAuthenticator& auth,
                registrar::OutboundRegistrations& outbound);
  ~RequestRouter() override;
  RequestRouter(const RequestRouter&) = delete;
  RequestRouter& operator=(const RequestRouter&) = delete;

  // The provisioning in force from now on, handed on to the call policy,
  // the carrier monitor, the registrar, the outbound registrations and the
  // CDR recorder's per-gateway counters.
  void setSnapshot(std::shared_ptr<const Snapshot> snapshot);
  uint64_t snapshotVersion() const { return s_.snapshot ? s_.snapshot->version : 0; }

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

  // The cluster's shared count of digest failures (auth/shared_retry.h):
  // the answer to a wrong password waits for its verdict, so tries spread
  // over several nodes count together. Null = a single node.
  void setSharedRetry(auth::SharedRetryCounter* shared) { sharedRetry_ = shared; }

  // SIGTERM: refuse new calls with 503 from now on.
  void drain() { draining_ = true; }
  bool draining() const { return draining_; }

  // txn::TransactionUser
  void onRequest(sip::MessagePtr request, const transport::Flow& from) override;
  void onStrayResponse(sip::MessagePtr response, const transport::Flow& from) override;
  void onMalformed(const transport::Flow& from, std::string_view raw,
                   const sip::ParseError& error) override;
  void onCancel(txn::TxnId invite) override;
  void onAckTimeout(txn::TxnId invite) override;
  void onConnectionClosed(transport::ConnectionId id) override;

 private:
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
  // A wrong password while the cluster's count is reachable: answered
  // (challenge, or drop as suspended) when its verdict comes.
  void answerFailureWhenCounted(sip::MessagePtr request, const transport::Flow& from,
                                const auth::AuthResult& r);
  void answerFailure(const sip::Message& request, const transport::Flow& from,
                     const auth::AuthResult& r, bool suspended, bool newSuspension);
  void onRegister(sip::MessagePtr request, const transport::Flow& from,
                  const admission::GatewayInfo& account);
  // Closes the TCP/TLS connection of a peer whose request we dropped.
  void closeUnwanted(const transport::Flow& from);

  void onNewInvite(sip::MessagePtr request, const transport::Flow& from, const Source& src);
  // A new request carrying registrar::kPeerHeader (see the top).
  void onPeerRequest(sip::MessagePtr request, const transport::Flow& from);
  void refusePeer(sip::MessagePtr request, const transport::Flow& from,
                  registrar::PeerVerdict verdict);
  CallNumbers callNumbers(const sip::Message& request, std::string_view gateway) const;
  // One `call.refused` line, at the refusal log's rate.
  void refusalLogLine(std::string_view reason, std::string_view callId, int code,
                      std::string_view by, std::string_view gateway, const CallNumbers& numbers);
  bool admitByPolicy(sip::MessagePtr& request, const transport::Flow& from,
                     const std::string& gateway, const CallNumbers& numbers,
                     admission::CallTicket* ticket);

  void onInDialog(sip::MessagePtr request, const transport::Flow& from);
  // Whether `from` may send `request` in `leg`'s dialog: its peer address
  // (and port, for ip_port gateways), another address that identifies the
  // same mapping gateway, or (not for ACK) digest credentials of the same
  // password gateway, which are asked for when missing.
  enum class PeerCheck : uint8_t { Peer, Challenged, Foreign };
  PeerCheck fromLegPeer(const Leg& leg, const sip::Message& request, const transport::Flow& from);
  void dropForeign(const sip::Message& request, const transport::Flow& from);
  void rejectUnknown(const sip::Message& request, const transport::Flow& from, const Source& src);

  CallServices& s_;
  CallRegistry& calls_;
  auth::DigestAuthenticator& auth_;
  registrar::OutboundRegistrations& outbound_;
  sip::CheckPolicy localPolicy_;  // requests we answer ourselves (OPTIONS)
  shield::BanSink* banSink_ = nullptr;
  shield::TrustSink* trustSink_ = nullptr;
  auth::SharedRetryCounter* sharedRetry_ = nullptr;
  bool draining_ = false;
  std::vector<admission::Listing> listings_;  // scratch, reused
  // `call.refused` log lines: a customer flooding over its limits must not
  // flood the log too (every refusal still has its CDR and counter).
  TokenBucket refusalLog_;
  uint64_t refusalLogsSuppressed_ = 0;
};

}  // namespace tollgate::call
