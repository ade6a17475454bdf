// The management store on real SQLite files: migration from a version-1
// database, users, sessions, tokens, login failure counters, the audit log.
#include <gtest/gtest.h>

#include "store/mgmt_store.h"
#include "store/sqlite_migrations.h"
#include "store/test_raw_sqlite.h"
#include "store/test_temp_dir.h"

namespace tollgate::store {
namespace {

class SqliteMgmtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    auto s = openSqliteMgmtStore(dir_.file("m.db"));
    ASSERT_TRUE(s.ok()) << s.error().message;
    st_ = std::move(s).value();
  }
  TestTempDir dir_;
  std::unique_ptr<MgmtStore> st_;
};

TEST(SqliteMgmtMigrationTest, UpgradesAVersionOneDatabaseKeepingItsData) {
  TestTempDir dir;
  const std::string path = dir.file("old.db");
  ASSERT_TRUE(execRaw(path, sqliteMigrations()[0].sql));
  ASSERT_TRUE(execRaw(path,
                      "PRAGMA user_version=1; INSERT INTO mapping_gateway VALUES "
                      "('old','ip',1,1,1);"));
  auto s = openSqliteMgmtStore(path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE((*s)->listUsers().value().empty());
  auto p = openSqliteStore(path).value()->loadProvisioning().value();
  ASSERT_EQ(p.mappingGateways.size(), 1u);
  EXPECT_EQ(p.mappingGateways[0].name, "old");
  EXPECT_GE(sqliteSchemaVersion(), 5);  // the management tables came with version 5
}

TEST_F(SqliteMgmtTest, UsersSessionsAndTokensCascade) {
  MgmtUser u{"alice", "admin", "$argon2id$x", true, 1, 1, 1};
  EXPECT_TRUE(st_->insertUser(u).value());
  EXPECT_FALSE(st_->insertUser(u).value());  // exists
  EXPECT_EQ(st_->countEnabledAdmins("").value(), 1u);
  EXPECT_EQ(st_->countEnabledAdmins("alice").value(), 0u);
  ASSERT_TRUE(st_->insertSession({"h1", "alice", "127.0.0.1:1", 1, 100, 1}).ok());
  ApiToken t;
  t.name = "ci";
  t.user = "alice";
  t.role = "readonly";
  t.tokenHash = "th";
  int64_t id = st_->insertToken(t).value();
  EXPECT_GT(id, 0);
  EXPECT_TRUE(st_->findSession("h1").value().has_value());
  EXPECT_EQ(st_->findToken("th").value()->id, id);
  EXPECT_EQ(st_->pruneSessions(100, 1000).value(), 1u);  // absolute expiry
  ASSERT_TRUE(st_->insertSession({"h2", "alice", "127.0.0.1:1", 1, 1000, 1}).ok());
  EXPECT_TRUE(st_->deleteUser("alice").value());
  EXPECT_FALSE(st_->findSession("h2").value().has_value());
  EXPECT_FALSE(st_->findToken("th").value().has_value());
}

TEST_F(SqliteMgmtTest, FailureCountersLockAndExpire) {
  LockoutRule rule{3, 60'000'000, 120'000'000, 1000};
  int64_t now = 1'000'000'000;
  for (int i = 1; i <= 2; ++i) {
    auto f = st_->recordLoginFailure("pair", "a", "10.0.0.1", now, rule).value();
    EXPECT_EQ(f.failures, i);
    EXPECT_EQ(f.lockedUntilUs, 0);
  }
  auto locked = st_->recordLoginFailure("pair", "a", "10.0.0.1", now + 1, rule).value();
  EXPECT_EQ(locked.lockedUntilUs, now + 1 + rule.durationUs);
  // More failures while locked keep the lock as it is.
  auto again = st_->recordLoginFailure("pair", "a", "10.0.0.1", now + 5, rule).value();
  EXPECT_EQ(again.lockedUntilUs, locked.lockedUntilUs);
  EXPECT_EQ(st_->listLoginFailures(now + 10, rule.windowUs).value().size(), 1u);
  // After the lock the count starts again.
  auto fresh = st_->recordLoginFailure("pair", "a", "10.0.0.1", locked.lockedUntilUs, rule).value();
  EXPECT_EQ(fresh.failures, 1);
  EXPECT_EQ(fresh.lockedUntilUs, 0);
  EXPECT_TRUE(st_->clearLoginFailure("pair", "a", "10.0.0.1").value());
  EXPECT_FALSE(st_->loginFailure("pair", "a", "10.0.0.1").value().has_value());
}

TEST_F(SqliteMgmtTest, FailureTableEvictsUnlockedRowsFirst) {
  LockoutRule rule{2, 60'000'000, 120'000'000, 10};
  int64_t now = 1'000'000'000;
  st_->recordLoginFailure("source", "", "10.9.9.9", now, rule).value();
  st_->recordLoginFailure("source", "", "10.9.9.9", now, rule).value();  // locked
  for (int i = 0; i < 30; ++i) {
    st_->recordLoginFailure("source", "", "10.0.0." + std::to_string(i), now + i + 1, rule).value();
  }
  auto all = st_->listLoginFailures(now + 40, rule.windowUs).value();
  EXPECT_LE(all.size(), 10u);
  EXPECT_TRUE(st_->loginFailure("source", "", "10.9.9.9").value().has_value())
      << "a lock in force outlives counters";
}

TEST_F(SqliteMgmtTest, AuditFiltersAndPages) {
  for (int i = 0; i < 10; ++i) {
    AuditEntry e;
    e.timeUs = 1000 + i;
    e.actor = i % 2 ? "alice" : "bob";
    e.source = "127.0.0.1:1";
    e.action = i < 5 ? "login.failed" : "mapping_gateway.create";
    e.target = "t" + std::to_string(i);
    e.result = "ok";
    st_->appendAudit(e).value();
  }
  AuditQuery q;
  q.action = "login.";
  EXPECT_EQ(st_->listAudit(q).value().size(), 5u);
  q.action = "login";
  EXPECT_EQ(st_->listAudit(q).value().size(), 0u);  // exact
  q = AuditQuery{};
  q.actor = "alice";
  q.limit = 2;
  auto page = st_->listAudit(q).value();
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].target, "t9");
  q.beforeId = page[1].id;
  EXPECT_EQ(st_->listAudit(q).value()[0].target, "t5");
  q = AuditQuery{};
  q.fromUs = 1003;
  q.toUs = 1005;
  EXPECT_EQ(st_->listAudit(q).value().size(), 2u);
}

}  // namespace
}  // namespace tollgate::store
