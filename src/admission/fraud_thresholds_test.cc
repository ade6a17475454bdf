#include "admission/fraud_thresholds.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace tollgate::admission {
namespace {

constexpr int64_t kSecond = 1'000'000;

FraudRule premium() {
  FraudRule r;
  r.name = "premium";
  r.prefixes = {"1900", "44909"};
  return r;
}

class FraudTest : public ::testing::Test {
 protected:
  int64_t now() const { return clock.wallMicros(); }
  void advance(int64_t us) { clock.advance(Micros(us)); }
  LocalTime at(int minute = 600, int64_t day = 100) { return LocalTime{minute, day}; }
  ManualClock clock;
};

TEST_F(FraudTest, CallsPerMinuteCriticalBlocksTheCallOverIt) {
  FraudThresholds f;
  FraudRule r = premium();
  r.callsPerMinute = {2, 3};
  f.configure({r});
  for (int i = 0; i < 3; ++i) {
    FraudThresholds::Ticket t;
    auto v = f.admit("account:acme", "acme", "19005551234", now(), at(), &t);
    EXPECT_FALSE(v.blocked) << i;
    EXPECT_EQ(t.counters.size(), 1u);
    f.onCallEnded(t, 0, at());
  }
  EXPECT_EQ(f.stats().warnings, 1u);  // the 3rd call is above the warning level of 2
  FraudThresholds::Ticket t;
  auto v = f.admit("account:acme", "acme", "19005551234", now(), at(), &t);
  EXPECT_TRUE(v.blocked);
  EXPECT_EQ(v.rule, "premium");
  EXPECT_EQ(v.measure, FraudMeasure::CallsPerMinute);
  EXPECT_EQ(v.value, 4);
  EXPECT_EQ(v.level, 3);
  EXPECT_TRUE(t.empty());
  // Other numbers, and other accounts, are not affected.
  EXPECT_FALSE(f.admit("account:acme", "acme", "15551234567", now(), at(), &t).blocked);
  EXPECT_FALSE(f.admit("account:other", "other", "19005551234", now(), at(), &t).blocked);
  // A minute later the window has room again.
  advance(61 * kSecond + 2 * kSecond);
  EXPECT_FALSE(f.admit("account:acme", "acme", "19005551234", now(), at(), &t).blocked);
}

TEST_F(FraudTest, ConcurrentCallsCountUntilTheyEnd) {
  FraudThresholds f;
  FraudRule r = premium();
  r.concurrent = {0, 2};
  f.configure({r});
  FraudThresholds::Ticket a, b, c;
  EXPECT_FALSE(f.admit("s", "", "4490911", now(), at(), &a).blocked);
  EXPECT_FALSE(f.admit("s", "", "4490922", now(), at(), &b).blocked);
  EXPECT_TRUE(f.admit("s", "", "4490933", now(), at(), &c).blocked);
  f.onCallEnded(a, 1000, at());
  EXPECT_FALSE(f.admit("s", "", "4490933", now(), at(), &c).blocked);
}

TEST_F(FraudTest, SequentialCallsToTheSameNumber) {
  FraudThresholds f;
  FraudRule r = premium();
  r.sequentialSameNumber = {0, 3};
  f.configure({r});
  FraudThresholds::Ticket t;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(f.admit("s", "", "19001", now(), at(), &t).blocked);
  auto v = f.admit("s", "", "19001", now(), at(), &t);
  EXPECT_TRUE(v.blocked);
  EXPECT_EQ(v.measure, FraudMeasure::SequentialSameNumber);
  // Another number breaks the run.
  EXPECT_FALSE(f.admit("s", "", "19002", now(), at(), &t).blocked);
  EXPECT_FALSE(f.admit("s", "", "19001", now(), at(), &t).blocked);
}

TEST_F(FraudTest, MinutesPerDayBlockWhenSpentAndResetNextDay) {
  FraudThresholds f;
  FraudRule r = premium();
  r.minutesPerDay = {5, 10};
  f.configure({r});
  FraudThresholds::Ticket t;
  ASSERT_FALSE(f.admit("s", "", "19001", now(), at(600, 100), &t).blocked);
  f.onCallEnded(t, 9 * 60'000, at(610, 100));
  EXPECT_EQ(f.stats().warnings, 0u);
  FraudThresholds::Ticket t2;
  EXPECT_FALSE(f.admit("s", "", "19001", now(), at(611, 100), &t2).blocked);  // 9 of 10 used
  EXPECT_EQ(f.stats().warnings, 1u);                                          // 9 >= 5
  f.onCallEnded(t2, 60'000, at(612, 100));
  auto v = f.admit("s", "", "19001", now(), at(613, 100), &t2);
  EXPECT_TRUE(v.blocked);
  EXPECT_EQ(v.measure, FraudMeasure::MinutesPerDay);
  EXPECT_FALSE(f.admit("s", "", "19001", now(), at(1, 101), &t2).blocked);  // a new day
}

TEST_F(FraudTest, TimeWindowAcrossMidnight) {
  FraudThresholds f;
  FraudRule r = premium();
  r.window = "22:00-06:00";
  r.callsPerMinute = {0, 1};
  f.configure({r});
  FraudThresholds::Ticket t;
  // 12:00: the rule sleeps; nothing counted, nothing blocked.
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(f.admit("s", "", "19001", now(), at(720), &t).blocked);
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(f.admit("s", "", "19001", now(), at(23 * 60), &t).blocked);
  EXPECT_TRUE(f.admit("s", "", "19001", now(), at(23 * 60), &t).blocked);
  EXPECT_TRUE(f.admit("s", "", "19001", now(), at(5 * 60 + 59), &t).blocked);
  EXPECT_FALSE(f.admit("s", "", "19001", now(), at(6 * 60), &t).blocked);
}

TEST_F(FraudTest, RuleForOneAccountOnly) {
  FraudThresholds f;
  FraudRule r = premium();
  r.account = "acme";
  r.callsPerMinute = {0, 1};
  f.configure({r});
  FraudThresholds::Ticket t;
  EXPECT_FALSE(f.admit("account:acme", "acme", "19001", now(), at(), &t).blocked);
  EXPECT_TRUE(f.admit("account:acme", "acme", "19001", now(), at(), &t).blocked);
  EXPECT_FALSE(f.admit("gateway:x", "", "19001", now(), at(), &t).blocked);
  EXPECT_FALSE(f.admit("gateway:x", "", "19001", now(), at(), &t).blocked);
}

TEST_F(FraudTest, LongestAndShortPrefixesBothApplyOnce) {
  FraudThresholds f;
  FraudRule all;
  all.name = "all";
  all.prefixes = {""};
  all.callsPerMinute = {0, 100};
  FraudRule uk = premium();
  uk.prefixes = {"44", "44909"};  // matches twice, counted once
  uk.callsPerMinute = {0, 2};
  f.configure({all, uk});
  FraudThresholds::Ticket t;
  EXPECT_FALSE(f.admit("s", "", "449091", now(), at(), &t).blocked);
  EXPECT_EQ(t.counters.size(), 2u);
  EXPECT_FALSE(f.admit("s", "", "449092", now(), at(), &t).blocked);
  EXPECT_TRUE(f.admit("s", "", "449093", now(), at(), &t).blocked);
  EXPECT_FALSE(f.admit("s", "", "15551", now(), at(), &t).blocked);
}

TEST_F(FraudTest, ReconfigureKeepsCountersOfUnchangedRules) {
  FraudThresholds f;
  FraudRule r = premium();
  r.callsPerMinute = {0, 2};
  FraudRule other = premium();
  other.name = "other";
  other.prefixes = {"33"};
  other.callsPerMinute = {0, 1};
  f.configure({r, other});
  FraudThresholds::Ticket t;
  f.admit("s", "", "19001", now(), at(), &t);
  f.admit("s", "", "19001", now(), at(), &t);
  f.admit("s", "", "331", now(), at(), &t);
  other.callsPerMinute = {0, 5};  // changed: its counters start afresh
  f.configure({other, r});        // order changed too
  EXPECT_TRUE(f.admit("s", "", "19001", now(), at(), &t).blocked);
  EXPECT_FALSE(f.admit("s", "", "331", now(), at(), &t).blocked);
  // A live call of a removed rule ends cleanly.
  f.configure({});
  f.onCallEnded(t, 1000, at());
  EXPECT_EQ(f.counters(), 0u);
}

TEST_F(FraudTest, CountersSurviveARestart) {
  FraudRule r = premium();
  r.callsPerMinute = {0, 3};
  r.minutesPerDay = {0, 10};
  FraudThresholds before;
  before.configure({r});
  FraudThresholds::Ticket t, t2;
  before.admit("s", "", "19001", now(), at(), &t);
  before.admit("s", "", "19001", now(), at(), &t2);
  before.onCallEnded(t, 10 * 60'000, at());
  std::string blob = before.saveCounters(now());

  FraudThresholds after;
  after.configure({r});
  ASSERT_TRUE(after.restoreCounters(blob, now()));
  auto v = after.admit("s", "", "19001", now(), at(), &t);
  EXPECT_TRUE(v.blocked);
  EXPECT_EQ(v.measure, FraudMeasure::MinutesPerDay);
  EXPECT_FALSE(after.restoreCounters("\x09junk", now()));
}

TEST_F(FraudTest, CounterTableIsBounded) {
  FraudThresholds f(10);
  FraudRule r = premium();
  r.prefixes = {""};
  r.callsPerMinute = {0, 1000};
  f.configure({r});
  for (int i = 0; i < 100; ++i) {
    FraudThresholds::Ticket t;
    f.admit("gateway:" + std::to_string(i), "", "1", now(), at(), &t);
    f.onCallEnded(t, 0, at());
  }
  EXPECT_EQ(f.counters(), 10u);
}

TEST(LocalTime, MinuteAndDay) {
  // 2023-11-14T22:13:20Z; the test binary runs with the process time zone,
  // so only check the invariants.
  LocalTime t = localTimeOf(1'700'000'000'000'000);
  EXPECT_GE(t.minuteOfDay, 0);
  EXPECT_LT(t.minuteOfDay, 1440);
  LocalTime next = localTimeOf(1'700'000'000'000'000 + 86'400'000'000);
  EXPECT_EQ(next.day, t.day + 1);
}

// A cluster's sink: records what the thresholds tell it.
struct RecordingSink : FraudCounterSink {
  struct Call {
    std::string rule, subject, number;
    bool count;
  };
  std::vector<Call> calls;
  std::vector<int64_t> ends;
  void counted(std::string_view rule, std::string_view subject, std::string_view number, int64_t,
               int64_t, bool count) override {
    calls.push_back({std::string(rule), std::string(subject), std::string(number), count});
  }
  void ended(std::string_view, std::string_view, int64_t answeredMs, int64_t) override {
    ends.push_back(answeredMs);
  }
};

TEST_F(FraudTest, OtherNodesCountsJudgeTheNextCalls) {
  FraudThresholds f;
  RecordingSink sink;
  f.setCounterSink(&sink);
  FraudRule r = premium();
  r.callsPerMinute = {0, 4};
  r.concurrent = {0, 3};
  f.configure({r});
  FraudThresholds::Ticket t1;
  ASSERT_FALSE(f.admit("account:acme", "acme", "19005551234", now(), at(), &t1).blocked);
  ASSERT_EQ(sink.calls.size(), 1u);
  EXPECT_TRUE(sink.calls[0].count);
  EXPECT_EQ(sink.calls[0].subject, "account:acme");
  // The other nodes hold 3 calls of the last minute: 1 + 3 + this one > 4.
  FraudShared other;
  other.callsPerMinute = 3;
  other.day = 100;
  f.absorbShared("premium", "account:acme", other, now());
  FraudThresholds::Ticket t2;
  auto v = f.admit("account:acme", "acme", "19005551234", now(), at(), &t2);
  EXPECT_TRUE(v.blocked);
  EXPECT_EQ(v.measure, FraudMeasure::CallsPerMinute);
  EXPECT_EQ(v.value, 5);
  EXPECT_EQ(f.stats().blockedShared, 1u);
  // The refusal re-reads the view, without counting.
  ASSERT_EQ(sink.calls.size(), 2u);
  EXPECT_FALSE(sink.calls[1].count);
  // Redis down: each node counts alone again.
  f.forgetShared();
  FraudThresholds::Ticket t3;
  EXPECT_FALSE(f.admit("account:acme", "acme", "19005551234", now(), at(), &t3).blocked);
  // Calls in progress elsewhere: 2 here + 2 there + this one > 3.
  other.callsPerMinute = 0;
  other.concurrent = 2;
  f.absorbShared("premium", "account:acme", other, now());
  FraudThresholds::Ticket t4;
  v = f.admit("account:acme", "acme", "19005551234", now(), at(), &t4);
  EXPECT_TRUE(v.blocked);
  EXPECT_EQ(v.measure, FraudMeasure::Concurrent);
  // A stale view is not used.
  advance(FraudThresholds::kSharedFreshUs + kSecond);
  EXPECT_FALSE(f.admit("account:acme", "acme", "19005551234", now(), at(), &t4).blocked);
  f.onCallEnded(t1, 61'000, at());
  ASSERT_EQ(sink.ends.size(), 1u);
  EXPECT_EQ(sink.ends[0], 61'000);
}

TEST_F(FraudTest, OtherNodesMinutesCountOnlyTheSameDay) {
  FraudThresholds f;
  FraudRule r = premium();
  r.minutesPerDay = {0, 10};
  f.configure({r});
  FraudThresholds::Ticket t;
  ASSERT_FALSE(f.admit("account:acme", "acme", "19005551234", now(), at(), &t).blocked);
  f.onCallEnded(t, 4 * 60'000, at());
  FraudShared other;
  other.answeredMs = 6 * 60'000;
  other.day = 99;  // yesterday's: not counted
  f.absorbShared("premium", "account:acme", other, now());
  EXPECT_FALSE(f.admit("account:acme", "acme", "19005551234", now(), at(), &t).blocked);
  other.day = 100;
  f.absorbShared("premium", "account:acme", other, now());
  auto v = f.admit("account:acme", "acme", "19005551234", now(), at(), &t);
  EXPECT_TRUE(v.blocked);
  EXPECT_EQ(v.measure, FraudMeasure::MinutesPerDay);
}

}  // namespace
}  // namespace tollgate::admission
