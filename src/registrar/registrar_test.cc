// The registrar on a real UDP transport and transaction layer on loopback,
// with a raw socket as the phone: REGISTER processing (200 with every
// binding, 423 + Min-Expires, clamping, "*", out-of-order CSeq), replace on
// and off, max_contacts, expiry, liveness probes, connection loss, and the
// listener that persists bindings.
#include "registrar/registrar.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/log.h"
#include "test_support/loopback_peer.h"
#include "transport/forwarding_sink.h"

namespace tollgate::registrar {
namespace {

using namespace std::chrono_literals;
using transport::Flow;

const bool kQuietLogs = (log::setLevel(log::Level::Warn), true);

using Phone = test_support::LoopbackPeer;

struct Recorder : BindingListener {
  void bindingSaved(const Binding& b) override {
    saved.push_back(b.contact + (b.online ? " online" : " offline"));
  }
  void bindingRemoved(const Binding& b) override { removed.push_back(b.contact); }
  std::vector<std::string> saved;
  std::vector<std::string> removed;
};

// Hands every REGISTER to the registrar as account "100" (the switch does
// the digest part); answers OPTIONS probes' responses are client-side.
struct RegisteringUser : txn::TransactionUser {
  txn::TransactionLayer* layer = nullptr;
  Registrar* registrar = nullptr;
  admission::GatewayInfo account;
  Flow overrideFlow;
  bool useOverride = false;
  void onRequest(sip::MessagePtr r, const Flow& from) override {
    if (r->method() != sip::Method::Register) return;
    txn::TxnId id = layer->createServer(std::move(r), from);
    registrar->onRegister(id, *layer->serverRequest(id), useOverride ? overrideFlow : from,
                          account);
  }
  void onStrayResponse(sip::MessagePtr, const Flow&) override {}
  void onMalformed(const Flow&, std::string_view, const sip::ParseError&) override {}
  void onCancel(txn::TxnId) override {}
  void onAckTimeout(txn::TxnId) override {}
};

class RegistrarTest : public ::testing::Test {
 protected:
  void SetUp() override { build(RegistrarSettings{}); }

  void build(RegistrarSettings s) {
    registrar_.reset();
    registrar_ = std::make_unique<Registrar>(
        loop_, txns_, clock_, random_, s,
        [](transport::ListenerId) { return std::string("127.0.0.1:5060"); });
    registrar_->setListener(&rec_);
    user_.layer = &txns_;
    user_.registrar = registrar_.get();
    user_.account.name = "phone-100";
    user_.account.username = "100";
    user_.account.registers = true;
    user_.account.maxContacts = 1;
  }

  RegistrarTest()
      : loop_(clock_),
        transport_(loop_, sink_),
        txns_(loop_, transport_, random_, txn::TimerSettings{20ms, 160ms, 100ms}) {
    sink_.target = &txns_;
    auto l = transport_.listen(*transport::parseListenSpec("udp:127.0.0.1:0"));
    EXPECT_TRUE(l.ok());
    port_ = transport_.listeners().front().address.port();
    txns_.setUser(&user_);
  }
  ~RegistrarTest() override { registrar_.reset(); }

  std::string registerText(const std::string& contacts, const std::string& expires = "",
                           const std::string& callId = "reg-1", int cseq = 1) {
    std::string m =
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:" +
        std::to_string(phone_.port()) + ";branch=z9hG4bK" + random_.token(10) +
        ";rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:100@tollgate.local>;tag=f1\r\n"
        "To: <sip:100@tollgate.local>\r\nCall-ID: " +
        callId + "\r\nCSeq: " + std::to_string(cseq) + " REGISTER\r\n";
    if (!contacts.empty()) m += "Contact: " + contacts + "\r\n";
    if (!expires.empty()) m += "Expires: " + expires + "\r\n";
    m += "User-Agent: test-phone\r\nContent-Length: 0\r\n\r\n";
    return m;
  }

  // Sends a REGISTER and returns the final response's text.
  std::string reg(const std::string& contacts, const std::string& expires = "",
                  const std::string& callId = "reg-1", int cseq = 1) {
    phone_.sendTo(port_, registerText(contacts, expires, callId, cseq));
    std::string got;
    run(
        1s,
        [&](const std::string& m) {
          if (m.rfind("SIP/2.0 ", 0) == 0 && got.empty()) got = m;
        },
        [&] { return !got.empty(); });
    return got;
  }

