// Token buckets: burst then rate, never more than the burst, a limit that
// changes keeps its tokens, and the compact form (float tokens, integer
// milliseconds) the shield stores per source.
#include "common/token_bucket.h"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

using std::chrono::milliseconds;

TEST(TokenBucket, BurstThenRate) {
  ManualClock clock;
  TokenBucket b;
  b.configure(10, 5, clock.now());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(b.available(clock.now())) << i;
    b.take();
  }
  EXPECT_FALSE(b.available(clock.now()));
  EXPECT_EQ(b.untilNextToken(), milliseconds(100));
  clock.advance(milliseconds(99));
  EXPECT_FALSE(b.available(clock.now()));
  clock.advance(milliseconds(1));
  EXPECT_TRUE(b.available(clock.now()));
}

TEST(TokenBucket, NeverHoldsMoreThanTheBurst) {
  ManualClock clock;
  TokenBucket b;
  b.configure(100, 3, clock.now());
  clock.advance(std::chrono::seconds(60));
  int taken = 0;
  while (b.available(clock.now())) {
    b.take();
    ++taken;
  }
  EXPECT_EQ(taken, 3);
}

TEST(TokenBucket, UnlimitedUntilConfigured) {
  ManualClock clock;
  TokenBucket b;
  EXPECT_FALSE(b.limited());
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(b.tryTake(clock.now()));
  EXPECT_EQ(b.untilNextToken(), milliseconds(0));
}

TEST(TokenBucket, AChangedLimitKeepsWhatIsLeft) {
  ManualClock clock;
  TokenBucket b;
  b.configure(1, 5, clock.now());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b.tryTake(clock.now())) << i;
  // A reload with a higher burst gives no fresh burst.
  b.configure(1, 50, clock.now());
  EXPECT_FALSE(b.tryTake(clock.now()));
  // A lower burst caps what is there.
  clock.advance(std::chrono::seconds(40));
  b.configure(1, 2, clock.now());
  EXPECT_TRUE(b.tryTake(clock.now()));
  EXPECT_TRUE(b.tryTake(clock.now()));
  EXPECT_FALSE(b.tryTake(clock.now()));
  // Unlimited, then limited again: a new limit starts full.
  b.configure(0, 0, clock.now());
  EXPECT_TRUE(b.tryTake(clock.now()));
  b.configure(1, 3, clock.now());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.tryTake(clock.now())) << i;
  EXPECT_FALSE(b.tryTake(clock.now()));
}

TEST(BasicTokenBucket, StartsFullOnFirstUse) {
  BasicTokenBucket<float, int64_t> b;
  EXPECT_FALSE(b.started());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(b.tryTake(10'000, 2, 4)) << i;
  EXPECT_TRUE(b.started());
  EXPECT_EQ(b.last(), 10'000);
  EXPECT_FALSE(b.tryTake(10'000, 2, 4));
  EXPECT_EQ(b.untilNextToken(2), milliseconds(500));
}

TEST(BasicTokenBucket, IntegerMillisecondsRefillAtTheRate) {
  BasicTokenBucket<float, int64_t> b;
  b.fill(0, 1);
  ASSERT_TRUE(b.tryTake(0, 10, 1));
  EXPECT_FALSE(b.tryTake(99, 10, 1));  // 0.99 of a token
  EXPECT_TRUE(b.tryTake(100, 10, 1));  // 100 ms at 10/s: one more
  EXPECT_FALSE(b.tryTake(100, 10, 1));
}

TEST(BasicTokenBucket, TimeThatDoesNotMoveForwardEarnsNothing) {
  BasicTokenBucket<double, int64_t> b;
  b.fill(5'000, 1);
  ASSERT_TRUE(b.tryTake(5'000, 1000, 1));
  EXPECT_FALSE(b.tryTake(4'000, 1000, 1));  // a clock read out of order
  EXPECT_EQ(b.last(), 5'000);
  EXPECT_TRUE(b.tryTake(5'001, 1000, 1));
}

TEST(BasicTokenBucket, CheckAndTakeApart) {
  ManualClock clock;
  BasicTokenBucket<double, MonoTime> b;
  b.refill(clock.now(), 1, 2);
  EXPECT_TRUE(b.hasToken());
  EXPECT_TRUE(b.hasToken());  // checking takes nothing
  b.take();
  EXPECT_DOUBLE_EQ(b.tokens(), 1.0);
  b.cap(0.5);
  EXPECT_DOUBLE_EQ(b.tokens(), 0.5);
  EXPECT_FALSE(b.hasToken());
  EXPECT_EQ(b.untilNextToken(1), milliseconds(500));
}

TEST(BasicTokenBucket, CompactFormStaysSixteenBytes) {
  // The shield keeps one per source and prefix; its memory bound counts on it.
  EXPECT_EQ(sizeof(BasicTokenBucket<float, int64_t>), 16u);
}

}  // namespace
}  // namespace tollgate
