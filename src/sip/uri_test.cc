// Value parsers usable on any view: URIs, name-addr, lists, Via, params,
// tokens, unescape; method and header names; reason phrases.
#include <gtest/gtest.h>

#include <string>

#include "sip/limits.h"
#include "sip/message.h"

namespace tollgate::sip {
namespace {

Uri uriOk(std::string_view text) {
  auto r = parseUri(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r ? "" : r.error().detail);
  return r ? *r : Uri{};
}

TEST(Uri, ParsesAllPartsOfASipUri) {
  Uri u = uriOk(
      "sip:alice:secret@atlanta.example.com:5070;transport=tcp;lr?subject=project&priority=urgent");
  EXPECT_EQ(u.scheme, UriScheme::Sip);
  EXPECT_EQ(u.schemeName, "sip");
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.password, "secret");
  EXPECT_EQ(u.host, "atlanta.example.com");
  EXPECT_EQ(u.port, 5070);
  EXPECT_EQ(u.params, ";transport=tcp;lr");
  EXPECT_EQ(u.headers, "subject=project&priority=urgent");
  EXPECT_EQ(u.param("TRANSPORT"), "tcp");
  EXPECT_EQ(u.param("lr"), "");
  EXPECT_FALSE(u.param("maddr").has_value());
  EXPECT_TRUE(u.isSipLike());
}

TEST(Uri, SchemeIsCaseInsensitive) {
  EXPECT_EQ(uriOk("SIP:bob@example.com").scheme, UriScheme::Sip);
  EXPECT_EQ(uriOk("SiPs:bob@example.com").scheme, UriScheme::Sips);
  EXPECT_EQ(uriOk("TEL:+1-201-555-0123").scheme, UriScheme::Tel);
  EXPECT_EQ(uriOk("sips:bob@example.com").schemeName, "sips");
}

TEST(Uri, ParsesHostOnlyUri) {
  Uri u = uriOk("sip:203.0.113.10");
  EXPECT_TRUE(u.user.empty());
  EXPECT_EQ(u.host, "203.0.113.10");
  EXPECT_EQ(u.port, 0);
}

TEST(Uri, ParsesTelUri) {
  Uri u = uriOk("tel:+1-201-555-0123;phone-context=example.com");
  EXPECT_EQ(u.scheme, UriScheme::Tel);
  EXPECT_EQ(u.user, "+1-201-555-0123");
  EXPECT_EQ(u.param("phone-context"), "example.com");
  EXPECT_TRUE(u.host.empty());
}

TEST(Uri, KeepsOtherSchemesAsText) {
  for (std::string_view text :
       {"nobodyKnowsThisScheme:totallyopaquecontent", "soap.beep://192.0.2.103:3002",
        "isbn:2983792873", "http://www.example.com", "urn:service:sos"}) {
    Uri u = uriOk(text);
    EXPECT_EQ(u.scheme, UriScheme::Other) << text;
    EXPECT_EQ(u.text, text);
    EXPECT_TRUE(u.host.empty());
  }
  EXPECT_EQ(uriOk("soap.beep://192.0.2.103:3002").schemeName, "soap.beep");
}

TEST(Uri, ParsesIpv6References) {
  Uri plain = uriOk("sip:[2001:db8::10]");
  EXPECT_EQ(plain.host, "[2001:db8::10]");
  EXPECT_EQ(plain.port, 0);
  Uri withPort = uriOk("sip:[2001:db8::10]:5070");
  EXPECT_EQ(withPort.host, "[2001:db8::10]");
  EXPECT_EQ(withPort.port, 5070);
  // RFC 5118 §4.3: the port inside the brackets is part of the address.
  Uri ambiguous = uriOk("sip:[2001:db8::10:5070]");
  EXPECT_EQ(ambiguous.host, "[2001:db8::10:5070]");
  EXPECT_EQ(ambiguous.port, 0);
  EXPECT_EQ(uriOk("sip:user@[::ffff:192.0.2.2]").host, "[::ffff:192.0.2.2]");
  // RFC 5118 §4.10: tolerate the three-colon form.
  EXPECT_EQ(uriOk("sip:user@[2001:db8:::192.0.2.1]").host, "[2001:db8:::192.0.2.1]");
}

TEST(Uri, RejectsMalformedUris) {
  for (std::string_view text : {"",
                                "sip",
                                ":x",
                                "1sip:x",
                                "sip:",
                                "sip:@host",
                                "sip:user@",
                                "sip:2001:db8::10",
                                "sip:host:port",
                                "sip:host:65536",
                                "sip:host:123456",
                                "sip:[::1",
                                "sip:[]",
                                "sip:[zz::1]",
                                "sip:ho st",
                                "sip:<x>",
                                "sip:x\"y",
                                "tel:",
                                "tel:;x=1",
                                "sip:host/x"}) {
    EXPECT_FALSE(parseUri(text).ok()) << text;
  }
}

TEST(Uri, RejectsUriLongerThanTheLimit) {
  std::string text = "sip:" + std::string(kMaxUriLength, 'a') + "@h";
  EXPECT_FALSE(parseUri(text).ok());
}

TEST(Uri, UserPartMayHoldSemicolonsAndQuestionMarks) {
  // RFC 4475 §3.1.1.9 semiuri and §3.1.1.2 intmeth.
  Uri semi = uriOk("sip:user;par=u%40example.net@example.com");
  EXPECT_EQ(semi.user, "user;par=u%40example.net");
  EXPECT_EQ(semi.host, "example.com");
  EXPECT_TRUE(semi.params.empty());
  Uri crazy = uriOk(
      "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/"
      ";;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
  EXPECT_EQ(crazy.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  EXPECT_EQ(crazy.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  EXPECT_EQ(crazy.host, "example.com");
}

TEST(Uri, KeepsEscapesInUserAndParams) {
  Uri u = uriOk("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
  EXPECT_EQ(u.user, "cal%6Cer");
  EXPECT_EQ(unescape(u.user), "caller");
  EXPECT_EQ(u.param("n%61me"), "v%61lue%25%34%31");
  EXPECT_EQ(unescape("v%61lue%25%34%31"), "value%41");  // unescaped once, not twice
}

TEST(Unescape, DecodesValidEscapesAndKeepsInvalidOnes) {
  EXPECT_EQ(unescape("%2B44"), "+44");
  EXPECT_EQ(unescape("%zz%4"), "%zz%4");
  EXPECT_EQ(unescape("100%"), "100%");
  std::string nul = unescape("null-%00-null");
  EXPECT_EQ(nul.size(), 11u);  // RFC 4475 escnull: the NUL does not truncate
  EXPECT_EQ(nul[5], '\0');
}

TEST(FindParam, IsCaseInsensitiveAndTolerant) {
  EXPECT_EQ(findParam(";Tag=abc;lr", "tag"), "abc");
  EXPECT_EQ(findParam(";  tag  =  abc  ; lr", "TAG"), "abc");
  EXPECT_EQ(findParam(";lr;tag=1", "lr"), "");
  EXPECT_FALSE(findParam(";lr;tag=1", "l").has_value());
  EXPECT_EQ(findParam(";;a=1;;", "a"), "1");
  EXPECT_EQ(findParam(";text=\"a;b=c\";x=2", "x"), "2");
  EXPECT_EQ(findParam(";text=\"a;b=c\";x=2", "text"), "\"a;b=c\"");
  EXPECT_FALSE(findParam("", "a").has_value());
}

NameAddr nameAddrOk(std::string_view text) {
  auto r = parseNameAddr(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r ? "" : r.error().detail);
  return r ? *r : NameAddr{};
}

TEST(NameAddr, ParsesQuotedDisplayNameAndParams) {
  NameAddr na = nameAddrOk(
      " \"Alice \\\"A\\\" Smith\" <sip:alice@example.org;transport=tcp> ;tag=88sja8x ; "
      "expires=60 ");
  EXPECT_EQ(
      na.text,
      "\"Alice \\\"A\\\" Smith\" <sip:alice@example.org;transport=tcp> ;tag=88sja8x ; expires=60");
  EXPECT_EQ(na.displayName, "Alice \\\"A\\\" Smith");
  EXPECT_TRUE(na.angleBrackets);
  EXPECT_EQ(na.uri.text, "sip:alice@example.org;transport=tcp");
  EXPECT_EQ(na.uri.param("transport"), "tcp");
  EXPECT_EQ(na.tag(), "88sja8x");
  EXPECT_EQ(na.param("expires"), "60");
}

TEST(NameAddr, DisplayNameMayHoldNulAndUtf8) {
  std::string text =
      std::string("\"BEL:\\\x07 NUL:\\") + '\0' + " DEL:\\\x7f \xd0\x98\" <sip:x@example.com>";
  NameAddr na = nameAddrOk(text);
  EXPECT_EQ(na.uri.user, "x");
  EXPECT_EQ(na.displayName.size(), text.find('<') - 3);
}

TEST(NameAddr, ParsesTokenDisplayNames) {
  EXPECT_EQ(nameAddrOk("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>").displayName,
            "token1~` token2'+_ token3*%!.-");
  EXPECT_EQ(nameAddrOk("caller<sip:caller@example.com>;tag=323").displayName, "caller");
  EXPECT_EQ(nameAddrOk("<sip:a@b>").displayName, "");
}

TEST(NameAddr, AddrSpecParamsBelongToTheHeader) {
  // RFC 4475 §3.3.12-13 cparam01 / cparam02.
  NameAddr bare = nameAddrOk("sip:+19725552222@gw1.example.net;unknownparam");
  EXPECT_FALSE(bare.angleBrackets);
  EXPECT_TRUE(bare.uri.params.empty());
  EXPECT_EQ(bare.param("unknownparam"), "");
  NameAddr bracketed = nameAddrOk("<sip:+19725552222@gw1.example.net;unknownparam>");
  EXPECT_EQ(bracketed.uri.param("unknownparam"), "");
  EXPECT_FALSE(bracketed.param("unknownparam").has_value());
}

TEST(NameAddr, KeepsUriHeadersInsideBrackets) {
  NameAddr na = nameAddrOk("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>");
  EXPECT_EQ(na.uri.headers, "Route=%3Csip:sip.example.com%3E");
}

TEST(NameAddr, AcceptsAnyUriScheme) {
  EXPECT_EQ(nameAddrOk("isbn:2983792873").uri.scheme, UriScheme::Other);
  EXPECT_EQ(nameAddrOk("<http://www.example.com>;tag=3234233").tag(), "3234233");
  EXPECT_EQ(nameAddrOk("<name:John_Smith>").uri.schemeName, "name");
}

TEST(NameAddr, RejectsMalformedAddresses) {
  for (std::string_view text :
       {"", "\"unterminated <sip:a@b>", "\"name\" sip:a@b", "<sip:a@b", "< sip:a@b>", "<sip:a@b >",
        "Bell, Alexander <sip:a@b>", "sip:a@b?x=y", "<sip:a@b> junk", "<sip:a@b>;",
        "<sip:a@b>;;tag=1", "<sip:a@b>;tag=", "<sip:a@b>;=x", "<>", "<sip:a@b>;p=\"open",
        "sip:a@b, sip:c@d"}) {
    EXPECT_FALSE(parseNameAddr(text).ok()) << text;
  }
}

TEST(NameAddrList, SplitsOnCommasOutsideQuotesAndBrackets) {
  auto r = parseNameAddrList(
      "\"Doe, John\" <sip:j@a.example;x=1,2>;q=0.7, <sip:b@b.example>;expires=5,sip:c@c.example");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].displayName, "Doe, John");
  EXPECT_EQ((*r)[0].uri.param("x"), "1,2");
  EXPECT_EQ((*r)[0].param("q"), "0.7");
  EXPECT_EQ((*r)[1].param("expires"), "5");
  EXPECT_EQ((*r)[2].uri.host, "c.example");
}

TEST(NameAddrList, StarIsItsOwnContact) {
  auto r = parseNameAddrList(" * ");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].text, "*");
  EXPECT_FALSE(parseNameAddrList("*, <sip:a@b>").ok());
}

TEST(NameAddrList, RejectsEmptyElementsAndUnbalancedText) {
  for (std::string_view text :
       {"", "<sip:a@b>,", ",<sip:a@b>", "<sip:a@b>,,<sip:c@d>", "\"x <sip:a@b>", "<sip:a@b"}) {
    EXPECT_FALSE(parseNameAddrList(text).ok()) << text;
  }
}

TEST(ViaList, ParsesEveryValue) {
  auto r = parseViaList(
      "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP "
      "[2001:db8::1]:5061;branch=z9hG4bK2;rport=5061");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].host, "a.example.com");
  EXPECT_EQ((*r)[0].text, "SIP/2.0/UDP a.example.com;branch=z9hG4bK1");
  EXPECT_EQ((*r)[1].host, "[2001:db8::1]");
  EXPECT_EQ((*r)[1].port, 5061);
  EXPECT_EQ((*r)[1].rport, 5061);
  EXPECT_EQ((*r)[1].params, ";branch=z9hG4bK2;rport=5061");
  EXPECT_FALSE(parseViaList("SIP/2.0/UDP a, ").ok());
  EXPECT_FALSE(parseViaList("").ok());
}

