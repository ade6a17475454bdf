#include "admission/counters.h"

#include <gtest/gtest.h>

namespace tollgate::admission {
namespace {

constexpr int64_t kSecond = 1'000'000;

TEST(WindowCounter, CountsForAtLeastTheIntervalAndAtMostASliceLonger) {
  const int64_t interval = 32 * kSecond;
  const int64_t slice = sliceLengthUs(interval);
  ASSERT_EQ(slice, kSecond);
  int64_t t = 1'700'000'000 * kSecond + slice - 1;  // the very end of a slice
  WindowCounter c;
  EXPECT_EQ(c.add(t, slice), 1u);
  EXPECT_EQ(c.count(t + interval - 1, slice), 1u);  // still inside the interval
  EXPECT_EQ(c.count(t + interval + 1, slice), 0u);  // its slice aged out
  // An event at the start of a slice is remembered up to one slice longer.
  WindowCounter d;
  int64_t u = 1'700'000'000 * kSecond;
  d.add(u, slice);
  EXPECT_EQ(d.count(u + interval + slice - 1, slice), 1u);
  EXPECT_EQ(d.count(u + interval + slice, slice), 0u);
}

TEST(WindowCounter, SlidesEventByEvent) {
  const int64_t slice = sliceLengthUs(10 * kSecond);
  int64_t t = 1'700'000'000 * kSecond;
  WindowCounter c;
  for (int i = 0; i < 10; ++i) c.add(t + i * kSecond, slice);
  EXPECT_EQ(c.count(t + 9 * kSecond, slice), 10u);
  // 12 s after the first event, the first one or two are gone.
  uint32_t n = c.count(t + 12 * kSecond, slice);
  EXPECT_GE(n, 7u);
  EXPECT_LE(n, 9u);
  EXPECT_EQ(c.count(t + 30 * kSecond, slice), 0u);
}

TEST(WindowCounter, ClockSteppingBackDoesNotLoseCounts) {
  const int64_t slice = sliceLengthUs(60 * kSecond);
  int64_t t = 1'700'000'000 * kSecond;
  WindowCounter c;
  c.add(t, slice);
  c.add(t - 5 * kSecond, slice);
  EXPECT_EQ(c.count(t, slice), 2u);
}

TEST(ByteCodec, RoundTripAndCorruptInput) {
  ByteWriter w;
  w.u8(7);
  w.u32(123456);
  w.i64(-42);
  w.str("4420");
  WindowCounter c;
  c.add(1'700'000'000 * kSecond, kSecond);
  writeWindow(w, c);
  std::string blob = w.take();

  ByteReader r(blob);
  EXPECT_EQ(r.u8(), 7);
  EXPECT_EQ(r.u32(), 123456u);
  EXPECT_EQ(r.i64(), -42);
  EXPECT_EQ(r.str(64), "4420");
  WindowCounter d = readWindow(r);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.done());
  EXPECT_EQ(d.count(1'700'000'000 * kSecond, kSecond), 1u);

  ByteReader shortInput(std::string_view(blob).substr(0, blob.size() - 3));
  shortInput.u8();
  shortInput.u32();
  shortInput.i64();
  shortInput.str(64);
  readWindow(shortInput);
  EXPECT_FALSE(shortInput.ok());

  ByteReader tooLong(blob);
  tooLong.u8();
  tooLong.u32();
  tooLong.i64();
  EXPECT_EQ(tooLong.str(2), "");  // longer than allowed
  EXPECT_FALSE(tooLong.ok());
}

}  // namespace
}  // namespace tollgate::admission
