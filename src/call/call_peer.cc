// Peer delivery: calls to an account registered through another node of
// the cluster (docs/cluster-registrations.md). See call.h.
//
// On the node the call enters (B): the account has no reachable binding
// here, so the call waits for one Redis exchange (PeerBindings::owners)
// and then tries each live node that holds a binding, newest first, as it
// tries a local account's contacts: the INVITE goes to that node's SIP
// address with an X-Tollgate-Peer header binding it to this leg. On the
// owning node (A): RequestRouter checked the header, and the call goes to
// A's own bindings of the account (the NAT mapping, the TCP/TLS
// connection) and nowhere else; A answers 480 when it has none left.
#include <string>

#include "call/call.h"
#include "call/call_registry.h"
#include "common/log.h"
#include "sip/message.h"

namespace tollgate::call {

const std::shared_ptr<const PeerSignalling>& Call::peerSignalling() {
  static const std::shared_ptr<const PeerSignalling> rule = [] {
    auto p = std::make_shared<PeerSignalling>();
    // The node that admitted the call already let through only the identity
    // its customer may assert (rewritten to canonical numbers).
    p->trustIdentity = true;
    // That node anchored the media if its rules say so; a second anchor
    // here would only add a hop.
    p->media = "passthrough";
    return p;
  }();
  return rule;
}

void Call::startPeerTransit(txn::TxnId invite, const sip::Message& req, const transport::Flow& from,
                            std::string_view node, CallNumbers&& numbers) {
  peerTransit_ = true;
  // The leg towards the peer: identified by its exact address and port
  // (in-dialog requests from anywhere else are foreign), never by digest.
  // "peer:" cannot begin a provisioned gateway's name, so no customer can
  // speak for this leg.
  admission::GatewayInfo peer;
  peer.name = "peer:" + std::string(node);
  peer.auth = admission::AuthMode::IpPort;
  start(invite, req, from, peer, std::move(numbers));
}

bool Call::askPeers(const admission::GatewayInfo& account) {
  if (s_.peers == nullptr) return false;
  ++s_.stats.peerLookups;
  std::weak_ptr<bool> alive = alive_;
  // The account outlives this call's snapshot reference only by copy.
  peerUser_ = account.username;
  s_.peers->owners(account.username,
                   [this, alive, account = account](std::vector<registrar::PeerOwner> owners) {
                     if (alive.expired()) return;  // the call is gone
                     onPeerOwners(account, std::move(owners));
                   });
  return true;
}

void Call::onPeerOwners(const admission::GatewayInfo& account,
                        std::vector<registrar::PeerOwner> owners) {
  // Cancelled (CANCEL, ring timeout, drain, an operator) while it waited:
  // its answer and CDR are already out.
  if (cancelled_ || state_ == State::Ended) return;
  for (registrar::PeerOwner& o : owners) {
    Target t;
    t.name = account.name;
    t.account = true;
    t.peerNode = std::move(o.node);
    t.flow = transport::Flow{transport::Protocol::Udp, o.address, transport::kNoListener, 0};
    t.requestUri = "sip:" + sip::escapeUser(account.username) + "@" + o.address.toString();
    routes_.push_back(std::move(t));
  }
  if (routes_.empty()) {
    failCall(480, "Temporarily Unavailable", TerminationReason::CalleeOffline);
    return;
  }
  ++s_.stats.peerRouted;
  log::debug("call.peer_route")
      .kv("call_id", cdr_.callId)
      .kv("username", account.username)
      .kv("node", routes_.front().peerNode)
      .kv("owners", routes_.size());
  if (!nextAttempt()) failCall(480, "Temporarily Unavailable", TerminationReason::CalleeOffline);
}

}  // namespace tollgate::call
