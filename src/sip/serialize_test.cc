// Edits + serialize(), MessageWriter, makeResponse, makeErrorResponse.
#include "sip/serialize.h"

#include <gtest/gtest.h>

#include <string>

#include "sip/framing.h"
#include "sip/test_messages.h"

namespace tollgate::sip {
namespace {

using testing::crlf;
using testing::request;
using testing::typicalInvite;

MessagePtr parsed(const std::string& text) {
  auto r = Message::parse(std::string(text));
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().detail) << "\n" << text;
  return r ? std::move(r).value() : nullptr;
}

size_t indexOf(const Message& m, HeaderId id) {
  for (size_t i = 0; i < m.headers().size(); ++i) {
    if (m.headers()[i].id == id) return i;
  }
  return SIZE_MAX;
}

TEST(Serialize, RoundTripWithoutEditsIsByteIdentical) {
  std::string text = typicalInvite();
  MessagePtr m = parsed(text);
  ASSERT_TRUE(m);
  EXPECT_EQ(serialize(*m, Edits{}), text);
}

TEST(Serialize, RoundTripNormalisesOnlyTheContentLengthLine) {
  std::string text = crlf(
      "OPTIONS sip:x@example.com SIP/2.0\n"
      "v:   SIP/2.0/UDP h;branch=z9hG4bK1\n"
      "f: <sip:a@x>;tag=1\nt: <sip:b@y>\ni: c1\nCSeq: 1 OPTIONS\n"
      "l:0\n"
      "X-Odd  :  value  \n\n");
  MessagePtr m = parsed(text);
  ASSERT_TRUE(m);
  std::string expected = text;
  expected.replace(expected.find("l:0"), 3, "Content-Length: 0");
  EXPECT_EQ(serialize(*m, Edits{}), expected);
}

TEST(Serialize, RoundTripAddsContentLengthAndDropsNoise) {
  std::string text = crlf(
                         "\n\nINVITE sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>\n"
                         "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 INVITE\nSubject: folded\n line\n\n") +
                     "body";
  MessagePtr m = parsed(text);
  ASSERT_TRUE(m);
  std::string out = serialize(*m, Edits{});
  EXPECT_EQ(out, crlf("INVITE sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:a@x>\n"
                      "To: <sip:b@y>\nCall-ID: c\nCSeq: 1 INVITE\nSubject: folded   line\n"
                      "Content-Length: 4\n\n") +
                     "body");
}

TEST(Serialize, RoundTripDropsBytesBeyondContentLength) {
  std::string text = request("OPTIONS");
  MessagePtr m = parsed(text + "trailing noise");
  ASSERT_TRUE(m);
  EXPECT_EQ(serialize(*m, Edits{}), text);
}

TEST(Serialize, RemovesHeadersByIndexAndById) {
  MessagePtr m = parsed(typicalInvite());
  ASSERT_TRUE(m);
  Edits e;
  e.removeHeader(indexOf(*m, HeaderId::UserAgent));
  e.removeAll(*m, HeaderId::Via);
  EXPECT_FALSE(e.empty());
  std::string out = serialize(*m, e);
  EXPECT_EQ(out.find("User-Agent"), std::string::npos);
  EXPECT_EQ(out.find("Via:"), std::string::npos);
  EXPECT_NE(out.find("P-Asserted-Identity"), std::string::npos);
}

TEST(Serialize, ReplaceValueKeepsTheNameAsReceived) {
  MessagePtr m = parsed(
      crlf("OPTIONS sip:x@example.com SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\n"
           "f: <sip:a@x>;tag=1\nt: <sip:b@y>\ni: c1\nCSeq: 1 OPTIONS\nMax-Forwards: 70\n\n"));
  ASSERT_TRUE(m);
  Edits e;
  e.replaceValue(indexOf(*m, HeaderId::MaxForwards), "69");
  e.replaceValue(indexOf(*m, HeaderId::From), "<sip:anonymous@anonymous.invalid>;tag=1");
  std::string out = serialize(*m, e);
  EXPECT_NE(out.find("\r\nMax-Forwards: 69\r\n"), std::string::npos);
  EXPECT_NE(out.find("\r\nf: <sip:anonymous@anonymous.invalid>;tag=1\r\n"), std::string::npos);
  MessagePtr again = parsed(out);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->maxForwards(), 69u);
  EXPECT_EQ(again->from().uri.user, "anonymous");
}

