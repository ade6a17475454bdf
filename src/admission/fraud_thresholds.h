// Fraud thresholds per account and destination prefix, in the spirit of
// OpenSIPS fraud_detection but enforcing: for calls of one account (or of
// every account, each counted apart) to a prefix (premium-rate ranges, say),
// four measures -- calls in the last minute, calls in progress, calls in a
// row to the same number, and answered minutes today -- each with a warning
// level (logged once per crossing, and counted) and a critical level (the
// call is refused, CDR reason fraud_threshold). A rule may hold only in a
// time-of-day window (local time). Counters are kept per (rule, subject),
// bounded, and survive a restart through saveCounters/restoreCounters.
// Confined to its worker.
#pragma once

#include <cstdint>
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

class FraudThresholds {
 public:
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
    uint8_t warned = 0;  // bit per measure: warning logged in the current crossing
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
};

}  // namespace tollgate::admission
