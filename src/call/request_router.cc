// The request router. See request_router.h.
#include "call/request_router.h"

#include <algorithm>
#include <tuple>

#include "call/cdr_recorder.h"
#include "call/dialog_fields.h"
#include "call/local_address.h"
#include "cluster/shared_limits.h"
#include "common/log.h"
#include "sip/limits.h"
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

// The CDR reason of a call policy refusal (admission/call_policy.h).
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

RequestRouter::RequestRouter(CallServices& services, CallRegistry& calls,
                             auth::DigestAuthenticator& auth,
                             registrar::OutboundRegistrations& outbound)
    : s_(services), calls_(calls), auth_(auth), outbound_(outbound) {
  s_.forwarding.forwarding = true;
  localPolicy_.forwarding = false;
  refusalLog_.configure(kRefusalLogsPerSecond, kRefusalLogBurst, s_.clock.now());
  s_.txns.setUser(this);
}

RequestRouter::~RequestRouter() {
  s_.txns.setUser(nullptr);
}

void RequestRouter::setSnapshot(std::shared_ptr<const Snapshot> snapshot) {
  s_.snapshot = std::move(snapshot);
  if (!s_.snapshot) return;
  s_.policy.setSnapshot(s_.snapshot->policy, s_.loop.now());
  s_.carriers.configure(s_.snapshot->routes);
  for (const std::string& name : s_.snapshot->accounts.realmMismatches()) {
    // Its HA1 was computed for another sip.domain: it cannot authenticate
    // until its provisioning is imported again.
    log::warn("auth.realm_mismatch").kv("gateway", name).kv("realm", auth_.settings().realm);
  }
  const admission::AccountTable& accounts = s_.snapshot->accounts;
  s_.registrar.retainAccounts(
      [&accounts](std::string_view user) { return accounts.byUsername(user); });
  outbound_.configure(s_.snapshot->carrierRegistrations);
  s_.cdrs.setGateways(s_.snapshot->mappingNames, s_.snapshot->routingNames);
}

void RequestRouter::onConnectionClosed(transport::ConnectionId id) {
  s_.registrar.onConnectionClosed(id);
}

RequestRouter::Source RequestRouter::identify(const net::SockAddr& from) const {
  if (!s_.snapshot) return {};
  admission::Identification id = s_.snapshot->matcher.identify(from);
  if (id.kind == admission::Identification::Matched) return {SourceKind::Mapping, id.gateway};
  const bool portMismatch = id.kind == admission::Identification::PortMismatch;
  // A carrier's address is a known peer (OPTIONS, in-dialog requests) even
  // when an ip_port gateway shares its IP; the mismatch is kept so an INVITE
  // from it is still recorded as port_mismatch.
  if (s_.snapshot->routes.isCarrierAddress(from.ip())) {
    return {SourceKind::Carrier, portMismatch ? id.gateway : nullptr, portMismatch};
  }
  if (portMismatch) return {SourceKind::PortMismatch, id.gateway, true};
  return {};
}

RequestRouter::Source RequestRouter::identify(const Flow& from) const {
  // A verified client certificate names a tls_cert gateway; else the address.
  if (s_.snapshot && from.protocol == transport::Protocol::Tls && from.connection != 0 &&
      s_.snapshot->accounts.hasCertificateGateways()) {
    if (const auto* names = s_.txns.transport().peerCertificateNames(from.connection)) {
      if (const admission::GatewayInfo* g =
              s_.snapshot->accounts.byCertificate(*names, from.remote.ip())) {
        return {SourceKind::Mapping, g};
      }
    }
  }
  return identify(from.remote);
}

