// The request router on the test harness (test_support/call_scenario.h):
// strangers dropped or answered 403 (sip.unknown_source) with their
// illegal-call CDR, requests for no dialog or transaction answered 481
// (RFC 3261 §12.2.2, §9.2), OPTIONS answered, and a password account's
// REGISTER challenged (sip.challenge, RFC 3261 §22.3) and then handed to
// the registrar.
#include "call/request_router.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "auth/digest.h"
#include "call/cdr.h"
#include "test_support/call_scenario.h"

namespace tollgate::call {
namespace {

using namespace std::chrono_literals;
using test_support::headerValue;
using test_support::LoopbackPeer;
using test_support::request;

class RequestRouterTest : public ::testing::Test, protected test_support::CallScenario {
 protected:
  RequestRouterTest() { h.addPeer(stranger_); }

  // An INVITE from the stranger, shaped like the customer's.
  std::string strangerInvite() {
    const std::string me = stranger_.hostPort();
    return request({.method = "INVITE",
                    .uri = "sip:15551234567@127.0.0.1:" + std::to_string(h.port),
                    .via = me,
                    .branch = "z9hG4bK-s1",
                    .from = "<sip:666@" + me + ">;tag=s1",
                    .to = "<sip:15551234567@127.0.0.1>",
                    .callId = "stranger-1",
                    .cseq = 1,
                    .extraHeaders = "Contact: <sip:666@" + me + ">\r\n",
                    .body = ""});
  }
  // An out-of-dialog request of `method` from `peer` (Call-ID "req-<method>").
  std::string outOfDialog(const LoopbackPeer& peer, const std::string& method,
                          const std::string& toTag = "") {
    const std::string me = peer.hostPort();
    return request({.method = method,
                    .uri = "sip:127.0.0.1:" + std::to_string(h.port),
                    .via = me,
                    .branch = "z9hG4bK-r" + method,
                    .from = "<sip:1001@" + me + ">;tag=r1",
                    .to = "<sip:127.0.0.1>" + (toTag.empty() ? "" : ";tag=" + toTag),
                    .callId = "req-" + method,
                    .cseq = 1,
                    .extraHeaders = "",
                    .body = ""});
  }
  std::string customerRequest(const std::string& method, const std::string& toTag = "") {
    return outOfDialog(customer, method, toTag);
  }

