// SIP trace on the worker side: filters, challenge marks, bounds.
#include "mgmt/sip_trace.h"

#include <gtest/gtest.h>

namespace tollgate::mgmt {
namespace {

using transport::TapDirection;

std::string invite(const std::string& callId, const std::string& to, bool creds = false) {
  std::string m = "INVITE sip:" + to +
                  "@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n"
                  "From: <sip:100@192.0.2.9>;tag=a\r\nTo: <sip:" +
                  to + "@192.0.2.1>\r\nCall-ID: " + callId +
                  "\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n";
  if (creds) m += "Proxy-Authorization: Digest username=\"u\"\r\n";
  return m + "Content-Length: 0\r\n\r\n";
}

std::string challenge(const std::string& callId) {
  return "SIP/2.0 407 Proxy Authentication Required\r\nVia: SIP/2.0/UDP "
         "192.0.2.9;branch=z9hG4bK1\r\nFrom: <sip:100@192.0.2.9>;tag=a\r\nTo: "
         "<sip:4477123@192.0.2.1>;tag=b\r\nCall-ID: " +
         callId + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
}

transport::Flow from(const char* addr) {
  transport::Flow f;
  f.remote = *net::SockAddr::parse(addr);
  return f;
}

TEST(SipTraceTest, GatewayAndNumberFiltersAndMarks) {
  SipTrace trace;
  TraceFilter f;
  f.byGateway = true;
  f.gatewayCidrs.push_back(*net::Cidr::parse("192.0.2.0/28"));
  f.number = "4477";
  bool first = false;
  auto s = trace.open(f, 1000, &first);
  ASSERT_TRUE(s && first);
  const net::SockAddr local = *net::SockAddr::parse("192.0.2.1:5060");
  trace.onPacket(TapDirection::In, from("192.0.2.9:5060"), local, invite("c1", "4477123"));
  trace.onPacket(TapDirection::Out, from("192.0.2.9:5060"), local, challenge("c1"));
  trace.onPacket(TapDirection::In, from("192.0.2.9:5060"), local, invite("c1", "4477123", true));
  trace.onPacket(TapDirection::Out, from("192.0.2.9:5060"), local, challenge("c1"));
  trace.onPacket(TapDirection::In, from("192.0.2.9:5060"), local, invite("c2", "5599"));
  trace.onPacket(TapDirection::In, from("198.51.100.1:5060"), local, invite("c3", "4477999"));
  trace.onPacket(TapDirection::In, from("192.0.2.9:5060"), local, "garbage 4477\r\n\r\n");
  std::vector<TraceRecord> got;
  ASSERT_TRUE(s->take(got, std::chrono::milliseconds(10)));
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].mark, "");
  EXPECT_EQ(got[1].mark, "challenge #1");
  EXPECT_EQ(got[2].mark, "credentials #1");
  EXPECT_EQ(got[3].mark, "challenge #2");
  EXPECT_EQ(got[3].seq, 4u);
  const std::string text = traceRecordText(got[1]);
  EXPECT_NE(text.find("OUT udp 192.0.2.1:5060 -> 192.0.2.9:5060"), std::string::npos) << text;
  EXPECT_NE(text.find("[challenge #1]"), std::string::npos);
  EXPECT_TRUE(trace.close(s));
}

TEST(SipTraceTest, CarrierLegRecordsNameTheCallerLegsCallId) {
  SipTrace trace;
  // Legs opened before the trace started are still known.
  trace.onCarrierLeg("caller-1", "carrier-1");
  bool first = false;
  auto s = trace.open(TraceFilter{}, 1000, &first);
  ASSERT_TRUE(s);
  trace.onCarrierLeg("caller-2", "carrier-2");
  const net::SockAddr local = *net::SockAddr::parse("192.0.2.1:5060");
  trace.onPacket(TapDirection::In, from("192.0.2.9:5060"), local, invite("caller-1", "44"));
  trace.onPacket(TapDirection::In, from("192.0.2.9:5060"), local, invite("caller-2", "44"));
  trace.onPacket(TapDirection::Out, from("198.51.100.7:5060"), local, invite("carrier-2", "44"));
  trace.onPacket(TapDirection::Out, from("198.51.100.7:5060"), local, invite("carrier-1", "44"));
  trace.onPacket(TapDirection::In, from("198.51.100.7:5060"), local, challenge("carrier-1"));
  std::vector<TraceRecord> got;
  ASSERT_TRUE(s->take(got, std::chrono::milliseconds(10)));
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].callerCallId, "");
  EXPECT_EQ(got[1].callerCallId, "");
  EXPECT_EQ(got[2].callerCallId, "caller-2");
  EXPECT_EQ(got[3].callerCallId, "caller-1");
  EXPECT_EQ(got[4].callerCallId, "caller-1");
  EXPECT_NE(traceRecordJson(got[2]).find("\"caller_call_id\":\"caller-2\""), std::string::npos);
  EXPECT_EQ(traceRecordJson(got[0]).find("caller_call_id"), std::string::npos);
  EXPECT_NE(traceRecordText(got[3]).find("caller-call-id=caller-1"), std::string::npos);
  EXPECT_TRUE(trace.close(s));
}

