// Retry limits: per (username, source) and per source, escalation, the real
// user from another source unaffected, operator lifts, bounded tables.
#include "auth/retry_limiter.h"

#include <gtest/gtest.h>

namespace tollgate::auth {
namespace {

using namespace std::chrono_literals;

net::IpAddress ip(const char* s) {
  return *net::IpAddress::parse(s);
}

class Recorder : public SuspensionListener {
 public:
  void onSuspended(const Suspension& s) override { seen.push_back(s); }
  std::vector<Suspension> seen;
};

RetryLimits limits() {
  RetryLimits l;
  l.maxRetry = 6;
  l.sourceMaxRetry = 30;
  l.suspendTime = 180s;
  l.maxSuspendTime = 3600s;
  l.failureWindow = 600s;
  return l;
}

TEST(RetryLimiterTest, SuspendsThePairAtTheLimitButNotTheRealUserElsewhere) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  Recorder rec;
  lim.setListener(&rec);
  const auto attacker = ip("203.0.113.9");
  const auto home = ip("198.51.100.20");
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(lim.recordFailure("alice", attacker)) << i;
  EXPECT_FALSE(lim.suspended("alice", attacker));
  EXPECT_TRUE(lim.recordFailure("alice", attacker));
  EXPECT_TRUE(lim.suspended("alice", attacker));
  EXPECT_FALSE(lim.suspended("alice", home)) << "the real user's own address is another pair";
  EXPECT_FALSE(lim.suspended("bob", attacker)) << "only the pair, not the whole source";
  ASSERT_EQ(rec.seen.size(), 1u);
  EXPECT_EQ(rec.seen[0].kind, SuspensionKind::Pair);
  EXPECT_EQ(rec.seen[0].username, "alice");
  EXPECT_EQ(rec.seen[0].source, attacker);
  EXPECT_EQ(rec.seen[0].untilUs - rec.seen[0].sinceUs, 180'000'000);
  EXPECT_EQ(rec.seen[0].failures, 6u);

  clock.advance(179s);
  EXPECT_TRUE(lim.suspended("alice", attacker));
  clock.advance(2s);
  EXPECT_FALSE(lim.suspended("alice", attacker)) << "suspension ends on its own";
}

TEST(RetryLimiterTest, SuccessResetsThePairCount) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  const auto a = ip("192.0.2.1");
  for (int i = 0; i < 5; ++i) lim.recordFailure("alice", a);
  lim.recordSuccess("alice", a);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(lim.recordFailure("alice", a));
  EXPECT_FALSE(lim.suspended("alice", a));
}

TEST(RetryLimiterTest, OldFailuresAreForgotten) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  const auto a = ip("192.0.2.1");
  for (int i = 0; i < 5; ++i) lim.recordFailure("alice", a);
  clock.advance(601s);
  EXPECT_FALSE(lim.recordFailure("alice", a)) << "the window restarted";
  EXPECT_FALSE(lim.suspended("alice", a));
}

TEST(RetryLimiterTest, SourceLimitCatchesUsernameSpraying) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  const auto a = ip("203.0.113.9");
  for (int i = 0; i < 29; ++i) {
    EXPECT_FALSE(lim.recordFailure("user" + std::to_string(i), a)) << i;
  }
  EXPECT_TRUE(lim.recordFailure("user29", a));
  EXPECT_TRUE(lim.sourceSuspended(a));
  EXPECT_TRUE(lim.suspended("anyone", a));
  EXPECT_FALSE(lim.suspended("anyone", ip("203.0.113.10")));
}

