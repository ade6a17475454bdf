// For unit tests: a SIP peer on a real UDP socket bound to 127.0.0.1 or
// another loopback address (port 0, so tests never collide) that plays a phone, a customer's PBX or
// a carrier against a real Transport: it sends raw messages, collects what it receives (never
// blocking), and builds responses and header lookups on raw text so a test sees exactly what went
// over the wire. Also the MessageSink that lets a test build a Transport before the
// TransactionLayer that consumes it. Confined to its worker: the test's
// thread, which also runs the EventLoop.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sip/message.h"

namespace tollgate::test_support {

// One datagram a LoopbackPeer received.
struct Datagram {
  std::string bytes;
  uint16_t fromPort = 0;  // the sender's UDP port on 127.0.0.1
};

class LoopbackPeer {
 public:
  // Binds udp <ip>:0; ip is an address of 127.0.0.0/8 (another one than
  // 127.0.0.1 makes a stranger to gateways provisioned at 127.0.0.1).
  explicit LoopbackPeer(const std::string& ip = "127.0.0.1");
  ~LoopbackPeer();
  LoopbackPeer(const LoopbackPeer&) = delete;
  LoopbackPeer& operator=(const LoopbackPeer&) = delete;

  uint16_t port() const { return port_; }
  const std::string& ip() const { return ip_; }
  std::string hostPort() const;  // "<ip>:<port>"

  // Sends `bytes` to 127.0.0.1:<port> (where the Transport listens).
  void sendTo(uint16_t port, const std::string& bytes);
  // Every datagram waiting on the socket now (none: empty), also appended
  // to received().
  std::vector<Datagram> receive();
  // The same, bytes only.
  std::vector<std::string> drain();
  // Everything received so far, oldest first.
  const std::vector<std::string>& received() const { return received_; }
  // The received messages whose start line begins with `start` ("INVITE ",
  // "SIP/2.0 200", "BYE "), oldest first.
  std::vector<std::string> with(std::string_view start) const;
  void forget() { received_.clear(); }

 private:
  std::string ip_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<std::string> received_;
};

// Raw-text helpers, so assertions read what was sent.
// The value of the first `name:` header line ("" when absent); compact
// forms are not expanded.
std::string headerValue(std::string_view msg, std::string_view name);
// Every value of `name:` header lines, in order.
std::vector<std::string> headerValues(std::string_view msg, std::string_view name);
// The status of a response (0 for a request).
int statusOf(std::string_view msg);
// The body after the blank line.
std::string bodyOf(std::string_view msg);
// The request's branch (top Via).
std::string branchOf(std::string_view msg);
// `msg` parsed by sip::Message (null when it does not parse).
sip::MessagePtr parseMessage(const std::string& msg);

// A response to the raw request `request` (RFC 3261 §8.2.6.2): its Vias,
// From, To (with ";tag=<toTag>" when To has none and toTag is not empty),
// Call-ID and CSeq copied, then `extraHeaders` (complete lines ending in
// CRLF) and `body` (application/sdp unless extraHeaders has a
// Content-Type) with its Content-Length.
std::string responseTo(std::string_view request, int status, std::string_view reason,
                       std::string_view toTag, std::string_view extraHeaders = {},
                       std::string_view body = {});

// A request as a peer sends it: the start line, one Via
// "SIP/2.0/UDP <via>;branch=<branch>;rport", Max-Forwards: 70, From, To,
// Call-ID, CSeq "<cseq> <method>", `extraHeaders` (complete lines ending in
// CRLF), and `body` (application/sdp unless extraHeaders has a
// Content-Type) with its Content-Length.
struct RequestSpec {
  std::string method;
  std::string uri;
  std::string via;  // host:port of the sender
  std::string branch;
  std::string from;
  std::string to;
  std::string callId;
  uint32_t cseq = 1;
  std::string extraHeaders;
  std::string body;
};
std::string request(const RequestSpec& r);
// The CANCEL of the raw INVITE `invite` (RFC 3261 §9.1): its Request-URI,
// top Via, From, To, Call-ID and CSeq number.
std::string cancelOf(std::string_view invite);
// The URI of a name-addr ("<sip:a@b>;tag=x" -> "sip:a@b"; a bare URI as is).
std::string uriOf(std::string_view nameAddr);
// The value of the first `name=` line of an SDP body ("" when absent).
std::string sdpLine(std::string_view body, std::string_view name);

}  // namespace tollgate::test_support
