// checkRequest: 405/501, 416, 400 (bare branch cookie), 483, 420, 415, 406.
#include "sip/checks.h"

#include <gtest/gtest.h>

#include <string>

#include "sip/test_messages.h"

namespace tollgate::sip {
namespace {

using testing::request;

CheckFailure check(const std::string& text, const CheckPolicy& policy = CheckPolicy{}) {
  auto r = Message::parse(std::string(text));
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().detail) << "\n" << text;
  if (!r) return {};
  return checkRequest(**r, policy);
}

std::string headerValue(const CheckFailure& f, std::string_view name) {
  for (const auto& [n, v] : f.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

std::string sdpInvite(std::string_view extra = {}) {
  return request("INVITE", std::string("Content-Type: application/sdp\n") + std::string(extra),
                 testing::kSdp);
}

TEST(Checks, PassesAPlainInvite) {
  CheckFailure f = check(testing::typicalInvite());
  EXPECT_EQ(f.status, 0);
  EXPECT_TRUE(f.headers.empty());
}

TEST(Checks, ResponsesAlwaysPass) {
  auto r = Message::parse(
      testing::crlf("SIP/2.0 200 OK\nVia: SIP/2.0/UDP h;branch=z9hG4bK\nFrom: <sip:a@x>;tag=1\n"
                    "To: <sip:b@y>;tag=2\nCall-ID: c\nCSeq: 1 INVITE\n\n"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(checkRequest(**r, CheckPolicy{}).status, 0);
}

TEST(Checks, Answers501WithAllowForAnUnknownMethod) {
  CheckFailure f = check(request("NEWMETHOD"));
  EXPECT_EQ(f.status, 501);
  EXPECT_EQ(f.reason, "Not Implemented");
  EXPECT_EQ(headerValue(f, "Allow"), std::string(CheckPolicy{}.allow));
}

TEST(Checks, Answers405WithAllowForAKnownMethodNotOffered) {
  for (std::string_view method :
       {"REGISTER", "SUBSCRIBE", "MESSAGE", "PUBLISH", "REFER", "NOTIFY"}) {
    CheckFailure f = check(request(method));
    EXPECT_EQ(f.status, 405) << method;
    EXPECT_EQ(f.reason, "Method Not Allowed");
    EXPECT_EQ(headerValue(f, "Allow"), "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK");
  }
}

TEST(Checks, AllowListComesFromThePolicy) {
  CheckPolicy policy;
  policy.allow = "INVITE, ACK, BYE, CANCEL, REGISTER";
  EXPECT_EQ(check(request("REGISTER"), policy).status, 0);
  CheckFailure f = check(request("OPTIONS"), policy);
  EXPECT_EQ(f.status, 405);
  EXPECT_EQ(headerValue(f, "Allow"), "INVITE, ACK, BYE, CANCEL, REGISTER");
}

TEST(Checks, Answers416ForAnUnsupportedRequestUriScheme) {
  for (std::string_view uri : {"nobodyKnowsThisScheme:totallyopaquecontent",
                               "soap.beep://192.0.2.103:3002", "http://example.com/"}) {
    CheckFailure f = check(request("OPTIONS", "", "", uri));
    EXPECT_EQ(f.status, 416) << uri;
    EXPECT_EQ(f.reason, "Unsupported URI Scheme");
  }
}

TEST(Checks, AcceptsSipSipsAndTelRequestUris) {
  for (std::string_view uri : {"sip:bob@example.com", "sips:bob@example.com", "tel:+14155550100"}) {
    EXPECT_EQ(check(request("OPTIONS", "", "", uri)).status, 0) << uri;
  }
}

TEST(Checks, AcceptsNonSipToAndFromUris) {
  // RFC 4475 §3.3.4 unksm2: only the Request-URI decides.
  std::string m = testing::crlf(
      "OPTIONS sip:x@example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
      "From: <http://www.example.com>;tag=1\nTo: isbn:2983792873\nCall-ID: c\n"
      "CSeq: 1 OPTIONS\nContact: <name:John_Smith>\n\n");
  EXPECT_EQ(check(m).status, 0);
}

TEST(Checks, Answers400ForABranchThatIsOnlyTheMagicCookie) {
  std::string m = testing::crlf(
      "OPTIONS sip:x@example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK\n"
      "From: <sip:a@x>;tag=1\nTo: <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n");
  EXPECT_EQ(check(m).status, 400);
  std::string rfc2543 = testing::crlf(
      "OPTIONS sip:x@example.com SIP/2.0\nVia: SIP/2.0/UDP h\n"
      "From: <sip:a@x>;tag=1\nTo: <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n");
  EXPECT_EQ(check(rfc2543).status, 0);  // no branch at all: RFC 2543 peer
}

TEST(Checks, Answers483WhenForwardingWithMaxForwardsZero) {
  std::string m = testing::crlf(
      "OPTIONS sip:x@example.com SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\n"
      "From: <sip:a@x>;tag=1\nTo: <sip:b@y>\nCall-ID: c\nCSeq: 1 OPTIONS\nMax-Forwards: 0\n\n");
  CheckFailure f = check(m);
  EXPECT_EQ(f.status, 483);
  EXPECT_EQ(f.reason, "Too Many Hops");
  CheckPolicy local;
  local.forwarding = false;  // RFC 4475 §3.3.11 zeromf: a UAS answers it
  EXPECT_EQ(check(m, local).status, 0);
}

TEST(Checks, Answers420ListingUnsupportedRequireAndProxyRequireTags) {
  CheckFailure f = check(request("OPTIONS",
                                 "Require: nothingSupportsThis, timer, nothingSupportsThisEither\n"
                                 "Proxy-Require: noProxiesSupportThis\n"));
  EXPECT_EQ(f.status, 420);
  EXPECT_EQ(f.reason, "Bad Extension");
  EXPECT_EQ(headerValue(f, "Unsupported"),
            "nothingSupportsThis, nothingSupportsThisEither, noProxiesSupportThis");
}

TEST(Checks, AcceptsSupportedRequireTags) {
  EXPECT_EQ(check(sdpInvite("Require: 100rel, Timer\nRequire: replaces\n")).status, 0);
}

TEST(Checks, DoesNotCheckRequireOnAckOrCancel) {
  EXPECT_EQ(check(request("ACK", "Require: unknown-ext\n")).status, 0);
  EXPECT_EQ(check(request("CANCEL", "Require: unknown-ext\nProxy-Require: other\n")).status, 0);
}

TEST(Checks, Answers415WithAcceptForABodyTypeWeCannotRead) {
  CheckFailure f =
      check(request("INVITE", "Content-Type: application/unknownformat\n", "<audio/>"));
  EXPECT_EQ(f.status, 415);
  EXPECT_EQ(f.reason, "Unsupported Media Type");
  EXPECT_EQ(headerValue(f, "Accept"), "application/sdp, multipart/mixed");
  EXPECT_EQ(check(request("UPDATE", "Content-Type: text/plain\n", "x")).status, 415);
  EXPECT_EQ(check(request("PRACK", "Content-Type: text/plain\n", "x")).status, 415);
}

TEST(Checks, Answers415ForABodyWithoutContentType) {
  EXPECT_EQ(check(request("INVITE", "", "v=0\r\n")).status, 415);
}

TEST(Checks, ComparesBodyTypesCaseInsensitivelyIgnoringParameters) {
  EXPECT_EQ(check(request("INVITE", "Content-Type: Application/SDP\n", testing::kSdp)).status, 0);
  EXPECT_EQ(
      check(request("INVITE", "Content-Type: application / sdp ; charset=utf-8\n", testing::kSdp))
          .status,
      0);
  EXPECT_EQ(check(request("INVITE", "Content-Type: multipart/mixed;boundary=x\n", "--x--")).status,
            0);
}

TEST(Checks, IgnoresBodiesOfOtherMethodsAndEmptyBodies) {
  EXPECT_EQ(check(request("INFO", "Content-Type: application/dtmf-relay\n", "Signal=1\r\n")).status,
            0);
  EXPECT_EQ(check(request("INVITE", "Content-Type: application/unknownformat\n")).status, 0);
}

TEST(Checks, Answers406WhenAcceptAdmitsNoneOfOurBodyTypes) {
  CheckFailure f = check(sdpInvite("Accept: text/nobodyKnowsThis\n"));
  EXPECT_EQ(f.status, 406);
  EXPECT_EQ(f.reason, "Not Acceptable");
  EXPECT_EQ(check(sdpInvite("Accept: application/sdp;q=0, text/html\n")).status, 406);
}

TEST(Checks, HonoursWildcardsAndListsInAccept) {
  EXPECT_EQ(check(sdpInvite("Accept: */*\n")).status, 0);
  EXPECT_EQ(check(sdpInvite("Accept: application/*\n")).status, 0);
  EXPECT_EQ(check(sdpInvite("Accept: text/html, APPLICATION/SDP;level=1\n")).status, 0);
  EXPECT_EQ(check(sdpInvite("Accept: text/html\nAccept: application/sdp;q=0.5\n")).status, 0);
  EXPECT_EQ(check(sdpInvite("Accept: \n")).status, 0);  // empty: treated as absent
}

TEST(Checks, AcceptIsOnlyCheckedOnInvite) {
  EXPECT_EQ(check(request("OPTIONS", "Accept: text/nobodyKnowsThis\n")).status, 0);
}

TEST(Checks, MethodIsCheckedBeforeTheUriScheme) {
  EXPECT_EQ(check(request("REGISTER", "", "", "urn:x:y")).status, 405);
}

}  // namespace
}  // namespace tollgate::sip