TEST(RetryLimiterTest, RepeatOffendersAreSuspendedLonger) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  Recorder rec;
  lim.setListener(&rec);
  const auto a = ip("203.0.113.9");
  std::vector<int64_t> durations;
  for (int round = 0; round < 7; ++round) {
    for (int i = 0; i < 6; ++i) lim.recordFailure("alice", a);
    ASSERT_EQ(rec.seen.size(), static_cast<size_t>(round + 1));
    durations.push_back((rec.seen.back().untilUs - rec.seen.back().sinceUs) / 1'000'000);
    EXPECT_EQ(rec.seen.back().offenses, static_cast<uint32_t>(round + 1));
    clock.advance(std::chrono::seconds(durations.back() + 1));
  }
  EXPECT_EQ(durations, (std::vector<int64_t>{180, 360, 720, 1440, 2880, 3600, 3600}));
  // A day of good behaviour resets the escalation.
  clock.advance(25h);
  for (int i = 0; i < 6; ++i) lim.recordFailure("alice", a);
  EXPECT_EQ(rec.seen.back().offenses, 1u);
}

TEST(RetryLimiterTest, FailuresWhileSuspendedDoNotExtendIt) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  const auto a = ip("192.0.2.1");
  for (int i = 0; i < 6; ++i) lim.recordFailure("alice", a);
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(lim.recordFailure("alice", a));
  clock.advance(181s);
  EXPECT_FALSE(lim.suspended("alice", a));
}

TEST(RetryLimiterTest, LiftByOperatorMatchesTheSuspension) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  Recorder rec;
  lim.setListener(&rec);
  const auto a = ip("192.0.2.1");
  for (int i = 0; i < 6; ++i) lim.recordFailure("alice", a);
  ASSERT_EQ(lim.active().size(), 1u);
  EXPECT_FALSE(lim.lift(SuspensionKind::Pair, "alice", a, rec.seen[0].untilUs + 1))
      << "a lift names one suspension; another is left alone";
  EXPECT_TRUE(lim.lift(SuspensionKind::Pair, "alice", a, rec.seen[0].untilUs));
  EXPECT_FALSE(lim.suspended("alice", a));
  EXPECT_TRUE(lim.active().empty());
  // The user has a full set of attempts again.
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(lim.recordFailure("alice", a));
  EXPECT_FALSE(lim.lift(SuspensionKind::Pair, "alice", a, 0)) << "nothing to lift";
}

TEST(RetryLimiterTest, RestoreReinstatesPersistedSuspensions) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  Suspension s;
  s.kind = SuspensionKind::Source;
  s.source = ip("203.0.113.9");
  s.sinceUs = clock.wallMicros();
  s.untilUs = clock.wallMicros() + 100'000'000;
  s.offenses = 2;
  lim.restore(s);
  EXPECT_TRUE(lim.sourceSuspended(ip("203.0.113.9")));
  auto active = lim.active();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].offenses, 2u);
  // The escalation continues from the restored offense count.
  clock.advance(101s);
  Recorder rec;
  lim.setListener(&rec);
  for (int i = 0; i < 30; ++i) lim.recordFailure("u" + std::to_string(i), ip("203.0.113.9"));
  ASSERT_FALSE(rec.seen.empty());
  EXPECT_EQ(rec.seen.back().kind, SuspensionKind::Source);
  EXPECT_EQ(rec.seen.back().offenses, 3u);
  EXPECT_EQ(rec.seen.back().untilUs - rec.seen.back().sinceUs, 720'000'000);
}

TEST(RetryLimiterTest, Ipv6IsCountedPerSlash64) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  for (int i = 0; i < 6; ++i) {
    std::string addr = "2001:db8:1:2::" + std::to_string(i + 1);
    lim.recordFailure("alice", ip(addr.c_str()));
  }
  EXPECT_TRUE(lim.suspended("alice", ip("2001:db8:1:2:ffff::9")));
  EXPECT_FALSE(lim.suspended("alice", ip("2001:db8:1:3::1")));
  EXPECT_EQ(AuthRetryLimiter::sourceKey(ip("2001:db8:1:2:ffff::9")), ip("2001:db8:1:2::"));
  EXPECT_EQ(AuthRetryLimiter::sourceKey(ip("192.0.2.7")), ip("192.0.2.7"));
}

