// Fraud thresholds. See fraud_thresholds.h.
#include "admission/fraud_thresholds.h"

#include <algorithm>
#include <ctime>

#include "common/log.h"

namespace tollgate::admission {

namespace {
constexpr int64_t kMinuteUs = 60'000'000;
constexpr int64_t kMinuteSliceUs = kMinuteUs / 32;
constexpr uint8_t kCountersVersion = 2;   // 2: sparse windows
constexpr uint32_t kOrphan = UINT32_MAX;  // a counter whose rule went away, kept for live calls
constexpr size_t kMaxSubject = 128;
constexpr size_t kMaxNumber = 64;

// localtime_r per call would take the time zone lock each time; the answer
// only changes once a second. The worker is one thread, but keep it safe
// for several workers.
thread_local int64_t cachedSecond = INT64_MIN;
thread_local LocalTime cachedLocal;
}  // namespace

LocalTime localTimeOf(int64_t wallUs) {
  const int64_t sec = wallUs / 1'000'000;
  if (sec != cachedSecond) {
    time_t t = static_cast<time_t>(sec);
    struct tm tm {};
    localtime_r(&t, &tm);
    cachedLocal.minuteOfDay = tm.tm_hour * 60 + tm.tm_min;
    // Day number in local time: seconds shifted by the zone's offset.
    cachedLocal.day = (sec + tm.tm_gmtoff) / 86'400;
    cachedSecond = sec;
  }
  return cachedLocal;
}

std::string_view measureName(FraudMeasure m) {
  switch (m) {
    case FraudMeasure::CallsPerMinute:
      return "calls_per_minute";
    case FraudMeasure::Concurrent:
      return "concurrent";
    case FraudMeasure::SequentialSameNumber:
      return "sequential_same_number";
    case FraudMeasure::MinutesPerDay:
      return "minutes_per_day";
  }
  return "calls_per_minute";
}

bool FraudThresholds::Rule::active(int minute) const {
  if (windowStart < 0) return true;
  if (windowStart < windowEnd) return minute >= windowStart && minute < windowEnd;
  return minute >= windowStart || minute < windowEnd;  // spans midnight
}

FraudThresholds::FraudThresholds(size_t maxCounters)
    : maxCounters_(maxCounters ? maxCounters : 1) {}

void FraudThresholds::configure(const std::vector<FraudRule>& defs) {
  std::vector<Rule> rules;
  rules.reserve(defs.size());
  for (const FraudRule& d : defs) {
    Rule r;
    r.def = d;
    if (!d.window.empty() && !parseTimeWindow(d.window, &r.windowStart, &r.windowEnd)) {
      r.windowStart = r.windowEnd = -1;
    }
    rules.push_back(std::move(r));
  }
  // Remap counters: same name and same definition keeps them. By name, so
  // a reload costs O(rules), not O(rules^2).
  std::unordered_map<std::string_view, uint32_t> newByName;
  for (uint32_t j = 0; j < rules.size(); ++j) newByName.emplace(rules[j].def.name, j);
  std::vector<uint32_t> remap(rules_.size(), kOrphan);
  for (size_t i = 0; i < rules_.size(); ++i) {
    auto it = newByName.find(rules_[i].def.name);
    if (it != newByName.end() && rules[it->second].def == rules_[i].def) remap[i] = it->second;
  }
  for (uint32_t idx = 0; idx < counters_.size(); ++idx) {
    Counter& c = counters_[idx];
    if (c.rule == kOrphan) continue;  // orphaned already, or a free slot
    const uint32_t to = c.rule < remap.size() ? remap[c.rule] : kOrphan;
    if (to != kOrphan) {
      c.rule = to;
      continue;
    }
    scratchKey_ = rules_[c.rule].def.name;
    scratchKey_ += '\0';
    scratchKey_ += c.subject;
    index_.erase(scratchKey_);
    c.rule = kOrphan;
    if (c.concurrent == 0) {
      c = Counter{};
      c.rule = kOrphan;
      freeCounters_.push_back(idx);
    }
  }
  rules_ = std::move(rules);
  byPrefix_.clear();
  maxPrefix_ = 0;
  for (uint32_t i = 0; i < rules_.size(); ++i) {
    for (const std::string& p : rules_[i].def.prefixes) {
      byPrefix_[p].push_back(i);
      maxPrefix_ = std::max(maxPrefix_, p.size());
    }
  }
}

uint32_t FraudThresholds::counterFor(uint32_t rule, std::string_view subject, int64_t nowUs) {
  scratchKey_ = rules_[rule].def.name;
  scratchKey_ += '\0';
  scratchKey_.append(subject.substr(0, kMaxSubject));
  if (auto it = index_.find(scratchKey_); it != index_.end()) return it->second;
  uint32_t idx;
  if (!freeCounters_.empty()) {
    idx = freeCounters_.back();
    freeCounters_.pop_back();
  } else if (counters_.size() < maxCounters_) {
    idx = static_cast<uint32_t>(counters_.size());
    counters_.emplace_back();
  } else {
    // Full: reuse the idle counter used longest ago. Subjects are
    // provisioned accounts, so this only happens with absurd provisioning;
    // a linear scan is fine there.
    idx = kOrphan;
    uint64_t oldest = UINT64_MAX;
    for (uint32_t i = 0; i < counters_.size(); ++i) {
      const Counter& c = counters_[i];
      if (c.concurrent == 0 && c.rule != kOrphan && c.lastUseUs < oldest) {
        oldest = c.lastUseUs;
        idx = i;
      }
    }
    if (idx == kOrphan) return kOrphan;
    std::string old = rules_[counters_[idx].rule].def.name;
    old += '\0';
    old += counters_[idx].subject;
    index_.erase(old);
    log::warn("fraud.counter_evicted").kv("counters", counters_.size());
  }
  Counter& c = counters_[idx];
  c = Counter{};
  c.rule = rule;
  c.subject = std::string(subject.substr(0, kMaxSubject));
  c.lastUseUs = static_cast<uint64_t>(nowUs);
  index_.emplace(scratchKey_, idx);
  return idx;
}

void FraudThresholds::warn(Counter& c, FraudMeasure m, int64_t value, int64_t level) {
  ++stats_.warnings;
  const uint8_t bit = static_cast<uint8_t>(1u << static_cast<unsigned>(m));
  if (c.warned & bit) return;  // one line per crossing
  c.warned |= bit;
  log::warn("fraud.warning")
      .kv("rule", rules_[c.rule].def.name)
      .kv("subject", c.subject)
      .kv("measure", measureName(m))
      .kv("value", value)
      .kv("warning", level);
}

FraudThresholds::Verdict FraudThresholds::admit(std::string_view subject,
                                                std::string_view accountName,
                                                std::string_view callee, int64_t nowUs,
                                                const LocalTime& local, Ticket* ticket) {
  Verdict v;
  if (rules_.empty()) return v;
  scratchRules_.clear();
  const size_t longest = std::min(maxPrefix_, callee.size());
  for (size_t len = 0; len <= longest; ++len) {
    auto it = byPrefix_.find(callee.substr(0, len));
    if (it == byPrefix_.end()) continue;
    for (uint32_t r : it->second) {
      const Rule& rule = rules_[r];
      if (!rule.def.account.empty() && rule.def.account != accountName) continue;
      if (!rule.active(local.minuteOfDay)) continue;
      scratchRules_.push_back(r);
    }
  }
  if (scratchRules_.empty()) return v;
  std::sort(scratchRules_.begin(), scratchRules_.end());
  scratchRules_.erase(std::unique(scratchRules_.begin(), scratchRules_.end()), scratchRules_.end());

  const std::string_view number = callee.substr(0, kMaxNumber);
  // First judge every rule (nothing counted), then count: a refused call
  // leaves no trace in the counters.
  size_t first = ticket ? ticket->counters.size() : 0;
  std::vector<uint32_t> untracked;  // only when no ticket is given
  std::vector<uint32_t>& idxs = ticket ? ticket->counters : untracked;
  for (uint32_t r : scratchRules_) {
    uint32_t ci = counterFor(r, subject, nowUs);
    if (ci == kOrphan) continue;
    idxs.push_back(ci);
    Counter& c = counters_[ci];
    if (c.day != local.day) {
      c.day = local.day;
      c.answeredMs = 0;
      c.run = 0;
      c.lastNumber.clear();
    }
    const FraudRule& d = rules_[r].def;
    const int64_t cpm = static_cast<int64_t>(c.perMinute.count(nowUs, kMinuteSliceUs)) + 1;
    const int64_t conc = static_cast<int64_t>(c.concurrent) + 1;
    const int64_t seq = c.lastNumber == number ? static_cast<int64_t>(c.run) + 1 : 1;
    const int64_t usedMs = c.answeredMs;
    // The other nodes' share (cluster), while fresh.
    const bool fresh = c.sharedAtUs != 0 && nowUs - c.sharedAtUs < kSharedFreshUs;
    const FraudShared& o = c.shared;
    const int64_t oCpm = fresh ? o.callsPerMinute : 0;
    const int64_t oConc = fresh ? o.concurrent : 0;
    const int64_t oMs = fresh && o.day == local.day ? o.answeredMs : 0;
    // The cluster's run counts every node's calls in arrival order; ours
    // only this node's: the longer of the two.
    const int64_t oSeq = fresh && o.lastNumber == number ? o.run + 1 : 0;
    bool localOnly = true;
    auto over = [&](FraudMeasure m, int64_t own, int64_t value, int critical, bool reached) {
      if (v.blocked || critical <= 0) return;
      if (reached ? value >= critical : value > critical) {
        v = Verdict{true, d.name, m, value, critical};
        localOnly = reached ? own >= critical : own > critical;
      }
    };
    over(FraudMeasure::CallsPerMinute, cpm, cpm + oCpm, d.callsPerMinute.critical, false);
    over(FraudMeasure::Concurrent, conc, conc + oConc, d.concurrent.critical, false);
    over(FraudMeasure::SequentialSameNumber, seq, std::max(seq, oSeq),
         d.sequentialSameNumber.critical, false);
    // Minutes are spent when the budget is reached, not exceeded.
    over(FraudMeasure::MinutesPerDay, usedMs / 60'000, (usedMs + oMs) / 60'000,
         d.minutesPerDay.critical, true);
    if (v.blocked) {
      if (!localOnly) {
        ++stats_.blockedShared;
        // Refresh the view that refused, so a stale one cannot keep refusing.
        if (sink_ != nullptr) sink_->counted(d.name, c.subject, number, nowUs, local.day, false);
      }
      break;
    }
  }
  if (v.blocked) {
    idxs.resize(first);
    ++stats_.blocked;
    return v;
  }
  for (size_t i = first; i < idxs.size(); ++i) {
    Counter& c = counters_[idxs[i]];
    const FraudRule& d = rules_[c.rule].def;
    c.lastUseUs = static_cast<uint64_t>(nowUs);
    const int64_t cpm = c.perMinute.add(nowUs, kMinuteSliceUs);
    ++c.concurrent;
    if (c.lastNumber == number) {
      ++c.run;
    } else {
      c.lastNumber.assign(number.data(), number.size());
      c.run = 1;
    }
    const int64_t usedMin = c.answeredMs / 60'000;
    auto check = [&](FraudMeasure m, int64_t value, int warning, bool reached) {
      const uint8_t bit = static_cast<uint8_t>(1u << static_cast<unsigned>(m));
      if (warning > 0 && (reached ? value >= warning : value > warning)) {
        warn(c, m, value, warning);
      } else {
        c.warned &= static_cast<uint8_t>(~bit);
      }
    };
    check(FraudMeasure::CallsPerMinute, cpm, d.callsPerMinute.warning, false);
    check(FraudMeasure::Concurrent, c.concurrent, d.concurrent.warning, false);
    check(FraudMeasure::SequentialSameNumber, c.run, d.sequentialSameNumber.warning, false);
    check(FraudMeasure::MinutesPerDay, usedMin, d.minutesPerDay.warning, true);
    if (sink_ != nullptr) sink_->counted(d.name, c.subject, number, nowUs, local.day, true);
  }
  return v;
}

void FraudThresholds::absorbShared(std::string_view rule, std::string_view subject,
                                   FraudShared shared, int64_t nowUs) {
  scratchKey_ = rule;
  scratchKey_ += '\0';
  scratchKey_.append(subject.substr(0, kMaxSubject));
  auto it = index_.find(scratchKey_);
  if (it == index_.end()) return;
  Counter& c = counters_[it->second];
  shared.lastNumber.resize(std::min(shared.lastNumber.size(), kMaxNumber));
  c.shared = std::move(shared);
  c.sharedAtUs = nowUs;
}

void FraudThresholds::forgetShared() {
  for (Counter& c : counters_) {
    c.shared = FraudShared{};
    c.sharedAtUs = 0;
  }
}

void FraudThresholds::forEachHolding(int64_t nowUs, size_t max,
                                     const std::function<void(const Holding&)>& fn) {
  size_t n = 0;
  for (Counter& c : counters_) {
    if (n >= max) return;
    if (c.rule == kOrphan || c.subject.empty()) continue;
    Holding h;
    h.rule = rules_[c.rule].def.name;
    h.subject = c.subject;
    h.concurrent = c.concurrent;
    h.callsPerMinute = c.perMinute.count(nowUs, kMinuteSliceUs);
    h.answeredMs = c.answeredMs;
    h.day = c.day;
    if (h.concurrent == 0 && h.callsPerMinute == 0 && h.answeredMs == 0) continue;
    ++n;
    fn(h);
  }
}

void FraudThresholds::onCallEnded(const Ticket& ticket, int64_t answeredMs,
                                  const LocalTime& local) {
  for (uint32_t idx : ticket.counters) {
    if (idx >= counters_.size()) continue;
    Counter& c = counters_[idx];
    if (c.concurrent > 0) --c.concurrent;
    if (c.rule == kOrphan) {
      if (c.concurrent == 0) {
        c = Counter{};
        c.rule = kOrphan;
        freeCounters_.push_back(idx);
      }
      continue;
    }
    if (c.day != local.day) {
      c.day = local.day;
      c.answeredMs = 0;
      c.run = 0;
      c.lastNumber.clear();
    }
    c.answeredMs += std::max<int64_t>(answeredMs, 0);
    if (sink_ != nullptr) {
      sink_->ended(rules_[c.rule].def.name, c.subject, std::max<int64_t>(answeredMs, 0), c.day);
    }
  }
}

// Blob: u8 version, u32 count, then per counter: rule name, subject, the
// per-minute window, last number, run, day, answered ms. Concurrency is not
// saved: calls do not survive a restart.
std::string FraudThresholds::saveCounters(int64_t nowUs) {
  ByteWriter w;
  w.u8(kCountersVersion);
  uint32_t n = 0;
  for (const Counter& c : counters_) n += c.rule != kOrphan && !c.subject.empty();
  w.u32(n);
  for (const Counter& c : counters_) {
    if (c.rule == kOrphan || c.subject.empty()) continue;
    w.str(rules_[c.rule].def.name);
    w.str(c.subject);
    writeWindow(w, c.perMinute);
    w.str(c.lastNumber);
    w.u32(c.run);
    w.i64(c.day);
    w.i64(c.answeredMs);
    w.i64(static_cast<int64_t>(c.lastUseUs));
  }
  (void)nowUs;
  return w.take();
}

bool FraudThresholds::restoreCounters(std::string_view blob, int64_t nowUs) {
  ByteReader r(blob);
  if (r.u8() != kCountersVersion) return false;
  const uint32_t n = r.u32();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    std::string_view rule = r.str(64);
    std::string_view subject = r.str(kMaxSubject);
    WindowCounter w = readWindow(r);
    std::string_view last = r.str(kMaxNumber);
    uint32_t run = r.u32();
    int64_t day = r.i64();
    int64_t answered = r.i64();
    int64_t lastUse = r.i64();
    if (!r.ok()) break;
    uint32_t ri = kOrphan;
    for (uint32_t j = 0; j < rules_.size(); ++j) {
      if (rules_[j].def.name == rule) ri = j;
    }
    if (ri == kOrphan) continue;  // the rule is gone
    uint32_t ci = counterFor(ri, subject, nowUs);
    if (ci == kOrphan) continue;
    Counter& c = counters_[ci];
    c.perMinute = w;
    c.lastNumber = std::string(last);
    c.run = run;
    c.day = day;
    c.answeredMs = std::max<int64_t>(answered, 0);
    c.lastUseUs = static_cast<uint64_t>(std::max<int64_t>(lastUse, 0));
  }
  return r.ok();
}

}  // namespace tollgate::admission
