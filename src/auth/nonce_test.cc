// Nonces: unpredictable, bound to the client address, expire, and cannot
// be replayed; the replay ring has a fixed size.
#include "auth/nonce.h"

#include <gtest/gtest.h>

#include <set>

namespace tollgate::auth {
namespace {

using namespace std::chrono_literals;

net::IpAddress ip(const char* s) {
  return *net::IpAddress::parse(s);
}

TEST(NonceTest, IssuedNoncesAreUniqueAndTokenSafe) {
  CryptoRandom random;
  NonceManager m(random, 300s);
  MonoTime t{};
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string n = m.issue(ip("192.0.2.1"), t);
    EXPECT_EQ(n.size(), 43u);
    for (char c : n) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << n;
    }
    EXPECT_TRUE(seen.insert(n).second);
  }
}

TEST(NonceTest, TwoManagersDoNotAcceptEachOthersNonces) {
  // The key is random per process: nonces cannot be predicted or carried
  // over a restart.
  CryptoRandom r1, r2;
  NonceManager a(r1, 300s), b(r2, 300s);
  MonoTime t{};
  std::string n = a.issue(ip("192.0.2.1"), t);
  (void)b.issue(ip("192.0.2.1"), t);
  EXPECT_EQ(a.check(n, ip("192.0.2.1"), t).status, NonceManager::Status::Valid);
  EXPECT_EQ(b.check(n, ip("192.0.2.1"), t).status, NonceManager::Status::Invalid);
}

TEST(NonceTest, BoundToTheClientAddress) {
  CryptoRandom random;
  NonceManager m(random, 300s);
  MonoTime t{};
  std::string n = m.issue(ip("192.0.2.1"), t);
  EXPECT_EQ(m.check(n, ip("192.0.2.1"), t).status, NonceManager::Status::Valid);
  EXPECT_EQ(m.check(n, ip("192.0.2.2"), t).status, NonceManager::Status::Invalid);
  EXPECT_EQ(m.check(n, ip("::ffff:192.0.2.3"), t).status, NonceManager::Status::Invalid);
}

TEST(NonceTest, TamperedOrGarbageNoncesAreInvalid) {
  CryptoRandom random;
  NonceManager m(random, 300s);
  MonoTime t{};
  std::string n = m.issue(ip("192.0.2.1"), t);
  // Every other character in every position: the MAC covers all data bits,
  // and the padding bits of the last character must be zero.
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t i = 0; i < n.size(); ++i) {
    for (char c : kAlphabet) {
      if (c == n[i]) continue;
      std::string bad = n;
      bad[i] = c;
      ASSERT_EQ(m.check(bad, ip("192.0.2.1"), t).status, NonceManager::Status::Invalid)
          << i << " " << c;
    }
  }
  EXPECT_EQ(m.check("", ip("192.0.2.1"), t).status, NonceManager::Status::Invalid);
  EXPECT_EQ(m.check(n + "A", ip("192.0.2.1"), t).status, NonceManager::Status::Invalid);
  EXPECT_EQ(m.check(std::string(43, '!'), ip("192.0.2.1"), t).status,
            NonceManager::Status::Invalid);
}

TEST(NonceTest, ExpiresAfterItsLifetime) {
  CryptoRandom random;
  NonceManager m(random, 300s);
  MonoTime t = MonoTime{} + 1h;
  std::string n = m.issue(ip("2001:db8::1"), t);
  EXPECT_EQ(m.check(n, ip("2001:db8::1"), t + 300s).status, NonceManager::Status::Valid);
  EXPECT_EQ(m.check(n, ip("2001:db8::1"), t + 301s).status, NonceManager::Status::Stale);
}

TEST(NonceTest, NonceCountMustIncrease) {
  CryptoRandom random;
  NonceManager m(random, 300s);
  MonoTime t{};
  std::string n = m.issue(ip("192.0.2.1"), t);
  auto c = m.check(n, ip("192.0.2.1"), t);
  ASSERT_EQ(c.status, NonceManager::Status::Valid);
  EXPECT_TRUE(m.commit(c.seq, 1, true));
  EXPECT_FALSE(m.commit(c.seq, 1, true)) << "the same nc again is a replay";
  EXPECT_TRUE(m.commit(c.seq, 2, true));
  EXPECT_TRUE(m.commit(c.seq, 7, true));
  EXPECT_FALSE(m.commit(c.seq, 5, true));
}

TEST(NonceTest, QoplessNonceIsSingleUse) {
  CryptoRandom random;
  NonceManager m(random, 300s);
  MonoTime t{};
  auto c = m.check(m.issue(ip("192.0.2.1"), t), ip("192.0.2.1"), t);
  EXPECT_TRUE(m.commit(c.seq, 0, false));
  EXPECT_FALSE(m.commit(c.seq, 0, false));
}

TEST(NonceTest, ReplayRingIsBoundedAndForgetsOldNonces) {
  CryptoRandom random;
  NonceManager m(random, 300s, /*replaySlots=*/8);
  MonoTime t{};
  std::string first = m.issue(ip("192.0.2.1"), t);
  auto c = m.check(first, ip("192.0.2.1"), t);
  for (int i = 0; i < 8; ++i) (void)m.issue(ip("192.0.2.1"), t);
  // Its slot now belongs to a newer nonce: a correct response can no longer
  // be checked for replay, so it is refused (the caller re-challenges).
  EXPECT_EQ(m.check(first, ip("192.0.2.1"), t).status, NonceManager::Status::Valid);
  EXPECT_FALSE(m.commit(c.seq, 1, true));
}

}  // namespace
}  // namespace tollgate::auth
