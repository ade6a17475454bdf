// The B2BUA: admission of new requests, the two-leg call state machine,
// routing with failover, in-dialog relaying and CDRs. See switch.h.
#include "call/switch.h"

#include <algorithm>
#include <charconv>

#include "common/log.h"
#include "sip/header_crossing.h"
#include "sip/limits.h"
#include "sip/sdp.h"
#include "sip/serialize.h"

namespace tollgate::call {

using sip::HeaderId;
using sip::Message;
using sip::Method;
using transport::Flow;
using txn::TxnId;

namespace {

// `call.refused` lines per second (and burst); the rest are counted and the
// next line logged says how many were not.
constexpr double kRefusalLogsPerSecond = 20;
constexpr double kRefusalLogBurst = 100;

// The dialled number of a new INVITE as written (escaped): Request-URI user
// (sip/sips) or the tel number; the To user when the Request-URI has none.
std::string_view calleeOf(const Message& m) {
  const sip::Uri& r = m.requestUri();
  return !r.user.empty() ? r.user : m.to().uri.user;
}

std::string firstContactUri(const Message& m) {
  const sip::Header* h = m.header(HeaderId::Contact);
  if (!h) return {};
  auto list = sip::parseNameAddrList(h->value);
  if (!list.ok() || list->empty() || list->front().text == "*") return {};
  return std::string(list->front().uri.text);
}

std::vector<std::string> recordRoutes(const Message& m, bool reverse) {
  std::vector<std::string> out;
  for (const sip::Header& h : m.headers()) {
    if (h.id != HeaderId::RecordRoute) continue;
    auto list = sip::parseNameAddrList(h.value);
    if (!list.ok()) continue;
    for (const sip::NameAddr& na : *list) out.emplace_back(na.text);
  }
  if (reverse) std::reverse(out.begin(), out.end());
  return out;
}

int64_t micros(const Clock& c) {
  return c.wallMicros();
}

// True when the request carries digest credentials for our realm: then the
// digest check decides who it is, even from an address that identifies a
// gateway (a phone behind the NAT of an IP-authenticated PBX). Credentials
// for another realm (a PBX passing on what its phone sent it) do not count.
bool hasOurCredentials(const Message& m, std::string_view realm) {
  for (const sip::Header& h : m.headers()) {
    if (h.id != HeaderId::Authorization && h.id != HeaderId::ProxyAuthorization) continue;
    auth::Credentials c;
    if (auth::parseCredentials(h.value, c) && c.realm == realm) return true;
  }
  return false;
}

// The first challenge of a carrier's 401/407 that we can answer (RFC 8760
// §2.4: the order of the headers is the server's preference).
std::optional<auth::Challenge> pickChallenge(const Message& resp) {
  const HeaderId hid =
      resp.status() == 407 ? HeaderId::ProxyAuthenticate : HeaderId::WwwAuthenticate;
  for (const sip::Header& h : resp.headers()) {
    if (h.id != hid) continue;
    auto c = auth::parseChallenge(h.value);
    if (c && c->supported) return *c;
  }
  return std::nullopt;
}

// A request we sent, sent again as a new transaction with credentials
// (RFC 3261 §22.2): new top Via (branch), new CSeq, same Call-ID, tags and
// body, plus the Authorization / Proxy-Authorization answering `challenge`.
// "" when the bytes do not parse (they are ours, so never expected).
std::string withCredentials(std::string_view sent, const std::string& via, uint32_t cseq,
                            std::string_view method, bool proxy, const std::string& value) {
  auto parsed = Message::parse(std::string(sent));
  if (!parsed.ok()) return {};
  const Message& m = *parsed.value();
  sip::Edits e;
  const auto& headers = m.headers();
  for (size_t i = 0; i < headers.size(); ++i) {
    const HeaderId id = headers[i].id;
    if (id == HeaderId::Via || id == HeaderId::CSeq || id == HeaderId::Authorization ||
        id == HeaderId::ProxyAuthorization) {
      e.removeHeader(i);
    }
  }
  e.prepend("Via", via);
  e.prepend("CSeq", std::to_string(cseq) + " " + std::string(method));
  e.prepend(proxy ? "Proxy-Authorization" : "Authorization", value);
  return sip::serialize(m, e);
}

std::string_view transportParam(transport::Protocol p) {
  switch (p) {
    case transport::Protocol::Tcp:
      return ";transport=tcp";
    case transport::Protocol::Tls:
      return ";transport=tls";
    default:
      return "";
  }
}

}  // namespace

// ---------------------------------------------------------------------------
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
  Flow flow;                // where the peer is
  // Who may send requests, ACKs and CANCELs in this leg's dialog (see
  // Switch::fromLegPeer): the address the dialog was set up with, the port
  // too when the gateway is identified by IP and port, and the gateway that
  // may also prove itself by digest from another address ("" = none).
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
};

enum class Side : uint8_t { A, B };

class Switch::Call final : public txn::ClientCallbacks {
 public:
  enum class State : uint8_t { Routing, Early, Answered, Confirmed, Ended };

  Call(Switch& sw, uint64_t id) : sw_(sw), id_(id) {
    setupTimer_.setCallback([this] { onAttemptFailed(408, "Request Timeout", true); });
    ringTimer_.setCallback([this] { onRingTimeout(); });
    lingerTimer_.setCallback([this] { sw_.finishCall(this); });
    durationTimer_.setCallback([this] { onMaxDuration(); });
    warningTimer_.setCallback([this] { onDurationWarning(); });
  }

  ~Call() override {
    for (TxnId id : ownClients_) sw_.txns_.detach(id);
  }

  uint64_t id() const { return id_; }
  // The caller's source address (occupancy reports); set before start().
  net::IpAddress source;
  const Leg& a() const { return a_; }
  const Leg& b() const { return b_; }
  TxnId aInvite() const { return aInvite_; }
  bool ended() const { return state_ == State::Ended; }
  const Cdr& cdr() const { return cdr_; }
  State state() const { return state_; }

  // Call policy (issue 5): what admission granted this call, the channel it
  // holds on the current carrier, and the max-duration timer.
  admission::CallTicket& ticket() { return ticket_; }
  void setTicket(admission::CallTicket&& t) { ticket_ = std::move(t); }
  admission::CallLimits::Handle& carrierHandle() { return carrier_; }
  void startDurationTimers();
  LiveCall live() const;

  void start(TxnId invite, const Message& req, const Flow& from,
             const admission::GatewayInfo& gateway, CallNumbers&& numbers);
  void onCallerCancel();
  void onAck(const Message& ack, Side side);
  void onInDialogRequest(sip::MessagePtr req, const Flow& from, Side side);
  void onAckTimeout();
  void onStray2xx(const Message& resp);
  // Ends the call from our side: BYE both legs once answered, else `code`
  // to the caller and CANCEL to the carrier; CDR reason `reason`.
  void hangup(TerminationReason reason, int code = 503);

  // txn::ClientCallbacks
  void onResponse(TxnId id, const Message& response) override;
  void onTimeout(TxnId id) override;
  void onTransportError(TxnId id) override;

 private:
  struct Relay {
    TxnId client = 0;
    TxnId server = 0;
    Side from = Side::A;  // the leg the request came from (and the response goes to)
    Method method = Method::Unknown;
    uint32_t inCseq = 0;   // CSeq on the requesting leg
    uint32_t outCseq = 0;  // CSeq we used on the other leg
    bool answered2xx = false;
    std::string ack;       // ACK relayed to the other leg, re-sent on 2xx retransmissions
    std::string remoteTo;  // To of the 2xx on the other leg (for the ACK)
    // Towards a carrier with credentials: what we sent, to send it again
    // once with credentials when it challenges.
    std::string sent;
    bool authTried = false;
  };

  Leg& leg(Side s) { return s == Side::A ? a_ : b_; }
  Leg& other(Side s) { return s == Side::A ? b_ : a_; }

  bool nextAttempt();
  bool startAttempt(const Target& t);
  bool retryInviteWithCredentials(const Message& challenge);
  bool retryRelayWithCredentials(Relay& relay, const Message& challenge);
  void onInviteResponse(const Message& resp);
  void onAttemptFailed(int code, std::string_view reason, bool timeout);
  void onRingTimeout();
  void onMaxDuration();
  void onDurationWarning();
  void failNoCarrier();
  void failCall(int code, std::string_view reason, TerminationReason why);
  void end(TerminationReason reason, HangupSide side);
  void abandonB();
  void updateBFromResponse(const Message& resp);
  void relayResponse(Relay& relay, const Message& resp);

  // The fields of `m`, received from `from`'s peer, that cross to the other
  // leg (sip/header_crossing.h): a request's as edits of `e` (initial: the
  // call's INVITE, which may gain the gateway's asserted identity), a
  // response's as extra fields (rewritten values kept in `scratch`).
  void crossRequestHeaders(const Message& m, Side from, sip::Edits& e, bool initial) const;
  std::vector<sip::ExtraHeader> passthrough(const Message& m, Side from, const std::string* contact,
                                            std::vector<std::string>& scratch) const;
  // `m`'s body as it may reach the other leg: SDP with its origin and session
  // name replaced (sip/sdp.h), anything else unchanged.
  std::string crossBody(const Message& m, Side from) const;
  std::string crossSdp(const Message& m, Side from) const;  // m's body is SDP
  std::string crossIdentity(const sip::Header& h, const Leg& out) const;
  std::string via(const Leg& l, const std::string& branch) const;
  std::string buildAck(Leg& l, uint32_t cseq, const std::string& to, std::string_view contentType,
                       std::string_view body);
  void sendBye(Leg& l);
  void ackB();

  Switch& sw_;
  uint64_t id_;
  State state_ = State::Routing;
  TxnId aInvite_ = 0;
  Leg a_;
  Leg b_;
  std::vector<Target> routes_;
  size_t nextRoute_ = 0;
  bool toAccount_ = false;       // calling a registered account's contacts
  bool bAuthTried_ = false;      // this attempt already answered a challenge
  bool authFailedLast_ = false;  // the last attempt ended on a carrier challenge
  std::string bInviteBytes_;     // the INVITE of the current attempt, as sent
  std::string bInviteUri_;
  int attempts_ = 0;
  TxnId bInvite_ = 0;
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
  Timer setupTimer_;
  Timer ringTimer_;
  Timer lingerTimer_;
  std::vector<Relay> relays_;
  std::vector<TxnId> ownClients_;
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
};

// ---------------------------------------------------------------------------
// Call: setup and routing

