// What a new INVITE says of its caller for the live call list: the From
// display name with quoted-pairs undone and the User-Agent, printable and
// bounded whatever the peer sent (the parser already refuses most control
// bytes; tabs and bytes that are not UTF-8 reach this far).
#include "call/numbers.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::call {
namespace {

sip::MessagePtr invite(const std::string& from, const std::string& extra) {
  std::string m =
      "INVITE sip:15551234567@192.0.2.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1\r\n"
      "From: " +
      from +
      ";tag=a1\r\n"
      "To: <sip:15551234567@192.0.2.1>\r\n"
      "Call-ID: c1\r\n"
      "CSeq: 1 INVITE\r\n"
      "Max-Forwards: 70\r\n" +
      extra + "Content-Length: 0\r\n\r\n";
  auto r = sip::Message::parse(std::move(m));
  EXPECT_TRUE(r.ok());
  return std::move(r.value());
}

TEST(CallerText, DisplayNameAndUserAgentAreKeptAsText) {
  auto m = invite(R"x("<img src=x onerror=\"a()\">" <sip:2002@192.0.2.9>)x",
                  "User-Agent: <script>x()</script> M\xC3\xBCller/1.0\r\n");
  EXPECT_EQ(callerNameForRecord(*m), R"x(<img src=x onerror="a()">)x");
  EXPECT_EQ(userAgentForRecord(*m), "<script>x()</script> M\xC3\xBCller/1.0");
}

TEST(CallerText, AbsentFieldsAreEmpty) {
  auto m = invite("<sip:2002@192.0.2.9>", "");
  EXPECT_EQ(callerNameForRecord(*m), "");
  EXPECT_EQ(userAgentForRecord(*m), "");
}

TEST(CallerText, ControlBytesAndInvalidUtf8AreReplacedAndLengthIsBounded) {
  auto m = invite("\"a\t\xFF" + std::string(1000, 'n') + "\" <sip:2002@192.0.2.9>",
                  "User-Agent: ua\t" + std::string(1000, 'u') + "\r\n");
  const std::string name = callerNameForRecord(*m);
  EXPECT_EQ(name.substr(0, 4), "a??n");
  EXPECT_EQ(name.size(), kMaxCallerNameBytes);
  EXPECT_EQ(name.back(), '?') << "the cut is marked";
  const std::string ua = userAgentForRecord(*m);
  EXPECT_EQ(ua.substr(0, 4), "ua?u");
  EXPECT_EQ(ua.size(), kMaxUserAgentBytes);
}

}  // namespace
}  // namespace tollgate::call
