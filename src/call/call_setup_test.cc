// Call setup on the test harness (test_support/call_scenario.h: the real
// call layer, loopback transport and transaction layer, a manual clock),
// asserting what goes over the wire, the CDR the recorder hands its sink
// and the counters: failover (5xx, setup timeout, busy, switch_limit), the
// carrier's digest challenge (RFC 3261 §22.2, RFC 7616 stale), CANCEL races
// (RFC 3261 §9), ring timeout and max duration, and the CDR reason of each
// way a call ends.
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
using test_support::cancelOf;
using test_support::headerValue;
using test_support::LoopbackPeer;
using test_support::statusOf;
using test_support::uriOf;

class CallSetupTest : public ::testing::Test, protected test_support::CallScenario {
 protected:
  // The one CDR the call left.
  Cdr onlyCdr() {
    std::vector<Cdr> all = h.cdrs.all();
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? Cdr{} : all.back();
  }
  std::string requestUri(const std::string& m) {
    const size_t sp = m.find(' ');
    return m.substr(sp + 1, m.find(' ', sp + 1) - sp - 1);
  }
  // The customer's in-dialog BYE of the answered call, sent and settled.
  void callerHangsUp(const Answered& c) {
    customer.sendTo(h.port, callerRequest(c, "BYE", 2));
    h.settle();
  }
};

TEST_F(CallSetupTest, A503FailsOverToTheNextCarrierWithANewCallIdAndBranch) {
  start(2);
  sendInvite(1);
  ASSERT_EQ(requests(carrier(1), "INVITE").size(), 1u);
  const std::string first = requests(carrier(1), "INVITE")[0];
  EXPECT_TRUE(requests(carrier(2), "INVITE").empty()) << "the second carrier waits its turn";

  answer(carrier(1), first, 503, "Service Unavailable");
  EXPECT_EQ(requests(carrier(1), "ACK").size(), 1u) << "the 503 is ACKed (RFC 3261 §17.1.1.3)";
  ASSERT_EQ(requests(carrier(2), "INVITE").size(), 1u);
  const std::string second = requests(carrier(2), "INVITE")[0];
  EXPECT_EQ(requestUri(second), "sip:15551234567@" + carrier(2).hostPort());
  EXPECT_NE(headerValue(second, "Call-ID"), headerValue(first, "Call-ID"));
  EXPECT_NE(test_support::branchOf(second), test_support::branchOf(first));
  EXPECT_TRUE(responses(customer, "call-1", 503).empty()) << "the caller never sees the 503";
  EXPECT_EQ(layer().stats.failovers, 1u);

  answer(carrier(2), second, 200, "OK");
  ASSERT_EQ(responses(customer, "call-1", 200).size(), 1u);
  Answered c{invite(1), second, responses(customer, "call-1", 200)[0]};
  customer.sendTo(h.port, callerAck(c.aInvite, c.a200));
  h.settle();
  EXPECT_EQ(requests(carrier(2), "ACK").size(), 1u);
  h.advance(2s);
  callerHangsUp(c);
  EXPECT_EQ(responses(customer, "call-1", 200).size(), 2u) << "200 to the INVITE and the BYE";
  ASSERT_EQ(requests(carrier(2), "BYE").size(), 1u);
  EXPECT_EQ(headerValue(requests(carrier(2), "BYE")[0], "Call-ID"), headerValue(second, "Call-ID"));

  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::CallerBye);
  EXPECT_EQ(cdr.hangup, HangupSide::Caller);
  EXPECT_EQ(cdr.gatewaysTried, "carrier1,carrier2");
  EXPECT_EQ(cdr.routingGateway, "carrier2");
  EXPECT_EQ(cdr.mappingGateway, "cust");
  EXPECT_EQ(cdr.finalCode, 200);
  EXPECT_EQ(cdr.durationMs, 2000);
  EXPECT_EQ(cdr.callId, "call-1");
  EXPECT_EQ(layer().stats.byReason[static_cast<size_t>(TerminationReason::CallerBye)], 1u);
  EXPECT_TRUE(layer().calls.liveCalls().empty());
}

