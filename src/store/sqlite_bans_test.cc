// The SQLite ban list on real files: put/get/list/delete, the change
// sequence a polling node follows, hit counts, purging, two connections.
#include <gtest/gtest.h>

#include "store/ban_store.h"
#include "store/sqlite_migrations.h"
#include "store/test_raw_sqlite.h"
#include "store/test_temp_dir.h"

namespace tollgate::store {
namespace {

constexpr int64_t kNow = 1'800'000'000'000'000;  // microseconds since the epoch

BanRow row(const std::string& address, int64_t expiresUs, const std::string& reason = "rate") {
  BanRow r;
  r.address = address;
  r.reason = reason;
  r.detail = "more than 20 messages in 60 s (recent)";
  r.origin = reason == "manual" ? "manual" : "auto";
  r.createdUs = kNow - 1000;
  r.expiresUs = expiresUs;
  r.hits = 1;
  r.level = 1;
  return r;
}

class SqliteBansTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    auto s = openSqliteBanStore(path());
    ASSERT_TRUE(s.ok()) << s.error().message;
    bans = std::move(s).value();
  }
  std::string path() const { return dir_.file("t.db"); }

  TestTempDir dir_;
  std::unique_ptr<BanStore> bans;
};

TEST_F(SqliteBansTest, PutGetListAndDelete) {
  ASSERT_TRUE(bans->putBans({row("192.0.2.7", kNow + 600'000'000),
                             row("198.51.100.0/24", kNow - 1, "prefix_rate"),
                             row("10.0.0.0/8", 0, "manual")})
                  .ok());
  auto got = bans->getBan("192.0.2.7");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->reason, "rate");
  EXPECT_EQ((*got)->detail, "more than 20 messages in 60 s (recent)");
  EXPECT_EQ((*got)->expiresUs, kNow + 600'000'000);
  EXPECT_EQ((*got)->level, 1);

  auto active = bans->listBans(false, kNow, 100);
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 2u);  // the /24 has expired
  auto all = bans->listBans(true, kNow, 100);
  ASSERT_EQ(all->size(), 3u);

  auto del = bans->deleteBan("192.0.2.7");
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(*del);
  EXPECT_FALSE(bans->getBan("192.0.2.7")->has_value());
  EXPECT_FALSE(*bans->deleteBan("192.0.2.7")) << "already gone";
  EXPECT_FALSE(*bans->deleteBan("203.0.113.1")) << "never there";
  EXPECT_EQ(bans->listBans(false, kNow, 100)->size(), 1u);
}

TEST_F(SqliteBansTest, ChangeSequenceShowsInsertsUpdatesAndTombstonesInOrder) {
  EXPECT_EQ(*bans->banSequence(), 0);
  ASSERT_TRUE(bans->putBans({row("192.0.2.1", 0), row("192.0.2.2", 0)}).ok());
  EXPECT_EQ(*bans->banSequence(), 1);
  BanCursor cursor;
  auto changes = bans->bansChangedSince(cursor, 100);
  ASSERT_EQ(changes->size(), 2u);
  cursor = {changes->back().seq, changes->back().address};
  EXPECT_TRUE(bans->bansChangedSince(cursor, 100)->empty());

  BanRow escalated = row("192.0.2.1", kNow + 1);
  escalated.level = 2;
  ASSERT_TRUE(bans->putBans({escalated}).ok());
  ASSERT_TRUE(*bans->deleteBan("192.0.2.2"));
  ASSERT_TRUE(bans->setHits({{"192.0.2.1", 55}}).ok());  // statistics: no new sequence
  EXPECT_EQ(*bans->banSequence(), 3);
  changes = bans->bansChangedSince(cursor, 100);
  ASSERT_EQ(changes->size(), 2u);
  EXPECT_EQ((*changes)[0].address, "192.0.2.1");
  EXPECT_EQ((*changes)[0].level, 2);
  EXPECT_EQ((*changes)[0].hits, 55);
  EXPECT_FALSE((*changes)[0].deleted);
  EXPECT_EQ((*changes)[1].address, "192.0.2.2");
  EXPECT_TRUE((*changes)[1].deleted);
}

TEST_F(SqliteBansTest, PagingInsideOneTransactionLosesNothing) {
  std::vector<BanRow> rows;
  for (int i = 0; i < 25; ++i) rows.push_back(row("10.0.0." + std::to_string(i), 0));
  ASSERT_TRUE(bans->putBans(rows).ok());
  BanCursor cursor;
  size_t seen = 0;
  for (;;) {
    auto page = bans->bansChangedSince(cursor, 10);
    ASSERT_TRUE(page.ok());
    if (page->empty()) break;
    seen += page->size();
    cursor = {page->back().seq, page->back().address};
  }
  EXPECT_EQ(seen, 25u);
}

TEST_F(SqliteBansTest, HitsNeverGoDown) {
  ASSERT_TRUE(bans->putBans({row("192.0.2.1", 0)}).ok());
  ASSERT_TRUE(bans->setHits({{"192.0.2.1", 10}}).ok());
  ASSERT_TRUE(bans->setHits({{"192.0.2.1", 4}, {"203.0.113.9", 3}}).ok());
  EXPECT_EQ((*bans->getBan("192.0.2.1"))->hits, 10);
}

TEST_F(SqliteBansTest, PurgeRemovesOldExpiredRowsAndTombstones) {
  ASSERT_TRUE(
      bans->putBans({row("192.0.2.1", kNow - 10), row("192.0.2.2", kNow + 10), row("192.0.2.3", 0)})
          .ok());
  ASSERT_TRUE(*bans->deleteBan("192.0.2.3"));
  auto n = bans->purgeBans(kNow, INT64_MAX);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  auto all = bans->listBans(true, kNow, 100);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].address, "192.0.2.2");
}

TEST_F(SqliteBansTest, TwoConnectionsSeeEachOther) {
  auto other = openSqliteBanStore(path());
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->putBans({row("192.0.2.99", 0, "manual")}).ok());
  EXPECT_EQ(*bans->banSequence(), 1);
  EXPECT_TRUE(bans->getBan("192.0.2.99")->has_value());
}

TEST(SqliteBansMigrationTest, AVersionOneFileGainsTheBanTablesAndKeepsItsData) {
  TestTempDir dir;
  const std::string path = dir.file("v1.db");
  ASSERT_TRUE(execRaw(path, sqliteMigrations()[0].sql));
  ASSERT_TRUE(execRaw(path,
                      "INSERT INTO mapping_gateway VALUES ('cust-a', 'ip', 1, 1, 1);"
                      "PRAGMA user_version=1;"));

  auto bans = openSqliteBanStore(path);
  ASSERT_TRUE(bans.ok()) << bans.error().message;
  EXPECT_EQ(*(*bans)->banSequence(), 0);
  ASSERT_TRUE((*bans)->putBans({row("192.0.2.1", 0)}).ok());
  auto store = openSqliteStore(path);
  ASSERT_TRUE(store.ok());
  auto prov = (*store)->loadProvisioning();
  ASSERT_TRUE(prov.ok());
  ASSERT_EQ(prov->mappingGateways.size(), 1u);
  EXPECT_EQ(prov->mappingGateways[0].name, "cust-a");
}

TEST_F(SqliteBansTest, InMemoryIsRefused) {
  EXPECT_FALSE(openSqliteBanStore(":memory:").ok());
}

}  // namespace
}  // namespace tollgate::store