TEST(Serialize, InsertsInOrderAtEachPosition) {
  MessagePtr m = parsed(request("OPTIONS"));
  ASSERT_TRUE(m);
  Edits e;
  e.append("X-Last", "1");
  e.prepend("Via", "SIP/2.0/UDP tollgate.example;branch=z9hG4bKours");
  e.insertBefore(indexOf(*m, HeaderId::CallId), "X-Before-Call-Id", "a");
  e.insertBefore(indexOf(*m, HeaderId::CallId), "X-Before-Call-Id", "b");
  e.append("X-Last", "2");
  e.insertBefore(1000, "X-Past-End", "z");
  std::string out = serialize(*m, e);
  EXPECT_EQ(out.find("OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP "
                     "tollgate.example;branch=z9hG4bKours\r\n"),
            0u);
  size_t a = out.find("X-Before-Call-Id: a");
  size_t b = out.find("X-Before-Call-Id: b");
  size_t callId = out.find("Call-ID:");
  EXPECT_LT(a, b);
  EXPECT_LT(b, callId);
  EXPECT_LT(out.find("X-Last: 1"), out.find("X-Last: 2"));
  MessagePtr again = parsed(out);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->vias().size(), 2u);
  EXPECT_EQ(again->topVia().branch, "z9hG4bKours");
}

TEST(Serialize, SetBodyRecomputesContentLength) {
  MessagePtr m = parsed(typicalInvite());
  ASSERT_TRUE(m);
  Edits e;
  e.setBody("v=0\r\n");
  std::string out = serialize(*m, e);
  MessagePtr again = parsed(out);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body(), "v=0\r\n");
  EXPECT_EQ(again->contentLength(), 5u);
  EXPECT_EQ(again->contentType(), "application/sdp");
  EXPECT_EQ(out.find("Content-Length"), out.rfind("Content-Length"));
}

TEST(Serialize, SetBodyWithContentTypeReplacesAddsOrRemovesIt) {
  MessagePtr withType = parsed(typicalInvite());
  ASSERT_TRUE(withType);
  Edits replace;
  replace.setBody("--b--", "multipart/mixed;boundary=b");
  MessagePtr replaced = parsed(serialize(*withType, replace));
  ASSERT_TRUE(replaced);
  EXPECT_EQ(replaced->contentType(), "multipart/mixed;boundary=b");
  EXPECT_EQ(replaced->headerCount(HeaderId::ContentType), 1u);

  MessagePtr withoutType = parsed(request("INFO"));
  ASSERT_TRUE(withoutType);
  Edits add;
  add.setBody("Signal=5\r\n", "application/dtmf-relay");
  MessagePtr added = parsed(serialize(*withoutType, add));
  ASSERT_TRUE(added);
  EXPECT_EQ(added->contentType(), "application/dtmf-relay");
  EXPECT_EQ(added->body(), "Signal=5\r\n");

  Edits remove;
  remove.setBody("", "");
  MessagePtr removed = parsed(serialize(*withType, remove));
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->header(HeaderId::ContentType), nullptr);
  EXPECT_EQ(removed->contentLength(), 0u);
}

TEST(Serialize, SetStartLineRewritesTheRequestLine) {
  MessagePtr m = parsed(typicalInvite());
  ASSERT_TRUE(m);
  Edits e;
  e.setStartLine("INVITE sip:+442071234567@carrier.example.net SIP/2.0");
  MessagePtr again = parsed(serialize(*m, e));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->requestUri().host, "carrier.example.net");
}