TEST_F(CallSetupTest, ASilentCarrierIsLeftAtTheSetupTimeout) {
  auto s = settings();
  s.call.setupTimeout = 2000ms;
  start(2, s);
  sendInvite(1);
  ASSERT_EQ(requests(carrier(1), "INVITE").size(), 1u);
  h.advance(1990ms);
  EXPECT_TRUE(requests(carrier(2), "INVITE").empty()) << "not before the setup timeout";
  h.advance(20ms);
  ASSERT_EQ(requests(carrier(2), "INVITE").size(), 1u);
  EXPECT_EQ(layer().stats.failovers, 1u);
  // carrier2 is silent too: the caller gets 503 and the CDR says why.
  h.advance(2010ms);
  ASSERT_EQ(responses(customer, "call-1", 503).size(), 1u);
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::RouteFailed);
  EXPECT_EQ(cdr.finalCode, 503);
  EXPECT_EQ(cdr.gatewaysTried, "carrier1,carrier2");
}

TEST_F(CallSetupTest, BusyStopsFailoverWhenStopAfterBusy) {
  start(2);
  sendInvite(1);
  answer(carrier(1), requests(carrier(1), "INVITE")[0], 486, "Busy Here");
  EXPECT_TRUE(requests(carrier(2), "INVITE").empty());
  ASSERT_EQ(responses(customer, "call-1", 486).size(), 1u);
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::Busy);
  EXPECT_EQ(cdr.finalCode, 486);
  EXPECT_EQ(cdr.gatewaysTried, "carrier1");
  EXPECT_EQ(layer().stats.failovers, 0u);
}

TEST_F(CallSetupTest, BusyFailsOverWhenStopAfterBusyIsOff) {
  auto s = settings();
  s.call.stopAfterBusy = false;
  start(2, s);
  sendInvite(1);
  answer(carrier(1), requests(carrier(1), "INVITE")[0], 486, "Busy Here");
  EXPECT_EQ(requests(carrier(2), "INVITE").size(), 1u);
  EXPECT_TRUE(responses(customer, "call-1", 486).empty());
}

TEST_F(CallSetupTest, SwitchLimitBoundsTheCarriersTried) {
  auto s = settings();
  s.call.switchLimit = 2;
  start(3, s);
  sendInvite(1);
  answer(carrier(1), requests(carrier(1), "INVITE")[0], 503, "Service Unavailable");
  ASSERT_EQ(requests(carrier(2), "INVITE").size(), 1u);
  answer(carrier(2), requests(carrier(2), "INVITE")[0], 502, "Bad Gateway");
  EXPECT_TRUE(requests(carrier(3), "INVITE").empty()) << "switch_limit = 2";
  ASSERT_EQ(responses(customer, "call-1", 502).size(), 1u) << "the last carrier's code";
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::RouteFailed);
  EXPECT_EQ(cdr.finalCode, 502);
  EXPECT_EQ(cdr.gatewaysTried, "carrier1,carrier2");
  EXPECT_EQ(cdr.routingGateway, "carrier2");
}

TEST_F(CallSetupTest, ACarrierThatRangKeepsTheCallUnlessSwitchUntilConnect) {
  start(2);
  sendInvite(1);
  const std::string inv = requests(carrier(1), "INVITE")[0];
  answer(carrier(1), inv, 180, "Ringing");
  ASSERT_EQ(responses(customer, "call-1", 180).size(), 1u);
  answer(carrier(1), inv, 503, "Service Unavailable");
  EXPECT_TRUE(requests(carrier(2), "INVITE").empty());
  ASSERT_EQ(responses(customer, "call-1", 503).size(), 1u);
  EXPECT_EQ(onlyCdr().reason, TerminationReason::RouteFailed);
}

