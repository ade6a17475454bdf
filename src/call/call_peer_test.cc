// Peer delivery on the test harness (test_support/call_scenario.h): the
// real call layer with a scripted registrar::PeerBindings standing for the
// cluster (the Redis side has its own tests: tests/integration/
// test_cluster_registrar.py). A call to an account without a local binding
// waits for the owners, goes to the owning node with the peer header,
// fails over on the owner's 480 and ends 480 callee_offline; a request
// carrying the header is refused 403 unless the cluster vouches for it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "auth/digest.h"
#include "call/cdr.h"
#include "registrar/peer_bindings.h"
#include "test_support/call_scenario.h"

namespace tollgate::call {
namespace {

using registrar::PeerVerdict;
using test_support::headerValue;
using test_support::LoopbackPeer;
using test_support::request;

// The cluster as the call layer sees it: owners answered on a later loop
// turn (as Redis would), a fixed signature, a scripted verdict.
class ScriptedPeers final : public registrar::PeerBindings {
 public:
  explicit ScriptedPeers(EventLoop& loop) : loop_(loop) {}
  void owners(std::string username,
              std::function<void(std::vector<registrar::PeerOwner>)> done) override {
    asked.push_back(username);
    loop_.post([this, done = std::move(done)] { done(found); });
  }
  std::string sign(std::string_view callId, std::string_view fromTag,
                   std::string_view username) override {
    signedFor.push_back(std::string(callId) + "/" + std::string(fromTag) + "/" +
                        std::string(username));
    return "node-b;1;" + std::string(32, 'a');
  }
  PeerVerdict verify(const net::SockAddr&, std::string_view, std::string_view, std::string_view,
                     std::string_view, std::string* node) override {
    *node = "node-a";
    return verdict;
  }

  std::vector<registrar::PeerOwner> found;
  PeerVerdict verdict = PeerVerdict::BadMac;
  std::vector<std::string> asked;
  std::vector<std::string> signedFor;

 private:
  EventLoop& loop_;
};

class CallPeerTest : public ::testing::Test, protected test_support::CallScenario {
 protected:
  CallPeerTest() {
    h.addPeer(nodeA_);
    h.addPeer(nodeC_);
  }
  // "cust", carrier1 (every number) and the registering account 100,
  // registered nowhere on this node.
  void startWithAccount() {
    admission::Provisioning p = provisioning(1);
    admission::MappingGateway g;
    g.name = "phone-100";
    g.auth = admission::AuthMode::Password;
    g.username = "100";
    g.realm = settings().auth.realm;
    auth::DigestHasher hasher;
    g.ha1Md5 = hasher.ha1(auth::Algorithm::Md5, "100", g.realm, "pw");
    g.registers = true;
    p.mappingGateways.push_back(g);
    start(p);
    layer().services.peers = &peers_;
  }
  // The customer's INVITE to `user` (Call-ID "peer-<n>").
  std::string inviteTo(const std::string& user, int n, const std::string& extra = "") {
    const std::string me = customer.hostPort();
    std::string inv = request({.method = "INVITE",
                               .uri = "sip:" + user + "@127.0.0.1:" + std::to_string(h.port),
                               .via = me,
                               .branch = "z9hG4bK-p" + std::to_string(n),
                               .from = "<sip:1001@" + me + ">;tag=f" + std::to_string(n),
                               .to = "<sip:" + user + "@127.0.0.1>",
                               .callId = "peer-" + std::to_string(n),
                               .cseq = 1,
                               .extraHeaders = "Contact: <sip:1001@" + me + ">\r\n" + extra,
                               .body = ""});
    customer.sendTo(h.port, inv);
    h.settle();
    return inv;
  }
  static registrar::PeerOwner owner(const std::string& id, const LoopbackPeer& p) {
    return {id, *net::SockAddr::parse(p.hostPort())};
  }
  static std::string tagOf(const std::string& fromValue) {
    const size_t at = fromValue.find(";tag=");
    return at == std::string::npos ? "" : fromValue.substr(at + 5);
  }
  Cdr onlyCdr() {
    std::vector<Cdr> all = h.cdrs.all();
    EXPECT_EQ(all.size(), 1u);
    return all.empty() ? Cdr{} : all.back();
  }

