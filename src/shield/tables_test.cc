// IpKey, BoundedTable, PrefixSet and BanTable.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <unordered_map>

#include "common/bounded_table.h"
#include "shield/ban_table.h"
#include "shield/ip_key.h"
#include "shield/prefix_set.h"

namespace tollgate::shield {
namespace {

IpKey ip(const char* text) {
  return keyOf(*net::IpAddress::parse(text));
}

PrefixKey pfx(const char* text) {
  return *parsePrefix(text);
}

TEST(IpKeyTest, RoundTripsBothFamilies) {
  for (const char* t :
       {"192.0.2.7", "0.0.0.0", "255.255.255.255", "::1", "2001:db8::7", "fe80::1:2:3:4"}) {
    auto a = *net::IpAddress::parse(t);
    EXPECT_EQ(addressOf(keyOf(a)).toString(), a.toString()) << t;
  }
  EXPECT_TRUE(ip("192.0.2.7").isV4());
  EXPECT_FALSE(ip("::1").isV4());
}

TEST(IpKeyTest, PrefixTextAndMasking) {
  EXPECT_EQ(toString(pfx("198.51.100.9/24")), "198.51.100.0/24");
  EXPECT_EQ(toString(pfx("192.0.2.7")), "192.0.2.7");
  EXPECT_EQ(toString(pfx("192.0.2.7/32")), "192.0.2.7");
  EXPECT_EQ(toString(pfx("2001:db8:1:2:3::/64")), "2001:db8:1:2::/64");
  EXPECT_EQ(toString(pfx("[::1]")), "::1");
  EXPECT_EQ(pfx("10.0.0.0/8").familyBits(), 8);
  EXPECT_TRUE(pfx("10.0.0.0/8").contains(ip("10.200.3.4")));
  EXPECT_FALSE(pfx("10.0.0.0/8").contains(ip("11.0.0.1")));
  EXPECT_FALSE(parsePrefix("10.0.0.0/33"));
  EXPECT_FALSE(parsePrefix("nonsense"));
  EXPECT_EQ(maskKey(ip("2001:db8::1"), 0), IpKey{});
  EXPECT_EQ(maskKey(ip("2001:db8:aaaa:bbbb:1::1"), 48), pfx("2001:db8:aaaa::/48").key);
}

struct Val {
  int n = 0;
  bool pin = false;
  bool pinned() const { return pin; }
};
using Table = BoundedTable<IpKey, Val, KeyHasher>;

TEST(BoundedTableTest, InsertFindEraseAgreeWithAReferenceMap) {
  Table t(1000, KeyHasher(42));
  std::unordered_map<uint64_t, int> ref;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint64_t k = rng() % 800;  // < capacity: no evictions, so the map is exact
    IpKey key{0, k};
    if (rng() % 3 == 0) {
      EXPECT_EQ(t.erase(key), ref.erase(k) == 1);
    } else {
      bool inserted = false;
      Val* v = t.touch(key, &inserted);
      ASSERT_NE(v, nullptr);
      EXPECT_EQ(inserted, ref.count(k) == 0);
      v->n = i;
      ref[k] = i;
    }
    if (i % 1000 == 0) {
      ASSERT_EQ(t.size(), ref.size());
      for (auto [k2, n] : ref) {
        Val* v = t.find(IpKey{0, k2});
        ASSERT_NE(v, nullptr) << k2;
        EXPECT_EQ(v->n, n);
      }
    }
  }
}

TEST(BoundedTableTest, EvictsLeastRecentlyUsedAtCapacity) {
  Table t(3, KeyHasher(1));
  bool ins = false;
  t.touch(IpKey{0, 1}, &ins);
  t.touch(IpKey{0, 2}, &ins);
  t.touch(IpKey{0, 3}, &ins);
  t.touch(IpKey{0, 1}, &ins);  // 1 is now the most recent; 2 the oldest
  IpKey evicted;
  bool did = false;
  t.touch(IpKey{0, 4}, &ins, true, &evicted, &did);
  EXPECT_TRUE(did);
  EXPECT_EQ(evicted, (IpKey{0, 2}));
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.find(IpKey{0, 2}), nullptr);
  EXPECT_NE(t.find(IpKey{0, 1}), nullptr);
  EXPECT_EQ(t.evictions(), 1u);
}

TEST(BoundedTableTest, PinnedEntriesSurviveEvictionWhileOthersCanGo) {
  Table t(3, KeyHasher(1));
  bool ins = false;
  t.touch(IpKey{0, 1}, &ins)->pin = true;  // oldest, pinned
  t.touch(IpKey{0, 2}, &ins);
  t.touch(IpKey{0, 3}, &ins);
  IpKey evicted;
  bool did = false;
  t.touch(IpKey{0, 4}, &ins, true, &evicted, &did);
  EXPECT_EQ(evicted, (IpKey{0, 2}));
  EXPECT_NE(t.find(IpKey{0, 1}), nullptr);
  // All pinned: refused when pinned entries may not go, else the oldest goes.
  t.find(IpKey{0, 3})->pin = true;
  t.find(IpKey{0, 4})->pin = true;
  EXPECT_EQ(t.touch(IpKey{0, 5}, &ins, /*evictPinned=*/false), nullptr);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_NE(t.touch(IpKey{0, 5}, &ins, /*evictPinned=*/true), nullptr);
  EXPECT_EQ(t.size(), 3u);
}