TEST_F(CallSetupTest, EachCarrierFailureHasItsCdrReason) {
  struct Case {
    int code;
    const char* reason;
    TerminationReason why;
  };
  const Case cases[] = {
      {403, "Forbidden", TerminationReason::Rejected},
      {404, "Not Found", TerminationReason::Rejected},
      {408, "Request Timeout", TerminationReason::NoAnswer},
      {480, "Temporarily Unavailable", TerminationReason::NoAnswer},
      {486, "Busy Here", TerminationReason::Busy},
      {500, "Server Internal Error", TerminationReason::RouteFailed},
      {600, "Busy Everywhere", TerminationReason::Busy},
      {603, "Decline", TerminationReason::Rejected},
  };
  start(1);
  int n = 0;
  for (const Case& k : cases) {
    ++n;
    sendInvite(n);
    std::vector<std::string> invites = requests(carrier(1), "INVITE");
    ASSERT_EQ(invites.size(), static_cast<size_t>(n));
    answer(carrier(1), invites.back(), k.code, k.reason);
    const std::string callId = "call-" + std::to_string(n);
    EXPECT_EQ(responses(customer, callId, k.code).size(), 1u) << k.code;
    std::vector<Cdr> all = h.cdrs.all();
    ASSERT_EQ(all.size(), static_cast<size_t>(n));
    EXPECT_EQ(all.back().callId, callId);
    EXPECT_EQ(all.back().reason, k.why) << k.code << " -> " << reasonName(all.back().reason);
    EXPECT_EQ(all.back().finalCode, k.code);
    EXPECT_EQ(all.back().hangup, HangupSide::None);
    EXPECT_EQ(all.back().durationMs, 0);
  }
  EXPECT_EQ(layer().stats.callsFailed, std::size(cases));
}

TEST_F(CallSetupTest, NoRouteAnswersTheConfiguredCodeAndTriesNoCarrier) {
  admission::Provisioning p = provisioning(1);
  p.routingGateways[0].prefixes = {"44"};
  auto s = settings();
  s.call.noRouteCode = 480;
  start(p, s);
  sendInvite(1);
  EXPECT_TRUE(requests(carrier(1), "INVITE").empty());
  ASSERT_EQ(responses(customer, "call-1", 480).size(), 1u);
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::NoRoute);
  EXPECT_EQ(cdr.finalCode, 480);
  EXPECT_EQ(cdr.gatewaysTried, "");
  EXPECT_EQ(cdr.callee, "15551234567");
  EXPECT_EQ(cdr.caller, "1001");
}

TEST_F(CallSetupTest, CalleeByeEndsBothLegs) {
  start(1);
  Answered c = establish(1);
  ASSERT_FALSE(c.a200.empty());
  h.advance(1500ms);
  carrier(1).sendTo(h.port, carrierRequest(c, "BYE", 1));
  h.settle();
  EXPECT_EQ(responses(carrier(1), headerValue(c.bInvite, "Call-ID"), 200).size(), 1u);
  ASSERT_EQ(requests(customer, "BYE").size(), 1u);
  const std::string bye = requests(customer, "BYE")[0];
  EXPECT_EQ(headerValue(bye, "Call-ID"), "call-1");
  EXPECT_EQ(requestUri(bye), uriOf(headerValue(c.aInvite, "Contact")));
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::CalleeBye);
  EXPECT_EQ(cdr.hangup, HangupSide::Callee);
  EXPECT_EQ(cdr.durationMs, 1500);
  EXPECT_EQ(cdr.finalCode, 200);
}

// RFC 3261 §9.1: a CANCEL may go out only after a provisional response.
TEST_F(CallSetupTest, CancelBeforeAnyProvisionalEndsTheCallAndCancelsTheCarrierLater) {
  start(1);
  const std::string inv = sendInvite(1);
  const std::string bInvite = requests(carrier(1), "INVITE")[0];
  customer.sendTo(h.port, cancelOf(inv));
  h.settle();
  EXPECT_EQ(responses(customer, "call-1", 200).size(), 1u) << "200 to the CANCEL";
  EXPECT_EQ(statusOf(responses(customer, "call-1", 200)[0]), 200);
  EXPECT_EQ(headerValue(responses(customer, "call-1", 200)[0], "CSeq"), "1 CANCEL");
  ASSERT_EQ(responses(customer, "call-1", 487).size(), 1u);
  EXPECT_TRUE(requests(carrier(1), "CANCEL").empty()) << "no CANCEL before a provisional";
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::Cancelled);
  EXPECT_EQ(cdr.finalCode, 487);

  answer(carrier(1), bInvite, 180, "Ringing");
  ASSERT_EQ(requests(carrier(1), "CANCEL").size(), 1u);
  EXPECT_EQ(test_support::branchOf(requests(carrier(1), "CANCEL")[0]),
            test_support::branchOf(bInvite));
  EXPECT_TRUE(responses(customer, "call-1", 180).empty()) << "nothing relayed after the CANCEL";
  answer(carrier(1), requests(carrier(1), "CANCEL")[0], 200, "OK");
  answer(carrier(1), bInvite, 487, "Request Terminated");
  EXPECT_EQ(requests(carrier(1), "ACK").size(), 1u);
  EXPECT_TRUE(requests(carrier(1), "BYE").empty());
  EXPECT_TRUE(layer().calls.liveCalls().empty());
  EXPECT_EQ(h.cdrs.size(), 1u);
}

