// Transaction layer against a real UDP transport on loopback, with a raw
// socket playing the peer. T1 is 20 ms so the timer-driven cases run fast.
#include "txn/transaction_layer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "test_support/loopback_peer.h"
#include "transport/forwarding_sink.h"

namespace tollgate::txn {
namespace {

using namespace std::chrono_literals;
using transport::Flow;

using Peer = test_support::LoopbackPeer;

struct RecordingUser : TransactionUser {
  std::vector<std::string> requests;  // method names
  std::vector<TxnId> cancels;
  std::vector<TxnId> ackTimeouts;
  int stray = 0;
  int malformed = 0;
  TransactionLayer* layer = nullptr;
  bool autoCreate = true;
  TxnId lastServer = 0;
  void onRequest(sip::MessagePtr r, const Flow& from) override {
    requests.emplace_back(r->methodName());
    if (autoCreate && r->method() != sip::Method::Ack) {
      lastServer = layer->createServer(std::move(r), from);
    }
  }
  void onStrayResponse(sip::MessagePtr, const Flow&) override { ++stray; }
  void onMalformed(const Flow&, std::string_view, const sip::ParseError&) override { ++malformed; }
  void onCancel(TxnId id) override { cancels.push_back(id); }
  void onAckTimeout(TxnId id) override { ackTimeouts.push_back(id); }
};

struct RecordingClient : ClientCallbacks {
  std::vector<int> statuses;
  int timeouts = 0;
  int transportErrors = 0;
  void onResponse(TxnId, const sip::Message& r) override { statuses.push_back(r.status()); }
  void onTimeout(TxnId) override { ++timeouts; }
  void onTransportError(TxnId) override { ++transportErrors; }
};

class TxnTest : public ::testing::Test {
 protected:
  TxnTest()
      : loop_(clock_),
        transport_(loop_, sink_),
        txns_(loop_, transport_, random_, TimerSettings{20ms, 160ms, 100ms}) {
    sink_.target = &txns_;
    auto l = transport_.listen(*transport::parseListenSpec("udp:127.0.0.1:0"));
    EXPECT_TRUE(l.ok());
    port_ = transport_.listeners().front().address.port();
    user_.layer = &txns_;
    txns_.setUser(&user_);
  }

  // Runs the loop for `d`, collecting what the peer receives.
  std::vector<std::string> run(Millis d) {
    std::vector<std::string> got;
    auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      loop_.runOnce(2ms);
      for (auto& m : peer_.drain()) got.push_back(std::move(m));
    }
    return got;
  }

  std::string invite(const std::string& branch, const std::string& extraVia = "") {
    return "INVITE sip:1000@127.0.0.1 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 127.0.0.1:" +
           std::to_string(peer_.port()) + ";branch=" + branch + extraVia +
           "\r\n"
           "Max-Forwards: 70\r\n"
           "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
           "To: <sip:1000@127.0.0.1>\r\n"
           "Call-ID: call-" +
           branch +
           "\r\n"
           "CSeq: 1 INVITE\r\n"
           "Contact: <sip:alice@127.0.0.1>\r\n"
           "Content-Length: 0\r\n\r\n";
  }

  static int statusOf(const std::string& m) { return std::stoi(m.substr(8, 3)); }

