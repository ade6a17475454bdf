// RFC 3261 §17 transaction state machines. See transaction_layer.h.
#include "txn/transaction_layer.h"

#include <algorithm>

#include "common/ascii.h"
#include "common/log.h"
#include "sip/overload_control.h"

namespace tollgate::txn {

using sip::Message;
using sip::Method;
using transport::Flow;

namespace {

constexpr std::string_view kMagicCookie = "z9hG4bK";

bool rfc3261Branch(std::string_view branch) {
  return branch.size() > kMagicCookie.size() &&
         branch.substr(0, kMagicCookie.size()) == kMagicCookie;
}

std::string_view stripBrackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace

struct TransactionLayer::ServerTxn {
  enum class State : uint8_t { Trying, Proceeding, Completed, Confirmed, Accepted, Terminated };
  TxnId id = 0;
  bool invite = false;
  State state = State::Trying;
  sip::MessagePtr request;
  Flow flow;                // where responses go
  net::IpAddress source;    // where the request came from (occupancy reports)
  std::string key;          // in serverByKey_
  std::string acceptedKey;  // in acceptedByDialog_ while a 2xx awaits its ACK
  std::string topVia;       // first Via with received/rport; "" = as received
  bool ocClient = false;    // its Via carried `oc` (RFC 7339) and feedback is on
  std::string lastResponse;
  int lastStatus = 0;
  Millis interval{0};
  Timer retransmit;  // G, or 2xx retransmission
  Timer lifetime;    // H, I, J, L
};

struct TransactionLayer::ClientTxn {
  enum class State : uint8_t { Calling, Proceeding, Completed, Accepted, Terminated };
  TxnId id = 0;
  bool invite = false;
  State state = State::Calling;  // "Trying" for non-INVITE
  OutgoingRequest request;
  Flow flow;
  std::string key;
  ClientCallbacks* cb = nullptr;
  Millis interval{0};
  Timer retransmit;  // A or E
  Timer timeout;     // B or F, then D / K / M; also the CANCEL guard
  bool cancelPending = false;
  bool cancelSent = false;
  bool transportFailed = false;
  std::string ackBytes;  // ACK for a non-2xx final, re-sent on retransmissions
};

namespace {
constexpr auto serverKeyOf = [](const auto& t) { return std::string_view(t.key); };
constexpr auto acceptedKeyOf = [](const auto& t) { return std::string_view(t.acceptedKey); };
constexpr auto clientKeyOf = [](const auto& t) { return std::string_view(t.key); };
}  // namespace

TransactionLayer::TransactionLayer(EventLoop& loop, transport::Transport& transport, Random& random,
                                   TimerSettings timers)
    : loop_(loop),
      transport_(transport),
      random_(random),
      timers_(timers),
      serverByKey_(random.next64(), 32768),
      acceptedByDialog_(random.next64(), 8192),
      clientByKey_(random.next64(), 32768) {
  // Finished transactions linger up to 32 s (Timers J, L, M), so at a few
  // thousand calls/s these tables hold 10^5 entries: start big enough that
  // the first minutes of load are not spent rehashing them.
  servers_.reserve(32768);
  clients_.reserve(32768);
  loop_.addFlushHook([this] { reap(); });
}

TransactionLayer::~TransactionLayer() = default;

std::string TransactionLayer::newBranch() {
  std::string b(kMagicCookie);
  b += random_.token(16);
  return b;
}

// ---------------------------------------------------------------------------
// Receiving

void TransactionLayer::onMessage(const Flow& from, std::string&& bytes) {
  auto parsed = Message::parse(std::move(bytes));
  if (!parsed.ok()) {
    ++stats_.malformed;
    // Message::parse leaves the bytes in place on failure.
    if (user_) user_->onMalformed(from, bytes, parsed.error());
    return;
  }
  sip::MessagePtr msg = std::move(parsed).value();
  if (msg->isRequest()) {
    onRequestMessage(std::move(msg), from);
  } else {
    onResponseMessage(std::move(msg), from);
  }
}

std::string TransactionLayer::serverKey(const Message& m, bool forCancelTarget) const {
  std::string_view cls;
  if (forCancelTarget || m.method() == Method::Ack) {
    cls = "INVITE";
  } else {
    cls = m.methodName();
  }
  const sip::Via& v = m.topVia();
  std::string key;
  if (rfc3261Branch(v.branch)) {
    // §17.2.3: branch + sent-by + method.
    key.reserve(v.branch.size() + v.host.size() + cls.size() + 12);
    key.append(v.branch).append("|").append(v.host).append(":");
    key.append(std::to_string(v.port)).append("|").append(cls);
  } else {
    // RFC 2543 fallback (§17.2.3 last paragraphs): Request-URI, From tag,
    // Call-ID, CSeq number and top Via identify the transaction.
    key.append("2543|").append(m.callId()).append("|").append(m.from().tag()).append("|");
    key.append(std::to_string(m.cseq().number)).append("|").append(v.text).append("|");
    key.append(m.requestUri().text).append("|").append(cls);
  }
  return key;
}

// The ACK and CANCEL of an INVITE come from where the INVITE came from:
// the same IP address (the port may differ: a UAC can open a new TCP
// connection, and some send CANCEL from another socket).
bool TransactionLayer::fromSource(const ServerTxn& t, const Flow& from) const {
  return from.remote.ip() == t.source;
}

std::string TransactionLayer::acceptedKey(std::string_view callId, uint32_t cseq,
                                          std::string_view fromTag) const {
  std::string k;
  k.reserve(callId.size() + fromTag.size() + 16);
  k.append(callId).append("|").append(std::to_string(cseq)).append("|").append(fromTag);
  return k;
}

void TransactionLayer::onRequestMessage(sip::MessagePtr msg, const Flow& from) {
  const Method method = msg->method();
  if (method == Method::Ack) {
    if (ServerTxn* found = serverByKey_.find(serverKey(*msg, false), serverKeyOf)) {
      ServerTxn& t = *found;
      if (!fromSource(t, from)) {
        ++stats_.foreignAcks;
        return;
      }
      if (t.state == ServerTxn::State::Completed) {
        // §17.2.1: ACK for our non-2xx final; absorb retransmissions for T4.
        t.state = ServerTxn::State::Confirmed;
        t.retransmit.cancel();
        TxnId id = t.id;
        t.lifetime.setCallback([this, id] {
          if (auto s = servers_.find(id); s != servers_.end()) serverTerminate(*s->second);
        });
        t.lifetime.start(loop_.timers(), reliable(t.flow) ? Millis(0) : timers_.t4);
        return;
      }
      if (t.state != ServerTxn::State::Accepted) {
        ++stats_.retransmissionsAbsorbed;
        return;
      }
      // An ACK for a 2xx reusing the INVITE branch (RFC 2543 style): treat
      // it as the 2xx ACK below.
    }
    auto akey = acceptedKey(msg->callId(), msg->cseq().number, msg->from().tag());
    if (ServerTxn* found = acceptedByDialog_.find(akey, acceptedKeyOf)) {
      ServerTxn& t = *found;
      if (!fromSource(t, from)) {
        // Only the INVITE's sender may confirm our 2xx; the TU decides what
        // an ACK from elsewhere is (it drops and counts it: in-dialog peers).
        if (user_) user_->onRequest(std::move(msg), from);
        return;
      }
      t.retransmit.cancel();  // §13.3.1.4: the ACK stops 2xx retransmission
      acceptedByDialog_.erase(t.acceptedKey, &t);
      t.acceptedKey.clear();
      // RFC 6026 §7.1: retransmitted INVITEs are now absorbed silently, so the
      // 2xx need not be kept for the rest of Timer L.
      std::string().swap(t.lastResponse);
    }
    if (user_) user_->onRequest(std::move(msg), from);
    return;
  }

  std::string key = serverKey(*msg, false);
  if (ServerTxn* found = serverByKey_.find(key, serverKeyOf)) {
    // A retransmission: answer from state, never bother the TU.
    ServerTxn& t = *found;
    ++stats_.retransmissionsAbsorbed;
    if (!t.lastResponse.empty() && t.state != ServerTxn::State::Confirmed) {
      (void)transport_.send(t.flow, t.lastResponse);
    }
    return;
  }

  if (method == Method::Cancel) {
    // §9.2: a CANCEL matches the INVITE server transaction by branch.
    if (ServerTxn* inviteTxn = serverByKey_.find(serverKey(*msg, true), serverKeyOf)) {
      if (!fromSource(*inviteTxn, from)) {
        // §9.2 matches by branch alone, which anyone who saw the INVITE
        // knows: only its sender may cancel it. Dropped, never answered, so a
        // prober learns nothing.
        ++stats_.foreignCancels;
        return;
      }
      TxnId inviteId = inviteTxn->id;
      TxnId cancelId = createServer(std::move(msg), from);
      respond(cancelId, 200, "OK", "");
      ServerTxn& invite = *servers_.at(inviteId);
      if (invite.invite && invite.lastStatus < 200 && user_) user_->onCancel(inviteId);
      return;
    }
  }
  if (user_) user_->onRequest(std::move(msg), from);
}

void TransactionLayer::onResponseMessage(sip::MessagePtr msg, const Flow& from) {
  const sip::Via& via = msg->topVia();
  std::string key(via.branch);
  key += '|';
  key += msg->cseq().methodName;
  ClientTxn* found = clientByKey_.find(key, clientKeyOf);
  if (found == nullptr) {
    ++stats_.strayResponses;
    if (user_) user_->onStrayResponse(std::move(msg), from);
    return;
  }
  ClientTxn& t = *found;
  if (transport::isStream(t.flow.protocol) && from.connection != 0) {
    t.flow.connection = from.connection;
  }
  const int status = msg->status();
  using S = ClientTxn::State;
  TxnId id = t.id;

  if (t.invite) {
    switch (t.state) {
      case S::Calling:
      case S::Proceeding:
        if (status < 200) {
          t.state = S::Proceeding;
          t.retransmit.cancel();                  // §17.1.1.2: no more retransmissions
          if (!t.cancelSent) t.timeout.cancel();  // Timer B only runs in Calling
          if (t.cancelPending && !t.cancelSent) sendCancelNow(t);
        } else if (status < 300) {
          // RFC 6026 Accepted: further 2xx go to the TU, which ACKs each.
          finishedClients_.push_back(id);
          t.state = S::Accepted;
          t.retransmit.cancel();
          t.timeout.setCallback([this, id] {
            if (auto c = clients_.find(id); c != clients_.end()) clientTerminate(*c->second);
          });
          t.timeout.start(loop_.timers(), 64 * timers_.t1);  // Timer M
        } else {
          finishedClients_.push_back(id);
          t.state = S::Completed;
          t.retransmit.cancel();
          sendAckForNon2xx(t, *msg);
          t.timeout.setCallback([this, id] {
            if (auto c = clients_.find(id); c != clients_.end()) clientTerminate(*c->second);
          });
          // Timer D: 32 s over unreliable transports to absorb retransmitted finals.
          t.timeout.start(loop_.timers(), reliable(t.flow) ? Millis(0) : Millis(32000));
        }
        if (t.cb) {
          t.cb->onResponse(id, *msg);
        } else if (status >= 200 && status < 300 && user_) {
          // Nobody owns this INVITE any more (abandoned after a timeout): the
          // TU must still ACK and end the dialog the 2xx created.
          user_->onStrayResponse(std::move(msg), from);
        }
        return;
      case S::Accepted:
        if (status >= 200 && status < 300) {
          if (t.cb) {
            t.cb->onResponse(id, *msg);
          } else if (user_) {
            user_->onStrayResponse(std::move(msg), from);
          }
        }
        return;
      case S::Completed:
        if (status >= 300 && !t.ackBytes.empty()) (void)transport_.send(t.flow, t.ackBytes);
        return;
      case S::Terminated:
        return;
    }
    return;
  }

  switch (t.state) {
    case S::Calling:
    case S::Proceeding:
      if (status < 200) {
        t.state = S::Proceeding;
      } else {
        finishedClients_.push_back(id);
        t.state = S::Completed;
        t.retransmit.cancel();
        t.timeout.setCallback([this, id] {
          if (auto c = clients_.find(id); c != clients_.end()) clientTerminate(*c->second);
        });
        t.timeout.start(loop_.timers(), reliable(t.flow) ? Millis(0) : timers_.t4);  // Timer K
      }
      if (t.cb) t.cb->onResponse(id, *msg);
      return;
    default:
      return;  // Completed: absorb retransmitted finals
  }
}

// ---------------------------------------------------------------------------
// Server transactions

Flow TransactionLayer::responseFlow(const Message& request, const Flow& from) const {
  if (transport::isStream(from.protocol)) return from;  // §18.2.2: same connection
  Flow f = from;
  const sip::Via& v = request.topVia();
  if (!v.hasRport) {
    // §18.2.2 with "received" = the source IP: reply to the sent-by port.
    f.remote = net::SockAddr(from.remote.ip(), v.port ? v.port : 5060);
  }
  return f;
}

std::string TransactionLayer::viaWithReceived(const Message& request, const Flow& from) const {
  const sip::Via& v = request.topVia();
  auto hostIp = net::IpAddress::parse(stripBrackets(v.host));
  bool hostIsSource = hostIp && *hostIp == from.remote.ip();
  if (hostIsSource && !v.hasRport) return {};
  // Rebuild the via-parm without received/rport, then add ours
  // (§18.2.1 received; RFC 3581 §4 rport, which also requires received).
  std::string_view text = v.text;
  size_t semi = text.find(';');
  std::string out(text.substr(0, semi));
  while (semi != std::string_view::npos) {
    size_t next = text.find(';', semi + 1);
    std::string_view param =
        text.substr(semi + 1, next == std::string_view::npos ? next : next - semi - 1);
    std::string_view name = param.substr(0, param.find('='));
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    if (!ascii::iequals(name, "received") && !ascii::iequals(name, "rport")) {
      out += ';';
      out += param;
    }
    semi = next;
  }
  out += ";received=";
  out += from.remote.ip().toString();
  if (v.hasRport) {
    out += ";rport=";
    out += std::to_string(from.remote.port());
  }
  return out;
}

TxnId TransactionLayer::createServer(sip::MessagePtr request, const Flow& from) {
  auto t = std::make_unique<ServerTxn>();
  TxnId id = nextId_++;
  t->id = id;
  t->invite = request->method() == Method::Invite;
  t->state = t->invite ? ServerTxn::State::Proceeding : ServerTxn::State::Trying;
  t->key = serverKey(*request, false);
  t->flow = responseFlow(*request, from);
  t->topVia = viaWithReceived(*request, from);
  t->ocClient = viaFeedback_ != nullptr && sip::viaSupportsOc(request->topVia().text);
  t->source = from.remote.ip();
  t->request = std::move(request);
  serverByKey_.assign(t->key, t.get(), serverKeyOf);
  ServerTxn& ref = *t;
  servers_.emplace(id, std::move(t));
  ++stats_.serverCreated;
  if (occupancy_) occupancy_->opened(OccupancyKind::Transaction, ref.source);
  if (ref.invite) {
    // §17.2.1: 100 Trying at once, so the client stops retransmitting.
    std::string trying =
        sip::makeResponse(*ref.request, 100, "Trying", "", {}, {}, responseVia(ref));
    ref.lastStatus = 100;
    serverSend(ref, std::move(trying));
  }
  return id;
}

// Null once the transaction's final response went out and its loop turn
// ended (reap() frees the request then).
const Message* TransactionLayer::serverRequest(TxnId id) const {
  auto it = servers_.find(id);
  return it == servers_.end() ? nullptr : it->second->request.get();
}

const Flow* TransactionLayer::serverFlow(TxnId id) const {
  auto it = servers_.find(id);
  return it == servers_.end() ? nullptr : &it->second->flow;
}

bool TransactionLayer::serverHasFinal(TxnId id) const {
  auto it = servers_.find(id);
  return it == servers_.end() || it->second->lastStatus >= 200;
}

std::string TransactionLayer::responseVia(const ServerTxn& t) const {
  if (!t.ocClient) return t.topVia;
  std::string params = viaFeedback_->viaParams(t.source);
  if (params.empty()) return t.topVia;
  return sip::withTopViaParams(t.topVia.empty() ? t.request->topVia().text : t.topVia, params);
}

void TransactionLayer::serverSend(ServerTxn& t, std::string&& bytes) {
  (void)transport_.send(t.flow, bytes);
  t.lastResponse = std::move(bytes);
}

bool TransactionLayer::respond(TxnId id, int status, std::string_view reason,
                               std::string_view toTag, const std::vector<sip::ExtraHeader>& extra,
                               std::string_view body) {
  auto it = servers_.find(id);
  if (it == servers_.end()) return false;
  ServerTxn& t = *it->second;
  if (t.lastStatus >= 200 || t.state == ServerTxn::State::Terminated) return false;
  std::string bytes =
      sip::makeResponse(*t.request, status, reason, toTag, extra, body, responseVia(t));
  t.lastStatus = status;
  using S = ServerTxn::State;
  const bool unreliable = !reliable(t.flow);

  if (status < 200) {
    if (!t.invite) t.state = S::Proceeding;
    serverSend(t, std::move(bytes));
    return true;
  }
  serverSend(t, std::move(bytes));
  finishedServers_.push_back(id);

  if (t.invite && status < 300) {
    // RFC 6026 Accepted: retransmit the 2xx until the ACK (§13.3.1.4), absorb
    // INVITE retransmissions, give up after Timer L = 64*T1.
    t.state = S::Accepted;
    t.acceptedKey =
        acceptedKey(t.request->callId(), t.request->cseq().number, t.request->from().tag());
    acceptedByDialog_.assign(t.acceptedKey, &t, acceptedKeyOf);
    if (unreliable) startFinalRetransmission(t);
    t.lifetime.setCallback([this, id] {
      auto s = servers_.find(id);
      if (s == servers_.end()) return;
      bool noAck = !s->second->acceptedKey.empty();
      serverTerminate(*s->second);
      if (noAck) {
        ++stats_.ackTimeouts;
        if (user_) user_->onAckTimeout(id);
      }
    });
    t.lifetime.start(loop_.timers(), 64 * timers_.t1);
    return true;
  }

  t.state = S::Completed;
  if (t.invite) {
    // Timer G retransmits the non-2xx final until the ACK; Timer H gives up.
    if (unreliable) startFinalRetransmission(t);
    t.lifetime.setCallback([this, id] {
      if (auto s = servers_.find(id); s != servers_.end()) serverTerminate(*s->second);
    });
    t.lifetime.start(loop_.timers(), 64 * timers_.t1);
  } else {
    // Timer J: absorb request retransmissions for 64*T1 (unreliable only).
    t.lifetime.setCallback([this, id] {
      if (auto s = servers_.find(id); s != servers_.end()) serverTerminate(*s->second);
    });
    t.lifetime.start(loop_.timers(), unreliable ? 64 * timers_.t1 : Millis(0));
  }
  return true;
}

void TransactionLayer::startFinalRetransmission(ServerTxn& t) {
  // Timer G for a non-2xx final, and the §13.3.1.4 2xx retransmission: T1,
  // doubling up to T2, for as long as the ACK has not come.
  TxnId id = t.id;
  t.interval = timers_.t1;
  t.retransmit.setCallback([this, id] {
    auto s = servers_.find(id);
    if (s == servers_.end()) return;
    ServerTxn& x = *s->second;
    const bool awaitingAck = x.state == ServerTxn::State::Completed ||
                             (x.state == ServerTxn::State::Accepted && !x.acceptedKey.empty());
    if (!awaitingAck) return;
    (void)transport_.send(x.flow, x.lastResponse);
    ++stats_.retransmissionsSent;
    x.interval = std::min(x.interval * 2, timers_.t2);
    x.retransmit.start(loop_.timers(), x.interval);
  });
  t.retransmit.start(loop_.timers(), t.interval);
}

void TransactionLayer::serverTerminate(ServerTxn& t) {
  if (t.state == ServerTxn::State::Terminated) return;
  t.state = ServerTxn::State::Terminated;
  t.retransmit.cancel();
  t.lifetime.cancel();
  serverByKey_.erase(t.key, &t);
  if (!t.acceptedKey.empty()) acceptedByDialog_.erase(t.acceptedKey, &t);
  if (occupancy_) occupancy_->closed(OccupancyKind::Transaction, t.source);
  auto it = servers_.find(t.id);
  if (it != servers_.end()) {
    deadServers_.push_back(std::move(it->second));
    servers_.erase(it);
  }
}

void TransactionLayer::respondStateless(const Message& request, const Flow& from, int status,
                                        std::string_view reason, std::string_view toTag,
                                        const std::vector<sip::ExtraHeader>& extra) {
  std::string bytes =
      sip::makeResponse(request, status, reason, toTag, extra, {}, viaWithReceived(request, from));
  (void)transport_.send(responseFlow(request, from), bytes);
}

void TransactionLayer::sendRaw(const Flow& to, std::string_view bytes) {
  (void)transport_.send(to, bytes);
}

// ---------------------------------------------------------------------------
// Client transactions

TxnId TransactionLayer::sendRequest(OutgoingRequest&& request, const Flow& to,
                                    ClientCallbacks* cb) {
  auto t = std::make_unique<ClientTxn>();
  TxnId id = nextId_++;
  t->id = id;
  t->invite = request.method == Method::Invite;
  t->state = ClientTxn::State::Calling;
  t->flow = to;
  t->cb = cb;
  t->key = request.branch + "|" + std::string(sip::methodName(request.method));
  t->request = std::move(request);
  clientByKey_.assign(t->key, t.get(), clientKeyOf);
  ClientTxn& ref = *t;
  clients_.emplace(id, std::move(t));
  ++stats_.clientCreated;

  clientSend(ref, ref.request.bytes);
  if (ref.transportFailed) {
    // Report on the next loop turn, never from inside sendRequest().
    ref.timeout.setCallback([this, id] {
      auto c = clients_.find(id);
      if (c == clients_.end()) return;
      ClientCallbacks* cb = c->second->cb;
      clientTerminate(*c->second);
      if (cb) cb->onTransportError(id);
    });
    ref.timeout.start(loop_.timers(), Millis(0));
    return id;
  }

  if (!reliable(ref.flow)) {
    // Timer A (INVITE) / E (non-INVITE).
    ref.interval = timers_.t1;
    ref.retransmit.setCallback([this, id] {
      auto c = clients_.find(id);
      if (c == clients_.end()) return;
      ClientTxn& x = *c->second;
      using S = ClientTxn::State;
      if (x.state != S::Calling && !(x.state == S::Proceeding && !x.invite)) return;
      (void)transport_.send(x.flow, x.request.bytes);
      ++stats_.retransmissionsSent;
      if (x.invite) {
        x.interval = x.interval * 2;
      } else {
        x.interval = x.state == S::Proceeding ? timers_.t2 : std::min(x.interval * 2, timers_.t2);
      }
      x.retransmit.start(loop_.timers(), x.interval);
    });
    ref.retransmit.start(loop_.timers(), ref.interval);
  }
  // Timer B / F.
  ref.timeout.setCallback([this, id] {
    auto c = clients_.find(id);
    if (c == clients_.end()) return;
    ClientTxn& x = *c->second;
    using S = ClientTxn::State;
    if (x.state == S::Calling || (!x.invite && x.state == S::Proceeding)) {
      ++stats_.clientTimeouts;
      ClientCallbacks* cb = x.cb;
      clientTerminate(x);
      if (cb) cb->onTimeout(id);
    }
  });
  ref.timeout.start(loop_.timers(), 64 * timers_.t1);
  return id;
}

void TransactionLayer::clientSend(ClientTxn& t, std::string_view bytes) {
  auto r = transport_.send(t.flow, bytes);
  if (!r.ok()) t.transportFailed = true;
}

void TransactionLayer::cancelClient(TxnId id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  ClientTxn& t = *it->second;
  if (!t.invite || t.cancelSent) return;
  if (t.state == ClientTxn::State::Proceeding) {
    sendCancelNow(t);
  } else if (t.state == ClientTxn::State::Calling) {
    t.cancelPending = true;  // §9.1: wait for a provisional response first
  }
}

void TransactionLayer::sendCancelNow(ClientTxn& invite) {
  invite.cancelSent = true;
  const OutgoingRequest& r = invite.request;
  sip::MessageWriter w(512);
  w.requestLine("CANCEL", r.requestUri);
  w.header("Via", r.via);
  for (const std::string& route : r.routes) w.header("Route", route);
  w.header("From", r.from);
  w.header("To", r.to);
  w.header("Call-ID", r.callId);
  w.header("CSeq", std::to_string(r.cseq) + " CANCEL");
  w.header("Max-Forwards", "70");
  OutgoingRequest cancel;
  cancel.method = Method::Cancel;
  cancel.bytes = w.finish();
  cancel.branch = r.branch;
  cancel.requestUri = r.requestUri;
  cancel.via = r.via;
  cancel.from = r.from;
  cancel.to = r.to;
  cancel.callId = r.callId;
  cancel.cseq = r.cseq;
  Flow flow = invite.flow;
  TxnId inviteId = invite.id;
  sendRequest(std::move(cancel), flow, nullptr);
  // §9.1: if no final response arrives within 64*T1 of the CANCEL, the
  // INVITE transaction is destroyed.
  auto it = clients_.find(inviteId);
  if (it == clients_.end()) return;
  ClientTxn& t = *it->second;
  t.timeout.setCallback([this, inviteId] {
    auto c = clients_.find(inviteId);
    if (c == clients_.end()) return;
    ClientTxn& x = *c->second;
    if (x.state == ClientTxn::State::Calling || x.state == ClientTxn::State::Proceeding) {
      ++stats_.clientTimeouts;
      ClientCallbacks* cb = x.cb;
      clientTerminate(x);
      if (cb) cb->onTimeout(inviteId);
    }
  });
  t.timeout.start(loop_.timers(), 64 * timers_.t1);
}

void TransactionLayer::sendAckForNon2xx(ClientTxn& t, const Message& response) {
  // §17.1.1.3: same Request-URI, top Via, Route, From and Call-ID as the
  // INVITE; To from the response (its tag); CSeq number with method ACK.
  const OutgoingRequest& r = t.request;
  sip::MessageWriter w(512);
  w.requestLine("ACK", r.requestUri);
  w.header("Via", r.via);
  for (const std::string& route : r.routes) w.header("Route", route);
  w.header("From", r.from);
  const sip::Header* to = response.header(sip::HeaderId::To);
  w.header("To", to ? to->value : std::string_view(r.to));
  w.header("Call-ID", r.callId);
  w.header("CSeq", std::to_string(r.cseq) + " ACK");
  w.header("Max-Forwards", "70");
  t.ackBytes = w.finish();
  (void)transport_.send(t.flow, t.ackBytes);
}

void TransactionLayer::detach(TxnId id) {
  if (auto it = clients_.find(id); it != clients_.end()) it->second->cb = nullptr;
}

const Flow* TransactionLayer::clientFlow(TxnId id) const {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : &it->second->flow;
}

void TransactionLayer::clientTerminate(ClientTxn& t) {
  if (t.state == ClientTxn::State::Terminated) return;
  t.state = ClientTxn::State::Terminated;
  t.retransmit.cancel();
  t.timeout.cancel();
  clientByKey_.erase(t.key, &t);
  auto it = clients_.find(t.id);
  if (it != clients_.end()) {
    deadClients_.push_back(std::move(it->second));
    clients_.erase(it);
  }
}

void TransactionLayer::reap() {
  for (TxnId id : finishedServers_) {
    if (auto it = servers_.find(id); it != servers_.end()) it->second->request.reset();
  }
  finishedServers_.clear();
  for (TxnId id : finishedClients_) {
    // A CANCEL or ACK built later would need these fields, but neither is
    // sent after a final response (the ACK for a non-2xx is in ackBytes).
    if (auto it = clients_.find(id); it != clients_.end()) it->second->request = {};
  }
  finishedClients_.clear();
  deadServers_.clear();
  deadClients_.clear();
  stats_.serverLive = servers_.size();
  stats_.clientLive = clients_.size();
}

}  // namespace tollgate::txn