TEST_F(CallSetupTest, CancelAfterRingingCancelsTheCarrier) {
  start(1);
  const std::string inv = sendInvite(1);
  const std::string bInvite = requests(carrier(1), "INVITE")[0];
  answer(carrier(1), bInvite, 180, "Ringing");
  ASSERT_EQ(responses(customer, "call-1", 180).size(), 1u);
  customer.sendTo(h.port, cancelOf(inv));
  h.settle();
  ASSERT_EQ(responses(customer, "call-1", 487).size(), 1u);
  ASSERT_EQ(requests(carrier(1), "CANCEL").size(), 1u);
  answer(carrier(1), requests(carrier(1), "CANCEL")[0], 200, "OK");
  answer(carrier(1), bInvite, 487, "Request Terminated");
  EXPECT_EQ(requests(carrier(1), "ACK").size(), 1u);
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::Cancelled);
  EXPECT_EQ(cdr.finalCode, 487);
  EXPECT_EQ(cdr.answerUs, 0);
  EXPECT_TRUE(layer().calls.liveCalls().empty());
}

// The carrier answers while our CANCEL is on its way: its 2xx must be ACKed
// and hung up (it would bill a call nobody is on), the caller keeps its 487.
TEST_F(CallSetupTest, ACarrier200CrossingTheCancelIsAckedAndHungUp) {
  start(1);
  const std::string inv = sendInvite(1);
  const std::string bInvite = requests(carrier(1), "INVITE")[0];
  answer(carrier(1), bInvite, 180, "Ringing");
  customer.sendTo(h.port, cancelOf(inv));
  h.settle();
  ASSERT_EQ(requests(carrier(1), "CANCEL").size(), 1u);
  // The carrier had answered before our CANCEL reached it.
  answer(carrier(1), bInvite, 200, "OK");
  answer(carrier(1), requests(carrier(1), "CANCEL")[0], 481, "Call/Transaction Does Not Exist");
  ASSERT_EQ(requests(carrier(1), "ACK").size(), 1u);
  ASSERT_EQ(requests(carrier(1), "BYE").size(), 1u);
  const std::string bye = requests(carrier(1), "BYE")[0];
  EXPECT_EQ(headerValue(bye, "Call-ID"), headerValue(bInvite, "Call-ID"));
  EXPECT_NE(headerValue(bye, "To").find(std::string(kCarrierTag)), std::string::npos);
  EXPECT_EQ(responses(customer, "call-1", 487).size(), 1u);
  std::vector<std::string> ok = responses(customer, "call-1", 200);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(headerValue(ok[0], "CSeq"), "1 CANCEL") << "the caller never gets the carrier's 200";
  answer(carrier(1), bye, 200, "OK");
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::Cancelled);
  EXPECT_EQ(cdr.finalCode, 487);
  EXPECT_EQ(cdr.answerUs, 0);
  EXPECT_TRUE(layer().calls.liveCalls().empty());
}

// RFC 3261 §9.2 matches a CANCEL by branch, which anyone who saw the
// INVITE knows: one from elsewhere is dropped unanswered.
TEST_F(CallSetupTest, ACancelFromAForeignSourceIsDropped) {
  start(1);
  const std::string inv = sendInvite(1);
  const std::string bInvite = requests(carrier(1), "INVITE")[0];
  answer(carrier(1), bInvite, 180, "Ringing");
  LoopbackPeer stranger("127.0.0.2");
  h.addPeer(stranger);
  stranger.sendTo(h.port, cancelOf(inv));
  h.settle();
  EXPECT_TRUE(stranger.received().empty()) << "no answer to a foreign CANCEL";
  EXPECT_TRUE(requests(carrier(1), "CANCEL").empty());
  EXPECT_TRUE(responses(customer, "call-1", 487).empty());
  EXPECT_EQ(h.txns.stats().foreignCancels, 1u);
  EXPECT_EQ(h.cdrs.size(), 0u);

  answer(carrier(1), bInvite, 200, "OK");
  EXPECT_EQ(responses(customer, "call-1", 200).size(), 1u) << "the call goes on";
}

