#include "admission/dynamic_blacklist.h"

#include <gtest/gtest.h>

#include <tuple>

#include "common/clock.h"

namespace tollgate::admission {
namespace {

constexpr int64_t kSecond = 1'000'000;

// Records what the blacklist asks to persist.
class FakePersistence final : public BlacklistPersistence {
 public:
  void saveEntry(const BlacklistEntry& e) override { saved.push_back(e); }
  void eraseEntry(std::string_view number, NumberSide side) override {
    erased.emplace_back(std::string(number), side);
  }
  void saveCounters(std::string_view, std::string) override {}
  std::vector<BlacklistEntry> saved;
  std::vector<std::pair<std::string, NumberSide>> erased;
};

BlacklistRuleSettings rule(uint32_t limit, int64_t intervalS, int64_t expireS, bool enforce = true,
                           bool cut = false) {
  BlacklistRuleSettings r;
  r.limit = limit;
  r.intervalUs = intervalS * kSecond;
  r.expireUs = expireS * kSecond;
  r.enforce = enforce;
  r.cutCalls = cut;
  return r;
}

class DynamicBlacklistTest : public ::testing::Test {
 protected:
  int64_t now() const { return clock.wallMicros(); }
  void advance(int64_t us) { clock.advance(Micros(us)); }
  ManualClock clock;
  FakePersistence persist;
  std::vector<Listing> listings;
};

TEST_F(DynamicBlacklistTest, MaliciousCallerListedAtExactlyTheLimit) {
  DynamicBlacklistSettings s;
  s.maliciousCaller = rule(3, 10, 30);
  DynamicBlacklist bl(s, &persist);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::None);
    bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
    advance(kSecond);
  }
  EXPECT_TRUE(listings.empty()) << "listed before the limit";
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::None);
  bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);  // the 3rd call
  ASSERT_EQ(listings.size(), 1u);
  EXPECT_EQ(listings[0].number, "1001");
  EXPECT_EQ(listings[0].side, NumberSide::Caller);
  EXPECT_EQ(listings[0].rule, BlacklistRule::MaliciousCaller);
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::Refuse);
  // Only the caller side: the number may still be called.
  EXPECT_EQ(bl.check("1001", NumberSide::Callee, now()), DynamicBlacklist::Hit::None);
  ASSERT_FALSE(persist.saved.empty());
  EXPECT_EQ(persist.saved.front().number, "1001");
  EXPECT_EQ(persist.saved.front().gateway, "gw");
}

class CountRecorder final : public BlacklistCounterSink {
 public:
  void counted(BlacklistRule rule, std::string_view number, NumberSide side, std::string_view,
               int64_t) override {
    seen.emplace_back(rule, std::string(number), side);
  }
  std::vector<std::tuple<BlacklistRule, std::string, NumberSide>> seen;
};

TEST_F(DynamicBlacklistTest, CountsBelowTheLimitGoToTheSinkAndSharedListingsList) {
  DynamicBlacklistSettings s;
  s.maliciousCaller = rule(3, 10, 30);
  DynamicBlacklist bl(s, &persist);
  CountRecorder counts;
  bl.setCounterSink(&counts);
  bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  ASSERT_EQ(counts.seen.size(), 2u) << "the callee rule is off: callers only";
  EXPECT_EQ(counts.seen[0], std::make_tuple(BlacklistRule::MaliciousCaller, std::string("1001"),
                                            NumberSide::Caller));
  // The cluster's count reached the limit: listed here, persisted, no cut.
  EXPECT_TRUE(
      bl.listShared("1001", NumberSide::Caller, BlacklistRule::MaliciousCaller, "gw", now()));
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::Refuse);
  ASSERT_FALSE(persist.saved.empty());
  EXPECT_EQ(persist.saved.back().rule, BlacklistRule::MaliciousCaller);
  EXPECT_FALSE(
      bl.listShared("1001", NumberSide::Caller, BlacklistRule::MaliciousCaller, "gw", now()))
      << "listed already";
  EXPECT_FALSE(
      bl.listShared("2002", NumberSide::Callee, BlacklistRule::MaliciousCallee, "gw", now()))
      << "rule off";
  EXPECT_TRUE(listings.empty());
}

