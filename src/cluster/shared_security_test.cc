// The shared security payloads (bans, suspensions, blacklist entries):
// round trips, and defensive decoding of anything else.
#include <gtest/gtest.h>

#include "cluster/shared_auth.h"
#include "cluster/shared_bans.h"
#include "cluster/shared_codec.h"
#include "cluster/shared_policy.h"

namespace tollgate::cluster {
namespace {

TEST(SharedCodecTest, FieldsRoundTripWhateverTheyHold) {
  const std::string odd = "a b\tc%d\r\n\"e\"|f";
  const std::string p = encodeShared({"node-1", "", odd, "127.0.0.1/32"});
  EXPECT_EQ(p.find('\n'), std::string::npos);
  EXPECT_EQ(p.find('\t'), std::string::npos);
  auto f = decodeShared(p);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, (std::vector<std::string>{"node-1", "", odd, "127.0.0.1/32"}));
}

TEST(SharedCodecTest, RejectsOtherVersionsOversizeAndTooManyFields) {
  EXPECT_FALSE(decodeShared("v2 a b"));
  EXPECT_FALSE(decodeShared(""));
  EXPECT_FALSE(decodeShared(std::string(kMaxSharedPayload + 1, 'a')));
  std::string many = "v1";
  for (size_t i = 0; i <= kMaxSharedFields; ++i) many += " x";
  EXPECT_FALSE(decodeShared(many));
  EXPECT_FALSE(sharedInt("12a"));
  EXPECT_FALSE(sharedInt(""));
  EXPECT_EQ(sharedInt("-5"), -5);
}

TEST(SharedBansTest, BanRoundTripsWithItsPlacingNode) {
  shield::BanInfo b;
  b.prefix = *shield::parsePrefix("203.0.113.0/24");
  b.reason = shield::BanReason::PrefixRate;
  b.detail = "more than 5 messages in 60 s";
  b.createdUs = 1'700'000'000'000'000;
  b.expiresUs = 1'700'000'600'000'000;
  b.level = 3;
  b.manual = false;
  auto d = decodeBan(encodeBan("node a", b));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->node, "node a");
  EXPECT_EQ(shield::toString(d->ban.prefix), "203.0.113.0/24");
  EXPECT_EQ(d->ban.reason, shield::BanReason::PrefixRate);
  EXPECT_EQ(d->ban.detail, b.detail);
  EXPECT_EQ(d->ban.createdUs, b.createdUs);
  EXPECT_EQ(d->ban.expiresUs, b.expiresUs);
  EXPECT_EQ(d->ban.level, 3);
  EXPECT_TRUE(d->ban.active);
}

TEST(SharedBansTest, BadBansAreRejected) {
  EXPECT_FALSE(decodeBan("v1 a 999.0.0.1 rate 1 0 1 2 x"));  // address
  EXPECT_FALSE(decodeBan("v1 a 10.0.0.1 rate 0 0 1 2 x"));   // level
  EXPECT_FALSE(decodeBan("v1 a 10.0.0.1 rate 1 2 1 2 x"));   // manual flag
  EXPECT_FALSE(decodeBan("v1 a 10.0.0.1 rate 1 0 1 -2 x"));  // expiry
  EXPECT_FALSE(decodeBan("v1 a 10.0.0.1 rate 1 0 1 2"));     // a field short
  EXPECT_FALSE(decodeBan("v1 % 10.0.0.1 rate 1 0 1 2 x"));   // no node
  auto ok = decodeBan("v1 a 10.0.0.1 nonsense 1 0 1 2 x");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->ban.reason, shield::BanReason::Other);
}

TEST(SharedAuthTest, SuspensionRoundTripsAndLongUsernamesAreHashed) {
  auth::Suspension s;
  s.kind = auth::SuspensionKind::Pair;
  s.username = "100 with space";
  s.source = *net::IpAddress::parse("127.0.0.2");
  s.sinceUs = 10;
  s.untilUs = 20;
  s.offenses = 2;
  s.failures = 3;
  auto d = decodeSuspension(encodeSuspension("a", s));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->node, "a");
  EXPECT_EQ(d->suspension.username, s.username);
  EXPECT_EQ(d->suspension.source, s.source);
  EXPECT_EQ(d->suspension.untilUs, 20);
  EXPECT_EQ(d->suspension.offenses, 2u);

  EXPECT_EQ(sharedUserKey("100"), "100");
  const std::string longName(300, 'x');
  const std::string k = sharedUserKey(longName);
  EXPECT_EQ(k.size(), 33u);
  EXPECT_EQ(k[0], '#');
  EXPECT_EQ(k, sharedUserKey(longName.substr(0, auth::kMaxTrackedUsername)))
      << "clipped like the local limiter, so both name the same key";
}

TEST(SharedAuthTest, BadSuspensionsAreRejected) {
  EXPECT_FALSE(decodeSuspension("v1 a user_source nothere 1 2 1 3 u"));
  EXPECT_FALSE(decodeSuspension("v1 a other 127.0.0.1 1 2 1 3 u"));
  EXPECT_FALSE(decodeSuspension("v1 a user_source 127.0.0.1 5 2 1 3 u"));  // until < since
  EXPECT_FALSE(decodeSuspension("v1 a user_source 127.0.0.1 1 2 0 3 u"));  // offenses
  EXPECT_FALSE(decodeSuspension("v1 a source 127.0.0.1 1 2 1 3 u"));       // a user on a source
  auto v6 = decodeSuspension("v1 a source 2001:db8:1:2::9 1 2 1 3 %");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->suspension.source.toString(), "2001:db8:1:2::") << "kept as the /64";
}

TEST(SharedPolicyTest, EntryRoundTripsAndBadOnesAreRejected) {
  admission::BlacklistEntry e;
  e.number = "15551234567";
  e.side = admission::NumberSide::Callee;
  e.rule = admission::BlacklistRule::NoAnswer;
  e.gateway = "cust a";
  e.enforced = true;
  e.createdUs = 1;
  e.lastHitUs = 2;
  e.expiresUs = 3;
  auto d = decodeEntry(encodeEntry("b", e));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->node, "b");
  EXPECT_EQ(d->entry, e);
  EXPECT_FALSE(decodeEntry("v1 b % callee no_answer g 1 1 2 3"));       // no number
  EXPECT_FALSE(decodeEntry("v1 b 1555 sideways no_answer g 1 1 2 3"));  // side
  EXPECT_FALSE(decodeEntry("v1 b 1555 callee made_up g 1 1 2 3"));      // rule
  EXPECT_FALSE(decodeEntry("v1 b " + std::string(65, '1') + " callee manual g 1 1 2 3"));
}

}  // namespace
}  // namespace tollgate::cluster