void RequestRouter::onRequest(sip::MessagePtr request, const Flow& from) {
  const Method m = request->method();
  const bool hasToTag = !request->to().tag().empty();

  if (m == Method::Ack) {
    // ACK for a 2xx (the transaction layer absorbed the rest).
    if (hasToTag) {
      if (CallRegistry::TagMatch t = calls_.byTag(request->to().tag()); t.call) {
        Call* c = t.call;
        Side side = t.side;
        const Leg& l = side == Side::A ? c->a() : c->b();
        if (request->callId() != l.callId || request->from().tag() != l.remoteTag) return;
        if (fromLegPeer(l, *request, from) != PeerCheck::Peer) {
          ++s_.stats.ackForeign;
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

  if (m != Method::Cancel && request->header(registrar::kPeerHeader) != nullptr) {
    onPeerRequest(std::move(request), from);
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
  if (s_.snapshot && s_.snapshot->accounts.hasPasswordGateways() && m != Method::Cancel &&
      (m == Method::Register || hasOurCredentials(*request, auth_.settings().realm) ||
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
    s_.cdrs.countMappingAttempt(src.gateway->name);
  }
  if (m == Method::Cancel) {
    // §9.2: a CANCEL for no transaction we know.
    s_.txns.respondStateless(*request, from, 481, "", s_.newTag());
    return;
  }
  admitted(std::move(request), from, src);
}

void RequestRouter::admitted(sip::MessagePtr request, const Flow& from, const Source& src) {
  const Method m = request->method();
  const sip::CheckPolicy& policy = m == Method::Invite ? s_.forwarding : localPolicy_;
  sip::CheckFailure f = sip::checkRequest(*request, policy);
  if (f.status != 0) {
    std::vector<sip::ExtraHeader> extra;
    for (auto& [name, value] : f.headers) extra.push_back({name, value});
    if (m == Method::Invite) {
      ++s_.stats.invitesReceived;
      TerminationReason why =
          f.status == 483 ? TerminationReason::TooManyHops : TerminationReason::BadRequest;
      s_.cdrs.reject(*request, from, src.gateway ? src.gateway->name : "", f.status, why);
    }
    TxnId id = s_.txns.createServer(std::move(request), from);
    s_.txns.respond(id, f.status, f.reason, s_.newTag(), extra);
    return;
  }

  switch (m) {
    case Method::Invite:
      onNewInvite(std::move(request), from, src);
      return;
    case Method::Options: {
      ++s_.stats.optionsAnswered;
      TxnId id = s_.txns.createServer(std::move(request), from);
      std::vector<sip::ExtraHeader> extra = {{"Allow", s_.forwarding.allow},
                                             {"Accept", "application/sdp"}};
      if (!s_.settings.userAgent.empty()) extra.push_back({"Server", s_.settings.userAgent});
      s_.txns.respond(id, 200, "OK", s_.newTag(), extra);
      return;
    }
    default: {
      // BYE, UPDATE, INFO, PRACK... outside a dialog.
      ++s_.stats.noDialog;
      TxnId id = s_.txns.createServer(std::move(request), from);
      s_.txns.respond(id, 481, "Call/Transaction Does Not Exist", s_.newTag());
      return;
    }
  }
}

void RequestRouter::admitByDigest(sip::MessagePtr request, const Flow& from) {
  const auth::AuthResult r =
      auth_.check(*request, from.remote.ip(), s_.loop.now(), s_.snapshot->accounts);
  switch (r.kind) {
    case auth::AuthResult::Kind::Authenticated: {
      const admission::GatewayInfo& gw = s_.snapshot->accounts.gatewayOf(*r.account);
      // The shield knows gateways by address; a password customer is known
      // only now (shield/trust_sink.h). Every success extends the vouch.
      if (trustSink_) trustSink_->vouch(from.remote.ip(), s_.registrar.settings().maxExpires);
      if (sharedRetry_) sharedRetry_->onSuccess(r.username, from.remote.ip());
      if (request->method() == Method::Register) {
        onRegister(std::move(request), from, gw);
        return;
      }
      admitted(std::move(request), from, Source{SourceKind::Mapping, &gw});
      return;
    }
    case auth::AuthResult::Kind::Challenge:
    case auth::AuthResult::Kind::Suspended:
      if (r.failed && sharedRetry_ && sharedRetry_->available()) {
        answerFailureWhenCounted(std::move(request), from, r);
        return;
      }
      // failed: this request's wrong credentials reached the limit, so the
      // suspension is new.
      answerFailure(*request, from, r, r.kind == auth::AuthResult::Kind::Suspended, r.failed);
      return;
  }
}

void RequestRouter::answerFailureWhenCounted(sip::MessagePtr request, const Flow& from,
                                             const auth::AuthResult& r) {
  // r.username views the request: kept alive with it until the verdict.
  auto held = std::make_shared<sip::MessagePtr>(std::move(request));
  sharedRetry_->countFailure(
      r.username, from.remote.ip(), [this, held, from, r](auth::SharedRetryCounter::Verdict v) {
        using V = auth::SharedRetryCounter::Verdict;
        const bool localSuspended = r.kind == auth::AuthResult::Kind::Suspended;
        // The local count is part of the shared one; either suspends.
        const bool suspended = localSuspended || v == V::Suspended || v == V::NewSuspension;
        const bool isNew = (localSuspended && r.failed) || v == V::NewSuspension;
        answerFailure(**held, from, r, suspended, isNew);
      });
}

void RequestRouter::answerFailure(const Message& request, const Flow& from,
                                  const auth::AuthResult& r, bool suspended, bool newSuspension) {
  if (!suspended) {
    sendChallenge(request, from, r);
    return;
  }
  // A new suspension also bans the address in the shield (one ban list),
  // which drops the guesser before parsing from now on.
  if (newSuspension) reportSuspension(r.username, from);
  dropSuspended(request, from);
}

void RequestRouter::reportSuspension(std::string_view username, const Flow& from) {
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
    ++s_.stats.authBansPlaced;
  } else {
    ++s_.stats.authBansRefused;  // trusted source, auto_ban off or table full: auth alone acts
  }
}

void RequestRouter::sendChallenge(const Message& request, const Flow& from,
                                  const auth::AuthResult& r) {
  // The challenge type: the gateway's own, when the request names one that
  // has it (a difference tells a prober the name exists: documented), else
  // the node's. 401 is the registrar's challenge, 407 the proxy's.
  admission::ChallengeMode mode = s_.settings.challenge;
  const std::vector<auth::Algorithm>* algorithms = nullptr;
  if (!r.username.empty()) {
    const admission::GatewayInfo* g = s_.snapshot->accounts.byUsername(r.username);
    if (g && g->hasChallenge) mode = g->challenge;
    if (g && !g->digestAlgorithms.empty()) algorithms = &g->digestAlgorithms;
  }
  const bool www = mode == admission::ChallengeMode::Www401 ||
                   (mode == admission::ChallengeMode::Both && request.method() == Method::Register);
  const int code = www ? 401 : 407;
  std::vector<std::string> values;
  auth_.challenges(from.remote.ip(), s_.loop.now(), r.stale, values, algorithms);
  std::vector<sip::ExtraHeader> extra;
  for (const std::string& v : values) {
    extra.push_back({www ? "WWW-Authenticate" : "Proxy-Authenticate", v});
  }
  if (!s_.settings.userAgent.empty()) extra.push_back({"Server", s_.settings.userAgent});
  ++s_.stats.challengesSent;
  // Stateless (RFC 3261 §8.2.6, as proxies do for challenges): an
  // unauthenticated request costs no transaction state; a retransmission
  // just gets another challenge.
  s_.txns.respondStateless(request, from, code, "", s_.newTag(), extra);
  if (r.failed) {
    log::debug("auth.failed")
        .kv("reason", r.uriMismatch ? "uri_mismatch" : "bad_credentials")
        .kv("username", r.username)
        .kv("source", from.remote.toString())
        .kv("method", request.methodName());
    if (request.method() == Method::Invite && s_.cdrs.recordsIllegalCalls()) {
      // Wrong credentials on a call attempt: recorded like an illegal call.
      ++s_.stats.invitesReceived;
      s_.cdrs.illegalCall(request, from, code, TerminationReason::AuthFailed);
    }
  }
}

void RequestRouter::dropSuspended(const Message& request, const Flow& from) {
  // No useful answer: nothing, or 403 as for unknown sources.
  ++s_.stats.suspendedDropped;
  const bool answer = s_.settings.unknownSource == UnknownSourcePolicy::Reject403;
  if (request.method() == Method::Invite && s_.cdrs.recordsIllegalCalls()) {
    ++s_.stats.invitesReceived;
    s_.cdrs.illegalCall(request, from, answer ? 403 : 0, TerminationReason::AuthFailed);
  }
  if (answer) {
    s_.txns.respondStateless(request, from, 403, "Forbidden", s_.newTag());
  } else {
    closeUnwanted(from);
  }
}

void RequestRouter::onRegister(sip::MessagePtr request, const Flow& from,
                               const admission::GatewayInfo& account) {
  if (!account.registers) {
    // Authenticated, but the account is not a dynamic gateway: tell it
    // plainly instead of pretending to keep a binding calls never use.
    ++s_.stats.registersRefused;
    s_.txns.respondStateless(*request, from, 403, "Forbidden", s_.newTag(),
                             {{"Warning", "399 tollgate \"account does not register\""}});
    return;
  }
  TxnId id = s_.txns.createServer(std::move(request), from);
  s_.registrar.onRegister(id, *s_.txns.serverRequest(id), from, account);
}

void RequestRouter::closeUnwanted(const Flow& from) {
  if (!transport::isStream(from.protocol) || from.connection == 0) return;
  ++s_.stats.unwantedStreamsClosed;
  s_.txns.transport().closeConnection(from.connection, s_.settings.tcpCloseReset);
}

void RequestRouter::onNewInvite(sip::MessagePtr request, const Flow& from, const Source& src) {
  ++s_.stats.invitesReceived;
  if (draining_) {
    s_.cdrs.reject(*request, from, src.gateway->name, 503, TerminationReason::Draining);
    TxnId id = s_.txns.createServer(std::move(request), from);
    s_.txns.respond(id, 503, "Service Unavailable", s_.newTag(), {{"Retry-After", "30"}});
    return;
  }
  // Call policy: number lists, dynamic blacklist, channel and
  // rate limits, fraud thresholds. A refused call is answered and has its
  // CDR here; an admitted one carries its ticket until it ends.
  CallNumbers numbers = callNumbers(*request, src.gateway->name);
  if (!numbers.calleeDialable && !s_.snapshot->registeredAccount(*request, numbers.callee)) {
    // Not a number after normalisation (letters, bad escapes, too long):
    // no rule can judge it, so no carrier may get it.
    const int code = s_.settings.numbers.invalidCode;
    refusalLogLine(reasonName(TerminationReason::InvalidNumber), request->callId(), code, "",
                   src.gateway->name, numbers);
    s_.cdrs.reject(*request, from, src.gateway->name, code, TerminationReason::InvalidNumber,
                   &numbers);
    TxnId id = s_.txns.createServer(std::move(request), from);
    s_.txns.respond(id, code, "", s_.newTag());
    return;
  }
  admission::CallTicket ticket;
  if (!admitByPolicy(request, from, src.gateway->name, numbers, &ticket)) return;
  TxnId id = s_.txns.createServer(std::move(request), from);
  const Message& req = *s_.txns.serverRequest(id);
  Call& call = calls_.open(std::move(ticket), from.remote.ip());
  call.start(id, req, from, *src.gateway, std::move(numbers));
}

void RequestRouter::onPeerRequest(sip::MessagePtr request, const Flow& from) {
  using registrar::PeerVerdict;
  static_assert(registrar::kPeerVerdictCount ==
                std::tuple_size_v<decltype(CallStats::peerRefused)>);
  const Message& req = *request;
  // The account: the Request-URI's user, as the sending node wrote it.
  std::string_view user = calleeOf(req);
  const std::string username = sip::unescape(user.substr(0, user.find(';')));
  std::string node;
  // Only an INVITE is ever sent between nodes; a single node has no peers.
  PeerVerdict v = PeerVerdict::NotPeer;
  if (s_.peers != nullptr && req.method() == Method::Invite && s_.snapshot) {
    v = s_.peers->verify(from.remote, req.header(registrar::kPeerHeader)->value, req.callId(),
                         req.from().tag(), username, &node);
  }
  if (v != PeerVerdict::Authentic) {
    refusePeer(std::move(request), from, v);
    return;
  }
  ++s_.stats.peerInvitesIn;
  ++s_.stats.invitesReceived;
  const std::string gateway = "peer:" + node;
  sip::CheckFailure f = sip::checkRequest(req, s_.forwarding);
  if (f.status != 0 || draining_) {
    const int code = f.status != 0 ? f.status : 503;
    const TerminationReason why = f.status == 0     ? TerminationReason::Draining
                                  : f.status == 483 ? TerminationReason::TooManyHops
                                                    : TerminationReason::BadRequest;
    std::vector<sip::ExtraHeader> extra;
    for (auto& [name, value] : f.headers) extra.push_back({name, value});
    s_.cdrs.reject(req, from, gateway, code, why);
    TxnId id = s_.txns.createServer(std::move(request), from);
    s_.txns.respond(id, code, f.status != 0 ? f.reason : "Service Unavailable", s_.newTag(), extra);
    return;
  }
  // Peer traffic delivers to registered accounts only: never to a carrier.
  const admission::GatewayInfo* account = s_.snapshot->accounts.byUsername(username);
  if (account == nullptr || !account->registers || s_.registrar.reachable(username).empty()) {
    // The binding went (or moved) since the sending node read Redis: it
    // tries the next owner, or answers its caller 480.
    ++s_.stats.peerInvitesNoBinding;
    s_.cdrs.reject(req, from, gateway, 480, TerminationReason::CalleeOffline);
    TxnId id = s_.txns.createServer(std::move(request), from);
    s_.txns.respond(id, 480, "Temporarily Unavailable", s_.newTag());
    return;
  }
  CallNumbers numbers = callNumbers(req, gateway);
  TxnId id = s_.txns.createServer(std::move(request), from);
  Call& call = calls_.open(admission::CallTicket{}, from.remote.ip());
  call.startPeerTransit(id, *s_.txns.serverRequest(id), from, node, std::move(numbers));
}

void RequestRouter::refusePeer(sip::MessagePtr request, const Flow& from,
                               registrar::PeerVerdict verdict) {
  // A forged, replayed or misdirected peer header: 403, counted by verdict,
  // logged at the refusal log's rate, an illegal-call CDR for an INVITE.
  // The request is never processed as a customer's either: a header only
  // our nodes may send says someone is probing the cluster.
  ++s_.stats.peerRefused[static_cast<size_t>(verdict)];
  const Message& req = *request;
  if (refusalLog_.available(s_.loop.now())) {
    refusalLog_.take();
    log::warn("cluster.peer_refused")
        .kv("verdict", registrar::peerVerdictName(verdict))
        .kv("method", req.methodName())
        .kv("call_id", req.callId())
        .kv("source", from.remote.toString())
        .kv("not_logged_before", refusalLogsSuppressed_);
    refusalLogsSuppressed_ = 0;
  } else {
    ++refusalLogsSuppressed_;
  }
  if (req.method() == Method::Invite && s_.cdrs.recordsIllegalCalls()) {
    ++s_.stats.invitesReceived;
    s_.cdrs.illegalCall(req, from, 403, TerminationReason::AuthFailed);
  }
  if (req.method() != Method::Ack) {
    s_.txns.respondStateless(req, from, 403, "Forbidden", s_.newTag());
  }
}

CallNumbers RequestRouter::callNumbers(const Message& request, std::string_view gateway) const {
  CallNumbers n = normalizedNumbers(request, s_.settings.numbers);
  // Every other caller number the carrier will see (an identity header of a
  // gateway trusted to assert it, or the gateway's asserted identity) must
  // pass the same checks as the From number.
  std::shared_ptr<const PeerSignalling> sig = s_.snapshot->mappingSignalling(gateway);
  if (sig->trustIdentity) {
    for (const sip::Header& h : request.headers()) {
      if (!sip::isBillingIdentity(h)) continue;
      for (std::string_view user : sip::identityUsers(h.value)) {
        std::string number = admission::normalizeNumber(user, s_.settings.numbers).canonical;
        if (number != n.caller) n.identities.push_back(std::move(number));
      }
    }
  }
  if (!sig->assertedIdentity.empty()) {
    std::string number =
        admission::normalizeNumber(sig->assertedIdentity, s_.settings.numbers).canonical;
    if (number != n.caller) n.identities.push_back(std::move(number));
  }
  return n;
}

bool RequestRouter::admitByPolicy(sip::MessagePtr& request, const Flow& from,
                                  const std::string& gateway, const CallNumbers& numbers,
                                  admission::CallTicket* ticket) {
  const std::string& caller = numbers.caller;
  const std::string& callee = numbers.callee;
  listings_.clear();
  admission::PolicyDecision d =
      s_.policy.admit(gateway, caller, callee, s_.loop.now(), s_.clock.wallMicros(), ticket,
                      &listings_, numbers.identities);
  if (d.refusal == admission::Refusal::None) {
    calls_.applyListings(listings_);
    return true;
  }
  const TerminationReason why = reasonOf(d.refusal);
  if (s_.sharedLimits != nullptr && !s_.sharedLimits->shared() &&
      (d.refusal == admission::Refusal::CpsLimit ||
       d.refusal == admission::Refusal::ConcurrentLimit)) {
    s_.sharedLimits->countFallback(false);  // refused on this node's share (local_share)
  }
  refusalLogLine(reasonName(why), request->callId(), d.code, d.by, gateway, numbers);
  s_.cdrs.reject(*request, from, gateway, d.code, why, &numbers);
  TxnId id = s_.txns.createServer(std::move(request), from);
  std::string retryAfter = std::to_string(d.retryAfterS);
  std::vector<sip::ExtraHeader> extra;
  if (d.retryAfterS > 0) extra.push_back({"Retry-After", retryAfter});
  s_.txns.respond(id, d.code, "", s_.newTag(), extra);
  calls_.applyListings(listings_);
  return false;
}

void RequestRouter::onInDialog(sip::MessagePtr request, const Flow& from) {
  CallRegistry::TagMatch t = calls_.byTag(request->to().tag());
  Call* c = t.call;
  const Side side = t.side;
  if (c) {
    const Leg& l = side == Side::A ? c->a() : c->b();
    // §12.2.2: the dialog is Call-ID, our tag and the peer's tag.
    if (request->callId() != l.callId || request->from().tag() != l.remoteTag) c = nullptr;
  }
  if (!c) {
    ++s_.stats.noDialog;
    const Source src = identify(from);
    if (src.kind == SourceKind::Mapping || src.kind == SourceKind::Carrier) {
      s_.txns.respondStateless(*request, from, 481, "Call/Transaction Does Not Exist", "");
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
      ++s_.stats.inDialogChallenged;
      return;
    case PeerCheck::Foreign:
      ++s_.stats.inDialogForeign;
      dropForeign(*request, from);
      return;
  }
}

RequestRouter::PeerCheck RequestRouter::fromLegPeer(const Leg& leg, const Message& request,
                                                    const Flow& from) {
  // RFC 3261 binds a dialog to its Call-ID and tags only, which travel in
  // clear: an SBC must also bind it to the peer, or anyone who learns them
  // can end the call or redirect its media with a re-INVITE.
  if (from.remote.ip() == leg.peerIp && (leg.peerPort == 0 || from.remote.port() == leg.peerPort)) {
    return PeerCheck::Peer;
  }
  if (leg.peerGateway.empty() || !s_.snapshot) return PeerCheck::Foreign;
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
      auth_.check(request, from.remote.ip(), s_.loop.now(), s_.snapshot->accounts);
  switch (r.kind) {
    case auth::AuthResult::Kind::Authenticated:
      return s_.snapshot->accounts.gatewayOf(*r.account).name == leg.peerGateway
                 ? PeerCheck::Peer
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

void RequestRouter::dropForeign(const Message& request, const Flow& from) {
  // Dropped without an answer: a prober learns nothing, and the other leg
  // never sees it. Logged at the refusal log's rate.
  if (refusalLog_.available(s_.loop.now())) {
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

void RequestRouter::rejectUnknown(const Message& request, const Flow& from, const Source& src) {
  const bool answer = s_.settings.unknownSource == UnknownSourcePolicy::Reject403;
  if (answer) {
    ++s_.stats.unknownSourceRejected;
  } else {
    ++s_.stats.unknownSourceDropped;
  }
  if (request.method() == Method::Invite && s_.cdrs.recordsIllegalCalls()) {
    s_.cdrs.illegalCall(
        request, from, answer ? 403 : 0,
        src.portMismatch ? TerminationReason::PortMismatch : TerminationReason::UnknownSource);
  }
  if (answer) {
    s_.txns.respondStateless(request, from, 403, "Forbidden", s_.newTag());
  } else {
    closeUnwanted(from);
  }
}

void RequestRouter::refusalLogLine(std::string_view reason, std::string_view callId, int code,
                                   std::string_view by, std::string_view gateway,
                                   const CallNumbers& numbers) {
  // A customer flooding over its limits must not flood the log too (every
  // refusal still has its CDR and counter).
  if (!refusalLog_.available(s_.loop.now())) {
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

void RequestRouter::onStrayResponse(sip::MessagePtr response, const Flow& from) {
  const Message& r = *response;
  if (r.status() < 200 || r.status() >= 300 || r.cseq().method != Method::Invite) return;
  if (Call* c = calls_.byTag(r.from().tag()).call) {
    // Only the carrier leg's peer gets our ACK re-sent for its 2xx.
    if (from.remote.ip() == c->b().peerIp) c->onStray2xx(r);
    return;
  }
  // A 2xx for an INVITE nobody waits for any more (an attempt abandoned
  // after setup_timeout, then answered): ACK it and hang up, or the carrier
  // keeps a call nobody is on. Only for carriers: a spoofed 2xx must not
  // make us send requests to arbitrary addresses.
  if (!s_.snapshot || !s_.snapshot->routes.isCarrierAddress(from.remote.ip())) return;
  ++s_.stats.unwanted2xxHungUp;
  std::string target = firstContactUri(r);
  if (target.empty()) target = "sip:" + from.remote.toString();
  std::vector<std::string> routes = recordRoutes(r, true);
  const std::string host = s_.local.hostPort(from.local);
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
  s_.txns.sendRaw(from, build("ACK", r.cseq().number, s_.txns.newBranch()));
  txn::OutgoingRequest bye;
  bye.method = Method::Bye;
  bye.branch = s_.txns.newBranch();
  bye.bytes = build("BYE", r.cseq().number + 1, bye.branch);
  bye.requestUri = target;
  bye.callId = std::string(r.callId());
  bye.cseq = r.cseq().number + 1;
  s_.txns.sendRequest(std::move(bye), from, nullptr);
  log::info("call.unwanted_2xx_hung_up")
      .kv("source", from.remote.toString())
      .kv("call_id", r.callId());
}

void RequestRouter::onMalformed(const Flow& from, std::string_view raw,
                                const sip::ParseError& error) {
  const Source src = identify(from);
  const bool known = src.kind == SourceKind::Mapping || src.kind == SourceKind::Carrier;
  if (!known || error.status == 0 || !error.isRequest) {
    ++s_.stats.malformedDropped;
    log::debug("sip.malformed_dropped")
        .kv("source", from.remote.toString())
        .kv("why", error.detail);
    return;
  }
  std::string bytes =
      sip::makeErrorResponse(raw, error.status, sip::reasonPhrase(error.status), s_.newTag());
  if (bytes.empty()) {
    ++s_.stats.malformedDropped;
    return;
  }
  ++s_.stats.malformedAnswered;
  log::info("sip.malformed")
      .kv("source", from.remote.toString())
      .kv("status", error.status)
      .kv("why", error.detail);
  s_.txns.sendRaw(from, bytes);
  if (raw.substr(0, 7) == "INVITE " && src.kind == SourceKind::Mapping) {
    s_.cdrs.malformedInvite(from, src.gateway->name, error.status);
  }
}

void RequestRouter::onCancel(TxnId invite) {
  if (Call* c = calls_.byInvite(invite)) c->onCallerCancel();
}

void RequestRouter::onAckTimeout(TxnId invite) {
  if (Call* c = calls_.byInvite(invite)) c->onAckTimeout();
}

}  // namespace tollgate::call
