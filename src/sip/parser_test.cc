// Message::parse: start lines, header fields, the eagerly parsed headers,
// body framing and the named limits.
#include <gtest/gtest.h>

#include <string>

#include "sip/limits.h"
#include "sip/message.h"
#include "sip/test_messages.h"

namespace tollgate::sip {
namespace {

using testing::crlf;
using testing::request;
using testing::typicalInvite;

MessagePtr parseOk(const std::string& text) {
  auto r = Message::parse(std::string(text));
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().detail) << "\n" << text;
  return r ? std::move(r).value() : nullptr;
}

ParseError parseErr(const std::string& text) {
  auto r = Message::parse(std::string(text));
  EXPECT_FALSE(r.ok()) << text;
  return r ? ParseError{} : r.error();
}

TEST(Parser, ParsesTypicalInvite) {
  MessagePtr m = parseOk(typicalInvite());
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->isRequest());
  EXPECT_EQ(m->method(), Method::Invite);
  EXPECT_EQ(m->methodName(), "INVITE");
  EXPECT_EQ(m->requestUri().scheme, UriScheme::Sip);
  EXPECT_EQ(m->requestUri().user, "+442071234567");
  EXPECT_EQ(m->requestUri().host, "203.0.113.10");
  EXPECT_EQ(m->requestUri().port, 5060);
  EXPECT_EQ(m->requestUri().param("user"), "phone");
  EXPECT_EQ(m->startLine(), "INVITE sip:+442071234567@203.0.113.10:5060;user=phone SIP/2.0");
  ASSERT_EQ(m->vias().size(), 2u);
  EXPECT_EQ(m->topVia().transport, "UDP");
  EXPECT_EQ(m->topVia().host, "198.51.100.7");
  EXPECT_EQ(m->topVia().port, 5060);
  EXPECT_EQ(m->topVia().branch, "z9hG4bK776asdhds");
  EXPECT_TRUE(m->topVia().hasRport);
  EXPECT_EQ(m->vias()[1].received, "192.0.2.9");
  EXPECT_EQ(m->from().displayName, "Alice");
  EXPECT_EQ(m->from().tag(), "1928301774");
  EXPECT_EQ(m->from().uri.user, "+14155550100");
  EXPECT_TRUE(m->to().tag().empty());
  EXPECT_EQ(m->callId(), "a84b4c76e66710@198.51.100.7");
  EXPECT_EQ(m->cseq().number, 314159u);
  EXPECT_EQ(m->cseq().method, Method::Invite);
  EXPECT_EQ(m->maxForwards(), 69u);
  EXPECT_EQ(m->contentType(), "application/sdp");
  EXPECT_EQ(m->contentLength(), testing::kSdp.size());
  EXPECT_EQ(m->body(), testing::kSdp);
  EXPECT_EQ(m->headers().size(), 15u);
  EXPECT_EQ(m->raw().size(), typicalInvite().size());
}

TEST(Parser, ParsesResponseStatusAndReason) {
  MessagePtr m =
      parseOk(crlf("SIP/2.0 486 Busy Here\n"
                   "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\n"
                   "From: <sip:a@example.org>;tag=1\n"
                   "To: <sip:b@example.com>;tag=2\n"
                   "Call-ID: c1\n"
                   "CSeq: 5 INVITE\n"
                   "Content-Length: 0\n\n"));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->isResponse());
  EXPECT_EQ(m->status(), 486);
  EXPECT_EQ(m->reason(), "Busy Here");
  EXPECT_EQ(m->cseq().method, Method::Invite);
}

TEST(Parser, AcceptsResponseWithoutReasonPhrase) {
  std::string tail = crlf(
      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@y>\n"
      "Call-ID: c1\nCSeq: 5 INVITE\nContent-Length: 0\n\n");
  MessagePtr withSp = parseOk("SIP/2.0 100 \r\n" + tail);
  ASSERT_TRUE(withSp);
  EXPECT_EQ(withSp->reason(), "");
  MessagePtr withoutSp = parseOk("SIP/2.0 180\r\n" + tail);
  ASSERT_TRUE(withoutSp);
  EXPECT_EQ(withoutSp->status(), 180);
}

