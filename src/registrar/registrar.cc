// Bindings, expiry bounds, replace/kick, NAT and liveness probing. See
// registrar.h.
#include "registrar/registrar.h"

#include <algorithm>
#include <charconv>

#include "common/log.h"
#include "sip/serialize.h"

namespace tollgate::registrar {

using sip::HeaderId;
using txn::TxnId;

namespace {

// delta-seconds (RFC 3261 §25.1); values beyond 2^32-1 saturate.
std::optional<uint64_t> parseSeconds(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = std::min<uint64_t>(v * 10 + static_cast<uint64_t>(c - '0'), 0xffffffffull);
  }
  return v;
}

}  // namespace

// One binding with its timers and its liveness probe.
class Registrar::Entry final : public txn::ClientCallbacks {
 public:
  explicit Entry(Registrar& r) : r_(r) {
    expiry.setCallback([this] { r_.expire(b.username, this); });
    probe.setCallback([this] { sendProbe(); });
    deadline.setCallback([this] {
      // No answer in time: offline now, not at expiry.
      if (probeTxn_ == 0) return;
      r_.txns_.detach(probeTxn_);
      probeTxn_ = 0;
      r_.setOnline(*this, false);
    });
  }
  ~Entry() override {
    if (probeTxn_ != 0) r_.txns_.detach(probeTxn_);
  }

  void onResponse(TxnId id, const sip::Message& response) override {
    if (id != probeTxn_) return;
    // Any response, even 404 or 405, proves the contact is there.
    if (response.status() >= 200) probeTxn_ = 0;
    deadline.cancel();
    r_.setOnline(*this, true);
  }
  void onTimeout(TxnId id) override { lost(id); }
  void onTransportError(TxnId id) override { lost(id); }

  void sendProbe();

  Binding b;
  Timer expiry;
  Timer probe;
  Timer deadline;

 private:
  void lost(TxnId id) {
    if (id != probeTxn_) return;
    probeTxn_ = 0;
    deadline.cancel();
    r_.setOnline(*this, false);
  }

  Registrar& r_;
  TxnId probeTxn_ = 0;
};

void Registrar::Entry::sendProbe() {
  const auto interval = std::chrono::duration_cast<Millis>(r_.settings_.keepaliveInterval);
  if (interval.count() <= 0) return;
  probe.start(r_.loop_.timers(), interval);
  if (probeTxn_ != 0) return;  // the previous probe is still out
  const std::string host = r_.localHostPort_(b.listener);
  const std::string branch = r_.txns_.newBranch();
  txn::OutgoingRequest out;
  out.method = sip::Method::Options;
  out.branch = branch;
  out.requestUri = b.contact;
  out.via = "SIP/2.0/" + std::string(transport::protocolName(b.protocol)) + " " + host +
            ";branch=" + branch + ";rport";
  out.from = "<sip:keepalive@" + host + ">;tag=" + r_.random_.token(10);
  out.to = "<" + b.contact + ">";
  out.callId = r_.random_.token(20);
  out.cseq = 1;
  sip::MessageWriter w(512);
  w.requestLine("OPTIONS", out.requestUri);
  w.header("Via", out.via);
  w.header("Max-Forwards", "70");
  w.header("From", out.from);
  w.header("To", out.to);
  w.header("Call-ID", out.callId);
  w.header("CSeq", "1 OPTIONS");
  if (!r_.settings_.userAgent.empty()) w.header("User-Agent", r_.settings_.userAgent);
  out.bytes = w.finish();
  ++r_.stats_.probesSent;
  probeTxn_ = r_.txns_.sendRequest(std::move(out), b.flow(), this);
  // Half the interval (and never longer than the transaction's own 64*T1):
  // a contact that went silent right after answering is offline within
  // 1.5 intervals.
  Millis wait = std::min(interval / 2, 64 * r_.txns_.timers().t1);
  deadline.start(r_.loop_.timers(), std::max(wait, Millis(1)));
}

