// The call layer's call policy hooks (request router, live-call registry,
// calls) on the test harness (test_support/call_harness.h: a real UDP
// transport and transaction layer on loopback, a manual clock), with
// loopback peers playing the customer and the carrier: a refused call is
// answered with its code (Retry-After for calls per second) and leaves its
// CDR; the live-call snapshot and endCall() the management API builds on;
// cutting a number's calls; a full carrier skipped. Waits have deadlines.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "test_support/call_harness.h"
#include "test_support/loopback_peer.h"

namespace tollgate::call {
namespace {

using namespace std::chrono_literals;

using test_support::headerValue;

class CallLayerPolicyTest : public ::testing::Test {
 protected:
  CallLayerPolicyTest() : h_(txn::TimerSettings{100ms, 400ms, 500ms}) {
    h_.addPeer(customer_);
    h_.addPeer(carrier_);
    port_ = h_.port;
  }

  void start(admission::Provisioning p, CallSettings cfg = {}) {
    cfg.userAgent = "";
    test_support::CallLayerSettings all;
    all.call = cfg;
    h_.start(p, all);
  }
  test_support::TestCallLayer& layer() { return h_.layer(); }

  admission::Provisioning provisioning(admission::CallLimitsSpec gw = {},
                                       admission::CallLimitsSpec carrier = {}) {
    admission::Provisioning p;
    admission::MappingGateway m;
    m.name = "cust";
    m.addresses = {"127.0.0.1:" + std::to_string(customer_.port())};
    m.auth = admission::AuthMode::IpPort;
    m.policy.limits = gw;
    p.mappingGateways.push_back(m);
    admission::RoutingGateway r;
    r.name = "carrier";
    r.address = "127.0.0.1:" + std::to_string(carrier_.port());
    r.prefixes = {""};
    r.policy.limits = carrier;
    p.routingGateways.push_back(r);
    return p;
  }

  std::string invite(int n, const std::string& caller = "1001") {
    const std::string c = std::to_string(n);
    const std::string me = "127.0.0.1:" + std::to_string(customer_.port());
    return "INVITE sip:15551234567@127.0.0.1 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP " +
           me + ";branch=z9hG4bK-c" + c +
           "\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:" +
           caller + "@" + me + ">;tag=f" + c +
           "\r\n"
           "To: <sip:15551234567@127.0.0.1>\r\n"
           "Call-ID: call-" +
           c +
           "\r\n"
           "CSeq: 1 INVITE\r\n"
           "Contact: <sip:" +
           caller + "@" + me +
           ">\r\n"
           "Content-Length: 0\r\n\r\n";
  }

  // The carrier answers each new INVITE 200 (once).
  void carrierAnswers() {
    for (const std::string& inv : carrier_.with("INVITE ")) {
      const std::string callId = headerValue(inv, "Call-ID");
      if (answered_.count(callId)) continue;
      answered_.insert(callId);
      std::string resp = "SIP/2.0 200 OK\r\nVia: " + headerValue(inv, "Via") +
                         "\r\nFrom: " + headerValue(inv, "From") +
                         "\r\nTo: " + headerValue(inv, "To") +
                         ";tag=carrier\r\nCall-ID: " + callId + "\r\nCSeq: 1 INVITE\r\n" +
                         "Contact: <sip:127.0.0.1:" + std::to_string(carrier_.port()) +
                         ">\r\nContent-Length: 0\r\n\r\n";
      carrier_.sendTo(port_, resp);
    }
  }

  // Settles the wire (the carrier answering) until pred(), moving the
  // manual clock 10 ms at a time up to `deadline`.
  bool runUntil(const std::function<bool()>& pred, Millis deadline = 3000ms) {
    for (Millis t{0}; t <= deadline; t += 10ms) {
      h_.settle();
      carrierAnswers();
      h_.settle();
      if (pred()) return true;
      h_.clock.advance(10ms);
    }
    return pred();
  }