TEST(Parser, HeaderNamesAreCaseInsensitive) {
  MessagePtr m =
      parseOk(crlf("OPTIONS sip:x@example.com SIP/2.0\n"
                   "vIA: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx\n"
                   "FROM: <sip:a@x>;tag=1\nto: <sip:b@y>\nCALL-id: c1\ncseq: 1 OPTIONS\n"
                   "content-LENGTH: 0\n\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->callId(), "c1");
  EXPECT_EQ(m->header(HeaderId::Via)->name, "vIA");
  EXPECT_NE(m->header("Call-Id"), nullptr);
  EXPECT_NE(m->header("i"), nullptr);  // compact form finds the long one too
}

TEST(Parser, ParsesCompactForms) {
  std::string body = "hello";
  MessagePtr m = parseOk(crlf("MESSAGE sip:bob@example.com SIP/2.0\n"
                              "v: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKc\n"
                              "f: <sip:a@example.org>;tag=1\n"
                              "t: sip:bob@example.com\n"
                              "i: compact@192.0.2.1\n"
                              "CSeq: 2 MESSAGE\n"
                              "m: <sip:a@192.0.2.1>\n"
                              "k: timer\n"
                              "s: subject\n"
                              "e: gzip\n"
                              "o: presence\n"
                              "r: <sip:c@example.com>\n"
                              "x: 1800\n"
                              "u: dialog\n"
                              "b: <sip:d@example.com>\n"
                              "a: *;audio\n"
                              "j: *;video\n"
                              "d: proxy\n"
                              "y: sig\n"
                              "c: text/plain\n"
                              "l: 5\n\n") +
                         body);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->callId(), "compact@192.0.2.1");
  EXPECT_EQ(m->vias().size(), 1u);
  EXPECT_EQ(m->from().tag(), "1");
  EXPECT_EQ(m->to().uri.user, "bob");
  EXPECT_EQ(m->contentType(), "text/plain");
  EXPECT_EQ(m->body(), "hello");
  EXPECT_EQ(m->header(HeaderId::Contact)->name, "m");
  EXPECT_EQ(m->header(HeaderId::Supported)->value, "timer");
  EXPECT_EQ(m->header(HeaderId::Subject)->value, "subject");
  EXPECT_EQ(m->header(HeaderId::ContentEncoding)->value, "gzip");
  EXPECT_EQ(m->header(HeaderId::Event)->value, "presence");
  EXPECT_EQ(m->header(HeaderId::ReferTo)->value, "<sip:c@example.com>");
  EXPECT_EQ(m->header(HeaderId::SessionExpires)->value, "1800");
  EXPECT_EQ(m->header(HeaderId::AllowEvents)->value, "dialog");
  EXPECT_EQ(m->header(HeaderId::ReferredBy)->value, "<sip:d@example.com>");
  EXPECT_EQ(m->header(HeaderId::AcceptContact)->value, "*;audio");
  EXPECT_EQ(m->header(HeaderId::RejectContact)->value, "*;video");
  EXPECT_EQ(m->header(HeaderId::RequestDisposition)->value, "proxy");
  EXPECT_EQ(m->header(HeaderId::Identity)->value, "sig");
}

TEST(Parser, UnfoldsContinuationLinesInPlace) {
  MessagePtr m =
      parseOk(crlf("INVITE sip:bob@example.com SIP/2.0\n"
                   "Via: SIP/2.0/UDP\n"
                   "   192.0.2.1;branch=z9hG4bKf\n"
                   "From:\n"
                   " <sip:a@x>\n"
                   "\t;tag=1\n"
                   "To: <sip:b@y>\n"
                   "Call-ID: c1\n"
                   "CSeq: 1\n"
                   "  INVITE\n"
                   "Subject: one\n"
                   " two\n"
                   "Content-Length: 0\n\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topVia().host, "192.0.2.1");
  EXPECT_EQ(m->from().tag(), "1");
  EXPECT_EQ(m->cseq().method, Method::Invite);
  const Header* subject = m->header(HeaderId::Subject);
  ASSERT_NE(subject, nullptr);
  EXPECT_EQ(subject->value, "one   two");  // CRLF became two spaces, plus the WSP
  for (const Header& h : m->headers()) {
    EXPECT_EQ(h.raw.find_first_of("\r\n"), std::string_view::npos) << h.raw;
  }
}

TEST(Parser, RejectsContinuationRightAfterStartLine) {
  ParseError e =
      parseErr(crlf("OPTIONS sip:x@y SIP/2.0\n folded: no\n"
                    "Via: SIP/2.0/UDP h\n\n"));
  EXPECT_EQ(e.code, ParseErrorCode::BadHeaderLine);
  EXPECT_EQ(e.status, 400);
}

TEST(Parser, SplitsViaListsAcrossFieldsAndCommas) {
  MessagePtr m = parseOk(request("BYE",
                                 "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK2, SIP/2.0/TCP "
                                 "b.example.com:5070 ;branch=z9hG4bK3\n"
                                 "v: SIP/2.0/TLS c.example.com;branch=\"z9hG4bK4\"\n"));
  ASSERT_TRUE(m);
  ASSERT_EQ(m->vias().size(), 4u);
  EXPECT_EQ(m->vias()[0].host, "192.0.2.1");
  EXPECT_EQ(m->vias()[1].host, "a.example.com");
  EXPECT_EQ(m->vias()[2].host, "b.example.com");
  EXPECT_EQ(m->vias()[2].port, 5070);
  EXPECT_EQ(m->vias()[2].transport, "TCP");
  EXPECT_EQ(m->vias()[2].branch, "z9hG4bK3");
  EXPECT_EQ(m->vias()[3].transport, "TLS");
  EXPECT_EQ(m->headerCount(HeaderId::Via), 3u);  // fields, not values
}

TEST(Parser, ParsesViaWithLwsAroundSlashesColonAndParams) {
  MessagePtr m = parseOk(crlf(
      "OPTIONS sip:x@example.com SIP/2.0\n"
      "Via: SIP  /  2.0 /   UDP   host.example.com  :  5062  ;  branch  =  z9hG4bKlws ; rport\n"
      "From: <sip:a@x>;tag=1\nTo: <sip:b@y>\nCall-ID: c1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->topVia().transport, "UDP");
  EXPECT_EQ(m->topVia().host, "host.example.com");
  EXPECT_EQ(m->topVia().port, 5062);
  EXPECT_EQ(m->topVia().branch, "z9hG4bKlws");
  EXPECT_TRUE(m->topVia().hasRport);
  EXPECT_EQ(m->topVia().rport, 0);
}

TEST(Parser, ParsesIpv6ViaSentByWithPort) {
  MessagePtr m =
      parseOk(request("OPTIONS", "Via: SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKv6\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->vias()[1].host, "[2001:db8::9:1]");
  EXPECT_EQ(m->vias()[1].port, 6050);
}

TEST(Parser, ParsesReceivedWithAndWithoutBrackets) {
  // RFC 5118 §4.5: both forms must be accepted.
  MessagePtr m = parseOk(
      request("OPTIONS",
              "Via: SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKa\n"
              "Via: SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKb\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->vias()[1].received, "[2001:db8::9:255]");
  EXPECT_EQ(m->vias()[1].branch, "z9hG4bKa");
  EXPECT_EQ(m->vias()[2].received, "2001:db8::9:255");
  EXPECT_EQ(m->vias()[2].branch, "z9hG4bKb");
}

TEST(Parser, ParsesRportWithAndWithoutValue) {
  MessagePtr m =
      parseOk(request("OPTIONS",
                      "Via: SIP/2.0/UDP h1;rport;branch=z9hG4bKa\n"
                      "Via: SIP/2.0/UDP h2;branch=z9hG4bKb;rport=5090;received=192.0.2.7\n"
                      "Via: SIP/2.0/UDP h3;branch=z9hG4bKc\n"));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->vias()[1].hasRport);
  EXPECT_EQ(m->vias()[1].rport, 0);
  EXPECT_TRUE(m->vias()[2].hasRport);
  EXPECT_EQ(m->vias()[2].rport, 5090);
  EXPECT_EQ(m->vias()[2].param("received"), "192.0.2.7");
  EXPECT_FALSE(m->vias()[3].hasRport);
}

TEST(Parser, RepeatedViaParamKeepsTheFirstValue) {
  // Found by the fuzzer: Via::branch must agree with Via::param("branch").
  MessagePtr m = parseOk(
      request("OPTIONS", "Via: SIP/2.0/UDP h;branch=z9hG4bKa;branch=z9hG4bKb;rport=1;rport=2\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->vias()[1].branch, "z9hG4bKa");
  EXPECT_EQ(m->vias()[1].param("branch"), "z9hG4bKa");
  EXPECT_EQ(m->vias()[1].rport, 1);
}

TEST(Parser, RejectsInvalidRport) {
  EXPECT_EQ(parseErr(request("OPTIONS", "Via: SIP/2.0/UDP h;rport=99999\n")).code,
            ParseErrorCode::BadVia);
  EXPECT_EQ(parseErr(request("OPTIONS", "Via: SIP/2.0/UDP h;rport=abc\n")).code,
            ParseErrorCode::BadVia);
}

TEST(Parser, RejectsEmptyViaParametersAndElements) {
  // RFC 4475 §3.1.2.1 badinv01.
  EXPECT_EQ(parseErr(request("OPTIONS", "Via: SIP/2.0/UDP 192.0.2.15;;,;,,\n")).code,
            ParseErrorCode::BadVia);
  EXPECT_EQ(parseErr(request("OPTIONS", "Via: SIP/2.0/UDP h;branch=\n")).code,
            ParseErrorCode::BadVia);
  EXPECT_EQ(parseErr(request("OPTIONS", "Via: SIP/2.0/UDP h;branch=z9hG4bKa,\n")).code,
            ParseErrorCode::BadVia);
  EXPECT_EQ(parseErr(request("OPTIONS", "Via: SIP/2.0 h\n")).code, ParseErrorCode::BadVia);
  EXPECT_EQ(parseErr(request("OPTIONS", "Via: SIP/2.0/UDP\n")).code, ParseErrorCode::BadVia);
  EXPECT_EQ(parseErr(request("OPTIONS", "Via: SIP/2.0/UDP h:0x50\n")).code, ParseErrorCode::BadVia);
}

TEST(Parser, ParsesQuotedDisplayNameWithEscapes) {
  MessagePtr q =
      parseOk(crlf("OPTIONS sip:x@example.com SIP/2.0\n"
                   "Via: SIP/2.0/UDP h;branch=z9hG4bKq\n"
                   "From: \"J Rosenberg \\\\\\\"\"   <sip:jdrosen@example.com>;tag=98asjd8\n"
                   "To: \"Quoted string \\\"\\\"\" <sip:b@y>\n"
                   "Call-ID: c1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"));
  ASSERT_TRUE(q);
  EXPECT_EQ(q->from().displayName, "J Rosenberg \\\\\\\"");  // still escaped
  EXPECT_EQ(q->from().uri.user, "jdrosen");
  EXPECT_EQ(q->from().tag(), "98asjd8");
  EXPECT_EQ(q->to().displayName, "Quoted string \\\"\\\"");
  EXPECT_TRUE(q->to().angleBrackets);
}

TEST(Parser, ParsesUnquotedMultiTokenDisplayName) {
  MessagePtr m =
      parseOk(crlf("OPTIONS sip:x@example.com SIP/2.0\n"
                   "Via: SIP/2.0/UDP h;branch=z9hG4bKq\n"
                   "From: A. Bell <sip:a.g.bell@example.com>;tag=1\n"
                   "To: caller<sip:caller@example.com>\n"
                   "Call-ID: c1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->from().displayName, "A. Bell");
  EXPECT_EQ(m->to().displayName, "caller");
}

TEST(Parser, AcceptsUnquotedUtf8DisplayName) {
  MessagePtr m =
      parseOk(crlf("OPTIONS sip:x@example.com SIP/2.0\n"
                   "Via: SIP/2.0/UDP h;branch=z9hG4bKq\n"
                   "From: J\xc3\xbcrgen M\xc3\xbcller <sip:j@example.com>;tag=1\n"
                   "To: <sip:b@y>\nCall-ID: c1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->from().displayName, "J\xc3\xbcrgen M\xc3\xbcller");
}

TEST(Parser, RejectsTagWithoutAValue) {
  EXPECT_EQ(parseErr(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag\n"
                          "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n"))
                .code,
            ParseErrorCode::BadFrom);
  EXPECT_EQ(parseErr(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\n"
                          "To: <sip:b@y>;TAG\nCall-ID: c\nCSeq: 1 OPTIONS\n\n"))
                .code,
            ParseErrorCode::BadTo);
}

TEST(Parser, AddrSpecParamsAreHeaderParams) {
  MessagePtr m =
      parseOk(crlf("OPTIONS sip:x@example.com SIP/2.0\n"
                   "Via: SIP/2.0/UDP h;branch=z9hG4bKq\n"
                   "From: sip:caller@example.net ;  tag = 1918\n"
                   "To: sip:user@example.com;user=phone\n"
                   "Call-ID: c1\nCSeq: 1 OPTIONS\nContent-Length: 0\n\n"));
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->from().angleBrackets);
  EXPECT_EQ(m->from().tag(), "1918");
  EXPECT_EQ(m->from().uri.text, "sip:caller@example.net");
  EXPECT_TRUE(m->to().uri.params.empty());
  EXPECT_EQ(m->to().param("user"), "phone");
}

TEST(Parser, RejectsMalformedFromAndTo) {
  EXPECT_EQ(parseErr(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: \"open <sip:a@x>\n"
                          "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n"))
                .code,
            ParseErrorCode::BadFrom);
  EXPECT_EQ(parseErr(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>\n"
                          "To: Watson, Thomas <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n"))
                .code,
            ParseErrorCode::BadTo);
  EXPECT_EQ(parseErr(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>\n"
                          "To: < sip:b@y >\nCall-ID: c\nCSeq: 1 OPTIONS\n\n"))
                .code,
            ParseErrorCode::BadTo);
  EXPECT_EQ(parseErr(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;;tag=1\n"
                          "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n"))
                .code,
            ParseErrorCode::BadFrom);
}

std::string withDuplicate(std::string_view line) {
  return request("OPTIONS", std::string(line) + "\n");
}

TEST(Parser, RejectsDuplicateCallId) {
  ParseError e = parseErr(withDuplicate("Call-ID: other@192.0.2.2"));
  EXPECT_EQ(e.code, ParseErrorCode::DuplicateHeader);
  EXPECT_EQ(e.status, 400);
  EXPECT_TRUE(e.isRequest);
}

TEST(Parser, RejectsDuplicateSingletonHeaders) {
  for (std::string_view line :
       {"From: <sip:x@y>;tag=2", "t: <sip:z@y>", "CSeq: 2 OPTIONS", "Max-Forwards: 5", "l: 0",
        "Content-Type: text/plain\nc: text/plain", "i: again"}) {
    EXPECT_EQ(parseErr(withDuplicate(line)).code, ParseErrorCode::DuplicateHeader) << line;
  }
}

TEST(Parser, AllowsRepeatedListHeaders) {
  MessagePtr m = parseOk(
      request("INVITE",
              "Contact: <sip:a@192.0.2.1>\nContact: <sip:b@192.0.2.1>, \"x,y\" <sip:c@h>\n"
              "Route: <sip:p1;lr>\nRoute: <sip:p2;lr>, <sip:p3;lr>\nRecord-Route: <sip:rr;lr>\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->headerCount(HeaderId::Contact), 2u);
  EXPECT_EQ(m->headerCount(HeaderId::Route), 2u);
}

TEST(Parser, AcceptsContactStar) {
  MessagePtr m = parseOk(request("REGISTER", "Contact: *\nExpires: 0\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->header(HeaderId::Contact)->value, "*");
}

TEST(Parser, RejectsMalformedContactAndRoute) {
  EXPECT_EQ(parseErr(request("INVITE", "Contact: \"Joe\" <sip:joe@example.org>;;;;\n")).code,
            ParseErrorCode::BadContact);
  EXPECT_EQ(parseErr(request("INVITE", "Contact: <sip:a@h>,\n")).code, ParseErrorCode::BadContact);
  EXPECT_EQ(parseErr(request("INVITE", "Contact: sip:user@example.com?Route=%3Csip:x%3E\n")).code,
            ParseErrorCode::BadContact);
  EXPECT_EQ(parseErr(request("INVITE", "Contact: <sip:a@h\n")).code, ParseErrorCode::BadContact);
  EXPECT_EQ(parseErr(request("INVITE", "Route: sip:p1;lr\n")).code, ParseErrorCode::BadRoute);
  EXPECT_EQ(parseErr(request("INVITE", "Record-Route: <sip:p1;lr>, <>\n")).code,
            ParseErrorCode::BadRoute);
}

TEST(Parser, RejectsCSeqMethodMismatch) {
  ParseError e =
      parseErr(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\n"
                    "To: <sip:b@y>\nCall-ID: c\nCSeq: 8 INVITE\n\n"));
  EXPECT_EQ(e.code, ParseErrorCode::CSeqMethodMismatch);
  EXPECT_EQ(e.status, 400);
}

TEST(Parser, CSeqMethodComparisonIsCaseSensitive) {
  EXPECT_EQ(parseErr(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\n"
                          "To: <sip:b@y>\nCall-ID: c\nCSeq: 8 options\n\n"))
                .code,
            ParseErrorCode::CSeqMethodMismatch);
}

TEST(Parser, RejectsMalformedCSeq) {
  auto with = [](std::string_view cseq) {
    return crlf(
        "OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@y>\n"
        "Call-ID: c\nCSeq: " +
        std::string(cseq) + "\n\n");
  };
  EXPECT_EQ(parseErr(with("36893488147419103232 OPTIONS")).code, ParseErrorCode::BadCSeq);
  EXPECT_EQ(parseErr(with("4294967296 OPTIONS")).code, ParseErrorCode::BadCSeq);
  EXPECT_EQ(parseErr(with("OPTIONS")).code, ParseErrorCode::BadCSeq);
  EXPECT_EQ(parseErr(with("12")).code, ParseErrorCode::BadCSeq);
  EXPECT_EQ(parseErr(with("12OPTIONS")).code, ParseErrorCode::BadCSeq);
  EXPECT_EQ(parseErr(with("-1 OPTIONS")).code, ParseErrorCode::BadCSeq);
  EXPECT_EQ(parseErr(with("1 OPTIONS extra")).code, ParseErrorCode::BadCSeq);
  MessagePtr max = parseOk(with("4294967295 OPTIONS"));
  ASSERT_TRUE(max);
  EXPECT_EQ(max->cseq().number, 4294967295u);
}

TEST(Parser, AcceptsLeadingZerosInCSeqAndMaxForwards) {
  MessagePtr m =
      parseOk(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\n"
                   "To: <sip:b@y>\nCall-ID: c\nCSeq: 0009 OPTIONS\nMax-Forwards: 0068\n\n"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->cseq().number, 9u);
  EXPECT_EQ(m->maxForwards(), 68u);
}

TEST(Parser, RejectsMaxForwardsOutOfRange) {
  auto with = [](std::string_view mf) {
    return crlf(
        "OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@y>\n"
        "Call-ID: c\nCSeq: 1 OPTIONS\nMax-Forwards: " +
        std::string(mf) + "\n\n");
  };
  EXPECT_EQ(parseErr(with("256")).code, ParseErrorCode::BadMaxForwards);
  EXPECT_EQ(parseErr(with("-1")).code, ParseErrorCode::BadMaxForwards);
  EXPECT_EQ(parseErr(with("seventy")).code, ParseErrorCode::BadMaxForwards);
  EXPECT_EQ(parseErr(with("")).code, ParseErrorCode::BadMaxForwards);
  MessagePtr m = parseOk(with("255"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->maxForwards(), 255u);
}

TEST(Parser, AcceptsMissingMaxForwards) {
  // RFC 2543 peers do not send it (RFC 4475 §3.4.1 inv2543).
  MessagePtr m =
      parseOk(crlf("INVITE sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>\n"
                   "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 INVITE\n\n"));
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->maxForwards().has_value());
}

TEST(Parser, RejectsMissingMandatoryHeaders) {
  const std::string lines[] = {"Via: SIP/2.0/UDP h\n", "From: <sip:a@x>;tag=1\n", "To: <sip:b@y>\n",
                               "Call-ID: c\n", "CSeq: 1 OPTIONS\n"};
  for (size_t skip = 0; skip < 5; ++skip) {
    std::string m = "OPTIONS sip:x@y SIP/2.0\n";
    for (size_t i = 0; i < 5; ++i) {
      if (i != skip) m += lines[i];
    }
    ParseError e = parseErr(crlf(m + "\n"));
    EXPECT_EQ(e.code, ParseErrorCode::MissingHeader) << lines[skip];
    EXPECT_EQ(e.status, 400);
  }
}

TEST(Parser, RejectsMalformedCallIdValues) {
  for (std::string_view id : {"a b", "a@", "@b", "a@b@c", "semi;colon", ""}) {
    std::string m = crlf(
        "OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\n"
        "To: <sip:b@y>\nCall-ID: " +
        std::string(id) + "\nCSeq: 1 OPTIONS\n\n");
    EXPECT_EQ(parseErr(m).code, ParseErrorCode::BadCallId) << id;
  }
}

TEST(Parser, RejectsMalformedContentType) {
  EXPECT_EQ(parseErr(request("OPTIONS", "Content-Type: sdp\n")).code,
            ParseErrorCode::BadHeaderValue);
  EXPECT_EQ(parseErr(request("OPTIONS", "Content-Type: application/sdp;\n")).code,
            ParseErrorCode::BadHeaderValue);
  MessagePtr m = parseOk(request("OPTIONS", "Content-Type: multipart/mixed ; boundary=\"a;b\"\n"));
  ASSERT_TRUE(m);
}

TEST(Parser, RejectsNegativeOrGarbageContentLength) {
  std::string base = crlf(
      "OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\n"
      "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\n");
  for (std::string_view cl : {"-999", "five", "1 2", "", "99999999999999999999"}) {
    ParseError e = parseErr(base + "Content-Length: " + std::string(cl) + "\r\n\r\n");
    EXPECT_EQ(e.code, ParseErrorCode::BadContentLength) << cl;
    EXPECT_EQ(e.status, 400);
  }
}

TEST(Parser, RejectsBodyShorterThanContentLength) {
  std::string m = request("INVITE", "Content-Type: application/sdp\n", "v=0\r\n");
  m.replace(m.find("Content-Length: 5"), 17, "Content-Length: 9999");
  ParseError e = parseErr(m);
  EXPECT_EQ(e.code, ParseErrorCode::BodyTooShort);
  EXPECT_EQ(e.status, 400);
}

TEST(Parser, IgnoresBytesBeyondContentLength) {
  std::string m = request("OPTIONS") + "garbage after the message";
  MessagePtr msg = parseOk(m);
  ASSERT_TRUE(msg);
  EXPECT_TRUE(msg->body().empty());
  EXPECT_EQ(msg->raw().size(), m.size() - 25);
}

TEST(Parser, BodyIsRestOfDatagramWithoutContentLength) {
  MessagePtr m =
      parseOk(crlf("INVITE sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>\n"
                   "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 INVITE\nContent-Type: application/sdp\n\n") +
              "v=0\r\nrest of datagram");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->contentLength().has_value());
  EXPECT_EQ(m->body(), "v=0\r\nrest of datagram");
}

TEST(Parser, ToleratesLeadingCrlf) {
  std::string m = "\r\n\r\n" + request("OPTIONS");
  MessagePtr msg = parseOk(m);
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->raw().size(), m.size() - 4);
  EXPECT_EQ(msg->startLine(), "OPTIONS sip:bob@example.com SIP/2.0");
}

TEST(Parser, RejectsTooManyLeadingCrlf) {
  std::string lots;
  for (size_t i = 0; i < kMaxLeadingCrlf / 2 + 1; ++i) lots += "\r\n";
  EXPECT_EQ(parseErr(lots + request("OPTIONS")).code, ParseErrorCode::BadStartLine);
  std::string fine;
  for (size_t i = 0; i < kMaxLeadingCrlf / 2; ++i) fine += "\r\n";
  EXPECT_TRUE(parseOk(fine + request("OPTIONS")));
}

TEST(Parser, EmptyInputIsDropped) {
  ParseError e = parseErr("");
  EXPECT_EQ(e.code, ParseErrorCode::Empty);
  EXPECT_EQ(e.status, 0);
  EXPECT_EQ(parseErr("\r\n\r\n").code, ParseErrorCode::Empty);
}

TEST(Parser, NonSipInputIsDropped) {
  for (std::string_view junk :
       {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "hello", "\x16\x03\x01\x02\x00"}) {
    ParseError e = parseErr(std::string(junk));
    EXPECT_EQ(e.status, 0) << junk;
    EXPECT_FALSE(e.isRequest);
  }
}

TEST(Parser, RejectsUnsupportedVersionWith505) {
  ParseError e = parseErr(crlf("OPTIONS sip:x@y SIP/7.0\nVia: SIP/7.0/UDP h\n\n"));
  EXPECT_EQ(e.code, ParseErrorCode::BadVersion);
  EXPECT_EQ(e.status, 505);
  EXPECT_EQ(parseErr(crlf("OPTIONS sip:x@y SIP/2.0a\nVia: SIP/2.0/UDP h\n\n")).status, 400);
}

TEST(Parser, AcceptsLowerCaseVersion) {
  MessagePtr m =
      parseOk(crlf("OPTIONS sip:x@y sip/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\n"
                   "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n"));
  EXPECT_TRUE(m);
}

TEST(Parser, MalformedResponsesAreDropped) {
  std::string tail = crlf(
      "Via: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@y>\nCall-ID: c\nCSeq: 1 INVITE\n\n");
  for (std::string_view line :
       {"SIP/2.0 4294967301 big", "SIP/2.0 99 Low", "SIP/2.0 700 High", "SIP/2.0 20 Short",
        "SIP/2.0 2000 Long", "SIP/3.0 200 OK", "SIP/2.0"}) {
    ParseError e = parseErr(std::string(line) + "\r\n" + tail);
    EXPECT_EQ(e.status, 0) << line;
    EXPECT_FALSE(e.isRequest);
  }
  ParseError noCallId = parseErr(crlf(
      "SIP/2.0 200 OK\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>\nTo: <sip:b@y>\nCSeq: 1 INVITE\n\n"));
  EXPECT_EQ(noCallId.code, ParseErrorCode::MissingHeader);
  EXPECT_EQ(noCallId.status, 0);
}

TEST(Parser, UnknownRequestUriSchemeParses) {
  MessagePtr m = parseOk(request("OPTIONS", "", "", "nobodyKnowsThisScheme:totallyopaquecontent"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->requestUri().scheme, UriScheme::Other);
  EXPECT_EQ(m->requestUri().schemeName, "nobodyKnowsThisScheme");
  EXPECT_EQ(m->requestUri().text, "nobodyKnowsThisScheme:totallyopaquecontent");
}

TEST(Parser, RejectsMalformedRequestLines) {
  std::string tail = crlf(
      "Via: SIP/2.0/UDP h\nFrom: <sip:a@x>;tag=1\nTo: <sip:b@y>\nCall-ID: c\nCSeq: 1 INVITE\n\n");
  struct Case {
    std::string_view line;
    ParseErrorCode code;
  };
  for (const Case& c :
       {Case{"INVITE <sip:user@example.com> SIP/2.0", ParseErrorCode::BadRequestUri},
        Case{"INVITE sip:user@example.com; lr SIP/2.0", ParseErrorCode::BadRequestUri},
        Case{"INVITE  sip:user@example.com  SIP/2.0", ParseErrorCode::BadRequestUri},
        Case{"INVITE sip:user@example.com SIP/2.0  ", ParseErrorCode::BadStartLine},
        Case{"INVITE sip:user@example.com?Route=%3Csip:x%3E SIP/2.0",
             ParseErrorCode::BadRequestUri},
        Case{"INVITE sip:2001:db8::10 SIP/2.0", ParseErrorCode::BadRequestUri},
        Case{"INVITE sip: SIP/2.0", ParseErrorCode::BadRequestUri},
        Case{"INVITE SIP/2.0", ParseErrorCode::BadStartLine},
        Case{"INV@ITE sip:x@y SIP/2.0", ParseErrorCode::BadMethod}}) {
    ParseError e = parseErr(std::string(c.line) + "\r\n" + tail);
    EXPECT_EQ(e.code, c.code) << c.line;
    EXPECT_EQ(e.status, 400) << c.line;
    EXPECT_TRUE(e.isRequest) << c.line;
  }
}

TEST(Parser, RejectsIncompleteHeaderSection) {
  ParseError e = parseErr(crlf("OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nl: 0\n"));
  EXPECT_EQ(e.code, ParseErrorCode::Incomplete);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(parseErr("OPTIONS sip:x@y SIP/2.0").code, ParseErrorCode::Incomplete);
}

TEST(Parser, RejectsHeaderLineWithoutColonOrName) {
  EXPECT_EQ(parseErr(request("OPTIONS", "NoColonHere\n")).code, ParseErrorCode::BadHeaderLine);
  EXPECT_EQ(parseErr(request("OPTIONS", ": value\n")).code, ParseErrorCode::BadHeaderLine);
  EXPECT_EQ(parseErr(request("OPTIONS", "Bad Name: value\n")).code, ParseErrorCode::BadHeaderLine);
}

TEST(Parser, RejectsBareCrInsideAHeader) {
  EXPECT_EQ(parseErr(request("OPTIONS", "X-Evil: a\rInjected: b\n")).code,
            ParseErrorCode::BadHeaderLine);
}

TEST(Parser, AcceptsBareLfLineEnds) {
  MessagePtr m = parseOk(
      "OPTIONS sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bKlf\nFrom: <sip:a@x>;tag=1\n"
      "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\nSubject: a\n b\nContent-Length: 2\n\nhi");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body(), "hi");
  EXPECT_EQ(m->header(HeaderId::Subject)->value, "a  b");
  EXPECT_EQ(m->topVia().branch, "z9hG4bKlf");
}

TEST(Parser, HeaderRawKeepsTheLineAsReceived) {
  MessagePtr m = parseOk(request("OPTIONS", "X-Custom  :   spaced value  \n"));
  ASSERT_TRUE(m);
  const Header* h = m->header("x-custom");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->id, HeaderId::Other);
  EXPECT_EQ(h->name, "X-Custom");
  EXPECT_EQ(h->value, "spaced value");
  EXPECT_EQ(h->raw, "X-Custom  :   spaced value  ");
}

TEST(Parser, ViewsPointIntoTheOwnedBuffer) {
  std::string text = typicalInvite();
  const char* original = text.data();
  auto r = Message::parse(std::move(text));
  ASSERT_TRUE(r.ok());
  const Message& m = **r;
  std::string_view raw = m.raw();
  auto inside = [&raw](std::string_view v) {
    return v.data() >= raw.data() && v.data() + v.size() <= raw.data() + raw.size();
  };
  EXPECT_EQ(raw.data(), original);  // moved, not copied
  EXPECT_TRUE(inside(m.callId()));
  EXPECT_TRUE(inside(m.body()));
  EXPECT_TRUE(inside(m.topVia().branch));
  EXPECT_TRUE(inside(m.from().uri.host));
  EXPECT_TRUE(inside(m.requestUri().text));
  for (const Header& h : m.headers()) EXPECT_TRUE(inside(h.raw));
}

// ---- limits ---------------------------------------------------------------

std::string withExtraHeaders(size_t count) {
  std::string extra;
  for (size_t i = 0; i < count; ++i) extra += "X-H" + std::to_string(i) + ": v\n";
  return request("OPTIONS", extra);
}

TEST(ParserLimits, AcceptsExactlyMaxHeaderCount) {
  // request() writes 7 fields of its own.
  MessagePtr m = parseOk(withExtraHeaders(kMaxHeaderCount - 7));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->headers().size(), kMaxHeaderCount);
}

TEST(ParserLimits, RejectsOneHeaderMoreThanTheLimit) {
  ParseError e = parseErr(withExtraHeaders(kMaxHeaderCount - 7 + 1));  // 129 fields
  EXPECT_EQ(e.code, ParseErrorCode::TooManyHeaders);
  EXPECT_EQ(e.status, 513);
}

std::string withVias(size_t total) {
  std::string extra;
  for (size_t i = 1; i < total; ++i)
    extra += "Via: SIP/2.0/UDP hop" + std::to_string(i) + ".example.com;branch=z9hG4bK" +
             std::to_string(i) + "\n";
  return request("OPTIONS", extra);
}

TEST(ParserLimits, AcceptsExactlyMaxViaCount) {
  MessagePtr m = parseOk(withVias(kMaxViaCount));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->vias().size(), kMaxViaCount);
}

TEST(ParserLimits, RejectsTooManyViasWith483) {
  ParseError e = parseErr(withVias(kMaxViaCount + 1));
  EXPECT_EQ(e.code, ParseErrorCode::TooManyVias);
  EXPECT_EQ(e.status, 483);
}

TEST(ParserLimits, RejectsTooManyViasInOneField) {
  std::string list = "Via: SIP/2.0/UDP a";
  for (size_t i = 0; i < kMaxViaCount; ++i) list += ", SIP/2.0/UDP h" + std::to_string(i);
  EXPECT_EQ(parseErr(request("OPTIONS", list + "\n")).code, ParseErrorCode::TooManyVias);
}

TEST(ParserLimits, ResponseWithTooManyViasIsDropped) {
  std::string vias;
  for (size_t i = 0; i <= kMaxViaCount; ++i)
    vias += "Via: SIP/2.0/UDP h" + std::to_string(i) + "\n";
  ParseError e =
      parseErr(crlf("SIP/2.0 200 OK\n" + vias +
                    "From: <sip:a@x>;tag=1\nTo: <sip:b@y>\nCall-ID: c\nCSeq: 1 INVITE\n\n"));
  EXPECT_EQ(e.code, ParseErrorCode::TooManyVias);
  EXPECT_EQ(e.status, 0);
}

TEST(ParserLimits, RejectsMessageAboveMaxSize) {
  std::string body(70 * 1024, 'x');
  std::string m = request("MESSAGE", "Content-Type: text/plain\n", body);
  ASSERT_GT(m.size(), kMaxMessageSize);
  ParseError e = parseErr(m);
  EXPECT_EQ(e.code, ParseErrorCode::TooLarge);
  EXPECT_EQ(e.status, 513);
  EXPECT_TRUE(e.isRequest);
}

TEST(ParserLimits, AcceptsMessageOfExactlyMaxSize) {
  std::string m = request("MESSAGE", "Content-Type: text/plain\n", "");
  size_t room = kMaxMessageSize - m.size();
  // The Content-Length digits grow from "0" to 5 digits.
  std::string body(room - 4, 'x');
  std::string full = request("MESSAGE", "Content-Type: text/plain\n", body);
  ASSERT_EQ(full.size(), kMaxMessageSize);
  EXPECT_TRUE(parseOk(full));
}

TEST(ParserLimits, RejectsOverlongHeaderLine) {
  std::string value(kMaxHeaderLineLength, 'a');
  ParseError e = parseErr(request("OPTIONS", "X-Long: " + value + "\n"));
  EXPECT_EQ(e.code, ParseErrorCode::TooLarge);
  EXPECT_EQ(e.status, 513);
}

TEST(ParserLimits, FoldedLineCountsItsUnfoldedLength) {
  std::string half(kMaxHeaderLineLength / 2, 'a');
  ParseError e = parseErr(request("OPTIONS", "X-Long: " + half + "\n " + half + "\n"));
  EXPECT_EQ(e.code, ParseErrorCode::TooLarge);
}

TEST(ParserLimits, RejectsOverlongRequestUriWith414) {
  std::string uri = "sip:" + std::string(kMaxUriLength, 'u') + "@example.com";
  ParseError e = parseErr(request("OPTIONS", "", "", uri));
  EXPECT_EQ(e.code, ParseErrorCode::BadRequestUri);
  EXPECT_EQ(e.status, 414);
}

TEST(ParserLimits, RejectsOverlongHeaderName) {
  std::string name(kMaxTokenLength + 1, 'N');
  EXPECT_EQ(parseErr(request("OPTIONS", name + ": v\n")).code, ParseErrorCode::BadHeaderLine);
  std::string okName(kMaxTokenLength, 'N');
  EXPECT_TRUE(parseOk(request("OPTIONS", okName + ": v\n")));
}

TEST(ParserLimits, RejectsOverlongMethod) {
  std::string method(kMaxTokenLength + 1, 'M');
  EXPECT_EQ(parseErr(request(method)).code, ParseErrorCode::BadMethod);
}

}  // namespace
}  // namespace tollgate::sip
