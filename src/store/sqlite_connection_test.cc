// The SQLite foundation (sqlite_connection.h) on real files: statements are
// prepared once and reused, a statement leaves no read snapshot behind, a
// transaction not committed leaves nothing behind, a writer waits for
// another's lock up to the busy timeout and then fails with an error that
// says what failed and names the file.
#include "store/sqlite_connection.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "store/sqlite_migrations.h"
#include "store/test_temp_dir.h"

namespace tollgate::store::detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

class SqliteConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    c_ = open();
    ASSERT_NE(c_, nullptr);
    ASSERT_TRUE(
        c_->exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL) STRICT", "create t")
            .ok());
  }
  std::unique_ptr<SqliteConnection> open() {
    auto c = SqliteConnection::open(path());
    EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
    return c.ok() ? std::move(c).value() : nullptr;
  }
  std::string path() const { return dir_.file("store.db"); }

  static Result<Ok, StoreError> insert(SqliteConnection& c, std::string_view k, int64_t v) {
    auto st = c.prepare("INSERT INTO t(k, v) VALUES (?1, ?2)");
    if (!st) return Err{st.error()};
    st->bind(1, k).bind(2, v);
    return st->run("insert t");
  }
  static int64_t count(SqliteConnection& c) {
    auto st = c.prepare("SELECT count(*) FROM t");
    EXPECT_TRUE(st.ok());
    if (!st.ok() || !st->next()) return -1;
    return st->int64(0);
  }

  TestTempDir dir_;
  std::unique_ptr<SqliteConnection> c_;
};

TEST_F(SqliteConnectionTest, AStatementIsPreparedOnceAndReused) {
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(insert(*c_, "k" + std::to_string(i), i).ok());
  EXPECT_EQ(c_->cachedStatements(), 1u) << "fifty inserts, one prepared statement";
  EXPECT_EQ(count(*c_), 50);
  EXPECT_EQ(c_->cachedStatements(), 2u);
  // Bindings do not leak from one use into the next: ?2 unbound is NULL,
  // which the NOT NULL column refuses.
  auto st = c_->prepare("INSERT INTO t(k, v) VALUES (?1, ?2)");
  ASSERT_TRUE(st.ok());
  st->bind(1, "no-value");
  EXPECT_FALSE(st->run("insert t").ok());
}

TEST_F(SqliteConnectionTest, TheSameTextInUseTwiceGetsTwoStatements) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(insert(*c_, "k" + std::to_string(i), i).ok());
  auto outer = c_->prepare("SELECT k FROM t ORDER BY k");
  ASSERT_TRUE(outer.ok());
  int pairs = 0;
  while (outer->next()) {
    auto inner = c_->prepare("SELECT k FROM t ORDER BY k");
    ASSERT_TRUE(inner.ok());
    while (inner->next()) ++pairs;
    EXPECT_FALSE(inner->failed());
  }
  EXPECT_FALSE(outer->failed());
  EXPECT_EQ(pairs, 9) << "the inner loop must not step the outer statement";
  EXPECT_EQ(c_->cachedStatements(), 2u) << "the second one was used once, not cached";
}

TEST_F(SqliteConnectionTest, TheCacheIsBounded) {
  for (size_t i = 0; i < kMaxCachedStatements + 20; ++i) {
    auto st = c_->prepare("SELECT " + std::to_string(i));
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(st->next());
    EXPECT_EQ(st->int64(0), static_cast<int64_t>(i));
  }
  EXPECT_EQ(c_->cachedStatements(), kMaxCachedStatements);
}

TEST_F(SqliteConnectionTest, AStatementOutOfScopeLeavesNoSnapshotBehind) {
  auto other = open();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(insert(*c_, "a", 1).ok());
  ASSERT_TRUE(insert(*c_, "b", 2).ok());
  {
    auto st = c_->prepare("SELECT k FROM t ORDER BY k");
    ASSERT_TRUE(st.ok());
    ASSERT_TRUE(st->next());  // one row read, one left: the statement is still running
  }
  ASSERT_TRUE(insert(*other, "c", 3).ok());
  EXPECT_EQ(count(*c_), 3) << "the reset statement must not pin the old snapshot";
}

