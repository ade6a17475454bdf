// Call relay: responses and in-dialog requests between the two legs, and
// what of them crosses (header allow list, identity rewrite, SDP origin,
// RAck). See call.h.
#include "call/call.h"

#include <algorithm>

#include "admission/number_form.h"
#include "call/carrier_requests.h"
#include "call/dialog_fields.h"
#include "common/log.h"
#include "sip/header_crossing.h"
#include "sip/sdp.h"
#include "txn/resubmission.h"

namespace tollgate::call {

using sip::HeaderId;
using sip::Message;
using sip::Method;
using transport::Flow;
using txn::TxnId;

std::string Call::via(const Leg& l, const std::string& branch) const {
  std::string v = "SIP/2.0/";
  v += l.viaProtocol;
  v += ' ';
  v += l.hostPort;
  v += ";branch=";
  v += branch;
  v += ";rport";
  return v;
}

std::string Call::buildAck(Leg& l, uint32_t cseq, const std::string& to,
                           std::string_view contentType, std::string_view body) {
  // §13.2.2.4: the ACK for a 2xx is its own transaction-less request to the
  // remote target, with a new branch.
  sip::MessageWriter w(512 + body.size());
  w.requestLine("ACK", l.remoteTarget);
  w.header("Via", via(l, s_.txns.newBranch()));
  for (const std::string& r : l.routeSet) w.header("Route", r);
  w.header("Max-Forwards", "70");
  w.header("From", l.localHeader);
  w.header("To", to);
  w.header("Call-ID", l.callId);
  w.header("CSeq", std::to_string(cseq) + " ACK");
  if (!body.empty() && !contentType.empty()) w.header("Content-Type", contentType);
  return w.finish(body);
}

void Call::ackB() {
  if (!bAck_.empty()) return;
  bAck_ = buildAck(b_, b_.inviteCseq, b_.remoteHeader, {}, {});
  s_.txns.sendRaw(b_.flow, bAck_);
}

void Call::sendBye(Leg& l) {
  const std::string branch = s_.txns.newBranch();
  const uint32_t cseq = ++l.localCseq;
  txn::OutgoingRequest out;
  out.method = Method::Bye;
  out.branch = branch;
  out.requestUri = l.remoteTarget;
  out.via = via(l, branch);
  out.from = l.localHeader;
  out.to = l.remoteHeader;
  out.callId = l.callId;
  out.cseq = cseq;
  out.routes = l.routeSet;
  sip::MessageWriter w(512);
  w.requestLine("BYE", out.requestUri);
  w.header("Via", out.via);
  for (const std::string& r : out.routes) w.header("Route", r);
  w.header("Max-Forwards", "70");
  w.header("From", out.from);
  w.header("To", out.to);
  w.header("Call-ID", out.callId);
  w.header("CSeq", std::to_string(cseq) + " BYE");
  if (!s_.settings.userAgent.empty()) w.header("User-Agent", s_.settings.userAgent);
  out.bytes = w.finish();
  // Nobody in the call waits for the answer: the call is over on our side
  // already. A carrier that challenges the BYE is answered by CarrierRequests.
  if (!l.authUsername.empty()) {
    s_.carrierRequests.send(std::move(out), l.flow, l.authUsername, l.authPassword);
    return;
  }
  s_.txns.sendRequest(std::move(out), l.flow, nullptr);
}

void Call::onAck(const Message& ack, Side side) {
  // An ACK's SDP answers the offer its 2xx made (late offer, RFC 3261 §13.2.1).
  if (mediaActive()) {
    mediaThrough(ack, side, /*offer=*/false, [this, side](const Message& m) { onAckNow(m, side); });
    return;
  }
  onAckNow(ack, side);
}

void Call::onAckNow(const Message& ack, Side side) {
  if (state_ == State::Ended) return;
  const uint32_t cseq = ack.cseq().number;
  if (side == Side::A && cseq == a_.inviteCseq) {
    if (state_ == State::Answered) {
      // Relay the caller's ACK (it carries the answer in a delayed-offer call).
      state_ = State::Confirmed;
      bAck_ = buildAck(b_, b_.inviteCseq, b_.remoteHeader, ack.contentType(), crossBody(ack, side));
      s_.txns.sendRaw(b_.flow, bAck_);
    }
    return;
  }
  // ACK for a relayed re-INVITE's 2xx.
  for (auto it = relays_.begin(); it != relays_.end(); ++it) {
    if (it->from == side && it->method == Method::Invite && it->inCseq == cseq && it->answered2xx) {
      Leg& out = other(side);
      it->ack = buildAck(out, it->outCseq, it->remoteTo.empty() ? out.remoteHeader : it->remoteTo,
                         ack.contentType(), crossBody(ack, side));
      s_.txns.sendRaw(out.flow, it->ack);
      return;
    }
  }
}

void Call::onInDialogRequest(sip::MessagePtr msg, const Flow& from, Side side) {
  const Method m = msg->method();
  Leg& in = leg(side);
  Leg& out = other(side);

  if (m == Method::Bye) {
    TxnId id = s_.txns.createServer(std::move(msg), from);
    s_.txns.respond(id, 200, "OK", in.localTag);
    if (state_ == State::Answered || state_ == State::Confirmed) {
      if (side == Side::A) ackB();  // a BYE before the ACK still owes the carrier its ACK
      sendBye(out);
      end(side == Side::A ? TerminationReason::CallerBye : TerminationReason::CalleeBye,
          side == Side::A ? HangupSide::Caller : HangupSide::Callee);
    } else if (side == Side::A && (state_ == State::Routing || state_ == State::Early)) {
      // A caller BYE in an early dialog ends the attempt like a CANCEL.
      onCallerCancel();
    }
    return;
  }

  if (out.remoteTag.empty() || state_ == State::Ended) {
    TxnId id = s_.txns.createServer(std::move(msg), from);
    s_.txns.respond(id, 481, "Call/Transaction Does Not Exist", in.localTag);
    return;
  }
  // The methods, extensions and bodies we relay are those we take in a new
  // INVITE: REFER, SUBSCRIBE, MESSAGE ... stay on their leg (a REFER crossing
  // to a carrier would make it place a call nobody was admitted for).
  if (sip::CheckFailure f = sip::checkRequest(*msg, s_.forwarding); f.status != 0) {
    ++s_.stats.inDialogRejected;
    std::vector<sip::ExtraHeader> extra;
    for (auto& [name, value] : f.headers) extra.push_back({name, value});
    TxnId id = s_.txns.createServer(std::move(msg), from);
    s_.txns.respond(id, f.status, f.reason, in.localTag, extra);
    return;
  }

  TxnId serverId = s_.txns.createServer(std::move(msg), from);
  if (mediaActive()) {
    // The server transaction absorbs retransmissions while the SDP waits for
    // rtpengine. A PRACK's SDP answers the reliable 18x's offer; a request's
    // otherwise is an offer (re-INVITE, UPDATE: hold, codec change ...).
    const Message& req = *s_.txns.serverRequest(serverId);
    mediaThrough(
        req, side, /*offer=*/m != Method::Prack,
        [this, serverId, side](const Message&) { relayRequest(serverId, side); },
        [this, serverId, side] {
          // RFC 3261 §14.2, RFC 3311 §5.2: the offer is refused, the session stays.
          s_.txns.respond(serverId, 488, "", leg(side).localTag);
        });
    return;
  }
  relayRequest(serverId, side);
}

void Call::relayRequest(TxnId serverId, Side side) {
  const Message* reqp = s_.txns.serverRequest(serverId);
  if (!reqp || state_ == State::Ended) return;
  const Message& req = *reqp;
  const Method m = req.method();
  Leg& in = leg(side);
  Leg& out = other(side);
  if (m == Method::Invite || m == Method::Update) {
    std::string target = firstContactUri(req);  // target refresh (§12.2.2)
    if (!target.empty()) in.remoteTarget = target;
  }

  const uint32_t cseq = ++out.localCseq;
  const std::string branch = s_.txns.newBranch();
  const std::string viaValue = via(out, branch);
  uint32_t mf = req.maxForwards() ? std::max<uint32_t>(*req.maxForwards(), 1) - 1 : 70;
  mf = std::min<uint32_t>(mf, 70);
  std::string method(req.methodName());

  sip::Edits e;
  e.setStartLine(method + " " + out.remoteTarget + " SIP/2.0");
  crossRequestHeaders(req, side, e, /*initial=*/false);
  if (sip::isSdp(req.contentType())) {
    e.setBody(crossSdp(req, side));
  } else if (untypedBody(req)) {
    e.setBody("");
  }
  e.prepend("Via", viaValue);
  for (const std::string& r : out.routeSet) e.prepend("Route", r);
  e.prepend("Max-Forwards", std::to_string(mf));
  e.prepend("From", out.localHeader);
  e.prepend("To", out.remoteHeader);
  e.prepend("Call-ID", out.callId);
  e.prepend("CSeq", std::to_string(cseq) + " " + method);
  if (m == Method::Invite || m == Method::Update || m == Method::Subscribe || m == Method::Notify ||
      m == Method::Refer) {
    e.prepend("Contact", out.contact);
  }
  if (!s_.settings.userAgent.empty()) e.prepend("User-Agent", s_.settings.userAgent);

  txn::OutgoingRequest o;
  o.method = m;
  o.bytes = sip::serialize(req, e);
  o.branch = branch;
  o.requestUri = out.remoteTarget;
  o.via = viaValue;
  o.from = out.localHeader;
  o.to = out.remoteHeader;
  o.callId = out.callId;
  o.cseq = cseq;
  o.routes = out.routeSet;
  Relay r;
  r.server = serverId;
  r.from = side;
  r.method = m;
  r.inCseq = req.cseq().number;
  r.outCseq = cseq;
  r.offered = !req.body().empty() && sip::isSdp(req.contentType());
  if (!out.authUsername.empty()) r.sent = std::make_unique<txn::OutgoingRequest>(o);
  r.client = s_.txns.sendRequest(std::move(o), out.flow, this);
  ownClients_.push_back(r.client);
  // A relayed re-INVITE whose ACK went through only waits for stray 2xx
  // retransmissions; once a newer request comes, it is done.
  relays_.erase(std::remove_if(relays_.begin(), relays_.end(),
                               [](const Relay& x) { return x.answered2xx && !x.ack.empty(); }),
                relays_.end());
  relays_.push_back(std::move(r));
}

void Call::relayResponse(Relay& relay, const Message& resp) {
  const int st = resp.status();
  if (st == 100) return;
  if ((st == 401 || st == 407) && retryRelayWithCredentials(relay, resp)) return;
  Leg& in = leg(relay.from);
  Leg& out = other(relay.from);
  if (relay.answered2xx) {
    // 2xx retransmission of a relayed re-INVITE: re-send our ACK if we have one.
    if (!relay.ack.empty()) s_.txns.sendRaw(out.flow, relay.ack);
    return;
  }
  const bool refresh = relay.method == Method::Invite || relay.method == Method::Update;
  if (st >= 200 && st < 300 && refresh) {
    std::string target = firstContactUri(resp);
    if (!target.empty()) out.remoteTarget = target;
  }
  std::vector<std::string> scratch;
  std::vector<sip::ExtraHeader> extra =
      passthrough(resp, relay.from == Side::A ? Side::B : Side::A,
                  (refresh && st < 300) ? &in.contact : nullptr, scratch);
  s_.txns.respond(relay.server, st, resp.reason(), in.localTag, extra,
                  crossBody(resp, relay.from == Side::A ? Side::B : Side::A));
  if (st < 200) return;
  if (relay.method == Method::Invite && st < 300) {
    relay.answered2xx = true;  // keep until the ACK is relayed and retransmissions stop
    relay.remoteTo = std::string(resp.header(HeaderId::To)->value);
    return;
  }
  TxnId client = relay.client;
  relays_.erase(std::remove_if(relays_.begin(), relays_.end(),
                               [client](const Relay& r) { return r.client == client; }),
                relays_.end());
}

bool Call::retryRelayWithCredentials(Relay& relay, const Message& resp) {
  // auth/digest_client.h: the first challenge of this request, then only a
  // stale one.
  if (!relay.sent) return false;  // the other leg is no carrier with credentials
  Leg& out = other(relay.from);
  auto answer = s_.carrierDigest.answer(resp, relay.answers, sip::methodName(relay.method),
                                        relay.sent->requestUri, out.authUsername, out.authPassword);
  if (!answer.ok()) return false;
  ++s_.stats.carrierChallenges;
  const uint32_t cseq = ++out.localCseq;
  txn::OutgoingRequest o =
      txn::resubmission(*relay.sent, s_.txns.newBranch(), cseq, answer->header(), answer->value);
  if (o.bytes.empty()) return false;
  *relay.sent = o;
  relay.outCseq = cseq;
  relay.client = s_.txns.sendRequest(std::move(o), out.flow, this);
  ownClients_.push_back(relay.client);
  return true;
}

std::string Call::crossIdentity(const sip::Header& h, const Leg& out) const {
  // RFC 8224 Identity is a signature over the caller's own headers: it
  // crosses as signed, or it is worthless.
  if (h.id == HeaderId::Identity) return std::string(h.value);
  // Each number in its canonical form, like the From number.
  return sip::rewriteIdentity(h.value, out.hostPort, [this](std::string_view user) {
    return admission::normalizeNumber(user, s_.settings.numbers).canonical;
  });
}

void Call::crossRequestHeaders(const Message& m, Side from, sip::Edits& e, bool initial) const {
  const Leg& in = from == Side::A ? a_ : b_;
  const Leg& out = from == Side::A ? b_ : a_;
  const PeerSignalling& sig = *in.signalling;
  bool asserted = false;
  const auto& headers = m.headers();
  for (size_t i = 0; i < headers.size(); ++i) {
    const sip::Header& h = headers[i];
    switch (sip::crossingOf(h, sig.pass, sig.trustIdentity)) {
      case sip::Crossing::Cross:
        if (h.id == HeaderId::RAck) {
          // RFC 3262: RAck names the INVITE's CSeq, which differs per leg.
          std::string_view v = h.value;
          size_t sp = v.find(' ');
          if (sp != std::string_view::npos) {
            size_t sp2 = v.find(' ', sp + 1);
            std::string rack(v.substr(0, sp));
            rack += ' ';
            rack += std::to_string(out.inviteCseq);
            if (sp2 != std::string_view::npos) rack += v.substr(sp2);
            e.replaceValue(i, rack);
          }
        }
        break;
      case sip::Crossing::Identity: {
        std::string v = crossIdentity(h, out);
        if (v.empty()) {
          e.removeHeader(i);  // not a name-addr list we can rewrite
          break;
        }
        asserted = asserted || h.id == HeaderId::PAssertedIdentity;
        e.replaceValue(i, std::move(v));
        break;
      }
      case sip::Crossing::Stay:
        e.removeHeader(i);
        break;
    }
  }
  if (initial && !asserted && !sig.assertedIdentity.empty()) {
    e.append("P-Asserted-Identity", "<sip:" + sig.assertedIdentity + "@" + out.hostPort + ">");
  }
}

std::vector<sip::ExtraHeader> Call::passthrough(const Message& m, Side from,
                                                const std::string* contact,
                                                std::vector<std::string>& scratch) const {
  const Leg& in = from == Side::A ? a_ : b_;
  const Leg& out = from == Side::A ? b_ : a_;
  const PeerSignalling& sig = *in.signalling;
  std::vector<sip::ExtraHeader> extra;
  extra.reserve(m.headers().size() + 2);
  if (contact) extra.push_back({"Contact", *contact});
  for (const sip::Header& h : m.headers()) {
    switch (sip::crossingOf(h, sig.pass, sig.trustIdentity)) {
      case sip::Crossing::Cross:
        extra.push_back({h.name, h.value});
        break;
      case sip::Crossing::Identity: {
        std::string v = crossIdentity(h, out);
        if (v.empty()) break;
        // Views into scratch must stay valid: room for every field, once.
        if (scratch.capacity() == 0) scratch.reserve(m.headers().size());
        scratch.push_back(std::move(v));
        extra.push_back({h.name, scratch.back()});
        break;
      }
      case sip::Crossing::Stay:
        break;
    }
  }
  if (!s_.settings.userAgent.empty()) extra.push_back({"Server", s_.settings.userAgent});
  return extra;
}

bool Call::untypedBody(const Message& m) const {
  if (m.body().empty() || !m.contentType().empty()) return false;
  ++s_.stats.untypedBodiesDropped;
  return true;
}

std::string Call::crossBody(const Message& m, Side from) const {
  if (untypedBody(m)) return {};
  if (!sip::isSdp(m.contentType())) return std::string(m.body());
  return crossSdp(m, from);
}

std::string Call::crossSdp(const Message& m, Side from) const {
  // Relayed media: rtpengine's SDP replaces the peer's (call_media.cc).
  return crossSdpBody(mediaBody_ != nullptr ? std::string_view(*mediaBody_) : m.body(), from);
}

std::string Call::crossSdpBody(std::string_view body, Side from) const {
  const Leg& out = from == Side::A ? b_ : a_;
  std::string_view host = out.hostPort;
  // hostPort is "host:port", "[v6]:port" or an advertised "host"
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (size_t colon = host.rfind(':');
             colon != std::string_view::npos && host.find(':') == colon) {
    host = host.substr(0, colon);
  }
  return sip::rewriteSdpOrigin(body, host);
}

void Call::onStray2xx(const Message& resp) {
  // A 2xx retransmitted by the carrier after our INVITE transaction ended.
  if (!bAck_.empty() && resp.cseq().method == Method::Invite) s_.txns.sendRaw(b_.flow, bAck_);
}

}  // namespace tollgate::call