TEST(SipTraceTest, RateAndQueueBoundsCountDrops) {
  SipTrace trace;
  bool first = false;
  auto s = trace.open(TraceFilter{}, 5, &first);
  const net::SockAddr local = *net::SockAddr::parse("192.0.2.1:5060");
  for (int i = 0; i < 50; ++i) {
    trace.onPacket(TapDirection::In, from("192.0.2.9:5060"), local,
                   invite("c" + std::to_string(i), "1"));
  }
  TraceCounts c = s->counts();
  EXPECT_EQ(c.matched, 50u);
  EXPECT_EQ(c.delivered, 5u);  // the bucket starts full: one second's worth
  EXPECT_EQ(c.droppedRate, 45u);
  for (size_t i = 0; i < kTraceMaxSessions - 1; ++i) EXPECT_NE(trace.open({}, 1, &first), nullptr);
  EXPECT_EQ(trace.open({}, 1, &first), nullptr);
}

TEST(SipTraceTest, TextNeverCarriesControlCharacters) {
  TraceRecord r;
  r.summary = "INVITE sip:x SIP/2.0";
  r.bytes = "INVITE sip:x SIP/2.0\r\nFrom: \x1b[31mred\r\n\r\n";
  const std::string text = traceRecordText(r);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

TEST(SipTraceTest, MasksEveryDigestResponseAndNothingElse) {
  const std::string msg =
      "INVITE sip:1@192.0.2.1 SIP/2.0\r\n"
      "Authorization: Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:1@x\", "
      "response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5\r\n"
      "proxy-authorization : Digest username=\"u\",\r\n"
      " RESPONSE = deadbeef, cnonce=\"c\"\r\n"
      "X-Note: response=\"visible\"\r\n"
      "Content-Length: 20\r\n\r\n"
      "response=\"in body\"\r\n";
  const std::string out = maskCredentials(msg);
  EXPECT_EQ(out.find("0123456789abcdef"), std::string::npos) << out;
  EXPECT_EQ(out.find("deadbeef"), std::string::npos) << out;
  EXPECT_NE(out.find("response=\"***\", algorithm=MD5\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" RESPONSE = ***, cnonce=\"c\"\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:1@x\""),
            std::string::npos);
  EXPECT_NE(out.find("X-Note: response=\"visible\"\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\n\r\nresponse=\"in body\"\r\n"), std::string::npos);
  EXPECT_EQ(maskCredentials("garbage without lines"), "garbage without lines");
}

TEST(SipTraceTest, RecordsCarryMaskedCredentials) {
  SipTrace trace;
  bool first = false;
  auto s = trace.open(TraceFilter{}, 100, &first);
  std::string m = invite("c1", "4477");
  m.insert(m.find("Content-Length"),
           "Proxy-Authorization: Digest username=\"u\", response=\"feedface\"\r\n");
  trace.onPacket(TapDirection::In, from("192.0.2.9:5060"), *net::SockAddr::parse("192.0.2.1:5060"),
                 m);
  std::vector<TraceRecord> out;
  ASSERT_TRUE(s->take(out, std::chrono::milliseconds(100)));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].bytes.find("feedface"), std::string::npos);
  EXPECT_NE(out[0].bytes.find("response=\"***\""), std::string::npos);
}

}  // namespace
}  // namespace tollgate::mgmt
