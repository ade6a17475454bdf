#include "media/bencode.h"

#include <gtest/gtest.h>

namespace tollgate::media {
namespace {

TEST(Bencode, EncodesDictionariesWithSortedKeys) {
  Bencode d;
  d.set("sdp", "v=0");
  d.set("command", "offer");
  d.set("flags", Bencode::List{"trust-address"});
  d.set("delete delay", 0);
  EXPECT_EQ(d.encode(), "d7:command5:offer12:delete delayi0e5:flagsl13:trust-addresse3:sdp3:v=0e");
}

TEST(Bencode, DecodesAnRtpengineReply) {
  auto r = Bencode::decode("d3:sdp3:v=06:result2:ok6:totalsd3:RTPd7:packetsi42e5:bytesi-1eeee");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->strAt("result"), "ok");
  EXPECT_EQ(r->strAt("sdp"), "v=0");
  ASSERT_NE(r->get("totals"), nullptr);
  EXPECT_EQ(r->get("totals")->get("RTP")->intAt("packets"), 42);
  EXPECT_EQ(r->get("totals")->get("RTP")->intAt("bytes"), -1);
  EXPECT_EQ(r->intAt("missing", 7), 7);
}

TEST(Bencode, RejectsMalformedTruncatedAndTrailingInput) {
  EXPECT_FALSE(Bencode::decode("").ok());
  EXPECT_FALSE(Bencode::decode("d3:sdp").ok());
  EXPECT_FALSE(Bencode::decode("5:ab").ok());
  EXPECT_FALSE(Bencode::decode("i12x").ok());
  EXPECT_FALSE(Bencode::decode("di1e1:ae").ok());  // keys are strings
  auto t = Bencode::decode("i1ei2e");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error(), Bencode::DecodeError::Trailing);
  EXPECT_FALSE(Bencode::decode("99999999999999999999999:").ok());
}

TEST(Bencode, BoundsNestingDepth) {
  std::string deep(kMaxBencodeDepth + 2, 'l');
  deep += std::string(kMaxBencodeDepth + 2, 'e');
  auto r = Bencode::decode(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), Bencode::DecodeError::TooDeep);
  std::string ok(kMaxBencodeDepth, 'l');
  ok += std::string(kMaxBencodeDepth, 'e');
  EXPECT_TRUE(Bencode::decode(ok).ok());
}

TEST(Bencode, RoundTrips) {
  Bencode d;
  d.set("a", Bencode::List{1, "x", Bencode::List{}});
  d.set("b", Bencode::dict());
  auto r = Bencode::decode(d.encode());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->encode(), d.encode());
}

}  // namespace
}  // namespace tollgate::media