TEST(ViaList, AcceptsUnknownTransportsAndQuotedParams) {
  auto r =
      parseViaList("SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en;comment=\"a, b; c\"");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].transport, "UNKNOWN");
  EXPECT_EQ((*r)[0].param("comment"), "\"a, b; c\"");
}

TEST(SplitTokens, TrimsAndSkipsEmpties) {
  auto t = splitTokens(" timer,100rel , ,replaces ");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0], "timer");
  EXPECT_EQ(t[1], "100rel");
  EXPECT_EQ(t[2], "replaces");
  EXPECT_TRUE(splitTokens("").empty());
}

TEST(Names, MethodNamesAreCaseSensitive) {
  EXPECT_EQ(methodFromName("INVITE"), Method::Invite);
  EXPECT_EQ(methodFromName("invite"), Method::Unknown);
  EXPECT_EQ(methodFromName("RE%47IST%45R"), Method::Unknown);
  for (Method m : {Method::Invite, Method::Ack, Method::Bye, Method::Cancel, Method::Options,
                   Method::Register, Method::Prack, Method::Update, Method::Info, Method::Subscribe,
                   Method::Notify, Method::Refer, Method::Message, Method::Publish}) {
    EXPECT_EQ(methodFromName(methodName(m)), m);
  }
  EXPECT_EQ(methodName(Method::Unknown), "");
}