TEST_F(DynamicBlacklistTest, CallsSpreadWiderThanTheIntervalDoNotList) {
  DynamicBlacklistSettings s;
  s.maliciousCaller = rule(3, 10, 30);
  DynamicBlacklist bl(s, &persist);
  for (int i = 0; i < 10; ++i) {
    bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
    advance(6 * kSecond);  // never 3 within 10 s
  }
  EXPECT_TRUE(listings.empty());
}

TEST_F(DynamicBlacklistTest, MaliciousEntryExpiresExpireAfterTheLastCall) {
  DynamicBlacklistSettings s;
  s.maliciousCaller = rule(2, 10, 30);
  DynamicBlacklist bl(s, &persist);
  bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  ASSERT_EQ(listings.size(), 1u);
  advance(20 * kSecond);
  // Calling again while listed keeps it listed for another 30 s.
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::Refuse);
  advance(29 * kSecond);
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::Refuse);
  advance(30 * kSecond);
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::None);
  EXPECT_EQ(bl.size(), 0u);
  ASSERT_FALSE(persist.erased.empty());
  EXPECT_EQ(persist.erased.back().first, "1001");
  EXPECT_EQ(bl.stats().expired, 1u);
  EXPECT_EQ(bl.stats().refused, 2u);
}

TEST_F(DynamicBlacklistTest, ExpiresOnTimeWithoutFurtherCalls) {
  DynamicBlacklistSettings s;
  s.maliciousCallee = rule(2, 10, 5);
  DynamicBlacklist bl(s, &persist);
  bl.onAttempt("a", false, "900", false, "gw", now(), &listings);
  bl.onAttempt("b", false, "900", false, "gw", now(), &listings);
  ASSERT_EQ(listings.size(), 1u);
  EXPECT_EQ(listings[0].side, NumberSide::Callee);
  advance(5 * kSecond - 1);
  EXPECT_EQ(bl.expire(now()), 0u);
  advance(1);
  EXPECT_EQ(bl.expire(now()), 1u);
  EXPECT_EQ(bl.size(), 0u);
}

TEST_F(DynamicBlacklistTest, ExemptNumbersAreNotCounted) {
  DynamicBlacklistSettings s;
  s.maliciousCaller = rule(1, 10, 30);
  s.maliciousCallee = rule(1, 10, 30);
  DynamicBlacklist bl(s, &persist);
  bl.onAttempt("1001", true, "555", true, "gw", now(), &listings);
  EXPECT_TRUE(listings.empty());
  bl.onAttempt("1001", true, "555", false, "gw", now(), &listings);
  ASSERT_EQ(listings.size(), 1u);
  EXPECT_EQ(listings[0].number, "555");
}

TEST_F(DynamicBlacklistTest, NoAnswerNeedsConsecutiveUnansweredCalls) {
  DynamicBlacklistSettings s;
  s.noAnswer = rule(3, 60, 100);
  DynamicBlacklist bl(s, &persist);
  bl.onUnanswered("900", "gw", now(), &listings);
  bl.onUnanswered("900", "gw", now(), &listings);
  bl.onAnswered("900");  // breaks the streak
  bl.onUnanswered("900", "gw", now(), &listings);
  bl.onUnanswered("900", "gw", now(), &listings);
  EXPECT_TRUE(listings.empty());
  bl.onUnanswered("900", "gw", now(), &listings);
  ASSERT_EQ(listings.size(), 1u);
  EXPECT_EQ(listings[0].rule, BlacklistRule::NoAnswer);
  EXPECT_EQ(bl.check("900", NumberSide::Callee, now()), DynamicBlacklist::Hit::Refuse);
  // No extension for this rule: it ends EXPIRE after the listing.
  advance(100 * kSecond);
  EXPECT_EQ(bl.check("900", NumberSide::Callee, now()), DynamicBlacklist::Hit::None);
}

