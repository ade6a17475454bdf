// Digest primitives against the published test vectors (RFC 2617 §3.5,
// RFC 2069 §2.4, RFC 7616 §3.9.1), plus parsing of credentials and
// challenges and the client answer round trip.
#include "auth/digest.h"

#include <gtest/gtest.h>

namespace tollgate::auth {
namespace {

std::string response(DigestHasher& h, Algorithm a, std::string_view ha1, std::string_view nonce,
                     std::string_view nc, std::string_view cnonce, std::string_view qop,
                     std::string_view method, std::string_view uri) {
  HexDigest out;
  size_t n = h.response(a, ha1, nonce, nc, cnonce, qop, method, uri, out);
  return std::string(out.data(), n);
}

TEST(DigestTest, Rfc2617QopAuthVector) {
  DigestHasher h;
  std::string ha1 = h.ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_EQ(response(h, Algorithm::Md5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001",
                     "0a4f113b", "auth", "GET", "/dir/index.html"),
            "6629fae49393a05397450978507c4ef1");
}

TEST(DigestTest, Rfc2069NoQopVector) {
  DigestHasher h;
  std::string ha1 = h.ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", "CircleOfLife");
  EXPECT_EQ(response(h, Algorithm::Md5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "", "", "",
                     "GET", "/dir/index.html"),
            "1949323746fe6a43ef61f9606e7febea");
}

TEST(DigestTest, Rfc7616Md5AndSha256Vectors) {
  DigestHasher h;
  const std::string_view nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  const std::string_view cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  std::string md5 = h.ha1(Algorithm::Md5, "Mufasa", "http-auth@example.org", "Circle of Life");
  std::string sha = h.ha1(Algorithm::Sha256, "Mufasa", "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(md5.size(), 32u);
  EXPECT_EQ(sha.size(), 64u);
  EXPECT_EQ(
      response(h, Algorithm::Md5, md5, nonce, "00000001", cnonce, "auth", "GET", "/dir/index.html"),
      "8ca523f5e9506fed4657c9700eebdbec");
  EXPECT_EQ(response(h, Algorithm::Sha256, sha, nonce, "00000001", cnonce, "auth", "GET",
                     "/dir/index.html"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
}

TEST(DigestTest, AlgorithmNames) {
  EXPECT_EQ(algorithmFromName(""), Algorithm::Md5);  // RFC 2617 default
  EXPECT_EQ(algorithmFromName("md5"), Algorithm::Md5);
  EXPECT_EQ(algorithmFromName("SHA-256"), Algorithm::Sha256);
  EXPECT_EQ(algorithmFromName("sha-256"), Algorithm::Sha256);
  EXPECT_FALSE(algorithmFromName("MD5-sess").has_value());
  EXPECT_FALSE(algorithmFromName("SHA-512-256").has_value());
  EXPECT_EQ(algorithmName(Algorithm::Sha256), "SHA-256");
}

TEST(DigestTest, ParsesCredentialsAsSipClientsWriteThem) {
  // The svcrack form (no spaces, unquoted qop/nc/algorithm) and the
  // baresip/SIPp form (spaces, quoted) both parse.
  Credentials a;
  ASSERT_TRUE(parseCredentials(
      "Digest username=\"100\",realm=\"test.local\",nonce=\"0a3f\",uri=\"sip:127.0.0.1\","
      "cnonce=\"6d5b\",nc=00000003,algorithm=MD5,qop=auth,response=\"3025aa\"",
      a));
  EXPECT_EQ(a.username, "100");
  EXPECT_EQ(a.realm, "test.local");
  EXPECT_EQ(a.nonce, "0a3f");
  EXPECT_EQ(a.uri, "sip:127.0.0.1");
  EXPECT_EQ(a.cnonce, "6d5b");
  EXPECT_EQ(a.nc, "00000003");
  EXPECT_EQ(a.algorithm, "MD5");
  EXPECT_EQ(a.qop, "auth");
  EXPECT_EQ(a.response, "3025aa");

  Credentials b;
  ASSERT_TRUE(parseCredentials(
      "digest  username = \"alice\" , realm=\"r\", nonce=\"n\", uri=\"sip:1000@127.0.0.1:5090\", "
      "response=\"ab\", opaque=\"\"",
      b));
  EXPECT_EQ(b.username, "alice");
  EXPECT_EQ(b.qop, "");
  EXPECT_EQ(b.algorithm, "");
  EXPECT_EQ(b.opaque, "");
}

TEST(DigestTest, UnescapesQuotedUsername) {
  Credentials c;
  ASSERT_TRUE(parseCredentials(
      R"(Digest username="a\"b\\c", realm="r", nonce="n", uri="u", response="x")", c));
  EXPECT_EQ(c.username, "a\"b\\c");
}

TEST(DigestTest, RejectsBrokenCredentials) {
  Credentials c1;
  auto r1 = parseCredentials("Basic dXNlcjpwYXNz", c1);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error(), CredentialsError::NotDigest);
  Credentials c2;
  auto r2 = parseCredentials(
      "Digest username=\"a\", username=\"b\", realm=\"r\", nonce=\"n\", "
      "uri=\"u\", response=\"x\"",
      c2);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error(), CredentialsError::Malformed) << "a duplicate parameter is ambiguous";
  Credentials c3;
  auto r3 = parseCredentials("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u", c3);
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error(), CredentialsError::Malformed);
  Credentials c4;
  auto r4 = parseCredentials("Digest username=\"a\", realm=\"r\", uri=\"u\", response=\"x\"", c4);
  ASSERT_FALSE(r4);
  EXPECT_EQ(r4.error(), CredentialsError::Missing);
  std::string many = "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"";
  for (int i = 0; i < 30; ++i) many += ", x" + std::to_string(i) + "=y";
  Credentials c5;
  auto r5 = parseCredentials(many, c5);
  ASSERT_FALSE(r5);
  EXPECT_EQ(r5.error(), CredentialsError::Malformed);
}

TEST(DigestTest, NonceCount) {
  EXPECT_EQ(parseNonceCount("00000001"), 1u);
  EXPECT_EQ(parseNonceCount("0000000A"), 10u);
  EXPECT_EQ(parseNonceCount("ffffffff"), 0xffffffffu);
  EXPECT_FALSE(parseNonceCount("1").has_value());
  EXPECT_FALSE(parseNonceCount("0000000g").has_value());
}

TEST(DigestTest, ParsesChallenges) {
  auto c = parseChallenge(
      "Digest realm=\"carrier.example\", nonce=\"abc\", opaque=\"op\", algorithm=SHA-256, "
      "qop=\"auth,auth-int\", stale=TRUE");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->realm, "carrier.example");
  EXPECT_EQ(c->nonce, "abc");
  EXPECT_EQ(c->opaque, "op");
  EXPECT_EQ(c->algorithm, Algorithm::Sha256);
  EXPECT_TRUE(c->qopAuth);
  EXPECT_TRUE(c->stale);
  EXPECT_TRUE(c->supported);

  auto legacy = parseChallenge("Digest realm=\"r\", nonce=\"n\"");
  ASSERT_TRUE(legacy);
  EXPECT_EQ(legacy->algorithm, Algorithm::Md5);
  EXPECT_FALSE(legacy->qopAuth);
  EXPECT_TRUE(legacy->supported);

  auto intOnly = parseChallenge("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"");
  ASSERT_TRUE(intOnly);
  EXPECT_FALSE(intOnly->supported) << "we cannot answer auth-int";
  auto sess = parseChallenge("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess");
  ASSERT_TRUE(sess);
  EXPECT_FALSE(sess->supported);
}

TEST(DigestTest, ChallengeValueKeepsAlgorithmBeforeAComma) {
  std::string v = challengeValue(Algorithm::Md5, "tollgate.local", "NONCE", false);
  EXPECT_EQ(v, "Digest realm=\"tollgate.local\", nonce=\"NONCE\", algorithm=MD5, qop=\"auth\"");
  std::string s = challengeValue(Algorithm::Sha256, "r", "n", true);
  EXPECT_EQ(s, "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\", stale=true");
}

TEST(DigestTest, AnswerVerifiesAgainstIndependentComputation) {
  DigestHasher h;
  for (const char* header :
       {"Digest realm=\"c.example\", nonce=\"xyz\", qop=\"auth\", algorithm=MD5, opaque=\"o1\"",
        "Digest realm=\"c.example\", nonce=\"xyz\", algorithm=SHA-256, qop=\"auth\"",
        "Digest realm=\"c.example\", nonce=\"xyz\""}) {
    auto c = parseChallenge(header);
    ASSERT_TRUE(c) << header;
    std::string answer =
        answerChallenge(h, *c, "INVITE", "sip:100@192.0.2.1", "trunk1", "s3cret", "cn0nce", 1);
    Credentials creds;
    ASSERT_TRUE(parseCredentials(answer, creds)) << answer;
    EXPECT_EQ(creds.username, "trunk1");
    EXPECT_EQ(creds.uri, "sip:100@192.0.2.1");
    std::string ha1 = h.ha1(c->algorithm, "trunk1", "c.example", "s3cret");
    EXPECT_EQ(creds.response, response(h, c->algorithm, ha1, "xyz", creds.nc, creds.cnonce,
                                       creds.qop, "INVITE", "sip:100@192.0.2.1"))
        << answer;
    EXPECT_EQ(creds.qop.empty(), !c->qopAuth);
    if (c->qopAuth) {
      EXPECT_EQ(creds.nc, "00000001");
    }
    EXPECT_EQ(creds.opaque, c->opaque);
  }
}

TEST(DigestTest, HexEqualsIsCaseInsensitiveAndLengthStrict) {
  EXPECT_TRUE(hexEquals("abcdef01", "ABCDEF01"));
  EXPECT_TRUE(hexEquals("abcdef01", "abcdef01"));
  EXPECT_FALSE(hexEquals("abcdef01", "abcdef02"));
  EXPECT_FALSE(hexEquals("abcdef01", "abcdef0"));
  EXPECT_FALSE(hexEquals("abcdef01", ""));
}

}  // namespace
}  // namespace tollgate::auth
