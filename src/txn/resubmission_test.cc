// A request sent again with credentials (resubmission.h): new branch and
// CSeq, the old answer replaced by the new one, everything else as sent.
#include "txn/resubmission.h"

#include <gtest/gtest.h>

#include <string>

#include "sip/message.h"

namespace tollgate::txn {
namespace {

OutgoingRequest sentInvite() {
  OutgoingRequest o;
  o.method = sip::Method::Invite;
  o.branch = "z9hG4bK-old";
  o.requestUri = "sip:100@192.0.2.1";
  o.via = "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-old;rport";
  o.from = "<sip:1001@192.0.2.9>;tag=a1";
  o.to = "<sip:100@192.0.2.1>";
  o.callId = "c1";
  o.cseq = 1;
  o.routes = {"<sip:192.0.2.7;lr>"};
  o.bytes =
      "INVITE sip:100@192.0.2.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-old;rport\r\n"
      "Route: <sip:192.0.2.7;lr>\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:1001@192.0.2.9>;tag=a1\r\n"
      "To: <sip:100@192.0.2.1>\r\n"
      "Call-ID: c1\r\n"
      "CSeq: 1 INVITE\r\n"
      "Proxy-Authorization: Digest username=\"old\"\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Length: 4\r\n"
      "\r\n"
      "v=0\n";
  return o;
}

TEST(Resubmission, NewBranchAndCSeqWithOnlyTheNewAnswer) {
  const OutgoingRequest sent = sentInvite();
  OutgoingRequest out =
      resubmission(sent, "z9hG4bK-new", 2, "Proxy-Authorization", "Digest username=\"new\"");
  EXPECT_EQ(out.branch, "z9hG4bK-new");
  EXPECT_EQ(out.via, "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-new;rport");
  EXPECT_EQ(out.cseq, 2u);
  EXPECT_EQ(out.callId, sent.callId);
  EXPECT_EQ(out.from, sent.from);
  EXPECT_EQ(out.to, sent.to);
  EXPECT_EQ(out.requestUri, sent.requestUri);
  EXPECT_EQ(out.routes, sent.routes);

  auto parsed = sip::Message::parse(std::string(out.bytes));
  ASSERT_TRUE(parsed.ok()) << out.bytes;
  const sip::Message& m = *parsed.value();
  EXPECT_EQ(m.method(), sip::Method::Invite);
  EXPECT_EQ(m.cseq().number, 2u);
  EXPECT_EQ(m.callId(), "c1");
  int vias = 0;
  int answers = 0;
  for (const sip::Header& h : m.headers()) {
    if (h.id == sip::HeaderId::Via) {
      ++vias;
      EXPECT_EQ(h.value, out.via);
    }
    if (h.id == sip::HeaderId::ProxyAuthorization || h.id == sip::HeaderId::Authorization) {
      ++answers;
      EXPECT_EQ(h.value, "Digest username=\"new\"");
    }
  }
  EXPECT_EQ(vias, 1);
  EXPECT_EQ(answers, 1);
  EXPECT_EQ(m.body(), "v=0\n");
  ASSERT_NE(m.header(sip::HeaderId::Route), nullptr);
}

TEST(Resubmission, A401AnswerReplacesAProxyAnswer) {
  OutgoingRequest out = resubmission(sentInvite(), "z9hG4bK-2", 3, "Authorization", "Digest x=1");
  auto parsed = sip::Message::parse(std::string(out.bytes));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value()->header(sip::HeaderId::ProxyAuthorization), nullptr);
  ASSERT_NE(parsed.value()->header(sip::HeaderId::Authorization), nullptr);
  EXPECT_EQ(parsed.value()->header(sip::HeaderId::Authorization)->value, "Digest x=1");
}

TEST(Resubmission, WithBranchKeepsTheOtherParameters) {
  EXPECT_EQ(withBranch("SIP/2.0/TCP h:5060;branch=z9hG4bK-a;rport;alias", "z9hG4bK-b"),
            "SIP/2.0/TCP h:5060;branch=z9hG4bK-b;rport;alias");
  EXPECT_EQ(withBranch("SIP/2.0/UDP h:5060;branch=z9hG4bK-a", "z9hG4bK-b"),
            "SIP/2.0/UDP h:5060;branch=z9hG4bK-b");
  EXPECT_EQ(withBranch("SIP/2.0/UDP h:5060", "z9hG4bK-b"), "SIP/2.0/UDP h:5060");
}

}  // namespace
}  // namespace tollgate::txn
