// The call layer's call policy hooks (request router, live-call registry,
// calls) against a real UDP transport and transaction layer on loopback, with raw sockets playing
// the customer and the carrier: a refused call is answered with its code (Retry-After for calls per
// second) and leaves its CDR; the live-call snapshot and endCall() the management API builds on;
// cutting a number's calls; a full carrier skipped. Waits have deadlines.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "auth/digest_client.h"
#include "call/call_registry.h"
#include "call/carrier_requests.h"
#include "call/cdr_recorder.h"
#include "call/local_address.h"
#include "call/request_router.h"
#include "call/services.h"
#include "registrar/outbound.h"
#include "registrar/registrar.h"

namespace tollgate::call {
namespace {

using namespace std::chrono_literals;

class ForwardSink final : public transport::MessageSink {
 public:
  void onMessage(const transport::Flow& from, std::string&& bytes) override {
    if (target) target->onMessage(from, std::move(bytes));
  }
  void onConnectionClosed(transport::ConnectionId) override {}
  transport::MessageSink* target = nullptr;
};

class CdrList final : public CdrSink {
 public:
  void submit(Cdr&& cdr) override {
    std::lock_guard<std::mutex> lock(mu);
    cdrs.push_back(std::move(cdr));
  }
  std::vector<Cdr> all() {
    std::lock_guard<std::mutex> lock(mu);
    return cdrs;
  }
  std::mutex mu;
  std::vector<Cdr> cdrs;
};

// A raw UDP peer on 127.0.0.1.
class Peer {
 public:
  Peer() {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Peer() { close(fd_); }
  uint16_t port() const { return port_; }
  void send(uint16_t to, const std::string& bytes) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(to);
    sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  void poll() {
    char buf[65536];
    for (;;) {
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return;
      got.emplace_back(buf, static_cast<size_t>(n));
    }
  }
  // Messages whose first line starts with `start`.
  std::vector<std::string> with(const std::string& start) const {
    std::vector<std::string> out;
    for (const auto& m : got) {
      if (m.rfind(start, 0) == 0) out.push_back(m);
    }
    return out;
  }
  std::vector<std::string> got;

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

std::string header(const std::string& msg, const std::string& name) {
  size_t pos = msg.find("\r\n" + name + ":");
  if (pos == std::string::npos) return "";
  pos += name.size() + 3;
  while (msg[pos] == ' ') ++pos;
  return msg.substr(pos, msg.find("\r\n", pos) - pos);
}

// The call layer of one worker wired as app/call_layer.h does, with the
// peers' default settings.
struct Layer {
  Layer(EventLoop& loop, txn::TransactionLayer& txns, CdrSink& sink, Random& random,
        const Clock& clock, CallSettings s)
      : settings(std::move(s)),
        local(txns.transport(), settings.advertisedAddress),
        authenticator(random, clock, auth::AuthSettings{}),
        carrierDigest(random),
        registrar(loop, txns, clock, random, registrar::RegistrarSettings{},
                  [this](transport::ListenerId l) { return local.hostPort(l); }),
        outbound(loop, txns, clock, random, carrierDigest, settings.userAgent,
                 [this](transport::ListenerId l) { return local.hostPort(l); }),
        carriers(loop, txns, random, CarrierMonitorSettings{},
                 [this](transport::ListenerId l) { return local.hostPort(l); }),
        cdrs(loop, clock, sink, settings, stats),
        carrierRequests(loop, txns, carrierDigest, stats),
        services{.loop = loop,
                 .txns = txns,
                 .clock = clock,
                 .random = random,
                 .settings = settings,
                 .local = local,
                 .registrar = registrar,
                 .policy = policy,
                 .carriers = carriers,
                 .carrierDigest = carrierDigest,
                 .carrierRequests = carrierRequests,
                 .cdrs = cdrs,
                 .stats = stats},
        calls(services),
        router(services, calls, authenticator, outbound) {}

  const CallSettings settings;
  CallStats stats;
  LocalAddress local;
  auth::DigestAuthenticator authenticator;
  auth::DigestClient carrierDigest;
  registrar::Registrar registrar;
  registrar::OutboundRegistrations outbound;
  admission::CallPolicy policy;
  CarrierMonitor carriers;
  CdrRecorder cdrs;
  CarrierRequests carrierRequests;
  CallServices services;
  CallRegistry calls;
  RequestRouter router;
};

class CallLayerPolicyTest : public ::testing::Test {
 protected:
  CallLayerPolicyTest()
      : loop_(clock_),
        transport_(loop_, sink_),
        txns_(loop_, transport_, random_, txn::TimerSettings{100ms, 400ms, 500ms}) {
    sink_.target = &txns_;
    EXPECT_TRUE(transport_.listen(*transport::parseListenSpec("udp:127.0.0.1:0")).ok());
    port_ = transport_.listeners().front().address.port();
  }

  void start(admission::Provisioning p, CallSettings cfg = {}) {
    cfg.userAgent = "";
    layer_ = std::make_unique<Layer>(loop_, txns_, cdrs_, random_, clock_, cfg);
    layer_->router.setSnapshot(std::make_shared<const Snapshot>(p, 1));
  }

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
      const std::string callId = header(inv, "Call-ID");
      if (answered_.count(callId)) continue;
      answered_.insert(callId);
      std::string resp = "SIP/2.0 200 OK\r\nVia: " + header(inv, "Via") +
                         "\r\nFrom: " + header(inv, "From") + "\r\nTo: " + header(inv, "To") +
                         ";tag=carrier\r\nCall-ID: " + callId + "\r\nCSeq: 1 INVITE\r\n" +
                         "Contact: <sip:127.0.0.1:" + std::to_string(carrier_.port()) +
                         ">\r\nContent-Length: 0\r\n\r\n";
      carrier_.send(port_, resp);
    }
  }