Registrar::Registrar(EventLoop& loop, txn::TransactionLayer& txns, const Clock& clock,
                     Random& random, RegistrarSettings settings,
                     std::function<std::string(transport::ListenerId)> localHostPort)
    : loop_(loop),
      txns_(txns),
      clock_(clock),
      random_(random),
      settings_(std::move(settings)),
      localHostPort_(std::move(localHostPort)) {}

Registrar::~Registrar() = default;

void Registrar::respond(TxnId id, const std::string& username, int status, std::string_view reason,
                        std::vector<sip::ExtraHeader> extra) {
  (void)username;
  if (!settings_.userAgent.empty()) extra.push_back({"Server", settings_.userAgent});
  // REGISTER creates no dialog; the To tag only has to be there (§8.2.6.2).
  txns_.respond(id, status, reason, random_.token(10), extra);
}

void Registrar::onRegister(TxnId id, const sip::Message& req, const transport::Flow& from,
                           const admission::GatewayInfo& account) {
  const std::string& user = account.username;
  const int64_t now = clock_.wallMicros();

  // Contacts (RFC 3261 §10.3 steps 6-8).
  std::vector<sip::NameAddr> contacts;
  bool star = false;
  for (const sip::Header& h : req.headers()) {
    if (h.id != HeaderId::Contact) continue;
    auto list = sip::parseNameAddrList(h.value);
    if (!list) {
      ++stats_.invalid;
      respond(id, user, 400, "Bad Contact");
      return;
    }
    for (const sip::NameAddr& na : *list) {
      if (na.text == "*") {
        star = true;
      } else {
        contacts.push_back(na);
      }
    }
  }
  std::optional<uint64_t> expiresHeader;
  if (const sip::Header* e = req.header(HeaderId::Expires)) {
    expiresHeader = parseSeconds(e->value);
    if (!expiresHeader) {
      ++stats_.invalid;
      respond(id, user, 400, "Bad Expires");
      return;
    }
  }
  if (contacts.size() > kMaxContactsPerRegister) {
    ++stats_.invalid;
    respond(id, user, 400, "Too Many Contacts");
    return;
  }

  // Looked up, not created: a refused REGISTER must not leave an empty
  // account behind. Created below when the first binding is added.
  Account& acct = accounts_.try_emplace(user).first->second;
  struct EraseIfEmpty {
    Registrar* r;
    const std::string& user;
    ~EraseIfEmpty() {
      auto it = r->accounts_.find(user);
      if (it != r->accounts_.end() && it->second.entries.empty()) r->accounts_.erase(it);
    }
  } cleanup{this, user};
  auto contactsOf = [&]() {
    std::vector<std::string> values;
    for (const auto& e : acct.entries) {
      int64_t left = std::max<int64_t>(0, (e->b.expiresUs - now + 999'999) / 1'000'000);
      values.push_back("<" + e->b.contact + ">;expires=" + std::to_string(left));
    }
    return values;
  };
  auto ok = [&]() {
    std::vector<std::string> values = contactsOf();
    std::vector<sip::ExtraHeader> extra;
    for (const std::string& v : values) extra.push_back({"Contact", v});
    ++stats_.registers;
    respond(id, user, 200, "OK", extra);
  };

  if (star) {
    // §10.3 step 6: "*" only alone and with Expires: 0; it removes everything.
    if (!contacts.empty() || expiresHeader.value_or(1) != 0) {
      ++stats_.invalid;
      respond(id, user, 400, "Invalid Wildcard Contact");
      return;
    }
    while (!acct.entries.empty()) {
      ++stats_.removed;
      remove(acct, user, acct.entries.size() - 1, true);
    }
    log::info("registrar.unregistered").kv("username", user).kv("contact", "*");
    ok();
    return;
  }
  if (contacts.empty()) {  // a query (§10.3 step 6): the current bindings
    ok();
    return;
  }

  struct Want {
    std::string uri;
    uint64_t expires;
    Entry* existing;
  };
  std::vector<Want> wants;
  const auto minS = static_cast<uint64_t>(settings_.minExpires.count());
  const auto maxS = static_cast<uint64_t>(settings_.maxExpires.count());
  for (const sip::NameAddr& na : contacts) {
    uint64_t expires = static_cast<uint64_t>(settings_.defaultExpires.count());
    if (auto p = na.param("expires")) {
      auto v = parseSeconds(*p);
      if (!v) {
        ++stats_.invalid;
        respond(id, user, 400, "Bad Contact Expires");
        return;
      }
      expires = *v;
    } else if (expiresHeader) {
      expires = *expiresHeader;
    }
    if (expires != 0 && expires < minS) {
      // §10.3 step 7: too brief for us; the client retries with at least this.
      ++stats_.tooBrief;
      std::string minText = std::to_string(minS);
      respond(id, user, 423, "Interval Too Brief", {{"Min-Expires", minText}});
      return;
    }
    expires = std::min(expires, maxS);  // too long: granted the maximum
    std::string uri(na.uri.text);
    Entry* existing = nullptr;
    for (auto& e : acct.entries) {
      if (e->b.contact == uri) existing = e.get();
    }
    if (existing && existing->b.callId == req.callId() && req.cseq().number <= existing->b.cseq) {
      // §10.3 step 7: an older request of the same registration, reordered.
      ++stats_.invalid;
      respond(id, user, 400, "Invalid CSeq Number");
      return;
    }
    wants.push_back(Want{std::move(uri), expires, existing});
  }

  // Room for the new contacts: replace (kick) the oldest, or refuse.
  size_t kept = acct.entries.size();
  size_t added = 0;
  for (const Want& w : wants) {
    if (w.existing && w.expires == 0) --kept;
    if (!w.existing && w.expires > 0) ++added;
  }
  const size_t maxContacts = static_cast<size_t>(std::max(1, account.maxContacts));
  if (kept + added > maxContacts || (added > 0 && count_ + added > kMaxBindings)) {
    if (!settings_.replace || added > maxContacts || count_ + added > kMaxBindings) {
      ++stats_.refusedReplace;
      log::info("registrar.refused")
          .kv("username", user)
          .kv("contact", wants.front().uri)
          .kv("source", from.remote.toString())
          .kv("bound", acct.entries.size());
      respond(id, user, kReplaceRefusedCode, "Forbidden",
              {{"Warning", "399 tollgate \"already registered from another contact\""}});
      return;
    }
    size_t excess = kept + added - maxContacts;
    while (excess > 0 && !acct.entries.empty()) {
      // Oldest first, never one this REGISTER refreshes.
      size_t victim = acct.entries.size();
      for (size_t i = 0; i < acct.entries.size(); ++i) {
        bool wanted = std::any_of(wants.begin(), wants.end(), [&](const Want& w) {
          return w.existing == acct.entries[i].get();
        });
        if (wanted) continue;
        if (victim == acct.entries.size() ||
            acct.entries[i]->b.registeredUs < acct.entries[victim]->b.registeredUs) {
          victim = i;
        }
      }
      if (victim == acct.entries.size()) break;
      ++stats_.replaced;
      log::info("registrar.replaced")
          .kv("username", user)
          .kv("old_contact", acct.entries[victim]->b.contact)
          .kv("old_source", acct.entries[victim]->b.source.toString())
          .kv("new_source", from.remote.toString());
      remove(acct, user, victim, true);
      --excess;
    }
  }

  const sip::Header* ua = req.header(HeaderId::UserAgent);
  for (const Want& w : wants) {
    if (w.expires == 0) {
      if (!w.existing) continue;
      for (size_t i = 0; i < acct.entries.size(); ++i) {
        if (acct.entries[i].get() == w.existing) {
          ++stats_.removed;
          log::info("registrar.unregistered").kv("username", user).kv("contact", w.uri);
          remove(acct, user, i, true);
          break;
        }
      }
      continue;
    }
    Entry* e = w.existing;
    if (e == nullptr) {
      acct.entries.push_back(std::make_unique<Entry>(*this));
      e = acct.entries.back().get();
      e->b.username = user;
      e->b.contact = w.uri;
      e->b.registeredUs = now;
      ++count_;
      ++stats_.added;
      log::info("registrar.registered")
          .kv("username", user)
          .kv("contact", w.uri)
          .kv("source", transport::toString(transport::ListenSpec{from.protocol, from.remote}))
          .kv("expires", static_cast<int64_t>(w.expires));
    } else {
      ++stats_.refreshed;
    }
    Binding& b = e->b;
    b.gateway = account.name;
    // NAT: where the REGISTER really came from, and on which connection.
    b.protocol = from.protocol;
    b.source = from.remote;
    b.listener = from.local;
    setConnection(*e, transport::isStream(from.protocol) ? from.connection : 0);
    if (const transport::Listener* l = txns_.transport().listener(from.local)) {
      b.local = l->address;
    }
    b.callId = std::string(req.callId());
    b.cseq = req.cseq().number;
    b.userAgent = ua ? std::string(ua->value.substr(0, 128)) : std::string();
    b.expiresUs = now + static_cast<int64_t>(w.expires) * 1'000'000;
    e->expiry.start(loop_.timers(), Millis(static_cast<int64_t>(w.expires) * 1000));
    if (!b.online) {
      b.online = true;
      b.stateUs = now;
      ++stats_.cameOnline;
    } else if (b.stateUs == 0) {
      b.stateUs = now;
    }
    // A fresh REGISTER proves the contact is alive: the next probe is a
    // whole interval away.
    e->probe.cancel();
    e->deadline.cancel();
    if (settings_.keepaliveInterval.count() > 0) {
      e->probe.start(loop_.timers(),
                     std::chrono::duration_cast<Millis>(settings_.keepaliveInterval));
    }
    if (listener_) listener_->bindingSaved(b);
  }
  ok();
}

void Registrar::remove(Account& acct, const std::string& username, size_t index, bool notify) {
  std::unique_ptr<Entry> gone = std::move(acct.entries[index]);
  acct.entries.erase(acct.entries.begin() + static_cast<std::ptrdiff_t>(index));
  setConnection(*gone, 0);
  --count_;
  if (notify && listener_) listener_->bindingRemoved(gone->b);
  (void)username;
  // `gone` (and its timers and probe) is destroyed here.
}

void Registrar::expire(const std::string& username, Entry* e) {
  auto it = accounts_.find(username);
  if (it == accounts_.end()) return;
  Account& acct = it->second;
  for (size_t i = 0; i < acct.entries.size(); ++i) {
    if (acct.entries[i].get() != e) continue;
    ++stats_.expired;
    log::info("registrar.expired").kv("username", username).kv("contact", e->b.contact);
    std::string user = username;  // `username` views the entry about to go
    remove(acct, user, i, true);
    if (acct.entries.empty()) accounts_.erase(user);
    return;
  }
}

void Registrar::setOnline(Entry& e, bool online) {
  if (e.b.online == online) return;
  e.b.online = online;
  e.b.stateUs = clock_.wallMicros();
  if (online) {
    ++stats_.cameOnline;
  } else {
    ++stats_.wentOffline;
  }
  log::info(online ? "registrar.contact_online" : "registrar.contact_offline")
      .kv("username", e.b.username)
      .kv("contact", e.b.contact)
      .kv("source", e.b.source.toString());
  if (listener_) listener_->bindingSaved(e.b);
}

std::vector<const Binding*> Registrar::reachable(std::string_view username) const {
  std::vector<const Binding*> out;
  auto it = accounts_.find(std::string(username));
  if (it == accounts_.end()) return out;
  for (const auto& e : it->second.entries) {
    if (e->b.online) out.push_back(&e->b);
  }
  std::stable_sort(out.begin(), out.end(), [](const Binding* a, const Binding* b) {
    return a->registeredUs > b->registeredUs;
  });
  return out;
}

bool Registrar::hasBindings(std::string_view username) const {
  return accounts_.count(std::string(username)) > 0;
}

std::vector<Binding> Registrar::bindings() const {
  std::vector<Binding> out;
  for (const auto& [user, acct] : accounts_) {
    for (const auto& e : acct.entries) out.push_back(e->b);
  }
  return out;
}

void Registrar::restore(
    std::vector<Binding> stored,
    const std::function<transport::ListenerId(transport::Protocol, const net::SockAddr&)>&
        listenerFor) {
  const int64_t now = clock_.wallMicros();
  for (Binding& b : stored) {
    if (b.expiresUs <= now || count_ >= kMaxBindings) continue;
    Account& acct = accounts_[b.username];
    acct.entries.push_back(std::make_unique<Entry>(*this));
    Entry& e = *acct.entries.back();
    e.b = std::move(b);
    e.b.listener = listenerFor(e.b.protocol, e.b.local);
    e.b.connection = 0;  // connections did not survive the restart
    ++count_;
    e.expiry.start(loop_.timers(), Millis((e.b.expiresUs - now) / 1000 + 1));
    if (settings_.keepaliveInterval.count() > 0) {
      // Probe soon: the contact may have gone while we were down.
      e.probe.start(loop_.timers(), Millis(1000));
    }
  }
}

void Registrar::retainAccounts(
    const std::function<const admission::GatewayInfo*(std::string_view)>& lookup) {
  std::vector<std::string> users;
  for (const auto& [user, acct] : accounts_) users.push_back(user);
  for (const std::string& user : users) {
    Account& acct = accounts_[user];
    const admission::GatewayInfo* gi = lookup(user);
    size_t keep = gi && gi->registers ? static_cast<size_t>(std::max(1, gi->maxContacts)) : 0;
    while (acct.entries.size() > keep) {
      // Oldest first.
      size_t victim = 0;
      for (size_t i = 1; i < acct.entries.size(); ++i) {
        if (acct.entries[i]->b.registeredUs < acct.entries[victim]->b.registeredUs) victim = i;
      }
      log::info("registrar.unregistered")
          .kv("username", user)
          .kv("contact", acct.entries[victim]->b.contact)
          .kv("why", "provisioning");
      ++stats_.removed;
      remove(acct, user, victim, true);
    }
    if (acct.entries.empty()) accounts_.erase(user);
  }
}

size_t Registrar::unregister(std::string_view username, std::string_view contact) {
  auto it = accounts_.find(std::string(username));
  if (it == accounts_.end()) return 0;
  const std::string user = it->first;
  Account& acct = it->second;
  size_t n = 0;
  for (size_t i = acct.entries.size(); i-- > 0;) {
    if (!contact.empty() && acct.entries[i]->b.contact != contact) continue;
    log::info("registrar.unregistered")
        .kv("username", user)
        .kv("contact", acct.entries[i]->b.contact)
        .kv("why", "operator");
    ++stats_.removed;
    remove(acct, user, i, true);
    ++n;
  }
  if (acct.entries.empty()) accounts_.erase(user);
  return n;
}

void Registrar::setConnection(Entry& e, transport::ConnectionId id) {
  if (e.b.connection == id) return;
  if (e.b.connection != 0) {
    auto [first, last] = byConnection_.equal_range(e.b.connection);
    for (auto it = first; it != last; ++it) {
      if (it->second == &e) {
        byConnection_.erase(it);
        break;
      }
    }
  }
  e.b.connection = id;
  if (id != 0) byConnection_.emplace(id, &e);
}

void Registrar::onConnectionClosed(transport::ConnectionId id) {
  if (id == 0) return;
  // Through the index: a closing connection costs nothing when no binding
  // uses it (scanners open and close many).
  std::vector<Entry*> affected;
  auto [first, last] = byConnection_.equal_range(id);
  for (auto it = first; it != last; ++it) affected.push_back(it->second);
  for (Entry* e : affected) {
    setConnection(*e, 0);
    setOnline(*e, false);
  }
}

RegistrarStats Registrar::stats() const {
  RegistrarStats s = stats_;
  s.bindings = count_;
  return s;
}

}  // namespace tollgate::registrar