  LoopbackPeer stranger_{"127.0.0.2"};
};

TEST_F(RequestRouterTest, AStrangersInviteIsDroppedWithAnIllegalCallCdr) {
  start(1);
  stranger_.sendTo(h.port, strangerInvite());
  h.advance(2s);
  EXPECT_TRUE(stranger_.received().empty()) << "dropped: a scanner learns nothing";
  EXPECT_TRUE(requests(carrier(1), "INVITE").empty());
  EXPECT_EQ(layer().stats.unknownSourceDropped, 1u);
  EXPECT_EQ(layer().stats.unknownSourceRejected, 0u);
  std::vector<Cdr> cdrs = h.cdrs.all();
  ASSERT_EQ(cdrs.size(), 1u);
  EXPECT_EQ(cdrs[0].reason, TerminationReason::UnknownSource);
  EXPECT_EQ(cdrs[0].finalCode, 0);
  EXPECT_EQ(cdrs[0].mappingGateway, "");
  EXPECT_EQ(cdrs[0].sourceAddress, stranger_.hostPort());
  EXPECT_EQ(cdrs[0].callId, "stranger-1");
}

TEST_F(RequestRouterTest, AStrangerIsAnswered403WhenUnknownSourceIsReject) {
  auto s = settings();
  s.call.unknownSource = UnknownSourcePolicy::Reject403;
  start(1, s);
  stranger_.sendTo(h.port, strangerInvite());
  h.settle();
  ASSERT_EQ(responses(stranger_, "stranger-1", 403).size(), 1u);
  EXPECT_EQ(layer().stats.unknownSourceRejected, 1u);
  EXPECT_EQ(layer().stats.unknownSourceDropped, 0u);
  ASSERT_EQ(h.cdrs.size(), 1u);
  EXPECT_EQ(h.cdrs.all()[0].reason, TerminationReason::UnknownSource);
  EXPECT_EQ(h.cdrs.all()[0].finalCode, 403);
}

TEST_F(RequestRouterTest, IllegalCallCdrsCanBeTurnedOff) {
  auto s = settings();
  s.call.illegalCallCdrs = false;
  start(1, s);
  stranger_.sendTo(h.port, strangerInvite());
  h.settle();
  EXPECT_EQ(layer().stats.unknownSourceDropped, 1u);
  EXPECT_EQ(h.cdrs.size(), 0u);
}

TEST_F(RequestRouterTest, AnInDialogRequestForNoDialogIs481) {
  start(1);
  customer.sendTo(h.port, customerRequest("BYE", "no-such-tag"));
  h.settle();
  ASSERT_EQ(responses(customer, "req-BYE", 481).size(), 1u);
  EXPECT_EQ(layer().stats.noDialog, 1u);
  EXPECT_TRUE(requests(carrier(1), "BYE").empty());
}

TEST_F(RequestRouterTest, AnOutOfDialogByeIs481) {
  start(1);
  customer.sendTo(h.port, customerRequest("BYE"));
  h.settle();
  ASSERT_EQ(responses(customer, "req-BYE", 481).size(), 1u);
  EXPECT_EQ(layer().stats.noDialog, 1u);
}

TEST_F(RequestRouterTest, ACancelForNoTransactionIs481) {
  start(1);
  customer.sendTo(h.port, customerRequest("CANCEL"));
  h.settle();
  ASSERT_EQ(responses(customer, "req-CANCEL", 481).size(), 1u);
  EXPECT_EQ(h.cdrs.size(), 0u);
}

TEST_F(RequestRouterTest, OptionsFromACustomerAreAnswered200WithWhatWeAccept) {
  start(1);
  customer.sendTo(h.port, customerRequest("OPTIONS"));
  h.settle();
  std::vector<std::string> ok = responses(customer, "req-OPTIONS", 200);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_NE(headerValue(ok[0], "Allow").find("INVITE"), std::string::npos);
  EXPECT_EQ(headerValue(ok[0], "Accept"), "application/sdp");
  EXPECT_NE(headerValue(ok[0], "To").find(";tag="), std::string::npos);
  EXPECT_EQ(layer().stats.optionsAnswered, 1u);
  EXPECT_EQ(h.cdrs.size(), 0u);
}

TEST_F(RequestRouterTest, AnOptionsFromAStrangerIsDropped) {
  start(1);
  stranger_.sendTo(h.port, outOfDialog(stranger_, "OPTIONS"));
  h.settle();
  EXPECT_TRUE(stranger_.received().empty());
  EXPECT_EQ(layer().stats.optionsAnswered, 0u);
  EXPECT_EQ(layer().stats.unknownSourceDropped, 1u);
  EXPECT_EQ(h.cdrs.size(), 0u) << "illegal-call CDRs are for INVITEs";
}

TEST_F(RequestRouterTest, APasswordAccountsRegisterIsChallengedThenReachesTheRegistrar) {
  admission::Provisioning p = provisioning(1);
  LoopbackPeer phone("127.0.0.3");
  h.addPeer(phone);
  const std::string realm = settings().auth.realm;
  auth::DigestHasher hasher;
  admission::MappingGateway g;
  g.name = "phone-100";
  g.auth = admission::AuthMode::Password;
  g.username = "100";
  g.realm = realm;
  g.ha1Md5 = hasher.ha1(auth::Algorithm::Md5, "100", realm, "pw-100");
  g.ha1Sha256 = hasher.ha1(auth::Algorithm::Sha256, "100", realm, "pw-100");
  g.registers = true;
  p.mappingGateways.push_back(g);
  start(p);

  const std::string me = phone.hostPort();
  const std::string uri = "sip:" + realm;
  test_support::RequestSpec reg{.method = "REGISTER",
                                .uri = uri,
                                .via = me,
                                .branch = "z9hG4bK-reg1",
                                .from = "<sip:100@" + realm + ">;tag=p1",
                                .to = "<sip:100@" + realm + ">",
                                .callId = "reg-1",
                                .cseq = 1,
                                .extraHeaders = "Contact: <sip:100@" + me + ">\r\nExpires: 600\r\n",
                                .body = ""};
  phone.sendTo(h.port, request(reg));
  h.settle();
  // sip.challenge: 407 by default, REGISTER included.
  std::vector<std::string> challenge = responses(phone, "reg-1", 407);
  ASSERT_EQ(challenge.size(), 1u);
  EXPECT_EQ(layer().stats.challengesSent, 1u);
  EXPECT_TRUE(layer().registrar.reachable("100").empty());

  // The phone answers the MD5 challenge (the first one offered).
  const std::string offered = headerValue(challenge[0], "Proxy-Authenticate");
  auto ch = auth::parseChallenge(offered);  // views into `offered`
  ASSERT_TRUE(ch.ok());
  const std::string credentials =
      auth::answerChallenge(hasher, *ch, "REGISTER", uri, "100", "pw-100", "cn0nce", 1);
  reg.branch = "z9hG4bK-reg2";
  reg.cseq = 2;
  reg.extraHeaders += "Proxy-Authorization: " + credentials + "\r\n";
  phone.sendTo(h.port, request(reg));
  h.settle();
  std::vector<std::string> ok = responses(phone, "reg-1", 200);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_NE(headerValue(ok[0], "Contact").find("sip:100@" + me), std::string::npos);
  std::vector<const registrar::Binding*> bound = layer().registrar.reachable("100");
  ASSERT_EQ(bound.size(), 1u);
  EXPECT_EQ(bound[0]->contact, "sip:100@" + me);
  EXPECT_EQ(h.cdrs.size(), 0u);
}

}  // namespace
}  // namespace tollgate::call