  // Runs the loop for `d`, or until `done` holds.
  void run(Millis d, const std::function<void(const std::string&)>& onMsg = {},
           const std::function<bool()>& done = {}) {
    auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end && !(done && done())) {
      loop_.runOnce(2ms);
      for (auto& m : phone_.drain()) {
        if (onMsg) onMsg(m);
        if (answerOptions_ && m.rfind("OPTIONS ", 0) == 0) {
          ++probes_;
          answer(m);
        } else if (m.rfind("OPTIONS ", 0) == 0) {
          ++probes_;
        }
      }
    }
  }

  // 200 to a request: Via, From, To (tagged), Call-ID, CSeq copied.
  void answer(const std::string& req) {
    std::string out = "SIP/2.0 200 OK\r\n";
    size_t pos = req.find("\r\n") + 2;
    while (pos < req.size()) {
      size_t end = req.find("\r\n", pos);
      std::string line = req.substr(pos, end - pos);
      if (line.empty()) break;
      for (const char* h : {"Via:", "From:", "Call-ID:", "CSeq:"}) {
        if (line.rfind(h, 0) == 0) out += line + "\r\n";
      }
      if (line.rfind("To:", 0) == 0) out += line + ";tag=ph\r\n";
      pos = end + 2;
    }
    out += "Content-Length: 0\r\n\r\n";
    phone_.sendTo(port_, out);
  }

  static int status(const std::string& m) { return m.size() > 11 ? std::stoi(m.substr(8, 3)) : 0; }
  static std::string header(const std::string& m, const std::string& name) {
    size_t p = m.find("\r\n" + name + ": ");
    if (p == std::string::npos) return "";
    p += name.size() + 4;
    return m.substr(p, m.find("\r\n", p) - p);
  }
  std::string contact(int n) const { return "<sip:100@10.0.0." + std::to_string(n) + ":5060>"; }

