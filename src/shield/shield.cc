// The shield's decision path, ban placement and bookkeeping. See shield.h.
#include "shield/shield.h"

#include <algorithm>
#include <cmath>

#include "common/ascii.h"
#include "common/log.h"
#include "sip/limits.h"
#include "sip/overload_control.h"
#include "sip/serialize.h"

namespace tollgate::shield {

namespace {

using transport::ConnectionId;
using transport::Flow;

// Requests that belong to a transaction or dialog that already exists (or
// end one): never answered 503 for a trusted source (that would leave
// calls hanging) and never counted as opening something new.
bool continuesExisting(sip::Method m) {
  switch (m) {
    case sip::Method::Ack:
    case sip::Method::Cancel:
    case sip::Method::Bye:
    case sip::Method::Prack:
    case sip::Method::Update:
    case sip::Method::Info:
      return true;
    default:
      return false;
  }
}

// Printable, bounded copy of attacker-supplied text for a ban's detail.
std::string printable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') ? '?' : c;
  }
  return out;
}

uint16_t saturatingAdd(uint16_t v, int delta) {
  int n = static_cast<int>(v) + delta;
  return static_cast<uint16_t>(std::clamp(n, 0, 0xffff));
}

}  // namespace

std::string_view shieldReasonName(ShieldReason r) {
  switch (r) {
    case ShieldReason::Banned:
      return "banned";
    case ShieldReason::Signature:
      return "signature";
    case ShieldReason::Rate:
      return "rate";
    case ShieldReason::PrefixRate:
      return "prefix_rate";
    case ShieldReason::Concurrency:
      return "concurrency";
    case ShieldReason::UnknownSource:
      return "unknown_source";
    case ShieldReason::Malformed:
      return "malformed";
    case ShieldReason::TrustedExcess:
      return "trusted_excess";
    case ShieldReason::Overload:
      return "overload";
  }
  return "banned";
}

Shield::Shield(EventLoop& loop, const Clock& clock, Random& random, ShieldConfig config,
               transport::MessageSink& next, OverloadConfig overload)
    : loop_(loop),
      clock_(clock),
      random_(random),
      config_(std::move(config)),
      next_(next),
      seed_(random.next64()),
      sources_(config_.maxSources, KeyHasher(seed_)),
      prefixes_(config_.maxPrefixes, KeyHasher(seed_ ^ 0x5bd1e995u)),
      trustedBuckets_(kMaxTrustedBuckets, KeyHasher(seed_ ^ 0x27d4eb2fu)),
      vouched_(kMaxVouched, KeyHasher(seed_ ^ 0x9e3779b9u)),
      bans_(config_.maxBans, seed_ ^ 0x165667b1u),
      connectionsBySource_(64, KeyHasher(seed_ ^ 0x85ebca6bu)),
      connectionsByPrefix_(64, KeyHasher(seed_ ^ 0xc2b2ae35u)),
      overload_(loop, clock, overload),
      admittedInvites_(kAdmittedInvitesRemembered, kAdmittedInviteMemory) {
  for (const std::string& s : config_.userAgents) {
    if (!s.empty()) signatures_.push_back(ascii::lowered(s));
  }
  dropMethods_ = config_.dropMethods;
  std::vector<PrefixKey> own;
  for (const net::Cidr& c : config_.trusted) own.push_back(prefixOf(c));
  configTrusted_ = std::make_shared<const PrefixSet>(own, seed_);
  trusted_ = configTrusted_;
  tick_.setCallback([this] {
    sweep(msOf(loop_.now()));
    tick_.start(loop_.timers(), kHitsReportInterval);
  });
  tick_.start(loop_.timers(), kHitsReportInterval);
}

Shield::~Shield() = default;

