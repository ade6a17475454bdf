// The allow list of fields that cross a B2BUA, the per-gateway additions and
// the identity rewrite.
#include "sip/header_crossing.h"

#include <gtest/gtest.h>

#include <string>

#include "sip/test_messages.h"

namespace tollgate::sip {
namespace {

using testing::crlf;

MessagePtr parsed(const std::string& text) {
  auto r = Message::parse(std::string(text));
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().detail) << "\n" << text;
  return r ? std::move(r).value() : nullptr;
}

std::vector<std::string> names(const std::vector<const Header*>& hs) {
  std::vector<std::string> out;
  for (const Header* h : hs) out.emplace_back(h->name);
  return out;
}

const std::string kInvite = crlf(
    "INVITE sip:15551234567@192.0.2.1 SIP/2.0\n"
    "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-1\n"
    "Max-Forwards: 70\n"
    "From: <sip:4420@10.0.0.5>;tag=a\n"
    "To: <sip:15551234567@192.0.2.1>\n"
    "Call-ID: c1@10.0.0.5\n"
    "CSeq: 1 INVITE\n"
    "Contact: <sip:4420@10.0.0.5>\n"
    "Record-Route: <sip:10.0.0.1;lr>\n"
    "P-Asserted-Identity: <sip:19005550000@10.0.0.5>\n"
    "Remote-Party-ID: <sip:19005550000@10.0.0.5>;party=calling\n"
    "P-Charge-Info: <sip:19005550000@10.0.0.5>\n"
    "Diversion: <sip:4421@10.0.0.5>;reason=unconditional\n"
    "X-Internal-Route: core-7\n"
    "x-account-code: 7001\n"
    "Organization: Acme\n"
    "User-Agent: Asterisk\n"
    "Warning: 399 host.internal \"x\"\n"
    "Supported: timer, 100rel\n"
    "Session-Expires: 1800\n"
    "Privacy: none\n"
    "Allow: INVITE, ACK, BYE\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 0\n\n");

TEST(HeaderCrossing, OnlyEndToEndFieldsCrossFromAnUntrustedPeer) {
  MessagePtr m = parsed(kInvite);
  ASSERT_TRUE(m);
  EXPECT_EQ(names(crossingHeaders(*m, HeaderAllowList{}, false)),
            (std::vector<std::string>{"Supported", "Session-Expires", "Privacy", "Allow",
                                      "Content-Type"}));
}

TEST(HeaderCrossing, TrustedPeerAddsIdentityAndTheListAddsExtensionsByName) {
  MessagePtr m = parsed(kInvite);
  ASSERT_TRUE(m);
  HeaderAllowList extra({"X-Account-Code"});
  EXPECT_EQ(names(crossingHeaders(*m, extra, true)),
            (std::vector<std::string>{"P-Asserted-Identity", "Remote-Party-ID", "P-Charge-Info",
                                      "Diversion", "x-account-code", "Supported", "Session-Expires",
                                      "Privacy", "Allow", "Content-Type"}));
}

TEST(HeaderCrossing, AllowListCannotLetTheB2buaOwnFieldsThrough) {
  for (const char* n : {"Via",
                        "v",
                        "Route",
                        "Record-Route",
                        "Contact",
                        "m",
                        "From",
                        "To",
                        "Call-ID",
                        "i",
                        "CSeq",
                        "Max-Forwards",
                        "Content-Length",
                        "l",
                        "Authorization",
                        "Proxy-Authorization",
                        "WWW-Authenticate",
                        "Proxy-Authenticate",
                        "Path",
                        "Refer-To",
                        "User-Agent",
                        "Server",
                        "Warning"}) {
    EXPECT_NE(HeaderAllowList::problem(n), "") << n;
  }
  for (const char* n : {"P-Asserted-Identity", "Remote-Party-ID", "P-Charge-Info", "Diversion",
                        "History-Info", "Identity", "y"}) {
    EXPECT_NE(HeaderAllowList::problem(n), "") << n;
  }
  EXPECT_NE(HeaderAllowList::problem(""), "");
  EXPECT_NE(HeaderAllowList::problem("X Bad"), "");
  EXPECT_NE(HeaderAllowList::problem("X-Bad:"), "");
  EXPECT_NE(HeaderAllowList::problem(std::string(65, 'X')), "");
  EXPECT_EQ(HeaderAllowList::problem("X-Account-Code"), "");
  EXPECT_EQ(HeaderAllowList::problem("User-to-User"), "");
  // Even if a list held one (a store edited by hand), it never crosses.
  MessagePtr m = parsed(kInvite);
  ASSERT_TRUE(m);
  HeaderAllowList bad({"Via", "Record-Route", "Warning"});
  for (const Header* h : crossingHeaders(*m, bad, false)) {
    EXPECT_NE(h->id, HeaderId::Via);
    EXPECT_NE(h->id, HeaderId::RecordRoute);
    EXPECT_NE(h->id, HeaderId::Warning);
  }
}

TEST(HeaderCrossing, AllowListMatchesCaseInsensitively) {
  HeaderAllowList l({"X-Account-Code", "x-account-code"});
  EXPECT_TRUE(l.allows("X-ACCOUNT-CODE"));
  EXPECT_TRUE(l.allows("x-account-code"));
  EXPECT_FALSE(l.allows("X-Account"));
  EXPECT_FALSE(l.allows(std::string(200, 'x')));
  EXPECT_FALSE(HeaderAllowList{}.allows("X-Account-Code"));
}

TEST(HeaderCrossing, IdentityRewriteKeepsDisplayUserAndParamsAndDropsHosts) {
  auto same = [](std::string_view u) { return unescape(u); };
  EXPECT_EQ(rewriteIdentity("\"Boss\" <sip:%2B19005550000@10.0.0.5:5060;user=phone?X=1>", "gw:5060",
                            same),
            "\"Boss\" <sip:+19005550000@gw:5060>");
  EXPECT_EQ(rewriteIdentity("<sip:4421@10.0.0.5>;reason=unconditional;counter=1", "h", same),
            "<sip:4421@h>;reason=unconditional;counter=1");
  EXPECT_EQ(rewriteIdentity("<tel:+4420;phone-context=x>, <sip:1@a>", "h", same),
            "<sip:+4420@h>, <sip:1@h>");
  EXPECT_EQ(rewriteIdentity("sip:1@a", "h", [](std::string_view) { return std::string("99"); }),
            "<sip:99@h>");
  EXPECT_EQ(rewriteIdentity("<urn:service:sos>", "h", same), "");
  EXPECT_EQ(rewriteIdentity("not a uri at all <", "h", same), "");
  EXPECT_EQ(rewriteIdentity("*", "h", same), "");
}

TEST(HeaderCrossing, IdentityUsersAreAsWritten) {
  EXPECT_EQ(identityUsers("<sip:%2B1900@a>, \"x\" <tel:555>"),
            (std::vector<std::string_view>{"%2B1900", "555"}));
  EXPECT_TRUE(identityUsers("garbage <").empty());
}

TEST(HeaderCrossing, BillingIdentitiesAreTheCallerNumbersACarrierBillsOn) {
  MessagePtr m = parsed(kInvite);
  ASSERT_TRUE(m);
  std::vector<std::string> billing;
  for (const Header& h : m->headers()) {
    if (isBillingIdentity(h)) billing.emplace_back(h.name);
  }
  EXPECT_EQ(billing, (std::vector<std::string>{"P-Asserted-Identity", "Remote-Party-ID",
                                               "P-Charge-Info", "Diversion"}));
}

}  // namespace
}  // namespace tollgate::sip