TEST_F(CallSetupTest, RingTimeoutCancelsTheCarrierAndAnswers408) {
  auto s = settings();
  s.call.ringTimeout = 30'000ms;
  start(2, s);
  sendInvite(1);
  const std::string bInvite = requests(carrier(1), "INVITE")[0];
  answer(carrier(1), bInvite, 180, "Ringing");
  h.advance(29'990ms);
  EXPECT_TRUE(responses(customer, "call-1", 408).empty());
  h.advance(20ms);
  ASSERT_EQ(responses(customer, "call-1", 408).size(), 1u);
  ASSERT_EQ(requests(carrier(1), "CANCEL").size(), 1u);
  EXPECT_TRUE(requests(carrier(2), "INVITE").empty()) << "a ring timeout is no failover";
  answer(carrier(1), requests(carrier(1), "CANCEL")[0], 200, "OK");
  answer(carrier(1), bInvite, 487, "Request Terminated");
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::NoAnswer);
  EXPECT_EQ(cdr.finalCode, 408);
  EXPECT_TRUE(layer().calls.liveCalls().empty());
}

TEST_F(CallSetupTest, MaxDurationEndsTheCallWithByeOnBothLegs) {
  auto s = settings();
  s.policy.maxDurationS = 60;
  start(1, s);
  Answered c = establish(1);
  ASSERT_FALSE(c.a200.empty());
  ASSERT_EQ(layer().calls.liveCalls().size(), 1u);
  EXPECT_EQ(layer().calls.liveCalls()[0].maxDurationS, 60);
  h.advance(59'990ms);
  EXPECT_TRUE(requests(customer, "BYE").empty());
  EXPECT_TRUE(requests(carrier(1), "BYE").empty());
  h.advance(20ms);
  ASSERT_EQ(requests(customer, "BYE").size(), 1u);
  ASSERT_EQ(requests(carrier(1), "BYE").size(), 1u);
  EXPECT_EQ(headerValue(requests(customer, "BYE")[0], "Call-ID"), "call-1");
  EXPECT_EQ(headerValue(requests(carrier(1), "BYE")[0], "Call-ID"),
            headerValue(c.bInvite, "Call-ID"));
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::MaxDuration);
  EXPECT_EQ(cdr.hangup, HangupSide::System);
  EXPECT_GE(cdr.durationMs, 60'000);
  EXPECT_LE(cdr.durationMs, 60'010);
  EXPECT_EQ(layer().policy.stats().maxDurationEnded, 1u);
  EXPECT_TRUE(layer().calls.liveCalls().empty());
}

// The carrier's challenge (RFC 3261 §22.2): answered once with the
// provisioned credentials; again only when stale (RFC 7616 §3.3).
class CarrierChallengeTest : public CallSetupTest {
 protected:
  void startWithCredentials(size_t carriers) {
    admission::Provisioning p = provisioning(carriers);
    p.routingGateways[0].authUsername = "acct";
    p.routingGateways[0].authPassword = "s3cret";
    start(p);
  }
  void challenge(const std::string& inv, const std::string& nonce, bool stale) {
    answer(carrier(1), inv, 407, "Proxy Authentication Required",
           "Proxy-Authenticate: " +
               auth::challengeValue(auth::Algorithm::Md5, "carrier.example", nonce, stale) +
               "\r\n");
  }
  // Whether `inv` carries a correct answer to `nonce` for acct / s3cret.
  ::testing::AssertionResult answers(const std::string& inv, const std::string& nonce) {
    const std::string problem = test_support::digestProblem(inv, "Proxy-Authorization", "acct",
                                                            "carrier.example", "s3cret", nonce);
    if (!problem.empty()) return ::testing::AssertionFailure() << problem;
    return ::testing::AssertionSuccess();
  }
};

TEST_F(CarrierChallengeTest, A407IsAnsweredWithTheProvisionedCredentials) {
  startWithCredentials(1);
  sendInvite(1);
  const std::string first = requests(carrier(1), "INVITE")[0];
  EXPECT_EQ(headerValue(first, "Proxy-Authorization"), "");
  challenge(first, "nonce-1", false);
  EXPECT_EQ(requests(carrier(1), "ACK").size(), 1u);
  ASSERT_EQ(requests(carrier(1), "INVITE").size(), 2u);
  const std::string second = requests(carrier(1), "INVITE")[1];
  EXPECT_TRUE(answers(second, "nonce-1"));
  EXPECT_EQ(headerValue(second, "Call-ID"), headerValue(first, "Call-ID"));
  EXPECT_EQ(headerValue(second, "CSeq"), "2 INVITE");
  EXPECT_NE(test_support::branchOf(second), test_support::branchOf(first));
  EXPECT_TRUE(responses(customer, "call-1", 407).empty()) << "a challenge is never relayed";
  EXPECT_EQ(layer().stats.carrierChallenges, 1u);

  answer(carrier(1), second, 200, "OK");
  ASSERT_EQ(responses(customer, "call-1", 200).size(), 1u);
  ASSERT_EQ(layer().calls.liveCalls().size(), 1u);
  EXPECT_EQ(layer().calls.liveCalls()[0].state, "answered");
}

TEST_F(CarrierChallengeTest, ASecondChallengeThatIsNotStaleFailsOver) {
  startWithCredentials(2);
  sendInvite(1);
  challenge(requests(carrier(1), "INVITE")[0], "nonce-1", false);
  ASSERT_EQ(requests(carrier(1), "INVITE").size(), 2u);
  challenge(requests(carrier(1), "INVITE")[1], "nonce-2", false);
  EXPECT_EQ(requests(carrier(1), "INVITE").size(), 2u) << "refused credentials: no third try";
  ASSERT_EQ(requests(carrier(2), "INVITE").size(), 1u);
  EXPECT_EQ(headerValue(requests(carrier(2), "INVITE")[0], "Proxy-Authorization"), "");
  answer(carrier(2), requests(carrier(2), "INVITE")[0], 503, "Service Unavailable");
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.gatewaysTried, "carrier1,carrier2");
  EXPECT_EQ(cdr.reason, TerminationReason::RouteFailed);
}

TEST_F(CarrierChallengeTest, RefusedCredentialsOnTheLastCarrierEndWithCarrierAuthFailed) {
  startWithCredentials(1);
  sendInvite(1);
  challenge(requests(carrier(1), "INVITE")[0], "nonce-1", false);
  challenge(requests(carrier(1), "INVITE")[1], "nonce-2", false);
  ASSERT_EQ(responses(customer, "call-1", 503).size(), 1u);
  EXPECT_TRUE(responses(customer, "call-1", 407).empty());
  Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::CarrierAuthFailed);
  EXPECT_EQ(cdr.finalCode, 503);
}