TEST_F(DynamicBlacklistTest, CallerConcurrencyRefusesTheCallOverTheLimit) {
  DynamicBlacklistSettings s;
  s.callerConcurrent = rule(2, 0, 60);
  DynamicBlacklist bl(s, &persist);
  EXPECT_TRUE(bl.onCallStart("1001", "gw", now(), &listings));
  EXPECT_TRUE(bl.onCallStart("1001", "gw", now(), &listings));
  EXPECT_FALSE(bl.onCallStart("1001", "gw", now(), &listings));
  ASSERT_EQ(listings.size(), 1u);
  EXPECT_EQ(listings[0].rule, BlacklistRule::CallerConcurrent);
  EXPECT_EQ(bl.liveCallers(), 1u);
  bl.onCallEnd("1001");
  bl.onCallEnd("1001");
  EXPECT_EQ(bl.liveCallers(), 0u);
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::Refuse);
}

TEST_F(DynamicBlacklistTest, CountOnlyListsButDoesNotRefuse) {
  DynamicBlacklistSettings s;
  s.maliciousCaller = rule(2, 10, 30, /*enforce=*/false);
  s.callerConcurrent = rule(1, 0, 30, /*enforce=*/false);
  DynamicBlacklist bl(s, &persist);
  bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  ASSERT_EQ(listings.size(), 1u);
  EXPECT_FALSE(listings[0].enforced);
  EXPECT_FALSE(listings[0].cutCalls);
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::CountOnly);
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::CountOnly);
  EXPECT_TRUE(bl.onCallStart("2002", "gw", now(), &listings));
  EXPECT_TRUE(bl.onCallStart("2002", "gw", now(), &listings));  // counted, not refused
  EXPECT_EQ(bl.stats().wouldRefuse, 2u);
  EXPECT_EQ(bl.stats().refused, 0u);
  EXPECT_EQ(bl.stats().countOnlyListed, 2u);
  auto entries = bl.entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_FALSE(entries[0].enforced);
}

TEST_F(DynamicBlacklistTest, EnforcingRuleUpgradesACountOnlyEntry) {
  DynamicBlacklistSettings s;
  s.maliciousCaller = rule(1, 10, 30, /*enforce=*/false);
  s.callerConcurrent = rule(1, 0, 60, /*enforce=*/true);
  DynamicBlacklist bl(s, &persist);
  bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::CountOnly);
  EXPECT_TRUE(bl.onCallStart("1001", "gw", now(), &listings));
  EXPECT_FALSE(bl.onCallStart("1001", "gw", now(), &listings));
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::Refuse);
  EXPECT_EQ(bl.size(), 1u);
}

TEST_F(DynamicBlacklistTest, CutCallsIsReportedOnEnforcedListings) {
  DynamicBlacklistSettings s;
  s.maliciousCaller = rule(1, 10, 30, true, /*cut=*/true);
  DynamicBlacklist bl(s, &persist);
  bl.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  ASSERT_EQ(listings.size(), 1u);
  EXPECT_TRUE(listings[0].cutCalls);
}

TEST_F(DynamicBlacklistTest, FullListDropsTheEntryClosestToExpiry) {
  DynamicBlacklistSettings s;
  s.maxEntries = 3;
  DynamicBlacklist bl(s, &persist);
  for (int i = 0; i < 3; ++i) {
    BlacklistEntry e;
    e.number = "n" + std::to_string(i);
    e.expiresUs = now() + (10 - i) * kSecond;  // n2 expires first
    bl.put(e);
  }
  BlacklistEntry e;
  e.number = "new";
  e.expiresUs = now() + 100 * kSecond;
  bl.put(e);
  EXPECT_EQ(bl.size(), 3u);
  EXPECT_EQ(bl.check("n2", NumberSide::Caller, now()), DynamicBlacklist::Hit::None);
  EXPECT_EQ(bl.check("new", NumberSide::Caller, now()), DynamicBlacklist::Hit::Refuse);
  EXPECT_EQ(bl.stats().evictedFull, 1u);
}