  SystemClock clock_;
  SeededRandom random_{42};
  EventLoop loop_;
  transport::ForwardingSink sink_;
  transport::Transport transport_;
  TransactionLayer txns_;
  RecordingUser user_;
  Peer peer_;
  uint16_t port_ = 0;
};

TEST_F(TxnTest, InviteGets100TryingAtOnceAndRetransmissionIsAbsorbed) {
  peer_.sendTo(port_, invite("z9hG4bKaaa1"));
  auto got = run(30ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(statusOf(got[0]), 100);
  EXPECT_EQ(got[0].find("To: <sip:1000@127.0.0.1>;tag"), std::string::npos) << "100 has no tag";
  peer_.sendTo(port_, invite("z9hG4bKaaa1"));
  got = run(30ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(statusOf(got[0]), 100);
  EXPECT_EQ(user_.requests.size(), 1u) << "the TU saw the retransmission";
  EXPECT_EQ(txns_.stats().retransmissionsAbsorbed, 1u);
}

TEST_F(TxnTest, Non2xxFinalIsRetransmittedUntilAckWhichIsAbsorbed) {
  peer_.sendTo(port_, invite("z9hG4bKbbb1"));
  run(10ms);
  ASSERT_TRUE(txns_.respond(user_.lastServer, 486, "", "tt"));
  auto got = run(70ms);  // T1=20: sends at 0, 20, 60
  int finals = 0;
  for (auto& m : got) finals += statusOf(m) == 486;
  EXPECT_GE(finals, 3);
  std::string ack =
      "ACK sip:1000@127.0.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:" +
      std::to_string(peer_.port()) +
      ";branch=z9hG4bKbbb1\r\nMax-Forwards: 70\r\n"
      "From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:1000@127.0.0.1>;tag=tt\r\n"
      "Call-ID: call-z9hG4bKbbb1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
  peer_.sendTo(port_, ack);
  run(10ms);
  got = run(200ms);
  EXPECT_TRUE(got.empty()) << "retransmission continued after ACK";
  EXPECT_EQ(user_.requests, std::vector<std::string>{"INVITE"}) << "ACK for non-2xx reached the TU";
}

TEST_F(TxnTest, TwoHundredIsRetransmittedUntilAckAndAckGoesToTheUser) {
  peer_.sendTo(port_, invite("z9hG4bKccc1"));
  run(10ms);
  ASSERT_TRUE(txns_.respond(user_.lastServer, 200, "", "tt"));
  auto got = run(70ms);
  int oks = 0;
  for (auto& m : got) oks += statusOf(m) == 200;
  EXPECT_GE(oks, 3);
  std::string ack =
      "ACK sip:alice@127.0.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:" +
      std::to_string(peer_.port()) +
      ";branch=z9hG4bKother\r\nMax-Forwards: 70\r\n"
      "From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:1000@127.0.0.1>;tag=tt\r\n"
      "Call-ID: call-z9hG4bKccc1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
  peer_.sendTo(port_, ack);
  run(10ms);
  EXPECT_TRUE(run(200ms).empty()) << "2xx retransmission continued after ACK";
  EXPECT_EQ(user_.requests, (std::vector<std::string>{"INVITE", "ACK"}));
  EXPECT_TRUE(user_.ackTimeouts.empty());
}

TEST_F(TxnTest, MissingAckForTwoHundredReportsAckTimeout) {
  peer_.sendTo(port_, invite("z9hG4bKddd1"));
  run(10ms);
  TxnId id = user_.lastServer;
  ASSERT_TRUE(txns_.respond(id, 200, "", "tt"));
  run(64 * 20ms + 100ms);
  EXPECT_EQ(user_.ackTimeouts, std::vector<TxnId>{id});
  EXPECT_EQ(txns_.stats().ackTimeouts, 1u);
}

TEST_F(TxnTest, CancelMatchesInviteGets200AndNotifiesUser) {
  peer_.sendTo(port_, invite("z9hG4bKeee1"));
  run(10ms);
  TxnId inviteId = user_.lastServer;
  std::string cancel =
      "CANCEL sip:1000@127.0.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:" +
      std::to_string(peer_.port()) +
      ";branch=z9hG4bKeee1\r\nMax-Forwards: 70\r\n"
      "From: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:1000@127.0.0.1>\r\n"
      "Call-ID: call-z9hG4bKeee1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";
  peer_.sendTo(port_, cancel);
  auto got = run(20ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(statusOf(got[0]), 200);
  EXPECT_NE(got[0].find("CSeq: 1 CANCEL"), std::string::npos);
  EXPECT_EQ(user_.cancels, std::vector<TxnId>{inviteId});
}

TEST_F(TxnTest, ResponseCarriesReceivedAndRportAndGoesToSourcePort) {
  // The Via claims another host and port; rport asks for the source port.
  std::string req =
      "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.9.9.9:5999;branch=z9hG4bKfff1;rport\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"
      "Call-ID: opt1\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  peer_.sendTo(port_, req);
  run(10ms);
  ASSERT_TRUE(txns_.respond(user_.lastServer, 200, "", "x"));
  auto got = run(20ms);
  ASSERT_EQ(got.size(), 1u) << "response did not come back to the source port";
  EXPECT_NE(got[0].find("received=127.0.0.1"), std::string::npos) << got[0];
  EXPECT_NE(got[0].find("rport=" + std::to_string(peer_.port())), std::string::npos) << got[0];
}

TEST_F(TxnTest, ClientInviteRetransmitsThenAcksNon2xxFinal) {
  RecordingClient cb;
  OutgoingRequest r;
  r.method = sip::Method::Invite;
  r.branch = "z9hG4bKcli1";
  r.requestUri = "sip:2000@127.0.0.1:" + std::to_string(peer_.port());
  r.via = "SIP/2.0/UDP 127.0.0.1:" + std::to_string(port_) + ";branch=" + r.branch;
  r.from = "<sip:us@127.0.0.1>;tag=f1";
  r.to = "<sip:2000@127.0.0.1>";
  r.callId = "cli-call-1";
  r.cseq = 1;
  sip::MessageWriter w;
  w.requestLine("INVITE", r.requestUri)
      .header("Via", r.via)
      .header("Max-Forwards", "70")
      .header("From", r.from)
      .header("To", r.to)
      .header("Call-ID", r.callId)
      .header("CSeq", "1 INVITE");
  r.bytes = w.finish();
  Flow to{transport::Protocol::Udp,
          *net::SockAddr::parse("127.0.0.1:" + std::to_string(peer_.port())),
          transport_.listeners().front().id, 0};
  txns_.sendRequest(std::move(r), to, &cb);
  auto got = run(70ms);
  EXPECT_GE(got.size(), 3u) << "Timer A retransmissions missing";
  std::string busy =
      "SIP/2.0 486 Busy Here\r\n"
      "Via: SIP/2.0/UDP 127.0.0.1:" +
      std::to_string(port_) +
      ";branch=z9hG4bKcli1\r\n"
      "From: <sip:us@127.0.0.1>;tag=f1\r\nTo: <sip:2000@127.0.0.1>;tag=rt\r\n"
      "Call-ID: cli-call-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
  peer_.sendTo(port_, busy);
  got = run(30ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].substr(0, 4), "ACK ");
  EXPECT_NE(got[0].find("tag=rt"), std::string::npos);
  EXPECT_NE(got[0].find("branch=z9hG4bKcli1"), std::string::npos);
  EXPECT_EQ(cb.statuses, std::vector<int>{486});
  peer_.sendTo(port_, busy);  // retransmitted final: ACK again, no second callback
  got = run(20ms);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].substr(0, 4), "ACK ");
  EXPECT_EQ(cb.statuses.size(), 1u);
}

TEST_F(TxnTest, ClientInviteTimesOutWithTimerB) {
  RecordingClient cb;
  OutgoingRequest r;
  r.method = sip::Method::Invite;
  r.branch = "z9hG4bKcli2";
  r.requestUri = "sip:2000@127.0.0.1";
  r.via = "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKcli2";
  r.bytes = "INVITE sip:2000@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
  Flow to{transport::Protocol::Udp,
          *net::SockAddr::parse("127.0.0.1:" + std::to_string(peer_.port())),
          transport_.listeners().front().id, 0};
  txns_.sendRequest(std::move(r), to, &cb);
  run(64 * 20ms + 60ms);
  EXPECT_EQ(cb.timeouts, 1);
  EXPECT_EQ(txns_.stats().clientTimeouts, 1u);
}

TEST_F(TxnTest, CancelBeforeProvisionalWaitsForIt) {
  RecordingClient cb;
  OutgoingRequest r;
  r.method = sip::Method::Invite;
  r.branch = "z9hG4bKcli3";
  r.requestUri = "sip:2000@127.0.0.1";
  r.via = "SIP/2.0/UDP 127.0.0.1:" + std::to_string(port_) + ";branch=z9hG4bKcli3";
  r.from = "<sip:us@127.0.0.1>;tag=f3";
  r.to = "<sip:2000@127.0.0.1>";
  r.callId = "cli-call-3";
  r.cseq = 5;
  r.bytes = "INVITE sip:2000@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
  Flow to{transport::Protocol::Udp,
          *net::SockAddr::parse("127.0.0.1:" + std::to_string(peer_.port())),
          transport_.listeners().front().id, 0};
  TxnId id = txns_.sendRequest(std::move(r), to, &cb);
  run(5ms);
  txns_.cancelClient(id);
  for (auto& m : run(10ms)) EXPECT_NE(m.substr(0, 7), "CANCEL ") << "CANCEL before a provisional";
  peer_.sendTo(port_, "SIP/2.0 180 Ringing\r\nVia: " + std::string("SIP/2.0/UDP 127.0.0.1:") +
                          std::to_string(port_) +
                          ";branch=z9hG4bKcli3\r\n"
                          "From: <sip:us@127.0.0.1>;tag=f3\r\nTo: <sip:2000@127.0.0.1>;tag=r3\r\n"
                          "Call-ID: cli-call-3\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n");
  bool sawCancel = false;
  for (auto& m : run(20ms)) {
    if (m.substr(0, 7) == "CANCEL ") {
      sawCancel = true;
      EXPECT_NE(m.find("CSeq: 5 CANCEL"), std::string::npos);
      EXPECT_NE(m.find("branch=z9hG4bKcli3"), std::string::npos);
    }
  }
  EXPECT_TRUE(sawCancel);
}

TEST_F(TxnTest, UnknownResponseIsStray) {
  peer_.sendTo(port_,
               "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKnope\r\n"
               "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\n"
               "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  run(10ms);
  EXPECT_EQ(user_.stray, 1);
}

TEST_F(TxnTest, GarbageIsMalformed) {
  peer_.sendTo(port_, "HELLO WORLD\r\n\r\n");
  run(10ms);
  EXPECT_EQ(user_.malformed, 1);
}

}  // namespace
}  // namespace tollgate::txn