  ScriptedPeers peers_{h.loop};
  LoopbackPeer nodeA_{"127.0.0.4"};
  LoopbackPeer nodeC_{"127.0.0.5"};
};

TEST_F(CallPeerTest, AccountRegisteredElsewhereIsCalledThroughItsOwnersInOrder) {
  startWithAccount();
  peers_.found = {owner("node-a", nodeA_), owner("node-c", nodeC_)};
  inviteTo("100", 1);
  EXPECT_EQ(peers_.asked, std::vector<std::string>{"100"});
  ASSERT_EQ(requests(nodeA_, "INVITE").size(), 1u);
  const std::string first = requests(nodeA_, "INVITE")[0];
  EXPECT_EQ(first.substr(0, first.find("\r\n")),
            "INVITE sip:100@" + nodeA_.hostPort() + " SIP/2.0");
  EXPECT_EQ(headerValue(first, "X-Tollgate-Peer"), "node-b;1;" + std::string(32, 'a'));
  // Signed for the leg it travels on, and the account.
  ASSERT_EQ(peers_.signedFor.size(), 1u);
  EXPECT_EQ(peers_.signedFor[0],
            headerValue(first, "Call-ID") + "/" + tagOf(headerValue(first, "From")) + "/100");
  EXPECT_TRUE(requests(carrier(1), "INVITE").empty())
      << "an account's call never leaks to a carrier";
  EXPECT_TRUE(requests(nodeC_, "INVITE").empty()) << "the next owner waits its turn";

  // The owner's binding went meanwhile: 480 -> the next owner.
  answer(nodeA_, first, 480, "Temporarily Unavailable");
  ASSERT_EQ(requests(nodeC_, "INVITE").size(), 1u);
  answer(nodeC_, requests(nodeC_, "INVITE")[0], 480, "Temporarily Unavailable");
  EXPECT_EQ(responses(customer, "peer-1", 480).size(), 1u);
  const Cdr cdr = onlyCdr();
  EXPECT_EQ(cdr.reason, TerminationReason::CalleeOffline);
  EXPECT_EQ(cdr.gatewaysTried, "phone-100,phone-100");
  EXPECT_EQ(layer().stats.peerLookups, 1u);
  EXPECT_EQ(layer().stats.peerRouted, 1u);
}

TEST_F(CallPeerTest, NoLiveOwnerIs480CalleeOffline) {
  startWithAccount();
  inviteTo("100", 1);
  EXPECT_EQ(responses(customer, "peer-1", 480).size(), 1u);
  EXPECT_EQ(onlyCdr().reason, TerminationReason::CalleeOffline);
  EXPECT_TRUE(requests(carrier(1), "INVITE").empty());
  EXPECT_EQ(layer().stats.peerRouted, 0u);
}

TEST_F(CallPeerTest, PeerHeaderIsRefusedUnlessTheClusterVouchesForIt) {
  startWithAccount();
  const std::string hdr = "X-Tollgate-Peer: node-a;1;" + std::string(32, 'b') + "\r\n";
  peers_.verdict = PeerVerdict::BadMac;
  inviteTo("100", 1, hdr);
  EXPECT_EQ(responses(customer, "peer-1", 403).size(), 1u);
  EXPECT_EQ(layer().stats.peerRefused[static_cast<size_t>(PeerVerdict::BadMac)], 1u);
  // Authentic, but this node has no binding of the account: 480, never a
  // carrier (peer INVITEs deliver to registered accounts only).
  peers_.verdict = PeerVerdict::Authentic;
  inviteTo("15551234567", 2, hdr);
  EXPECT_EQ(responses(customer, "peer-2", 480).size(), 1u);
  EXPECT_EQ(layer().stats.peerInvitesNoBinding, 1u);
  // A single node (no cluster) refuses the header too.
  layer().services.peers = nullptr;
  inviteTo("100", 3, hdr);
  EXPECT_EQ(responses(customer, "peer-3", 403).size(), 1u);
  EXPECT_EQ(layer().stats.peerRefused[static_cast<size_t>(PeerVerdict::NotPeer)], 1u);
  EXPECT_TRUE(requests(carrier(1), "INVITE").empty());
}

}  // namespace
}  // namespace tollgate::call