TEST(RetryLimiterTest, TablesAreBounded) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits(), /*maxPairs=*/100, /*maxSources=*/50);
  for (int i = 0; i < 1000; ++i) {
    std::string addr = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    lim.recordFailure(std::string(500, 'x') + std::to_string(i), ip(addr.c_str()));
  }
  auto s = lim.stats();
  EXPECT_EQ(s.pairsTracked, 100u);
  EXPECT_EQ(s.sourcesTracked, 50u);
  EXPECT_EQ(s.evicted, 900u + 950u);
  EXPECT_EQ(s.failures, 1000u);
}

TEST(RetryLimiterTest, DisabledLimitsNeverSuspend) {
  ManualClock clock;
  RetryLimits l = limits();
  l.enabled = false;
  AuthRetryLimiter lim(clock, l);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(lim.recordFailure("alice", ip("192.0.2.1")));
  EXPECT_FALSE(lim.suspended("alice", ip("192.0.2.1")));
}

TEST(RetryLimiterTest, ProspectiveSuspensionEscalatesWithoutPlacingIt) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  Recorder rec;
  lim.setListener(&rec);
  const auto src = ip("203.0.113.9");
  Suspension first = lim.prospective(SuspensionKind::Pair, "alice", src);
  EXPECT_EQ(first.untilUs - first.sinceUs, 180'000'000);
  EXPECT_EQ(first.offenses, 1u);
  EXPECT_EQ(first.failures, 6u);
  EXPECT_FALSE(lim.suspended("alice", src)) << "only predicted";
  EXPECT_TRUE(rec.seen.empty());

  lim.install(first, /*isNew=*/true);
  EXPECT_TRUE(lim.suspended("alice", src));
  ASSERT_EQ(rec.seen.size(), 1u) << "a new suspension is told like a local one";
  EXPECT_EQ(lim.stats().suspensions, 1u);

  clock.advance(181s);
  Suspension second = lim.prospective(SuspensionKind::Pair, "alice", src);
  EXPECT_EQ(second.offenses, 2u);
  EXPECT_EQ(second.untilUs - second.sinceUs, 360'000'000) << "repeat offender: doubled";
  Suspension whole = lim.prospective(SuspensionKind::Source, "ignored", src);
  EXPECT_EQ(whole.username, "");
  EXPECT_EQ(whole.failures, 30u);
}

TEST(RetryLimiterTest, InstalledRemoteSuspensionIsSilentAndNeverShortensOne) {
  ManualClock clock;
  AuthRetryLimiter lim(clock, limits());
  Recorder rec;
  lim.setListener(&rec);
  const auto src = ip("2001:db8:1:2:3:4:5:6");
  Suspension s = lim.prospective(SuspensionKind::Source, "", src);
  lim.install(s, /*isNew=*/false);
  EXPECT_TRUE(lim.sourceSuspended(ip("2001:db8:1:2::99"))) << "the /64";
  EXPECT_TRUE(rec.seen.empty()) << "another node's suspension is not ours to persist";
  EXPECT_EQ(lim.stats().suspensions, 0u);
  Suspension shorter = s;
  shorter.untilUs = s.sinceUs + 1'000'000;
  lim.install(shorter, false);
  clock.advance(2s);
  EXPECT_TRUE(lim.sourceSuspended(src)) << "the longer one stays";
}

TEST(RetryLimiterTest, KindNames) {
  SuspensionKind k;
  ASSERT_TRUE(suspensionKindFromName("user_source", &k));
  EXPECT_EQ(k, SuspensionKind::Pair);
  ASSERT_TRUE(suspensionKindFromName("source", &k));
  EXPECT_EQ(k, SuspensionKind::Source);
  EXPECT_FALSE(suspensionKindFromName("pair", &k));
  EXPECT_EQ(suspensionKindName(SuspensionKind::Pair), "user_source");
}

}  // namespace
}  // namespace tollgate::auth
