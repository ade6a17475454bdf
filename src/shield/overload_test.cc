// Overload control on a manual clock: detection (standing queue, one
// request's own wait, bounds), what is shed and what never is, fair shares
// between mapping gateways, RFC 7339 feedback, and the way back to normal.
#include "shield/overload.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "shield/raw_scan.h"
#include "shield/shield.h"
#include "sip/overload_control.h"
#include "sip/serialize.h"

namespace tollgate::shield {
namespace {

using transport::Flow;

struct NullSink final : transport::MessageSink {
  void onMessage(const Flow&, std::string&&) override {}
  void onConnectionClosed(transport::ConnectionId) override {}
};

std::string invite(int n, std::string_view toTag = "", std::string_view via = "") {
  std::string m = "INVITE sip:100@127.0.0.1 SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-" + std::to_string(n) + std::string(via) +
       "\r\n";
  m += "From: <sip:200@x>;tag=f" + std::to_string(n) + "\r\nTo: <sip:100@x>";
  if (!toTag.empty()) m += ";tag=" + std::string(toTag);
  m += "\r\nCall-ID: call-" + std::to_string(n) + "\r\nCSeq: 1 INVITE\r\n";
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

std::string inDialog(std::string_view method, int n, std::string_view toTag = "t1") {
  std::string m = std::string(method) + " sip:100@127.0.0.1 SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-d" + std::to_string(n) + "\r\n";
  m += "From: <sip:200@x>;tag=f\r\nTo: <sip:100@x>;tag=" + std::string(toTag) + "\r\n";
  m += "Call-ID: call-" + std::to_string(n) + "\r\nCSeq: 2 " + std::string(method) + "\r\n";
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

class OverloadTest : public ::testing::Test {
 protected:
  void make(OverloadConfig oc = {}) {
    ShieldConfig c;
    c.trustedRate = 1e6;
    c.trustedBurst = 1e6;
    shield = std::make_unique<Shield>(loop, clock, random, c, sink, oc);
    shield->setTrusted(shield->buildTrusted({*net::Cidr::parse("192.0.2.0/24")}));
    std::vector<OverloadClassSpec> specs{
        {.name = "cust-a", .weight = 1, .addresses = {*net::Cidr::parse("192.0.2.1")}},
        {.name = "cust-b", .weight = 1, .addresses = {*net::Cidr::parse("192.0.2.2")}},
        {.name = "heavy", .weight = 3, .addresses = {*net::Cidr::parse("192.0.2.64/26")}}};
    shield->overload().setClasses(std::make_shared<const OverloadClasses>(specs));
  }

  // queuedUs 0: no wait known, so the test's congestedInterval() alone sets
  // the standing queue.
  Decision send(const char* ip, const std::string& msg, uint32_t queuedUs = 0,
                uint32_t backlogUs = 0) {
    Flow f;
    f.remote = net::SockAddr(*net::IpAddress::parse(ip), 5060);
    f.queuedUs = queuedUs;
    f.backlogUs = backlogUs;
    return shield->inspect(f, msg, loop.now());
  }

  void advance(Millis d) {
    clock.advance(std::chrono::duration_cast<Micros>(d));
    loop.runOnce(Millis(0));
  }

  // One control interval in which every datagram waited `waitUs`: the
  // standing queue the controller sees.
  void congestedInterval(uint32_t waitUs) {
    for (int i = 0; i < 20; ++i) shield->overload().observeQueueWait(waitUs);
    advance(OverloadControl::kInterval);
  }
  // Overload begins after two congested intervals in a row.
  void congest() {
    congestedInterval(8'000);
    congestedInterval(8'000);
  }

  // The end of an interval of a node that carries 100 new calls per
  // interval (2000/s): the socket queue stands when it admitted more.
  void carry(int admitted) {
    if (admitted > 100) {
      congestedInterval(8'000);
    } else {
      advance(OverloadControl::kInterval);
    }
  }

  static bool shed(const Decision& d) {
    return d.verdict != Verdict::Pass && d.reason == ShieldReason::Overload;
  }

  ManualClock clock;
  EventLoop loop{clock};
  SeededRandom random{7};
  NullSink sink;
  std::unique_ptr<Shield> shield;
  int next = 0;
};

TEST_F(OverloadTest, ANodeKeepingUpShedsNothing) {
  make();
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 50; ++i)
      EXPECT_EQ(send("192.0.2.1", invite(next++)).verdict, Verdict::Pass);
    advance(OverloadControl::kInterval);
  }
  const OverloadStats& s = shield->overload().stats();
  EXPECT_FALSE(s.overloaded);
  EXPECT_EQ(s.episodes, 0u);
  EXPECT_EQ(s.admitted, 2000u);
  EXPECT_EQ(shield->overload().ocParams(keyOf(*net::IpAddress::parse("192.0.2.1"))), "");
}

TEST_F(OverloadTest, AStandingQueueStartsSheddingNewWorkButNeverDialogs) {
  make();
  // 100 new calls per interval admitted, then the queue stands at 8 ms.
  for (int i = 0; i < 100; ++i) send("192.0.2.1", invite(next++));
  congest();
  ASSERT_TRUE(shield->overload().stats().overloaded);
  // R starts under what was admitted (2000/s): 100 per interval is too many.
  int admitted = 0, refused = 0;
  for (int i = 0; i < 100; ++i) {
    const Decision d = send("192.0.2.1", invite(next++));
    if (shed(d)) {
      EXPECT_EQ(d.verdict, Verdict::Reject503);
      EXPECT_TRUE(d.newCall);
      ++refused;
    } else {
      ++admitted;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_LT(admitted, 100);
  // Established work passes however many there are.
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(send("192.0.2.1", inDialog("BYE", i)).verdict, Verdict::Pass);
    EXPECT_EQ(send("192.0.2.1", inDialog("ACK", i)).verdict, Verdict::Pass);
    EXPECT_EQ(send("192.0.2.1", inDialog("CANCEL", i)).verdict, Verdict::Pass);
    EXPECT_EQ(send("192.0.2.1", invite(100000 + i, "dialog-tag")).verdict, Verdict::Pass)
        << "a re-INVITE is part of a call";
  }
  // The ACK of one of our stateless 503s is absorbed unparsed.
  const Decision ack = send("192.0.2.1", inDialog("ACK", 7, "sh-0123456789"));
  EXPECT_EQ(ack.verdict, Verdict::Drop);
  EXPECT_EQ(shield->stats().shedAcksAbsorbed, 1u);
  // Responses (from carriers) are never looked at.
  EXPECT_EQ(
      send("192.0.2.1", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKr\r\n\r\n").verdict,
      Verdict::Pass);
  EXPECT_EQ(shield->stats().dropped[static_cast<size_t>(ShieldReason::Overload)],
            static_cast<uint64_t>(refused));
}

TEST_F(OverloadTest, RetransmissionsOfAdmittedInvitesAreNeverShed) {
  make();
  const std::string first = invite(1);
  ASSERT_EQ(send("192.0.2.1", first).verdict, Verdict::Pass);
  for (int i = 0; i < 100; ++i) send("192.0.2.1", invite(next++ + 10));
  congest();
  ASSERT_TRUE(shield->overload().stats().overloaded);
  // Exhaust the class's share, then retransmit the first INVITE.
  for (int i = 0; i < 200; ++i) send("192.0.2.1", invite(next++ + 10));
  EXPECT_TRUE(shed(send("192.0.2.1", invite(999'999))));
  EXPECT_EQ(send("192.0.2.1", first).verdict, Verdict::Pass);
}

TEST_F(OverloadTest, OneLateIntervalIsNotOverload) {
  make();
  for (int i = 0; i < 100; ++i) send("192.0.2.1", invite(next++));
  congestedInterval(8'000);  // a stall: a reload, a burst
  advance(OverloadControl::kInterval);
  congestedInterval(8'000);
  EXPECT_FALSE(shield->overload().stats().overloaded);
  EXPECT_EQ(shield->overload().stats().episodes, 0u);
  congestedInterval(8'000);  // the second in a row: the node is behind
  EXPECT_TRUE(shield->overload().stats().overloaded);
}

TEST_F(OverloadTest, ALateRequestStartsOverloadAndOnlyTheStormingClassPaysForLateness) {
  make();
  // Not overloaded: a wait of 25 ms is a stall, not a runaway queue.
  EXPECT_EQ(send("192.0.2.1", invite(next++), 25'000).verdict, Verdict::Pass);
  EXPECT_FALSE(shield->overload().stats().overloaded);
  for (int i = 0; i < 100; ++i) send("192.0.2.1", invite(next++));
  advance(OverloadControl::kInterval);  // the node carried 2,000/s
  // Over 2 x max_queue_delay: the queue runs away; overload starts with this one.
  send("192.0.2.1", invite(next++), 85'000);
  EXPECT_TRUE(shield->overload().stats().overloaded) << "overload starts with the first late one";
  // A runaway: R starts at half of what was carried (2,000/s).
  EXPECT_NEAR(shield->overload().stats().admitRate, 1000, 50);
  // cust-a storms (4,000/s), cust-b asks for 100/s.
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 200; ++i) send("192.0.2.1", invite(next++));
    for (int i = 0; i < 5; ++i) send("192.0.2.2", invite(next++));
    advance(OverloadControl::kInterval);
  }
  // A late request from the storming class is refused at once, whatever
  // tokens its share has left; one from the class within its share is not.
  const Decision late = send("192.0.2.1", invite(next++), 25'000);
  EXPECT_EQ(late.verdict, Verdict::Reject503);
  EXPECT_EQ(late.reason, ShieldReason::Overload);
  EXPECT_EQ(send("192.0.2.2", invite(next++), 25'000).verdict, Verdict::Pass)
      << "another customer's storm does not make cust-b's calls too late";
  // Stale (drop_delay): dropped unanswered, whoever sent it.
  EXPECT_EQ(send("192.0.2.2", invite(next++), 600'000).verdict, Verdict::Drop);
  // A BYE that waited as long still passes.
  EXPECT_EQ(send("192.0.2.1", inDialog("BYE", 1), 600'000).verdict, Verdict::Pass);
  const OverloadStats& s = shield->overload().stats();
  EXPECT_GE(s.shed[static_cast<size_t>(ShedReason::QueueDelay)], 1u);
  EXPECT_EQ(s.shed[static_cast<size_t>(ShedReason::Dropped)], 1u);
}

TEST_F(OverloadTest, TheOldestWaitingNewWorkStartsOverloadWhenTheYoungestGoesFirst) {
  make();
  for (int i = 0; i < 100; ++i) send("192.0.2.1", invite(next++));
  advance(OverloadControl::kInterval);
  // Served young (newest first), while the oldest new work still waiting
  // has waited 30 ms: a burst.
  EXPECT_EQ(send("192.0.2.1", invite(next++), 1'000, 30'000).verdict, Verdict::Pass);
  EXPECT_FALSE(shield->overload().stats().overloaded);
  // 45 ms: the backlog runs away, whoever is served first.
  EXPECT_EQ(send("192.0.2.1", invite(next++), 1'000, 45'000).verdict, Verdict::Pass);
  EXPECT_TRUE(shield->overload().stats().overloaded);
  // A young request is not late for the backlog's age.
  EXPECT_EQ(shield->overload().stats().shed[static_cast<size_t>(ShedReason::QueueDelay)], 0u);
}

TEST_F(OverloadTest, NewRequestsWaitTheirTurnACancelInOrderTheRestAtOnce) {
  using transport::Turn;
  make();
  const Flow f;
  EXPECT_EQ(shield->turnOf(f, invite(1)), Turn::Later);
  EXPECT_EQ(shield->turnOf(f, invite(2, "t9")), Turn::Now) << "a re-INVITE is in a dialog";
  EXPECT_EQ(shield->turnOf(f, inDialog("CANCEL", 3, "")), Turn::InOrder);
  EXPECT_EQ(shield->turnOf(f, inDialog("BYE", 4)), Turn::Now);
  EXPECT_EQ(shield->turnOf(f, inDialog("ACK", 5, "")), Turn::Now);
  EXPECT_EQ(shield->turnOf(f, inDialog("NOTIFY", 6)), Turn::Now);
  EXPECT_EQ(shield->turnOf(f, "SIP/2.0 200 OK\r\nTo: <sip:a@b>\r\n\r\n"), Turn::Now);
  EXPECT_EQ(shield->turnOf(f, "\x16\x03\x01 not SIP"), Turn::Now) << "junk is judged at once";
  std::string options = invite(7);
  options.replace(0, 6, "OPTIONS");
  EXPECT_EQ(shield->turnOf(f, options), Turn::Later);
  OverloadConfig off;
  off.enabled = false;
  make(off);
  EXPECT_EQ(shield->turnOf(f, invite(8)), Turn::Now) << "without overload control: arrival order";
}

TEST_F(OverloadTest, OneCongestedIntervalBetweenCalmOnesDoesNotCutTheRate) {
  make();
  for (int i = 0; i < 100; ++i) send("192.0.2.1", invite(next++));
  congest();
  ASSERT_TRUE(shield->overload().stats().overloaded);
  // Demand far over R, the queue calm: R probes upwards.
  auto interval = [&](uint32_t waitUs) {
    for (int i = 0; i < 300; ++i) send("192.0.2.1", invite(next++));
    if (waitUs > 0) {
      congestedInterval(waitUs);
    } else {
      advance(OverloadControl::kInterval);
    }
    return shield->overload().stats().admitRate;
  };
  for (int i = 0; i < 4; ++i) interval(0);
  const double before = interval(0);
  // A burst of the offered load: one interval at 8 ms, then calm again.
  EXPECT_GE(interval(8'000), before) << "one congested interval is burstiness";
  EXPECT_GE(interval(0), before);
  // A standing queue (two in a row) cuts it.
  interval(8'000);
  EXPECT_LT(interval(8'000), before);
  // A runaway queue (6 x the 5 ms target) cuts it in one interval, harder.
  for (int i = 0; i < 10; ++i) interval(0);
  const double calm = interval(0);
  EXPECT_LE(interval(40'000), calm * 0.75);
}

TEST_F(OverloadTest, NoCutWhileTheQueueDrainsCutsInARowStopAtAFloorAndRecoveryIsQuick) {
  make();
  for (int i = 0; i < 100; ++i) send("192.0.2.1", invite(next++));
  congest();
  ASSERT_TRUE(shield->overload().stats().overloaded);
  const double found = shield->overload().stats().admitRate;  // where congestion was found
  // Demand far over R all along (300 per interval): the node is refusing.
  auto interval = [&](uint32_t waitUs) {
    for (int i = 0; i < 300; ++i) send("192.0.2.1", invite(next++));
    if (waitUs > 0) {
      congestedInterval(waitUs);
    } else {
      advance(OverloadControl::kInterval);
    }
    return shield->overload().stats().admitRate;
  };
  const double cut = interval(40'000);  // a runaway: cut at once
  EXPECT_LT(cut, found);
  EXPECT_EQ(interval(35'000), cut)
      << "still a runaway, but shrinking by over 10 %: draining, no cut";
  EXPECT_LT(interval(40'000), cut) << "growing again: cut";
  double r = 0;
  for (int i = 0; i < 20; ++i) r = interval(40'000);
  EXPECT_NEAR(r, found * 0.3, found * 0.01) << "cuts in a row stop at 30 % of where they began";
  // Calm again: + 5 % an interval back up to 95 % of that rate (24
  // intervals from 30 %), then + 1 % an interval.
  for (int i = 0; i < 25; ++i) r = interval(0);
  EXPECT_GE(r, found * 0.95);
  for (int i = 0; i < 5; ++i) r = interval(0);
  EXPECT_LT(r, found * 1.1) << "careful probing beyond where congestion was found";
}

TEST_F(OverloadTest, BoundsOnCallsAndTransactionsRefuseNewWork) {
  OverloadConfig oc;
  oc.maxCalls = 3;
  oc.maxTransactions = 5;
  make(oc);
  const auto src = *net::IpAddress::parse("192.0.2.1");
  for (int i = 0; i < 3; ++i) shield->opened(OccupancyKind::Dialog, src);
  const Decision d = send("192.0.2.1", invite(next++));
  EXPECT_TRUE(shed(d));
  EXPECT_EQ(shield->overload().stats().shed[static_cast<size_t>(ShedReason::Calls)], 1u);
  shield->closed(OccupancyKind::Dialog, src);
  EXPECT_EQ(send("192.0.2.1", invite(next++)).verdict, Verdict::Pass);
  for (int i = 0; i < 5; ++i) shield->opened(OccupancyKind::Transaction, src);
  EXPECT_TRUE(shed(send("192.0.2.1", invite(next++))));
  EXPECT_EQ(shield->overload().stats().shed[static_cast<size_t>(ShedReason::Transactions)], 1u);
  EXPECT_EQ(send("192.0.2.1", inDialog("BYE", 1)).verdict, Verdict::Pass);
}

TEST_F(OverloadTest, OneCustomersStormDoesNotTakeTheOthersShare) {
  make();
  for (int i = 0; i < 100; ++i) send(i % 2 ? "192.0.2.1" : "192.0.2.2", invite(next++));
  congest();
  // cust-a offers 5x its half of the capacity (250 per interval), cust-b its
  // half (50).
  int aOk = 0, bOk = 0, bOffered = 0;
  for (int round = 0; round < 60; ++round) {
    int admitted = 0;
    for (int i = 0; i < 250; ++i) {
      const bool a = !shed(send("192.0.2.1", invite(next++)));
      admitted += a;
      if (round >= 30) aOk += a;
      if (i % 5 == 0) {
        const bool b = !shed(send("192.0.2.2", invite(next++)));
        admitted += b;
        if (round >= 30) {
          ++bOffered;
          bOk += b;
        }
      }
    }
    carry(admitted);
  }
  ASSERT_TRUE(shield->overload().stats().overloaded);
  EXPECT_GE(bOk, bOffered * 9 / 10) << "cust-b kept " << bOk << " of " << bOffered;
  EXPECT_GT(aOk, 0) << "cust-a keeps the rest of the capacity";
  EXPECT_GE(aOk + bOk, 30 * 100 * 8 / 10) << "goodput";
}

TEST_F(OverloadTest, WeightsSplitTheCapacity) {
  make();
  for (int i = 0; i < 100; ++i) send(i % 2 ? "192.0.2.1" : "192.0.2.70", invite(next++));
  congest();
  int light = 0, heavy = 0;
  for (int round = 0; round < 60; ++round) {
    int admitted = 0;
    // Both ask far more than they can get, heavy three times as much: each
    // pays for its own refusals, so the calls follow the weights.
    for (int i = 0; i < 100; ++i) {
      const bool l = !shed(send("192.0.2.1", invite(next++)));
      admitted += l;
      if (round >= 30) light += l;
      for (int j = 0; j < 3; ++j) {
        const bool h = !shed(send("192.0.2.70", invite(next++)));
        admitted += h;
        if (round >= 30) heavy += h;
      }
    }
    carry(admitted);
  }
  ASSERT_GT(light, 0);
  EXPECT_NEAR(static_cast<double>(heavy) / light, 3.0, 0.5);
}

TEST_F(OverloadTest, TheNodeReturnsToNormalWhenTheLoadDrops) {
  make();
  for (int i = 0; i < 100; ++i) send("192.0.2.1", invite(next++));
  congest();
  ASSERT_TRUE(shield->overload().stats().overloaded);
  // Light load, no queue: overload ends within a couple of seconds.
  for (int round = 0; round < 60 && shield->overload().stats().overloaded; ++round) {
    for (int i = 0; i < 5; ++i) send("192.0.2.1", invite(next++));
    advance(OverloadControl::kInterval);
  }
  EXPECT_FALSE(shield->overload().stats().overloaded);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(send("192.0.2.1", invite(next++)).verdict, Verdict::Pass);
}

TEST_F(OverloadTest, Rfc7339FeedbackTellsTheClientHowMuchToHoldBack) {
  make();
  const IpKey a = keyOf(*net::IpAddress::parse("192.0.2.1"));
  for (int i = 0; i < 100; ++i) send("192.0.2.1", invite(next++));
  congest();
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 400; ++i) send("192.0.2.1", invite(next++));
    congestedInterval(8'000);
  }
  const std::string p = shield->overload().ocParams(a);
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p.rfind(";oc=", 0), 0u) << p;
  const int oc = std::stoi(p.substr(4));
  const OverloadStats& st = shield->overload().stats();
  EXPECT_GT(oc, 50) << p << " admit rate " << st.admitRate;  // offered 8000/s, carried < 2000/s
  EXPECT_LE(oc, 100) << p;
  EXPECT_NE(p.find(";oc-algo=\"loss\""), std::string::npos) << p;
  EXPECT_NE(p.find(";oc-validity=500"), std::string::npos) << p;
  EXPECT_NE(p.find(";oc-seq="), std::string::npos) << p;

  // The stateless 503 carries it in the client's Via, in place of its bare oc.
  const std::string req = invite(424242, "", ";oc;oc-algo=\"loss,other\"");
  const std::string_view via = sip::firstViaParm(findHeader(req, "Via", 2048, 'v'));
  ASSERT_TRUE(sip::viaSupportsOc(via));
  const std::string resp = sip::makeErrorResponse(req, 503, "", "sh-1", {}, p);
  EXPECT_NE(resp.find("branch=z9hG4bK-424242" + p + "\r\n"), std::string::npos) << resp;
  EXPECT_EQ(resp.find(";oc;"), std::string::npos) << resp;
}

TEST(OverloadWire, ViaOcSupportAndHeaderScans) {
  EXPECT_TRUE(sip::viaSupportsOc("SIP/2.0/UDP h;branch=z9hG4bK1;oc"));
  EXPECT_TRUE(sip::viaSupportsOc("SIP/2.0/UDP h;oc;oc-algo=\"loss,rate\""));
  EXPECT_TRUE(sip::viaSupportsOc("SIP/2.0/UDP h ; OC ; oc-algo=\"Loss\""));
  EXPECT_FALSE(sip::viaSupportsOc("SIP/2.0/UDP h;oc;oc-algo=\"rate\""));
  EXPECT_FALSE(sip::viaSupportsOc("SIP/2.0/UDP h;branch=z9hG4bK1"));
  EXPECT_FALSE(sip::viaSupportsOc("SIP/2.0/UDP h;branch=\"x;oc\""));
  EXPECT_EQ(sip::firstViaParm("SIP/2.0/UDP a;x=\"1,2\", SIP/2.0/UDP b"), "SIP/2.0/UDP a;x=\"1,2\"");
  EXPECT_EQ(sip::withTopViaParams("SIP/2.0/UDP a;oc;branch=z, SIP/2.0/UDP b", ";oc=10"),
            "SIP/2.0/UDP a;branch=z;oc=10, SIP/2.0/UDP b");

  EXPECT_EQ(headerTag("<sip:a@b>;tag=xyz"), "xyz");
  EXPECT_EQ(headerTag("\"D\" <sip:a@b;tag=uri>;foo=1; TAG = abc ;bar"), "abc");
  EXPECT_EQ(headerTag("<sip:a@b;tag=inside-uri>"), "");
  EXPECT_EQ(headerTag("sip:a@b;tag=q"), "q");
  EXPECT_EQ(headerTag("<sip:a@b"), "");
  EXPECT_EQ(headerTag(""), "");
  const std::string m = "BYE sip:x SIP/2.0\r\nv: SIP/2.0/UDP h\r\nt: <sip:a@b>;tag=c\r\n\r\n";
  EXPECT_EQ(findHeader(m, "To", 100, 't'), "<sip:a@b>;tag=c");
  EXPECT_EQ(findHeader(m, "Via", 100, 'v'), "SIP/2.0/UDP h");
  EXPECT_EQ(findHeader(m, "To", 100), "");
  const std::string m2 = "BYE sip:x SIP/2.0\r\nTimestamp: 1\r\nTo: <sip:a@b>\r\n\r\n";
  EXPECT_EQ(findHeader(m2, "To", 100, 't'), "<sip:a@b>");
}

TEST(OverloadWire, RecentKeysRememberForALifetimeAndStayBounded) {
  RecentKeys keys(4, Millis(1000));
  MonoTime t{};
  keys.insert(11, t);
  keys.insert(12, t);
  EXPECT_TRUE(keys.contains(11));
  EXPECT_FALSE(keys.contains(13));
  keys.insert(13, t + Millis(1500));  // a new generation: 11 and 12 still remembered
  EXPECT_TRUE(keys.contains(11));
  keys.insert(14, t + Millis(3000));  // and another: 11 and 12 are gone
  EXPECT_FALSE(keys.contains(11));
  EXPECT_TRUE(keys.contains(13));
  EXPECT_TRUE(keys.contains(14));
}

}  // namespace
}  // namespace tollgate::shield
