// Test helpers shared by the sip unit tests: message text written with "\n"
// line ends in raw string literals, converted to the CRLF wire form.
// Test-only; included by *_test.cc files only. Pure functions: thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "sip/message.h"

namespace tollgate::sip::testing {

// "\n" -> "\r\n" (a "\r\n" already present is kept as is).
inline std::string crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out.push_back('\r');
    out.push_back(text[i]);
  }
  return out;
}

inline constexpr std::string_view kSdp =
    "v=0\r\n"
    "o=- 3710 3710 IN IP4 198.51.100.7\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.7\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n";

// A typical INVITE from a customer gateway, with a 2-entry Via stack.
inline std::string typicalInvite() {
  std::string head = crlf(
      "INVITE sip:+442071234567@203.0.113.10:5060;user=phone SIP/2.0\n"
      "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds;rport\n"
      "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKfirsthop;received=192.0.2.9\n"
      "Max-Forwards: 69\n"
      "From: \"Alice\" <sip:+14155550100@198.51.100.7>;tag=1928301774\n"
      "To: <sip:+442071234567@203.0.113.10>\n"
      "Call-ID: a84b4c76e66710@198.51.100.7\n"
      "CSeq: 314159 INVITE\n"
      "Contact: <sip:+14155550100@198.51.100.7:5060>\n"
      "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK\n"
      "Supported: timer, 100rel\n"
      "Session-Expires: 1800;refresher=uac\n"
      "P-Asserted-Identity: <sip:+14155550100@198.51.100.7>\n"
      "User-Agent: GW-1000/2.3\n"
      "Content-Type: application/sdp\n");
  head += "Content-Length: " + std::to_string(kSdp.size()) + "\r\n\r\n";
  return head + std::string(kSdp);
}

// A minimal valid request of `method` with the given extra header lines
// (each ending in "\n") and body.
inline std::string request(std::string_view method, std::string_view extra = {},
                           std::string_view body = {},
                           std::string_view uri = "sip:bob@example.com") {
  std::string m = std::string(method) + " " + std::string(uri) + " SIP/2.0\n";
  m += "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKtest1\n";
  m += "Max-Forwards: 70\n";
  m += "From: <sip:alice@example.org>;tag=f1\n";
  m += "To: <sip:bob@example.com>\n";
  m += "Call-ID: test-call-1@192.0.2.1\n";
  m += "CSeq: 1 " + std::string(method) + "\n";
  m += std::string(extra);
  m += "Content-Length: " + std::to_string(body.size()) + "\n\n";
  return crlf(m) + std::string(body);
}

}  // namespace tollgate::sip::testing
