// BoundedTable with string keys (looked up by string_view, without
// allocating) and values that are never pinned: eviction of the least
// recently touched, the bound under a flood, erase, sweep and the
// iteration orders. The shield's tests (shield/tables_test.cc) cover
// pinned values and fixed-size keys.
#include "common/bounded_table.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate {
namespace {

struct Hash {
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StringTable = BoundedTable<std::string, V, Hash>;

TEST(BoundedTable, EvictsLeastRecentlyTouched) {
  StringTable<int> t(3, Hash{});
  *t.touch("a") = 1;
  *t.touch("b") = 2;
  *t.touch("c") = 3;
  t.touch("a");  // a is now the most recent
  bool evicted = false;
  *t.touch("d", nullptr, true, nullptr, &evicted) = 4;
  EXPECT_TRUE(evicted);
  EXPECT_EQ(t.find("b"), nullptr);
  ASSERT_NE(t.find("a"), nullptr);
  EXPECT_EQ(*t.find("a"), 1);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.evictions(), 1u);
}

TEST(BoundedTable, StaysWithinItsBoundUnderAFlood) {
  StringTable<int> t(100, Hash{});
  for (int i = 0; i < 100'000; ++i) *t.touch(std::to_string(i)) = i;
  EXPECT_EQ(t.size(), 100u);
  EXPECT_EQ(*t.find("99999"), 99999);
  EXPECT_EQ(t.find("0"), nullptr);
}

TEST(BoundedTable, KeysSurviveGrowth) {
  // Short keys live inside std::string; filling the table must not move them.
  StringTable<int> t(10'000, Hash{});
  for (int i = 0; i < 5000; ++i) *t.touch(std::to_string(i)) = i;
  for (int i = 0; i < 5000; ++i) {
    ASSERT_NE(t.find(std::to_string(i)), nullptr) << i;
    EXPECT_EQ(*t.find(std::to_string(i)), i);
  }
}

TEST(BoundedTable, EraseAndSweep) {
  StringTable<int> t(10, Hash{});
  for (int i = 0; i < 6; ++i) *t.touch(std::to_string(i)) = i;
  t.erase("3");
  EXPECT_EQ(t.find("3"), nullptr);
  t.sweep([](std::string_view, int& v) { return v % 2 == 0; });
  EXPECT_EQ(t.size(), 3u);  // 0, 2, 4
  EXPECT_NE(t.find("4"), nullptr);
  EXPECT_EQ(t.find("5"), nullptr);
  *t.touch("x") = 9;  // reuses a freed slot
  EXPECT_EQ(*t.find("x"), 9);
}

TEST(BoundedTable, StringViewLookupsFindLongKeys) {
  StringTable<int> t(4, Hash{});
  const std::string longKey(200, 'k');  // beyond the short-string buffer
  bool inserted = false;
  *t.touch(std::string_view(longKey), &inserted) = 7;
  EXPECT_TRUE(inserted);
  t.touch(std::string_view(longKey), &inserted);
  EXPECT_FALSE(inserted);
  const auto& ct = t;
  ASSERT_NE(ct.find(std::string_view(longKey)), nullptr);
  EXPECT_EQ(*ct.find(std::string_view(longKey)), 7);
  EXPECT_EQ(ct.find(std::string_view(longKey).substr(1)), nullptr);
}

TEST(BoundedTable, IteratesMostRecentFirst) {
  StringTable<int> t(8, Hash{});
  for (int i = 0; i < 5; ++i) *t.touch(std::to_string(i)) = i;
  t.touch("1");
  std::vector<int> all;
  const auto& ct = t;
  ct.forEach([&](const std::string&, const int& v) { all.push_back(v); });
  EXPECT_EQ(all, (std::vector<int>{1, 4, 3, 2, 0}));
  std::vector<int> recent;
  t.forEachRecent(3, [&](const std::string&, int& v) {
    recent.push_back(v);
    return true;
  });
  EXPECT_EQ(recent, (std::vector<int>{1, 4, 3}));
  recent.clear();
  t.forEachRecent(10, [&](const std::string&, int& v) {
    recent.push_back(v);
    return v != 3;  // stop after 3
  });
  EXPECT_EQ(recent, (std::vector<int>{1, 4, 3}));
  ASSERT_NE(t.oldestKey(), nullptr);
  EXPECT_EQ(*t.oldestKey(), "0");
}

TEST(BoundedTable, ReportsTheEvictedKey) {
  StringTable<int> t(2, Hash{});
  t.touch("first");
  t.touch("second");
  std::string evicted;
  bool did = false;
  t.touch("third", nullptr, true, &evicted, &did);
  EXPECT_TRUE(did);
  EXPECT_EQ(evicted, "first");
  EXPECT_LE(t.memoryBytes(), 2 * StringTable<int>::slotBytes() + 4 * sizeof(uint32_t));
}

}  // namespace
}  // namespace tollgate
