// lint(): one line per captured message.
#include "sip/lint.h"

#include <gtest/gtest.h>

#include "sip/test_messages.h"

namespace tollgate::sip {
namespace {

using testing::crlf;
using testing::request;

TEST(Lint, ReportsAnAcceptedRequest) {
  LintResult r = lint(testing::typicalInvite());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.line, "ok INVITE");
}

TEST(Lint, ReportsAResponseByStatus) {
  LintResult r =
      lint(crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@y>;tag=2\n"
                "Call-ID: c\nCSeq: 1 INVITE\n\n"));
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.line, "ok 200");
}

TEST(Lint, ReportsWhatTheChecksWouldAnswer) {
  EXPECT_EQ(lint(request("OPTIONS", "", "", "nobodyKnowsThisScheme:x")).line,
            "ok OPTIONS (answered 416 Unsupported URI Scheme)");
  EXPECT_EQ(lint(request("NEWMETHOD")).line, "ok NEWMETHOD (answered 501 Not Implemented)");
  EXPECT_EQ(lint(request("ACK", "", "", "urn:x:y")).line,
            "ok ACK (dropped, would be 416 Unsupported URI Scheme)");
}

TEST(Lint, ReportsParseErrorsWithTheirStatus) {
  std::string m = request("INVITE", "Content-Type: application/sdp\n", "v=0\r\n");
  m.replace(m.find("Content-Length: 5"), 17, "Content-Length: 9999");
  LintResult r = lint(m);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.line, "error: Content-Length larger than body (400)");
  EXPECT_EQ(lint(crlf("OPTIONS sip:x@y SIP/7.0\nVia: SIP/7.0/UDP h\n\n")).line,
            "error: unsupported SIP version (505)");
}

TEST(Lint, ReportsDropsForMalformedResponsesAndJunk) {
  EXPECT_EQ(lint("SIP/2.0 4294967301 big\r\n\r\n").line, "error: malformed status code (drop)");
  EXPECT_EQ(lint("").line, "error: empty message (drop)");
  EXPECT_EQ(lint("GET / HTTP/1.1\r\n\r\n").line, "error: start line is not SIP (drop)");
}

}  // namespace
}  // namespace tollgate::sip