int64_t Shield::msOf(MonoTime t) const {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

int64_t Shield::wallUsAt(int64_t nowMs) const {
  // Wall time of a monotonic instant: now's wall time minus how long ago it was.
  return clock_.wallMicros() - (msOf(clock_.now()) - nowMs) * 1000;
}

std::shared_ptr<const PrefixSet> Shield::buildTrusted(
    const std::vector<net::Cidr>& gateways) const {
  std::vector<PrefixKey> all = configTrusted_->prefixes();
  for (const net::Cidr& c : gateways) all.push_back(prefixOf(c));
  return std::make_shared<const PrefixSet>(all, seed_);
}

void Shield::setTrusted(std::shared_ptr<const PrefixSet> trusted) {
  trusted_ = trusted ? std::move(trusted) : configTrusted_;
  // A gateway provisioned since it connected: its connections leave the
  // untrusted share now rather than at their next reconnect.
  if (!connections_.empty()) promoteConnections(nullptr);
}

void Shield::promoteConnections(const IpKey* only) {
  std::vector<transport::ConnectionId> promoted;
  for (const auto& [id, ip] : connections_) {
    if (only != nullptr ? ip == *only : trusted_->contains(ip)) promoted.push_back(id);
  }
  for (transport::ConnectionId id : promoted) {
    forgetConnection(id);
    if (transport_ != nullptr) transport_->trustConnection(id);
  }
}

bool Shield::isTrusted(const net::IpAddress& ip) const {
  return trusted_->contains(keyOf(ip));
}

// ---------------------------------------------------------------------------
// Rate primitives

bool Shield::windowTrips(RateState& s, int64_t nowMs, uint32_t hits, int64_t windowMs) {
  // A sliding window estimated from two fixed windows: the previous
  // window's count weighted by how much of it still overlaps the last
  // windowMs, plus the current count. O(1) memory per source where an
  // exact `recent` list would keep N timestamps; it never admits more than
  // N in a fixed window and at most 2N in any span of windowMs.
  // A new entry (all zeros) holds no counts, so it needs no case of its own.
  const int64_t start = nowMs - (nowMs % windowMs);
  if (start != s.windowStartMs) {
    s.prevCount = start - s.windowStartMs == windowMs ? s.windowCount : 0;
    s.windowCount = 0;
    s.windowStartMs = start;
  }
  const auto w = static_cast<uint64_t>(windowMs);
  const auto elapsed = static_cast<uint64_t>(nowMs - start);
  // (prev * (w - elapsed) / w) + cur + 1 > hits, in integers.
  const uint64_t estimate =
      uint64_t{s.prevCount} * (w - elapsed) + (uint64_t{s.windowCount} + 1) * w;
  if (s.windowCount < 0xffffffffu) ++s.windowCount;
  return estimate > uint64_t{hits} * w;
}

bool Shield::bucketTrips(RateState& s, int64_t nowMs, double rate, double burst, int64_t idleMs) {
  // hashlimit's expiry: an entry idle for idleMs starts again with a full
  // bucket (a new one is full anyway).
  if (s.bucket.started() && nowMs - s.bucket.last() >= idleMs) s.bucket.fill(nowMs, burst);
  return !s.bucket.tryTake(nowMs, rate, burst);
}

bool Shield::enforce(Mode mode, ShieldReason reason) {
  if (mode == Mode::Enforce) return true;
  ++stats_.wouldDrop[static_cast<size_t>(reason)];
  return false;
}

int Shield::prefixBits(const IpKey& ip) const {
  return ip.isV4() ? kV4MappedBits + config_.prefixV4 : config_.prefixV6;
}

IpKey Shield::prefixKeyOf(const IpKey& ip) const {
  return maskKey(ip, prefixBits(ip));
}

Shield::SourceState* Shield::sourceEntry(const IpKey& ip, bool create) {
  if (!create) return sources_.find(ip);
  bool inserted = false, evicted = false;
  SourceState* s = sources_.touch(ip, &inserted, true, nullptr, &evicted);
  if (evicted) ++stats_.sourcesEvicted;
  if (inserted) {
    // Amortised expiry: each new entry retires up to two idle ones from the
    // old end, so the table holds roughly the sources active in the last
    // window rather than everything ever seen up to the bound.
    const int64_t idle = std::max(config_.recentWindow, config_.rateIdleExpiry).count();
    const int64_t nowMs = msOf(loop_.now());
    for (int i = 0; i < 2; ++i) {
      SourceState* old = sources_.oldestValue();
      if (old == nullptr || old == s || old->pinned() || nowMs - old->rate.lastMs() < idle) break;
      sources_.erase(*sources_.oldestKey());
    }
  }
  return s;
}

Shield::SourceState* Shield::prefixEntry(const IpKey& ip, bool create) {
  const IpKey p = prefixKeyOf(ip);
  if (!create) return prefixes_.find(p);
  bool inserted = false, evicted = false;
  SourceState* s = prefixes_.touch(p, &inserted, true, nullptr, &evicted);
  if (evicted) ++stats_.prefixesEvicted;
  return s;
}

// ---------------------------------------------------------------------------
// The decision

bool Shield::trustedPath(const StartLine& sl, const IpKey& ip, int64_t nowMs) {
  if (sl.kind != StartLine::Request || continuesExisting(sl.method)) return true;
  bool inserted = false;
  Bucket* b = trustedBuckets_.touch(ip, &inserted);
  if (b == nullptr) return true;
  if (bucketTrips(b->rate, nowMs, config_.trustedRate, config_.trustedBurst,
                  config_.rateIdleExpiry.count()) &&
      enforce(config_.trustedRateMode, ShieldReason::TrustedExcess)) {
    ++stats_.dropped[static_cast<size_t>(ShieldReason::TrustedExcess)];
    return false;
  }
  return true;
}

Decision Shield::inspect(const Flow& from, std::string_view bytes, MonoTime now) {
  // The start line is read once, here, for every step that needs it.
  const StartLine sl = scanStartLine(bytes);
  Decision d = inspectSecurity(from, bytes, sl, now);
  if (d.verdict == Verdict::Pass && overload_.config().enabled)
    d = inspectLoad(from, bytes, sl, now);
  if (d.verdict == Verdict::Reject503) {
    // Its ACK (To tag kShedTagPrefix) may come from now on.
    sent503_ = true;
    last503_ = now;
  }
  return d;
}

uint64_t Shield::requestKey(std::string_view bytes) const {
  // Call-ID and CSeq: equal for an INVITE and its retransmissions.
  const std::string_view callId = findHeader(bytes, "Call-ID", sip::kMaxHeaderLineLength, 'i');
  const std::string_view cseq = findHeader(bytes, "CSeq", 64);
  uint64_t h = seed_ ^ 0x2545f4914f6cdd1dull;
  auto mix = [&h](std::string_view v) {
    for (const char c : v) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    h ^= h >> 29;
  };
  mix(callId);
  mix(cseq);
  return h;
}

Decision Shield::inspectLoad(const Flow& from, std::string_view bytes, const StartLine& sl,
                             MonoTime now) {
  if (sl.kind != StartLine::Request) return {};
  if (sl.method == sip::Method::Ack) {
    // The ACK of a 503 we sent statelessly: nothing above us knows it. Only
    // looked for while such ACKs can still come (no To scan per ACK otherwise).
    if (!sent503_ || now - last503_ > kShedAckWindow) return {};
    const std::string_view to = findHeader(bytes, "To", sip::kMaxHeaderLineLength, 't');
    if (headerTag(to).starts_with(kShedTagPrefix)) {
      ++stats_.shedAcksAbsorbed;
      --stats_.passed;
      return {Verdict::Drop, ShieldReason::Overload};
    }
    return {};
  }
  if (continuesExisting(sl.method)) return {};
  // A request inside a dialog (re-INVITE, in-dialog NOTIFY ...) belongs to
  // established work: never shed before new calls are.
  if (!headerTag(findHeader(bytes, "To", sip::kMaxHeaderLineLength, 't')).empty()) return {};
  // The wait of new work is the queue that overload control keeps short
  // (answers and in-dialog requests do not wait behind it: see turnOf): its
  // own wait, or how far the oldest still waiting is past due (the youngest
  // go first until then, so a backlog younger than max_queue_delay is the
  // order of service, not a node falling behind).
  const uint32_t dueUs = static_cast<uint32_t>(
      std::chrono::duration_cast<Micros>(overload_.config().maxQueueDelay).count());
  overload_.observeQueueWait(
      std::max(from.queuedUs, from.backlogUs > dueUs ? from.backlogUs - dueUs : 0));
  ShedReason why = ShedReason::Rate;
  const OverloadVerdict v =
      overload_.decide(keyOf(from.remote.ip()), from.queuedUs, from.backlogUs, now, &why);
  const bool invite = sl.method == sip::Method::Invite;
  if (v == OverloadVerdict::Admit) {
    if (invite) admittedInvites_.insert(requestKey(bytes), now);
    return {};
  }
  // A retransmission of an INVITE admitted earlier is part of a call in
  // progress: the transaction layer absorbs it.
  if (invite && admittedInvites_.contains(requestKey(bytes))) return {};
  --stats_.passed;
  ++stats_.dropped[static_cast<size_t>(ShieldReason::Overload)];
  return {v == OverloadVerdict::Drop ? Verdict::Drop : Verdict::Reject503, ShieldReason::Overload,
          invite};
}

Decision Shield::inspectSecurity(const Flow& from, std::string_view bytes, const StartLine& sl,
                                 MonoTime now) {
  ++stats_.received;
  auto drop = [this](ShieldReason r) {
    ++stats_.dropped[static_cast<size_t>(r)];
    return Decision{Verdict::Drop, r};
  };
  if (!config_.enabled) {
    ++stats_.passed;
    return {};
  }
  const int64_t nowMs = msOf(now);
  const IpKey ip = keyOf(from.remote.ip());

  // 1. Trusted: gateways and shield.trusted.
  if (trusted_->contains(ip)) {
    ++stats_.trusted;
    if (!trustedPath(sl, ip, nowMs)) return {Verdict::Reject503, ShieldReason::TrustedExcess};
    ++stats_.passed;
    return {};
  }

  // 2. Banned host or prefix.
  PrefixKey banned;
  if (BanRecord* b = bans_.lookup(ip, nowMs, &banned)) {
    noteHit(banned, *b);
    if (enforce(b->enforced ? config_.banMode : Mode::CountOnly, ShieldReason::Banned)) {
      return drop(ShieldReason::Banned);
    }
  }

  // Vouched for by authentication: trusted from here on (a ban came first).
  if (vouched_.size() > 0) {
    if (const Vouch* v = vouched_.find(ip); v != nullptr && v->untilMs > nowMs) {
      ++stats_.trusted;
      if (!trustedPath(sl, ip, nowMs)) {
        return {Verdict::Reject503, ShieldReason::TrustedExcess};
      }
      ++stats_.passed;
      return {};
    }
  }

  // 3. Scanner signatures in User-Agent.
  if (sl.kind == StartLine::Request && !signatures_.empty()) {
    const std::string_view ua = findHeader(bytes, "User-Agent", kMaxUserAgentScan);
    if (!ua.empty()) {
      for (const std::string& sig : signatures_) {
        if (!containsLowered(ua, sig)) continue;
        if (enforce(config_.signatureMode, ShieldReason::Signature)) {
          placeBan(hostPrefix(ip), BanReason::Signature,
                   "User-Agent \"" + printable(ua, 64) + "\" matches signature \"" + sig + "\"",
                   config_.banTime, nowMs);
          return drop(ShieldReason::Signature);
        }
        break;
      }
    }
  }

  // 4. Rates per source, then per prefix. Both the window and the bucket
  // see every message, so each keeps counting while the other trips.
  SourceState* src = sourceEntry(ip, true);
  {
    const bool window =
        windowTrips(src->rate, nowMs, config_.recentHits, config_.recentWindow.count());
    const bool bucket =
        bucketTrips(src->rate, nowMs, config_.rate, config_.burst, config_.rateIdleExpiry.count());
    if ((window || bucket) && enforce(config_.rateMode, ShieldReason::Rate)) {
      std::string detail =
          window ? "more than " + std::to_string(config_.recentHits) + " messages in " +
                       std::to_string(config_.recentWindow.count() / 1000) + " s (recent)"
                 : "over " + std::to_string(config_.rate) + "/s burst " +
                       std::to_string(config_.burst) + " (hashlimit)";
      placeBan(hostPrefix(ip), BanReason::Rate, std::move(detail), config_.banTime, nowMs);
      return drop(ShieldReason::Rate);
    }
  }
  SourceState* pfx = prefixEntry(ip, true);
  {
    const bool window =
        windowTrips(pfx->rate, nowMs, config_.prefixRecentHits, config_.recentWindow.count());
    const bool bucket = bucketTrips(pfx->rate, nowMs, config_.prefixRate, config_.prefixBurst,
                                    config_.rateIdleExpiry.count());
    if ((window || bucket) && enforce(config_.prefixRateMode, ShieldReason::PrefixRate)) {
      const PrefixKey p{prefixKeyOf(ip), static_cast<uint8_t>(prefixBits(ip))};
      std::string detail =
          (window ? "more than " + std::to_string(config_.prefixRecentHits) + " messages in " +
                        std::to_string(config_.recentWindow.count() / 1000) + " s"
                  : "over " + std::to_string(config_.prefixRate) + "/s burst " +
                        std::to_string(config_.prefixBurst)) +
          " from the prefix (last from " + from.remote.ip().toString() + ")";
      placeBan(p, BanReason::PrefixRate, std::move(detail), config_.banTime, nowMs);
      return drop(ShieldReason::PrefixRate);
    }
  }

  // 5. Not SIP.
  if (sl.kind == StartLine::Garbage && enforce(config_.malformedMode, ShieldReason::Malformed)) {
    return drop(ShieldReason::Malformed);
  }
  if (sl.kind != StartLine::Request) {
    ++stats_.passed;
    return {};
  }

  // 6. Method policy for untrusted sources.
  if (std::find(dropMethods_.begin(), dropMethods_.end(), sl.methodToken) != dropMethods_.end() &&
      enforce(config_.methodMode, ShieldReason::UnknownSource)) {
    return drop(ShieldReason::UnknownSource);
  }

  // 7. Concurrency: a request that would open a transaction (and an INVITE
  // a dialog) while the source or its prefix already holds the limit.
  if (!continuesExisting(sl.method)) {
    auto over = [&](int kind) {
      return src->open[kind] >= config_.maxConcurrent ||
             pfx->open[kind] >= config_.prefixMaxConcurrent;
    };
    const bool full =
        over(static_cast<int>(OccupancyKind::Transaction)) ||
        (sl.method == sip::Method::Invite && over(static_cast<int>(OccupancyKind::Dialog)));
    if (full && enforce(config_.concurrencyMode, ShieldReason::Concurrency)) {
      return drop(ShieldReason::Concurrency);
    }
  }
  ++stats_.passed;
  return {};
}

bool Shield::filter(const Flow& from, std::string_view bytes) {
  const Decision d = inspect(from, bytes, loop_.now());
  switch (d.verdict) {
    case Verdict::Pass:
      return true;
    case Verdict::Drop:
      if (d.newCall && shedListener_ != nullptr) shedListener_->onShedCall(from, bytes, 0);
      if (d.reason == ShieldReason::Banned && transport::isStream(from.protocol) &&
          transport_ != nullptr && from.connection != 0) {
        // A banned source keeps no connection open either.
        ++stats_.connectionsClosed;
        transport_->closeConnection(from.connection);
      }
      return false;
    case Verdict::Reject503: {
      if (transport_ == nullptr) return false;
      const bool overload = d.reason == ShieldReason::Overload;
      const std::string retryAfter =
          std::to_string(overload ? overload_.config().retryAfter : kTrustedRetryAfter);
      // RFC 7339: a client that said it supports overload control hears how
      // much of its new work to hold back.
      std::string oc;
      if (overload && overload_.config().rfc7339) {
        const std::string_view via =
            sip::firstViaParm(findHeader(bytes, "Via", sip::kMaxHeaderLineLength, 'v'));
        if (sip::viaSupportsOc(via)) {
          oc = overload_.ocParams(keyOf(from.remote.ip()));
          if (!oc.empty()) overload_.countOcResponse();
        }
      }
      std::string tag(kShedTagPrefix);
      tag += random_.token(10);
      std::string resp = sip::makeErrorResponse(bytes, 503, "Service Unavailable", tag,
                                                {{"Retry-After", retryAfter}}, oc);
      if (!resp.empty()) (void)transport_->send(from, resp);
      if (d.newCall && shedListener_ != nullptr) shedListener_->onShedCall(from, bytes, 503);
      return false;
    }
  }
  return false;
}

transport::Turn Shield::turnOf(const Flow&, std::string_view bytes) {
  using transport::Turn;
  if (!overload_.config().enabled) return Turn::Now;
  const StartLine sl = scanStartLine(bytes);
  if (sl.kind != StartLine::Request) return Turn::Now;
  if (sl.method == sip::Method::Cancel) return Turn::InOrder;
  if (continuesExisting(sl.method)) return Turn::Now;
  const bool inDialog = !headerTag(findHeader(bytes, "To", sip::kMaxHeaderLineLength, 't')).empty();
  return inDialog ? Turn::Now : Turn::Later;
}

void Shield::onMessage(const Flow& from, std::string&& bytes) {
  // filter() has decided already (the transport calls it first).
  next_.onMessage(from, std::move(bytes));
}

// ---------------------------------------------------------------------------
// Connections and occupancy

transport::Admission Shield::acceptConnection(const net::SockAddr& remote) {
  using transport::Admission;
  const IpKey ip = keyOf(remote.ip());
  // Who is trusted is known with the checks off too: the transport keeps
  // its reserved share for them either way.
  if (trusted_->contains(ip)) return Admission::Trusted;
  if (!config_.enabled) return Admission::Untrusted;
  const int64_t nowMs = msOf(loop_.now());
  PrefixKey banned;
  if (BanRecord* b = bans_.lookup(ip, nowMs, &banned)) {
    noteHit(banned, *b);
    if (enforce(b->enforced ? config_.banMode : Mode::CountOnly, ShieldReason::Banned)) {
      ++stats_.dropped[static_cast<size_t>(ShieldReason::Banned)];
      ++stats_.connectionsRefused;
      return Admission::Banned;
    }
  }
  // Vouched for by authentication: trusted from here on (a ban came first).
  if (vouched_.size() > 0) {
    if (const Vouch* v = vouched_.find(ip); v != nullptr && v->untilMs > nowMs) {
      return Admission::Trusted;
    }
  }
  // connlimit per source and per prefix, over every open connection of
  // untrusted sources (exact counts, see connectionsBySource_).
  const auto countOf = [](const ConnectionCounts& m, const IpKey& k) -> uint32_t {
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
  };
  const bool overSource = countOf(connectionsBySource_, ip) >= config_.maxConcurrent;
  const bool overPrefix =
      countOf(connectionsByPrefix_, prefixKeyOf(ip)) >= config_.prefixMaxConcurrent;
  if ((overSource || overPrefix) && enforce(config_.concurrencyMode, ShieldReason::Concurrency)) {
    ++stats_.dropped[static_cast<size_t>(ShieldReason::Concurrency)];
    ++stats_.connectionsRefused;
    return overSource ? Admission::UntrustedSource : Admission::UntrustedPrefix;
  }
  return Admission::Untrusted;
}

void Shield::onConnectionOpened(ConnectionId id, const net::SockAddr& remote,
                                transport::Admission admission) {
  // Trusted sources (gateways, shield.trusted, vouched) are not limited
  // here, so not tracked; the transport bounds them per IP.
  if (admission != transport::Admission::Untrusted) return;
  const IpKey ip = keyOf(remote.ip());
  connections_[id] = ip;
  ++connectionsBySource_[ip];
  ++connectionsByPrefix_[prefixKeyOf(ip)];
}

void Shield::onConnectionClosed(ConnectionId id) {
  forgetConnection(id);
  next_.onConnectionClosed(id);
}

void Shield::forgetConnection(ConnectionId id) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  const IpKey ip = it->second;
  connections_.erase(it);
  for (auto [map, key] :
       {std::pair{&connectionsBySource_, ip}, std::pair{&connectionsByPrefix_, prefixKeyOf(ip)}}) {
    if (auto c = map->find(key); c != map->end() && --c->second == 0) map->erase(c);
  }
}

