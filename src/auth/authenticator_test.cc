// The server-side digest decision on real parsed SIP messages: challenge,
// success with MD5 and SHA-256, qop and RFC 2069 forms, either header,
// wrong password and unknown user alike, stale nonces, replay, address
// restriction, suspension, credentials computed for another Request-URI.
#include "auth/authenticator.h"

#include <gtest/gtest.h>

#include <map>

namespace tollgate::auth {
namespace {

using namespace std::chrono_literals;
using Kind = AuthResult::Kind;

net::IpAddress ip(const char* s) {
  return *net::IpAddress::parse(s);
}

class Directory : public AccountDirectory {
 public:
  void add(const std::string& user, const std::string& password, const std::string& realm,
           std::string onlyFrom = "") {
    DigestHasher h;
    Account a;
    a.username = user;
    a.ha1Md5 = h.ha1(Algorithm::Md5, user, realm, password);
    a.ha1Sha256 = h.ha1(Algorithm::Sha256, user, realm, password);
    accounts_[user] = a;
    if (!onlyFrom.empty()) only_[user] = ip(onlyFrom.c_str());
  }
  void setAlgorithms(const std::string& user, std::vector<Algorithm> algs) {
    accounts_[user].algorithms = std::move(algs);
  }
  const Account* findAccount(std::string_view username) const override {
    auto it = accounts_.find(std::string(username));
    return it == accounts_.end() ? nullptr : &it->second;
  }
  bool permits(const Account& a, const net::IpAddress& source) const override {
    auto it = only_.find(a.username);
    return it == only_.end() || it->second == source;
  }

