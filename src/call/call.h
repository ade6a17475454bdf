// One call through the B2BUA: the caller's leg (we are its UAS) and the
// carrier's leg (we are its UAC), separate dialogs with their own Call-IDs,
// tags, CSeqs and Vias so neither side sees the other's topology.
//   setup (call_setup.cc): route attempts to a registered account's contacts
//     or to routing gateways chosen by prefix, skipping carriers the policy
//     or the keep-alive rules out, failover on timeout/408/5xx/6xx, carrier
//     401/407 answered (auth/digest_client.h), ring and setup timers, max
//     duration, CANCEL races, one CDR when it ends;
//   relay (call_relay.cc): responses and in-dialog requests (ACK, BYE,
//     re-INVITE, UPDATE, INFO, PRACK ...) between the legs, with headers
//     crossing by the allow list, SDP origin rewritten, RAck renumbered;
//   media (call_media.cc): when the call's media is relayed, every SDP
//     crosses through rtpengine (offer/answer, asynchronous: the message
//     waits, in order, for the engine's reply), the session is deleted when
//     an attempt fails or the call ends (its figures go to the CDR), and an
//     answered call without RTP is ended (media_timeout);
//   peer (call_peer.cc): an account registered through another node of the
//     cluster is reached through that node, and such a node's INVITE is
//     delivered to this node's bindings (docs/cluster-registrations.md).
// Created by the CallRegistry, which routes requests to it by local tag and
// caller INVITE and frees it after it finished. Confined to its worker.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/call_policy.h"
#include "auth/digest_client.h"
#include "call/cdr.h"
#include "call/numbers.h"
#include "call/services.h"
#include "call/snapshot.h"
#include "call/stats.h"
#include "cluster/shared_limits.h"
#include "common/event_loop.h"
#include "common/net.h"
#include "sip/message.h"
#include "sip/serialize.h"
#include "txn/transaction_layer.h"

namespace tollgate::call {

class CallRegistry;

// One side of the B2BUA.
struct Leg {
  std::string callId;
  std::string localTag;
  std::string localHeader;   // our From/To value on this leg, with our tag
  std::string remoteHeader;  // the peer's, with its tag once known
  std::string remoteTag;
  std::string remoteTarget;  // Request-URI of in-dialog requests
  std::vector<std::string> routeSet;
  uint32_t localCseq = 0;   // last CSeq we used on this leg
  uint32_t inviteCseq = 0;  // CSeq of the initial INVITE on this leg
  transport::Flow flow;     // where the peer is
  // Who may send requests, ACKs and CANCELs in this leg's dialog (see
  // RequestRouter::fromLegPeer): the address the dialog was set up with, the
  // port too when the gateway is identified by IP and port, and the gateway
  // that may also prove itself by digest from another address ("" = none).
  net::IpAddress peerIp;
  uint16_t peerPort = 0;  // 0 = any port of peerIp
  std::string peerGateway;
  bool peerByDigest = false;
  // What of the peer's signalling crosses to the other leg.
  std::shared_ptr<const PeerSignalling> signalling = PeerSignalling::none();
  std::string hostPort;  // our address on this leg
  std::string contact;   // our Contact value on this leg
  std::string_view viaProtocol = "UDP";
  // Our credentials towards this peer when it is a carrier that challenges.
  std::string authUsername;
  std::string authPassword;
  // The X-Tollgate-Peer value of our INVITE when this peer is another node
  // of the cluster (registrar/peer_bindings.h); "" otherwise.
  std::string peerHeader;
};

// Where one attempt of a call goes: a carrier (by prefix) or a contact of
// a registered account.
struct Target {
  std::string name;  // routing gateway, or the account's mapping gateway
  transport::Flow flow;
  std::string requestUri;  // contact URI; "" = sip:<number>@<address> (carrier)
  std::string number;      // carriers: the translated number
  std::string authUsername;
  std::string authPassword;
  bool account = false;  // a registered account's contact (a password gateway)
  // The account is registered through this other node of the cluster: the
  // INVITE goes to that node (flow), which delivers it (call_peer.cc).
  std::string peerNode;
};

enum class Side : uint8_t { A, B };  // A: the caller's leg, B: the carrier's

class Call final : public txn::ClientCallbacks {
 public:
  enum class State : uint8_t { Routing, Early, Answered, Confirmed, Ended };

  Call(CallServices& services, CallRegistry& registry, uint64_t id);
  ~Call() override;
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  uint64_t id() const { return id_; }
  // The caller's source address (occupancy reports); set before start().
  net::IpAddress source;
  const Leg& a() const { return a_; }
  const Leg& b() const { return b_; }
  txn::TxnId aInvite() const { return aInvite_; }
  bool ended() const { return state_ == State::Ended; }
  const Cdr& cdr() const { return cdr_; }
  State state() const { return state_; }

