// Channel counts and rate limits by entity. See call_limits.h.
#include "admission/call_limits.h"

#include <algorithm>
#include <cmath>

namespace tollgate::admission {

void CallLimits::beginReload() {
  for (Slot& s : slots_) s.configured = false;
}

CallLimits::Handle CallLimits::configure(std::string_view key, const CallLimitsSpec& spec,
                                         MonoTime now) {
  Handle h = find(key);
  if (h == kNone) {
    if (!free_.empty()) {
      h = free_.back();
      free_.pop_back();
      slots_[h] = Slot{};
    } else {
      h = static_cast<Handle>(slots_.size());
      slots_.emplace_back();
    }
    slots_[h].key = std::string(key);
    byKey_.emplace(slots_[h].key, h);
  }
  Slot& s = slots_[h];
  const bool rateChanged = !s.live || s.spec.cps != spec.cps || s.spec.cpsBurst != spec.cpsBurst;
  s.spec = spec;
  if (rateChanged) configureBucket(s, now);
  s.live = true;
  s.configured = true;
  return h;
}

double CallLimits::burstOf(const CallLimitsSpec& spec) {
  return spec.cpsBurst > 0 ? spec.cpsBurst : std::max(1.0, std::ceil(spec.cps));
}

void CallLimits::configureBucket(Slot& s, MonoTime now) {
  const CallLimitsSpec& spec = s.spec;
  const double d = static_cast<double>(share_);
  double burst = burstOf(spec);
  // A share of the burst is whole tokens, at least one: a node must be able
  // to admit a call at all.
  if (share_ > 1) burst = std::max(1.0, std::ceil(burst / d));
  s.bucket.configure(spec.cps / d, burst, now);
}

uint32_t CallLimits::channels(const Slot& s) const {
  if (s.spec.maxConcurrent <= 0) return 0;
  const auto max = static_cast<uint32_t>(s.spec.maxConcurrent);
  return static_cast<uint32_t>((max + share_ - 1) / share_);
}

bool CallLimits::overShare(Handle h, size_t divisor) const {
  if (h >= slots_.size()) return false;
  const Slot& s = slots_[h];
  if (s.spec.maxConcurrent <= 0) return false;
  divisor = std::max<size_t>(1, divisor);
  const auto max = static_cast<uint32_t>(s.spec.maxConcurrent);
  return s.active > (max + divisor - 1) / divisor;
}

void CallLimits::setShare(size_t divisor, MonoTime now) {
  divisor = std::max<size_t>(1, divisor);
  if (divisor == share_) return;
  share_ = divisor;
  for (Slot& s : slots_) {
    if (s.live) configureBucket(s, now);
  }
}

void CallLimits::endReload() {
  for (Slot& s : slots_) {
    if (s.live && !s.configured) {
      s.live = false;
      s.spec = CallLimitsSpec{};
      s.bucket.configure(0, 0, MonoTime{});
    }
  }
  gc();
}

void CallLimits::gc() {
  for (Handle h = 0; h < slots_.size(); ++h) {
    Slot& s = slots_[h];
    if (!s.live && s.active == 0 && !s.key.empty()) {
      byKey_.erase(s.key);
      s.key.clear();
      free_.push_back(h);
    }
  }
}

CallLimits::Handle CallLimits::find(std::string_view key) const {
  auto it = byKey_.find(key);
  return it == byKey_.end() ? kNone : it->second;
}

CallLimits::Decision CallLimits::tryAcquire(std::span<const Handle> entities, MonoTime now) {
  for (Handle h : entities) {
    if (h == kNone) continue;
    const Slot& s = slots_[h];
    if (s.spec.maxConcurrent > 0 && s.active >= channels(s)) {
      return {Verdict::Concurrency, h, Millis(0)};
    }
  }
  for (Handle h : entities) {
    if (h == kNone) continue;
    Slot& s = slots_[h];
    if (!s.bucket.available(now)) return {Verdict::Rate, h, s.bucket.untilNextToken()};
  }
  for (Handle h : entities) {
    if (h == kNone) continue;
    Slot& s = slots_[h];
    if (s.bucket.limited()) s.bucket.take();
    ++s.active;
  }
  return {};
}

bool CallLimits::wouldAdmit(Handle h, MonoTime now) {
  if (h == kNone) return true;
  Slot& s = slots_[h];
  if (s.spec.maxConcurrent > 0 && s.active >= channels(s)) return false;
  return s.bucket.available(now);
}

void CallLimits::acquire(Handle h, MonoTime now) {
  if (h == kNone) return;
  Slot& s = slots_[h];
  if (s.bucket.available(now)) s.bucket.take();
  ++s.active;
}

void CallLimits::release(Handle h) {
  if (h >= slots_.size()) return;
  Slot& s = slots_[h];
  if (s.active > 0) --s.active;
  if (!s.live && s.active == 0 && !s.key.empty()) {
    byKey_.erase(s.key);
    s.key.clear();
    free_.push_back(h);
  }
}

}  // namespace tollgate::admission
