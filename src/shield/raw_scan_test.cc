// Raw start-line and header scanning.
#include "shield/raw_scan.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::shield {
namespace {

TEST(RawScanTest, RecognisesRequestsWithMethod) {
  StartLine sl = scanStartLine("INVITE sip:1@h SIP/2.0\r\nVia: x\r\n\r\n");
  EXPECT_EQ(sl.kind, StartLine::Request);
  EXPECT_EQ(sl.method, sip::Method::Invite);
  EXPECT_EQ(sl.methodToken, "INVITE");

  sl = scanStartLine("\r\n\r\nOPTIONS sip:100@127.0.0.1 SIP/2.0\nVia: x\n\n");
  EXPECT_EQ(sl.kind, StartLine::Request);
  EXPECT_EQ(sl.method, sip::Method::Options);

  sl = scanStartLine("FOO sip:x sip/2.0\r\n");  // version compared case-insensitively
  EXPECT_EQ(sl.kind, StartLine::Request);
  EXPECT_EQ(sl.method, sip::Method::Unknown);
  EXPECT_EQ(sl.methodToken, "FOO");
}

TEST(RawScanTest, RecognisesResponses) {
  EXPECT_EQ(scanStartLine("SIP/2.0 200 OK\r\n").kind, StartLine::Response);
  EXPECT_EQ(scanStartLine("SIP/2.0 100\r\n").kind, StartLine::Response);
  EXPECT_EQ(scanStartLine("SIP/2.0 20 OK\r\n").kind, StartLine::Garbage);
  EXPECT_EQ(scanStartLine("SIP/2.0 2000 OK\r\n").kind, StartLine::Garbage);
}

TEST(RawScanTest, GarbageIsNotSip) {
  for (std::string bad : {std::string(""), std::string("\r\n\r\n"), std::string("hello"),
                          std::string("GET / HTTP/1.1\r\n\r\n"), std::string("INVITE\r\n"),
                          std::string("INVITE  SIP/2.0\r\n"), std::string("INV ITE sip:x SIP/2.0"),
                          std::string("\x16\x03\x01\x02\x00\x01", 6),
                          std::string("INVITE sip:x SIP/2.0") /* no line end */}) {
    EXPECT_EQ(scanStartLine(bad).kind, StartLine::Garbage) << bad;
  }
  std::string longLine = "INVITE sip:" + std::string(kMaxStartLineScan, 'a') + " SIP/2.0\r\n";
  EXPECT_EQ(scanStartLine(longLine).kind, StartLine::Garbage);
}

TEST(RawScanTest, FindsHeaderValueCaseInsensitivelyAndTrimmed) {
  const std::string msg =
      "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1\r\n"
      "user-agent \t:  friendly-scanner  \r\n"
      "User-Agent: second\r\n"
      "\r\n"
      "User-Agent: in-the-body\r\n";
  EXPECT_EQ(findHeader(msg, "User-Agent", 256), "friendly-scanner");
  EXPECT_EQ(findHeader(msg, "User-Agent", 8), "friendly");
  EXPECT_EQ(findHeader(msg, "Server", 256), "");
}

TEST(RawScanTest, HeaderAfterTheBodySeparatorIsNotAHeader) {
  const std::string msg = "OPTIONS sip:x SIP/2.0\nVia: a\n\nUser-Agent: sipvicious\n";
  EXPECT_EQ(findHeader(msg, "User-Agent", 256), "");
  EXPECT_EQ(findHeader("OPTIONS sip:x SIP/2.0", "User-Agent", 256), "");
  EXPECT_EQ(findHeader("OPTIONS sip:x SIP/2.0\nUser-Agent-X: a\n\n", "User-Agent", 256), "");
  EXPECT_EQ(findHeader("OPTIONS sip:x SIP/2.0\nUser-Agent:\n\n", "User-Agent", 256), "");
  EXPECT_EQ(findHeader("OPTIONS sip:x SIP/2.0\nUser-Agent: last", "User-Agent", 256), "last");
}

TEST(RawScanTest, ContainsLoweredIgnoresCase) {
  EXPECT_TRUE(containsLowered("Friendly-Scanner", "friendly-scanner"));
  EXPECT_TRUE(containsLowered("x VaxSIPUserAgent/3.1", "vaxsipuseragent"));
  EXPECT_FALSE(containsLowered("friendly", "friendly-scanner"));
  EXPECT_FALSE(containsLowered("Asterisk PBX", "sipcli"));
  EXPECT_TRUE(containsLowered("anything", ""));
}

}  // namespace
}  // namespace tollgate::shield
