// pcap files (the classic libpcap format, microsecond timestamps, link type
// Ethernet) of traced SIP messages, so Wireshark and tshark decode them as
// SIP: each message gets synthesized Ethernet, IPv4/IPv6 and UDP or TCP
// headers with valid checksums. TCP messages carry per-direction sequence
// numbers that advance by the payload length (no handshake is invented;
// tshark decodes mid-stream segments). Externally synchronized.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/net.h"

namespace tollgate::mgmt {

// Largest payload put in one synthesized packet. IPv4's total length is 16
// bits; SIP messages are bounded well below (sip::kMaxMessageSize).
inline constexpr size_t kMaxPcapPayload = 65'000;
// Directions whose TCP sequence numbers are remembered; beyond this the
// table restarts (tshark then sees a sequence jump, nothing worse).
inline constexpr size_t kMaxPcapTcpFlows = 4096;

class PcapWriter {
 public:
  // The 24-byte file header (magic a1b2c3d4, v2.4, snaplen 65535, DLT_EN10MB).
  static std::string fileHeader();
  // One record. `tcp` selects a TCP header instead of UDP.
  std::string packet(int64_t unixMicros, const net::SockAddr& src, const net::SockAddr& dst,
                     bool tcp, std::string_view payload);

 private:
  // Cleared when kMaxPcapTcpFlows are held rather than a BoundedTable:
  // a sequence number restarting only makes a capture tool see a new flow.
  std::unordered_map<std::string, uint32_t> tcpSeq_;
};

}  // namespace tollgate::mgmt