TEST(BoundedTableTest, ChurnNeverExceedsCapacity) {
  Table t(1024, KeyHasher(99));
  bool ins = false;
  for (uint64_t i = 0; i < 100000; ++i) t.touch(IpKey{i, i * 7}, &ins);
  EXPECT_EQ(t.size(), 1024u);
  EXPECT_EQ(t.evictions(), 100000u - 1024u);
  // The last 1024 are exactly what is left.
  for (uint64_t i = 100000 - 1024; i < 100000; ++i) ASSERT_NE(t.find(IpKey{i, i * 7}), nullptr);
}

TEST(PrefixSetTest, HostsAndCidrsOfBothFamilies) {
  PrefixSet s({pfx("127.0.0.1"), pfx("198.51.100.0/24"), pfx("2001:db8::/32"), pfx("::1"),
               pfx("127.0.0.1")},
              5);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_TRUE(s.contains(ip("127.0.0.1")));
  EXPECT_FALSE(s.contains(ip("127.0.0.2")));
  EXPECT_TRUE(s.contains(ip("198.51.100.200")));
  EXPECT_FALSE(s.contains(ip("198.51.101.1")));
  EXPECT_TRUE(s.contains(ip("2001:db8:ffff::9")));
  EXPECT_TRUE(s.contains(ip("::1")));
  EXPECT_FALSE(s.contains(ip("2001:db9::1")));
  EXPECT_FALSE(PrefixSet().contains(ip("1.2.3.4")));
}

TEST(PrefixSetTest, Ipv6CatchAllDoesNotCoverIpv4) {
  PrefixSet s({pfx("::/0")});
  EXPECT_TRUE(s.contains(ip("2001:db8::1")));
  EXPECT_FALSE(s.contains(ip("192.0.2.1")));
  PrefixSet v4all({pfx("0.0.0.0/0")});
  EXPECT_TRUE(v4all.contains(ip("192.0.2.1")));
  EXPECT_FALSE(v4all.contains(ip("::1")));
}

TEST(BanTableTest, LookupFindsHostAndPrefixBansUntilExpiry) {
  BanTable t(100, 3);
  bool ins = false;
  BanRecord* host = t.upsert(pfx("192.0.2.7"), 0, &ins);
  host->active = true;
  host->expiresMs = 1000;
  BanRecord* net = t.upsert(pfx("198.51.100.0/24"), 0, &ins);
  net->active = true;
  net->expiresMs = kNeverMs;
  PrefixKey matched;
  EXPECT_EQ(t.lookup(ip("192.0.2.7"), 500, &matched), host);
  EXPECT_EQ(toString(matched), "192.0.2.7");
  EXPECT_EQ(t.lookup(ip("192.0.2.8"), 500), nullptr);
  EXPECT_EQ(t.lookup(ip("198.51.100.77"), 500, &matched), net);
  EXPECT_EQ(toString(matched), "198.51.100.0/24");
  EXPECT_EQ(t.lookup(ip("192.0.2.7"), 1000), nullptr);  // expired: made inactive
  EXPECT_FALSE(host->active);
  EXPECT_EQ(t.expiredCount(), 1u);
  EXPECT_EQ(t.activeCount(1000), 1u);
  EXPECT_TRUE(t.erase(pfx("198.51.100.0/24")));
  EXPECT_EQ(t.lookup(ip("198.51.100.77"), 500), nullptr);
}

TEST(BanTableTest, FullTableEvictsOnlyInactiveRecords) {
  BanTable t(2, 3);
  bool ins = false;
  BanRecord* a = t.upsert(pfx("10.0.0.1"), 0, &ins);
  a->active = true;
  a->expiresMs = kNeverMs;
  BanRecord* b = t.upsert(pfx("10.0.0.2"), 0, &ins);
  b->active = true;
  b->expiresMs = 100;
  EXPECT_EQ(t.upsert(pfx("10.0.0.3"), 50, &ins), nullptr);  // both active: refused
  BanRecord* c = t.upsert(pfx("10.0.0.3"), 200, &ins);      // b has expired by now
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(ins);
  EXPECT_EQ(t.find(pfx("10.0.0.2")), nullptr);
  EXPECT_NE(t.find(pfx("10.0.0.1")), nullptr);
}

}  // namespace
}  // namespace tollgate::shield