  // Call policy: what admission granted this call and the channel it holds
  // on the current carrier (released when an attempt fails or the call ends).
  admission::CallTicket& ticket() { return ticket_; }
  void setTicket(admission::CallTicket&& t) { ticket_ = std::move(t); }
  admission::CallLimits::Handle& carrierHandle() { return carrier_; }
  LiveCall live() const;

  // Setup (call_setup.cc).
  void start(txn::TxnId invite, const sip::Message& req, const transport::Flow& from,
             const admission::GatewayInfo& gateway, CallNumbers&& numbers);
  // Peer delivery (call_peer.cc): the INVITE came from another node of the
  // cluster (authenticated by RequestRouter) for an account registered
  // here; `node` is its id. The call goes to this node's bindings only (the
  // sending node already admitted it), and its CDR is marked peer transit
  // (mapping gateway "peer:<node>", docs/cdr.md).
  void startPeerTransit(txn::TxnId invite, const sip::Message& req, const transport::Flow& from,
                        std::string_view node, CallNumbers&& numbers);
  bool peerTransit() const { return peerTransit_; }
  void onCallerCancel();
  void onAckTimeout();
  // Ends the call from our side: BYE both legs once answered, else `code`
  // to the caller and CANCEL to the carrier; CDR reason `reason`.
  void hangup(TerminationReason reason, int code = 503);

  // Relay (call_relay.cc).
  void onAck(const sip::Message& ack, Side side);
  void onInDialogRequest(sip::MessagePtr req, const transport::Flow& from, Side side);
  void onStray2xx(const sip::Message& resp);

  // txn::ClientCallbacks
  void onResponse(txn::TxnId id, const sip::Message& response) override;
  void onTimeout(txn::TxnId id) override;
  void onTransportError(txn::TxnId id) override;

 private:
  // An in-dialog request relayed to the other leg, until its final response.
  struct Relay {
    txn::TxnId client = 0;
    txn::TxnId server = 0;
    Side from = Side::A;  // the leg the request came from (and the response goes to)
    sip::Method method = sip::Method::Unknown;
    uint32_t inCseq = 0;   // CSeq on the requesting leg
    uint32_t outCseq = 0;  // CSeq we used on the other leg
    bool answered2xx = false;
    std::string ack;       // ACK relayed to the other leg, re-sent on 2xx retransmissions
    std::string remoteTo;  // To of the 2xx on the other leg (for the ACK)
    // Towards a carrier with credentials: what we sent, to send it again
    // with credentials when it challenges, and what we answered.
    std::unique_ptr<txn::OutgoingRequest> sent;
    auth::DigestAnswers answers;
    bool offered = false;  // the request carried an SDP offer (its 2xx answers it)
  };

  Leg& leg(Side s) { return s == Side::A ? a_ : b_; }
  Leg& other(Side s) { return s == Side::A ? b_ : a_; }

  // Peer delivery (call_peer.cc). The account has no reachable binding
  // here: asks the cluster for nodes that hold one; true when the call
  // now waits for the answer (onPeerOwners goes on with it).
  bool askPeers(const admission::GatewayInfo& account);
  void onPeerOwners(const admission::GatewayInfo& account,
                    std::vector<registrar::PeerOwner> owners);
  // The signalling rule of a peer node's leg: its identity headers were
  // already judged by the node that admitted the call; media stays as
  // that node anchored it.
  static const std::shared_ptr<const PeerSignalling>& peerSignalling();

  // Setup (call_setup.cc).
  bool nextAttempt();
  // Gives back the current carrier's channel (shared and local).
  void releaseCarrier();
  // A carrier the policy ruled out without an attempt (for the CDR reason
  // when none could be tried).
  void carrierSkipped(const Target& r, admission::CallPolicy::CarrierCheck cc);
  // The tail of a failed attempt when no other is made: the caller's final
  // response and the CDR reason from the last carrier's answer.
  void failAfterAttempts(int code, std::string_view reason, bool timeout);
  bool startAttempt(const Target& t);
  bool retryInviteWithCredentials(const sip::Message& challenge);
  void onInviteResponse(const sip::Message& resp);
  void onAnswered();
  void onAttemptFailed(int code, std::string_view reason, bool timeout);
  void onRingTimeout();
  void startDurationTimers();
  void onMaxDuration();
  void onDurationWarning();
  void failNoCarrier();
  void failCall(int code, std::string_view reason, TerminationReason why);
  void end(TerminationReason reason, HangupSide side);
  void abandonB();
  void updateBFromResponse(const sip::Message& resp);