void Shield::opened(OccupancyKind kind, const net::IpAddress& source) {
  noteTotal(kind, +1);
  const IpKey ip = keyOf(source);
  if (trusted_->contains(ip)) return;
  adjust(ip, static_cast<int>(kind), +1);
}

void Shield::closed(OccupancyKind kind, const net::IpAddress& source) {
  // Always decrements (when the entry exists): if the source became trusted
  // in between, leaving the count up would pin its entry forever.
  noteTotal(kind, -1);
  adjust(keyOf(source), static_cast<int>(kind), -1);
}

void Shield::noteTotal(OccupancyKind kind, int delta) {
  uint64_t& n = openTotal_[static_cast<int>(kind)];
  n = delta > 0 ? n + 1 : (n > 0 ? n - 1 : 0);
  if (kind == OccupancyKind::Transaction) {
    overload_.setTransactions(n);
  } else {
    overload_.setCalls(n);
  }
}

void Shield::adjust(const IpKey& ip, int kind, int delta) {
  if (SourceState* s = sourceEntry(ip, delta > 0))
    s->open[kind] = saturatingAdd(s->open[kind], delta);
  if (SourceState* p = prefixEntry(ip, delta > 0))
    p->open[kind] = saturatingAdd(p->open[kind], delta);
}

// ---------------------------------------------------------------------------
// Bans