TEST(Serialize, IgnoresInsertedContentLength) {
  MessagePtr m = parsed(request("OPTIONS"));
  ASSERT_TRUE(m);
  Edits e;
  e.append("Content-Length", "999");
  e.prepend("l", "5");
  std::string out = serialize(*m, e);
  EXPECT_EQ(out.find("999"), std::string::npos);
  EXPECT_TRUE(parsed(out));
}

TEST(Serialize, RemovedContentLengthIsStillWritten) {
  MessagePtr m = parsed(request("MESSAGE", "Content-Type: text/plain\n", "hi"));
  ASSERT_TRUE(m);
  Edits e;
  e.removeAll(*m, HeaderId::ContentLength);
  MessagePtr again = parsed(serialize(*m, e));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->contentLength(), 2u);
}

TEST(Serialize, LineBreaksInEditsCannotInjectHeaders) {
  MessagePtr m = parsed(request("OPTIONS", "X-A: 1\n"));
  ASSERT_TRUE(m);
  Edits e;
  e.replaceValue(indexOf(*m, HeaderId::Other), "x\r\nInjected: 1");
  e.append("X-B", "y\nInjected: 2");
  e.setStartLine("OPTIONS sip:x@y SIP/2.0\r\nInjected: 3");
  std::string out = serialize(*m, e);
  EXPECT_EQ(out.find("\r\nInjected"), std::string::npos);
  EXPECT_EQ(out.find("\nInjected"), std::string::npos);
}

TEST(Serialize, EditsStartEmpty) {
  Edits e;
  EXPECT_TRUE(e.empty());
  e.setBody("");
  EXPECT_FALSE(e.empty());
}

TEST(MessageWriter, ComposesARequestThatParses) {
  MessageWriter w;
  std::string out = w.requestLine("OPTIONS", "sip:carrier.example.net")
                        .header("Via", "SIP/2.0/UDP 203.0.113.10:5060;branch=z9hG4bKping1;rport")
                        .header("Max-Forwards", "70")
                        .header("From", "<sip:ping@203.0.113.10>;tag=p1")
                        .header("To", "<sip:carrier.example.net>")
                        .header("Call-ID", "ping-1@203.0.113.10")
                        .header("CSeq", "1 OPTIONS")
                        .finish();
  MessagePtr m = parsed(out);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->method(), Method::Options);
  EXPECT_EQ(m->contentLength(), 0u);
  Frame f = nextFrame(out);
  EXPECT_EQ(f.kind, Frame::Message);
  EXPECT_EQ(f.length, out.size());
}

TEST(MessageWriter, StatusLineUsesStandardReasonWhenEmpty) {
  MessageWriter w;
  std::string out = w.statusLine(503, "").finish("x");
  EXPECT_EQ(out, "SIP/2.0 503 Service Unavailable\r\nContent-Length: 1\r\n\r\nx");
}

TEST(MessageWriter, CopiesReceivedFields) {
  MessagePtr m = parsed(typicalInvite());
  ASSERT_TRUE(m);
  MessageWriter w;
  std::string out = w.statusLine(200, "OK").header(*m->header(HeaderId::CallId)).finish();
  EXPECT_NE(out.find("\r\nCall-ID: a84b4c76e66710@198.51.100.7\r\n"), std::string::npos);
}