  // Shared limits (call_shared_limits.cc): with a cluster, the call's
  // channels and rates are judged against every node's calls in Redis, in
  // one exchange for the admission (mapping gateway, account) and the
  // first carrier with room, and one more per failover.
  // start(): true when the shared limits took over the call's setup (a
  // verdict in flight, or the call refused by the down rule); false: go
  // on locally.
  bool sharedStart();
  // With the link up, carriers are chosen by a verdict (not for a
  // registered account's contacts).
  bool sharedCarriers() const;
  // The next attempt through a verdict: true when one started or a verdict
  // is in flight (sharedNoCarrier_ runs if none can be made).
  bool sharedNext();
  void onSharedVerdict(const cluster::SharedVerdict& v);
  void sharedRefuse(const cluster::SharedVerdict& v);
  void sharedNoCarrier();
  // The call's end: its entities given back in Redis; a verdict in flight
  // is cancelled (what it takes is given back when it arrives).
  void sharedEnd();
  uint64_t sharedVerdict_ = 0;        // in flight; 0 = none
  bool sharedAdmissionDue_ = false;   // the verdict in flight is the admission's
  bool sharedAdmitted_ = false;       // the gateway and account count in Redis
  bool sharedBypass_ = false;         // a verdict got no reply: carriers locally from now
  std::vector<size_t> sharedRoutes_;  // routes_ offered as candidates
  std::vector<admission::CallLimits::Handle> sharedHandles_;
  size_t sharedScanEnd_ = 0;  // the first route not looked at
  int sharedFallback_ = -1;   // a carrier without limits after the candidates
  std::function<void()> sharedOnNoCarrier_;

  // Media (call_media.cc). Inactive (every message crosses at once, SDP
  // with its origin rewritten only) unless this attempt relays media.
  bool mediaActive() const { return !mediaKey_.empty(); }
  // Decides whether the attempt to `b_` relays media and opens its session key.
  void mediaStartAttempt();
  // Runs `step` once every earlier media step is done, in arrival order.
  void mediaSerial(std::function<void()> step);
  // `m` (from `from`'s peer) through rtpengine when it carries SDP: `then`
  // runs with the SDP for the other leg set as the body crossBody() gives,
  // in order after earlier steps. A copy of `m` is made when it must wait.
  // `offer`: the SDP is an offer (else an answer). `refused` runs instead of
  // `then` when rtpengine refuses a mid-call offer (it answers the request
  // 488); the caller's initial INVITE offer refused ends the call with 488
  // (media_rejected). Other refusals, and every engine failure, are
  // mediaFailed().
  void mediaThrough(const sip::Message& m, Side from, bool offer,
                    std::function<void(const sip::Message&)> then,
                    std::function<void()> refused = nullptr);
  void mediaThrough(sip::MessagePtr m, Side from, bool offer,
                    std::function<void(const sip::Message&)> then,
                    std::function<void()> refused = nullptr);
  void mediaExchange(const sip::Message& m, Side from, bool offer,
                     std::function<void(const sip::Message&)> then, std::function<void()> refused);
  void mediaDrain();
  // The engine failed this call's offer/answer: 503 or BYE, media_unavailable.
  void mediaFailed(std::string_view why);
  // The engine refused an offer's SDP: `refused` (mid-call), else 488 and
  // media_rejected for the initial offer.
  void mediaRejected(std::string_view why, std::function<void()> refused);
  // No more steps, polls or callbacks for this session.
  void mediaStop();
  // Deletes this attempt's session (failover, setup failures).
  void mediaRelease();
  // The call ended: the CDR goes out once the session's figures are read,
  // then the session is deleted. False when no session (submit it yourself).
  bool mediaFinish(const Cdr& cdr);
  void mediaPoll();
  void mediaOnQuery(const media::Bencode& reply);
  std::string mediaTag(Side s) const;
  media::OfferOptions mediaOptions() const;

