#include "admission/call_limits.h"

#include <gtest/gtest.h>

namespace tollgate::admission {
namespace {

using std::chrono::milliseconds;

CallLimitsSpec spec(double cps, int burst, int maxConcurrent) {
  CallLimitsSpec s;
  s.cps = cps;
  s.cpsBurst = burst;
  s.maxConcurrent = maxConcurrent;
  return s;
}

TEST(CallLimits, ExcessOfABurstIsRefusedForRateOnly) {
  ManualClock clock;
  CallLimits l;
  l.beginReload();
  auto h = l.configure("m:a", spec(5, 5, 0), clock.now());
  l.endReload();
  const CallLimits::Handle hs[] = {h};
  int ok = 0, rate = 0;
  for (int i = 0; i < 8; ++i) {
    auto d = l.tryAcquire(hs, clock.now());
    if (d.verdict == CallLimits::Verdict::Ok) ++ok;
    if (d.verdict == CallLimits::Verdict::Rate) {
      ++rate;
      EXPECT_EQ(d.entity, h);
      EXPECT_EQ(d.retryAfter, milliseconds(200));
    }
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(rate, 3);
  EXPECT_EQ(l.active(h), 5u);
}

TEST(CallLimits, DefaultBurstIsOneSecondOfRate) {
  ManualClock clock;
  CallLimits l;
  auto h = l.configure("m:a", spec(3, 0, 0), clock.now());
  const CallLimits::Handle hs[] = {h};
  int ok = 0;
  for (int i = 0; i < 10; ++i)
    ok += l.tryAcquire(hs, clock.now()).verdict == CallLimits::Verdict::Ok;
  EXPECT_EQ(ok, 3);
}

TEST(CallLimits, ChannelsAreCountedAndReleased) {
  ManualClock clock;
  CallLimits l;
  auto h = l.configure("m:a", spec(0, 0, 2), clock.now());
  const CallLimits::Handle hs[] = {h};
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Concurrency);
  l.release(h);
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  EXPECT_EQ(l.active(h), 2u);
}

TEST(CallLimits, ShareDividesChannelsAndRateAndWholeLimitReturns) {
  ManualClock clock;
  CallLimits l;
  auto h = l.configure("m:a", spec(6, 6, 10), clock.now());
  const CallLimits::Handle hs[] = {h};
  l.setShare(3, clock.now());  // ceil(10 / 3) = 4 channels, 2 cps, burst 2
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Rate);
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Concurrency);
  EXPECT_EQ(l.active(h), 4u);
  l.setShare(1, clock.now());  // the whole limit again: 10 channels
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  EXPECT_EQ(l.active(h), 5u);
  size_t seen = 0;
  l.forEach([&](std::string_view key, uint32_t active) {
    EXPECT_EQ(key, "m:a");
    EXPECT_EQ(active, 5u);
    ++seen;
  });
  EXPECT_EQ(seen, 1u);
  EXPECT_FALSE(l.overShare(h, 2));  // 5 of ceil(10 / 2)
  EXPECT_TRUE(l.overShare(h, 3));   // 5 of ceil(10 / 3) = 4
}

TEST(CallLimits, AllOrNothingAcrossGatewayAndAccount) {
  ManualClock clock;
  CallLimits l;
  auto gw = l.configure("m:a", spec(0, 0, 10), clock.now());
  auto acc = l.configure("a:x", spec(0, 0, 1), clock.now());
  const CallLimits::Handle hs[] = {gw, acc};
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  auto d = l.tryAcquire(hs, clock.now());
  EXPECT_EQ(d.verdict, CallLimits::Verdict::Concurrency);
  EXPECT_EQ(d.entity, acc);
  // The gateway's channel was not taken by the refused call.
  EXPECT_EQ(l.active(gw), 1u);
}

TEST(CallLimits, ChannelRefusalDoesNotSpendAToken) {
  ManualClock clock;
  CallLimits l;
  auto h = l.configure("m:a", spec(1, 1, 1), clock.now());
  const CallLimits::Handle hs[] = {h};
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Concurrency);
  l.release(h);
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
}

TEST(CallLimits, ReloadKeepsCallsAndTokens) {
  ManualClock clock;
  CallLimits l;
  l.beginReload();
  auto h = l.configure("m:a", spec(2, 2, 5), clock.now());
  l.endReload();
  const CallLimits::Handle hs[] = {h};
  ASSERT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  ASSERT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  // A reload with a tighter channel limit: the two calls stay counted, the
  // bucket stays empty (no fresh burst from a reload).
  l.beginReload();
  auto h2 = l.configure("m:a", spec(2, 2, 2), clock.now());
  l.endReload();
  EXPECT_EQ(h2, h);
  EXPECT_EQ(l.active(h), 2u);
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Concurrency);
  l.release(h);
  EXPECT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Rate);
}

TEST(CallLimits, RemovedEntityLivesUntilItsCallsEnd) {
  ManualClock clock;
  CallLimits l;
  auto h = l.configure("m:gone", spec(0, 0, 1), clock.now());
  const CallLimits::Handle hs[] = {h};
  ASSERT_EQ(l.tryAcquire(hs, clock.now()).verdict, CallLimits::Verdict::Ok);
  l.beginReload();
  l.endReload();
  EXPECT_EQ(l.find("m:gone"), h);  // still counting its call
  EXPECT_EQ(l.size(), 1u);
  l.release(h);
  EXPECT_EQ(l.find("m:gone"), CallLimits::kNone);
  EXPECT_EQ(l.size(), 0u);
}

TEST(CallLimits, CarrierCheckThenAcquire) {
  ManualClock clock;
  CallLimits l;
  auto h = l.configure("r:c", spec(0, 0, 1), clock.now());
  EXPECT_TRUE(l.wouldAdmit(h, clock.now()));
  l.acquire(h, clock.now());
  EXPECT_FALSE(l.wouldAdmit(h, clock.now()));
  l.release(h);
  EXPECT_TRUE(l.wouldAdmit(h, clock.now()));
  EXPECT_TRUE(l.wouldAdmit(CallLimits::kNone, clock.now()));
}

}  // namespace
}  // namespace tollgate::admission
