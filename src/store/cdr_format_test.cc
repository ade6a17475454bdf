// Tests of the operator-facing CDR renderings: the fixed JSON form of
// `tollgate cdr list --json` and the human table row.
#include "store/cdr_format.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::store {
namespace {

using call::Cdr;
using call::HangupSide;
using call::TerminationReason;

Cdr answeredCdr() {
  Cdr c;
  c.id = 42;
  c.callId = "a84b4c76e66710@pc33.example.com";
  c.startUs = 1'795'710'000'123'456;  // 2026-11-26T16:20:00.123456Z
  c.answerUs = 1'795'710'003'000'000;
  c.endUs = 1'795'710'064'500'001;
  c.caller = "442012345678";
  c.callee = "15551234567";
  c.sourceAddress = "192.0.2.1:5060";
  c.transport = "udp";
  c.mappingGateway = "cust-a";
  c.routingGateway = "carrier-b";
  c.gatewaysTried = "carrier-a,carrier-b";
  c.finalCode = 200;
  c.durationMs = 61'500;
  c.hangup = HangupSide::Caller;
  c.reason = TerminationReason::CallerBye;
  c.callerRaw = "+44-20-1234-5678";
  c.calleeRaw = "%2B15551234567;user=phone";
  return c;
}

TEST(FormatUtcMicrosTest, RendersIsoUtcWithMicroseconds) {
  EXPECT_EQ(formatUtcMicros(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(formatUtcMicros(1'795'710'000'123'456), "2026-11-26T16:20:00.123456Z");
  EXPECT_EQ(formatUtcMicros(951'868'799'999'999), "2000-02-29T23:59:59.999999Z");
  EXPECT_EQ(formatUtcMicros(951'868'800'000'000), "2000-03-01T00:00:00.000000Z");
  EXPECT_EQ(formatUtcMicros(-1), "1969-12-31T23:59:59.999999Z");
}

TEST(CdrToJsonTest, AnsweredCallHasEveryKeyInOrder) {
  EXPECT_EQ(
      cdrToJson(answeredCdr()),
      R"({"id":42,"call_id":"a84b4c76e66710@pc33.example.com",)"
      R"("start":"2026-11-26T16:20:00.123456Z","answer":"2026-11-26T16:20:03.000000Z",)"
      R"("end":"2026-11-26T16:21:04.500001Z","caller":"442012345678",)"
      R"("callee":"15551234567","source":"192.0.2.1:5060","transport":"udp",)"
      R"("mapping_gateway":"cust-a","routing_gateway":"carrier-b",)"
      R"("gateways_tried":["carrier-a","carrier-b"],"final_code":200,)"
      R"("duration_ms":61500,"hangup":"caller","reason":"caller_bye",)"
      R"("caller_raw":"+44-20-1234-5678","callee_raw":"%2B15551234567;user=phone","media":null})");
}

TEST(CdrToJsonTest, RawNumbersAreEscapedLikeEveryString) {
  Cdr c = answeredCdr();
  c.callerRaw = "\"a\"\\";
  c.calleeRaw = std::string("1\x00\xff", 3);
  const std::string j = cdrToJson(c);
  EXPECT_NE(j.find(R"("caller_raw":"\"a\"\\",)"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("callee_raw":"1\u0000\ufffd","media":null})"), std::string::npos) << j;
  c.callerRaw = c.calleeRaw = "";  // a row written before they were recorded
  EXPECT_NE(cdrToJson(c).find(R"("caller_raw":"","callee_raw":"","media":null})"),
            std::string::npos);
}

TEST(CdrToJsonTest, UnansweredCallHasNullAnswerAndEmptyHangup) {
  Cdr c = answeredCdr();
  c.answerUs = 0;
  c.durationMs = 0;
  c.finalCode = 404;
  c.routingGateway = "";
  c.gatewaysTried = "";
  c.hangup = HangupSide::None;
  c.reason = TerminationReason::NoRoute;
  std::string j = cdrToJson(c);
  EXPECT_NE(j.find(R"("answer":null,)"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("gateways_tried":[],)"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("routing_gateway":"",)"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("hangup":"","reason":"no_route",)"), std::string::npos) << j;
}

TEST(CdrToJsonTest, GatewaysTriedSkipsEmptyPieces) {
  Cdr c = answeredCdr();
  c.gatewaysTried = "one";
  EXPECT_NE(cdrToJson(c).find(R"("gateways_tried":["one"],)"), std::string::npos);
  c.gatewaysTried = ",a,,b,";
  EXPECT_NE(cdrToJson(c).find(R"("gateways_tried":["a","b"],)"), std::string::npos);
}

TEST(CdrsToJsonTest, ArrayOneObjectPerLine) {
  EXPECT_EQ(cdrsToJson({}), "[]\n");
  Cdr a = answeredCdr();
  Cdr b = answeredCdr();
  b.id = 41;
  EXPECT_EQ(cdrsToJson({a, b}), "[\n  " + cdrToJson(a) + ",\n  " + cdrToJson(b) + "\n]\n");
}

TEST(CdrTableTest, HeaderAndRowLineUp) {
  std::string header = cdrTableHeader();
  std::string row = cdrToTableRow(answeredCdr());
  EXPECT_EQ(header.find('\n'), std::string::npos);
  EXPECT_EQ(row.find('\n'), std::string::npos);
  EXPECT_EQ(header.substr(0, 8), "      ID");
  EXPECT_EQ(row.substr(0, 8), "      42");
  EXPECT_NE(row.find("2026-11-26 16:20:00"), std::string::npos) << row;
  EXPECT_NE(row.find("61.500s"), std::string::npos) << row;
  // Every column after the first starts at the same offset in both lines.
  for (const char* title :
       {"START (UTC)", "CALLER", "CALLEE", "SOURCE", "MAPPING", "ROUTING", "HANGUP", "REASON"}) {
    size_t at = header.find(title);
    ASSERT_NE(at, std::string::npos) << title;
    EXPECT_EQ(row[at - 1], ' ') << title;
    EXPECT_NE(row[at], ' ') << title << " in\n" << header << "\n" << row;
  }
  EXPECT_EQ(row.substr(header.find("REASON")), "caller_bye");
  EXPECT_EQ(header.back(), 'N');  // no trailing blanks
}

TEST(CdrTableTest, RawShowsTheNumbersAsReceivedInTheSameColumns) {
  const std::string header = cdrTableHeader(CdrNumbers::Raw);
  const std::string row = cdrToTableRow(answeredCdr(), CdrNumbers::Raw);
  EXPECT_NE(header.find("CALLER (RAW)"), std::string::npos) << header;
  EXPECT_EQ(row.substr(header.find("CALLER (RAW)"), 16), "+44-20-1234-5678");
  EXPECT_EQ(row.substr(header.find("CALLEE (RAW)"), 25), "%2B15551234567;user=phone");
  // The default stays the canonical numbers.
  const std::string canonical = cdrToTableRow(answeredCdr());
  EXPECT_EQ(canonical.substr(cdrTableHeader().find("CALLER"), 12), "442012345678");
  Cdr old = answeredCdr();
  old.callerRaw = "";
  const std::string dash = cdrToTableRow(old, CdrNumbers::Raw);
  EXPECT_EQ(dash[header.find("CALLER (RAW)")], '-');
}

TEST(CdrTableTest, EmptyValuesShowAsDash) {
  Cdr c = answeredCdr();
  c.answerUs = 0;
  c.durationMs = 0;
  c.routingGateway = "";
  c.hangup = HangupSide::None;
  c.reason = TerminationReason::NoRoute;
  std::string header = cdrTableHeader();
  std::string row = cdrToTableRow(c);
  EXPECT_EQ(row[header.find("ROUTING")], '-');
  EXPECT_EQ(row[header.find("HANGUP")], '-');
  // DURATION is right-aligned: its title and values end in the same column.
  size_t durationEnd = header.find("DURATION") + 8;
  EXPECT_EQ(row.substr(durationEnd - 9, 9), "        -");
}

TEST(CdrTableTest, ControlCharactersCannotReachTheTerminal) {
  Cdr c = answeredCdr();
  c.caller = "\x1b[31mevil\x1b[0m\r\n";
  // C1 CSI, right-to-left override, an invalid byte.
  c.callee = std::string("\xc2\x9b") + "2J" + "\xe2\x80\xae" + "abc\xff";
  std::string row = cdrToTableRow(c);
  for (unsigned char ch : row) {
    EXPECT_TRUE(ch >= 0x20 && ch != 0x7f) << "control byte " << int(ch);
  }
  EXPECT_NE(row.find("?[31mevil?[0m??"), std::string::npos) << row;
  EXPECT_NE(row.find("?2J?abc?"), std::string::npos) << row;
  // Printable non-ASCII stays and counts as one column.
  c.caller = "Müller";
  std::string header = cdrTableHeader();
  std::string umlaut = cdrToTableRow(c);
  EXPECT_NE(umlaut.find("Müller"), std::string::npos);
  EXPECT_EQ(umlaut.substr(header.find("REASON") + 1), "caller_bye");  // ü is two bytes
}

}  // namespace
}  // namespace tollgate::store

namespace tollgate::store {
namespace {

TEST(CdrCsvTest, HeaderMatchesTheJsonKeysAndRowsQuoteAndDefuseFormulas) {
  EXPECT_EQ(cdrCsvHeader(),
            "id,call_id,start,answer,end,caller,callee,source,transport,mapping_gateway,"
            "routing_gateway,gateways_tried,final_code,duration_ms,hangup,reason,caller_raw,"
            "callee_raw,media_relayed,caller_packets,caller_bytes,caller_loss_pct,caller_jitter_ms,"
            "callee_packets,callee_bytes,callee_loss_pct,callee_jitter_ms\r\n");
  call::Cdr c;
  c.id = 9;
  c.callId = "a,b\"c";
  c.startUs = c.endUs = 1'795'710'000'000'000;
  c.caller = "=cmd|' /C calc'!A0";
  c.callee = "+4420123";
  c.sourceAddress = "-2+3";
  c.transport = "udp";
  c.gatewaysTried = "x,y";
  c.reason = call::TerminationReason::NoRoute;
  const std::string row = cdrToCsvRow(c);
  EXPECT_EQ(row,
            "9,\"a,b\"\"c\",2026-11-26T16:20:00.000000Z,,2026-11-26T16:20:00.000000Z,"
            "'=cmd|' /C calc'!A0,+4420123,'-2+3,udp,,,x;y,0,0,,no_route,,,0,0,0,,,0,0,,\r\n");
  c.callerRaw = "=HYPERLINK(\"x\")";
  c.calleeRaw = "%2B1-900,555";
  EXPECT_NE(cdrToCsvRow(c).find(",no_route,\"'=HYPERLINK(\"\"x\"\")\",\"%2B1-900,555\",0,"),
            std::string::npos)
      << cdrToCsvRow(c);
  // A relayed call's media figures, per direction.
  c.media.present = true;
  c.media.caller = {.packets = 250, .bytes = 43000, .lossPct = 1.256, .jitterMs = 12};
  c.media.callee = {.packets = 248, .bytes = 42656, .lossPct = 0, .jitterMs = 3};
  EXPECT_NE(cdrToCsvRow(c).find(",1,250,43000,1.26,12,248,42656,0.00,3\r\n"), std::string::npos)
      << cdrToCsvRow(c);
  const std::string json = cdrToJson(c);
  EXPECT_NE(json.find("\"media\":{\"caller_packets\":250,\"caller_bytes\":43000,"
                      "\"caller_loss_pct\":1.26,\"caller_jitter_ms\":12,\"callee_packets\":248,"),
            std::string::npos)
      << json;
  // No RTCP figures from rtpengine: loss and jitter unknown (empty, null), not 0.
  c.media.caller.lossPct.reset();
  c.media.caller.jitterMs.reset();
  EXPECT_NE(cdrToCsvRow(c).find(",1,250,43000,,,248,42656,0.00,3\r\n"), std::string::npos)
      << cdrToCsvRow(c);
  EXPECT_NE(cdrToJson(c).find("\"caller_bytes\":43000,\"caller_loss_pct\":null,"
                              "\"caller_jitter_ms\":null,\"callee_packets\":248,"),
            std::string::npos)
      << cdrToJson(c);
  c.caller = "line\nbreak\x1b";
  EXPECT_NE(cdrToCsvRow(c).find(",line?break?,"),
            std::string::npos);  // controls never reach the file
}

}  // namespace
}  // namespace tollgate::store