 private:
  std::map<std::string, Account> accounts_;
  std::map<std::string, net::IpAddress> only_;
};

std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

sip::MessagePtr request(std::string_view method, const std::string& authHeaders,
                        const std::string& user = "alice",
                        const std::string& requestUri = "sip:15551234567@192.0.2.10") {
  std::string m(method);
  std::string text = m + " " + requestUri + " SIP/2.0\n" +
                     "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-1\n"
                     "Max-Forwards: 70\n"
                     "From: <sip:" +
                     user + "@tollgate.local>;tag=1\n" + "To: <sip:" + user +
                     "@tollgate.local>\n"
                     "Call-ID: c1\n" +
                     "CSeq: 2 " + m + "\n" + authHeaders + "Content-Length: 0\n\n";
  auto r = sip::Message::parse(crlf(text));
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

struct Client {
  std::string user = "alice";
  std::string password = "wonderland";
  std::string realm = "tollgate.local";
  Algorithm alg = Algorithm::Md5;
  bool qop = true;
  std::string header = "Authorization";
  std::string uri = "sip:192.0.2.10:5060";

  std::string credentials(const std::string& nonce, uint32_t nc, std::string_view method) {
    DigestHasher h;
    Challenge c;
    c.realm = realm;
    c.nonce = nonce;
    c.algorithm = alg;
    c.qopAuth = qop;
    std::string v = answerChallenge(h, c, method, uri, user, password, "cn0nce", nc);
    return header + ": " + v + "\n";
  }
};

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest() : auth_(random_, clock_, settings()) {
    dir_.add("alice", "wonderland", "tollgate.local");
    dir_.add("bob", "builder", "tollgate.local", "198.51.100.7");
  }
  static AuthSettings settings() {
    AuthSettings s;
    s.realm = "tollgate.local";
    s.nonceLifetime = 300s;
    return s;
  }
  std::string nonceFor(const net::IpAddress& source) {
    std::vector<std::string> values;
    auth_.challenges(source, clock_.now(), false, values);
    auto c = parseChallenge(values.front());
    EXPECT_TRUE(c);
    return std::string(c->nonce);
  }
  AuthResult check(const sip::Message& m, const net::IpAddress& from) {
    return auth_.check(m, from, clock_.now(), dir_);
  }

  CryptoRandom random_;
  ManualClock clock_;
  Directory dir_;
  DigestAuthenticator auth_;
  const net::IpAddress src_ = ip("198.51.100.7");
};

TEST_F(AuthenticatorTest, NoCredentialsIsChallenged) {
  auto m = request("INVITE", "");
  AuthResult r = check(*m, src_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_FALSE(r.failed);
  EXPECT_FALSE(r.hadCredentials);
  std::vector<std::string> values;
  auth_.challenges(src_, clock_.now(), false, values);
  ASSERT_EQ(values.size(), 2u) << "one challenge per algorithm";
  EXPECT_NE(values[0].find("algorithm=MD5"), std::string::npos);
  EXPECT_NE(values[1].find("algorithm=SHA-256"), std::string::npos);
  EXPECT_NE(values[0].find("realm=\"tollgate.local\""), std::string::npos);
}

TEST_F(AuthenticatorTest, AcceptsMd5AndSha256InEitherHeader) {
  for (Algorithm alg : {Algorithm::Md5, Algorithm::Sha256}) {
    for (const char* header : {"Authorization", "Proxy-Authorization"}) {
      Client c;
      c.alg = alg;
      c.header = header;
      auto m = request("INVITE", c.credentials(nonceFor(src_), 1, "INVITE"));
      AuthResult r = check(*m, src_);
      EXPECT_EQ(r.kind, Kind::Authenticated) << algorithmName(alg) << " " << header;
      ASSERT_NE(r.account, nullptr);
      EXPECT_EQ(r.account->username, "alice");
    }
  }
}

TEST_F(AuthenticatorTest, AcceptsTheRfc2069FormOncePerNonce) {
  Client c;
  c.qop = false;
  std::string nonce = nonceFor(src_);
  auto m1 = request("REGISTER", c.credentials(nonce, 0, "REGISTER"));
  EXPECT_EQ(check(*m1, src_).kind, Kind::Authenticated);
  auto m2 = request("REGISTER", c.credentials(nonce, 0, "REGISTER"));
  AuthResult r = check(*m2, src_);
  EXPECT_EQ(r.kind, Kind::Challenge) << "a qop-less nonce cannot be reused";
  EXPECT_TRUE(r.stale);
  EXPECT_FALSE(r.failed);
}

TEST_F(AuthenticatorTest, ReplayedNonceCountIsRefused) {
  Client c;
  std::string nonce = nonceFor(src_);
  auto m1 = request("INVITE", c.credentials(nonce, 1, "INVITE"));
  EXPECT_EQ(check(*m1, src_).kind, Kind::Authenticated);
  auto replay = request("INVITE", c.credentials(nonce, 1, "INVITE"));
  AuthResult r = check(*replay, src_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_TRUE(r.stale);
  EXPECT_FALSE(r.failed) << "a replay is not a password guess";
  auto next = request("INVITE", c.credentials(nonce, 2, "INVITE"));
  EXPECT_EQ(check(*next, src_).kind, Kind::Authenticated) << "nc 2 is a new use";
  EXPECT_EQ(auth_.stats().replays, 1u);
}

TEST_F(AuthenticatorTest, ExpiredNonceWithRightPasswordIsStale) {
  Client c;
  std::string nonce = nonceFor(src_);
  clock_.advance(301s);
  auto m = request("INVITE", c.credentials(nonce, 1, "INVITE"));
  AuthResult r = check(*m, src_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_TRUE(r.stale);
  EXPECT_FALSE(r.failed);
}

TEST_F(AuthenticatorTest, ExpiredNonceWithWrongPasswordIsAFailureNotStale) {
  Client c;
  c.password = "guess";
  std::string nonce = nonceFor(src_);
  clock_.advance(301s);
  auto m = request("INVITE", c.credentials(nonce, 1, "INVITE"));
  AuthResult r = check(*m, src_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_FALSE(r.stale) << "stale=true would tell a guesser the password was right";
  EXPECT_TRUE(r.failed);
}

TEST_F(AuthenticatorTest, UnknownUserAndWrongPasswordLookTheSame) {
  Client wrong;
  wrong.password = "nope";
  Client unknown;
  unknown.user = "mallory";
  auto a = request("REGISTER", wrong.credentials(nonceFor(src_), 1, "REGISTER"));
  auto b = request("REGISTER", unknown.credentials(nonceFor(src_), 1, "REGISTER"), "mallory");
  AuthResult ra = check(*a, src_);
  AuthResult rb = check(*b, src_);
  EXPECT_EQ(ra.kind, Kind::Challenge);
  EXPECT_EQ(rb.kind, Kind::Challenge);
  EXPECT_EQ(ra.failed, rb.failed);
  EXPECT_EQ(ra.stale, rb.stale);
  EXPECT_TRUE(ra.failed);
}

TEST_F(AuthenticatorTest, NonceIssuedToAnotherAddressIsNotAGuess) {
  Client c;
  auto m = request("INVITE", c.credentials(nonceFor(ip("192.0.2.99")), 1, "INVITE"));
  AuthResult r = check(*m, src_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_FALSE(r.failed);
  EXPECT_EQ(auth_.stats().invalidNonces, 1u);
}

TEST_F(AuthenticatorTest, OtherRealmIsIgnored) {
  Client c;
  c.realm = "carrier.example";
  auto m = request("INVITE", c.credentials(nonceFor(src_), 1, "INVITE"));
  AuthResult r = check(*m, src_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_FALSE(r.hadCredentials);
}

TEST_F(AuthenticatorTest, AddressRestrictionIsASecondFactor) {
  Client c;
  c.user = "bob";
  c.password = "builder";
  auto ok = request("INVITE", c.credentials(nonceFor(src_), 1, "INVITE"), "bob");
  EXPECT_EQ(check(*ok, src_).kind, Kind::Authenticated);
  const auto other = ip("192.0.2.50");
  auto elsewhere = request("INVITE", c.credentials(nonceFor(other), 1, "INVITE"), "bob");
  AuthResult r = check(*elsewhere, other);
  EXPECT_EQ(r.kind, Kind::Challenge) << "the right password from the wrong address fails";
  EXPECT_TRUE(r.failed);
}

TEST_F(AuthenticatorTest, SuspendsAfterTheRetryLimitAndKeepsTheRealUser) {
  const auto attacker = ip("203.0.113.9");
  Client guess;
  guess.password = "guess";
  AuthResult r;
  for (int i = 0; i < 6; ++i) {
    auto m = request("REGISTER", guess.credentials(nonceFor(attacker), 1, "REGISTER"));
    r = check(*m, attacker);
  }
  EXPECT_EQ(r.kind, Kind::Suspended) << "the 6th failure suspends at once";
  // Even the right password from the attacker's address is not verified now.
  Client right;
  auto m = request("REGISTER", right.credentials(nonceFor(attacker), 1, "REGISTER"));
  EXPECT_EQ(check(*m, attacker).kind, Kind::Suspended);
  // Requests without credentials that name the account hear nothing either.
  auto bare = request("REGISTER", "");
  EXPECT_EQ(check(*bare, attacker).kind, Kind::Suspended);
  // The real user, from their own address, gets through.
  auto real = request("REGISTER", right.credentials(nonceFor(src_), 1, "REGISTER"));
  EXPECT_EQ(check(*real, src_).kind, Kind::Authenticated);
}

TEST_F(AuthenticatorTest, UnofferedAlgorithmOrQopIsChallengedWithoutCounting) {
  std::string nonce = nonceFor(src_);
  auto sess = request("INVITE",
                      "Authorization: Digest username=\"alice\", realm=\"tollgate.local\", "
                      "nonce=\"" +
                          nonce +
                          "\", uri=\"sip:x\", response=\"00\", algorithm=MD5-sess, qop=auth, "
                          "nc=00000001, cnonce=\"a\"\n");
  AuthResult r = check(*sess, src_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_FALSE(r.failed);
  auto noNc = request("INVITE",
                      "Authorization: Digest username=\"alice\", realm=\"tollgate.local\", "
                      "nonce=\"" +
                          nonce + "\", uri=\"sip:x\", response=\"00\", qop=auth\n");
  r = check(*noNc, src_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_FALSE(r.failed) << "svcrack's quirk (qop without nc/cnonce) is not a guess";
  EXPECT_EQ(auth_.stats().unsupported, 2u);
}

TEST_F(AuthenticatorTest, AccountAlgorithmsWidenWhatIsAcceptedAndOffered) {
  // A node offering only MD5 still takes SHA-256 from an account whose own
  // list has it, and challenges with that list when asked.
  AuthSettings md5only = settings();
  md5only.algorithms = {Algorithm::Md5};
  DigestAuthenticator a(random_, clock_, md5only);
  std::vector<std::string> values;
  const std::vector<Algorithm> own = {Algorithm::Sha256};
  a.challenges(src_, clock_.now(), false, values, &own);
  ASSERT_EQ(values.size(), 1u);
  EXPECT_NE(values[0].find("algorithm=SHA-256"), std::string::npos);
  auto c = parseChallenge(values[0]);
  Client client;
  client.alg = Algorithm::Sha256;
  auto m = request("INVITE", client.credentials(std::string(c->nonce), 1, "INVITE"));
  EXPECT_EQ(a.check(*m, src_, clock_.now(), dir_).kind, Kind::Challenge)
      << "alice has no own list: SHA-256 is not offered to her";
  dir_.setAlgorithms("alice", {Algorithm::Sha256});
  values.clear();
  a.challenges(src_, clock_.now(), false, values, &own);
  c = parseChallenge(values[0]);
  auto m2 = request("INVITE", client.credentials(std::string(c->nonce), 1, "INVITE"));
  EXPECT_EQ(a.check(*m2, src_, clock_.now(), dir_).kind, Kind::Authenticated);
}

TEST_F(AuthenticatorTest, StaleChallengeSaysSo) {
  std::vector<std::string> values;
  auth_.challenges(src_, clock_.now(), true, values);
  for (const auto& v : values) EXPECT_NE(v.find("stale=true"), std::string::npos) << v;
}

// RFC 3261 §22.4, RFC 7616 §3.4.6: credentials computed for a call to one
// number do not authenticate a call to another, even with the right
// password and a fresh nonce; that counts like a wrong password.
TEST_F(AuthenticatorTest, CredentialsForAnotherRequestUriAreABadCredential) {
  Client c;
  c.uri = "sip:4420555@192.0.2.10";
  auto own = request("INVITE", c.credentials(nonceFor(src_), 1, "INVITE"), "alice",
                     "sip:4420555@192.0.2.10");
  EXPECT_EQ(check(*own, src_).kind, Kind::Authenticated) << "the uri it was computed for";

  auto moved = request("INVITE", c.credentials(nonceFor(src_), 1, "INVITE"), "alice",
                       "sip:1900666@192.0.2.10");
  AuthResult r = check(*moved, src_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_TRUE(r.failed) << "counted by the retry limits like a wrong password";
  EXPECT_TRUE(r.uriMismatch);
  EXPECT_FALSE(r.stale) << "stale=true would invite the client to retry the same target";
  EXPECT_EQ(auth_.stats().uriMismatches, 1u);
  EXPECT_EQ(auth_.stats().failures, 0u) << "its own reason, not a wrong password";
  EXPECT_EQ(auth_.stats().authenticated, 1u);
}

TEST_F(AuthenticatorTest, UriMismatchesReachTheRetryLimit) {
  const auto attacker = ip("203.0.113.9");
  Client c;
  c.uri = "sip:4420555@192.0.2.10";
  AuthResult r;
  for (int i = 0; i < 6; ++i) {
    auto m = request("INVITE", c.credentials(nonceFor(attacker), 1, "INVITE"), "alice",
                     "sip:1900666@192.0.2.10");
    r = check(*m, attacker);
  }
  EXPECT_EQ(r.kind, Kind::Suspended) << "the 6th mismatch suspends the pair";
  EXPECT_EQ(auth_.stats().uriMismatches, 6u);
}

TEST_F(AuthenticatorTest, HostOnlyUriIsAcceptedOnlyWhenAllowed) {
  Client sipp;  // uri = "sip:192.0.2.10:5060": SIPp's default form
  auto m = request("INVITE", sipp.credentials(nonceFor(src_), 1, "INVITE"));
  EXPECT_EQ(check(*m, src_).kind, Kind::Authenticated);

  AuthSettings strict = settings();
  strict.digestUriHostOnly = false;
  DigestAuthenticator a(random_, clock_, strict);
  std::vector<std::string> values;
  a.challenges(src_, clock_.now(), false, values);
  auto ch = parseChallenge(values.front());
  auto m2 = request("INVITE", sipp.credentials(std::string(ch->nonce), 1, "INVITE"));
  AuthResult r = a.check(*m2, src_, clock_.now(), dir_);
  EXPECT_EQ(r.kind, Kind::Challenge);
  EXPECT_TRUE(r.uriMismatch);

  Client exact;
  exact.uri = "sip:15551234567@192.0.2.10";
  auto m3 = request("INVITE", exact.credentials(std::string(ch->nonce), 2, "INVITE"));
  EXPECT_EQ(a.check(*m3, src_, clock_.now(), dir_).kind, Kind::Authenticated);
}

TEST_F(AuthenticatorTest, RegisterWithTheDomainUriAuthenticates) {
  Client c;
  c.uri = "sip:tollgate.local";
  auto m = request("REGISTER", c.credentials(nonceFor(src_), 1, "REGISTER"), "alice",
                   "sip:tollgate.local");
  EXPECT_EQ(check(*m, src_).kind, Kind::Authenticated);
  auto other = request("REGISTER", c.credentials(nonceFor(src_), 2, "REGISTER"), "alice",
                       "sip:other.example");
  EXPECT_TRUE(check(*other, src_).uriMismatch) << "another registrar's domain";
}

}  // namespace
}  // namespace tollgate::auth