BanRecord* Shield::placeBan(const PrefixKey& p, BanReason reason, std::string detail,
                            std::chrono::seconds base, int64_t nowMs) {
  if (!config_.autoBan) return nullptr;
  bool inserted = false;
  BanRecord* r = bans_.upsert(p, nowMs, &inserted);
  if (r == nullptr) {
    if (stats_.bansRefusedFull++ == 0) {
      log::warn("shield.ban_table_full")
          .kv("capacity", bans_.capacity())
          .kv("address", toString(p))
          .kv("note", "new bans are refused until older ones expire; drops go on");
    }
    return nullptr;
  }
  if (!inserted && r->liveAt(nowMs)) return r;  // already banned
  const int level = (!inserted && nowMs < r->forgetMs) ? std::min(r->level + 1, 255) : 1;
  double seconds = static_cast<double>(base.count()) *
                   std::pow(config_.banEscalation, static_cast<double>(level - 1));
  seconds = std::min(seconds, static_cast<double>(config_.banMaxTime.count()));
  const auto durationMs = static_cast<int64_t>(seconds * 1000.0);

  if (detail.size() > kMaxBanDetail) detail.resize(kMaxBanDetail);
  r->reason = reason;
  r->detail = std::move(detail);
  r->active = true;
  r->manual = false;
  r->enforced = config_.banMode == Mode::Enforce;
  r->level = static_cast<uint8_t>(level);
  r->createdUs = wallUsAt(nowMs);
  r->expiresMs = nowMs + durationMs;
  r->expiresUs = r->createdUs + durationMs * 1000;
  r->forgetMs = r->expiresMs + std::chrono::duration_cast<Millis>(config_.banMemory).count();
  r->hits = 1;
  r->hitsReported = 1;

  ++stats_.bansPlaced;
  ++stats_.bansByReason[static_cast<size_t>(reason)];
  if (level > 1) ++stats_.bansEscalated;
  log::info("shield.ban")
      .kv("address", toString(p))
      .kv("reason", banReasonName(reason))
      .kv("detail", r->detail)
      .kv("level", level)
      .kv("duration_s", durationMs / 1000)
      .kv("enforced", r->enforced);
  if (listener_) listener_->onBanAdded(infoOf(p, *r), /*fromStore=*/false);
  return r;
}