TEST(MakeResponse, CopiesViasFromToCallIdAndCSeq) {
  MessagePtr req = parsed(typicalInvite());
  ASSERT_TRUE(req);
  std::string out = makeResponse(*req, 486, "", "b2bua-tag");
  EXPECT_EQ(out, crlf("SIP/2.0 486 Busy Here\n"
                      "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds;rport\n"
                      "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKfirsthop;received=192.0.2.9\n"
                      "From: \"Alice\" <sip:+14155550100@198.51.100.7>;tag=1928301774\n"
                      "To: <sip:+442071234567@203.0.113.10>;tag=b2bua-tag\n"
                      "Call-ID: a84b4c76e66710@198.51.100.7\n"
                      "CSeq: 314159 INVITE\n"
                      "Content-Length: 0\n\n"));
  MessagePtr resp = parsed(out);
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->status(), 486);
  EXPECT_EQ(resp->to().tag(), "b2bua-tag");
}

TEST(MakeResponse, CopiesViasFromACommaList) {
  MessagePtr req = parsed(
      request("BYE", "Via: SIP/2.0/UDP p1;branch=z9hG4bKp1, SIP/2.0/TCP p2;branch=z9hG4bKp2\n"));
  ASSERT_TRUE(req);
  MessagePtr resp = parsed(makeResponse(*req, 200, "", "t"));
  ASSERT_TRUE(resp);
  ASSERT_EQ(resp->vias().size(), 3u);
  EXPECT_EQ(resp->vias()[1].branch, "z9hG4bKp1");
  EXPECT_EQ(resp->vias()[2].branch, "z9hG4bKp2");
}

TEST(MakeResponse, KeepsAnExistingToTag) {
  MessagePtr req =
      parsed(crlf("BYE sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@x>;tag=1\n"
                  "To: <sip:b@y>;tag=already\nCall-ID: c\nCSeq: 2 BYE\n\n"));
  ASSERT_TRUE(req);
  std::string out = makeResponse(*req, 200, "", "new");
  EXPECT_NE(out.find("To: <sip:b@y>;tag=already\r\n"), std::string::npos);
  EXPECT_EQ(out.find("new"), std::string::npos);
}

TEST(MakeResponse, NoToTagOn100OrWhenNoneGiven) {
  MessagePtr req = parsed(typicalInvite());
  ASSERT_TRUE(req);
  EXPECT_EQ(makeResponse(*req, 100, "", "t1").find("tag=t1"), std::string::npos);
  MessagePtr resp = parsed(makeResponse(*req, 404, "", ""));
  ASSERT_TRUE(resp);
  EXPECT_TRUE(resp->to().tag().empty());
}

TEST(MakeResponse, TopViaReplacesTheFirstValue) {
  MessagePtr req = parsed(typicalInvite());
  ASSERT_TRUE(req);
  MessagePtr resp = parsed(makeResponse(
      *req, 100, "", "", {}, {},
      "SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds;rport=5062;received=192.0.2.77"));
  ASSERT_TRUE(resp);
  ASSERT_EQ(resp->vias().size(), 2u);
  EXPECT_EQ(resp->topVia().rport, 5062);
  EXPECT_EQ(resp->topVia().received, "192.0.2.77");
  EXPECT_EQ(resp->vias()[1].branch, "z9hG4bKfirsthop");
}

TEST(MakeResponse, AddsExtraHeadersAndBody) {
  MessagePtr req = parsed(typicalInvite());
  ASSERT_TRUE(req);
  std::string out =
      makeResponse(*req, 200, "Fine", "t",
                   {{"Contact", "<sip:b2bua@203.0.113.10>"}, {"Content-Type", "application/sdp"}},
                   testing::kSdp);
  MessagePtr resp = parsed(out);
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->reason(), "Fine");
  EXPECT_EQ(resp->body(), testing::kSdp);
  EXPECT_EQ(resp->contentType(), "application/sdp");
  EXPECT_NE(resp->header(HeaderId::Contact), nullptr);
}

