// The dialog relay on the test harness (test_support/call_scenario.h):
// re-INVITEs both ways (RFC 3261 §14) with their 2xx and ACK, each leg
// with its own Call-ID, tags and CSeq; the SDP origin and session name
// rewritten (RFC 4566 §5.2, sip/sdp.h); only allow-listed extension headers
// crossing (sip/header_crossing.h); in-dialog requests not from the leg's
// peer dropped. Assertions read what the far side received.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "call/cdr.h"
#include "test_support/call_scenario.h"

namespace tollgate::call {
namespace {

using namespace std::chrono_literals;
using test_support::bodyOf;
using test_support::headerValue;
using test_support::LoopbackPeer;
using test_support::sdpLine;

std::string sdp(const std::string& ip, const std::string& version) {
  return "v=0\r\n"
         "o=alice 2890844526 " +
         version + " IN IP4 " + ip +
         "\r\n"
         "s=Alice's private session\r\n"
         "i=internal notes\r\n"
         "c=IN IP4 " +
         ip +
         "\r\n"
         "t=0 0\r\n"
         "m=audio 49170 RTP/AVP 0\r\n";
}

class CallRelayTest : public ::testing::Test, protected test_support::CallScenario {
 protected:
  // One answered call; "cust" lets X-Account-Code cross, "carrier1" lets
  // X-Carrier-Info cross; neither lets X-Internal through.
  // With credentials, carrier1 may challenge us as "acct" / "s3cret".
  Answered answeredCall(bool credentials = false) {
    admission::Provisioning p = provisioning(1);
    p.mappingGateways[0].policy.passHeaders = {"X-Account-Code"};
    p.routingGateways[0].policy.passHeaders = {"X-Carrier-Info"};
    if (credentials) {
      p.routingGateways[0].authUsername = "acct";
      p.routingGateways[0].authPassword = "s3cret";
    }
    start(p);
    Answered c = establish(1, "", sdp("10.1.2.3", "1"));
    EXPECT_FALSE(c.a200.empty());
    return c;
  }
};

TEST_F(CallRelayTest, TheInitialOfferCrossesWithItsOriginRewritten) {
  Answered c = answeredCall();
  const std::string body = bodyOf(c.bInvite);
  EXPECT_EQ(sdpLine(body, "o"), "- 2890844526 1 IN IP4 127.0.0.1");
  EXPECT_EQ(sdpLine(body, "s"), "-");
  EXPECT_EQ(sdpLine(body, "i"), "");
  EXPECT_EQ(sdpLine(body, "c"), "IN IP4 10.1.2.3") << "media is not anchored: c= stays";
  EXPECT_EQ(headerValue(c.bInvite, "Content-Type"), "application/sdp");
}

TEST_F(CallRelayTest, ACallerReinviteReachesTheCarrierInTheCarriersDialog) {
  Answered c = answeredCall();
  customer.sendTo(h.port,
                  callerRequest(c, "INVITE", 2, "X-Account-Code: 77\r\nX-Internal: secret\r\n",
                                sdp("10.9.9.9", "2")));
  h.settle();
  std::vector<std::string> invites = requests(carrier(1), "INVITE");
  ASSERT_EQ(invites.size(), 2u);
  const std::string re = invites[1];
  EXPECT_EQ(headerValue(re, "Call-ID"), headerValue(c.bInvite, "Call-ID"));
  EXPECT_NE(headerValue(re, "To").find(std::string(kCarrierTag)), std::string::npos);
  EXPECT_EQ(headerValue(re, "From"), headerValue(c.bInvite, "From"));
  EXPECT_EQ(headerValue(re, "CSeq"), "2 INVITE");
  EXPECT_EQ(re.substr(0, re.find("\r\n")),
            "INVITE sip:carrier@" + carrier(1).hostPort() + " SIP/2.0")
      << "to the carrier's Contact (the remote target)";
  EXPECT_EQ(headerValue(re, "X-Account-Code"), "77");
  EXPECT_EQ(headerValue(re, "X-Internal"), "") << "not on the customer's allow list";
  EXPECT_EQ(re.find("10.9.9.9 "), std::string::npos);
  EXPECT_EQ(sdpLine(bodyOf(re), "o"), "- 2890844526 2 IN IP4 127.0.0.1");
  EXPECT_EQ(re.find(customer.hostPort()), std::string::npos) << "no caller topology";

  answer(carrier(1), re, 200, "OK", "X-Carrier-Info: route-7\r\nX-Internal: carrier\r\n",
         sdp("192.0.2.50", "5"));
  std::vector<std::string> ok = responses(customer, "call-1", 200);
  ASSERT_EQ(ok.size(), 2u);
  const std::string reOk = ok[1];
  EXPECT_EQ(headerValue(reOk, "CSeq"), "2 INVITE");
  EXPECT_EQ(headerValue(reOk, "X-Carrier-Info"), "route-7");
  EXPECT_EQ(headerValue(reOk, "X-Internal"), "");
  EXPECT_EQ(sdpLine(bodyOf(reOk), "o"), "- 2890844526 5 IN IP4 127.0.0.1");
  EXPECT_EQ(reOk.find(carrier(1).hostPort()), std::string::npos) << "no carrier topology";

  customer.sendTo(h.port, callerAck(c.aInvite, reOk, 2));
  h.settle();
  std::vector<std::string> acks = requests(carrier(1), "ACK");
  ASSERT_EQ(acks.size(), 2u) << "the first ACK and the re-INVITE's";
  EXPECT_EQ(headerValue(acks[1], "CSeq"), "2 ACK");
  EXPECT_EQ(headerValue(acks[1], "Call-ID"), headerValue(c.bInvite, "Call-ID"));
  EXPECT_EQ(layer().calls.liveCalls().size(), 1u);
  EXPECT_EQ(h.cdrs.size(), 0u);
}

TEST_F(CallRelayTest, ACarrierReinviteReachesTheCallerInTheCallersDialog) {
  Answered c = answeredCall();
  carrier(1).sendTo(h.port,
                    carrierRequest(c, "INVITE", 1, "X-Carrier-Info: hold\r\nX-Internal: secret\r\n",
                                   sdp("192.0.2.50", "2")));
  h.settle();
  std::vector<std::string> invites = requests(customer, "INVITE");
  ASSERT_EQ(invites.size(), 1u);
  const std::string re = invites[0];
  EXPECT_EQ(headerValue(re, "Call-ID"), "call-1");
  EXPECT_EQ(headerValue(re, "From"), headerValue(c.a200, "To")) << "our tag on the caller's leg";
  EXPECT_EQ(headerValue(re, "To"), headerValue(c.aInvite, "From"));
  EXPECT_EQ(headerValue(re, "CSeq"), "1 INVITE") << "our first request on the caller's leg";
  EXPECT_EQ(re.substr(0, re.find("\r\n")),
            "INVITE " + test_support::uriOf(headerValue(c.aInvite, "Contact")) + " SIP/2.0");
  EXPECT_EQ(headerValue(re, "X-Carrier-Info"), "hold");
  EXPECT_EQ(headerValue(re, "X-Internal"), "");
  EXPECT_EQ(sdpLine(bodyOf(re), "o"), "- 2890844526 2 IN IP4 127.0.0.1");
  EXPECT_EQ(re.find(carrier(1).hostPort()), std::string::npos) << "no carrier topology";

  const std::string reply = test_support::responseTo(
      re, 200, "OK", "", "Contact: <sip:1001@" + customer.hostPort() + ">\r\nX-Account-Code: 9\r\n",
      sdp("10.1.2.3", "3"));
  customer.sendTo(h.port, reply);
  h.settle();
  std::vector<std::string> ok = responses(carrier(1), headerValue(c.bInvite, "Call-ID"), 200);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(headerValue(ok[0], "CSeq"), "1 INVITE");
  EXPECT_EQ(headerValue(ok[0], "X-Account-Code"), "9");
  EXPECT_EQ(sdpLine(bodyOf(ok[0]), "o"), "- 2890844526 3 IN IP4 127.0.0.1");

  // The carrier's ACK crosses as the caller leg's ACK of CSeq 1.
  const std::string ack = test_support::request(
      {.method = "ACK",
       .uri = test_support::uriOf(headerValue(ok[0], "Contact")),
       .via = carrier(1).hostPort(),
       .branch = "z9hG4bK-back1",
       .from = headerValue(c.bInvite, "To") + ";tag=" + std::string(kCarrierTag),
       .to = headerValue(c.bInvite, "From"),
       .callId = headerValue(c.bInvite, "Call-ID"),
       .cseq = 1,
       .extraHeaders = "",
       .body = ""});
  carrier(1).sendTo(h.port, ack);
  h.settle();
  std::vector<std::string> acks = requests(customer, "ACK");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(headerValue(acks[0], "CSeq"), "1 ACK");
  EXPECT_EQ(headerValue(acks[0], "Call-ID"), "call-1");
}

// The carrier's challenge to a request inside the call (RFC 3261 §22.2,
// auth/digest_client.h): the relayed re-INVITE goes again with credentials,
// the caller never sees the challenge.
TEST_F(CallRelayTest, ACarriersChallengeToARelayedReinviteIsAnswered) {
  Answered c = answeredCall(/*credentials=*/true);
  customer.sendTo(h.port, callerRequest(c, "INVITE", 2, "", sdp("10.1.2.3", "2")));
  h.settle();
  ASSERT_EQ(requests(carrier(1), "INVITE").size(), 2u);
  answer(carrier(1), requests(carrier(1), "INVITE")[1], 407, "Proxy Authentication Required",
         "Proxy-Authenticate: Digest realm=\"carrier.example\", nonce=\"re-1\", "
         "algorithm=MD5, qop=\"auth\"\r\n");
  std::vector<std::string> invites = requests(carrier(1), "INVITE");
  ASSERT_EQ(invites.size(), 3u);
  EXPECT_EQ(test_support::digestProblem(invites[2], "Proxy-Authorization", "acct",
                                        "carrier.example", "s3cret", "re-1"),
            "");
  EXPECT_EQ(headerValue(invites[2], "CSeq"), "3 INVITE");
  EXPECT_EQ(headerValue(invites[2], "Call-ID"), headerValue(c.bInvite, "Call-ID"));
  EXPECT_TRUE(responses(customer, "call-1", 407).empty()) << "a challenge is never relayed";
  answer(carrier(1), invites[2], 200, "OK", "", sdp("192.0.2.50", "2"));
  std::vector<std::string> ok = responses(customer, "call-1", 200);
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(headerValue(ok[1], "CSeq"), "2 INVITE") << "in the caller's numbering";
  customer.sendTo(h.port, callerAck(c.aInvite, ok[1], 2));
  h.settle();
  // The first call's ACK, the transaction layer's ACK of the 407
  // (RFC 3261 §17.1.1.3) and the caller's ACK relayed.
  std::vector<std::string> acks = requests(carrier(1), "ACK");
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(headerValue(acks[1], "CSeq"), "2 ACK");
  EXPECT_EQ(headerValue(acks[2], "CSeq"), "3 ACK") << "the ACK names the answered INVITE";
}

// Our BYE after the caller hung up: nobody waits for it, but a carrier that
// challenges it still gets it with credentials (call/carrier_requests.h).
TEST_F(CallRelayTest, ACarriersChallengeToOurByeIsAnswered) {
  Answered c = answeredCall(/*credentials=*/true);
  customer.sendTo(h.port, callerRequest(c, "BYE", 2));
  h.settle();
  ASSERT_EQ(requests(carrier(1), "BYE").size(), 1u);
  ASSERT_EQ(h.cdrs.size(), 1u);
  EXPECT_EQ(h.cdrs.all()[0].reason, TerminationReason::CallerBye);
  answer(carrier(1), requests(carrier(1), "BYE")[0], 407, "Proxy Authentication Required",
         "Proxy-Authenticate: Digest realm=\"carrier.example\", nonce=\"bye-1\", "
         "algorithm=MD5, qop=\"auth\"\r\n");
  std::vector<std::string> byes = requests(carrier(1), "BYE");
  ASSERT_EQ(byes.size(), 2u);
  EXPECT_EQ(test_support::digestProblem(byes[1], "Proxy-Authorization", "acct", "carrier.example",
                                        "s3cret", "bye-1"),
            "");
  EXPECT_EQ(headerValue(byes[1], "Call-ID"), headerValue(c.bInvite, "Call-ID"));
  answer(carrier(1), byes[1], 200, "OK");
  EXPECT_EQ(requests(carrier(1), "BYE").size(), 2u);
  EXPECT_EQ(h.cdrs.size(), 1u);
}

// The dialog is bound to its peer: the Call-ID and tags travel in clear,
// so a request carrying them from elsewhere is dropped, never relayed.
TEST_F(CallRelayTest, AnInDialogRequestFromAForeignSourceIsDropped) {
  Answered c = answeredCall();
  LoopbackPeer stranger("127.0.0.2");
  h.addPeer(stranger);
  std::string bye = callerRequest(c, "BYE", 2);
  stranger.sendTo(h.port, bye);
  h.settle();
  EXPECT_TRUE(stranger.received().empty());
  EXPECT_TRUE(requests(carrier(1), "BYE").empty());
  EXPECT_EQ(layer().stats.inDialogForeign, 1u);
  EXPECT_EQ(layer().calls.liveCalls().size(), 1u);
  EXPECT_EQ(h.cdrs.size(), 0u);

  customer.sendTo(h.port, bye);  // the real caller
  h.settle();
  EXPECT_EQ(requests(carrier(1), "BYE").size(), 1u);
  ASSERT_EQ(h.cdrs.size(), 1u);
  EXPECT_EQ(h.cdrs.all()[0].reason, TerminationReason::CallerBye);
}

}  // namespace
}  // namespace tollgate::call