  SystemClock clock_;
  CryptoRandom random_;
  EventLoop loop_;
  transport::ForwardingSink sink_;
  transport::Transport transport_;
  txn::TransactionLayer txns_;
  RegisteringUser user_;
  Recorder rec_;
  std::unique_ptr<Registrar> registrar_;
  Phone phone_;
  uint16_t port_ = 0;
  bool answerOptions_ = true;
  int probes_ = 0;
};

TEST_F(RegistrarTest, RegistersWithTheObservedSourceAndDefaultExpiry) {
  std::string r = reg(contact(5));
  ASSERT_EQ(status(r), 200) << r;
  EXPECT_EQ(header(r, "Contact"), "<sip:100@10.0.0.5:5060>;expires=3600");
  auto reach = registrar_->reachable("100");
  ASSERT_EQ(reach.size(), 1u);
  EXPECT_EQ(reach[0]->contact, "sip:100@10.0.0.5:5060");
  EXPECT_EQ(reach[0]->gateway, "phone-100");
  // NAT: calls go to where the REGISTER came from, not to 10.0.0.5.
  EXPECT_EQ(reach[0]->source.toString(), "127.0.0.1:" + std::to_string(phone_.port()));
  EXPECT_EQ(reach[0]->userAgent, "test-phone");
  EXPECT_EQ(rec_.saved, std::vector<std::string>{"sip:100@10.0.0.5:5060 online"});
}

TEST_F(RegistrarTest, TooBriefIs423AndTooLongIsClamped) {
  std::string r = reg(contact(5), "30");
  ASSERT_EQ(status(r), 423);
  EXPECT_EQ(header(r, "Min-Expires"), "60");
  EXPECT_FALSE(registrar_->hasBindings("100"));
  r = reg(contact(5) + ";expires=999999", "60");
  ASSERT_EQ(status(r), 200);
  EXPECT_EQ(header(r, "Contact"), "<sip:100@10.0.0.5:5060>;expires=7200")
      << "the contact's own expires wins over the header, then is clamped";
}

TEST_F(RegistrarTest, ReplaceKicksTheOldContact) {
  ASSERT_EQ(status(reg(contact(5))), 200);
  std::string r = reg(contact(6), "", "reg-2");
  ASSERT_EQ(status(r), 200);
  EXPECT_EQ(header(r, "Contact"), "<sip:100@10.0.0.6:5060>;expires=3600");
  EXPECT_EQ(rec_.removed, std::vector<std::string>{"sip:100@10.0.0.5:5060"});
  EXPECT_EQ(registrar_->stats().replaced, 1u);
}

TEST_F(RegistrarTest, OperatorUnregisterRemovesOneContactOrAll) {
  user_.account.maxContacts = 2;
  ASSERT_EQ(status(reg(contact(5))), 200);
  ASSERT_EQ(status(reg(contact(6), "", "reg-2")), 200);
  EXPECT_EQ(registrar_->unregister("100", "sip:100@10.0.0.9:5060"), 0u);  // no such contact
  EXPECT_EQ(registrar_->unregister("nobody"), 0u);
  EXPECT_EQ(registrar_->unregister("100", "sip:100@10.0.0.5:5060"), 1u);
  ASSERT_EQ(registrar_->reachable("100").size(), 1u);
  EXPECT_EQ(registrar_->reachable("100")[0]->contact, "sip:100@10.0.0.6:5060");
  EXPECT_EQ(registrar_->unregister("100"), 1u);
  EXPECT_FALSE(registrar_->hasBindings("100"));
  EXPECT_EQ(rec_.removed,
            (std::vector<std::string>{"sip:100@10.0.0.5:5060", "sip:100@10.0.0.6:5060"}));
}

TEST_F(RegistrarTest, ReplaceOffRefusesTheNewContactAndKeepsTheOld) {
  RegistrarSettings s;
  s.replace = false;
  build(s);
  ASSERT_EQ(status(reg(contact(5))), 200);
  std::string r = reg(contact(6), "", "reg-2");
  ASSERT_EQ(status(r), kReplaceRefusedCode);
  EXPECT_NE(header(r, "Warning").find("already registered"), std::string::npos);
  auto reach = registrar_->reachable("100");
  ASSERT_EQ(reach.size(), 1u);
  EXPECT_EQ(reach[0]->contact, "sip:100@10.0.0.5:5060");
  // A refresh of the bound contact is always fine.
  EXPECT_EQ(status(reg(contact(5), "", "reg-1", 2)), 200);
}

TEST_F(RegistrarTest, MaxContactsHoldsSeveral) {
  user_.account.maxContacts = 2;
  ASSERT_EQ(status(reg(contact(5))), 200);
  std::string r = reg(contact(6), "", "reg-2");
  ASSERT_EQ(status(r), 200);
  EXPECT_EQ(registrar_->reachable("100").size(), 2u);
  EXPECT_EQ(status(reg(contact(7), "", "reg-3")), 200);  // replace: the oldest goes
  auto reach = registrar_->reachable("100");
  ASSERT_EQ(reach.size(), 2u);
  EXPECT_EQ(reach[0]->contact, "sip:100@10.0.0.7:5060") << "most recent first";
  EXPECT_EQ(reach[1]->contact, "sip:100@10.0.0.6:5060");
}

TEST_F(RegistrarTest, WildcardRemovesEverythingOnlyWithExpiresZero) {
  user_.account.maxContacts = 2;
  ASSERT_EQ(status(reg(contact(5))), 200);
  ASSERT_EQ(status(reg(contact(6), "", "reg-2")), 200);
  EXPECT_EQ(status(reg("*", "60", "reg-3")), 400);
  std::string r = reg("*", "0", "reg-3", 3);
  ASSERT_EQ(status(r), 200);
  EXPECT_EQ(header(r, "Contact"), "");
  EXPECT_FALSE(registrar_->hasBindings("100"));
  EXPECT_EQ(rec_.removed.size(), 2u);
}

TEST_F(RegistrarTest, QueryAndOutOfOrderCseq) {
  ASSERT_EQ(status(reg(contact(5), "", "reg-1", 5)), 200);
  std::string q = reg("", "", "reg-9");
  ASSERT_EQ(status(q), 200);
  EXPECT_EQ(header(q, "Contact"), "<sip:100@10.0.0.5:5060>;expires=3600");
  EXPECT_EQ(status(reg(contact(5), "", "reg-1", 4)), 400) << "older CSeq of the same Call-ID";
  EXPECT_EQ(status(reg(contact(5), "0", "reg-1", 6)), 200);
  EXPECT_FALSE(registrar_->hasBindings("100"));
}

TEST_F(RegistrarTest, BindingExpires) {
  RegistrarSettings s;
  s.minExpires = 1s;
  build(s);
  ASSERT_EQ(status(reg(contact(5), "1")), 200);
  EXPECT_TRUE(registrar_->hasBindings("100"));
  run(2000ms, {}, [&] { return !registrar_->hasBindings("100"); });
  EXPECT_FALSE(registrar_->hasBindings("100"));
  EXPECT_EQ(registrar_->stats().expired, 1u);
  EXPECT_EQ(rec_.removed, std::vector<std::string>{"sip:100@10.0.0.5:5060"});
}

TEST_F(RegistrarTest, SilentContactGoesOfflineAndComesBack) {
  RegistrarSettings s;
  s.keepaliveInterval = 1s;
  build(s);
  ASSERT_EQ(status(reg(contact(5))), 200);
  run(2000ms, {}, [&] { return probes_ >= 1; });
  EXPECT_GE(probes_, 1);
  EXPECT_EQ(registrar_->reachable("100").size(), 1u);
  answerOptions_ = false;
  // Silent from now: offline within 1.5 intervals (the next probe, plus half
  // an interval to answer), not at expiry.
  run(2000ms, {}, [&] { return registrar_->reachable("100").empty(); });
  EXPECT_TRUE(registrar_->reachable("100").empty()) << "offline without waiting for expiry";
  EXPECT_TRUE(registrar_->hasBindings("100"));
  answerOptions_ = true;
  run(2000ms, {}, [&] { return registrar_->reachable("100").size() == 1; });
  EXPECT_EQ(registrar_->reachable("100").size(), 1u);
  EXPECT_EQ(registrar_->stats().wentOffline, 1u);
  EXPECT_EQ(registrar_->stats().cameOnline, 1u);
  EXPECT_EQ(rec_.saved.back(), "sip:100@10.0.0.5:5060 online");
}

TEST_F(RegistrarTest, ClosedConnectionMakesItsBindingsOffline) {
  user_.useOverride = true;
  user_.overrideFlow =
      Flow{transport::Protocol::Tcp, *net::SockAddr::parse("127.0.0.1:40000"), 0, 42};
  ASSERT_EQ(status(reg(contact(5))), 200);
  ASSERT_EQ(registrar_->reachable("100").size(), 1u);
  EXPECT_EQ(registrar_->reachable("100")[0]->connection, 42u);
  registrar_->onConnectionClosed(41);
  EXPECT_EQ(registrar_->reachable("100").size(), 1u);
  registrar_->onConnectionClosed(42);
  EXPECT_TRUE(registrar_->reachable("100").empty());
}

TEST_F(RegistrarTest, RetainAccountsDropsAccountsThatStoppedRegistering) {
  ASSERT_EQ(status(reg(contact(5))), 200);
  admission::GatewayInfo still = user_.account;
  registrar_->retainAccounts([&](std::string_view u) { return u == "100" ? &still : nullptr; });
  EXPECT_TRUE(registrar_->hasBindings("100"));
  registrar_->retainAccounts([](std::string_view) { return nullptr; });
  EXPECT_FALSE(registrar_->hasBindings("100"));
  EXPECT_EQ(rec_.removed, std::vector<std::string>{"sip:100@10.0.0.5:5060"});
}

TEST_F(RegistrarTest, RestoreSkipsExpiredBindings) {
  const int64_t now = clock_.wallMicros();
  Binding live;
  live.username = "100";
  live.contact = "sip:100@10.0.0.5";
  live.expiresUs = now + 60'000'000;
  live.local = transport_.listeners()[0].address;
  Binding dead = live;
  dead.contact = "sip:100@10.0.0.6";
  dead.expiresUs = now - 1;
  registrar_->restore({live, dead}, [](transport::Protocol, const net::SockAddr&) {
    return transport::ListenerId{0};
  });
  auto all = registrar_->bindings();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].contact, "sip:100@10.0.0.5");
  EXPECT_EQ(all[0].listener, 0);
}

}  // namespace
}  // namespace tollgate::registrar