  test_support::CallHarness h_;
  test_support::CapturedCdrs& cdrs_ = h_.cdrs;
  uint16_t port_ = 0;
  test_support::LoopbackPeer customer_;
  test_support::LoopbackPeer carrier_;
  std::set<std::string> answered_;
};

TEST_F(CallLayerPolicyTest, CpsRefusalIs503WithRetryAfterAndACdr) {
  admission::CallLimitsSpec gw;
  gw.cps = 1;
  gw.cpsBurst = 1;
  start(provisioning(gw));
  customer_.sendTo(port_, invite(1));
  customer_.sendTo(port_, invite(2));
  ASSERT_TRUE(runUntil([&] { return !customer_.with("SIP/2.0 503").empty(); }));
  std::string refused = customer_.with("SIP/2.0 503")[0];
  EXPECT_EQ(headerValue(refused, "Call-ID"), "call-2");
  EXPECT_EQ(headerValue(refused, "Retry-After"), "1");
  ASSERT_TRUE(runUntil([&] { return cdrs_.all().size() == 1; }));
  Cdr c = cdrs_.all()[0];
  EXPECT_EQ(c.reason, TerminationReason::CpsLimit);
  EXPECT_EQ(c.finalCode, 503);
  EXPECT_EQ(c.mappingGateway, "cust");
  EXPECT_EQ(carrier_.with("INVITE ").size(), 1u) << "only the admitted call reached the carrier";
  EXPECT_EQ(layer().policy.stats().refused[static_cast<size_t>(admission::Refusal::CpsLimit)], 1u);
}

TEST_F(CallLayerPolicyTest, LiveCallsAndEndCallByOperator) {
  start(provisioning());
  customer_.sendTo(port_, invite(1));
  ASSERT_TRUE(runUntil([&] { return !customer_.with("SIP/2.0 200").empty(); }));
  auto live = layer().calls.liveCalls();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].callId, "call-1");
  EXPECT_EQ(live[0].caller, "1001");
  EXPECT_EQ(live[0].callee, "15551234567");
  EXPECT_EQ(live[0].mappingGateway, "cust");
  EXPECT_EQ(live[0].routingGateway, "carrier");
  EXPECT_EQ(live[0].state, "answered");
  EXPECT_GT(live[0].answerUs, 0);

  EXPECT_FALSE(layer().calls.endCall(live[0].id + 1000));
  ASSERT_TRUE(layer().calls.endCall(live[0].id));
  ASSERT_TRUE(runUntil([&] {
    return !customer_.with("BYE ").empty() && !carrier_.with("BYE ").empty() &&
           cdrs_.all().size() == 1;
  }));
  Cdr c = cdrs_.all()[0];
  EXPECT_EQ(c.reason, TerminationReason::AdminHangup);
  EXPECT_EQ(c.hangup, HangupSide::System);
  EXPECT_TRUE(layer().calls.liveCalls().empty());
  EXPECT_FALSE(layer().calls.endCall(live[0].id));
}

TEST_F(CallLayerPolicyTest, CutCallsEndsOnlyTheNumbersCalls) {
  start(provisioning());
  customer_.sendTo(port_, invite(1, "1001"));
  customer_.sendTo(port_, invite(2, "2002"));
  ASSERT_TRUE(runUntil([&] { return customer_.with("SIP/2.0 200").size() == 2; }));
  EXPECT_EQ(layer().calls.cutCalls("1001", admission::NumberSide::Callee), 0u);
  EXPECT_EQ(layer().calls.cutCalls("1001", admission::NumberSide::Caller), 1u);
  ASSERT_TRUE(runUntil([&] { return cdrs_.all().size() == 1; }));
  EXPECT_EQ(cdrs_.all()[0].reason, TerminationReason::CallerBlacklisted);
  EXPECT_EQ(cdrs_.all()[0].callId, "call-1");
  auto live = layer().calls.liveCalls();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].caller, "2002");
}

TEST_F(CallLayerPolicyTest, FullOnlyCarrierMeansCarrierUnavailable) {
  admission::CallLimitsSpec carrier;
  carrier.maxConcurrent = 1;
  start(provisioning({}, carrier));
  customer_.sendTo(port_, invite(1));
  ASSERT_TRUE(runUntil([&] { return !customer_.with("SIP/2.0 200").empty(); }));
  customer_.sendTo(port_, invite(2));
  ASSERT_TRUE(runUntil([&] { return !customer_.with("SIP/2.0 503").empty(); }));
  ASSERT_TRUE(runUntil([&] { return cdrs_.all().size() == 1; }));
  Cdr c = cdrs_.all()[0];
  EXPECT_EQ(c.reason, TerminationReason::CarrierUnavailable);
  EXPECT_EQ(c.gatewaysTried, "");
  EXPECT_EQ(layer().policy.stats().carrierFull, 1u);
  // The first call ends: the carrier's channel is free again.
  ASSERT_TRUE(layer().calls.endCall(layer().calls.liveCalls()[0].id));
  customer_.sendTo(port_, invite(3));
  ASSERT_TRUE(runUntil([&] { return carrier_.with("INVITE ").size() == 2; }));
}

}  // namespace
}  // namespace tollgate::call
