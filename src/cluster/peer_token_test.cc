#include "cluster/peer_token.h"

#include <gtest/gtest.h>

#include <string>

#include "cluster/shared_registrations.h"

namespace tollgate::cluster {
namespace {

using registrar::PeerVerdict;

const std::string kKey(kPeerKeyBytes, 'k');
constexpr int64_t kNow = 1'800'000'000'000;

TEST(PeerToken, SignedHeaderChecksForItsCallOnly) {
  PeerToken t;
  ASSERT_TRUE(t.setKey(kKey));
  const std::string v = t.sign("node-a", kNow, "cid", "ftag", "100");
  PeerTokenFields f;
  EXPECT_EQ(t.check(v, kNow + 1000, "cid", "ftag", "100", &f), PeerVerdict::Authentic);
  EXPECT_EQ(f.node, "node-a");
  EXPECT_EQ(f.wallMs, kNow);
  // Moved to another call, another From tag or another account: refused.
  EXPECT_EQ(t.check(v, kNow, "cid2", "ftag", "100", &f), PeerVerdict::BadMac);
  EXPECT_EQ(t.check(v, kNow, "cid", "other", "100", &f), PeerVerdict::BadMac);
  EXPECT_EQ(t.check(v, kNow, "cid", "ftag", "101", &f), PeerVerdict::BadMac);
}

TEST(PeerToken, AnotherKeyOrAlteredFieldsAreBadMac) {
  PeerToken a;
  PeerToken b;
  ASSERT_TRUE(a.setKey(kKey));
  ASSERT_TRUE(b.setKey(std::string(kPeerKeyBytes, 'x')));
  PeerTokenFields f;
  EXPECT_EQ(b.check(a.sign("n", kNow, "c", "t", "u"), kNow, "c", "t", "u", &f),
            PeerVerdict::BadMac);
  // The node id and the time are under the MAC too.
  std::string v = a.sign("n", kNow, "c", "t", "u");
  EXPECT_EQ(a.check("m" + v.substr(1), kNow, "c", "t", "u", &f), PeerVerdict::BadMac);
  const std::string later = "n;" + std::to_string(kNow + 1) + v.substr(v.rfind(';'));
  EXPECT_EQ(a.check(later, kNow, "c", "t", "u", &f), PeerVerdict::BadMac);
}

TEST(PeerToken, StaleBeyondTheWindowEitherWay) {
  PeerToken t;
  ASSERT_TRUE(t.setKey(kKey));
  const std::string v = t.sign("n", kNow, "c", "t", "u");
  PeerTokenFields f;
  EXPECT_EQ(t.check(v, kNow + kPeerTokenWindow.count(), "c", "t", "u", &f), PeerVerdict::Authentic);
  EXPECT_EQ(t.check(v, kNow + kPeerTokenWindow.count() + 1, "c", "t", "u", &f), PeerVerdict::Stale);
  EXPECT_EQ(t.check(v, kNow - kPeerTokenWindow.count() - 1, "c", "t", "u", &f), PeerVerdict::Stale);
}

TEST(PeerToken, MalformedValuesAndNoKey) {
  PeerToken t;
  PeerTokenFields f;
  EXPECT_EQ(t.check("n;1;" + std::string(32, 'a'), kNow, "c", "t", "u", &f), PeerVerdict::NoKey);
  EXPECT_EQ(t.sign("n", kNow, "c", "t", "u"), "");
  EXPECT_FALSE(t.setKey("short"));
  ASSERT_TRUE(t.setKey(kKey));
  for (const std::string& bad :
       {std::string(""), std::string("n"), std::string("n;1"),
        std::string(";1;") + std::string(32, 'a'), "n;x;" + std::string(32, 'a'),
        "n;-1;" + std::string(32, 'a'), "n;1;" + std::string(31, 'a'),
        "n;1;" + std::string(32, 'A'), "n;1;" + std::string(32, 'g'),
        std::string(kMaxPeerNodeId + 1, 'n') + ";1;" + std::string(32, 'a')}) {
    EXPECT_EQ(t.check(bad, kNow, "c", "t", "u", &f), PeerVerdict::Malformed) << bad;
  }
}

TEST(SharedRegistrations, BindingValueRoundTripsAndRejectsOthers) {
  registrar::Binding b;
  b.expiresUs = 1'700'000'060'000'000;
  b.registeredUs = 1'700'000'000'000'000;
  b.online = true;
  const std::string v = SharedRegistrations::encode(b, "node;with;semis");
  SharedRegistrations::Entry e;
  ASSERT_TRUE(SharedRegistrations::decode(v, &e));
  EXPECT_EQ(e.expiresMs, 1'700'000'060'000);
  EXPECT_EQ(e.registeredMs, 1'700'000'000'000);
  EXPECT_TRUE(e.online);
  EXPECT_EQ(e.owner, "node;with;semis");
  for (std::string_view bad : {"", "2;1;1;1;n", "1;1;1;2;n", "1;x;1;1;n", "1;1;1;1;", "1;1;1"}) {
    EXPECT_FALSE(SharedRegistrations::decode(bad, &e)) << bad;
  }
}

}  // namespace
}  // namespace tollgate::cluster