TEST_F(CarrierChallengeTest, AStaleChallengeWithANewNonceIsAnsweredOnce) {
  startWithCredentials(1);
  sendInvite(1);
  challenge(requests(carrier(1), "INVITE")[0], "nonce-1", false);
  challenge(requests(carrier(1), "INVITE")[1], "nonce-2", true);
  ASSERT_EQ(requests(carrier(1), "INVITE").size(), 3u);
  const std::string third = requests(carrier(1), "INVITE")[2];
  EXPECT_TRUE(answers(third, "nonce-2"));
  EXPECT_EQ(headerValue(third, "CSeq"), "3 INVITE");
  EXPECT_EQ(layer().stats.carrierChallenges, 2u);
  // auth::kMaxStaleAnswers: a second stale challenge is a refusal.
  challenge(third, "nonce-3", true);
  EXPECT_EQ(requests(carrier(1), "INVITE").size(), 3u);
  ASSERT_EQ(responses(customer, "call-1", 503).size(), 1u);
  EXPECT_EQ(onlyCdr().reason, TerminationReason::CarrierAuthFailed);
}

TEST_F(CarrierChallengeTest, ACarrierWithoutCredentialsThatChallengesIsAnAuthFailure) {
  start(1);
  sendInvite(1);
  challenge(requests(carrier(1), "INVITE")[0], "nonce-1", false);
  EXPECT_EQ(requests(carrier(1), "INVITE").size(), 1u);
  ASSERT_EQ(responses(customer, "call-1", 503).size(), 1u);
  EXPECT_EQ(onlyCdr().reason, TerminationReason::CarrierAuthFailed);
  EXPECT_EQ(layer().stats.carrierChallenges, 0u);
}

}  // namespace
}  // namespace tollgate::call
