// SDP origin and session-name rewriting.
#include "sip/sdp.h"

#include <gtest/gtest.h>

namespace tollgate::sip {
namespace {

TEST(Sdp, OriginAndSessionNameAreReplacedMediaIsNot) {
  const std::string in =
      "v=0\r\no=root 7777 3 IN IP4 10.9.8.7\r\ns=Asterisk PBX\r\nc=IN IP4 10.9.8.7\r\n"
      "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=tool:x\r\ns=second\r\n";
  EXPECT_EQ(rewriteSdpOrigin(in, "192.0.2.1"),
            "v=0\r\no=- 7777 3 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 10.9.8.7\r\n"
            "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=tool:x\r\ns=second\r\n");
}

TEST(Sdp, SenderDescriptionsAreDroppedAtSessionLevelOnly) {
  EXPECT_EQ(rewriteSdpOrigin("v=0\r\no=a 1 2 IN IP4 h\r\ns=x\r\ni=Acme PBX\r\nu=http://acme\r\n"
                             "e=noc@acme.example\r\np=+1 555 0100\r\nc=IN IP4 h\r\nt=0 0\r\n"
                             "m=audio 1 RTP/AVP 0\r\ni=main audio\r\n",
                             "g"),
            "v=0\r\no=- 1 2 IN IP4 g\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\n"
            "m=audio 1 RTP/AVP 0\r\ni=main audio\r\n");
}

TEST(Sdp, KeepsLineEndingsAndHandlesIpv6AndNames) {
  EXPECT_EQ(rewriteSdpOrigin("v=0\no=a 1 2 IN IP4 1.2.3.4\ns=x", "[2001:db8::1]"),
            "v=0\no=- 1 2 IN IP6 2001:db8::1\ns=-");
  EXPECT_EQ(rewriteSdpOrigin("o=a 1 2 IN IP4 1.2.3.4\r\n", "sbc.example.net"),
            "o=- 1 2 IN IP4 sbc.example.net\r\n");
}

TEST(Sdp, MalformedOriginIsReplacedWhole) {
  EXPECT_EQ(rewriteSdpOrigin("o=onlyuser\r\n", "h"), "o=- 0 0 IN IP4 h\r\n");
  EXPECT_EQ(rewriteSdpOrigin("o=a x y IN IP4 h2\r\n", "h"), "o=- 0 0 IN IP4 h\r\n");
  EXPECT_EQ(rewriteSdpOrigin("o=a  1 2 IN IP4 h2\r\n", "h"), "o=- 0 0 IN IP4 h\r\n");
  EXPECT_EQ(rewriteSdpOrigin("", "h"), "");
}

TEST(Sdp, ContentTypeMatch) {
  EXPECT_TRUE(isSdp("application/sdp"));
  EXPECT_TRUE(isSdp("Application/SDP; charset=utf-8"));
  EXPECT_FALSE(isSdp("multipart/mixed;boundary=x"));
  EXPECT_FALSE(isSdp(""));
}

}  // namespace
}  // namespace tollgate::sip