void Switch::Call::start(TxnId invite, const Message& req, const Flow& from,
                         const admission::GatewayInfo& gateway, CallNumbers&& numbers) {
  aInvite_ = invite;
  cdr_.callId = std::string(req.callId());
  cdr_.startUs = micros(sw_.clock_);
  cdr_.caller = std::move(numbers.caller);
  cdr_.callee = std::move(numbers.callee);
  cdr_.callerRaw = std::move(numbers.callerRaw);
  cdr_.calleeRaw = std::move(numbers.calleeRaw);
  identities_ = std::move(numbers.identities);
  cdr_.sourceAddress = from.remote.toString();
  cdr_.transport = std::string(transport::protocolParam(from.protocol));
  cdr_.mappingGateway = gateway.name;

  a_.callId = cdr_.callId;
  a_.localTag = sw_.newTag();
  a_.remoteTag = std::string(req.from().tag());
  const sip::Header* to = req.header(HeaderId::To);
  const sip::Header* fromHdr = req.header(HeaderId::From);
  a_.localHeader = std::string(to->value) + ";tag=" + a_.localTag;
  a_.remoteHeader = std::string(fromHdr->value);
  a_.remoteTarget = firstContactUri(req);
  if (a_.remoteTarget.empty()) a_.remoteTarget = std::string(req.from().uri.text);
  a_.routeSet = recordRoutes(req, false);
  a_.inviteCseq = req.cseq().number;
  a_.flow = *sw_.txns_.serverFlow(invite);
  a_.hostPort = sw_.localHostPort(from.local);
  a_.contact = sw_.contactFor(from);
  a_.viaProtocol = transport::protocolName(from.protocol);
  a_.peerIp = from.remote.ip();
  a_.peerPort = gateway.auth == admission::AuthMode::IpPort ? from.remote.port() : 0;
  a_.peerGateway = gateway.name;
  a_.peerByDigest = gateway.auth == admission::AuthMode::Password;
  a_.signalling = sw_.snapshot_->mappingSignalling(gateway.name);
  sw_.registerTag(a_.localTag, this);
  sw_.byAInvite_[invite] = this;

  // A registered account's number goes to its contacts, before any prefix
  // route: it is ours, a carrier must not get it.
  const admission::GatewayInfo* account = sw_.registeredAccount(req, cdr_.callee);
  if (account) {
    toAccount_ = true;
    for (const registrar::Binding* b : sw_.registrar_->reachable(account->username)) {
      Target t;
      t.name = account->name;
      t.account = true;
      t.flow = b->flow();
      t.requestUri = b->contact;
      routes_.push_back(std::move(t));
    }
    if (routes_.empty()) {
      failCall(480, "Temporarily Unavailable", TerminationReason::CalleeOffline);
      return;
    }
  } else {
    for (const RouteTarget& r : sw_.snapshot_->routes.lookup(cdr_.callee)) {
      Target t;
      t.name = r.name;
      t.flow = Flow{r.protocol, r.address, transport::kNoListener, 0};
      t.number = r.translate(cdr_.callee);
      t.authUsername = r.authUsername;
      t.authPassword = r.authPassword;
      routes_.push_back(std::move(t));
    }
    if (routes_.empty()) {
      failCall(sw_.config_.noRouteCode, "", TerminationReason::NoRoute);
      return;
    }
  }
  if (!nextAttempt()) {
    if (attempts_ == 0) {
      failNoCarrier();
      return;
    }
    failCall(503, "Service Unavailable", TerminationReason::RouteFailed);
  }
}

bool Switch::Call::nextAttempt() {
  while (nextRoute_ < routes_.size() && attempts_ < sw_.config_.switchLimit) {
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
    if (!sw_.carriers_->available(r.name)) {
      skippedUnavailable_ = true;
      continue;
    }
    using CC = admission::CallPolicy::CarrierCheck;
    CC cc = sw_.policy_->acquireCarrier(r.name, cdr_.caller, cdr_.callee, sw_.loop_.now(),
                                        &carrier_, identities_);
    if (cc != CC::Ok) {
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
      continue;
    }
    ++attempts_;
    if (startAttempt(r)) return true;
    sw_.policy_->releaseCarrier(carrier_);
    carrier_ = admission::CallLimits::kNone;
  }
  return false;
}

void Switch::Call::failNoCarrier() {
  // Routes matched, but policy left none to try: the carriers' own number
  // lists (the number may not go there) or every carrier full / down.
  if (skippedListed_ && !skippedUnavailable_) {
    failCall(sw_.policy_->settings().blockedCode, "",
             skippedCallerListed_ ? TerminationReason::CallerBlacklisted
                                  : TerminationReason::CalleeBlacklisted);
    return;
  }
  failCall(503, "Service Unavailable", TerminationReason::CarrierUnavailable);
}

bool Switch::Call::startAttempt(const Target& r) {
  if (!cdr_.gatewaysTried.empty()) cdr_.gatewaysTried += ',';
  cdr_.gatewaysTried += r.name;
  cdr_.routingGateway = r.name;
  if (auto it = sw_.gateways_.routing.find(r.name); it != sw_.gateways_.routing.end()) {
    ++it->second.attempts;
  }

  transport::Transport& tp = sw_.txns_.transport();
  // A registered contact is reached from the listener its REGISTER came in
  // on (the NAT binding is for that address); a carrier from any fitting one.
  const transport::Listener* l = tp.listener(r.flow.local);
  if (!l || l->protocol != r.flow.protocol) l = tp.pickListener(r.flow.protocol, r.flow.remote);
  if (!l) {
    log::warn("call.no_listener")
        .kv("gateway", r.name)
        .kv("protocol", transport::protocolName(r.flow.protocol));
    lastCode_ = 503;
    lastReason_ = "Service Unavailable";
    lastWasTimeout_ = true;
    return false;
  }
  const Message* req = sw_.txns_.serverRequest(aInvite_);
  if (!req) return false;

  if (!b_.localTag.empty()) sw_.unregisterTag(b_.localTag);
  b_ = Leg{};
  b_.callId = sw_.newCallId();
  b_.localTag = sw_.newTag();
  b_.flow = Flow{r.flow.protocol, r.flow.remote, l->id, r.flow.connection};
  b_.hostPort = sw_.localHostPort(l->id);
  b_.contact = sw_.contactFor(b_.flow);
  b_.viaProtocol = transport::protocolName(r.flow.protocol);
  b_.authUsername = r.authUsername;
  b_.authPassword = r.authPassword;
  b_.peerIp = r.flow.remote.ip();
  b_.signalling = r.account ? sw_.snapshot_->mappingSignalling(r.name)
                            : sw_.snapshot_->routingSignalling(r.name);
  if (r.account) {
    b_.peerGateway = r.name;  // the phone may re-register from elsewhere mid-call
    b_.peerByDigest = true;
  }
  bAuthTried_ = false;
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

  const std::string branch = sw_.txns_.newBranch();
  const std::string viaValue = via(b_, branch);
  uint32_t mf = req->maxForwards() ? *req->maxForwards() - 1 : 70;
  mf = std::min<uint32_t>(mf, 70);

  // The outbound INVITE is the caller's INVITE with every leg-local field
  // replaced: body, Content-Type and end-to-end fields pass unchanged.
  sip::Edits e;
  e.setStartLine("INVITE " + ruri + " SIP/2.0");
  crossRequestHeaders(*req, Side::A, e, /*initial=*/true);
  if (sip::isSdp(req->contentType())) e.setBody(crossSdp(*req, Side::A));
  e.prepend("Via", viaValue);
  e.prepend("Max-Forwards", std::to_string(mf));
  e.prepend("From", b_.localHeader);
  e.prepend("To", b_.remoteHeader);
  e.prepend("Call-ID", b_.callId);
  e.prepend("CSeq", "1 INVITE");
  e.prepend("Contact", b_.contact);
  if (!sw_.config_.userAgent.empty()) e.prepend("User-Agent", sw_.config_.userAgent);

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
  if (!b_.authUsername.empty()) {
    bInviteBytes_ = out.bytes;  // to send again with credentials if challenged
    bInviteUri_ = ruri;
  }
  sw_.registerTag(b_.localTag, this);
  bRinging_ = false;
  bInvite_ = sw_.txns_.sendRequest(std::move(out), b_.flow, this);
  ownClients_.push_back(bInvite_);
  setupTimer_.start(sw_.loop_.timers(), sw_.config_.setupTimeout);
  return true;
}

void Switch::Call::onResponse(TxnId id, const Message& resp) {
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

void Switch::Call::onTimeout(TxnId id) {
  if (id == bInvite_ && id != 0) {
    if (lingering_) {
      sw_.finishCall(this);
      return;
    }
    onAttemptFailed(408, "Request Timeout", true);
    return;
  }
  for (auto it = relays_.begin(); it != relays_.end(); ++it) {
    if (it->client == id) {
      sw_.txns_.respond(it->server, 408, "Request Timeout", leg(it->from).localTag);
      relays_.erase(it);
      return;
    }
  }
}

void Switch::Call::onTransportError(TxnId id) {
  if (id == bInvite_ && id != 0) {
    if (lingering_) {
      sw_.finishCall(this);
      return;
    }
    onAttemptFailed(503, "Service Unavailable", true);
    return;
  }
  for (auto it = relays_.begin(); it != relays_.end(); ++it) {
    if (it->client == id) {
      sw_.txns_.respond(it->server, 503, "Service Unavailable", leg(it->from).localTag);
      relays_.erase(it);
      return;
    }
  }
}

void Switch::Call::updateBFromResponse(const Message& resp) {
  std::string_view tag = resp.to().tag();
  if (!tag.empty()) {
    b_.remoteTag = std::string(tag);
    b_.remoteHeader = std::string(resp.header(HeaderId::To)->value);
  }
  std::string contact = firstContactUri(resp);
  if (!contact.empty()) b_.remoteTarget = contact;
  if (resp.header(HeaderId::RecordRoute)) b_.routeSet = recordRoutes(resp, true);
}

void Switch::Call::onInviteResponse(const Message& resp) {
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
      sw_.txns_.sendRaw(b_.flow, bAck_);
    }
    if (st >= 200) {
      bInvite_ = 0;
      sw_.finishCall(this);
    }
    return;
  }

  if (st < 200) {
    if (!ringTimer_.active()) ringTimer_.start(sw_.loop_.timers(), sw_.config_.ringTimeout);
    if (st == 100 || cancelled_) return;  // 100 is hop-by-hop
    bRinging_ = true;
    updateBFromResponse(resp);
    std::vector<std::string> scratch;
    std::vector<sip::ExtraHeader> extra = passthrough(resp, Side::B, &a_.contact, scratch);
    sw_.txns_.respond(aInvite_, st, resp.reason(), a_.localTag, extra, crossBody(resp, Side::B));
    state_ = State::Early;
    return;
  }

  if (st < 300) {
    if (state_ == State::Answered || state_ == State::Confirmed) {
      if (!bAck_.empty()) sw_.txns_.sendRaw(b_.flow, bAck_);  // 2xx retransmission
      return;
    }
    ringTimer_.cancel();
    updateBFromResponse(resp);
    std::vector<std::string> scratch;
    std::vector<sip::ExtraHeader> extra = passthrough(resp, Side::B, &a_.contact, scratch);
    sw_.txns_.respond(aInvite_, st, resp.reason(), a_.localTag, extra, crossBody(resp, Side::B));
    state_ = State::Answered;
    cdr_.answerUs = micros(sw_.clock_);
    cdr_.finalCode = st;
    ++sw_.stats_.callsAnswered;
    sw_.onCallAnswered(*this);  // call policy: max duration, no-answer streak
    log::debug("call.answered").kv("call_id", cdr_.callId).kv("gateway", cdr_.routingGateway);
    return;
  }

  // A final failure from this carrier (the transaction layer already ACKed it).
  ringTimer_.cancel();
  if (cancelled_) return;
  if ((st == 401 || st == 407) && retryInviteWithCredentials(resp)) return;
  onAttemptFailed(st, resp.reason(), false);
}