TEST(Names, HeaderNamesRoundTripAndCompactFormsMap) {
  for (int i = 1; i <= static_cast<int>(HeaderId::SubscriptionState); ++i) {
    HeaderId id = static_cast<HeaderId>(i);
    ASSERT_FALSE(headerName(id).empty()) << i;
    EXPECT_EQ(headerIdFromName(headerName(id)), id) << headerName(id);
    std::string upper(headerName(id));
    for (char& c : upper) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(headerIdFromName(upper), id) << upper;
  }
  const std::pair<const char*, HeaderId> compact[] = {{"i", HeaderId::CallId},
                                                      {"m", HeaderId::Contact},
                                                      {"e", HeaderId::ContentEncoding},
                                                      {"l", HeaderId::ContentLength},
                                                      {"c", HeaderId::ContentType},
                                                      {"f", HeaderId::From},
                                                      {"s", HeaderId::Subject},
                                                      {"k", HeaderId::Supported},
                                                      {"t", HeaderId::To},
                                                      {"v", HeaderId::Via},
                                                      {"o", HeaderId::Event},
                                                      {"r", HeaderId::ReferTo},
                                                      {"x", HeaderId::SessionExpires},
                                                      {"u", HeaderId::AllowEvents},
                                                      {"b", HeaderId::ReferredBy},
                                                      {"a", HeaderId::AcceptContact},
                                                      {"j", HeaderId::RejectContact},
                                                      {"d", HeaderId::RequestDisposition},
                                                      {"y", HeaderId::Identity},
                                                      {"V", HeaderId::Via},
                                                      {"I", HeaderId::CallId}};
  for (const auto& [name, id] : compact) EXPECT_EQ(headerIdFromName(name), id) << name;
  EXPECT_EQ(headerIdFromName("z"), HeaderId::Other);
  EXPECT_EQ(headerIdFromName("X-Custom"), HeaderId::Other);
  EXPECT_EQ(headerIdFromName("C%6Fntact"), HeaderId::Other);  // RFC 4475 esc02
  EXPECT_EQ(headerIdFromName(""), HeaderId::Other);
  EXPECT_EQ(headerName(HeaderId::Other), "");
  EXPECT_EQ(headerName(HeaderId::CallId), "Call-ID");
  EXPECT_EQ(headerName(HeaderId::WwwAuthenticate), "WWW-Authenticate");
}

TEST(ReasonPhrases, KnowsTheStandardOnes) {
  EXPECT_EQ(reasonPhrase(200), "OK");
  EXPECT_EQ(reasonPhrase(416), "Unsupported URI Scheme");
  EXPECT_EQ(reasonPhrase(483), "Too Many Hops");
  EXPECT_EQ(reasonPhrase(486), "Busy Here");
  EXPECT_EQ(reasonPhrase(513), "Message Too Large");
  EXPECT_EQ(reasonPhrase(299), "");
  EXPECT_EQ(reasonPhrase(-1), "");
}

}  // namespace
}  // namespace tollgate::sip
