#include "mgmt/hep.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

namespace tollgate::mgmt {
namespace {

// HEP3 chunks by type (vendor 0), decoded from the packet as HEP3 rev12
// lays it out; the check that every byte is accounted for is the point.
std::map<uint16_t, std::string> decode(const std::string& p) {
  std::map<uint16_t, std::string> chunks;
  EXPECT_GE(p.size(), 6u);
  EXPECT_EQ(p.substr(0, 4), "HEP3");
  auto u16 = [&](size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(p[at]) << 8) |
                                 static_cast<uint8_t>(p[at + 1]));
  };
  EXPECT_EQ(u16(4), p.size());
  size_t at = 6;
  while (at + 6 <= p.size()) {
    EXPECT_EQ(u16(at), 0) << "vendor";
    const uint16_t type = u16(at + 2);
    const uint16_t len = u16(at + 4);
    EXPECT_GE(len, 6);
    EXPECT_LE(at + len, p.size());
    EXPECT_EQ(chunks.count(type), 0u) << "chunk " << type << " twice";
    chunks[type] = p.substr(at + 6, len - 6);
    at += len;
  }
  EXPECT_EQ(at, p.size());
  return chunks;
}

uint32_t be(const std::string& s) {
  uint32_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

net::SockAddr addr(const char* s) {
  return *net::SockAddr::parse(s);
}

TEST(HepTest, EncodesEveryChunkOfAnIpv4UdpMessage) {
  HepMeta m;
  m.timeUs = 1'700'000'123'456'789;
  m.source = addr("192.0.2.1:5060");
  m.destination = addr("198.51.100.2:5080");
  m.captureId = 2001;
  m.password = "secret";
  m.correlation = "abc@host";
  auto p = encodeHep(m, "OPTIONS sip:x SIP/2.0\r\n\r\n");
  ASSERT_TRUE(p);
  auto c = decode(*p);
  EXPECT_EQ(be(c[0x0001]), static_cast<uint32_t>(AF_INET));
  EXPECT_EQ(be(c[0x0002]), 17u);
  EXPECT_EQ(c[0x0003], std::string("\xc0\x00\x02\x01", 4));
  EXPECT_EQ(c[0x0004], std::string("\xc6\x33\x64\x02", 4));
  EXPECT_EQ(be(c[0x0007]), 5060u);
  EXPECT_EQ(be(c[0x0008]), 5080u);
  EXPECT_EQ(be(c[0x0009]), 1'700'000'123u);
  EXPECT_EQ(be(c[0x000a]), 456'789u);
  EXPECT_EQ(be(c[0x000b]), 1u);  // SIP
  EXPECT_EQ(be(c[0x000c]), 2001u);
  EXPECT_EQ(c[0x000e], "secret");
  EXPECT_EQ(c[0x0011], "abc@host");
  EXPECT_EQ(c[0x000f], "OPTIONS sip:x SIP/2.0\r\n\r\n");
}

TEST(HepTest, EncodesIpv6TcpAndLeavesOutEmptyOptionalChunks) {
  HepMeta m;
  m.source = addr("[2001:db8::1]:5061");
  m.destination = addr("[2001:db8::2]:40000");
  m.tcp = true;
  auto p = encodeHep(m, "x");
  ASSERT_TRUE(p);
  auto c = decode(*p);
  EXPECT_EQ(be(c[0x0001]), static_cast<uint32_t>(AF_INET6));
  EXPECT_EQ(be(c[0x0002]), 6u);
  EXPECT_EQ(c[0x0005].size(), 16u);
  EXPECT_EQ(c[0x0006].size(), 16u);
  EXPECT_EQ(c.count(0x0003), 0u);
  EXPECT_EQ(c.count(0x000e), 0u);  // no password
  EXPECT_EQ(c.count(0x0011), 0u);  // no correlation
}

TEST(HepTest, RefusesWhatDoesNotFitOnePacket) {
  HepMeta m;
  m.source = addr("192.0.2.1:5060");
  m.destination = addr("192.0.2.2:5060");
  EXPECT_FALSE(encodeHep(m, std::string(kHepMaxPacket, 'x')));
  EXPECT_TRUE(encodeHep(m, std::string(60000, 'x')));
  m.destination = addr("[::1]:5060");  // families differ
  EXPECT_FALSE(encodeHep(m, "x"));
}

// A collector on loopback.
class Collector {
 public:
  Collector() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Collector() { ::close(fd_); }
  uint16_t port() const { return port_; }
  std::optional<std::string> next(int timeoutMs = 2000) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeoutMs) != 1) return std::nullopt;
    char buf[70000];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

transport::Flow udpFrom(const char* remote) {
  transport::Flow f;
  f.protocol = transport::Protocol::Udp;
  f.remote = addr(remote);
  return f;
}

std::string request(const std::string& callId, const std::string& extra = "") {
  return "INVITE sip:1@x SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9\r\nCall-ID: " + callId + "\r\n" +
         extra + "Content-Length: 0\r\n\r\n";
}

// A capture towards a collector on loopback.
class HepCaptureTest : public ::testing::Test {
 protected:
  HepCaptureTest() {
    s.collector = net::SockAddr(*net::IpAddress::parse("127.0.0.1"), collector.port());
  }
  // A message from 127.0.0.2:5060 to our listener 127.0.0.1:5060.
  static void receive(HepCapture& hep, const std::string& bytes) {
    hep.onPacket(transport::TapDirection::In, udpFrom("127.0.0.2:5060"), addr("127.0.0.1:5060"),
                 bytes);
  }
  Collector collector;
  ManualClock clock;
  HepSettings s;
};

TEST_F(HepCaptureTest, SendsBothLegsWithAddressesAndTheCallersCallIdAsCorrelation) {
  s.captureId = 7;
  HepCapture hep(s, clock, *net::IpAddress::parse("203.0.113.5"));
  ASSERT_TRUE(hep.start().ok());
  const net::SockAddr wildcard = addr("0.0.0.0:5060");

  // Caller leg, in: caller -> us (the wildcard listener shows as the
  // advertised address).
  hep.onPacket(transport::TapDirection::In, udpFrom("192.0.2.10:5062"), wildcard,
               request("caller-1"));
  // The call layer opens the carrier leg, then sends its INVITE.
  hep.onCarrierLeg("caller-1", "carrier-1");
  hep.onPacket(transport::TapDirection::Out, udpFrom("198.51.100.20:5060"), wildcard,
               request("carrier-1"));
  // Compact form (RFC 3261 §7.3.3) on the carrier's answer.
  hep.onPacket(transport::TapDirection::In, udpFrom("198.51.100.20:5060"), wildcard,
               "SIP/2.0 200 OK\r\ni: carrier-1\r\nContent-Length: 0\r\n\r\n");

  auto p1 = collector.next();
  auto p2 = collector.next();
  auto p3 = collector.next();
  ASSERT_TRUE(p1 && p2 && p3);
  auto c1 = decode(*p1), c2 = decode(*p2), c3 = decode(*p3);
  EXPECT_EQ(c1[0x0003], std::string("\xc0\x00\x02\x0a", 4));  // 192.0.2.10
  EXPECT_EQ(c1[0x0004], std::string("\xcb\x00\x71\x05", 4));  // 203.0.113.5
  EXPECT_EQ(be(c1[0x0007]), 5062u);
  EXPECT_EQ(be(c1[0x0008]), 5060u);
  EXPECT_EQ(c1[0x0011], "caller-1");
  EXPECT_EQ(be(c1[0x000c]), 7u);
  EXPECT_EQ(be(c1[0x0009]) * 1'000'000ull + be(c1[0x000a]),
            static_cast<uint64_t>(clock.wallMicros()));
  EXPECT_EQ(c2[0x0003], std::string("\xcb\x00\x71\x05", 4));  // us
  EXPECT_EQ(c2[0x0004], std::string("\xc6\x33\x64\x14", 4));  // carrier
  EXPECT_EQ(c2[0x0011], "caller-1");                          // correlated to the caller leg
  EXPECT_EQ(c3[0x0011], "caller-1");
  EXPECT_EQ(c3[0x000f].substr(0, 14), "SIP/2.0 200 OK");
  hep.stop();
  EXPECT_EQ(hep.stats().captured, 3u);
  EXPECT_EQ(hep.stats().sent, 3u);
}

TEST_F(HepCaptureTest, CapturesOnlyTheLegsChosen) {
  s.legA = false;  // carrier side only
  HepCapture hep(s, clock);
  ASSERT_TRUE(hep.start().ok());
  const net::SockAddr local = addr("127.0.0.1:5060");
  hep.onCarrierLeg("caller-2", "carrier-2");
  hep.onPacket(transport::TapDirection::In, udpFrom("127.0.0.2:5060"), local, request("caller-2"));
  hep.onPacket(transport::TapDirection::Out, udpFrom("127.0.0.3:5060"), local,
               request("carrier-2"));
  hep.onPacket(transport::TapDirection::In, udpFrom("127.0.0.2:5060"), local,
               "REGISTER sip:x SIP/2.0\r\nCall-ID: reg-1\r\n\r\n");
  auto p = collector.next();
  ASSERT_TRUE(p);
  EXPECT_NE(decode(*p)[0x000f].find("Call-ID: carrier-2"), std::string::npos);
  EXPECT_FALSE(collector.next(200));
  EXPECT_EQ(hep.stats().captured, 1u);
}

TEST_F(HepCaptureTest, MasksDigestResponsesUnlessAskedNotTo) {
  const std::string auth =
      "Authorization: Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", "
      "response=\"0123456789abcdef0123456789abcdef\"\r\n";
  {
    HepCapture hep(s, clock);
    ASSERT_TRUE(hep.start().ok());
    receive(hep, request("c", auth));
    auto p = collector.next();
    ASSERT_TRUE(p);
    const std::string payload = decode(*p)[0x000f];
    EXPECT_EQ(payload.find("0123456789abcdef"), std::string::npos);
    EXPECT_NE(payload.find("response=\"***\""), std::string::npos);
    // A folded header (RFC 3261 §7.3.1) too.
    receive(hep, request("c",
                         "Proxy-Authorization:\r\n Digest username=\"u\",\r\n "
                         "response=\"0123456789abcdef0123456789abcdef\"\r\n"));
    p = collector.next();
    ASSERT_TRUE(p);
    EXPECT_EQ(decode(*p)[0x000f].find("0123456789abcdef"), std::string::npos);
  }
  s.maskCredentials = false;
  HepCapture hep(s, clock);
  ASSERT_TRUE(hep.start().ok());
  receive(hep, request("c", auth));
  auto p = collector.next();
  ASSERT_TRUE(p);
  EXPECT_NE(decode(*p)[0x000f].find("0123456789abcdef"), std::string::npos);
}

TEST_F(HepCaptureTest, CountsDropsWhenTheSenderIsBehindInsteadOfWaiting) {
  s.queueSize = 16;
  // Not started: nothing drains the queue, as when the sender is behind.
  HepCapture hep(s, clock);
  for (int i = 0; i < 40; ++i) {
    receive(hep, request("c" + std::to_string(i)));
  }
  HepStats st = hep.stats();
  EXPECT_EQ(st.captured, 40u);
  EXPECT_EQ(st.queued, 16u);
  EXPECT_EQ(st.droppedQueueFull, 24u);
  // Too large for one packet: counted apart.
  receive(hep, request("big", "X-Pad: " + std::string(kHepMaxPacket, 'p') + "\r\n"));
  EXPECT_EQ(hep.stats().droppedTooLarge, 1u);
}

TEST_F(HepCaptureTest, RemembersCarrierLegsWithinItsBound) {
  s.legA = false;
  HepCapture hep(s, clock);
  ASSERT_TRUE(hep.start().ok());
  hep.onCarrierLeg("first-caller", "first-carrier");
  for (size_t i = 0; i < kHepMaxCarrierLegs; ++i) {
    hep.onCarrierLeg("caller", "carrier-" + std::to_string(i));
  }
  // Evicted: now it is not a carrier leg, so not captured on leg b.
  receive(hep, request("first-carrier"));
  EXPECT_EQ(hep.stats().captured, 0u);
  receive(hep, request("carrier-7"));
  EXPECT_EQ(hep.stats().captured, 1u);
}

}  // namespace
}  // namespace tollgate::mgmt
