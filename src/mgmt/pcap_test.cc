// pcap encoding: header fields, lengths and checksums of the synthesized
// packets (tshark decoding is checked by tests/integration/test_trace.py).
#include "mgmt/pcap.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace tollgate::mgmt {
namespace {

uint32_t le32(const std::string& s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])); };
  return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
}
uint16_t be16(const std::string& s, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) << 8 | static_cast<uint8_t>(s[at + 1]));
}
uint16_t ones(const std::string& s, size_t from, size_t len, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += be16(s, from + i);
  if (len % 2) sum += static_cast<uint8_t>(s[from + len - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

TEST(PcapTest, FileHeaderIsClassicMicrosecondEthernet) {
  std::string h = PcapWriter::fileHeader();
  ASSERT_EQ(h.size(), 24u);
  EXPECT_EQ(le32(h, 0), 0xa1b2c3d4u);
  EXPECT_EQ(le32(h, 16), 65535u);
  EXPECT_EQ(le32(h, 20), 1u);
}

TEST(PcapTest, UdpOverIpv4WithValidChecksums) {
  PcapWriter w;
  const std::string payload = "OPTIONS sip:x SIP/2.0\r\n\r\n";
  auto src = *net::SockAddr::parse("192.0.2.1:5060");
  auto dst = *net::SockAddr::parse("198.51.100.7:5070");
  std::string p = w.packet(1'700'000'000'123'456, src, dst, false, payload);
  EXPECT_EQ(le32(p, 0), 1'700'000'000u);
  EXPECT_EQ(le32(p, 4), 123'456u);
  const size_t frame = 14 + 20 + 8 + payload.size();
  EXPECT_EQ(le32(p, 8), frame);
  EXPECT_EQ(p.size(), 16 + frame);
  const size_t ip = 16 + 14;
  EXPECT_EQ(be16(p, 16 + 12), 0x0800);
  EXPECT_EQ(be16(p, ip + 2), 20 + 8 + payload.size());
  EXPECT_EQ(ones(p, ip, 20), 0xffff) << "IPv4 header checksum";
  const size_t udp = ip + 20;
  EXPECT_EQ(be16(p, udp), 5060);
  EXPECT_EQ(be16(p, udp + 2), 5070);
  // Pseudo-header + UDP header + payload sums to all ones.
  uint32_t pseudo = ones(p, ip + 12, 8) + 17 + 8 + payload.size();
  EXPECT_EQ(ones(p, udp, 8 + payload.size(), pseudo), 0xffff) << "UDP checksum";
  EXPECT_EQ(p.substr(udp + 8), payload);
}

TEST(PcapTest, TcpOverIpv6SequenceAdvancesPerDirection) {
  PcapWriter w;
  auto a = *net::SockAddr::parse("[2001:db8::1]:5060");
  auto b = *net::SockAddr::parse("[2001:db8::2]:5061");
  std::string p1 = w.packet(1, a, b, true, "hello");
  std::string p2 = w.packet(2, a, b, true, "world!");
  std::string p3 = w.packet(3, b, a, true, "x");
  const size_t ip = 16 + 14, tcp = ip + 40;
  EXPECT_EQ(be16(p1, 16 + 12), 0x86dd);
  EXPECT_EQ(be16(p1, ip + 4), 20 + 5);  // payload length
  auto seq = [&](const std::string& p) {
    return static_cast<uint32_t>(be16(p, tcp + 4)) << 16 | be16(p, tcp + 6);
  };
  auto ack = [&](const std::string& p) {
    return static_cast<uint32_t>(be16(p, tcp + 8)) << 16 | be16(p, tcp + 10);
  };
  EXPECT_EQ(seq(p2), seq(p1) + 5);
  EXPECT_EQ(ack(p3), seq(p2) + 6);  // the reverse direction acknowledges what was sent
  uint32_t pseudo = ones(p1, ip + 8, 32) + 6 + 25;
  EXPECT_EQ(ones(p1, tcp, 25, pseudo), 0xffff) << "TCP checksum";
}

}  // namespace
}  // namespace tollgate::mgmt
