// The client side of digest (digest_client.h): which challenge is answered,
// the one rule for answering again (stale=true with a new nonce, bounded),
// and answers checked against an independent computation: MD5 and
// SHA-256, qop=auth (nc, cnonce) and the RFC 2069 form without qop.
#include "auth/digest_client.h"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::auth {
namespace {

constexpr std::string_view kUser = "trunk1";
constexpr std::string_view kPassword = "s3cret";
constexpr std::string_view kUri = "sip:100@192.0.2.1";

// A 401/407 carrying `challenges` (one WWW-/Proxy-Authenticate field each).
sip::MessagePtr challenge(int status, std::initializer_list<std::string_view> challenges) {
  const bool proxy = status == 407;
  std::string m = "SIP/2.0 " + std::to_string(status) +
                  (proxy ? " Proxy Authentication Required" : " Unauthorized") +
                  "\r\n"
                  "Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-1\r\n"
                  "From: <sip:a@192.0.2.9>;tag=1\r\n"
                  "To: <sip:100@192.0.2.1>;tag=2\r\n"
                  "Call-ID: c1\r\n"
                  "CSeq: 1 INVITE\r\n";
  for (std::string_view c : challenges) {
    m += proxy ? "Proxy-Authenticate: " : "WWW-Authenticate: ";
    m += c;
    m += "\r\n";
  }
  m += "Content-Length: 0\r\n\r\n";
  auto parsed = sip::Message::parse(std::move(m));
  EXPECT_TRUE(parsed.ok());
  return std::move(parsed).value();
}

std::string expectedResponse(const Credentials& c, std::string_view realm, Algorithm a,
                             std::string_view method) {
  DigestHasher h;
  std::string ha1 = h.ha1(a, kUser, realm, kPassword);
  HexDigest out;
  size_t n = h.response(a, ha1, c.nonce, c.nc, c.cnonce, c.qop, method, c.uri, out);
  return std::string(out.data(), n);
}

class DigestClientTest : public ::testing::Test {
 protected:
  Result<Authorization, DigestRefusal> answer(const sip::Message& m, DigestAnswers& answers,
                                              std::string_view user = kUser) {
    return client_.answer(m, answers, "INVITE", kUri, user, kPassword);
  }
  SeededRandom random_{7};
  DigestClient client_{random_};
};

TEST_F(DigestClientTest, AnswersA401InAuthorizationWithQopAuthAndNcOne) {
  auto m = challenge(401, {R"(Digest realm="c.example", nonce="n1", qop="auth", opaque="o1")"});
  DigestAnswers answers;
  auto a = answer(*m, answers);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->proxy);
  EXPECT_EQ(a->header(), "Authorization");
  Credentials c;
  ASSERT_TRUE(parseCredentials(a->value, c)) << a->value;
  EXPECT_EQ(c.username, kUser);
  EXPECT_EQ(c.realm, "c.example");
  EXPECT_EQ(c.nonce, "n1");
  EXPECT_EQ(c.uri, kUri);
  EXPECT_EQ(c.qop, "auth");
  EXPECT_EQ(c.nc, "00000001");
  EXPECT_EQ(c.cnonce.size(), kCnonceLength);
  EXPECT_EQ(c.opaque, "o1");
  EXPECT_EQ(c.response, expectedResponse(c, "c.example", Algorithm::Md5, "INVITE"));
  EXPECT_EQ(answers.count(), 1);
}

TEST_F(DigestClientTest, AnswersA407InProxyAuthorization) {
  auto m = challenge(407, {R"(Digest realm="c.example", nonce="n1", qop="auth")"});
  DigestAnswers answers;
  auto a = answer(*m, answers);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->proxy);
  EXPECT_EQ(a->header(), "Proxy-Authorization");
}

TEST_F(DigestClientTest, WithoutQopAnswersInTheRfc2069Form) {
  auto m = challenge(401, {R"(Digest realm="c.example", nonce="n1")"});
  DigestAnswers answers;
  auto a = answer(*m, answers);
  ASSERT_TRUE(a.ok());
  Credentials c;
  ASSERT_TRUE(parseCredentials(a->value, c)) << a->value;
  EXPECT_TRUE(c.qop.empty());
  EXPECT_TRUE(c.nc.empty()) << "no nc without qop";
  EXPECT_TRUE(c.cnonce.empty());
  EXPECT_EQ(c.response, expectedResponse(c, "c.example", Algorithm::Md5, "INVITE"));
}

