// The shield's decision path, bans, escalation and occupancy limits, on a
// manual clock.
#include "shield/shield.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace tollgate::shield {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;
using transport::Flow;

struct CollectingSink final : transport::MessageSink {
  void onMessage(const Flow&, std::string&& bytes) override { got.push_back(std::move(bytes)); }
  void onConnectionClosed(transport::ConnectionId id) override { closed.push_back(id); }
  std::vector<std::string> got;
  std::vector<transport::ConnectionId> closed;
};

struct RecordingListener final : BanListener {
  void onBanAdded(const BanInfo& ban, bool fromStore) override {
    added.push_back(ban);
    addedFromStore.push_back(fromStore);
  }
  void onBanRemoved(const PrefixKey& p) override { removed.push_back(p); }
  void onBanHits(const std::vector<BanHits>& h) override {
    hits.insert(hits.end(), h.begin(), h.end());
  }
  std::vector<BanInfo> added;
  std::vector<bool> addedFromStore;
  std::vector<PrefixKey> removed;
  std::vector<BanHits> hits;
};

std::string request(std::string_view method, std::string_view ua = "") {
  std::string m = std::string(method) + " sip:100@127.0.0.1 SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1;rport\r\n";
  m += "From: <sip:100@x>;tag=1\r\nTo: <sip:100@x>\r\nCall-ID: c1\r\n";
  m += "CSeq: 1 " + std::string(method) + "\r\n";
  if (!ua.empty()) m += "User-Agent: " + std::string(ua) + "\r\n";
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

net::Cidr cidr(const char* t) {
  return *net::Cidr::parse(t);
}

class ShieldTest : public ::testing::Test {
 protected:
  // A config with the per-source and per-prefix limits out of the way, so
  // each test turns on only what it looks at.
  static ShieldConfig loose() {
    ShieldConfig c;
    c.recentHits = 255;
    c.rate = 1e6;
    c.burst = 1e6;
    c.prefixRecentHits = 1'000'000;
    c.prefixRate = 1e6;
    c.prefixBurst = 1e6;
    return c;
  }

  void make(ShieldConfig c = loose()) {
    // Overload control has tests of its own (overload_test.cc); the manual
    // clock's jumps of minutes would read as a stalled loop.
    shield = std::make_unique<Shield>(loop, clock, random, std::move(c), sink,
                                      OverloadConfig{.enabled = false});
    shield->setBanListener(&listener);
    shield->setTrusted(shield->buildTrusted({cidr("127.0.0.1"), cidr("203.0.113.0/28")}));
  }

  Decision send(const char* ip, const std::string& msg, uint16_t port = 5060) {
    Flow f;
    f.remote = net::SockAddr(*net::IpAddress::parse(ip), port);
    return shield->inspect(f, msg, loop.now());
  }

  void advance(Millis d) {
    clock.advance(std::chrono::duration_cast<Micros>(d));
    loop.runOnce(Millis(0));
  }

  static bool dropped(const Decision& d, ShieldReason r) {
    return d.verdict == Verdict::Drop && d.reason == r;
  }

  ManualClock clock;
  EventLoop loop{clock};
  SeededRandom random{1};
  CollectingSink sink;
  RecordingListener listener;
  std::unique_ptr<Shield> shield;
};

TEST_F(ShieldTest, TrustedSourcesSkipEveryCheck) {
  make();
  EXPECT_EQ(send("127.0.0.1", request("OPTIONS", "friendly-scanner")).verdict, Verdict::Pass);
  EXPECT_EQ(send("203.0.113.9", request("OPTIONS")).verdict, Verdict::Pass);
  EXPECT_EQ(send("127.0.0.1", "garbage").verdict, Verdict::Pass);  // the parser answers it
  EXPECT_EQ(shield->stats().trusted, 3u);
  EXPECT_EQ(shield->stats().passed, 3u);
  EXPECT_TRUE(listener.added.empty());
}

TEST_F(ShieldTest, ScannerUserAgentIsDroppedAndBannedOnTheFirstPacket) {
  make();
  EXPECT_TRUE(
      dropped(send("192.0.2.9", request("REGISTER", "friendly-scanner")), ShieldReason::Signature));
  ASSERT_EQ(listener.added.size(), 1u);
  const BanInfo& b = listener.added[0];
  EXPECT_EQ(toString(b.prefix), "192.0.2.9");
  EXPECT_EQ(b.reason, BanReason::Signature);
  EXPECT_THAT(b.detail, HasSubstr("friendly-scanner"));
  EXPECT_EQ(b.level, 1);
  EXPECT_EQ(b.expiresUs - b.createdUs, 600'000'000);
  EXPECT_FALSE(listener.addedFromStore[0]);
  // Everything from it is dropped now, without a look at the bytes.
  EXPECT_TRUE(dropped(send("192.0.2.9", request("INVITE")), ShieldReason::Banned));
  EXPECT_TRUE(dropped(send("192.0.2.9", "SIP/2.0 200 OK\r\n\r\n"), ShieldReason::Banned));
  EXPECT_EQ(send("192.0.2.10", request("INVITE")).verdict, Verdict::Pass);
  const ShieldStats& s = shield->stats();
  EXPECT_EQ(s.dropped[static_cast<size_t>(ShieldReason::Signature)], 1u);
  EXPECT_EQ(s.dropped[static_cast<size_t>(ShieldReason::Banned)], 2u);
  EXPECT_EQ(s.bansActive, 1u);
  EXPECT_EQ(s.bansByReason[static_cast<size_t>(BanReason::Signature)], 1u);
}

TEST_F(ShieldTest, SignaturesMatchAnywhereInUserAgentIgnoringCase) {
  make();
  EXPECT_TRUE(dropped(send("192.0.2.1", request("INVITE", "Mozilla SIPVicious/0.3")),
                      ShieldReason::Signature));
  EXPECT_TRUE(dropped(send("192.0.2.2", request("INVITE", "vaxsipuseragent/3.1")),
                      ShieldReason::Signature));
  EXPECT_EQ(send("192.0.2.3", request("INVITE", "Linphone/5.1")).verdict, Verdict::Pass);
}

TEST_F(ShieldTest, EditedSignatureListReplacesTheDefaults) {
  ShieldConfig c = loose();
  c.userAgents = {"BadBot"};
  make(c);
  EXPECT_EQ(send("192.0.2.1", request("INVITE", "friendly-scanner")).verdict, Verdict::Pass);
  EXPECT_TRUE(dropped(send("192.0.2.2", request("INVITE", "x badbot")), ShieldReason::Signature));
}

TEST_F(ShieldTest, OptionsFromUntrustedSourcesAreDroppedOtherMethodsPass) {
  make();
  EXPECT_TRUE(dropped(send("192.0.2.1", request("OPTIONS")), ShieldReason::UnknownSource));
  EXPECT_EQ(send("192.0.2.1", request("REGISTER")).verdict, Verdict::Pass);
  EXPECT_EQ(send("192.0.2.1", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_EQ(send("192.0.2.1", "SIP/2.0 180 Ringing\r\n\r\n").verdict, Verdict::Pass);
  EXPECT_TRUE(listener.added.empty()) << "the method policy drops, it does not ban";
}

TEST_F(ShieldTest, MalformedFromUntrustedDropped) {
  make();
  EXPECT_TRUE(dropped(send("192.0.2.1", std::string("\x16\x03\x01", 3)), ShieldReason::Malformed));
  EXPECT_TRUE(dropped(send("192.0.2.1", "GET / HTTP/1.1\r\n\r\n"), ShieldReason::Malformed));
}

TEST_F(ShieldTest, SlidingWindowAdmitsNThenBans) {
  ShieldConfig c = loose();
  c.recentHits = 20;
  make(c);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(send("192.0.2.5", request("REGISTER")).verdict, Verdict::Pass) << i;
    advance(Millis(100));
  }
  EXPECT_TRUE(dropped(send("192.0.2.5", request("REGISTER")), ShieldReason::Rate));
  ASSERT_EQ(listener.added.size(), 1u);
  EXPECT_EQ(listener.added[0].reason, BanReason::Rate);
  EXPECT_THAT(listener.added[0].detail, HasSubstr("more than 20 messages in 60 s"));
  EXPECT_TRUE(dropped(send("192.0.2.5", request("REGISTER")), ShieldReason::Banned));
}

TEST_F(ShieldTest, SlidingWindowForgetsOldMessages) {
  ShieldConfig c = loose();
  c.recentHits = 20;
  c.autoBan = false;
  make(c);
  // 20 messages spread over one minute are fine, and so are 20 more a
  // minute later: the window slides.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20; ++i) {
      ASSERT_EQ(send("192.0.2.5", request("REGISTER")).verdict, Verdict::Pass) << round << "/" << i;
      advance(Millis(3000));
    }
    advance(Millis(60'000));
  }
}

TEST_F(ShieldTest, TokenBucketAllowsTheBurstThenTheRate) {
  ShieldConfig c = loose();
  c.rate = 10;
  c.burst = 20;
  c.autoBan = false;  // to watch the bucket refill
  make(c);
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(send("192.0.2.6", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_TRUE(dropped(send("192.0.2.6", request("INVITE")), ShieldReason::Rate));
  advance(Millis(100));  // one token at 10/s
  EXPECT_EQ(send("192.0.2.6", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_TRUE(dropped(send("192.0.2.6", request("INVITE")), ShieldReason::Rate));
  EXPECT_TRUE(listener.added.empty());
}

TEST_F(ShieldTest, PrefixRateBansTheWholePrefix) {
  ShieldConfig c = loose();
  c.prefixRecentHits = 50;
  make(c);
  // 50 sources of one /24, one message each: each alone is far below its
  // own limit; together they trip the prefix.
  for (int i = 1; i <= 50; ++i) {
    std::string src = "198.51.100." + std::to_string(i);
    ASSERT_EQ(send(src.c_str(), request("INVITE")).verdict, Verdict::Pass) << i;
  }
  EXPECT_TRUE(dropped(send("198.51.100.51", request("INVITE")), ShieldReason::PrefixRate));
  ASSERT_EQ(listener.added.size(), 1u);
  EXPECT_EQ(toString(listener.added[0].prefix), "198.51.100.0/24");
  EXPECT_EQ(listener.added[0].reason, BanReason::PrefixRate);
  EXPECT_TRUE(dropped(send("198.51.100.200", request("INVITE")), ShieldReason::Banned));
  EXPECT_EQ(send("198.51.101.1", request("INVITE")).verdict, Verdict::Pass);
}

TEST_F(ShieldTest, Ipv6PrefixIsA64ByDefault) {
  ShieldConfig c = loose();
  c.prefixRecentHits = 3;
  make(c);
  EXPECT_EQ(send("2001:db8:0:1::1", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_EQ(send("2001:db8:0:1::2", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_EQ(send("2001:db8:0:1:ffff::3", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_TRUE(dropped(send("2001:db8:0:1::4", request("INVITE")), ShieldReason::PrefixRate));
  ASSERT_EQ(listener.added.size(), 1u);
  EXPECT_EQ(toString(listener.added[0].prefix), "2001:db8:0:1::/64");
  EXPECT_EQ(send("2001:db8:0:2::1", request("INVITE")).verdict, Verdict::Pass);
}

TEST_F(ShieldTest, CountOnlyChecksCountAndPass) {
  ShieldConfig c = loose();
  c.signatureMode = Mode::CountOnly;
  c.methodMode = Mode::CountOnly;
  c.recentHits = 2;
  c.rateMode = Mode::CountOnly;
  make(c);
  EXPECT_EQ(send("192.0.2.1", request("OPTIONS", "friendly-scanner")).verdict, Verdict::Pass);
  EXPECT_EQ(send("192.0.2.1", request("OPTIONS", "friendly-scanner")).verdict, Verdict::Pass);
  EXPECT_EQ(send("192.0.2.1", request("OPTIONS", "friendly-scanner")).verdict, Verdict::Pass);
  const ShieldStats& s = shield->stats();
  EXPECT_EQ(s.wouldDrop[static_cast<size_t>(ShieldReason::Signature)], 3u);
  EXPECT_EQ(s.wouldDrop[static_cast<size_t>(ShieldReason::UnknownSource)], 3u);
  EXPECT_EQ(s.wouldDrop[static_cast<size_t>(ShieldReason::Rate)], 1u);
  EXPECT_EQ(s.dropped[static_cast<size_t>(ShieldReason::Signature)], 0u);
  EXPECT_EQ(s.passed, 3u);
  EXPECT_TRUE(listener.added.empty());
}

TEST_F(ShieldTest, CountOnlyBansAreRecordedButNotEnforced) {
  ShieldConfig c = loose();
  c.banMode = Mode::CountOnly;
  make(c);
  EXPECT_TRUE(dropped(send("192.0.2.1", request("INVITE", "sipcli")), ShieldReason::Signature));
  ASSERT_EQ(listener.added.size(), 1u);
  EXPECT_FALSE(listener.added[0].enforced);
  EXPECT_EQ(send("192.0.2.1", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_EQ(shield->stats().wouldDrop[static_cast<size_t>(ShieldReason::Banned)], 1u);
}

TEST_F(ShieldTest, BanExpiresAndRepeatOffendersEscalate) {
  ShieldConfig c = loose();
  c.banTime = seconds(10);
  c.banEscalation = 4;
  c.banMaxTime = seconds(100);
  c.banMemory = seconds(1000);
  make(c);
  auto scan = [&] { return send("192.0.2.7", request("INVITE", "sipvicious")); };
  EXPECT_TRUE(dropped(scan(), ShieldReason::Signature));
  advance(Millis(9'999));
  EXPECT_TRUE(dropped(send("192.0.2.7", request("INVITE")), ShieldReason::Banned));
  advance(Millis(1));
  EXPECT_EQ(send("192.0.2.7", request("INVITE")).verdict, Verdict::Pass);  // expired
  EXPECT_TRUE(dropped(scan(), ShieldReason::Signature));                   // again: 4x
  advance(Millis(40'000));
  EXPECT_TRUE(dropped(scan(), ShieldReason::Signature));  // third: 16x = 160 s, capped at 100
  ASSERT_EQ(listener.added.size(), 3u);
  EXPECT_EQ(listener.added[0].level, 1);
  EXPECT_EQ(listener.added[1].level, 2);
  EXPECT_EQ(listener.added[2].level, 3);
  EXPECT_EQ(listener.added[1].expiresUs - listener.added[1].createdUs, 40'000'000);
  EXPECT_EQ(listener.added[2].expiresUs - listener.added[2].createdUs, 100'000'000);
  EXPECT_EQ(shield->stats().bansEscalated, 2u);
  // Past ban_memory after the last ban ends, the slate is clean.
  advance(Millis(100'000 + 1'000'000));
  EXPECT_TRUE(dropped(scan(), ShieldReason::Signature));
  EXPECT_EQ(listener.added.back().level, 1);
}

TEST_F(ShieldTest, SuspendFromAuthBansButNeverATrustedSource) {
  make();
  EXPECT_TRUE(shield->suspend(*net::IpAddress::parse("192.0.2.44"), BanReason::Auth,
                              "6 failed digest attempts for user 100", seconds(180)));
  ASSERT_EQ(listener.added.size(), 1u);
  EXPECT_EQ(listener.added[0].reason, BanReason::Auth);
  EXPECT_EQ(listener.added[0].expiresUs - listener.added[0].createdUs, 180'000'000);
  EXPECT_TRUE(dropped(send("192.0.2.44", request("REGISTER")), ShieldReason::Banned));
  auto why = shield->banFor(*net::IpAddress::parse("192.0.2.44"));
  ASSERT_TRUE(why);
  EXPECT_EQ(why->detail, "6 failed digest attempts for user 100");
  EXPECT_EQ(why->hits, 2u);  // the suspension itself and the REGISTER after it

  EXPECT_FALSE(shield->suspend(*net::IpAddress::parse("127.0.0.1"), BanReason::Auth, "x"));
  EXPECT_FALSE(shield->suspend(*net::IpAddress::parse("203.0.113.5"), BanReason::Auth, "x"));
  EXPECT_EQ(shield->stats().bansRefusedTrusted, 2u);
  EXPECT_EQ(listener.added.size(), 1u);
}

TEST_F(ShieldTest, StoredBansApplyWithoutEchoAndLiftOnDelete) {
  make();
  BanInfo b;
  b.prefix = *parsePrefix("10.9.0.0/16");
  b.reason = BanReason::Manual;
  b.manual = true;
  b.detail = "abuse ticket 7";
  b.createdUs = clock.wallMicros();
  b.expiresUs = 0;  // permanent
  shield->applyStoredBan(b);
  ASSERT_EQ(listener.added.size(), 1u);
  EXPECT_TRUE(listener.addedFromStore[0]);
  EXPECT_TRUE(dropped(send("10.9.200.1", request("INVITE")), ShieldReason::Banned));
  shield->applyStoredBan(b);  // read back again: nothing new
  EXPECT_EQ(listener.added.size(), 1u);
  advance(Millis(10LL * 365 * 86'400'000));
  EXPECT_TRUE(dropped(send("10.9.200.1", request("INVITE")), ShieldReason::Banned));
  shield->liftBan(b.prefix);
  ASSERT_EQ(listener.removed.size(), 1u);
  EXPECT_EQ(send("10.9.200.1", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_EQ(shield->stats().bansLifted, 1u);
}

TEST_F(ShieldTest, StoredBanThatExpiredIsHistoryOnly) {
  make();
  BanInfo b;
  b.prefix = *parsePrefix("192.0.2.8");
  b.reason = BanReason::Rate;
  b.createdUs = clock.wallMicros() - 700'000'000;
  b.expiresUs = clock.wallMicros() - 100'000'000;
  shield->applyStoredBan(b);
  EXPECT_TRUE(listener.added.empty());
  EXPECT_EQ(send("192.0.2.8", request("INVITE")).verdict, Verdict::Pass);
  // ...but it counts for escalation.
  EXPECT_TRUE(dropped(send("192.0.2.8", request("INVITE", "sipcli")), ShieldReason::Signature));
  ASSERT_EQ(listener.added.size(), 1u);
  EXPECT_EQ(listener.added[0].level, 2);
}

TEST_F(ShieldTest, HitCountsAreReportedPeriodically) {
  make();
  (void)send("192.0.2.9", request("INVITE", "sipvicious"));
  for (int i = 0; i < 5; ++i) (void)send("192.0.2.9", request("INVITE"));
  advance(kHitsReportInterval);
  ASSERT_EQ(listener.hits.size(), 1u);
  EXPECT_EQ(listener.hits[0].hits, 6u);
  advance(kHitsReportInterval);
  EXPECT_EQ(listener.hits.size(), 1u) << "unchanged counts are not reported again";
}

TEST_F(ShieldTest, OpenTransactionsAndDialogsLimitNewRequests) {
  ShieldConfig c = loose();
  c.maxConcurrent = 3;
  c.prefixMaxConcurrent = 5;
  make(c);
  auto a = *net::IpAddress::parse("192.0.2.20");
  for (int i = 0; i < 3; ++i) shield->opened(OccupancyKind::Transaction, a);
  EXPECT_TRUE(dropped(send("192.0.2.20", request("REGISTER")), ShieldReason::Concurrency));
  EXPECT_EQ(send("192.0.2.20", request("ACK")).verdict, Verdict::Pass);
  EXPECT_EQ(send("192.0.2.20", request("BYE")).verdict, Verdict::Pass);
  shield->closed(OccupancyKind::Transaction, a);
  EXPECT_EQ(send("192.0.2.20", request("REGISTER")).verdict, Verdict::Pass);
  // The prefix: 5 in all across its sources.
  auto b = *net::IpAddress::parse("192.0.2.21");
  for (int i = 0; i < 3; ++i) shield->opened(OccupancyKind::Dialog, b);
  EXPECT_EQ(send("192.0.2.22", request("INVITE")).verdict, Verdict::Pass);
  shield->opened(OccupancyKind::Dialog, a);
  shield->opened(OccupancyKind::Dialog, a);
  EXPECT_TRUE(dropped(send("192.0.2.22", request("INVITE")), ShieldReason::Concurrency));
  EXPECT_EQ(send("192.0.2.22", request("REGISTER")).verdict, Verdict::Pass);
  EXPECT_TRUE(listener.added.empty()) << "concurrency refuses, it does not ban";
}

TEST_F(ShieldTest, TcpConnectionsPerSourceAndPrefix) {
  using transport::Admission;
  ShieldConfig c = loose();
  c.maxConcurrent = 2;
  c.prefixMaxConcurrent = 3;
  make(c);
  auto at = [](const char* ip) { return net::SockAddr(*net::IpAddress::parse(ip), 40000); };
  auto open = [&](transport::ConnectionId id, const char* ip) {
    const Admission a = shield->acceptConnection(at(ip));
    if (a == Admission::Untrusted || a == Admission::Trusted)
      shield->onConnectionOpened(id, at(ip), a);
    return a;
  };
  EXPECT_EQ(open(1, "192.0.2.30"), Admission::Untrusted);
  EXPECT_EQ(open(2, "192.0.2.30"), Admission::Untrusted);
  EXPECT_EQ(open(0, "192.0.2.30"), Admission::UntrustedSource);
  EXPECT_EQ(open(3, "192.0.2.31"), Admission::Untrusted);
  EXPECT_EQ(open(0, "192.0.2.32"), Admission::UntrustedPrefix);  // the /24 holds 3
  shield->onConnectionClosed(1);
  EXPECT_EQ(shield->acceptConnection(at("192.0.2.32")), Admission::Untrusted);
  EXPECT_EQ(sink.closed, (std::vector<transport::ConnectionId>{1}));
  // Trusted sources are neither limited nor counted.
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(open(100 + i, "127.0.0.1"), Admission::Trusted);
  }
  EXPECT_EQ(shield->stats().connectionsRefused, 2u);
  EXPECT_EQ(shield->stats().openConnections, 2u);
  EXPECT_EQ(shield->stats().dropped[static_cast<size_t>(ShieldReason::Concurrency)], 2u);
  // IPv6: the prefix is the /64.
  EXPECT_EQ(open(10, "2001:db8:1:2::a"), Admission::Untrusted);
  EXPECT_EQ(open(11, "2001:db8:1:2::b"), Admission::Untrusted);
  EXPECT_EQ(open(12, "2001:db8:1:2:ffff::c"), Admission::Untrusted);
  EXPECT_EQ(open(0, "2001:db8:1:2::d"), Admission::UntrustedPrefix);
  EXPECT_EQ(open(13, "2001:db8:1:3::d"), Admission::Untrusted);  // the next /64
}

TEST_F(ShieldTest, ConnectionCountsSurviveAFloodOfNewSources) {
  // The per-source state of the rate checks is a bounded LRU table that a
  // flood of new (spoofable, UDP) sources churns. The connection counts
  // must not go with it, or a source could open its limit again and again.
  using transport::Admission;
  ShieldConfig c = loose();
  c.maxSources = 16;
  c.maxPrefixes = 16;
  c.maxConcurrent = 2;
  c.prefixMaxConcurrent = 2;
  make(c);
  // More holders than the tables' eviction probes look at, so the old ends
  // of the LRU lists are all pinned and get evicted regardless.
  std::vector<net::SockAddr> holders;
  transport::ConnectionId id = 0;
  for (int h = 0; h < 12; ++h) {
    holders.emplace_back(*net::IpAddress::parse("198.51." + std::to_string(h) + ".7"), 40000);
    for (int k = 0; k < 2; ++k) {
      ASSERT_EQ(shield->acceptConnection(holders.back()), Admission::Untrusted);
      shield->onConnectionOpened(++id, holders.back(), Admission::Untrusted);
    }
  }
  for (int i = 0; i < 200; ++i) {
    const std::string ip = "10.0." + std::to_string(i) + ".1";
    (void)send(ip.c_str(), request("REGISTER"));
  }
  EXPECT_GT(shield->stats().sourcesEvicted, 0u);
  for (const auto& h : holders) {
    EXPECT_EQ(shield->acceptConnection(h), Admission::UntrustedSource) << h.toString();
  }
  shield->onConnectionClosed(1);
  EXPECT_EQ(shield->acceptConnection(holders[0]), Admission::Untrusted);
  for (transport::ConnectionId i = 2; i <= id; ++i) shield->onConnectionClosed(i);
  EXPECT_EQ(shield->stats().openConnections, 0u);
}

TEST_F(ShieldTest, AcceptSaysWhoIsTrusted) {
  using transport::Admission;
  make();
  auto at = [](const char* ip) { return net::SockAddr(*net::IpAddress::parse(ip), 1); };
  EXPECT_EQ(shield->acceptConnection(at("127.0.0.1")), Admission::Trusted);     // gateway
  EXPECT_EQ(shield->acceptConnection(at("203.0.113.9")), Admission::Trusted);   // trusted CIDR
  EXPECT_EQ(shield->acceptConnection(at("192.0.2.80")), Admission::Untrusted);  // stranger
  shield->vouch(*net::IpAddress::parse("192.0.2.80"), seconds(10));
  EXPECT_EQ(shield->acceptConnection(at("192.0.2.80")), Admission::Trusted);  // vouched
  advance(Millis(10'001));
  EXPECT_EQ(shield->acceptConnection(at("192.0.2.80")), Admission::Untrusted);

  // With the checks off, the shield still says who is trusted (the
  // transport's reserved share depends on it) and refuses nobody.
  ShieldConfig off;
  off.enabled = false;
  off.maxConcurrent = 1;
  make(off);
  (void)shield->suspend(*net::IpAddress::parse("192.0.2.81"), BanReason::Manual, "test");
  EXPECT_EQ(shield->acceptConnection(at("127.0.0.1")), Admission::Trusted);
  EXPECT_EQ(shield->acceptConnection(at("192.0.2.81")), Admission::Untrusted);
}

TEST_F(ShieldTest, VouchAndProvisioningTakeOpenConnectionsOutOfTheLimits) {
  using transport::Admission;
  ShieldConfig c = loose();
  c.maxConcurrent = 2;
  make(c);
  const auto a = net::SockAddr(*net::IpAddress::parse("192.0.2.90"), 1);
  const auto b = net::SockAddr(*net::IpAddress::parse("192.0.2.91"), 1);
  shield->onConnectionOpened(1, a, Admission::Untrusted);
  shield->onConnectionOpened(2, a, Admission::Untrusted);
  shield->onConnectionOpened(3, b, Admission::Untrusted);
  EXPECT_EQ(shield->acceptConnection(a), Admission::UntrustedSource);
  // a authenticates (on connection 1, say): both its connections are trusted now.
  shield->vouch(a.ip(), seconds(60));
  EXPECT_EQ(shield->stats().openConnections, 1u);
  EXPECT_EQ(shield->acceptConnection(a), Admission::Trusted);
  // b is provisioned as a gateway.
  shield->setTrusted(shield->buildTrusted({cidr("192.0.2.91")}));
  EXPECT_EQ(shield->stats().openConnections, 0u);
  EXPECT_EQ(shield->acceptConnection(b), Admission::Trusted);
  shield->onConnectionClosed(1);
  shield->onConnectionClosed(3);
  EXPECT_EQ(sink.closed, (std::vector<transport::ConnectionId>{1, 3}));
}

TEST_F(ShieldTest, BannedSourcesCannotConnect) {
  make();
  (void)shield->suspend(*net::IpAddress::parse("192.0.2.40"), BanReason::Manual, "test");
  EXPECT_EQ(shield->acceptConnection(net::SockAddr(*net::IpAddress::parse("192.0.2.40"), 1)),
            transport::Admission::Banned);
  // A ban beats a vouch.
  shield->vouch(*net::IpAddress::parse("192.0.2.40"), seconds(100));
  EXPECT_EQ(shield->acceptConnection(net::SockAddr(*net::IpAddress::parse("192.0.2.40"), 1)),
            transport::Admission::Banned);
}

TEST_F(ShieldTest, TrustedExcessGets503NeverABan) {
  ShieldConfig c = loose();
  c.trustedRate = 1;
  c.trustedBurst = 2;
  make(c);
  EXPECT_EQ(send("127.0.0.1", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_EQ(send("127.0.0.1", request("OPTIONS")).verdict, Verdict::Pass);
  Decision d = send("127.0.0.1", request("INVITE"));
  EXPECT_EQ(d.verdict, Verdict::Reject503);
  EXPECT_EQ(d.reason, ShieldReason::TrustedExcess);
  // What continues a call is never refused.
  EXPECT_EQ(send("127.0.0.1", request("ACK")).verdict, Verdict::Pass);
  EXPECT_EQ(send("127.0.0.1", request("BYE")).verdict, Verdict::Pass);
  EXPECT_EQ(send("127.0.0.1", request("CANCEL")).verdict, Verdict::Pass);
  EXPECT_EQ(send("127.0.0.1", "SIP/2.0 200 OK\r\n\r\n").verdict, Verdict::Pass);
  advance(Millis(1000));
  EXPECT_EQ(send("127.0.0.1", request("INVITE")).verdict, Verdict::Pass);
  EXPECT_TRUE(listener.added.empty());
  EXPECT_EQ(shield->stats().dropped[static_cast<size_t>(ShieldReason::TrustedExcess)], 1u);
}

TEST_F(ShieldTest, ProvisioningChangesTheTrustedSet) {
  make();
  EXPECT_TRUE(dropped(send("192.0.2.50", request("OPTIONS")), ShieldReason::UnknownSource));
  shield->setTrusted(shield->buildTrusted({cidr("192.0.2.50")}));
  EXPECT_EQ(send("192.0.2.50", request("OPTIONS")).verdict, Verdict::Pass);
  EXPECT_FALSE(shield->isTrusted(*net::IpAddress::parse("127.0.0.1")));  // no longer a gateway
}

TEST_F(ShieldTest, ShieldTrustedSettingIsAlwaysTrusted) {
  ShieldConfig c = loose();
  c.trusted = {cidr("100.64.0.0/10")};
  make(c);
  shield->setTrusted(shield->buildTrusted({}));
  EXPECT_EQ(send("100.100.1.1", request("OPTIONS", "friendly-scanner")).verdict, Verdict::Pass);
}

TEST_F(ShieldTest, DisabledShieldPassesEverything) {
  ShieldConfig c = loose();
  c.enabled = false;
  make(c);
  EXPECT_EQ(send("192.0.2.1", request("OPTIONS", "friendly-scanner")).verdict, Verdict::Pass);
}

TEST_F(ShieldTest, SourceTableIsBoundedAndEvicts) {
  ShieldConfig c = loose();
  c.maxSources = 100;
  c.maxPrefixes = 10;
  make(c);
  for (uint32_t i = 0; i < 5000; ++i) {
    Flow f;
    f.remote = net::SockAddr(net::IpAddress::fromV4(0x0a000000u + i * 7), 5060);
    (void)shield->inspect(f, request("INVITE"), loop.now());
  }
  const ShieldStats& s = shield->stats();
  EXPECT_EQ(s.sources, 100u);
  EXPECT_EQ(s.prefixes, 10u);
  EXPECT_EQ(s.sourcesEvicted, 4900u);
  EXPECT_GT(s.prefixesEvicted, 0u);
}

TEST_F(ShieldTest, IdleSourcesExpire) {
  make();
  for (int i = 1; i <= 50; ++i) {
    std::string src = "192.0.2." + std::to_string(i);
    (void)send(src.c_str(), request("INVITE"));
  }
  EXPECT_EQ(shield->stats().sources, 50u);
  advance(Millis(61'000));
  for (int i = 0; i < 5; ++i) advance(kHitsReportInterval);
  EXPECT_EQ(shield->stats().sources, 0u);
  EXPECT_EQ(shield->stats().prefixes, 0u);
}

TEST_F(ShieldTest, VouchedSourcesAreTrustedUntilTheVouchEndsOrABan) {
  ShieldConfig c = loose();
  c.recentHits = 3;
  make(c);
  auto a = *net::IpAddress::parse("192.0.2.60");
  shield->vouch(a, seconds(10));
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(send("192.0.2.60", request("INVITE")).verdict, Verdict::Pass) << i;
  }
  EXPECT_EQ(send("192.0.2.60", request("OPTIONS", "friendly-scanner")).verdict, Verdict::Pass);
  EXPECT_EQ(shield->stats().vouched, 1u);
  advance(Millis(10'001));
  // Vouch over: a stranger again, and over its window at once.
  for (int i = 0; i < 3; ++i) (void)send("192.0.2.60", request("INVITE"));
  EXPECT_TRUE(dropped(send("192.0.2.60", request("INVITE")), ShieldReason::Rate));
  // A suspension ends a vouch; a ban beats a vouch.
  auto b = *net::IpAddress::parse("192.0.2.61");
  shield->vouch(b, seconds(100));
  EXPECT_TRUE(shield->suspend(b, BanReason::Auth, "6 failed attempts"));
  EXPECT_TRUE(dropped(send("192.0.2.61", request("REGISTER")), ShieldReason::Banned));
  shield->vouch(b, seconds(100));
  EXPECT_TRUE(dropped(send("192.0.2.61", request("REGISTER")), ShieldReason::Banned));
  shield->unvouch(b);
  EXPECT_EQ(shield->stats().vouched, 0u);
}

}  // namespace
}  // namespace tollgate::shield