  // Relay (call_relay.cc).
  void relayResponse(Relay& relay, const sip::Message& resp);
  bool retryRelayWithCredentials(Relay& relay, const sip::Message& challenge);
  // The fields of `m`, received from `from`'s peer, that cross to the other
  // leg (sip/header_crossing.h): a request's as edits of `e` (initial: the
  // call's INVITE, which may gain the gateway's asserted identity), a
  // response's as extra fields (rewritten values kept in `scratch`).
  void crossRequestHeaders(const sip::Message& m, Side from, sip::Edits& e, bool initial) const;
  std::vector<sip::ExtraHeader> passthrough(const sip::Message& m, Side from,
                                            const std::string* contact,
                                            std::vector<std::string>& scratch) const;
  // `m`'s body as it may reach the other leg: SDP with its origin and session
  // name replaced (sip/sdp.h), a body without a Content-Type dropped
  // (untypedBody), anything else unchanged.
  std::string crossBody(const sip::Message& m, Side from) const;
  // True (and counted) when `m` has a body but no Content-Type: RFC 3261
  // §7.4.1 requires one, and a body we cannot judge does not cross (an SDP
  // sent untyped would otherwise reach the far side with its origin).
  bool untypedBody(const sip::Message& m) const;
  std::string crossSdp(const sip::Message& m, Side from) const;  // m's body is SDP
  std::string crossSdpBody(std::string_view body, Side from) const;
  // Dispatch of a response of one of our client transactions.
  void dispatchResponse(txn::TxnId id, const sip::Message& response);
  void onAckNow(const sip::Message& ack, Side side);
  void relayRequest(txn::TxnId serverId, Side side);
  std::string crossIdentity(const sip::Header& h, const Leg& out) const;
  std::string via(const Leg& l, const std::string& branch) const;
  std::string buildAck(Leg& l, uint32_t cseq, const std::string& to, std::string_view contentType,
                       std::string_view body);
  void sendBye(Leg& l);
  void ackB();
  // The INVITE of the current attempt to b_ (built from the caller's), with
  // `sdp` as its body when the media is relayed.
  void sendInvite();

  CallServices& s_;
  CallRegistry& registry_;
  uint64_t id_;
  State state_ = State::Routing;
  txn::TxnId aInvite_ = 0;
  Leg a_;
  Leg b_;
  std::vector<Target> routes_;
  size_t nextRoute_ = 0;
  bool toAccount_ = false;    // calling a registered account's contacts
  bool peerTransit_ = false;  // from another node, to this node's bindings (call_peer.cc)
  bool peerAttempt_ = false;  // the current attempt goes through another node
  std::string peerUser_;      // the account's username, signed into peer INVITEs
  // Expires with the call: an answer from the cluster after it is gone
  // finds nothing to resume.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  auth::DigestAnswers bAnswers_;  // challenges this attempt answered
  bool authFailedLast_ = false;   // the last attempt ended on a carrier challenge
  // The INVITE of the current attempt as sent, when it goes to a carrier
  // with credentials (to send it again if challenged).
  std::unique_ptr<txn::OutgoingRequest> bInviteSent_;
  int attempts_ = 0;
  txn::TxnId bInvite_ = 0;
  bool bRinging_ = false;   // 18x on the current attempt
  bool cancelled_ = false;  // caller CANCEL / ring timeout / drain: no more attempts
  bool cdrWritten_ = false;
  bool lingering_ = false;  // CDR written; waiting for the outbound INVITE to end
  int lastCode_ = 0;
  std::string lastReason_;
  bool lastWasTimeout_ = false;
  std::string bAck_;  // ACK for the carrier's 2xx, once sent
  std::string b2xxTo_;
  Cdr cdr_;
  std::string callerName_;  // for the live call list (LiveCall)
  std::string userAgent_;
  Timer setupTimer_;
  Timer ringTimer_;
  Timer lingerTimer_;
  std::vector<Relay> relays_;
  std::vector<txn::TxnId> ownClients_;
  admission::CallTicket ticket_;
  std::vector<std::string> identities_;  // other caller numbers the carrier sees (CallNumbers)
  admission::CallLimits::Handle carrier_ = admission::CallLimits::kNone;
  // Why carriers were skipped without an attempt (policy), for the CDR when
  // none could be tried.
  bool skippedListed_ = false;
  bool skippedCallerListed_ = false;
  bool skippedUnavailable_ = false;
  Timer durationTimer_;
  Timer warningTimer_;
  // Media (call_media.cc).
  bool initialOffered_ = false;  // the caller's INVITE carried the offer
  std::string mediaKey_;         // ng call-id of this attempt's session; "" = not relayed
  const std::string* mediaBody_ = nullptr;       // SDP from rtpengine for the message crossing now
  media::NgClient::RequestId mediaRequest_ = 0;  // offer/answer in flight
  media::NgClient::RequestId mediaQuery_ = 0;    // dead-media poll in flight
  std::deque<std::function<void()>> mediaQueue_;
  bool mediaHeld_ = false;  // the last offer put the call on hold (no dead-media check)
  MonoTime mediaAnsweredAt_{};
  Timer mediaTimer_;
};

}  // namespace tollgate::call