bool Shield::suspend(const net::IpAddress& source, BanReason reason, std::string_view detail,
                     std::optional<std::chrono::seconds> duration) {
  const IpKey ip = keyOf(source);
  if (trusted_->contains(ip)) {
    ++stats_.bansRefusedTrusted;
    return false;
  }
  vouched_.erase(ip);  // a suspension ends a vouch
  return placeBan(hostPrefix(ip), reason, std::string(detail), duration.value_or(config_.banTime),
                  msOf(loop_.now())) != nullptr;
}

void Shield::vouch(const net::IpAddress& source, std::chrono::seconds ttl) {
  const IpKey ip = keyOf(source);
  if (trusted_->contains(ip)) return;  // trusted anyway
  bool inserted = false;
  Vouch* v = vouched_.touch(ip, &inserted);
  v->untilMs = msOf(loop_.now()) + std::chrono::duration_cast<Millis>(ttl).count();
  // Its connections (the one it authenticated on, typically) leave the
  // untrusted share and its limits.
  if (connectionsBySource_.count(ip) != 0) promoteConnections(&ip);
}

void Shield::unvouch(const net::IpAddress& source) {
  vouched_.erase(keyOf(source));
}

void Shield::applyStoredBan(const BanInfo& ban) {
  const int64_t nowMs = msOf(loop_.now());
  const int64_t wallNow = clock_.wallMicros();
  const bool active = ban.active && (ban.expiresUs == 0 || ban.expiresUs > wallNow);
  bool inserted = false;
  BanRecord* r = bans_.upsert(ban.prefix, nowMs, &inserted);
  if (r == nullptr) {
    ++stats_.bansRefusedFull;
    return;
  }
  const bool wasLive = !inserted && r->liveAt(nowMs);
  // A row read back that is older than the ban we hold (this node escalated
  // it after the row was written, and the newer write has not been read
  // yet): ours is the newer truth.
  if (wasLive && r->createdUs > ban.createdUs) return;
  if (!inserted && r->reason == ban.reason && r->detail == ban.detail &&
      r->expiresUs == ban.expiresUs && r->active == active && r->manual == ban.manual &&
      r->level == ban.level) {
    return;  // our own ban, read back from the store
  }
  r->reason = ban.reason;
  r->detail = ban.detail.substr(0, kMaxBanDetail);
  r->manual = ban.manual;
  r->enforced = config_.banMode == Mode::Enforce;
  r->level = static_cast<uint8_t>(std::clamp(ban.level, 1, 255));
  r->createdUs = ban.createdUs;
  r->expiresUs = ban.expiresUs;
  r->active = active;
  r->expiresMs = ban.expiresUs == 0 ? kNeverMs : nowMs + (ban.expiresUs - wallNow) / 1000;
  r->forgetMs = ban.expiresUs == 0
                    ? kNeverMs
                    : r->expiresMs + std::chrono::duration_cast<Millis>(config_.banMemory).count();
  r->hits = std::max<uint64_t>(r->hits, ban.hits);
  r->hitsReported = r->hits;
  if (active && !wasLive) {
    ++stats_.bansPlaced;
    ++stats_.bansByReason[static_cast<size_t>(ban.reason)];
    log::info("shield.ban")
        .kv("address", toString(ban.prefix))
        .kv("reason", banReasonName(ban.reason))
        .kv("detail", r->detail)
        .kv("level", static_cast<int>(r->level))
        .kv("duration_s", ban.expiresUs == 0 ? int64_t{-1} : (ban.expiresUs - wallNow) / 1'000'000)
        .kv("origin", "store");
  }
  if (listener_) {
    if (active) {
      listener_->onBanAdded(infoOf(ban.prefix, *r), /*fromStore=*/true);
    } else if (wasLive) {
      listener_->onBanRemoved(ban.prefix);
    }
  }
}

