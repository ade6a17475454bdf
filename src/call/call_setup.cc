// Call setup: route attempts, failover, the carrier's challenges, timers,
// CANCEL races, max duration and the end of a call. See call.h.
#include "call/call.h"

#include <algorithm>

#include "call/call_registry.h"
#include "call/cdr_recorder.h"
#include "call/dialog_fields.h"
#include "call/local_address.h"
#include "common/log.h"
#include "registrar/registrar.h"
#include "sip/sdp.h"
#include "txn/resubmission.h"

namespace tollgate::call {

using sip::HeaderId;
using sip::Message;
using sip::Method;
using transport::Flow;
using txn::TxnId;

Call::Call(CallServices& services, CallRegistry& registry, uint64_t id)
    : s_(services), registry_(registry), id_(id) {
  setupTimer_.setCallback([this] { onAttemptFailed(408, "Request Timeout", true); });
  ringTimer_.setCallback([this] { onRingTimeout(); });
  lingerTimer_.setCallback([this] { registry_.finish(this); });
  durationTimer_.setCallback([this] { onMaxDuration(); });
  warningTimer_.setCallback([this] { onDurationWarning(); });
  mediaTimer_.setCallback([this] { mediaPoll(); });
}

Call::~Call() {
  for (TxnId id : ownClients_) s_.txns.detach(id);
  sharedEnd();     // no verdict may reach a freed call
  mediaRelease();  // no callback may reach a freed call; no session is left behind
}

void Call::start(TxnId invite, const Message& req, const Flow& from,
                 const admission::GatewayInfo& gateway, CallNumbers&& numbers) {
  aInvite_ = invite;
  initialOffered_ = !req.body().empty() && sip::isSdp(req.contentType());
  cdr_.callId = std::string(req.callId());
  cdr_.startUs = s_.clock.wallMicros();
  cdr_.caller = std::move(numbers.caller);
  cdr_.callee = std::move(numbers.callee);
  cdr_.callerRaw = std::move(numbers.callerRaw);
  cdr_.calleeRaw = std::move(numbers.calleeRaw);
  identities_ = std::move(numbers.identities);
  cdr_.sourceAddress = from.remote.toString();
  cdr_.transport = std::string(transport::protocolParam(from.protocol));
  cdr_.mappingGateway = gateway.name;
  callerName_ = callerNameForRecord(req);
  userAgent_ = userAgentForRecord(req);

  a_.callId = cdr_.callId;
  a_.localTag = s_.newTag();
  a_.remoteTag = std::string(req.from().tag());
  const sip::Header* to = req.header(HeaderId::To);
  const sip::Header* fromHdr = req.header(HeaderId::From);
  a_.localHeader = std::string(to->value) + ";tag=" + a_.localTag;
  a_.remoteHeader = std::string(fromHdr->value);
  a_.remoteTarget = firstContactUri(req);
  if (a_.remoteTarget.empty()) a_.remoteTarget = std::string(req.from().uri.text);
  a_.routeSet = recordRoutes(req, false);
  a_.inviteCseq = req.cseq().number;
  a_.flow = *s_.txns.serverFlow(invite);
  a_.hostPort = s_.local.hostPort(from.local);
  a_.contact = s_.local.contact(from);
  a_.viaProtocol = transport::protocolName(from.protocol);
  a_.peerIp = from.remote.ip();
  a_.peerPort = gateway.auth == admission::AuthMode::IpPort ? from.remote.port() : 0;
  a_.peerGateway = gateway.name;
  a_.peerByDigest = gateway.auth == admission::AuthMode::Password;
  a_.signalling = peerTransit_ ? peerSignalling() : s_.snapshot->mappingSignalling(gateway.name);
  registry_.registerTag(a_.localTag, this);
  registry_.registerInvite(invite, this);

  // A registered account's number goes to its contacts, before any prefix
  // route: it is ours, a carrier must not get it.
  const admission::GatewayInfo* account = s_.snapshot->registeredAccount(req, cdr_.callee);
  if (account) {
    toAccount_ = true;
    for (const registrar::Binding* b : s_.registrar.reachable(account->username)) {
      Target t;
      t.name = account->name;
      t.account = true;
      t.flow = b->flow();
      t.requestUri = b->contact;
      routes_.push_back(std::move(t));
    }
    if (routes_.empty()) {
      // Registered through another node of the cluster? The call waits
      // for the answer (call_peer.cc). A call from a peer never goes on.
      if (!peerTransit_ && askPeers(*account)) return;
      failCall(480, "Temporarily Unavailable", TerminationReason::CalleeOffline);
      return;
    }
  } else {
    for (const RouteTarget& r : s_.snapshot->routes.lookup(cdr_.callee)) {
      Target t;
      t.name = r.name;
      t.flow = Flow{r.protocol, r.address, transport::kNoListener, 0};
      t.number = r.translate(cdr_.callee);
      t.authUsername = r.authUsername;
      t.authPassword = r.authPassword;
      routes_.push_back(std::move(t));
    }
    if (routes_.empty()) {
      failCall(s_.settings.noRouteCode, "", TerminationReason::NoRoute);
      return;
    }
  }
  // With a cluster, the limits shared across nodes judge the call first.
  if (sharedStart()) return;
  if (!nextAttempt()) sharedNoCarrier();
}

void Call::sharedNoCarrier() {
  if (attempts_ == 0) {
    failNoCarrier();
    return;
  }
  failCall(503, "Service Unavailable", TerminationReason::RouteFailed);
}

bool Call::nextAttempt() {
  if (sharedCarriers()) return sharedNext();
  while (nextRoute_ < routes_.size() && attempts_ < s_.settings.switchLimit) {
    const Target& r = routes_[nextRoute_++];
    // Call policy: a carrier out of rotation (OPTIONS keep-alive), at its
    // channel/rate limit or barred by its number lists is skipped without an
    // attempt (it does not count against switch_limit). A registered
    // account's contacts are ours, not carriers: no carrier policy applies.
    if (toAccount_) {
      ++attempts_;
      if (startAttempt(r)) return true;
      continue;
    }
    if (!s_.carriers.available(r.name)) {
      skippedUnavailable_ = true;
      continue;
    }
    using CC = admission::CallPolicy::CarrierCheck;
    CC cc = s_.policy.acquireCarrier(r.name, cdr_.caller, cdr_.callee, s_.loop.now(), &carrier_,
                                     identities_);
    if (cc != CC::Ok) {
      carrierSkipped(r, cc);
      continue;
    }
    ++attempts_;
    if (startAttempt(r)) return true;
    releaseCarrier();
  }
  return false;
}

void Call::carrierSkipped(const Target& r, admission::CallPolicy::CarrierCheck cc) {
  using CC = admission::CallPolicy::CarrierCheck;
  if (cc == CC::Full) {
    skippedUnavailable_ = true;
  } else {
    skippedListed_ = true;
    skippedCallerListed_ = skippedCallerListed_ || cc == CC::CallerBlocked;
  }
  log::debug("call.carrier_skipped")
      .kv("call_id", cdr_.callId)
      .kv("gateway", r.name)
      .kv("why", cc == CC::Full ? "full" : "number_list");
}

void Call::failNoCarrier() {
  // Routes matched, but policy left none to try: the carriers' own number
  // lists (the number may not go there) or every carrier full / down.
  if (skippedListed_ && !skippedUnavailable_) {
    failCall(s_.policy.settings().blockedCode, "",
             skippedCallerListed_ ? TerminationReason::CallerBlacklisted
                                  : TerminationReason::CalleeBlacklisted);
    return;
  }
  failCall(503, "Service Unavailable", TerminationReason::CarrierUnavailable);
}

bool Call::startAttempt(const Target& r) {
  if (!cdr_.gatewaysTried.empty()) cdr_.gatewaysTried += ',';
  cdr_.gatewaysTried += r.name;
  cdr_.routingGateway = r.name;
  s_.cdrs.countRoutingAttempt(r.name);

  transport::Transport& tp = s_.txns.transport();
  // A registered contact is reached from the listener its REGISTER came in
  // on (the NAT binding is for that address); a carrier from any fitting one.
  const transport::Listener* l = tp.listener(r.flow.local);
  if (!l || l->protocol != r.flow.protocol) l = tp.pickListener(r.flow.protocol, r.flow.remote);
  if (!l) {
    log::warn("call.no_listener")
        .kv("gateway", r.name)
        .kv("protocol", transport::protocolName(r.flow.protocol));
    return false;
  }
  const Message* req = s_.txns.serverRequest(aInvite_);
  if (!req) return false;

  if (!b_.localTag.empty()) registry_.unregisterTag(b_.localTag);
  b_ = Leg{};
  b_.callId = s_.newCallId();
  if (s_.legObserver != nullptr) s_.legObserver->onCarrierLeg(cdr_.callId, b_.callId);
  b_.localTag = s_.newTag();
  b_.flow = Flow{r.flow.protocol, r.flow.remote, l->id, r.flow.connection};
  b_.hostPort = s_.local.hostPort(l->id);
  b_.contact = s_.local.contact(b_.flow);
  b_.viaProtocol = transport::protocolName(r.flow.protocol);
  b_.authUsername = r.authUsername;
  b_.authPassword = r.authPassword;
  b_.peerIp = r.flow.remote.ip();
  b_.signalling =
      r.account ? s_.snapshot->mappingSignalling(r.name) : s_.snapshot->routingSignalling(r.name);
  peerAttempt_ = !r.peerNode.empty();
  if (peerAttempt_) {
    // Another node of the cluster: exactly its SIP address speaks for the
    // dialog, and our INVITE carries the header that proves it is ours.
    b_.peerPort = r.flow.remote.port();
  } else if (r.account) {
    b_.peerGateway = r.name;  // the phone may re-register from elsewhere mid-call
    b_.peerByDigest = true;
  }
  bAnswers_.restart();
  const std::string ruri = !r.requestUri.empty() ? r.requestUri
                                                 : "sip:" + sip::escapeUser(r.number) + "@" +
                                                       r.flow.remote.toString() +
                                                       std::string(transportParam(r.flow.protocol));
  b_.remoteTarget = ruri;
  std::string display;
  if (!req->from().displayName.empty()) {
    display = "\"" + std::string(req->from().displayName) + "\" ";
  }
  // The caller's number in its canonical form (what the lists judged).
  const std::string callerUser = sip::escapeUser(cdr_.caller);
  b_.localHeader = display + "<sip:" + (callerUser.empty() ? "" : callerUser + "@") + b_.hostPort +
                   ">;tag=" + b_.localTag;
  b_.remoteHeader = "<" + ruri + ">";
  b_.inviteCseq = 1;
  b_.localCseq = 1;
  if (peerAttempt_) {
    b_.peerHeader = s_.peers ? s_.peers->sign(b_.callId, b_.localTag, peerUser_) : std::string();
    if (b_.peerHeader.empty()) {
      // No cluster key yet (Redis never reached): the peer would refuse it.
      log::warn("call.peer_key_missing").kv("call_id", cdr_.callId).kv("node", r.peerNode);
      return false;
    }
  }

  // With media relayed, the INVITE leaves once rtpengine has rewritten its
  // offer (call_media.cc); otherwise at once.
  mediaStartAttempt();
  registry_.registerTag(b_.localTag, this);
  bRinging_ = false;
  mediaThrough(*req, Side::A, /*offer=*/true, [this](const Message&) { sendInvite(); });
  return true;
}

void Call::sendInvite() {
  const Message* req = s_.txns.serverRequest(aInvite_);
  if (!req || cancelled_ || state_ == State::Ended) return;
  const std::string& ruri = b_.remoteTarget;
  const std::string branch = s_.txns.newBranch();
  const std::string viaValue = via(b_, branch);
  uint32_t mf = req->maxForwards() ? *req->maxForwards() - 1 : 70;
  mf = std::min<uint32_t>(mf, 70);

  // The outbound INVITE is the caller's INVITE with every leg-local field
  // replaced: body, Content-Type and end-to-end fields pass unchanged.
  sip::Edits e;
  e.setStartLine("INVITE " + ruri + " SIP/2.0");
  crossRequestHeaders(*req, Side::A, e, /*initial=*/true);
  if (sip::isSdp(req->contentType())) {
    e.setBody(crossSdp(*req, Side::A));
  } else if (untypedBody(*req)) {
    e.setBody("");
  }
  e.prepend("Via", viaValue);
  e.prepend("Max-Forwards", std::to_string(mf));
  e.prepend("From", b_.localHeader);
  e.prepend("To", b_.remoteHeader);
  e.prepend("Call-ID", b_.callId);
  e.prepend("CSeq", "1 INVITE");
  e.prepend("Contact", b_.contact);
  if (!s_.settings.userAgent.empty()) e.prepend("User-Agent", s_.settings.userAgent);
  if (!b_.peerHeader.empty()) e.prepend(std::string(registrar::kPeerHeader), b_.peerHeader);

  txn::OutgoingRequest out;
  out.method = Method::Invite;
  out.bytes = sip::serialize(*req, e);
  out.branch = branch;
  out.requestUri = ruri;
  out.via = viaValue;
  out.from = b_.localHeader;
  out.to = b_.remoteHeader;
  out.callId = b_.callId;
  out.cseq = 1;
  // To send again with credentials if the carrier challenges it.
  bInviteSent_ = b_.authUsername.empty() ? nullptr : std::make_unique<txn::OutgoingRequest>(out);
  bInvite_ = s_.txns.sendRequest(std::move(out), b_.flow, this);
  ownClients_.push_back(bInvite_);
  setupTimer_.start(s_.loop.timers(), s_.settings.setupTimeout);
}

void Call::onResponse(TxnId id, const Message& resp) {
  if (mediaActive()) {
    // Which side's SDP this is, and whether it answers an offer.
    Side from = Side::B;
    bool offer = !initialOffered_;
    bool ours = id == bInvite_ && id != 0;
    for (const Relay& r : relays_) {
      if (!ours && r.client == id) {
        from = r.from == Side::A ? Side::B : Side::A;
        offer = !r.offered;
        ours = true;
      }
    }
    if (ours) {
      mediaThrough(resp, from, offer, [this, id](const Message& m) { dispatchResponse(id, m); });
      return;
    }
  }
  dispatchResponse(id, resp);
}

void Call::dispatchResponse(TxnId id, const Message& resp) {
  if (id == bInvite_ && id != 0) {
    onInviteResponse(resp);
    return;
  }
  for (Relay& r : relays_) {
    if (r.client == id) {
      relayResponse(r, resp);
      return;
    }
  }
}

void Call::onTimeout(TxnId id) {
  if (id == bInvite_ && id != 0) {
    if (lingering_) {
      registry_.finish(this);
      return;
    }
    onAttemptFailed(408, "Request Timeout", true);
    return;
  }
  for (auto it = relays_.begin(); it != relays_.end(); ++it) {
    if (it->client == id) {
      s_.txns.respond(it->server, 408, "Request Timeout", leg(it->from).localTag);
      relays_.erase(it);
      return;
    }
  }
}

void Call::onTransportError(TxnId id) {
  if (id == bInvite_ && id != 0) {
    if (lingering_) {
      registry_.finish(this);
      return;
    }
    onAttemptFailed(503, "Service Unavailable", true);
    return;
  }
  for (auto it = relays_.begin(); it != relays_.end(); ++it) {
    if (it->client == id) {
      s_.txns.respond(it->server, 503, "Service Unavailable", leg(it->from).localTag);
      relays_.erase(it);
      return;
    }
  }
}

void Call::updateBFromResponse(const Message& resp) {
  std::string_view tag = resp.to().tag();
  if (!tag.empty()) {
    b_.remoteTag = std::string(tag);
    b_.remoteHeader = std::string(resp.header(HeaderId::To)->value);
  }
  std::string contact = firstContactUri(resp);
  if (!contact.empty()) b_.remoteTarget = contact;
  if (resp.header(HeaderId::RecordRoute)) b_.routeSet = recordRoutes(resp, true);
}

void Call::onInviteResponse(const Message& resp) {
  setupTimer_.cancel();
  const int st = resp.status();
  if (lingering_) {
    // The caller is gone (CANCEL, ring timeout, drain). A late 2xx from the
    // carrier must still be ACKed and hung up, or the carrier bills a call
    // nobody is on.
    if (st >= 200 && st < 300) {
      updateBFromResponse(resp);
      if (bAck_.empty()) {
        bAck_ = buildAck(b_, b_.inviteCseq, b_.remoteHeader, {}, {});
        sendBye(b_);
      }
      s_.txns.sendRaw(b_.flow, bAck_);
    }
    if (st >= 200) {
      bInvite_ = 0;
      registry_.finish(this);
    }
    return;
  }

  if (st < 200) {
    if (!ringTimer_.active()) ringTimer_.start(s_.loop.timers(), s_.settings.ringTimeout);
    if (st == 100 || cancelled_) return;  // 100 is hop-by-hop
    bRinging_ = true;
    updateBFromResponse(resp);
    std::vector<std::string> scratch;
    std::vector<sip::ExtraHeader> extra = passthrough(resp, Side::B, &a_.contact, scratch);
    s_.txns.respond(aInvite_, st, resp.reason(), a_.localTag, extra, crossBody(resp, Side::B));
    state_ = State::Early;
    return;
  }

  if (st < 300) {
    if (state_ == State::Answered || state_ == State::Confirmed) {
      if (!bAck_.empty()) s_.txns.sendRaw(b_.flow, bAck_);  // 2xx retransmission
      return;
    }
    ringTimer_.cancel();
    updateBFromResponse(resp);
    std::vector<std::string> scratch;
    std::vector<sip::ExtraHeader> extra = passthrough(resp, Side::B, &a_.contact, scratch);
    s_.txns.respond(aInvite_, st, resp.reason(), a_.localTag, extra, crossBody(resp, Side::B));
    state_ = State::Answered;
    cdr_.answerUs = s_.clock.wallMicros();
    cdr_.finalCode = st;
    ++s_.stats.callsAnswered;
    onAnswered();  // call policy: max duration, no-answer streak
    log::debug("call.answered").kv("call_id", cdr_.callId).kv("gateway", cdr_.routingGateway);
    return;
  }

  // A final failure from this carrier (the transaction layer already ACKed it).
  ringTimer_.cancel();
  if (cancelled_) return;
  if ((st == 401 || st == 407) && retryInviteWithCredentials(resp)) return;
  onAttemptFailed(st, resp.reason(), false);
}

bool Call::retryInviteWithCredentials(const Message& resp) {
  // auth/digest_client.h: this attempt's first challenge, then only a stale
  // one; any other means the carrier refused our credentials.
  if (!bInviteSent_) return false;  // no credentials for this carrier
  auto answer = s_.carrierDigest.answer(resp, bAnswers_, "INVITE", bInviteSent_->requestUri,
                                        b_.authUsername, b_.authPassword);
  if (!answer.ok()) return false;
  ++s_.stats.carrierChallenges;
  const uint32_t cseq = ++b_.localCseq;
  txn::OutgoingRequest out =
      txn::resubmission(*bInviteSent_, s_.txns.newBranch(), cseq, answer->header(), answer->value);
  if (out.bytes.empty()) return false;
  b_.inviteCseq = cseq;
  *bInviteSent_ = out;
  bRinging_ = false;
  bInvite_ = s_.txns.sendRequest(std::move(out), b_.flow, this);
  ownClients_.push_back(bInvite_);
  setupTimer_.start(s_.loop.timers(), s_.settings.setupTimeout);
  return true;
}

void Call::abandonB() {
  if (bInvite_ != 0) {
    // Stop waiting for this attempt; if it answers late, the CANCEL sent
    // once a provisional arrives ends it on the carrier's side.
    s_.txns.cancelClient(bInvite_);
    s_.txns.detach(bInvite_);
    bInvite_ = 0;
  }
  if (!b_.localTag.empty()) registry_.unregisterTag(b_.localTag);
}

void Call::onAnswered() {
  s_.policy.onAnswered(ticket_, cdr_.callee);
  startDurationTimers();
  if (mediaActive()) {
    // Dead media (docs/media.md): the first look when the first deadline
    // could pass; call_media.cc schedules the next ones.
    mediaAnsweredAt_ = s_.loop.now();
    const media::MediaSettings& ms = *s_.mediaSettings;
    Millis first = ms.setupTimeout.count() > 0 ? ms.setupTimeout : ms.timeout;
    if (ms.timeout.count() > 0) first = std::min(first, ms.timeout);
    if (first.count() > 0) mediaTimer_.start(s_.loop.timers(), first);
  }
}

void Call::onAttemptFailed(int code, std::string_view reason, bool timeout) {
  setupTimer_.cancel();
  mediaRelease();  // the failed branch's media session goes now, before any next attempt
  ringTimer_.cancel();
  const bool wasRinging = bRinging_;
  releaseCarrier();  // the carrier's channel is free again
  if (timeout) {
    abandonB();
  } else {
    bInvite_ = 0;
    if (!b_.localTag.empty()) registry_.unregisterTag(b_.localTag);
  }
  if (cancelled_) return;

  // Failover on timeout, 408, 5xx and 6xx except 600; 486/600 (busy) stop it
  // unless stop_after_busy is off. A carrier that already rang keeps the call
  // unless routing.switch_until_connect (SS_GATEWAY_SWITCH_UNTIL_CONNECT) is on.
  // A carrier that challenges us again (or that we have no credentials
  // for) refused our credentials: that is about the route, so fail over.
  const bool authFailed = code == 401 || code == 407;
  const bool busy = code == 486 || code == 600;
  // A peer node answers 480 when its binding went since Redis told us of
  // it (call_peer.cc): the next owner may still have one.
  const bool peerOffline = peerAttempt_ && code == 480;
  const bool failover = timeout || authFailed || code == 408 || (code >= 500 && code < 600) ||
                        (code >= 600 && code != 600) || (busy && !s_.settings.stopAfterBusy) ||
                        peerOffline;
  if (authFailed) {
    log::warn("call.carrier_auth_failed")
        .kv("call_id", cdr_.callId)
        .kv("gateway", cdr_.routingGateway)
        .kv("code", code)
        .kv("credentials", !b_.authUsername.empty());
  }
  if (failover && (!wasRinging || s_.settings.switchUntilConnect)) {
    // A shared verdict may decide later that no carrier is left.
    sharedOnNoCarrier_ = [this, code, r = std::string(reason), timeout] {
      failAfterAttempts(code, r, timeout);
    };
    if (nextAttempt()) {
      ++s_.stats.failovers;
      return;
    }
  }
  failAfterAttempts(code, reason, timeout);
}

void Call::failAfterAttempts(int code, std::string_view reason, bool timeout) {
  const bool authFailed = code == 401 || code == 407;
  const bool busy = code == 486 || code == 600;
  const bool peerOffline = peerAttempt_ && code == 480;
  if (authFailed) {
    // Never relay a carrier's challenge: the caller would try to answer it.
    failCall(503, "Service Unavailable", TerminationReason::CarrierAuthFailed);
    return;
  }
  if (toAccount_ && (timeout || code == 408 || code >= 500 || peerOffline)) {
    // The phone's binding looked alive but it did not take the call.
    failCall(480, "Temporarily Unavailable", TerminationReason::CalleeOffline);
    return;
  }
  if (timeout) {
    failCall(503, "Service Unavailable", TerminationReason::RouteFailed);
    return;
  }
  TerminationReason why = TerminationReason::Rejected;
  if (busy) {
    why = TerminationReason::Busy;
  } else if (code == 408 || code == 480) {
    why = TerminationReason::NoAnswer;
  } else if (code >= 500 && code < 600) {
    why = TerminationReason::RouteFailed;
  }
  failCall(code, reason, why);
}

void Call::onRingTimeout() {
  if (state_ != State::Routing && state_ != State::Early) return;
  cancelled_ = true;
  setupTimer_.cancel();
  s_.txns.respond(aInvite_, 408, "Request Timeout", a_.localTag);
  if (bInvite_) s_.txns.cancelClient(bInvite_);
  cdr_.finalCode = 408;
  end(TerminationReason::NoAnswer, HangupSide::None);
}

void Call::failCall(int code, std::string_view reason, TerminationReason why) {
  s_.txns.respond(aInvite_, code, reason, a_.localTag);
  cdr_.finalCode = code;
  end(why, HangupSide::None);
}

void Call::onCallerCancel() {
  if (state_ != State::Routing && state_ != State::Early) return;
  cancelled_ = true;
  setupTimer_.cancel();
  ringTimer_.cancel();
  s_.txns.respond(aInvite_, 487, "Request Terminated", a_.localTag);
  if (bInvite_) s_.txns.cancelClient(bInvite_);
  cdr_.finalCode = 487;
  end(TerminationReason::Cancelled, HangupSide::None);
}

void Call::end(TerminationReason reason, HangupSide side) {
  if (cdrWritten_) return;
  cdrWritten_ = true;
  setupTimer_.cancel();
  ringTimer_.cancel();
  const bool answered = cdr_.answerUs != 0;
  state_ = State::Ended;
  cdr_.endUs = s_.clock.wallMicros();
  cdr_.durationMs = answered ? (cdr_.endUs - cdr_.answerUs) / 1000 : 0;
  cdr_.reason = reason;
  cdr_.hangup = side;
  durationTimer_.cancel();
  warningTimer_.cancel();
  // A relayed call's CDR leaves with its media figures (call_media.cc).
  if (!mediaFinish(cdr_)) s_.cdrs.submit(Cdr(cdr_));
  sharedEnd();  // the shared channels go back before the local ones
  registry_.unregisterTag(a_.localTag);
  registry_.forgetInvite(aInvite_);
  registry_.onEnded(*this, answered, reason);  // call policy: channels, counters

  if (bInvite_ != 0 && !answered) {
    // Wait for the carrier to finish the INVITE (487 after our CANCEL, or a
    // late 2xx we must ACK and BYE). Bounded: the transaction itself times
    // out, and this guard covers a carrier that answers nothing at all.
    lingering_ = true;
    lingerTimer_.start(s_.loop.timers(), 64 * s_.txns.timers().t1 + Millis(1000));
    return;
  }
  registry_.finish(this);
}

void Call::onAckTimeout() {
  // §13.3.1.4: the caller never confirmed our 2xx; end the session on both legs.
  if (state_ != State::Answered) return;
  ackB();
  sendBye(b_);
  sendBye(a_);
  end(TerminationReason::AckTimeout, HangupSide::System);
}

void Call::hangup(TerminationReason reason, int code) {
  if (state_ == State::Answered || state_ == State::Confirmed) {
    ackB();
    sendBye(a_);
    sendBye(b_);
    end(reason, HangupSide::System);
  } else if (state_ == State::Routing || state_ == State::Early) {
    cancelled_ = true;
    setupTimer_.cancel();
    ringTimer_.cancel();
    s_.txns.respond(aInvite_, code, "", a_.localTag);
    if (bInvite_) s_.txns.cancelClient(bInvite_);
    cdr_.finalCode = code;
    end(reason, HangupSide::None);
  }
}

void Call::startDurationTimers() {
  // SS_MAXCALLDURATION counts from the answer (the billable duration).
  const int maxS = ticket_.maxDurationS;
  if (maxS <= 0) return;
  durationTimer_.start(s_.loop.timers(), Millis(int64_t{maxS} * 1000));
  const int warnS = s_.policy.settings().durationWarningS;
  if (warnS > 0 && warnS < maxS) {
    warningTimer_.start(s_.loop.timers(), Millis(int64_t{maxS - warnS} * 1000));
  }
}

void Call::onDurationWarning() {
  if (state_ != State::Answered && state_ != State::Confirmed) return;
  // SS_CALLREMINTIME: tollgate relays signalling only (no media to play a
  // tone into), so the warning is an event for the operator's monitoring.
  ++s_.policy.stats().durationWarnings;
  log::info("call.max_duration_warning")
      .kv("call_id", cdr_.callId)
      .kv("mapping_gateway", cdr_.mappingGateway)
      .kv("caller", cdr_.caller)
      .kv("callee", cdr_.callee)
      .kv("remaining_s", s_.policy.settings().durationWarningS);
}

void Call::onMaxDuration() {
  if (state_ != State::Answered && state_ != State::Confirmed) return;
  ++s_.policy.stats().maxDurationEnded;
  log::info("call.max_duration")
      .kv("call_id", cdr_.callId)
      .kv("mapping_gateway", cdr_.mappingGateway)
      .kv("max_duration_s", ticket_.maxDurationS);
  hangup(TerminationReason::MaxDuration);  // BYE to both legs
}

LiveCall Call::live() const {
  LiveCall c;
  c.id = id_;
  c.callId = cdr_.callId;
  c.bCallId = b_.callId;
  c.caller = cdr_.caller;
  c.callee = cdr_.callee;
  c.callerName = callerName_;
  c.userAgent = userAgent_;
  c.source = cdr_.sourceAddress;
  c.transport = cdr_.transport;
  c.mappingGateway = cdr_.mappingGateway;
  c.routingGateway = cdr_.routingGateway;
  switch (state_) {
    case State::Routing:
      c.state = "routing";
      break;
    case State::Early:
      c.state = "early";
      break;
    case State::Answered:
      c.state = "answered";
      break;
    case State::Confirmed:
      c.state = "confirmed";
      break;
    case State::Ended:
      c.state = "ended";
      break;
  }
  c.startUs = cdr_.startUs;
  c.answerUs = cdr_.answerUs;
  c.maxDurationS = ticket_.maxDurationS;
  return c;
}

}  // namespace tollgate::call
