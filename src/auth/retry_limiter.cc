// Failure counting, suspension and escalation. See retry_limiter.h.
#include "auth/retry_limiter.h"

#include <algorithm>
#include <cstring>

namespace tollgate::auth {

namespace {

int64_t micros(std::chrono::seconds s) {
  return std::chrono::duration_cast<std::chrono::microseconds>(s).count();
}

std::string_view clip(std::string_view username) {
  return username.substr(0, std::min(username.size(), kMaxTrackedUsername));
}

}  // namespace

std::string_view suspensionKindName(SuspensionKind k) {
  return k == SuspensionKind::Pair ? "user_source" : "source";
}

bool suspensionKindFromName(std::string_view name, SuspensionKind* out) {
  if (name == "user_source") {
    *out = SuspensionKind::Pair;
  } else if (name == "source") {
    *out = SuspensionKind::Source;
  } else {
    return false;
  }
  return true;
}

AuthRetryLimiter::AuthRetryLimiter(const Clock& clock, RetryLimits limits, size_t maxPairs,
                                   size_t maxSources)
    : clock_(clock),
      limits_(limits),
      pairs_(std::max<size_t>(maxPairs, 1), KeyHash{}),
      sources_(std::max<size_t>(maxSources, 1), KeyHash{}) {}

net::IpAddress AuthRetryLimiter::sourceKey(const net::IpAddress& ip) {
  if (!ip.isV6()) return ip;
  // The /64 network: the first 8 bytes of the address, the rest zero.
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  std::memcpy(&sa.sin6_addr, ip.bytes(), 8);
  return net::SockAddr::fromSockaddr(reinterpret_cast<const sockaddr*>(&sa)).ip();
}

AuthRetryLimiter::KeyView AuthRetryLimiter::keyOf(std::string_view username,
                                                  const net::IpAddress& source) {
  return KeyView{clip(username), source};
}

bool AuthRetryLimiter::suspended(std::string_view username, const net::IpAddress& source) const {
  if (!limits_.enabled) return false;
  const net::IpAddress key = sourceKey(source);
  const int64_t now = clock_.wallMicros();
  if (const Entry* s = sources_.find(keyOf({}, key)); s && now < s->untilUs) return true;
  const Entry* p = pairs_.find(keyOf(username, key));
  return p && now < p->untilUs;
}

bool AuthRetryLimiter::sourceSuspended(const net::IpAddress& source) const {
  if (!limits_.enabled) return false;
  const Entry* s = sources_.find(keyOf({}, sourceKey(source)));
  return s && clock_.wallMicros() < s->untilUs;
}

bool AuthRetryLimiter::fail(const KeyView& k, Entry& e, uint32_t limit, SuspensionKind kind,
                            int64_t now) {
  if (now < e.untilUs) return false;  // already suspended
  if (e.lastFailureUs != 0 && now - e.lastFailureUs > micros(limits_.failureWindow)) {
    e.failures = 0;
  }
  ++e.failures;
  e.lastFailureUs = now;
  if (e.failures < limit) return false;

  // Escalation: a key that offends again within kOffenseMemory of its last
  // suspension gets twice the previous time, up to the maximum.
  if (e.lastOffenseUs == 0 || now - e.lastOffenseUs > micros(kOffenseMemory)) e.offenses = 0;
  ++e.offenses;
  const int64_t duration = durationUs(e.offenses);
  e.sinceUs = now;
  e.untilUs = now + duration;
  e.lastOffenseUs = e.untilUs;
  ++stats_.suspensions;
  if (listener_) listener_->onSuspended(toSuspension(k, e, kind));
  e.failures = 0;  // counted afresh once the suspension is over
  return true;
}

int64_t AuthRetryLimiter::durationUs(uint32_t offenses) const {
  int64_t duration = micros(limits_.suspendTime);
  const int64_t cap = std::max(micros(limits_.maxSuspendTime), duration);
  for (uint32_t i = 1; i < offenses && duration < cap; ++i) duration *= 2;
  return std::min(duration, cap);
}

Suspension AuthRetryLimiter::prospective(SuspensionKind kind, std::string_view username,
                                         const net::IpAddress& source) const {
  const bool pair = kind == SuspensionKind::Pair;
  const KeyView k = keyOf(pair ? username : std::string_view(), sourceKey(source));
  const Entry* e = (pair ? pairs_ : sources_).find(k);
  const int64_t now = clock_.wallMicros();
  uint32_t offenses = 1;
  if (e != nullptr && e->lastOffenseUs != 0 && now - e->lastOffenseUs <= micros(kOffenseMemory)) {
    offenses = e->offenses + 1;
  }
  Suspension s;
  s.kind = kind;
  s.username = std::string(k.username);
  s.source = k.source;
  s.sinceUs = now;
  s.untilUs = now + durationUs(offenses);
  s.offenses = offenses;
  s.failures = pair ? limits_.maxRetry : limits_.sourceMaxRetry;
  return s;
}

void AuthRetryLimiter::install(const Suspension& s, bool isNew) {
  if (!limits_.enabled) return;
  const bool pair = s.kind == SuspensionKind::Pair;
  const KeyView k =
      keyOf(pair ? std::string_view(s.username) : std::string_view(), sourceKey(s.source));
  if (const Entry* e = (pair ? pairs_ : sources_).find(k); e && e->untilUs >= s.untilUs) return;
  restore(s);
  if (!isNew) return;
  ++stats_.suspensions;
  if (listener_) listener_->onSuspended(s);
}

bool AuthRetryLimiter::recordFailure(std::string_view username, const net::IpAddress& source) {
  ++stats_.failures;
  if (!limits_.enabled) return false;
  // Attempts while suspended are not verified at all (the caller drops
  // them), so they neither extend the suspension nor count for the source.
  if (suspended(username, source)) return false;
  const net::IpAddress key = sourceKey(source);
  const int64_t now = clock_.wallMicros();
  const KeyView pair = keyOf(username, key);
  bool suspendedNow = fail(pair, *pairs_.touch(pair), limits_.maxRetry, SuspensionKind::Pair, now);
  const KeyView src = keyOf({}, key);
  if (fail(src, *sources_.touch(src), limits_.sourceMaxRetry, SuspensionKind::Source, now)) {
    suspendedNow = true;
  }
  return suspendedNow;
}

void AuthRetryLimiter::recordSuccess(std::string_view username, const net::IpAddress& source) {
  if (Entry* p = pairs_.find(keyOf(username, sourceKey(source)))) {
    p->failures = 0;
    p->lastFailureUs = 0;
  }
}

void AuthRetryLimiter::restore(const Suspension& s) {
  Table& t = s.kind == SuspensionKind::Pair ? pairs_ : sources_;
  Entry& e = *t.touch(keyOf(s.kind == SuspensionKind::Pair ? std::string_view(s.username) : "",
                            sourceKey(s.source)));
  e.sinceUs = s.sinceUs;
  e.untilUs = s.untilUs;
  e.offenses = s.offenses;
  e.lastOffenseUs = s.untilUs;
  e.failures = 0;
}

bool AuthRetryLimiter::lift(SuspensionKind kind, std::string_view username,
                            const net::IpAddress& source, int64_t untilUs) {
  Table& t = kind == SuspensionKind::Pair ? pairs_ : sources_;
  Entry* e = t.find(keyOf(kind == SuspensionKind::Pair ? username : "", sourceKey(source)));
  if (!e || e->untilUs <= clock_.wallMicros()) return false;
  if (untilUs != 0 && e->untilUs != untilUs) return false;  // a newer suspension: keep it
  e->untilUs = 0;
  e->failures = 0;
  e->lastFailureUs = 0;
  // An operator lifting a suspension forgives the offense as well.
  if (e->offenses > 0) --e->offenses;
  ++stats_.lifted;
  return true;
}

Suspension AuthRetryLimiter::toSuspension(const KeyView& k, const Entry& e,
                                          SuspensionKind kind) const {
  Suspension s;
  s.kind = kind;
  s.username = std::string(k.username);
  s.source = k.source;
  s.sinceUs = e.sinceUs;
  s.untilUs = e.untilUs;
  s.offenses = e.offenses;
  s.failures = e.failures;
  return s;
}

std::vector<Suspension> AuthRetryLimiter::active() const {
  std::vector<Suspension> out;
  const int64_t now = clock_.wallMicros();
  auto collect = [&](const Table& t, SuspensionKind kind) {
    t.forEach([&](const Key& k, const Entry& e) {
      if (now < e.untilUs) out.push_back(toSuspension(KeyView{k.username, k.source}, e, kind));
    });
  };
  collect(pairs_, SuspensionKind::Pair);
  collect(sources_, SuspensionKind::Source);
  return out;
}

RetryLimiterStats AuthRetryLimiter::stats() const {
  RetryLimiterStats s = stats_;
  s.evicted = pairs_.evictions() + sources_.evictions();
  s.pairsTracked = pairs_.size();
  s.sourcesTracked = sources_.size();
  return s;
}

}  // namespace tollgate::auth