TEST(MakeResponse, CopiesRecordRouteOnlyForDialogCreatingResponses) {
  MessagePtr req = parsed(
      request("INVITE", "Record-Route: <sip:p2;lr>, <sip:p1;lr>\nRecord-Route: <sip:p0;lr>\n"));
  ASSERT_TRUE(req);
  MessagePtr ok = parsed(makeResponse(*req, 200, "", "t"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->headerCount(HeaderId::RecordRoute), 2u);
  EXPECT_EQ(ok->header(HeaderId::RecordRoute)->value, "<sip:p2;lr>, <sip:p1;lr>");
  MessagePtr busy = parsed(makeResponse(*req, 486, "", "t"));
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->headerCount(HeaderId::RecordRoute), 0u);
  MessagePtr bye = parsed(request("BYE", "Record-Route: <sip:p2;lr>\n"));
  ASSERT_TRUE(bye);
  MessagePtr byeOk = parsed(makeResponse(*bye, 200, "", "t"));
  ASSERT_TRUE(byeOk);
  EXPECT_EQ(byeOk->headerCount(HeaderId::RecordRoute), 0u);
}

TEST(MakeErrorResponse, AnswersAnUnparseableRequest) {
  std::string bad = crlf(
      "INVITE sip:x@y SIP/2.0\nv: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"
      "Via: SIP/2.0/UDP\n 192.0.2.2;branch=z9hG4bK2\n"
      "From: <sip:a@x>;tag=1\nTo: <sip:b@y>\ni: c@h\nCSeq: 99999999999999 INVITE\n\n");
  ASSERT_FALSE(Message::parse(std::string(bad)).ok());
  std::string out = makeErrorResponse(bad, 400, "", "err1");
  EXPECT_EQ(out, crlf("SIP/2.0 400 Bad Request\n"
                      "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n"
                      "Via: SIP/2.0/UDP  192.0.2.2;branch=z9hG4bK2\n"
                      "From: <sip:a@x>;tag=1\n"
                      "To: <sip:b@y>;tag=err1\n"
                      "Call-ID: c@h\n"
                      "CSeq: 99999999999999 INVITE\n"
                      "Content-Length: 0\n\n"));
}

TEST(MakeErrorResponse, KeepsAnExistingToTagAndCustomReason) {
  std::string bad = crlf("BYE sip:x@y SIP/7.0\nVia: SIP/7.0/UDP h\nTo: B <sip:b@y> ; tag = zz\n\n");
  std::string out = makeErrorResponse(bad, 505, "Version Not Supported Here", "err1");
  EXPECT_EQ(out.find("SIP/2.0 505 Version Not Supported Here\r\n"), 0u);
  EXPECT_NE(out.find("To: B <sip:b@y> ; tag = zz\r\n"), std::string::npos);
  EXPECT_EQ(out.find("err1"), std::string::npos);
}

TEST(MakeErrorResponse, NothingForResponsesOrWithoutVia) {
  EXPECT_EQ(makeErrorResponse(crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h\n\n"), 400, "", "t"), "");
  EXPECT_EQ(makeErrorResponse(crlf("\nSIP/2.0 200 OK\nVia: SIP/2.0/UDP h\n\n"), 400, "", "t"), "");
  EXPECT_EQ(makeErrorResponse(crlf("INVITE sip:x@y SIP/2.0\nFrom: <sip:a@x>\n\n"), 400, "", "t"),
            "");
  EXPECT_EQ(makeErrorResponse("", 400, "", "t"), "");
  EXPECT_EQ(makeErrorResponse("INVITE sip:x@y SIP/2.0", 400, "", "t"), "");
}

TEST(MakeErrorResponse, StopsAtTheEndOfTheHeaderSection) {
  std::string bad = crlf(
      "INVITE sip:x@y SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCSeq: x\n\n"
      "Via: SIP/2.0/UDP body-line\n");
  std::string out = makeErrorResponse(bad, 400, "", "t");
  EXPECT_EQ(out.find("body-line"), std::string::npos);
  EXPECT_NE(out.find("Via: SIP/2.0/UDP h;branch=z9hG4bK1"), std::string::npos);
}

}  // namespace
}  // namespace tollgate::sip
