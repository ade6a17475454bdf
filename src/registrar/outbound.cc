// REGISTER towards carriers, with digest and refresh. See outbound.h.
#include "registrar/outbound.h"

#include <algorithm>

#include "common/log.h"
#include "sip/serialize.h"

namespace tollgate::registrar {

using sip::HeaderId;
using txn::TxnId;

namespace {

std::optional<uint64_t> seconds(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

class OutboundRegistrations::Reg final : public txn::ClientCallbacks {
 public:
  Reg(OutboundRegistrations& o, CarrierRegistration c) : o_(o), c_(std::move(c)) {
    callId_ = o_.random_.token(20);
    fromTag_ = o_.random_.token(10);
    timer_.setCallback([this] { send(false); });
  }
  ~Reg() override {
    if (txn_ != 0) o_.txns_.detach(txn_);
  }

  const CarrierRegistration& config() const { return c_; }
  OutboundState state() const { return OutboundState{c_.name, registered_, expiresUs_, failures_}; }

  // On the next loop turn: at start-up provisioning arrives before the
  // listeners are bound.
  void start() { timer_.start(o_.loop_.timers(), Millis(0)); }
  // Expires: 0; the object is disposed of once it is answered (or not).
  void leave() {
    leaving_ = true;
    timer_.cancel();
    if (!registered_) {
      o_.dispose(o_.takeLeaving(this));
      return;
    }
    send(false);
  }

  void onResponse(TxnId id, const sip::Message& r) override {
    if (id != txn_ || r.status() < 200) return;
    txn_ = 0;
    const int st = r.status();
    if ((st == 401 || st == 407) && answer(r)) return;
    if (st >= 200 && st < 300) {
      onRegistered(r);
      return;
    }
    fail(std::to_string(st));
  }
  void onTimeout(TxnId id) override {
    if (id != txn_) return;
    txn_ = 0;
    fail("timeout");
  }
  void onTransportError(TxnId id) override {
    if (id != txn_) return;
    txn_ = 0;
    fail("transport");
  }

 private:
  std::string target() const {
    std::string t = "sip:" + c_.address.toString();
    if (c_.protocol == transport::Protocol::Tcp) t += ";transport=tcp";
    if (c_.protocol == transport::Protocol::Tls) t += ";transport=tls";
    return t;
  }

  // Sends the REGISTER, with `authHeader` / `authValue` when answering.
  void send(bool withAuth) {
    if (!withAuth) {
      answers_.restart();
      authName_.clear();
      authValue_.clear();
    }
    transport::Transport& tp = o_.txns_.transport();
    const transport::Listener* l = tp.pickListener(c_.protocol, c_.address);
    if (!l) {
      fail("no listener");
      return;
    }
    const std::string host = o_.localHostPort_(l->id);
    const std::string aor = "<sip:" + c_.username + "@" + c_.address.toString() + ">";
    const std::string branch = o_.txns_.newBranch();
    txn::OutgoingRequest out;
    out.method = sip::Method::Register;
    out.branch = branch;
    out.requestUri = target();
    out.via = "SIP/2.0/" + std::string(transport::protocolName(c_.protocol)) + " " + host +
              ";branch=" + branch + ";rport";
    out.from = aor + ";tag=" + fromTag_;
    out.to = aor;
    out.callId = callId_;
    out.cseq = ++cseq_;
    std::string contact = "<sip:" + c_.username + "@" + host;
    if (c_.protocol == transport::Protocol::Tcp) contact += ";transport=tcp";
    if (c_.protocol == transport::Protocol::Tls) contact += ";transport=tls";
    contact += ">";
    sip::MessageWriter w(768);
    w.requestLine("REGISTER", out.requestUri);
    w.header("Via", out.via);
    w.header("Max-Forwards", "70");
    w.header("From", out.from);
    w.header("To", out.to);
    w.header("Call-ID", out.callId);
    w.header("CSeq", std::to_string(out.cseq) + " REGISTER");
    w.header("Contact", contact);
    w.header("Expires", leaving_ ? "0" : std::to_string(c_.expires.count()));
    if (withAuth) w.header(authName_, authValue_);
    if (!o_.userAgent_.empty()) w.header("User-Agent", o_.userAgent_);
    out.bytes = w.finish();
    ++o_.stats_.sent;
    txn_ = o_.txns_.sendRequest(std::move(out), transport::Flow{c_.protocol, c_.address, l->id, 0},
                                this);
  }

  // A 401/407: the same REGISTER again, with credentials, when the digest
  // client's rule answers it (auth/digest_client.h).
  bool answer(const sip::Message& r) {
    auto a = o_.digest_.answer(r, answers_, "REGISTER", target(), c_.username, c_.password);
    if (!a.ok()) return false;
    ++o_.stats_.challenged;
    authName_ = a->header();
    authValue_ = std::move(a->value);
    send(true);
    return true;
  }

  void onRegistered(const sip::Message& r) {
    failures_ = 0;
    if (leaving_) {
      log::info("registrar.outbound_unregistered").kv("gateway", c_.name);
      o_.dispose(o_.takeLeaving(this));
      return;
    }
    // The expiry granted: our Contact's expires, else Expires, else ours.
    uint64_t granted = static_cast<uint64_t>(c_.expires.count());
    bool found = false;
    for (const sip::Header& h : r.headers()) {
      if (h.id != HeaderId::Contact || found) continue;
      auto list = sip::parseNameAddrList(h.value);
      if (!list) continue;
      for (const sip::NameAddr& na : *list) {
        if (na.uri.user != c_.username) continue;
        if (auto e = na.param("expires")) {
          if (auto v = seconds(*e)) {
            granted = *v;
            found = true;
          }
        }
      }
    }
    if (!found) {
      if (const sip::Header* e = r.header(HeaderId::Expires)) {
        if (auto v = seconds(e->value)) granted = *v;
      }
    }
    granted = std::max<uint64_t>(granted, 2);
    ++o_.stats_.registered;
    if (!registered_) {
      log::info("registrar.outbound_registered")
          .kv("gateway", c_.name)
          .kv("expires", static_cast<int64_t>(granted));
    }
    registered_ = true;
    expiresUs_ = o_.clock_.wallMicros() + static_cast<int64_t>(granted) * 1'000'000;
    // Refresh a minute early, or half way for short grants.
    const uint64_t refresh = granted > 120 ? granted - 60 : granted / 2;
    timer_.start(o_.loop_.timers(),
                 Millis(static_cast<int64_t>(std::max<uint64_t>(refresh, 1)) * 1000));
  }

  void fail(const std::string& why) {
    if (leaving_) {
      o_.dispose(o_.takeLeaving(this));
      return;
    }
    ++o_.stats_.failed;
    ++failures_;
    registered_ = false;
    auto wait = kRetryMin;
    for (uint32_t i = 1; i < failures_ && wait < kRetryMax; ++i) wait *= 2;
    wait = std::min(wait, kRetryMax);
    log::warn("registrar.outbound_failed")
        .kv("gateway", c_.name)
        .kv("why", why)
        .kv("retry_s", static_cast<int64_t>(wait.count()));
    timer_.start(o_.loop_.timers(), std::chrono::duration_cast<Millis>(wait));
  }

  OutboundRegistrations& o_;
  CarrierRegistration c_;
  std::string callId_;
  std::string fromTag_;
  uint32_t cseq_ = 0;
  TxnId txn_ = 0;
  auth::DigestAnswers answers_;  // what this REGISTER answered (restarted by each refresh)
  std::string authName_;
  std::string authValue_;
  bool registered_ = false;
  bool leaving_ = false;
  int64_t expiresUs_ = 0;
  uint32_t failures_ = 0;
  Timer timer_;
};

OutboundRegistrations::OutboundRegistrations(
    EventLoop& loop, txn::TransactionLayer& txns, const Clock& clock, Random& random,
    auth::DigestClient& digest, std::string userAgent,
    std::function<std::string(transport::ListenerId)> localHostPort)
    : loop_(loop),
      txns_(txns),
      clock_(clock),
      random_(random),
      userAgent_(std::move(userAgent)),
      localHostPort_(std::move(localHostPort)),
      digest_(digest) {
  loop_.addFlushHook([this] { dead_.clear(); });
}

OutboundRegistrations::~OutboundRegistrations() = default;

std::unique_ptr<OutboundRegistrations::Reg> OutboundRegistrations::takeLeaving(Reg* r) {
  for (auto it = leaving_.begin(); it != leaving_.end(); ++it) {
    if (it->get() == r) {
      std::unique_ptr<Reg> owned = std::move(*it);
      leaving_.erase(it);
      return owned;
    }
  }
  return nullptr;
}

void OutboundRegistrations::dispose(std::unique_ptr<Reg> r) {
  // Freed after the current event: we may be inside one of its callbacks.
  if (r) dead_.push_back(std::move(r));
}

void OutboundRegistrations::configure(std::vector<CarrierRegistration> wanted) {
  std::map<std::string, CarrierRegistration> want;
  for (auto& c : wanted) want.emplace(c.name, std::move(c));
  for (auto it = regs_.begin(); it != regs_.end();) {
    auto w = want.find(it->first);
    if (w != want.end() && w->second == it->second->config()) {
      want.erase(w);
      ++it;
      continue;
    }
    // Gone or changed: unregister the old one (a changed one starts anew below).
    leaving_.push_back(std::move(it->second));
    it = regs_.erase(it);
    leaving_.back()->leave();
  }
  for (auto& [name, c] : want) {
    auto r = std::make_unique<Reg>(*this, std::move(c));
    Reg* raw = r.get();
    regs_.emplace(name, std::move(r));
    raw->start();
  }
}

std::vector<OutboundState> OutboundRegistrations::states() const {
  std::vector<OutboundState> out;
  for (const auto& [name, r] : regs_) out.push_back(r->state());
  return out;
}

}  // namespace tollgate::registrar
