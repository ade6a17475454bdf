#include "media/rtpengine.h"

#include <gtest/gtest.h>

namespace tollgate::media {
namespace {

// A `query` reply of rtpengine 10.5 (captured): tag "ta" sent 49 RTP packets
// (8428 bytes), "tb" none; RTCP streams carry no media.
constexpr std::string_view kQuery =
    "d7:createdi1796640542e10:created_usi786365e11:last signali1796640542e4:SSRCd4:1234d11:"
    "average MOSd3:MOSi41e15:round-trip timei2000e6:jitteri7e11:packet lossi3eeee4:tagsd2:tad3:"
    "tag2:ta7:createdi1796640542e6:mediasld5:indexi1e4:type5:audio8:protocol7:RTP/AVP7:streamsld"
    "10:local porti31002e11:last packeti1796640543e5:flagsl3:RTP6:fillede4:SSRCi1234e5:statsd7:"
    "packetsi49e5:bytesi8428e6:errorsi0eeed10:local porti31003e11:last packeti1796640542e5:"
    "flagsl4:RTCP6:fillede5:statsd7:packetsi3e5:bytesi300e6:errorsi0eeeeeee2:tbd3:tag2:tb7:"
    "createdi1796640542e6:mediasld5:indexi1e4:type5:audio8:protocol7:RTP/AVP7:streamsld10:"
    "local porti31086e11:last packeti1796640542e5:flagsl3:RTP6:fillede5:statsd7:packetsi0e5:"
    "bytesi0e6:errorsi0eeeeeeee6:result2:oke";

TEST(Rtpengine, ReadsEachSidesFiguresFromAQuery) {
  auto q = Bencode::decode(kQuery);
  ASSERT_TRUE(q.ok());
  MediaFigures f = figures(*q, "ta", "tb");
  EXPECT_TRUE(f.present);
  EXPECT_EQ(f.caller.packets, 49u);  // RTCP (3 packets) not counted
  EXPECT_EQ(f.caller.bytes, 8428u);
  ASSERT_TRUE(f.caller.lossPct.has_value());  // from the SSRC's RTCP figures
  EXPECT_DOUBLE_EQ(*f.caller.lossPct, 3);
  EXPECT_EQ(f.caller.jitterMs, 7u);
  EXPECT_EQ(f.callee.packets, 0u);
  EXPECT_FALSE(f.callee.lossPct.has_value());  // no report for that stream: unknown
  EXPECT_FALSE(f.callee.jitterMs.has_value());
}

TEST(Rtpengine, LossAndJitterAreUnknownWithoutRtcpFigures) {
  // rtpengine 10.5 fills the call's "SSRC" dict only from RTCP it parsed;
  // with plain RTP the dict is empty (or absent) and the counters still count.
  auto q = Bencode::decode(kQuery);
  ASSERT_TRUE(q.ok());
  for (bool absent : {true, false}) {
    Bencode reply = *q;
    if (absent) {
      reply.erase("SSRC");
    } else {
      reply.set("SSRC", Bencode::dict());
    }
    MediaFigures f = figures(reply, "ta", "tb");
    EXPECT_EQ(f.caller.packets, 49u);
    EXPECT_EQ(f.caller.bytes, 8428u);
    EXPECT_FALSE(f.caller.lossPct.has_value());
    EXPECT_FALSE(f.caller.jitterMs.has_value());
  }
}

TEST(Rtpengine, LegActivityIgnoresTheCreationStampOfSilentStreams) {
  auto q = Bencode::decode(kQuery);
  ASSERT_TRUE(q.ok());
  LegActivity a = legActivity(*q, "ta");
  EXPECT_TRUE(a.known);
  EXPECT_EQ(a.packets, 49u);
  EXPECT_EQ(a.lastPacket, 1796640543);
  LegActivity b = legActivity(*q, "tb");
  EXPECT_TRUE(b.known);
  EXPECT_EQ(b.packets, 0u);
  EXPECT_EQ(b.lastPacket, 0);  // "last packet" is the creation time until RTP comes
  EXPECT_FALSE(legActivity(*q, "nobody").known);
}

TEST(Rtpengine, CommandsCarryTheTreatmentOfTheSdp) {
  OfferOptions o;
  o.codecs = {"PCMA", "telephone-event"};
  Bencode offer = offerCommand("cid", "ta", "", "v=0\r\n", o);
  EXPECT_EQ(offer.strAt("command"), "offer");
  EXPECT_EQ(offer.get("to-tag"), nullptr);  // the first offer names one side
  EXPECT_EQ(offer.strAt("ICE"), "remove");
  ASSERT_NE(offer.get("codec"), nullptr);
  EXPECT_EQ(offer.get("codec")->get("except")->list().size(), 2u);
  Bencode answer = answerCommand("cid", "ta", "tb", "v=0\r\n", o);
  EXPECT_EQ(answer.strAt("to-tag"), "tb");
  EXPECT_EQ(answer.get("codec"), nullptr);  // codecs are chosen in the offer
  Bencode del = deleteCommand("cid");
  EXPECT_EQ(del.intAt("delete delay", -1), 0);
}

}  // namespace
}  // namespace tollgate::media