void Shield::liftBan(const PrefixKey& prefix) {
  BanRecord* r = bans_.find(prefix);
  if (r == nullptr) return;
  const bool wasLive = r->liveAt(msOf(loop_.now()));
  // An operator's lift forgives: no history left to escalate a next ban.
  bans_.erase(prefix);
  if (!wasLive) return;
  ++stats_.bansLifted;
  log::info("shield.ban_lifted").kv("address", toString(prefix));
  if (listener_) listener_->onBanRemoved(prefix);
}

BanInfo Shield::infoOf(const PrefixKey& p, const BanRecord& r) const {
  BanInfo b;
  b.prefix = p;
  b.reason = r.reason;
  b.detail = r.detail;
  b.createdUs = r.createdUs;
  b.expiresUs = r.expiresUs;
  b.hits = r.hits;
  b.level = r.level;
  b.manual = r.manual;
  b.active = r.active;
  b.enforced = r.enforced;
  return b;
}

std::optional<BanInfo> Shield::banFor(const net::IpAddress& ip) {
  PrefixKey p;
  BanRecord* r = bans_.lookup(keyOf(ip), msOf(loop_.now()), &p);
  if (r == nullptr) return std::nullopt;
  return infoOf(p, *r);
}

std::vector<BanInfo> Shield::activeBans() {
  const int64_t nowMs = msOf(loop_.now());
  std::vector<BanInfo> out;
  bans_.forEach([&](const PrefixKey& p, const BanRecord& r) {
    if (r.liveAt(nowMs)) out.push_back(infoOf(p, r));
  });
  return out;
}

