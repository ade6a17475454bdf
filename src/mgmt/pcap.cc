// pcap encoding of traced messages (pcap.h). Layouts: pcap-savefile(5);
// Ethernet II; IPv4 (RFC 791), IPv6 (RFC 8200); UDP (RFC 768); TCP
// (RFC 9293); checksums per RFC 1071 over the pseudo-headers.
#include "mgmt/pcap.h"

#include <algorithm>

namespace tollgate::mgmt {
namespace {

void put16(std::string& o, uint16_t v) {  // network order
  o += static_cast<char>(v >> 8);
  o += static_cast<char>(v & 0xff);
}
void put32(std::string& o, uint32_t v) {
  put16(o, static_cast<uint16_t>(v >> 16));
  put16(o, static_cast<uint16_t>(v & 0xffff));
}
void putLe32(std::string& o, uint32_t v) {  // pcap headers: host order, written little-endian
  for (int i = 0; i < 4; ++i) o += static_cast<char>((v >> (8 * i)) & 0xff);
}
void putLe16(std::string& o, uint16_t v) {
  o += static_cast<char>(v & 0xff);
  o += static_cast<char>(v >> 8);
}

uint32_t sumBytes(std::string_view b, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < b.size(); i += 2) {
    sum += (static_cast<uint8_t>(b[i]) << 8) | static_cast<uint8_t>(b[i + 1]);
  }
  if (b.size() % 2) sum += static_cast<uint8_t>(b.back()) << 8;
  return sum;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

std::string_view ipBytes(const net::SockAddr& a) {
  return {reinterpret_cast<const char*>(a.ip().bytes()), a.ip().size()};
}

}  // namespace

std::string PcapWriter::fileHeader() {
  std::string h;
  putLe32(h, 0xa1b2c3d4);  // microsecond timestamps
  putLe16(h, 2);
  putLe16(h, 4);
  putLe32(h, 0);      // thiszone
  putLe32(h, 0);      // sigfigs
  putLe32(h, 65535);  // snaplen
  putLe32(h, 1);      // LINKTYPE_ETHERNET
  return h;
}

std::string PcapWriter::packet(int64_t unixMicros, const net::SockAddr& src,
                               const net::SockAddr& dst, bool tcp, std::string_view payload) {
  payload = payload.substr(0, kMaxPcapPayload);
  const bool v6 = src.ip().isV6();
  // Transport header with a zero checksum, filled in below.
  std::string l4;
  if (tcp) {
    std::string key = src.toString() + ">" + dst.toString();
    if (tcpSeq_.size() >= kMaxPcapTcpFlows && !tcpSeq_.count(key)) tcpSeq_.clear();
    uint32_t& seq = tcpSeq_[key];
    if (seq == 0) seq = 1;
    std::string back = dst.toString() + ">" + src.toString();
    auto it = tcpSeq_.find(back);
    uint32_t ack = it != tcpSeq_.end() ? it->second : 1;
    put16(l4, src.port());
    put16(l4, dst.port());
    put32(l4, seq);
    put32(l4, ack);
    l4 += static_cast<char>(5 << 4);  // data offset: 5 words
    l4 += static_cast<char>(0x18);    // PSH | ACK
    put16(l4, 65535);                 // window
    put16(l4, 0);                     // checksum
    put16(l4, 0);                     // urgent
    seq += static_cast<uint32_t>(payload.size());
  } else {
    put16(l4, src.port());
    put16(l4, dst.port());
    put16(l4, static_cast<uint16_t>(8 + payload.size()));
    put16(l4, 0);
  }
  const uint32_t l4len = static_cast<uint32_t>(l4.size() + payload.size());
  // Pseudo-header sum (RFC 768 / RFC 8200 §8.1).
  uint32_t sum = sumBytes(ipBytes(src));
  sum = sumBytes(ipBytes(dst), sum);
  sum += tcp ? 6 : 17;
  sum += v6 ? (l4len >> 16) + (l4len & 0xffff) : l4len;
  sum = sumBytes(l4, sum);
  sum = sumBytes(payload, sum);
  uint16_t ck = fold(sum);
  if (!tcp && ck == 0) ck = 0xffff;  // UDP: 0 means "no checksum"
  const size_t ckAt = tcp ? 16 : 6;
  l4[ckAt] = static_cast<char>(ck >> 8);
  l4[ckAt + 1] = static_cast<char>(ck & 0xff);

  std::string ip;
  if (v6) {
    put32(ip, 0x60000000);
    put16(ip, static_cast<uint16_t>(l4len));
    ip += static_cast<char>(tcp ? 6 : 17);
    ip += static_cast<char>(64);  // hop limit
    ip += ipBytes(src);
    ip += ipBytes(dst);
  } else {
    ip += static_cast<char>(0x45);
    ip += static_cast<char>(0);
    put16(ip, static_cast<uint16_t>(20 + l4len));
    put16(ip, 0);       // id
    put16(ip, 0x4000);  // don't fragment
    ip += static_cast<char>(64);
    ip += static_cast<char>(tcp ? 6 : 17);
    put16(ip, 0);
    ip += ipBytes(src);
    ip += ipBytes(dst);
    uint16_t ipck = fold(sumBytes(ip));
    ip[10] = static_cast<char>(ipck >> 8);
    ip[11] = static_cast<char>(ipck & 0xff);
  }

  std::string eth;
  // Locally administered MACs, one per side, so "conversations" stay apart.
  eth += std::string("\x02\x00\x00\x00\x00\x02", 6);  // dst
  eth += std::string("\x02\x00\x00\x00\x00\x01", 6);  // src
  put16(eth, v6 ? 0x86dd : 0x0800);

  const uint32_t frameLen =
      static_cast<uint32_t>(eth.size() + ip.size() + l4.size() + payload.size());
  std::string rec;
  rec.reserve(16 + frameLen);
  const int64_t us = std::max<int64_t>(unixMicros, 0);
  putLe32(rec, static_cast<uint32_t>(us / 1'000'000));
  putLe32(rec, static_cast<uint32_t>(us % 1'000'000));
  putLe32(rec, frameLen);
  putLe32(rec, frameLen);
  rec += eth;
  rec += ip;
  rec += l4;
  rec += payload;
  return rec;
}

}  // namespace tollgate::mgmt
