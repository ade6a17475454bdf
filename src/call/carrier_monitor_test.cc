// CarrierMonitor against a real UDP transport and transaction layer on
// loopback, with a raw socket as the carrier that answers OPTIONS or stays
// silent. Periods of 40 ms keep it quick; waits have deadlines.
#include "call/carrier_monitor.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>

#include "test_support/loopback_peer.h"
#include "transport/forwarding_sink.h"

namespace tollgate::call {
namespace {

using namespace std::chrono_literals;

class NullUser final : public txn::TransactionUser {
 public:
  void onRequest(sip::MessagePtr, const transport::Flow&) override {}
  void onStrayResponse(sip::MessagePtr, const transport::Flow&) override {}
  void onMalformed(const transport::Flow&, std::string_view, const sip::ParseError&) override {}
  void onCancel(txn::TxnId) override {}
  void onAckTimeout(txn::TxnId) override {}
};

// A carrier on a loopback socket: answers each OPTIONS with `status` while
// answering is on; counts what it got.
class Carrier {
 public:
  uint16_t port() const { return peer_.port(); }
  void poll() {
    for (const test_support::Datagram& d : peer_.receive()) {
      if (d.bytes.rfind("OPTIONS ", 0) != 0) continue;
      ++options;
      lastRequest = d.bytes;
      if (!answering) continue;
      peer_.sendTo(d.fromPort, test_support::responseTo(d.bytes, status, "Whatever", "c1"));
    }
  }
  bool answering = true;
  int status = 200;
  int options = 0;
  std::string lastRequest;

 private:
  test_support::LoopbackPeer peer_;
};

class CarrierMonitorTest : public ::testing::Test {
 protected:
  CarrierMonitorTest()
      : loop_(clock_),
        transport_(loop_, sink_),
        txns_(loop_, transport_, random_, txn::TimerSettings{20ms, 160ms, 100ms}) {
    sink_.target = &txns_;
    txns_.setUser(&user_);
    EXPECT_TRUE(transport_.listen(*transport::parseListenSpec("udp:127.0.0.1:0")).ok());
  }

  admission::Provisioning provisioning(bool optionsCheck = true) {
    admission::Provisioning p;
    admission::RoutingGateway g;
    g.name = "carrier";
    g.address = "127.0.0.1:" + std::to_string(carrier_.port());
    g.prefixes = {""};
    g.policy.optionsCheck = optionsCheck;
    p.routingGateways.push_back(g);
    return p;
  }

  std::unique_ptr<CarrierMonitor> monitor(Millis period, int failures) {
    CarrierMonitorSettings s;
    s.period = period;
    s.failureLimit = failures;
    s.userAgent = "tollgate-test";
    return std::make_unique<CarrierMonitor>(loop_, txns_, random_, s,
                                            [](transport::ListenerId) { return "127.0.0.1:5060"; });
  }

  // Runs the loop until pred() or the deadline; returns pred().
  bool runUntil(const std::function<bool()>& pred, Millis deadline) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      loop_.runOnce(2ms);
      carrier_.poll();
      if (pred()) return true;
    }
    return pred();
  }

  SystemClock clock_;
  CryptoRandom random_;
  EventLoop loop_;
  transport::ForwardingSink sink_;
  transport::Transport transport_;
  txn::TransactionLayer txns_;
  NullUser user_;
  Carrier carrier_;
};

TEST_F(CarrierMonitorTest, SilentCarrierLeavesRotationAndComesBackWhenItAnswers) {
  auto m = monitor(40ms, 2);
  RouteTable routes(provisioning());
  m->configure(routes);
  EXPECT_TRUE(m->available("carrier"));
  ASSERT_TRUE(runUntil([&] { return m->stats().answered >= 2; }, 2000ms));
  EXPECT_TRUE(m->available("carrier"));
  EXPECT_NE(carrier_.lastRequest.find("User-Agent: tollgate-test"), std::string::npos);
  EXPECT_NE(carrier_.lastRequest.find("CSeq: "), std::string::npos);

  carrier_.answering = false;
  ASSERT_TRUE(runUntil([&] { return !m->available("carrier"); }, 2000ms));
  EXPECT_EQ(m->stats().wentDown, 1u);
  EXPECT_GE(m->stats().missed, 2u);
  auto st = m->status();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_FALSE(st[0].up);
  EXPECT_TRUE(st[0].monitored);

  carrier_.answering = true;
  carrier_.status = 405;  // any answer proves it is there
  ASSERT_TRUE(runUntil([&] { return m->available("carrier"); }, 2000ms));
  EXPECT_EQ(m->stats().cameUp, 1u);
}

TEST_F(CarrierMonitorTest, TwoMissesAreNotEnoughWithALimitOfThree) {
  auto m = monitor(40ms, 3);
  RouteTable routes(provisioning());
  m->configure(routes);
  ASSERT_TRUE(runUntil([&] { return m->stats().answered >= 1; }, 2000ms));
  carrier_.answering = false;
  ASSERT_TRUE(runUntil([&] { return m->stats().missed >= 2; }, 2000ms));
  EXPECT_TRUE(m->available("carrier")) << "down after 2 misses with a limit of 3";
  carrier_.answering = true;
  ASSERT_TRUE(runUntil([&] { return m->status()[0].misses == 0; }, 2000ms));
  EXPECT_EQ(m->stats().wentDown, 0u);
}

TEST_F(CarrierMonitorTest, UnmonitoredCarriersAreNeverProbed) {
  auto off = monitor(0ms, 1);
  RouteTable routes(provisioning());
  off->configure(routes);
  auto optedOut = monitor(20ms, 1);
  RouteTable noCheck(provisioning(/*optionsCheck=*/false));
  optedOut->configure(noCheck);
  carrier_.answering = false;
  runUntil([] { return false; }, 200ms);
  EXPECT_EQ(carrier_.options, 0);
  EXPECT_TRUE(off->available("carrier"));
  EXPECT_TRUE(optedOut->available("carrier"));
  EXPECT_TRUE(off->available("unknown"));
}

TEST_F(CarrierMonitorTest, ReloadKeepsTheStateOfAnUnchangedCarrier) {
  auto m = monitor(40ms, 1);
  RouteTable routes(provisioning());
  m->configure(routes);
  carrier_.answering = false;
  ASSERT_TRUE(runUntil([&] { return !m->available("carrier"); }, 2000ms));
  RouteTable same(provisioning());
  m->configure(same);
  EXPECT_FALSE(m->available("carrier")) << "a reload must not put a dead carrier back";
  admission::Provisioning moved = provisioning();
  moved.routingGateways[0].address = "127.0.0.1:9";
  RouteTable other(moved);
  m->configure(other);
  EXPECT_TRUE(m->available("carrier")) << "a new address starts in rotation";
}

}  // namespace
}  // namespace tollgate::call