TEST_F(DynamicBlacklistTest, TrackedNumbersAreBounded) {
  DynamicBlacklistSettings s;
  s.maxTrackedNumbers = 100;
  s.maliciousCaller = rule(1000, 60, 30);
  DynamicBlacklist bl(s, &persist);
  for (int i = 0; i < 10'000; ++i) {
    bl.onAttempt(std::to_string(i), false, "555", true, "gw", now(), &listings);
  }
  EXPECT_EQ(bl.stats().counterEvictions, 9'900u);
}

TEST_F(DynamicBlacklistTest, OperatorRemovalAndClear) {
  DynamicBlacklist bl({}, &persist);
  BlacklistEntry e;
  e.number = "1001";
  e.expiresUs = now() + 60 * kSecond;
  bl.put(e);
  e.side = NumberSide::Callee;
  bl.put(e);
  EXPECT_EQ(bl.remove("1001", NumberSide::Callee, /*persist=*/true), 1u);
  EXPECT_EQ(persist.erased.size(), 1u);
  EXPECT_EQ(bl.check("1001", NumberSide::Caller, now()), DynamicBlacklist::Hit::Refuse);
  bl.put(e);
  bl.clear(/*persist=*/true);
  EXPECT_EQ(bl.size(), 0u);
  EXPECT_EQ(persist.erased.size(), 3u);
}

TEST_F(DynamicBlacklistTest, LoadSkipsExpiredEntries) {
  DynamicBlacklist bl({}, &persist);
  BlacklistEntry live, dead;
  live.number = "live";
  live.expiresUs = now() + kSecond;
  dead.number = "dead";
  dead.expiresUs = now();
  bl.load({live, dead}, now());
  EXPECT_EQ(bl.size(), 1u);
  EXPECT_TRUE(persist.saved.empty()) << "loaded entries are in the store already";
}

TEST_F(DynamicBlacklistTest, CountersSurviveARestart) {
  DynamicBlacklistSettings s;
  s.maliciousCaller = rule(3, 60, 30);
  s.noAnswer = rule(2, 60, 30);
  DynamicBlacklist before(s, &persist);
  before.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  before.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  before.onUnanswered("900", "gw", now(), &listings);
  std::string blob = before.saveCounters(now());
  advance(5 * kSecond);

  DynamicBlacklist after(s, &persist);
  ASSERT_TRUE(after.restoreCounters(blob, now()));
  after.onAttempt("1001", false, "555", false, "gw", now(), &listings);
  ASSERT_EQ(listings.size(), 1u) << "the third call after the restart reaches the limit";
  after.onUnanswered("900", "gw", now(), &listings);
  EXPECT_EQ(listings.size(), 2u);

  // A blob taken with another interval is ignored, not misread.
  DynamicBlacklistSettings other = s;
  other.maliciousCaller.intervalUs = 120 * kSecond;
  DynamicBlacklist changed(other, &persist);
  ASSERT_TRUE(changed.restoreCounters(blob, now()));
  std::vector<Listing> none;
  changed.onAttempt("1001", false, "555", false, "gw", now(), &none);
  EXPECT_TRUE(none.empty());
  EXPECT_FALSE(changed.restoreCounters("garbage", now()));
}

TEST(DynamicBlacklistNames, RoundTrip) {
  for (auto r : {BlacklistRule::MaliciousCaller, BlacklistRule::MaliciousCallee,
                 BlacklistRule::NoAnswer, BlacklistRule::CallerConcurrent, BlacklistRule::Manual}) {
    BlacklistRule back;
    ASSERT_TRUE(parseRule(ruleName(r), &back));
    EXPECT_EQ(back, r);
  }
  NumberSide s;
  EXPECT_TRUE(parseSide("callee", &s));
  EXPECT_EQ(s, NumberSide::Callee);
  EXPECT_FALSE(parseSide("both", &s));
}

}  // namespace
}  // namespace tollgate::admission