  bool runUntil(const std::function<bool()>& pred, Millis deadline = 3000ms) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      loop_.runOnce(2ms);
      customer_.poll();
      carrier_.poll();
      carrierAnswers();
      if (pred()) return true;
    }
    return pred();
  }

  SystemClock clock_;
  CryptoRandom random_;
  EventLoop loop_;
  ForwardSink sink_;
  transport::Transport transport_;
  txn::TransactionLayer txns_;
  CdrList cdrs_;
  std::unique_ptr<Layer> layer_;
  uint16_t port_ = 0;
  Peer customer_;
  Peer carrier_;
  std::set<std::string> answered_;
};

TEST_F(CallLayerPolicyTest, CpsRefusalIs503WithRetryAfterAndACdr) {
  admission::CallLimitsSpec gw;
  gw.cps = 1;
  gw.cpsBurst = 1;
  start(provisioning(gw));
  customer_.send(port_, invite(1));
  customer_.send(port_, invite(2));
  ASSERT_TRUE(runUntil([&] { return !customer_.with("SIP/2.0 503").empty(); }));
  std::string refused = customer_.with("SIP/2.0 503")[0];
  EXPECT_EQ(header(refused, "Call-ID"), "call-2");
  EXPECT_EQ(header(refused, "Retry-After"), "1");
  ASSERT_TRUE(runUntil([&] { return cdrs_.all().size() == 1; }));
  Cdr c = cdrs_.all()[0];
  EXPECT_EQ(c.reason, TerminationReason::CpsLimit);
  EXPECT_EQ(c.finalCode, 503);
  EXPECT_EQ(c.mappingGateway, "cust");
  EXPECT_EQ(carrier_.with("INVITE ").size(), 1u) << "only the admitted call reached the carrier";
  EXPECT_EQ(layer_->policy.stats().refused[static_cast<size_t>(admission::Refusal::CpsLimit)], 1u);
}

TEST_F(CallLayerPolicyTest, LiveCallsAndEndCallByOperator) {
  start(provisioning());
  customer_.send(port_, invite(1));
  ASSERT_TRUE(runUntil([&] { return !customer_.with("SIP/2.0 200").empty(); }));
  auto live = layer_->calls.liveCalls();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].callId, "call-1");
  EXPECT_EQ(live[0].caller, "1001");
  EXPECT_EQ(live[0].callee, "15551234567");
  EXPECT_EQ(live[0].mappingGateway, "cust");
  EXPECT_EQ(live[0].routingGateway, "carrier");
  EXPECT_EQ(live[0].state, "answered");
  EXPECT_GT(live[0].answerUs, 0);

  EXPECT_FALSE(layer_->calls.endCall(live[0].id + 1000));
  ASSERT_TRUE(layer_->calls.endCall(live[0].id));
  ASSERT_TRUE(runUntil([&] {
    return !customer_.with("BYE ").empty() && !carrier_.with("BYE ").empty() &&
           cdrs_.all().size() == 1;
  }));
  Cdr c = cdrs_.all()[0];
  EXPECT_EQ(c.reason, TerminationReason::AdminHangup);
  EXPECT_EQ(c.hangup, HangupSide::System);
  EXPECT_TRUE(layer_->calls.liveCalls().empty());
  EXPECT_FALSE(layer_->calls.endCall(live[0].id));
}

TEST_F(CallLayerPolicyTest, CutCallsEndsOnlyTheNumbersCalls) {
  start(provisioning());
  customer_.send(port_, invite(1, "1001"));
  customer_.send(port_, invite(2, "2002"));
  ASSERT_TRUE(runUntil([&] { return customer_.with("SIP/2.0 200").size() == 2; }));
  EXPECT_EQ(layer_->calls.cutCalls("1001", admission::NumberSide::Callee), 0u);
  EXPECT_EQ(layer_->calls.cutCalls("1001", admission::NumberSide::Caller), 1u);
  ASSERT_TRUE(runUntil([&] { return cdrs_.all().size() == 1; }));
  EXPECT_EQ(cdrs_.all()[0].reason, TerminationReason::CallerBlacklisted);
  EXPECT_EQ(cdrs_.all()[0].callId, "call-1");
  auto live = layer_->calls.liveCalls();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].caller, "2002");
}

TEST_F(CallLayerPolicyTest, FullOnlyCarrierMeansCarrierUnavailable) {
  admission::CallLimitsSpec carrier;
  carrier.maxConcurrent = 1;
  start(provisioning({}, carrier));
  customer_.send(port_, invite(1));
  ASSERT_TRUE(runUntil([&] { return !customer_.with("SIP/2.0 200").empty(); }));
  customer_.send(port_, invite(2));
  ASSERT_TRUE(runUntil([&] { return !customer_.with("SIP/2.0 503").empty(); }));
  ASSERT_TRUE(runUntil([&] { return cdrs_.all().size() == 1; }));
  Cdr c = cdrs_.all()[0];
  EXPECT_EQ(c.reason, TerminationReason::CarrierUnavailable);
  EXPECT_EQ(c.gatewaysTried, "");
  EXPECT_EQ(layer_->policy.stats().carrierFull, 1u);
  // The first call ends: the carrier's channel is free again.
  ASSERT_TRUE(layer_->calls.endCall(layer_->calls.liveCalls()[0].id));
  customer_.send(port_, invite(3));
  ASSERT_TRUE(runUntil([&] { return carrier_.with("INVITE ").size() == 2; }));
}

}  // namespace
}  // namespace tollgate::call
