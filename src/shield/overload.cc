// Overload detection, the admitted rate and its fair shares. See overload.h.
#include "shield/overload.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"

namespace tollgate::shield {

namespace {

// Multiplicative decrease while over target, at most once per two
// intervals: a queue built at the old rate takes an interval to drain, and
// cutting again before it has would undershoot.
constexpr double kDecrease = 0.9;
constexpr int kDecreaseSpacing = 2;
// A standing queue this many times its target is running away: R is cut
// by kRunawayDecrease instead.
constexpr double kRunawayFactor = 6;
constexpr double kRunawayDecrease = 0.7;
// Overload found by a runaway queue starts R at this share of what was
// admitted lately.
constexpr double kRunawayStart = 0.5;
// Cuts in a row take R no lower than this share of the rate congestion was
// found at.
constexpr double kLowestCut = 0.3;
// The standing queue counts as draining when it is below this share of the
// previous interval's.
constexpr double kDraining = 0.9;
// Increase per calm interval in which demand was refused: this share of R
// (and at least kMinStep requests/s) up to kRecoverTo of the R at which the
// last cut was made, kProbe of R beyond it (the capacity is near there).
constexpr double kIncrease = 0.05;
constexpr double kProbe = 0.01;
constexpr double kRecoverTo = 0.95;
constexpr double kMinStep = 5;
// R never goes below this (new requests/s): a node that admits nothing
// cannot measure whether it could admit more.
constexpr double kMinRate = 10;
// Overload begins after this many congested intervals in a row (or at once
// on a bound, or on a request that itself waited max_queue_delay).
constexpr int kCongestedToEnter = 2;
// Outside overload, a request that waited this many times max_queue_delay
// starts overload at once.
constexpr uint64_t kLateFactor = 2;
// The most recently carried rate fades by this per interval (half in ~1.7 s).
constexpr double kCarriedDecay = 0.98;
// Overload ends after this many calm intervals (1 s) with demand under R.
constexpr int kCalmToLeave = 20;
// A demand-limited class is allotted this much above its demand, so that its
// own fluctuation is not refused.
constexpr double kHeadroom = 1.2;
// Weight of the newest interval in the demand and admitted-rate averages.
constexpr double kEwma = 0.5;
// RFC 7339 feedback goes on for this long after an episode ends (oc=0), so
// clients that throttled hear that they may stop.
constexpr Millis kOcAfterglow{2'000};
// Classes idle this many intervals are forgotten (10 s).
constexpr uint64_t kIdleForget = 200;
// The overflow class (a table full of classes): every further source.
constexpr uint64_t kOverflowKey = 0;

double seconds(Millis m) {
  return std::chrono::duration<double>(m).count();
}

}  // namespace

std::string_view shedReasonName(ShedReason r) {
  switch (r) {
    case ShedReason::Rate:
      return "rate";
    case ShedReason::QueueDelay:
      return "queue_delay";
    case ShedReason::Dropped:
      return "dropped";
    case ShedReason::Transactions:
      return "transactions";
    case ShedReason::Calls:
      return "calls";
  }
  return "rate";
}

// ---------------------------------------------------------------------------
// Classes

OverloadClasses::OverloadClasses(std::vector<OverloadClassSpec> specs)
    : specs_(std::move(specs)), hasher_(0x6f7665726c6f6164ull) {
  for (size_t i = 0; i < specs_.size(); ++i) {
    for (const net::Cidr& c : specs_[i].addresses) {
      const PrefixKey p = prefixOf(c);
      if (p.isHost()) {
        hosts_[hasher_(p.key)].push_back({p.key, static_cast<int>(i)});
      } else {
        prefixes_.push_back({p, static_cast<int>(i)});
      }
    }
  }
  // Longest prefix first: the most specific gateway owns the address.
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const auto& a, const auto& b) { return a.first.bits > b.first.bits; });
}

