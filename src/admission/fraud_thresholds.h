// Fraud thresholds per account and destination prefix, in the spirit of
// OpenSIPS fraud_detection but enforcing: for calls of one account (or of
// every account, each counted apart) to a prefix (premium-rate ranges, say),
// four measures -- calls in the last minute, calls in progress, calls in a
// row to the same number, and answered minutes today -- each with a warning
// level (logged once per crossing, and counted) and a critical level (the
// call is refused, CDR reason fraud_threshold). A rule may hold only in a
// time-of-day window (local time). Counters are kept per (rule, subject),
// bounded, and survive a restart through saveCounters/restoreCounters.
//
// In a cluster (cluster/shared_fraud.h) each counted call and each call end
// is told to a FraudCounterSink, which adds them to the nodes' shared
// counters and hands back, through absorbShared(), what the OTHER nodes
// hold for that (rule, subject): their calls in the last minute, their
// calls in progress, their answered minutes today, and the cluster's run of
// calls to one number. The verdicts of the following calls add those to
// this node's own counts (a call never waits for them: the call whose
// verdict would have needed a reply still in flight is judged on what is
// known). A shared view older than kSharedFreshUs is ignored, and
// forgetShared() drops them all (Redis unreachable: each node counts alone).
// Confined to its worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/counters.h"
#include "admission/number_lists.h"
#include "admission/policy_stats.h"
#include "admission/provisioning.h"

namespace tollgate::admission {

// Local time as the thresholds need it: minute of the day (time-of-day
// windows) and a day number (minutes_per_day resets when it changes).
struct LocalTime {
  int minuteOfDay = 0;
  int64_t day = 0;
};
// The process's local time zone (TZ); cached per second, so cheap per call.
LocalTime localTimeOf(int64_t wallUs);

enum class FraudMeasure : uint8_t {
  CallsPerMinute,
  Concurrent,
  SequentialSameNumber,
  MinutesPerDay
};
std::string_view measureName(FraudMeasure m);  // "calls_per_minute", ...

// What the other nodes of a cluster hold for one (rule, subject).
struct FraudShared {
  int64_t callsPerMinute = 0;  // their calls in the last minute (sliding estimate)
  int64_t concurrent = 0;      // their calls in progress (live nodes only)
  int64_t answeredMs = 0;      // their talk time today (`day`)
  int64_t day = 0;
  std::string lastNumber;  // the cluster's last number called, and its run
  int64_t run = 0;
};

// Told of each call the thresholds count and of each end (cluster/
// shared_fraud.h). `count` false: a call refused where the other nodes'
// share decided; nothing is added, the view is only refreshed (so a stale
// view cannot keep refusing). Confined to the thresholds' worker.
class FraudCounterSink {
 public:
  virtual ~FraudCounterSink() = default;
  virtual void counted(std::string_view rule, std::string_view subject, std::string_view number,
                       int64_t nowUs, int64_t day, bool count) = 0;
  virtual void ended(std::string_view rule, std::string_view subject, int64_t answeredMs,
                     int64_t day) = 0;
};

class FraudThresholds {
 public:
  // A shared view older than this is not used (the other nodes' calls of
  // the last minute have aged out of it by then).
  static constexpr int64_t kSharedFreshUs = 60'000'000;
  // Counters kept at most (one per rule and subject that called).
  static constexpr size_t kMaxCounters = 1'000'000;

  explicit FraudThresholds(size_t maxCounters = kMaxCounters);

  // Rules of a new snapshot. Counters of a rule that keeps its name and
  // definition are kept; others start afresh.
  void configure(const std::vector<FraudRule>& rules);
  size_t ruleCount() const { return rules_.size(); }

  // The rules a call is counted under, handed back at its end.
  struct Ticket {
    std::vector<uint32_t> counters;  // indexes into counters_
    bool empty() const { return counters.empty(); }
  };
  struct Verdict {
    bool blocked = false;
    std::string_view rule;
    FraudMeasure measure = FraudMeasure::CallsPerMinute;
    int64_t value = 0;  // the measure, this call included
    int64_t level = 0;  // the critical level it exceeded
  };
  // Judges a new call of `account` (the rules' subject: the account name,
  // or for a gateway without an account its own name, prefixed so the two
  // cannot collide) to `callee`. When not blocked the call is counted and
  // *ticket filled.
  Verdict admit(std::string_view subject, std::string_view accountName, std::string_view callee,
                int64_t nowUs, const LocalTime& local, Ticket* ticket);
  // The call ended: answeredMs of talk time go to today's minutes.
  void onCallEnded(const Ticket& ticket, int64_t answeredMs, const LocalTime& local);

  const FraudStats& stats() const { return stats_; }
  size_t counters() const { return index_.size(); }

  void setCounterSink(FraudCounterSink* s) { sink_ = s; }
  // The other nodes' holdings for (rule, subject), from a sink's reply.
  // Ignored when the counter is gone.
  void absorbShared(std::string_view rule, std::string_view subject, FraudShared shared,
                    int64_t nowUs);
  void forgetShared();
  // This node's own holdings, for re-announcing them (at most `max`
  // counters with anything to announce): calls in progress, calls in the
  // last minute, talk time of `day`.
  struct Holding {
    std::string_view rule, subject;
    int64_t concurrent = 0, callsPerMinute = 0, answeredMs = 0, day = 0;
  };
  void forEachHolding(int64_t nowUs, size_t max, const std::function<void(const Holding&)>& fn);

  std::string saveCounters(int64_t nowUs);
  bool restoreCounters(std::string_view blob, int64_t nowUs);

 private:
  struct Rule {
    FraudRule def;
    int windowStart = -1, windowEnd = -1;  // minutes; -1 = all day
    bool active(int minute) const;
  };
  struct Counter {
    uint32_t rule = 0;
    std::string subject;
    WindowCounter perMinute;
    uint32_t concurrent = 0;
    std::string lastNumber;
    uint32_t run = 0;
    int64_t day = 0;
    int64_t answeredMs = 0;  // today
    uint64_t lastUseUs = 0;
    uint8_t warned = 0;      // bit per measure: warning logged in the current crossing
    FraudShared shared;      // the other nodes' (cluster)
    int64_t sharedAtUs = 0;  // when it was read; 0 = none
  };
  uint32_t counterFor(uint32_t rule, std::string_view subject, int64_t nowUs);
  bool matchesPrefix(const Rule& r, std::string_view callee) const;
  void warn(Counter& c, FraudMeasure m, int64_t value, int64_t level);

  size_t maxCounters_;
  std::vector<Rule> rules_;
  // Prefix -> rules listing it; probed for each prefix length of the callee.
  std::unordered_map<std::string, std::vector<uint32_t>, StringHash, StringEq> byPrefix_;
  size_t maxPrefix_ = 0;
  // Not a BoundedTable: tickets of calls in progress hold indexes into
  // counters_, and a counter with calls in progress is never evicted (a
  // BoundedTable would evict the oldest once its probes find only pinned
  // ones). Subjects are provisioned accounts, so the bound is seldom
  // reached and its linear scan is fine.
  std::vector<Counter> counters_;
  std::vector<uint32_t> freeCounters_;
  std::unordered_map<std::string, uint32_t, StringHash, StringEq> index_;  // "rule\0subject"
  std::string scratchKey_;
  std::vector<uint32_t> scratchRules_;
  FraudStats stats_;
  FraudCounterSink* sink_ = nullptr;
};

}  // namespace tollgate::admission