bool Switch::Call::retryInviteWithCredentials(const Message& resp) {
  // Once per attempt: a second challenge means our credentials are wrong.
  if (bAuthTried_ || b_.authUsername.empty() || bInviteBytes_.empty()) return false;
  auto c = pickChallenge(resp);
  if (!c) return false;
  bAuthTried_ = true;
  ++sw_.stats_.carrierChallenges;
  const bool proxy = resp.status() == 407;
  const std::string value =
      auth::answerChallenge(sw_.clientHasher_, *c, "INVITE", bInviteUri_, b_.authUsername,
                            b_.authPassword, sw_.random_.token(16), 1);
  const uint32_t cseq = ++b_.localCseq;
  const std::string branch = sw_.txns_.newBranch();
  const std::string viaValue = via(b_, branch);
  std::string bytes = withCredentials(bInviteBytes_, viaValue, cseq, "INVITE", proxy, value);
  if (bytes.empty()) return false;
  b_.inviteCseq = cseq;
  txn::OutgoingRequest out;
  out.method = Method::Invite;
  out.bytes = std::move(bytes);
  out.branch = branch;
  out.requestUri = bInviteUri_;
  out.via = viaValue;
  out.from = b_.localHeader;
  out.to = b_.remoteHeader;
  out.callId = b_.callId;
  out.cseq = cseq;
  bInviteBytes_ = out.bytes;
  bRinging_ = false;
  bInvite_ = sw_.txns_.sendRequest(std::move(out), b_.flow, this);
  ownClients_.push_back(bInvite_);
  setupTimer_.start(sw_.loop_.timers(), sw_.config_.setupTimeout);
  return true;
}

void Switch::Call::abandonB() {
  if (bInvite_ != 0) {
    // Stop waiting for this attempt; if it answers late, the CANCEL sent
    // once a provisional arrives ends it on the carrier's side.
    sw_.txns_.cancelClient(bInvite_);
    sw_.txns_.detach(bInvite_);
    bInvite_ = 0;
  }
  if (!b_.localTag.empty()) sw_.unregisterTag(b_.localTag);
}

