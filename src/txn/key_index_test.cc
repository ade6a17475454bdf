// KeyIndex against std::unordered_map as the reference: random inserts,
// replacements and erasures, including a table small enough that probe runs
// wrap around the end and deletions shift entries back across it.
#include "txn/key_index.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace tollgate::txn {
namespace {

struct Item {
  std::string key;
  int n = 0;
};

std::string_view keyOf(const Item& i) {
  return i.key;
}

TEST(KeyIndexTest, FindAssignErase) {
  KeyIndex<Item> idx(42, 4);
  Item a{"z9hG4bKaaa|127.0.0.1:5060|INVITE", 1};
  Item b{"z9hG4bKbbb|127.0.0.1:5060|INVITE", 2};
  EXPECT_EQ(idx.find(a.key, keyOf), nullptr);
  idx.assign(a.key, &a, keyOf);
  idx.assign(b.key, &b, keyOf);
  EXPECT_EQ(idx.find(a.key, keyOf), &a);
  EXPECT_EQ(idx.find(b.key, keyOf), &b);
  EXPECT_EQ(idx.find("z9hG4bKccc|127.0.0.1:5060|INVITE", keyOf), nullptr);
  EXPECT_EQ(idx.size(), 2u);

  // An equal key replaces; erasing the replaced value then does nothing.
  Item a2{a.key, 3};
  idx.assign(a2.key, &a2, keyOf);
  EXPECT_EQ(idx.find(a.key, keyOf), &a2);
  EXPECT_EQ(idx.size(), 2u);
  EXPECT_FALSE(idx.erase(a.key, &a));
  EXPECT_EQ(idx.find(a.key, keyOf), &a2);
  EXPECT_TRUE(idx.erase(a.key, &a2));
  EXPECT_EQ(idx.find(a.key, keyOf), nullptr);
  EXPECT_EQ(idx.find(b.key, keyOf), &b);
  EXPECT_EQ(idx.size(), 1u);
}

TEST(KeyIndexTest, EmptyAndShortKeys) {
  KeyIndex<Item> idx(7);
  Item e{"", 0}, s{"a", 1}, t{"ab", 2};
  idx.assign(e.key, &e, keyOf);
  idx.assign(s.key, &s, keyOf);
  idx.assign(t.key, &t, keyOf);
  EXPECT_EQ(idx.find("", keyOf), &e);
  EXPECT_EQ(idx.find("a", keyOf), &s);
  EXPECT_EQ(idx.find("ab", keyOf), &t);
  EXPECT_EQ(idx.find("b", keyOf), nullptr);
}

TEST(KeyIndexTest, MatchesAReferenceMapUnderChurn) {
  for (uint64_t seed : {1ull, 99ull, 0xdeadbeefull}) {
    KeyIndex<Item> idx(seed, 8);  // grows many times
    std::unordered_map<std::string, Item*> ref;
    std::vector<std::unique_ptr<Item>> items;
    std::mt19937_64 rng(seed);
    for (int step = 0; step < 200000; ++step) {
      std::string key = "k" + std::to_string(rng() % 5000);
      switch (rng() % 3) {
        case 0: {
          items.push_back(std::make_unique<Item>(Item{key, step}));
          idx.assign(key, items.back().get(), keyOf);
          ref[key] = items.back().get();
          break;
        }
        case 1: {
          auto it = ref.find(key);
          if (it != ref.end()) {
            EXPECT_TRUE(idx.erase(key, it->second));
            ref.erase(it);
          } else {
            EXPECT_FALSE(idx.erase(key, nullptr));
          }
          break;
        }
        default: {
          auto it = ref.find(key);
          EXPECT_EQ(idx.find(key, keyOf), it == ref.end() ? nullptr : it->second);
        }
      }
      ASSERT_EQ(idx.size(), ref.size());
    }
    for (const auto& [k, v] : ref) ASSERT_EQ(idx.find(k, keyOf), v) << k;
  }
}

TEST(KeyIndexTest, DeletionAcrossTheWrapKeepsEveryKeyReachable) {
  // Capacity 16 slots; 7 keys live, churned 10,000 times: runs wrap past
  // the last slot and back-shifts cross it.
  KeyIndex<Item> idx(3, 8);
  std::vector<std::unique_ptr<Item>> live;
  std::mt19937_64 rng(5);
  int next = 0;
  for (int i = 0; i < 7; ++i) {
    live.push_back(std::make_unique<Item>(Item{"w" + std::to_string(next++), 0}));
    idx.assign(live.back()->key, live.back().get(), keyOf);
  }
  for (int step = 0; step < 10000; ++step) {
    size_t victim = rng() % live.size();
    ASSERT_TRUE(idx.erase(live[victim]->key, live[victim].get()));
    live[victim] = std::make_unique<Item>(Item{"w" + std::to_string(next++), 0});
    idx.assign(live[victim]->key, live[victim].get(), keyOf);
    for (const auto& item : live) ASSERT_EQ(idx.find(item->key, keyOf), item.get());
  }
  EXPECT_EQ(idx.capacity(), 8u);
}

}  // namespace
}  // namespace tollgate::txn