TEST_F(DigestClientTest, AnswersTheFirstChallengeItSupportsInTheServersOrder) {
  // RFC 8760 §2.4: the server lists its preferred algorithm first.
  auto sha = challenge(407, {R"(Digest realm="r", nonce="s", algorithm=SHA-256, qop="auth")",
                             R"(Digest realm="r", nonce="m", algorithm=MD5, qop="auth")"});
  DigestAnswers a1;
  auto a = answer(*sha, a1);
  ASSERT_TRUE(a.ok());
  Credentials c;
  ASSERT_TRUE(parseCredentials(a->value, c));
  EXPECT_EQ(c.algorithm, "SHA-256");
  EXPECT_EQ(c.nonce, "s");
  EXPECT_EQ(c.response, expectedResponse(c, "r", Algorithm::Sha256, "INVITE"));

  // What we cannot answer (-sess, auth-int only) is skipped.
  auto skip = challenge(401, {R"(Digest realm="r", nonce="x", algorithm=MD5-sess, qop="auth")",
                              R"(Digest realm="r", nonce="y", qop="auth-int")",
                              R"(Digest realm="r", nonce="z", algorithm=MD5, qop="auth")"});
  DigestAnswers a2;
  auto b = answer(*skip, a2);
  ASSERT_TRUE(b.ok());
  Credentials d;
  ASSERT_TRUE(parseCredentials(b->value, d));
  EXPECT_EQ(d.nonce, "z");
}

TEST_F(DigestClientTest, NothingToAnswerWithoutASupportedChallengeOrCredentials) {
  auto unsupported =
      challenge(401, {R"(Digest realm="r", nonce="y", qop="auth-int")", R"(Basic realm="r")"});
  DigestAnswers answers;
  auto a = answer(*unsupported, answers);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error(), DigestRefusal::Unsupported);

  auto fine = challenge(401, {R"(Digest realm="r", nonce="n", qop="auth")"});
  auto b = answer(*fine, answers, "");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error(), DigestRefusal::NoCredentials);
  EXPECT_EQ(answers.count(), 0) << "refusals do not count as answers";

  auto ok = sip::Message::parse(
      "SIP/2.0 403 Forbidden\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-1\r\n"
      "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n"
      "Content-Length: 0\r\n\r\n");
  ASSERT_TRUE(ok.ok());
  auto c = answer(**ok, answers);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error(), DigestRefusal::NotAChallenge);
}

TEST_F(DigestClientTest, SecondChallengeWithoutStaleMeansTheCredentialsAreWrong) {
  DigestAnswers answers;
  ASSERT_TRUE(answer(*challenge(401, {R"(Digest realm="r", nonce="n1", qop="auth")"}), answers));
  auto again = answer(*challenge(401, {R"(Digest realm="r", nonce="n2", qop="auth")"}), answers);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error(), DigestRefusal::Refused);
  EXPECT_EQ(answers.count(), 1);
}

TEST_F(DigestClientTest, StaleWithANewNonceIsAnsweredAgainOnceWithNcOne) {
  DigestAnswers answers;
  ASSERT_TRUE(answer(*challenge(407, {R"(Digest realm="r", nonce="n1", qop="auth")"}), answers));
  // RFC 7616 §3.3: stale=true means the credentials were right.
  auto stale =
      answer(*challenge(407, {R"(Digest realm="r", nonce="n2", qop="auth", stale=true)"}), answers);
  ASSERT_TRUE(stale.ok());
  Credentials c;
  ASSERT_TRUE(parseCredentials(stale->value, c));
  EXPECT_EQ(c.nonce, "n2");
  EXPECT_EQ(c.nc, "00000001") << "first use of this nonce";
  EXPECT_EQ(c.response, expectedResponse(c, "r", Algorithm::Md5, "INVITE"));
  EXPECT_EQ(answers.count(), 2);

  // The bound: a nonce we just got called stale again is not chased.
  auto third =
      answer(*challenge(407, {R"(Digest realm="r", nonce="n3", qop="auth", stale=true)"}), answers);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error(), DigestRefusal::Refused);
  EXPECT_EQ(kMaxStaleAnswers, 1);
}

TEST_F(DigestClientTest, StaleWithTheNonceWeAnsweredIsARefusal) {
  DigestAnswers answers;
  ASSERT_TRUE(answer(*challenge(401, {R"(Digest realm="r", nonce="n1", qop="auth")"}), answers));
  auto same =
      answer(*challenge(401, {R"(Digest realm="r", nonce="n1", qop="auth", stale=true)"}), answers);
  ASSERT_FALSE(same.ok());
  EXPECT_EQ(same.error(), DigestRefusal::Refused);
}

TEST_F(DigestClientTest, RestartedAnswersAnswerTheNextRequestsFirstChallenge) {
  DigestAnswers answers;
  auto m = challenge(401, {R"(Digest realm="r", nonce="n1", qop="auth")"});
  ASSERT_TRUE(answer(*m, answers));
  ASSERT_FALSE(answer(*m, answers));
  answers.restart();
  EXPECT_EQ(answers.count(), 0);
  EXPECT_TRUE(answer(*m, answers).ok()) << "a new request (a REGISTER refresh)";
}

TEST_F(DigestClientTest, EachAnswerHasAFreshCnonce) {
  auto m = challenge(401, {R"(Digest realm="r", nonce="n1", qop="auth")"});
  DigestAnswers x;
  DigestAnswers y;
  auto a = answer(*m, x);
  auto b = answer(*m, y);
  ASSERT_TRUE(a.ok() && b.ok());
  Credentials ca;
  Credentials cb;
  ASSERT_TRUE(parseCredentials(a->value, ca));
  ASSERT_TRUE(parseCredentials(b->value, cb));
  EXPECT_NE(ca.cnonce, cb.cnonce);
}

}  // namespace
}  // namespace tollgate::auth