void Switch::Call::onAttemptFailed(int code, std::string_view reason, bool timeout) {
  setupTimer_.cancel();
  ringTimer_.cancel();
  lastCode_ = code;
  lastReason_ = std::string(reason);
  lastWasTimeout_ = timeout;
  const bool wasRinging = bRinging_;
  sw_.policy_->releaseCarrier(carrier_);  // the carrier's channel is free again
  carrier_ = admission::CallLimits::kNone;
  if (timeout) {
    abandonB();
  } else {
    bInvite_ = 0;
    if (!b_.localTag.empty()) sw_.unregisterTag(b_.localTag);
  }
  if (cancelled_) return;

  // Failover on timeout, 408, 5xx and 6xx except 600; 486/600 (busy) stop it
  // unless stop_after_busy is off. A carrier that already rang keeps the call
  // unless routing.switch_until_connect (SS_GATEWAY_SWITCH_UNTIL_CONNECT) is on.
  // A carrier that challenges us again (or that we have no credentials
  // for) refused our credentials: that is about the route, so fail over.
  const bool authFailed = code == 401 || code == 407;
  authFailedLast_ = authFailed;
  const bool busy = code == 486 || code == 600;
  const bool failover = timeout || authFailed || code == 408 || (code >= 500 && code < 600) ||
                        (code >= 600 && code != 600) || (busy && !sw_.config_.stopAfterBusy);
  if (authFailed) {
    log::warn("call.carrier_auth_failed")
        .kv("call_id", cdr_.callId)
        .kv("gateway", cdr_.routingGateway)
        .kv("code", code)
        .kv("credentials", !b_.authUsername.empty());
  }
  if (failover && (!wasRinging || sw_.config_.switchUntilConnect) && nextAttempt()) {
    ++sw_.stats_.failovers;
    return;
  }

  if (authFailed) {
    // Never relay a carrier's challenge: the caller would try to answer it.
    failCall(503, "Service Unavailable", TerminationReason::CarrierAuthFailed);
    return;
  }
  if (toAccount_ && (timeout || code == 408 || code >= 500)) {
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

void Switch::Call::onRingTimeout() {
  if (state_ != State::Routing && state_ != State::Early) return;
  cancelled_ = true;
  setupTimer_.cancel();
  sw_.txns_.respond(aInvite_, 408, "Request Timeout", a_.localTag);
  if (bInvite_) sw_.txns_.cancelClient(bInvite_);
  cdr_.finalCode = 408;
  end(TerminationReason::NoAnswer, HangupSide::None);
}

void Switch::Call::failCall(int code, std::string_view reason, TerminationReason why) {
  sw_.txns_.respond(aInvite_, code, reason, a_.localTag);
  cdr_.finalCode = code;
  end(why, HangupSide::None);
}

void Switch::Call::onCallerCancel() {
  if (state_ != State::Routing && state_ != State::Early) return;
  cancelled_ = true;
  setupTimer_.cancel();
  ringTimer_.cancel();
  sw_.txns_.respond(aInvite_, 487, "Request Terminated", a_.localTag);
  if (bInvite_) sw_.txns_.cancelClient(bInvite_);
  cdr_.finalCode = 487;
  end(TerminationReason::Cancelled, HangupSide::None);
}

void Switch::Call::end(TerminationReason reason, HangupSide side) {
  if (cdrWritten_) return;
  cdrWritten_ = true;
  setupTimer_.cancel();
  ringTimer_.cancel();
  const bool answered = cdr_.answerUs != 0;
  state_ = State::Ended;
  cdr_.endUs = micros(sw_.clock_);
  cdr_.durationMs = answered ? (cdr_.endUs - cdr_.answerUs) / 1000 : 0;
  cdr_.reason = reason;
  cdr_.hangup = side;
  if (!answered) ++sw_.stats_.callsFailed;
  durationTimer_.cancel();
  warningTimer_.cancel();
  sw_.submitCdr(Cdr(cdr_));
  sw_.unregisterTag(a_.localTag);
  sw_.byAInvite_.erase(aInvite_);
  sw_.onCallEnded(*this, answered, reason);  // call policy: channels, counters

  if (bInvite_ != 0 && !answered) {
    // Wait for the carrier to finish the INVITE (487 after our CANCEL, or a
    // late 2xx we must ACK and BYE). Bounded: the transaction itself times
    // out, and this guard covers a carrier that answers nothing at all.
    lingering_ = true;
    lingerTimer_.start(sw_.loop_.timers(), 64 * sw_.txns_.timers().t1 + Millis(1000));
    return;
  }
  sw_.finishCall(this);
}

// ---------------------------------------------------------------------------
// Call: answered dialog

std::string Switch::Call::via(const Leg& l, const std::string& branch) const {
  std::string v = "SIP/2.0/";
  v += l.viaProtocol;
  v += ' ';
  v += l.hostPort;
  v += ";branch=";
  v += branch;
  v += ";rport";
  return v;
}

std::string Switch::Call::buildAck(Leg& l, uint32_t cseq, const std::string& to,
                                   std::string_view contentType, std::string_view body) {
  // §13.2.2.4: the ACK for a 2xx is its own transaction-less request to the
  // remote target, with a new branch.
  sip::MessageWriter w(512 + body.size());
  w.requestLine("ACK", l.remoteTarget);
  w.header("Via", via(l, sw_.txns_.newBranch()));
  for (const std::string& r : l.routeSet) w.header("Route", r);
  w.header("Max-Forwards", "70");
  w.header("From", l.localHeader);
  w.header("To", to);
  w.header("Call-ID", l.callId);
  w.header("CSeq", std::to_string(cseq) + " ACK");
  if (!body.empty() && !contentType.empty()) w.header("Content-Type", contentType);
  return w.finish(body);
}

void Switch::Call::ackB() {
  if (!bAck_.empty()) return;
  bAck_ = buildAck(b_, b_.inviteCseq, b_.remoteHeader, {}, {});
  sw_.txns_.sendRaw(b_.flow, bAck_);
}

void Switch::Call::sendBye(Leg& l) {
  const std::string branch = sw_.txns_.newBranch();
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
  if (!sw_.config_.userAgent.empty()) w.header("User-Agent", sw_.config_.userAgent);
  out.bytes = w.finish();
  // Nobody in the call waits for the answer: the call is over on our side
  // already. A carrier that challenges the BYE is answered by the switch.
  if (!l.authUsername.empty()) {
    sw_.sendWithCarrierAuth(std::move(out), l.flow, l.authUsername, l.authPassword);
    return;
  }
  sw_.txns_.sendRequest(std::move(out), l.flow, nullptr);
}

void Switch::Call::onAck(const Message& ack, Side side) {
  const uint32_t cseq = ack.cseq().number;
  if (side == Side::A && cseq == a_.inviteCseq) {
    if (state_ == State::Answered) {
      // Relay the caller's ACK (it carries the answer in a delayed-offer call).
      state_ = State::Confirmed;
      bAck_ = buildAck(b_, b_.inviteCseq, b_.remoteHeader, ack.contentType(), crossBody(ack, side));
      sw_.txns_.sendRaw(b_.flow, bAck_);
    }
    return;
  }
  // ACK for a relayed re-INVITE's 2xx.
  for (auto it = relays_.begin(); it != relays_.end(); ++it) {
    if (it->from == side && it->method == Method::Invite && it->inCseq == cseq && it->answered2xx) {
      Leg& out = other(side);
      it->ack = buildAck(out, it->outCseq, it->remoteTo.empty() ? out.remoteHeader : it->remoteTo,
                         ack.contentType(), crossBody(ack, side));
      sw_.txns_.sendRaw(out.flow, it->ack);
      return;
    }
  }
}

void Switch::Call::onInDialogRequest(sip::MessagePtr msg, const Flow& from, Side side) {
  const Method m = msg->method();
  Leg& in = leg(side);
  Leg& out = other(side);

  if (m == Method::Bye) {
    TxnId id = sw_.txns_.createServer(std::move(msg), from);
    sw_.txns_.respond(id, 200, "OK", in.localTag);
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
    TxnId id = sw_.txns_.createServer(std::move(msg), from);
    sw_.txns_.respond(id, 481, "Call/Transaction Does Not Exist", in.localTag);
    return;
  }
  // The methods, extensions and bodies we relay are those we take in a new
  // INVITE: REFER, SUBSCRIBE, MESSAGE ... stay on their leg (a REFER crossing
  // to a carrier would make it place a call nobody was admitted for).
  if (sip::CheckFailure f = sip::checkRequest(*msg, sw_.forwardPolicy_); f.status != 0) {
    ++sw_.stats_.inDialogRejected;
    std::vector<sip::ExtraHeader> extra;
    for (auto& [name, value] : f.headers) extra.push_back({name, value});
    TxnId id = sw_.txns_.createServer(std::move(msg), from);
    sw_.txns_.respond(id, f.status, f.reason, in.localTag, extra);
    return;
  }

  TxnId serverId = sw_.txns_.createServer(std::move(msg), from);
  const Message& req = *sw_.txns_.serverRequest(serverId);
  if (m == Method::Invite || m == Method::Update) {
    std::string target = firstContactUri(req);  // target refresh (§12.2.2)
    if (!target.empty()) in.remoteTarget = target;
  }

  const uint32_t cseq = ++out.localCseq;
  const std::string branch = sw_.txns_.newBranch();
  const std::string viaValue = via(out, branch);
  uint32_t mf = req.maxForwards() ? std::max<uint32_t>(*req.maxForwards(), 1) - 1 : 70;
  mf = std::min<uint32_t>(mf, 70);
  std::string method(req.methodName());

  sip::Edits e;
  e.setStartLine(method + " " + out.remoteTarget + " SIP/2.0");
  crossRequestHeaders(req, side, e, /*initial=*/false);
  if (sip::isSdp(req.contentType())) e.setBody(crossSdp(req, side));
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
  if (!sw_.config_.userAgent.empty()) e.prepend("User-Agent", sw_.config_.userAgent);

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
  if (!out.authUsername.empty()) r.sent = o.bytes;
  r.client = sw_.txns_.sendRequest(std::move(o), out.flow, this);
  ownClients_.push_back(r.client);
  // A relayed re-INVITE whose ACK went through only waits for stray 2xx
  // retransmissions; once a newer request comes, it is done.
  relays_.erase(std::remove_if(relays_.begin(), relays_.end(),
                               [](const Relay& x) { return x.answered2xx && !x.ack.empty(); }),
                relays_.end());
  relays_.push_back(std::move(r));
}

void Switch::Call::relayResponse(Relay& relay, const Message& resp) {
  const int st = resp.status();
  if (st == 100) return;
  if ((st == 401 || st == 407) && retryRelayWithCredentials(relay, resp)) return;
  Leg& in = leg(relay.from);
  Leg& out = other(relay.from);
  if (relay.answered2xx) {
    // 2xx retransmission of a relayed re-INVITE: re-send our ACK if we have one.
    if (!relay.ack.empty()) sw_.txns_.sendRaw(out.flow, relay.ack);
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
  sw_.txns_.respond(relay.server, st, resp.reason(), in.localTag, extra,
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

bool Switch::Call::retryRelayWithCredentials(Relay& relay, const Message& resp) {
  Leg& out = other(relay.from);
  if (relay.authTried || out.authUsername.empty() || relay.sent.empty()) return false;
  auto c = pickChallenge(resp);
  if (!c) return false;
  relay.authTried = true;
  ++sw_.stats_.carrierChallenges;
  const bool proxy = resp.status() == 407;
  const std::string method(sip::methodName(relay.method));
  const std::string value =
      auth::answerChallenge(sw_.clientHasher_, *c, method, out.remoteTarget, out.authUsername,
                            out.authPassword, sw_.random_.token(16), 1);
  const uint32_t cseq = ++out.localCseq;
  const std::string branch = sw_.txns_.newBranch();
  const std::string viaValue = via(out, branch);
  std::string bytes = withCredentials(relay.sent, viaValue, cseq, method, proxy, value);
  if (bytes.empty()) return false;
  txn::OutgoingRequest o;
  o.method = relay.method;
  o.bytes = std::move(bytes);
  o.branch = branch;
  o.requestUri = out.remoteTarget;
  o.via = viaValue;
  o.from = out.localHeader;
  o.to = out.remoteHeader;
  o.callId = out.callId;
  o.cseq = cseq;
  o.routes = out.routeSet;
  relay.sent.clear();
  relay.outCseq = cseq;
  relay.client = sw_.txns_.sendRequest(std::move(o), out.flow, this);
  ownClients_.push_back(relay.client);
  return true;
}

std::string Switch::Call::crossIdentity(const sip::Header& h, const Leg& out) const {
  // RFC 8224 Identity is a signature over the caller's own headers: it
  // crosses as signed, or it is worthless.
  if (h.id == HeaderId::Identity) return std::string(h.value);
  // Each number in its canonical form, like the From number.
  return sip::rewriteIdentity(h.value, out.hostPort, [this](std::string_view user) {
    return admission::normalizeNumber(user, sw_.config_.numbers).canonical;
  });
}

void Switch::Call::crossRequestHeaders(const Message& m, Side from, sip::Edits& e,
                                       bool initial) const {
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

std::vector<sip::ExtraHeader> Switch::Call::passthrough(const Message& m, Side from,
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
  if (!sw_.config_.userAgent.empty()) extra.push_back({"Server", sw_.config_.userAgent});
  return extra;
}

std::string Switch::Call::crossBody(const Message& m, Side from) const {
  if (!sip::isSdp(m.contentType())) return std::string(m.body());
  return crossSdp(m, from);
}

std::string Switch::Call::crossSdp(const Message& m, Side from) const {
  const Leg& out = from == Side::A ? b_ : a_;
  std::string_view host = out.hostPort;
  // hostPort is "host:port", "[v6]:port" or an advertised "host"
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (size_t colon = host.rfind(':');
             colon != std::string_view::npos && host.find(':') == colon) {
    host = host.substr(0, colon);
  }
  return sip::rewriteSdpOrigin(m.body(), host);
}

void Switch::Call::onAckTimeout() {
  // §13.3.1.4: the caller never confirmed our 2xx; end the session on both legs.
  if (state_ != State::Answered) return;
  ackB();
  sendBye(b_);
  sendBye(a_);
  end(TerminationReason::AckTimeout, HangupSide::System);
}

void Switch::Call::onStray2xx(const Message& resp) {
  // A 2xx retransmitted by the carrier after our INVITE transaction ended.
  if (!bAck_.empty() && resp.cseq().method == Method::Invite) sw_.txns_.sendRaw(b_.flow, bAck_);
}

void Switch::Call::hangup(TerminationReason reason, int code) {
  if (state_ == State::Answered || state_ == State::Confirmed) {
    ackB();
    sendBye(a_);
    sendBye(b_);
    end(reason, HangupSide::System);
  } else if (state_ == State::Routing || state_ == State::Early) {
    cancelled_ = true;
    setupTimer_.cancel();
    ringTimer_.cancel();
    sw_.txns_.respond(aInvite_, code, "", a_.localTag);
    if (bInvite_) sw_.txns_.cancelClient(bInvite_);
    cdr_.finalCode = code;
    end(reason, HangupSide::None);
  }
}

void Switch::Call::startDurationTimers() {
  // SS_MAXCALLDURATION counts from the answer (the billable duration).
  const int maxS = ticket_.maxDurationS;
  if (maxS <= 0) return;
  durationTimer_.start(sw_.loop_.timers(), Millis(int64_t{maxS} * 1000));
  const int warnS = sw_.policy_->settings().durationWarningS;
  if (warnS > 0 && warnS < maxS) {
    warningTimer_.start(sw_.loop_.timers(), Millis(int64_t{maxS - warnS} * 1000));
  }
}

void Switch::Call::onDurationWarning() {
  if (state_ != State::Answered && state_ != State::Confirmed) return;
  // SS_CALLREMINTIME: tollgate relays signalling only (no media to play a
  // tone into), so the warning is an event for the operator's monitoring.
  ++sw_.policy_->stats().durationWarnings;
  log::info("call.max_duration_warning")
      .kv("call_id", cdr_.callId)
      .kv("mapping_gateway", cdr_.mappingGateway)
      .kv("caller", cdr_.caller)
      .kv("callee", cdr_.callee)
      .kv("remaining_s", sw_.policy_->settings().durationWarningS);
}

void Switch::Call::onMaxDuration() {
  if (state_ != State::Answered && state_ != State::Confirmed) return;
  ++sw_.policy_->stats().maxDurationEnded;
  log::info("call.max_duration")
      .kv("call_id", cdr_.callId)
      .kv("mapping_gateway", cdr_.mappingGateway)
      .kv("max_duration_s", ticket_.maxDurationS);
  hangup(TerminationReason::MaxDuration);  // BYE to both legs
}

LiveCall Switch::Call::live() const {
  LiveCall c;
  c.id = id_;
  c.callId = cdr_.callId;
  c.bCallId = b_.callId;
  c.caller = cdr_.caller;
  c.callee = cdr_.callee;
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

// ---------------------------------------------------------------------------
// Switch

// ---------------------------------------------------------------------------
// Requests we send to a carrier on our own (a BYE after the call ended on
// our side): answers one 401/407 with the routing gateway's credentials.

class Switch::CarrierAuthRetry final : public txn::ClientCallbacks {
 public:
  CarrierAuthRetry(Switch& sw, const txn::OutgoingRequest& sent, const Flow& flow,
                   std::string username, std::string password)
      : sw_(sw),
        sent_(sent),
        flow_(flow),
        username_(std::move(username)),
        password_(std::move(password)) {}

  void onResponse(TxnId id, const Message& resp) override {
    const int st = resp.status();
    if (st < 200) return;
    if ((st == 401 || st == 407) && !tried_) {
      if (auto c = pickChallenge(resp)) {
        tried_ = true;
        ++sw_.stats_.carrierChallenges;
        const std::string method(sip::methodName(sent_.method));
        std::string value = auth::answerChallenge(sw_.clientHasher_, *c, method, sent_.requestUri,
                                                  username_, password_, sw_.random_.token(16), 1);
        const std::string branch = sw_.txns_.newBranch();
        std::string via = sent_.via;
        if (size_t b = via.find(";branch="); b != std::string::npos) {
          size_t end = via.find(';', b + 1);
          via = via.substr(0, b) + ";branch=" + branch +
                (end == std::string::npos ? "" : via.substr(end));
        }
        txn::OutgoingRequest out = sent_;
        out.cseq = sent_.cseq + 1;
        out.branch = branch;
        out.via = via;
        out.bytes = withCredentials(sent_.bytes, via, out.cseq, method, st == 407, value);
        if (!out.bytes.empty()) {
          sent_ = out;
          TxnId next = sw_.txns_.sendRequest(std::move(out), flow_, this);
          sw_.moveRetry(id, next);
          return;
        }
      }
    }
    sw_.retireRetry(id);
  }
  void onTimeout(TxnId id) override { sw_.retireRetry(id); }
  void onTransportError(TxnId id) override { sw_.retireRetry(id); }

 private:
  Switch& sw_;
  txn::OutgoingRequest sent_;
  Flow flow_;
  std::string username_;
  std::string password_;
  bool tried_ = false;
};

void Switch::sendWithCarrierAuth(txn::OutgoingRequest&& out, const Flow& flow,
                                 const std::string& username, const std::string& password) {
  auto retry = std::make_unique<CarrierAuthRetry>(*this, out, flow, username, password);
  CarrierAuthRetry* raw = retry.get();
  TxnId id = txns_.sendRequest(std::move(out), flow, raw);
  authRetries_.emplace(id, std::move(retry));
}

void Switch::moveRetry(TxnId from, TxnId to) {
  auto it = authRetries_.find(from);
  if (it == authRetries_.end()) return;
  auto owned = std::move(it->second);
  authRetries_.erase(it);
  authRetries_.emplace(to, std::move(owned));
}

void Switch::retireRetry(TxnId id) {
  auto it = authRetries_.find(id);
  if (it == authRetries_.end()) return;
  // Freed after this event: we are inside its callback.
  deadRetries_.push_back(std::move(it->second));
  authRetries_.erase(it);
}

// ---------------------------------------------------------------------------
// Switch

const std::shared_ptr<const PeerSignalling>& PeerSignalling::none() {
  static const std::shared_ptr<const PeerSignalling> kNone = std::make_shared<PeerSignalling>();
  return kNone;
}

std::shared_ptr<const PeerSignalling> Snapshot::mappingSignalling(std::string_view name) const {
  auto it = mappingSignalling_.find(std::string(name));
  return it == mappingSignalling_.end() ? PeerSignalling::none() : it->second;
}

std::shared_ptr<const PeerSignalling> Snapshot::routingSignalling(std::string_view name) const {
  auto it = routingSignalling_.find(std::string(name));
  return it == routingSignalling_.end() ? PeerSignalling::none() : it->second;
}

Snapshot::Snapshot(const admission::Provisioning& p, uint64_t v, std::string_view realm,
                   const std::vector<admission::NumberList>& lists,
                   const admission::NumberSettings& numbers)
    : matcher(p),
      routes(p, numbers),
      accounts(p, realm),
      version(v),
      policy(std::make_shared<const admission::PolicySnapshot>(p, lists, numbers)) {
  for (const auto& g : p.mappingGateways) mappingNames.push_back(g.name);
  for (const auto& g : p.routingGateways) routingNames.push_back(g.name);
  auto signalling =
      [](const admission::GatewayPolicy& pol) -> std::shared_ptr<const PeerSignalling> {
    if (!pol.trustIdentity && pol.passHeaders.empty() && pol.assertedIdentity.empty()) {
      return PeerSignalling::none();
    }
    auto s = std::make_shared<PeerSignalling>();
    s->pass = sip::HeaderAllowList(pol.passHeaders);
    s->trustIdentity = pol.trustIdentity;
    s->assertedIdentity = pol.assertedIdentity;
    return s;
  };
  for (const auto& g : p.mappingGateways) mappingSignalling_.emplace(g.name, signalling(g.policy));
  for (const auto& g : p.routingGateways) routingSignalling_.emplace(g.name, signalling(g.policy));
  for (const admission::RoutingGateway& g : p.routingGateways) {
    if (!g.enabled || !g.registers || g.authUsername.empty()) continue;
    auto proto = transport::protocolFromName(g.transport);
    if (!proto) continue;
    auto addr = net::SockAddr::parse(g.address, *proto == transport::Protocol::Tls ? 5061 : 5060);
    if (!addr) continue;
    registrar::CarrierRegistration r;
    r.name = g.name;
    r.protocol = *proto;
    r.address = *addr;
    r.username = g.authUsername;
    r.password = g.authPassword;
    r.expires = std::chrono::seconds(g.registerExpires);
    carrierRegistrations.push_back(std::move(r));
  }
}

Switch::Switch(EventLoop& loop, txn::TransactionLayer& txns, CdrSink& cdrs, Random& random,
               const Clock& clock, SwitchConfig config)
    : loop_(loop),
      txns_(txns),
      cdrs_(cdrs),
      random_(random),
      clock_(clock),
      config_(std::move(config)),
      auth_(random, clock, config_.auth) {
  forwardPolicy_.forwarding = true;
  localPolicy_.forwarding = false;
  illegalTokens_ = config_.illegalCdrBurst;
  illegalRefill_ = clock_.now();
  auto hostPort = [this](transport::ListenerId l) { return localHostPort(l); };
  registrar::RegistrarSettings rs = config_.registrar;
  rs.userAgent = config_.userAgent;
  registrar_ = std::make_unique<registrar::Registrar>(loop_, txns_, clock_, random_, rs, hostPort);
  outbound_ = std::make_unique<registrar::OutboundRegistrations>(loop_, txns_, clock_, random_,
                                                                 config_.userAgent, hostPort);
  policy_ = std::make_unique<admission::CallPolicy>(config_.policy);
  refusalLog_.configure(kRefusalLogsPerSecond, kRefusalLogBurst, clock_.now());
  CarrierMonitorSettings cm;
  cm.period = config_.optionsCheckPeriod;
  cm.failureLimit = config_.optionsFailureLimit;
  cm.userAgent = config_.userAgent;
  carriers_ = std::make_unique<CarrierMonitor>(
      loop_, txns_, random_, cm, [this](transport::ListenerId l) { return localHostPort(l); });
  txns_.setUser(this);
  loop_.addFlushHook([this] {
    deadCalls_.clear();
    deadRetries_.clear();
  });
}

Switch::~Switch() {
  txns_.setUser(nullptr);
  for (auto& [id, r] : authRetries_) txns_.detach(id);
  authRetries_.clear();
  deadRetries_.clear();
  deadCalls_.clear();
  calls_.clear();
  outbound_.reset();
  registrar_.reset();
}

void Switch::setSnapshot(std::shared_ptr<const Snapshot> snapshot) {
  snapshot_ = std::move(snapshot);
  if (!snapshot_) return;
  policy_->setSnapshot(snapshot_->policy, loop_.now());
  carriers_->configure(snapshot_->routes);
  for (const std::string& name : snapshot_->accounts.realmMismatches()) {
    // Its HA1 was computed for another sip.domain: it cannot authenticate
    // until its provisioning is imported again.
    log::warn("auth.realm_mismatch").kv("gateway", name).kv("realm", config_.auth.realm);
  }
  const admission::AccountTable& accounts = snapshot_->accounts;
  registrar_->retainAccounts(
      [&accounts](std::string_view user) { return accounts.byUsername(user); });
  outbound_->configure(snapshot_->carrierRegistrations);
  // Counters exist for exactly the provisioned gateways: a removed gateway's
  // series ends, a new one starts at zero, and the maps stay bounded by
  // provisioning.
  auto sync = [](std::unordered_map<std::string, GatewayCounters>& m,
                 const std::vector<std::string>& names) {
    std::unordered_map<std::string, GatewayCounters> next;
    next.reserve(names.size());
    for (const std::string& n : names) {
      auto it = m.find(n);
      next.emplace(n, it != m.end() ? it->second : GatewayCounters{});
    }
    m.swap(next);
  };
  sync(gateways_.mapping, snapshot_->mappingNames);
  sync(gateways_.routing, snapshot_->routingNames);
}

void Switch::onConnectionClosed(transport::ConnectionId id) {
  registrar_->onConnectionClosed(id);
}

std::vector<LiveCall> Switch::liveCalls(size_t limit) const {
  std::vector<LiveCall> out;
  out.reserve(std::min(limit, calls_.size()));
  for (const auto& [id, c] : calls_) {
    if (c->ended()) continue;
    out.push_back(c->live());
  }
  std::sort(out.begin(), out.end(),
            [](const LiveCall& a, const LiveCall& b) { return a.id < b.id; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

bool Switch::endCall(uint64_t id, TerminationReason reason) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->ended()) return false;
  log::info("call.ended_by_operator").kv("id", id).kv("call_id", it->second->a().callId);
  it->second->hangup(reason);
  return true;
}

GatewayStats Switch::gatewayStats() const {
  GatewayStats g = gateways_;
  for (auto& [name, c] : g.mapping) c.active = 0;
  for (auto& [name, c] : g.routing) c.active = 0;
  for (const auto& [id, c] : calls_) {
    if (c->ended()) continue;
    const Cdr& cdr = c->cdr();
    if (auto it = g.mapping.find(cdr.mappingGateway); it != g.mapping.end()) ++it->second.active;
    if (auto it = g.routing.find(cdr.routingGateway); it != g.routing.end()) ++it->second.active;
  }
  return g;
}

void Switch::drain() {
  draining_ = true;
}

void Switch::hangupAll() {
  std::vector<Call*> live;
  for (auto& [id, c] : calls_) {
    if (!c->ended()) live.push_back(c.get());
  }
  for (Call* c : live) c->hangup(TerminationReason::Draining);
}

Switch::Source Switch::identify(const net::SockAddr& from) const {
  if (!snapshot_) return {};
  admission::Identification id = snapshot_->matcher.identify(from);
  if (id.kind == admission::Identification::Matched) return {SourceKind::Mapping, id.gateway};
  const bool portMismatch = id.kind == admission::Identification::PortMismatch;
  // A carrier's address is a known peer (OPTIONS, in-dialog requests) even
  // when an ip_port gateway shares its IP; the mismatch is kept so an INVITE
  // from it is still recorded as port_mismatch.
  if (snapshot_->routes.isCarrierAddress(from.ip())) {
    return {SourceKind::Carrier, portMismatch ? id.gateway : nullptr, portMismatch};
  }
  if (portMismatch) return {SourceKind::PortMismatch, id.gateway, true};
  return {};
}

void Switch::onRequest(sip::MessagePtr request, const Flow& from) {
  const Method m = request->method();
  const bool hasToTag = !request->to().tag().empty();

  if (m == Method::Ack) {
    // ACK for a 2xx (the transaction layer absorbed the rest).
    if (hasToTag) {
      if (auto it = byTag_.find(std::string(request->to().tag())); it != byTag_.end()) {
        Call* c = it->second;
        Side side = it->first == c->a().localTag ? Side::A : Side::B;
        const Leg& l = side == Side::A ? c->a() : c->b();
        if (request->callId() != l.callId || request->from().tag() != l.remoteTag) return;
        if (fromLegPeer(l, *request, from) != PeerCheck::Peer) {
          ++stats_.ackForeign;
          dropForeign(*request, from);
          return;
        }
        c->onAck(*request, side);
      }
    }
    return;
  }
  if (hasToTag) {
    onInDialog(std::move(request), from);
    return;
  }

  const Source src = identify(from);
  // Password gateways are known by their credentials, not their address:
  // when there are any, a request is checked by digest if it carries
  // credentials (even from an address that identifies another gateway: a
  // phone behind the NAT of an IP-authenticated PBX), if it is a REGISTER,
  // or if its address does not identify a customer (a carrier's address is
  // only good for its OPTIONS keep-alives). ACK and CANCEL are never
  // challenged (RFC 3261 §22.1: they cannot be resubmitted).
  if (snapshot_ && snapshot_->accounts.hasPasswordGateways() && m != Method::Cancel &&
      (m == Method::Register || hasOurCredentials(*request, config_.auth.realm) ||
       (src.kind != SourceKind::Mapping &&
        !(src.kind == SourceKind::Carrier && m == Method::Options)))) {
    admitByDigest(std::move(request), from);
    return;
  }
  const bool known = src.kind == SourceKind::Mapping || src.kind == SourceKind::Carrier;
  // Calls come in from mapping gateways only; a carrier is a known peer for
  // OPTIONS and in-dialog requests, not a customer.
  if (!known || (m == Method::Invite && src.kind != SourceKind::Mapping)) {
    rejectUnknown(*request, from, src);
    return;
  }
  if (m == Method::Invite) {
    if (auto it = gateways_.mapping.find(src.gateway->name); it != gateways_.mapping.end()) {
      ++it->second.attempts;
    }
  }
  if (m == Method::Cancel) {
    // §9.2: a CANCEL for no transaction we know.
    txns_.respondStateless(*request, from, 481, "", newTag());
    return;
  }
  admitted(std::move(request), from, src);
}

void Switch::admitted(sip::MessagePtr request, const Flow& from, const Source& src) {
  const Method m = request->method();
  const sip::CheckPolicy& policy = m == Method::Invite ? forwardPolicy_ : localPolicy_;
  sip::CheckFailure f = sip::checkRequest(*request, policy);
  if (f.status != 0) {
    std::vector<sip::ExtraHeader> extra;
    for (auto& [name, value] : f.headers) extra.push_back({name, value});
    if (m == Method::Invite) {
      ++stats_.invitesReceived;
      TerminationReason why =
          f.status == 483 ? TerminationReason::TooManyHops : TerminationReason::BadRequest;
      writeRejectCdr(*request, from, src.gateway ? src.gateway->name : "", f.status, why);
    }
    TxnId id = txns_.createServer(std::move(request), from);
    txns_.respond(id, f.status, f.reason, newTag(), extra);
    return;
  }

  switch (m) {
    case Method::Invite:
      onNewInvite(std::move(request), from, src);
      return;
    case Method::Options: {
      ++stats_.optionsAnswered;
      TxnId id = txns_.createServer(std::move(request), from);
      std::vector<sip::ExtraHeader> extra = {{"Allow", forwardPolicy_.allow},
                                             {"Accept", "application/sdp"}};
      if (!config_.userAgent.empty()) extra.push_back({"Server", config_.userAgent});
      txns_.respond(id, 200, "OK", newTag(), extra);
      return;
    }
    default: {
      // BYE, UPDATE, INFO, PRACK... outside a dialog.
      ++stats_.noDialog;
      TxnId id = txns_.createServer(std::move(request), from);
      txns_.respond(id, 481, "Call/Transaction Does Not Exist", newTag());
      return;
    }
  }
}

Switch::Source Switch::identify(const Flow& from) const {
  // A verified client certificate names a tls_cert gateway; else the address.
  if (snapshot_ && from.protocol == transport::Protocol::Tls && from.connection != 0 &&
      snapshot_->accounts.hasCertificateGateways()) {
    if (const auto* names = txns_.transport().peerCertificateNames(from.connection)) {
      if (const admission::GatewayInfo* g =
              snapshot_->accounts.byCertificate(*names, from.remote.ip())) {
        return {SourceKind::Mapping, g};
      }
    }
  }
  return identify(from.remote);
}

void Switch::admitByDigest(sip::MessagePtr request, const Flow& from) {
  const auth::AuthResult r =
      auth_.check(*request, from.remote.ip(), loop_.now(), snapshot_->accounts);
  switch (r.kind) {
    case auth::AuthResult::Kind::Authenticated: {
      const admission::GatewayInfo& gw = snapshot_->accounts.gatewayOf(*r.account);
      // The shield knows gateways by address; a password customer is known
      // only now (shield/trust_sink.h). Every success extends the vouch.
      if (trustSink_) trustSink_->vouch(from.remote.ip(), config_.registrar.maxExpires);
      if (request->method() == Method::Register) {
        onRegister(std::move(request), from, gw);
        return;
      }
      admitted(std::move(request), from, Source{SourceKind::Mapping, &gw});
      return;
    }
    case auth::AuthResult::Kind::Challenge:
      sendChallenge(*request, from, r);
      return;
    case auth::AuthResult::Kind::Suspended:
      // failed: this request's wrong credentials reached the limit, so the
      // suspension is new. It also bans the address in the shield (issue 4:
      // one ban list), which drops the guesser before parsing from now on.
      if (r.failed) reportSuspension(r.username, from);
      dropSuspended(*request, from);
      return;
  }
}

void Switch::reportSuspension(std::string_view username, const Flow& from) {
  if (!banSink_) return;
  const auth::AuthRetryLimiter& limiter = auth_.limiter();
  const auth::RetryLimits& limits = limiter.limits();
  std::string detail;
  if (limiter.sourceSuspended(from.remote.ip())) {
    detail = std::to_string(limits.sourceMaxRetry) + " failed digest attempts from this source";
  } else {
    // The username is the guesser's text: printable ASCII only, bounded.
    std::string user(username.substr(0, auth::kMaxTrackedUsername));
    for (char& c : user) {
      if (c < 0x21 || c > 0x7e) c = '?';
    }
    detail = std::to_string(limits.maxRetry) + " failed digest attempts for user " + user;
  }
  // The first ban lasts auth.suspend_time; the shield escalates repeat
  // offenders its own way (shield.ban_escalation, up to ban_max_time).
  if (banSink_->suspend(from.remote.ip(), shield::BanReason::Auth, detail, limits.suspendTime)) {
    ++stats_.authBansPlaced;
  } else {
    ++stats_.authBansRefused;  // trusted source, auto_ban off or table full: auth alone acts
  }
}

void Switch::sendChallenge(const Message& request, const Flow& from, const auth::AuthResult& r) {
  // The challenge type: the gateway's own, when the request names one that
  // has it (a difference tells a prober the name exists: documented), else
  // the node's. 401 is the registrar's challenge, 407 the proxy's.
  admission::ChallengeMode mode = config_.challenge;
  const std::vector<auth::Algorithm>* algorithms = nullptr;
  if (!r.username.empty()) {
    const admission::GatewayInfo* g = snapshot_->accounts.byUsername(r.username);
    if (g && g->hasChallenge) mode = g->challenge;
    if (g && !g->digestAlgorithms.empty()) algorithms = &g->digestAlgorithms;
  }
  const bool www = mode == admission::ChallengeMode::Www401 ||
                   (mode == admission::ChallengeMode::Both && request.method() == Method::Register);
  const int code = www ? 401 : 407;
  std::vector<std::string> values;
  auth_.challenges(from.remote.ip(), loop_.now(), r.stale, values, algorithms);
  std::vector<sip::ExtraHeader> extra;
  for (const std::string& v : values) {
    extra.push_back({www ? "WWW-Authenticate" : "Proxy-Authenticate", v});
  }
  if (!config_.userAgent.empty()) extra.push_back({"Server", config_.userAgent});
  ++stats_.challengesSent;
  // Stateless (RFC 3261 §8.2.6, as proxies do for challenges): an
  // unauthenticated request costs no transaction state; a retransmission
  // just gets another challenge.
  txns_.respondStateless(request, from, code, "", newTag(), extra);
  if (r.failed) {
    log::debug("auth.failed")
        .kv("reason", r.uriMismatch ? "uri_mismatch" : "bad_credentials")
        .kv("username", r.username)
        .kv("source", from.remote.toString())
        .kv("method", request.methodName());
    if (request.method() == Method::Invite && config_.illegalCallCdrs) {
      // Wrong credentials on a call attempt: recorded like an illegal call.
      ++stats_.invitesReceived;
      if (takeIllegalCdrToken()) {
        writeRejectCdr(request, from, "", code, TerminationReason::AuthFailed);
      } else {
        ++stats_.illegalCdrsSuppressed;
      }
    }
  }
}

void Switch::dropSuspended(const Message& request, const Flow& from) {
  // No useful answer: nothing, or 403 as for unknown sources.
  ++stats_.suspendedDropped;
  const bool answer = config_.unknownSource == UnknownSourcePolicy::Reject403;
  if (request.method() == Method::Invite && config_.illegalCallCdrs) {
    ++stats_.invitesReceived;
    if (takeIllegalCdrToken()) {
      writeRejectCdr(request, from, "", answer ? 403 : 0, TerminationReason::AuthFailed);
    } else {
      ++stats_.illegalCdrsSuppressed;
    }
  }
  if (answer) {
    txns_.respondStateless(request, from, 403, "Forbidden", newTag());
  } else {
    closeUnwanted(from);
  }
}

void Switch::onRegister(sip::MessagePtr request, const Flow& from,
                        const admission::GatewayInfo& account) {
  if (!account.registers) {
    // Authenticated, but the account is not a dynamic gateway: tell it
    // plainly instead of pretending to keep a binding calls never use.
    ++stats_.registersRefused;
    txns_.respondStateless(*request, from, 403, "Forbidden", newTag(),
                           {{"Warning", "399 tollgate \"account does not register\""}});
    return;
  }
  TxnId id = txns_.createServer(std::move(request), from);
  registrar_->onRegister(id, *txns_.serverRequest(id), from, account);
}

void Switch::closeUnwanted(const Flow& from) {
  if (!transport::isStream(from.protocol) || from.connection == 0) return;
  ++stats_.unwantedStreamsClosed;
  txns_.transport().closeConnection(from.connection, config_.tcpCloseReset);
}

void Switch::onNewInvite(sip::MessagePtr request, const Flow& from, const Source& src) {
  ++stats_.invitesReceived;
  if (draining_) {
    writeRejectCdr(*request, from, src.gateway->name, 503, TerminationReason::Draining);
    TxnId id = txns_.createServer(std::move(request), from);
    txns_.respond(id, 503, "Service Unavailable", newTag(), {{"Retry-After", "30"}});
    return;
  }
  // Call policy (issue 5): number lists, dynamic blacklist, channel and
  // rate limits, fraud thresholds. A refused call is answered and has its
  // CDR here; an admitted one carries its ticket until it ends.
  CallNumbers numbers = callNumbers(*request, src.gateway->name);
  if (!numbers.calleeDialable && !registeredAccount(*request, numbers.callee)) {
    // Not a number after normalisation (letters, bad escapes, too long):
    // no rule can judge it, so no carrier may get it.
    const int code = config_.numbers.invalidCode;
    refusalLogLine(reasonName(TerminationReason::InvalidNumber), request->callId(), code, "",
                   src.gateway->name, numbers);
    writeRejectCdr(*request, from, src.gateway->name, code, TerminationReason::InvalidNumber,
                   &numbers);
    TxnId id = txns_.createServer(std::move(request), from);
    txns_.respond(id, code, "", newTag());
    return;
  }
  admission::CallTicket ticket;
  if (!admitByPolicy(request, from, src.gateway->name, numbers, &ticket)) return;
  TxnId id = txns_.createServer(std::move(request), from);
  const Message& req = *txns_.serverRequest(id);
  uint64_t callId = nextCallId_++;
  auto call = std::make_unique<Call>(*this, callId);
  Call* c = call.get();
  calls_.emplace(callId, std::move(call));
  stats_.activeCalls = calls_.size();
  c->setTicket(std::move(ticket));
  // Before start(): a call may end inside it (no route), and the close must
  // follow the open.
  c->source = from.remote.ip();
  if (occupancy_) occupancy_->opened(OccupancyKind::Dialog, c->source);
  c->start(id, req, from, *src.gateway, std::move(numbers));
}

// ---------------------------------------------------------------------------
// Call policy hooks (issue 5). The policy itself lives in
// admission/call_policy.h; these only translate between it and SIP/CDRs.

namespace {
TerminationReason reasonOf(admission::Refusal r) {
  switch (r) {
    case admission::Refusal::CpsLimit:
      return TerminationReason::CpsLimit;
    case admission::Refusal::ConcurrentLimit:
      return TerminationReason::ConcurrentLimit;
    case admission::Refusal::CallerBlacklisted:
      return TerminationReason::CallerBlacklisted;
    case admission::Refusal::CalleeBlacklisted:
      return TerminationReason::CalleeBlacklisted;
    case admission::Refusal::FraudThreshold:
      return TerminationReason::FraudThreshold;
    case admission::Refusal::None:
      break;
  }
  return TerminationReason::InternalError;
}
}  // namespace

CallNumbers normalizedNumbers(const Message& request, const admission::NumberSettings& settings) {
  CallNumbers n;
  std::string_view from = request.from().uri.user;
  std::string_view to = calleeOf(request);
  n.caller = admission::normalizeNumber(from, settings).canonical;
  admission::NormalizedNumber callee = admission::normalizeNumber(to, settings);
  n.callee = std::move(callee.canonical);
  n.calleeDialable = callee.dialable;
  n.callerRaw = admission::rawNumberForRecord(from);
  n.calleeRaw = admission::rawNumberForRecord(to);
  return n;
}

const admission::GatewayInfo* Switch::registeredAccount(const Message& request,
                                                        std::string_view callee) const {
  // A registered account is called by its username: its canonical form
  // ("1-0-0" reaches "100") or, for usernames that are no numbers
  // ("alice"), exactly as written. It is ours: no carrier gets the call.
  const admission::AccountTable& accounts = snapshot_->accounts;
  const admission::GatewayInfo* g = accounts.byUsername(callee);
  if (!g) {
    std::string_view user = calleeOf(request);
    user = user.substr(0, user.find(';'));
    g = accounts.byUsername(sip::unescape(user));
  }
  return g && g->registers ? g : nullptr;
}

CallNumbers Switch::callNumbers(const Message& request, std::string_view gateway) const {
  CallNumbers n = normalizedNumbers(request, config_.numbers);
  // Every other caller number the carrier will see (an identity header of a
  // gateway trusted to assert it, or the gateway's asserted identity) must
  // pass the same checks as the From number.
  std::shared_ptr<const PeerSignalling> sig = snapshot_->mappingSignalling(gateway);
  if (sig->trustIdentity) {
    for (const sip::Header& h : request.headers()) {
      if (!sip::isBillingIdentity(h)) continue;
      for (std::string_view user : sip::identityUsers(h.value)) {
        std::string number = admission::normalizeNumber(user, config_.numbers).canonical;
        if (number != n.caller) n.identities.push_back(std::move(number));
      }
    }
  }
  if (!sig->assertedIdentity.empty()) {
    std::string number =
        admission::normalizeNumber(sig->assertedIdentity, config_.numbers).canonical;
    if (number != n.caller) n.identities.push_back(std::move(number));
  }
  return n;
}

bool Switch::admitByPolicy(sip::MessagePtr& request, const Flow& from, const std::string& gateway,
                           const CallNumbers& numbers, admission::CallTicket* ticket) {
  const std::string& caller = numbers.caller;
  const std::string& callee = numbers.callee;
  listings_.clear();
  admission::PolicyDecision d =
      policy_->admit(gateway, caller, callee, loop_.now(), clock_.wallMicros(), ticket, &listings_,
                     numbers.identities);
  if (d.refusal == admission::Refusal::None) {
    applyListings(listings_);
    return true;
  }
  const TerminationReason why = reasonOf(d.refusal);
  refusalLogLine(reasonName(why), request->callId(), d.code, d.by, gateway, numbers);
  writeRejectCdr(*request, from, gateway, d.code, why, &numbers);
  TxnId id = txns_.createServer(std::move(request), from);
  std::string retryAfter = std::to_string(d.retryAfterS);
  std::vector<sip::ExtraHeader> extra;
  if (d.retryAfterS > 0) extra.push_back({"Retry-After", retryAfter});
  txns_.respond(id, d.code, "", newTag(), extra);
  applyListings(listings_);
  return false;
}

void Switch::onCallAnswered(Call& call) {
  policy_->onAnswered(call.ticket(), call.cdr().callee);
  call.startDurationTimers();
}

void Switch::onCallEnded(Call& call, bool answered, TerminationReason reason) {
  policy_->releaseCarrier(call.carrierHandle());
  call.carrierHandle() = admission::CallLimits::kNone;
  // Input of the no-answer rule: the call reached a carrier and the callee
  // did not take it. Our own refusals and route failures say nothing about
  // the callee.
  const bool unanswered =
      !answered &&
      (reason == TerminationReason::NoAnswer || reason == TerminationReason::Busy ||
       reason == TerminationReason::Cancelled || reason == TerminationReason::Rejected);
  const Cdr& cdr = call.cdr();
  std::vector<admission::Listing> listings;
  policy_->onEnded(call.ticket(), cdr.mappingGateway, cdr.caller, cdr.callee, unanswered,
                   cdr.durationMs, clock_.wallMicros(), &listings);
  applyListings(listings);
}

void Switch::applyListings(const std::vector<admission::Listing>& listings) {
  if (listings.empty()) return;
  // Copied: cutting calls ends them, which may list more numbers.
  const std::vector<admission::Listing> todo = listings;
  for (const admission::Listing& l : todo) {
    if (l.cutCalls) cutCalls(l.number, l.side);
  }
}

size_t Switch::cutCalls(std::string_view number, admission::NumberSide side) {
  std::vector<uint64_t> victims;
  for (const auto& [id, c] : calls_) {
    if (c->ended()) continue;
    const std::string& n =
        side == admission::NumberSide::Caller ? c->cdr().caller : c->cdr().callee;
    if (n == number) victims.push_back(id);
  }
  const TerminationReason why = side == admission::NumberSide::Caller
                                    ? TerminationReason::CallerBlacklisted
                                    : TerminationReason::CalleeBlacklisted;
  size_t n = 0;
  for (uint64_t id : victims) {
    auto it = calls_.find(id);
    if (it == calls_.end() || it->second->ended()) continue;
    it->second->hangup(why, policy_->settings().blockedCode);
    ++n;
  }
  if (n > 0) {
    policy_->stats().cutCalls += n;
    log::warn("blacklist.calls_cut")
        .kv("number", number)
        .kv("side", admission::sideName(side))
        .kv("calls", n);
  }
  return n;
}

void Switch::onInDialog(sip::MessagePtr request, const Flow& from) {
  auto it = byTag_.find(std::string(request->to().tag()));
  Call* c = it == byTag_.end() ? nullptr : it->second;
  Side side = Side::A;
  if (c) {
    side = it->first == c->a().localTag ? Side::A : Side::B;
    const Leg& l = side == Side::A ? c->a() : c->b();
    // §12.2.2: the dialog is Call-ID, our tag and the peer's tag.
    if (request->callId() != l.callId || request->from().tag() != l.remoteTag) c = nullptr;
  }
  if (!c) {
    ++stats_.noDialog;
    const Source src = identify(from);
    if (src.kind == SourceKind::Mapping || src.kind == SourceKind::Carrier) {
      txns_.respondStateless(*request, from, 481, "Call/Transaction Does Not Exist", "");
    } else {
      rejectUnknown(*request, from, src);
    }
    return;
  }
  switch (fromLegPeer(side == Side::A ? c->a() : c->b(), *request, from)) {
    case PeerCheck::Peer:
      c->onInDialogRequest(std::move(request), from, side);
      return;
    case PeerCheck::Challenged:
      ++stats_.inDialogChallenged;
      return;
    case PeerCheck::Foreign:
      ++stats_.inDialogForeign;
      dropForeign(*request, from);
      return;
  }
}

Switch::PeerCheck Switch::fromLegPeer(const Leg& leg, const Message& request, const Flow& from) {
  // RFC 3261 binds a dialog to its Call-ID and tags only, which travel in
  // clear: an SBC must also bind it to the peer, or anyone who learns them
  // can end the call or redirect its media with a re-INVITE.
  if (from.remote.ip() == leg.peerIp && (leg.peerPort == 0 || from.remote.port() == leg.peerPort)) {
    return PeerCheck::Peer;
  }
  if (leg.peerGateway.empty() || !snapshot_) return PeerCheck::Foreign;
  // Another address (or certificate) of the same customer gateway.
  const Source src = identify(from);
  if (src.kind == SourceKind::Mapping && src.gateway->name == leg.peerGateway) {
    return PeerCheck::Peer;
  }
  // A password gateway whose address changed mid-call (NAT rebinding, a
  // phone moving networks) proves it is still the same gateway by digest.
  // ACK cannot be challenged (§22.1): it must come from the peer.
  if (!leg.peerByDigest || request.method() == Method::Ack) return PeerCheck::Foreign;
  const auth::AuthResult r =
      auth_.check(request, from.remote.ip(), loop_.now(), snapshot_->accounts);
  switch (r.kind) {
    case auth::AuthResult::Kind::Authenticated:
      return snapshot_->accounts.gatewayOf(*r.account).name == leg.peerGateway ? PeerCheck::Peer
                                                                               : PeerCheck::Foreign;
    case auth::AuthResult::Kind::Challenge:
      sendChallenge(request, from, r);
      return PeerCheck::Challenged;
    case auth::AuthResult::Kind::Suspended:
      if (r.failed) reportSuspension(r.username, from);
      return PeerCheck::Foreign;
  }
  return PeerCheck::Foreign;
}

void Switch::dropForeign(const Message& request, const Flow& from) {
  // Dropped without an answer: a prober learns nothing, and the other leg
  // never sees it. Logged at the refusal log's rate.
  if (refusalLog_.available(loop_.now())) {
    refusalLog_.take();
    log::warn("sip.in_dialog_foreign_source")
        .kv("method", request.methodName())
        .kv("call_id", request.callId())
        .kv("source", from.remote.toString())
        .kv("not_logged_before", refusalLogsSuppressed_);
    refusalLogsSuppressed_ = 0;
  } else {
    ++refusalLogsSuppressed_;
  }
  const Source src = identify(from);
  if (src.kind != SourceKind::Mapping && src.kind != SourceKind::Carrier) closeUnwanted(from);
}

void Switch::rejectUnknown(const Message& request, const Flow& from, const Source& src) {
  const bool answer = config_.unknownSource == UnknownSourcePolicy::Reject403;
  if (answer) {
    ++stats_.unknownSourceRejected;
  } else {
    ++stats_.unknownSourceDropped;
  }
  if (request.method() == Method::Invite && config_.illegalCallCdrs) {
    if (takeIllegalCdrToken()) {
      writeRejectCdr(
          request, from, "", answer ? 403 : 0,
          src.portMismatch ? TerminationReason::PortMismatch : TerminationReason::UnknownSource);
    } else {
      ++stats_.illegalCdrsSuppressed;
    }
  }
  if (answer) {
    txns_.respondStateless(request, from, 403, "Forbidden", newTag());
  } else {
    closeUnwanted(from);
  }
}

bool Switch::takeIllegalCdrToken() {
  MonoTime now = loop_.now();
  double elapsed = std::chrono::duration<double>(now - illegalRefill_).count();
  illegalRefill_ = now;
  illegalTokens_ =
      std::min(config_.illegalCdrBurst, illegalTokens_ + elapsed * config_.illegalCdrRate);
  if (illegalTokens_ < 1.0) return false;
  illegalTokens_ -= 1.0;
  return true;
}

void Switch::refusalLogLine(std::string_view reason, std::string_view callId, int code,
                            std::string_view by, std::string_view gateway,
                            const CallNumbers& numbers) {
  // A customer flooding over its limits must not flood the log too (every
  // refusal still has its CDR and counter).
  if (!refusalLog_.available(loop_.now())) {
    ++refusalLogsSuppressed_;
    return;
  }
  refusalLog_.take();
  log::info("call.refused")
      .kv("call_id", callId)
      .kv("reason", reason)
      .kv("code", code)
      .kv("by", by)
      .kv("mapping_gateway", gateway)
      .kv("caller", numbers.caller)
      .kv("callee", numbers.callee)
      .kv("callee_raw", numbers.calleeRaw)
      .kv("not_logged_before", refusalLogsSuppressed_);
  refusalLogsSuppressed_ = 0;
}

void Switch::writeRejectCdr(const Message& request, const Flow& from, const std::string& gateway,
                            int code, TerminationReason reason, const CallNumbers* numbers) {
  Cdr cdr;
  cdr.callId = std::string(request.callId());
  cdr.startUs = cdr.endUs = clock_.wallMicros();
  CallNumbers n = numbers ? *numbers : normalizedNumbers(request, config_.numbers);
  cdr.caller = std::move(n.caller);
  cdr.callee = std::move(n.callee);
  cdr.callerRaw = std::move(n.callerRaw);
  cdr.calleeRaw = std::move(n.calleeRaw);
  cdr.sourceAddress = from.remote.toString();
  cdr.transport = std::string(transport::protocolParam(from.protocol));
  cdr.mappingGateway = gateway;
  cdr.finalCode = code;
  cdr.reason = reason;
  ++stats_.callsFailed;
  submitCdr(std::move(cdr));
}

void Switch::submitCdr(Cdr&& cdr) {
  size_t idx = static_cast<size_t>(cdr.reason);
  if (idx < stats_.byReason.size()) ++stats_.byReason[idx];
  const bool answered = cdr.answerUs != 0;
  if (auto it = gateways_.mapping.find(cdr.mappingGateway); it != gateways_.mapping.end()) {
    ++(answered ? it->second.answered : it->second.failed);
  }
  // Every carrier tried before the last one failed the call; the last one
  // answered it or failed it too.
  std::string_view tried = cdr.gatewaysTried;
  while (!tried.empty()) {
    size_t comma = tried.find(',');
    std::string name(tried.substr(0, comma));
    tried = comma == std::string_view::npos ? std::string_view() : tried.substr(comma + 1);
    if (auto it = gateways_.routing.find(name); it != gateways_.routing.end()) {
      ++((tried.empty() && answered) ? it->second.answered : it->second.failed);
    }
  }
  log::debug("call.end")
      .kv("call_id", cdr.callId)
      .kv("reason", reasonName(cdr.reason))
      .kv("code", cdr.finalCode)
      .kv("caller", cdr.caller)
      .kv("callee", cdr.callee)
      .kv("source", cdr.sourceAddress)
      .kv("mapping_gateway", cdr.mappingGateway)
      .kv("routing_gateway", cdr.routingGateway)
      .kv("duration_ms", cdr.durationMs);
  cdrs_.submit(std::move(cdr));
}

void Switch::onStrayResponse(sip::MessagePtr response, const Flow& from) {
  const Message& r = *response;
  if (r.status() < 200 || r.status() >= 300 || r.cseq().method != Method::Invite) return;
  auto it = byTag_.find(std::string(r.from().tag()));
  if (it != byTag_.end()) {
    // Only the carrier leg's peer gets our ACK re-sent for its 2xx.
    if (from.remote.ip() == it->second->b().peerIp) it->second->onStray2xx(r);
    return;
  }
  // A 2xx for an INVITE nobody waits for any more (an attempt abandoned
  // after setup_timeout, then answered): ACK it and hang up, or the carrier
  // keeps a call nobody is on. Only for carriers: a spoofed 2xx must not
  // make us send requests to arbitrary addresses.
  if (!snapshot_ || !snapshot_->routes.isCarrierAddress(from.remote.ip())) return;
  ++stats_.unwanted2xxHungUp;
  std::string target = firstContactUri(r);
  if (target.empty()) target = "sip:" + from.remote.toString();
  std::vector<std::string> routes = recordRoutes(r, true);
  const std::string host = localHostPort(from.local);
  const std::string proto(transport::protocolName(from.protocol));
  auto build = [&](std::string_view method, uint32_t cseq, const std::string& branch) {
    sip::MessageWriter w(512);
    w.requestLine(method, target);
    w.header("Via", "SIP/2.0/" + proto + " " + host + ";branch=" + branch + ";rport");
    for (const std::string& route : routes) w.header("Route", route);
    w.header("Max-Forwards", "70");
    w.header(*r.header(HeaderId::From));
    w.header(*r.header(HeaderId::To));
    w.header("Call-ID", r.callId());
    w.header("CSeq", std::to_string(cseq) + " " + std::string(method));
    return w.finish();
  };
  txns_.sendRaw(from, build("ACK", r.cseq().number, txns_.newBranch()));
  txn::OutgoingRequest bye;
  bye.method = Method::Bye;
  bye.branch = txns_.newBranch();
  bye.bytes = build("BYE", r.cseq().number + 1, bye.branch);
  bye.requestUri = target;
  bye.callId = std::string(r.callId());
  bye.cseq = r.cseq().number + 1;
  txns_.sendRequest(std::move(bye), from, nullptr);
  log::info("call.unwanted_2xx_hung_up")
      .kv("source", from.remote.toString())
      .kv("call_id", r.callId());
}

void Switch::onMalformed(const Flow& from, std::string_view raw, const sip::ParseError& error) {
  const Source src = identify(from);
  const bool known = src.kind == SourceKind::Mapping || src.kind == SourceKind::Carrier;
  if (!known || error.status == 0 || !error.isRequest) {
    ++stats_.malformedDropped;
    log::debug("sip.malformed_dropped")
        .kv("source", from.remote.toString())
        .kv("why", error.detail);
    return;
  }
  std::string bytes =
      sip::makeErrorResponse(raw, error.status, sip::reasonPhrase(error.status), newTag());
  if (bytes.empty()) {
    ++stats_.malformedDropped;
    return;
  }
  ++stats_.malformedAnswered;
  log::info("sip.malformed")
      .kv("source", from.remote.toString())
      .kv("status", error.status)
      .kv("why", error.detail);
  txns_.sendRaw(from, bytes);
  if (raw.substr(0, 7) == "INVITE " && src.kind == SourceKind::Mapping) {
    Cdr cdr;
    cdr.startUs = cdr.endUs = clock_.wallMicros();
    cdr.sourceAddress = from.remote.toString();
    cdr.transport = std::string(transport::protocolParam(from.protocol));
    cdr.mappingGateway = src.gateway->name;
    cdr.finalCode = error.status;
    cdr.reason =
        error.status == 483 ? TerminationReason::TooManyHops : TerminationReason::BadRequest;
    ++stats_.callsFailed;
    submitCdr(std::move(cdr));
  }
}

void Switch::onCancel(TxnId invite) {
  if (auto it = byAInvite_.find(invite); it != byAInvite_.end()) it->second->onCallerCancel();
}

void Switch::onAckTimeout(TxnId invite) {
  if (auto it = byAInvite_.find(invite); it != byAInvite_.end()) it->second->onAckTimeout();
}

void Switch::registerTag(const std::string& tag, Call* call) {
  byTag_[tag] = call;
}

void Switch::unregisterTag(const std::string& tag) {
  if (!tag.empty()) byTag_.erase(tag);
}

void Switch::finishCall(Call* call) {
  unregisterTag(call->a().localTag);
  unregisterTag(call->b().localTag);
  byAInvite_.erase(call->aInvite());
  auto it = calls_.find(call->id());
  if (it != calls_.end()) {
    if (occupancy_) occupancy_->closed(OccupancyKind::Dialog, call->source);
    deadCalls_.push_back(std::move(it->second));
    calls_.erase(it);
  }
  stats_.activeCalls = calls_.size();
}

std::string Switch::localHostPort(transport::ListenerId listener) const {
  const transport::Listener* l = txns_.transport().listener(listener);
  uint16_t port = l ? l->address.port() : 5060;
  if (!config_.advertisedAddress.empty()) {
    // "host", "host:port", "[v6]" or "[v6]:port"
    const std::string& a = config_.advertisedAddress;
    bool hasPort = a.front() == '[' ? a.find("]:") != std::string::npos
                                    : std::count(a.begin(), a.end(), ':') == 1;
    return hasPort ? a : a + ":" + std::to_string(port);
  }
  return l ? l->address.toString() : "127.0.0.1:5060";
}

std::string Switch::contactFor(const Flow& flow) const {
  std::string c = "<sip:" + localHostPort(flow.local);
  c += transportParam(flow.protocol);
  c += '>';
  return c;
}

}  // namespace tollgate::call