TEST_F(SqliteConnectionTest, ATransactionNotCommittedLeavesNothing) {
  {
    auto txn = c_->beginWrite();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(insert(*c_, "a", 1).ok());
    auto dup = insert(*c_, "a", 2);  // the primary key refuses it
    ASSERT_FALSE(dup.ok());
    // An early error return: the guard goes out of scope uncommitted.
  }
  EXPECT_EQ(count(*c_), 0) << "the first insert was rolled back with the failed one";
  {
    auto txn = c_->beginWrite();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(insert(*c_, "a", 1).ok());
    ASSERT_TRUE(txn->commit().ok());
  }
  auto other = open();
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(count(*other), 1) << "committed: seen by another connection";
}

TEST_F(SqliteConnectionTest, AReadTransactionSeesOneSnapshot) {
  auto other = open();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(insert(*c_, "a", 1).ok());
  auto txn = c_->beginRead();
  ASSERT_TRUE(txn.ok());
  EXPECT_EQ(count(*c_), 1);
  ASSERT_TRUE(insert(*other, "b", 2).ok()) << "readers never block the writer (WAL)";
  EXPECT_EQ(count(*c_), 1);
  ASSERT_TRUE(txn->commit().ok());
  EXPECT_EQ(count(*c_), 2);
}

TEST_F(SqliteConnectionTest, AWriterWaitsForAnotherWritersLock) {
  auto other = open();
  ASSERT_NE(other, nullptr);
  auto held = other->beginWrite();
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(insert(*other, "a", 1).ok());
  constexpr auto kHold = milliseconds(300);
  std::thread releaser([&] {
    std::this_thread::sleep_for(kHold);
    ASSERT_TRUE(held->commit().ok());
  });
  const auto t0 = steady_clock::now();
  auto txn = c_->beginWrite();  // waits: the busy timeout is kSqliteBusyTimeoutMs
  const auto waited = steady_clock::now() - t0;
  releaser.join();
  ASSERT_TRUE(txn.ok()) << txn.error().message;
  EXPECT_GE(waited, kHold - milliseconds(50));
  ASSERT_TRUE(insert(*c_, "b", 2).ok());
  ASSERT_TRUE(txn->commit().ok());
  EXPECT_EQ(count(*c_), 2);
}

TEST_F(SqliteConnectionTest, ALockHeldPastTheBusyTimeoutIsAnErrorNamingTheFile) {
  auto other = open();
  ASSERT_NE(other, nullptr);
  auto held = other->beginWrite();
  ASSERT_TRUE(held.ok());
  constexpr auto kTimeout = milliseconds(150);
  c_->setBusyTimeout(kTimeout);
  const auto t0 = steady_clock::now();
  auto txn = c_->beginWrite();
  const auto waited = steady_clock::now() - t0;
  ASSERT_FALSE(txn.ok());
  EXPECT_GE(waited, kTimeout - milliseconds(20)) << "waited before giving up";
  EXPECT_EQ(txn.error().message, "begin write transaction: database is locked (" + path() + ")");
  // Nothing was taken: once the other writer is done, this one proceeds.
  ASSERT_TRUE(held->commit().ok());
  EXPECT_TRUE(c_->beginWrite().ok());
}

TEST_F(SqliteConnectionTest, ErrorsSayWhatFailedAndNameTheFile) {
  auto bad = c_->prepare("SELECT nope FROM missing");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "prepare: no such table: missing (" + path() + ")");

  ASSERT_TRUE(insert(*c_, "a", 1).ok());
  auto dup = insert(*c_, "a", 1);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "insert t: UNIQUE constraint failed: t.k (" + path() + ")");

  auto script = c_->exec("CREATE TABLE t (x INTEGER)", "create t again");
  ASSERT_FALSE(script.ok());
  EXPECT_EQ(script.error().message, "create t again: table t already exists (" + path() + ")");
}

TEST_F(SqliteConnectionTest, StoresBesideStoreRefuseAPrivateDatabase) {
  auto r = openMigratedSqliteFile(":memory:", "the ban list");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.rfind("the ban list needs a store file", 0), 0u) << r.error().message;
  EXPECT_TRUE(openMigratedSqlite(":memory:").ok()) << "the Store takes one, for tests";
}

}  // namespace
}  // namespace tollgate::store::detail