int OverloadClasses::find(const IpKey& ip) const {
  if (auto it = hosts_.find(hasher_(ip)); it != hosts_.end()) {
    for (const auto& [key, index] : it->second) {
      if (key == ip) return index;
    }
  }
  for (const auto& [prefix, index] : prefixes_) {
    if (prefix.contains(ip)) return index;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Recent keys

RecentKeys::RecentKeys(size_t perGeneration, Millis lifetime)
    : perGeneration_(perGeneration), lifetime_(lifetime) {
  size_t n = 16;
  while (n < perGeneration * 2) n <<= 1;
  current_.assign(n, 0);
  previous_.assign(n, 0);
}

bool RecentKeys::has(const std::vector<uint64_t>& t, uint64_t key) {
  const size_t mask = t.size() - 1;
  for (size_t i = key & mask;; i = (i + 1) & mask) {
    if (t[i] == 0) return false;
    if (t[i] == key) return true;
  }
}

void RecentKeys::put(std::vector<uint64_t>& t, uint64_t key) {
  const size_t mask = t.size() - 1;
  for (size_t i = key & mask;; i = (i + 1) & mask) {
    if (t[i] == key) return;
    if (t[i] == 0) {
      t[i] = key;
      return;
    }
  }
}

void RecentKeys::insert(uint64_t key, MonoTime now) {
  if (key == 0) key = 1;  // 0 marks an empty slot
  if (count_ == 0) started_ = now;
  if (count_ >= perGeneration_ || now - started_ >= lifetime_) {
    previous_.swap(current_);
    std::fill(current_.begin(), current_.end(), 0);
    count_ = 0;
    started_ = now;
  }
  if (has(current_, key)) return;
  put(current_, key);
  ++count_;
}

bool RecentKeys::contains(uint64_t key) const {
  if (key == 0) key = 1;
  return has(current_, key) || has(previous_, key);
}

// ---------------------------------------------------------------------------
// Control

OverloadControl::OverloadControl(EventLoop& loop, const Clock& clock, OverloadConfig config)
    : loop_(loop),
      clock_(clock),
      config_(config),
      classes_(std::make_shared<OverloadClasses>()),
      hasher_(0x636c617373657321ull) {
  lastTick_ = loop_.now();
  if (config_.enabled) {
    timer_.setCallback([this] { onTimer(); });
    timerDue_ = loop_.now() + kInterval;
    timer_.start(loop_.timers(), kInterval);
  }
}

OverloadControl::~OverloadControl() = default;

void OverloadControl::setClasses(std::shared_ptr<const OverloadClasses> classes) {
  classes_ = classes ? std::move(classes) : std::make_shared<OverloadClasses>();
  // Gateways may have moved or changed weight: re-derive on next sight.
  table_.clear();
}

std::string_view OverloadControl::gatewayOf(const IpKey& source) const {
  const int i = classes_->find(source);
  return i >= 0 ? std::string_view(classes_->specs()[i].name) : std::string_view();
}

uint64_t OverloadControl::classKey(const IpKey& source, int* gateway) const {
  *gateway = classes_->find(source);
  if (*gateway >= 0) return (1ull << 63) | static_cast<uint64_t>(*gateway);
  return (hasher_(source) & ~(1ull << 63)) | 1;  // never the overflow key
}

OverloadControl::Class& OverloadControl::classFor(const IpKey& source) {
  int gateway = -1;
  uint64_t key = classKey(source, &gateway);
  auto it = table_.find(key);
  if (it != table_.end()) return it->second;
  if (table_.size() >= kMaxClasses) {
    key = kOverflowKey;
    gateway = -1;
    it = table_.find(key);
    if (it != table_.end()) return it->second;
  }
  Class& c = table_[key];
  c.gateway = gateway;
  c.weight = gateway >= 0 ? std::max<uint32_t>(1, classes_->specs()[gateway].weight) : 1;
  // Until the next interval allots shares, a newcomer gets an equal part of R.
  double weights = c.weight;
  for (const auto& [k, other] : table_) {
    if (&other != &c) weights += other.weight;
  }
  c.share = overloaded_ ? rate_ * c.weight / weights : 0;
  return c;
}

OverloadVerdict OverloadControl::decide(const IpKey& source, uint32_t queuedUs, uint32_t backlogUs,
                                        MonoTime now, ShedReason* reason) {
  if (!config_.enabled) return OverloadVerdict::Admit;
  ++offeredNow_;
  auto shed = [this, reason](ShedReason r) {
    *reason = r;
    ++stats_.shed[static_cast<size_t>(r)];
    return r == ShedReason::Dropped ? OverloadVerdict::Drop : OverloadVerdict::Reject;
  };
  const uint64_t waitedMs = queuedUs / 1000;
  if (waitedMs > static_cast<uint64_t>(config_.dropDelay.count())) return shed(ShedReason::Dropped);
  if (config_.maxTransactions != 0 && transactions_ >= config_.maxTransactions) {
    return shed(ShedReason::Transactions);
  }
  if (config_.maxCalls != 0 && calls_ >= config_.maxCalls) return shed(ShedReason::Calls);
  // A request that waited max_queue_delay is late. Not yet rate-limited,
  // one wait that long is a burst or a stall (a throttled CPU quota, a store
  // commit): only a wait (its own, or the oldest new work's still waiting)
  // of kLateFactor times that says the queue is running away, and starts
  // limiting at once rather than at the end of the interval. Rate-limited,
  // a late request from a storming class is refused (below).
  const uint64_t lateMs = static_cast<uint64_t>(config_.maxQueueDelay.count());
  const bool late = waitedMs > lateMs;
  const uint64_t backlogMs = std::max(queuedUs, backlogUs) / 1000;
  if (backlogMs > lateMs * kLateFactor && !rateLimited_) {
    if (!overloaded_) {
      enter(now, true, true);
    } else {
      limit(true);
    }
  }
  if (overloaded_) {
    Class& c = classFor(source);
    ++c.offered;
    if (!rateLimited_) {
      ++admittedNow_;
      ++stats_.admitted;
      return OverloadVerdict::Admit;
    }
    // A late request from a class asking clearly more than its share is
    // refused at once (the storm that made it late pays); one from a class
    // near or within its share is judged by its share alone, so another
    // customer's storm cannot make its calls late enough to be refused.
    if (late && c.demand > c.share * kHeadroom) return shed(ShedReason::QueueDelay);
    const double burst = std::max(1.0, c.share * seconds(kInterval));
    if (!c.bucket.tryTake(now, c.share, burst)) {
      return shed(late ? ShedReason::QueueDelay : ShedReason::Rate);
    }
  }
  ++admittedNow_;
  ++stats_.admitted;
  return OverloadVerdict::Admit;
}

void OverloadControl::limit(bool runaway) {
  // What the node admitted lately is what it read, not what it can carry:
  // the follow-ups of those calls (answers, ACKs, BYEs) are still coming.
  // A runaway queue says it is far from that, so R starts at half of it;
  // recovery is quick back up to 90 %.
  const double carried = std::max(admittedRate_, carried_);
  rateLimited_ = true;
  rate_ = std::max(kMinRate, carried * (runaway ? kRunawayStart : kDecrease));
  cutFrom_ = std::max(rate_, carried * kDecrease);
  increasedSinceCut_ = false;
  sinceDecrease_ = 0;
  for (auto& [k, c] : table_) c.bucket = {};
  allot();
}

void OverloadControl::enter(MonoTime now, bool rateLimited, bool runaway) {
  overloaded_ = true;
  ++stats_.episodes;
  calmIntervals_ = 0;
  rateLimited_ = false;
  rate_ = 0;
  if (rateLimited) limit(runaway);
  ocSeqMs_ = clock_.wallMicros() / 1000;
  log::warn("overload.start")
      .kv("cause", rateLimited ? "delay" : "bound")
      .kv("admit_rate", static_cast<int64_t>(rate_))
      .kv("queue_delay_ms", static_cast<int64_t>(stats_.queueDelayMs))
      .kv("loop_lag_ms", static_cast<int64_t>(stats_.loopLagMs))
      .kv("transactions", transactions_)
      .kv("calls", calls_);
  (void)now;
}

void OverloadControl::leave() {
  overloaded_ = false;
  rateLimited_ = false;
  endedAt_ = loop_.now();
  ocSeqMs_ = clock_.wallMicros() / 1000;
  log::info("overload.end")
      .kv("admit_rate", static_cast<int64_t>(rate_))
      .kv("shed_rate", stats_.shed[static_cast<size_t>(ShedReason::Rate)])
      .kv("shed_queue_delay", stats_.shed[static_cast<size_t>(ShedReason::QueueDelay)]);
  rate_ = 0;
}

// Weighted max-min fairness of capacity over the classes. Capacity is CPU,
// and refusing a request costs some too (refusalCost of a carried call:
// receiving it, the 503, its ACK), so a class is charged for the refusals
// of its own excess: its cost is share + refusalCost x (demand - share).
// Classes whose whole demand costs less than their weighted part of the
// level get their demand (with headroom); the others share out the rest so
// that their costs are equal per weight. One customer's storm then pays for
// its own refusals instead of taking the others' capacity. The level is
// found by bisection (the shares grow with it), over at most kMaxClasses.
void OverloadControl::allot() {
  const double r = std::clamp(config_.refusalCost, 0.0, 0.95);
  double want = 0;
  for (auto& [k, c] : table_) want += c.demand * kHeadroom;
  if (want <= rate_) {
    for (auto& [k, c] : table_) c.share = c.demand * kHeadroom;
    return;
  }
  auto shareAt = [r](const Class& c, double level) {
    const double part = c.weight * level;
    if (c.demand <= part) return c.demand * kHeadroom;
    return std::clamp((part - r * c.demand) / (1 - r), 0.0, c.demand * kHeadroom);
  };
  double lo = 0, hi = std::max(1.0, rate_);
  for (auto& [k, c] : table_) hi = std::max(hi, c.demand / std::max<uint32_t>(1, c.weight));
  hi *= 2;
  for (int i = 0; i < 40; ++i) {
    const double mid = (lo + hi) / 2;
    double total = 0;
    for (auto& [k, c] : table_) total += shareAt(c, mid);
    (total > rate_ ? hi : lo) = mid;
  }
  for (auto& [k, c] : table_) c.share = shareAt(c, lo);
}

void OverloadControl::onTimer() {
  const MonoTime now = loop_.now();
  const auto lag = std::chrono::duration_cast<Millis>(now - timerDue_);
  stats_.loopLagMs = static_cast<double>(std::max<int64_t>(0, lag.count()));
  tick(now);
  timerDue_ = now + kInterval;
  timer_.start(loop_.timers(), kInterval);
}

void OverloadControl::tick(MonoTime now) {
  const double dt = std::max(0.001, std::chrono::duration<double>(now - lastTick_).count());
  lastTick_ = now;
  const double delayMs = waitSamples_ > 0 ? minWaitUs_ / 1000.0 : 0.0;
  stats_.queueDelayMs = delayMs;
  const double admitted = static_cast<double>(admittedNow_) / dt;
  const double offered = static_cast<double>(offeredNow_) / dt;
  admittedRate_ = admittedRate_ == 0 ? admitted : kEwma * admitted + (1 - kEwma) * admittedRate_;

  const bool bounded = (config_.maxTransactions != 0 && transactions_ >= config_.maxTransactions) ||
                       (config_.maxCalls != 0 && calls_ >= config_.maxCalls);
  const bool congested = delayMs > static_cast<double>(config_.queueDelayTarget.count()) ||
                         stats_.loopLagMs > static_cast<double>(config_.loopLagTarget.count());

  // Demand per class (undoing what RFC 7339 clients held back on our word).
  for (auto it = table_.begin(); it != table_.end();) {
    Class& c = it->second;
    double seen = static_cast<double>(c.offered) / dt;
    if (c.lastOc > 0 && c.lastOc < 100) seen /= 1 - c.lastOc / 100;
    c.demand = kEwma * seen + (1 - kEwma) * c.demand;
    c.idleIntervals = c.offered == 0 ? c.idleIntervals + 1 : 0;
    c.offered = 0;
    if (c.idleIntervals > kIdleForget) {
      it = table_.erase(it);
    } else {
      ++it;
    }
  }

  // What the node has carried lately: where R starts when overload begins
  // (a standing queue left by a storm that just ended is no reason to start
  // from the trickle admitted in the last interval).
  carried_ = std::max(admitted, carried_ * kCarriedDecay);
  congestedIntervals_ = congested ? congestedIntervals_ + 1 : 0;
  // One late interval (a start-up stall, a big reload) is not overload.
  // A standing queue several times its target is a runaway: no stall makes
  // every datagram of a whole interval wait that long (a stall's backlog is
  // read at once, and what comes after it waits little), so one such
  // interval is enough.
  const bool runaway =
      delayMs > static_cast<double>(config_.queueDelayTarget.count()) * kRunawayFactor;
  const bool behind = congestedIntervals_ >= kCongestedToEnter || runaway;
  if (!overloaded_) {
    if (behind) {
      enter(now, true, runaway);
    } else if (bounded) {
      enter(now, false, false);  // the bounds refuse by themselves; no rate to keep
    }
  } else if (!rateLimited_ && behind) {
    // At a bound and now behind too: keep a rate from here on.
    limit(runaway);
  } else if (!rateLimited_) {
    if (!bounded && !congested && ++calmIntervals_ >= kCalmToLeave) leave();
    if (bounded) calmIntervals_ = 0;
  } else {
    ++sinceDecrease_;
    const bool refusing = offered > admitted * 1.001 + 1;
    if (congested) {
      // A queue that is shrinking fast enough is being drained at the
      // present R: cutting again would undershoot.
      const bool draining = delayMs < prevDelayMs_ * kDraining;
      // One congested interval between calm ones is the offered load's own
      // burstiness (or a stall), not a rate too high: only a queue that
      // stands for two intervals, or runs away, cuts R.
      const bool standing = congestedIntervals_ >= kCongestedToEnter;
      if (((standing && sinceDecrease_ >= kDecreaseSpacing) || runaway) && !draining) {
        // While refusing, R is what was admitted; when demand was under R
        // for a while, R may be far above what the node carries: cut from
        // what was actually admitted then. A queue running away (several
        // times its target) is cut harder.
        const double base = refusing ? rate_ : std::min(rate_, std::max(admitted, kMinRate));
        const double factor = runaway ? kRunawayDecrease : kDecrease;
        // The rate congestion was found at after probing upwards; cuts in a
        // row keep the first one's.
        if (increasedSinceCut_) cutFrom_ = rate_;
        increasedSinceCut_ = false;
        // Cuts in a row stop at a share of where congestion was found: a
        // backlog drains slowly while its excess is being refused, and R
        // far below capacity takes seconds to climb back.
        rate_ = std::max({kMinRate, base * factor, std::min(rate_, cutFrom_ * kLowestCut)});
        sinceDecrease_ = 0;
        ocSeqMs_ = clock_.wallMicros() / 1000;
      }
      calmIntervals_ = 0;
    } else if (refusing) {
      // Calm and refusing: probe upwards, quickly back to where the last
      // cut was made, carefully beyond it.
      const double step = rate_ < cutFrom_ * kRecoverTo ? kIncrease : kProbe;
      rate_ += std::max(rate_ * step, kMinStep);
      increasedSinceCut_ = true;
      calmIntervals_ = 0;
    } else if (!bounded) {
      if (++calmIntervals_ >= kCalmToLeave) leave();
    }
    if (overloaded_) allot();
  }

  if (overloaded_ && log::enabled(log::Level::Debug)) {
    // Every interval of an episode, for tuning (debug level only).
    log::debug("overload.interval")
        .kv("admit_rate", static_cast<int64_t>(rate_))
        .kv("admitted", static_cast<int64_t>(admitted))
        .kv("offered", static_cast<int64_t>(offered))
        .kv("queue_delay_us", static_cast<int64_t>(delayMs * 1000))
        .kv("loop_lag_ms", static_cast<int64_t>(stats_.loopLagMs))
        .kv("congested", congested)
        .kv("classes", table_.size());
  }
  prevDelayMs_ = delayMs;
  lastAdmitted_ = static_cast<double>(admittedNow_);
  lastOffered_ = static_cast<double>(offeredNow_);
  minWaitUs_ = UINT32_MAX;
  waitSamples_ = 0;
  admittedNow_ = 0;
  offeredNow_ = 0;
}

std::string OverloadControl::ocParams(const IpKey& source) {
  if (!config_.enabled || !config_.rfc7339) return {};
  const bool afterglow =
      !overloaded_ && stats_.episodes > 0 && loop_.now() - endedAt_ < kOcAfterglow;
  if (!overloaded_ && !afterglow) return {};
  double oc = 0;
  if (overloaded_ && !rateLimited_) {
    // At a bound: the share of new requests refused lately.
    if (lastOffered_ > 0) oc = 100.0 * (1.0 - lastAdmitted_ / lastOffered_);
    oc = std::clamp(std::round(oc), 0.0, 100.0);
  } else if (overloaded_) {
    Class& c = classFor(source);
    if (c.demand > 0 && c.share < c.demand) oc = 100.0 * (1.0 - c.share / c.demand);
    oc = std::clamp(std::round(oc), 0.0, 100.0);
    c.lastOc = oc;
  }
  const int64_t validity = overloaded_ ? config_.ocValidity.count() : 0;
  std::string out = ";oc=" + std::to_string(static_cast<int>(oc)) +
                    ";oc-algo=\"loss\";oc-validity=" + std::to_string(validity) +
                    ";oc-seq=" + std::to_string(ocSeqMs_ / 1000) + ".";
  const std::string ms = std::to_string(1000 + ocSeqMs_ % 1000);  // "1045" -> ".045"
  out.append(ms, 1, 3);
  return out;
}

const OverloadStats& OverloadControl::stats() {
  stats_.overloaded = overloaded_;
  stats_.admitRate = overloaded_ && rateLimited_ ? rate_ : 0;
  stats_.transactions = transactions_;
  stats_.calls = calls_;
  stats_.classes = table_.size();
  return stats_;
}

}  // namespace tollgate::shield