void Shield::noteHit(const PrefixKey& p, BanRecord& r) {
  ++r.hits;
  if (!r.hitsQueued && hitsQueue_.size() < bans_.capacity()) {
    r.hitsQueued = true;
    hitsQueue_.push_back(p);
  }
}

void Shield::reportHits() {
  if (hitsQueue_.empty()) return;
  std::vector<BanHits> out;
  const size_t n = std::min(hitsQueue_.size(), kMaxHitsPerReport);
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    BanRecord* r = bans_.find(hitsQueue_[i]);
    if (r == nullptr) continue;
    r->hitsQueued = false;
    if (r->hits == r->hitsReported) continue;
    r->hitsReported = r->hits;
    out.push_back(BanHits{hitsQueue_[i], r->hits});
  }
  hitsQueue_.erase(hitsQueue_.begin(), hitsQueue_.begin() + static_cast<ptrdiff_t>(n));
  if (listener_ && !out.empty()) listener_->onBanHits(out);
}

void Shield::sweep(int64_t nowMs) {
  reportHits();
  // Forget ban history past ban_memory. Looks at the least recently placed
  // records; one that must stay goes round to the front, so a permanent ban
  // cannot stall the sweep.
  for (int i = 0; i < kSweepPerTick && bans_.size() > 0; ++i) {
    const PrefixKey k = *bans_.oldestKey();
    BanRecord* r = bans_.find(k);
    if (r->liveAt(nowMs) || r->forgetMs > nowMs) {
      bool inserted = false;
      (void)bans_.upsert(k, nowMs, &inserted);
      continue;
    }
    if (r->active) ++sweptExpired_;
    bans_.erase(k);
  }
  // Idle rate state (the oldest entries; a pinned one goes round).
  const int64_t idle = std::max(config_.recentWindow, config_.rateIdleExpiry).count();
  for (SourceTable* table : {&sources_, &prefixes_}) {
    for (int i = 0; i < kSweepPerTick && table->size() > 0; ++i) {
      const IpKey k = *table->oldestKey();
      SourceState* old = table->oldestValue();
      if (nowMs - old->rate.lastMs() < idle) break;  // everything newer is younger
      if (old->pinned()) {
        bool inserted = false;
        (void)table->touch(k, &inserted);
        continue;
      }
      table->erase(k);
    }
  }
  for (int i = 0; i < kSweepPerTick && vouched_.size() > 0; ++i) {
    const IpKey k = *vouched_.oldestKey();
    if (vouched_.oldestValue()->untilMs > nowMs) {
      bool inserted = false;
      (void)vouched_.touch(k, &inserted);  // still valid: round to the front
      continue;
    }
    vouched_.erase(k);
  }
  for (int i = 0; i < kSweepPerTick; ++i) {
    Bucket* old = trustedBuckets_.oldestValue();
    if (old == nullptr || nowMs - old->rate.lastMs() < config_.rateIdleExpiry.count()) break;
    trustedBuckets_.erase(IpKey(*trustedBuckets_.oldestKey()));
  }
}

// ---------------------------------------------------------------------------
// Stats

size_t Shield::memoryBytes() const {
  // The hit queue never holds more keys than the ban table has slots. The
  // connection maps are bounded by the transport's connection table.
  return sources_.memoryBytes() + prefixes_.memoryBytes() + trustedBuckets_.memoryBytes() +
         vouched_.memoryBytes() + bans_.memoryBytes() + bans_.capacity() * sizeof(PrefixKey);
}

const ShieldStats& Shield::stats() {
  const int64_t nowMs = msOf(loop_.now());
  stats_.sources = sources_.size();
  stats_.prefixes = prefixes_.size();
  stats_.bansActive = bans_.activeCount(nowMs);
  stats_.banRecords = bans_.size();
  stats_.bansExpired = bans_.expiredCount() + sweptExpired_;
  stats_.trustedPrefixes = trusted_->size();
  stats_.trustedBuckets = trustedBuckets_.size();
  stats_.vouched = vouched_.size();
  stats_.openConnections = connections_.size();
  stats_.memoryBytes = memoryBytes();
  return stats_;
}

}  // namespace tollgate::shield
