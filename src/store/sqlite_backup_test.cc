// Backup and restore of the SQLite store on real files: a backup taken while
// another connection keeps committing CDRs holds every CDR committed before
// it began and passes integrity_check; the store's own files and existing
// files are refused; restore refuses while the store lock is held, refuses
// damaged and newer-schema files without touching the store, and keeps the
// store it replaces. And the store lock itself.
#include "store/sqlite_backup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <vector>

#include "store/sqlite_migrations.h"
#include "store/store_lock.h"
#include "store/test_raw_sqlite.h"
#include "store/test_temp_dir.h"

namespace tollgate::store {
namespace {

call::Cdr cdr(int n) {
  call::Cdr c;
  c.callId = "backup-" + std::to_string(n) + "@192.0.2.1";
  c.startUs = 1'795'710'000'000'000 + n;
  c.endUs = c.startUs + 1'000'000;
  c.caller = "4420" + std::to_string(n);
  c.callee = "15551234";
  c.sourceAddress = "192.0.2.1:5060";
  c.transport = "udp";
  c.mappingGateway = "alpha";
  c.finalCode = 486;
  c.reason = call::TerminationReason::Busy;
  return c;
}

std::unique_ptr<Store> open(const std::string& path) {
  auto r = openSqliteStore(path);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r.value()) : nullptr;
}

void write(Store& st, int from, int to) {
  std::vector<call::Cdr> batch;
  for (int i = from; i < to; ++i) batch.push_back(cdr(i));
  ASSERT_TRUE(st.writeCdrs(batch).ok());
}

int64_t countWhere(const std::string& path, const std::string& where) {
  return rawInt(path, "SELECT count(*) FROM cdr WHERE " + where);
}

TEST(SqliteBackupTest, HoldsEveryCdrCommittedBeforeItBeganWhileWritesGoOn) {
  TestTempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.file("tg.db");
  auto st = open(path);
  ASSERT_TRUE(st);
  write(*st, 0, 500);
  // Another connection keeps committing small batches during the backup.
  std::atomic<bool> stop{false};
  std::atomic<int> committed{500};
  std::thread writer([&] {
    auto w = open(path);
    for (int n = 500; !stop && n < 100'000; n += 10) {
      std::vector<call::Cdr> batch;
      for (int i = n; i < n + 10; ++i) batch.push_back(cdr(i));
      if (!w->writeCdrs(batch).ok()) break;
      committed = n + 10;
    }
  });
  while (committed < 1000) std::this_thread::yield();
  const int before = committed;
  auto r = backupSqliteStore(path, dir.file("b.db"), false);
  stop = true;
  writer.join();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_GE(r->copy.cdrs, before);
  EXPECT_EQ(r->copy.schemaVersion, sqliteSchemaVersion());
  // Every CDR committed before the backup began, each exactly once.
  EXPECT_EQ(countWhere(
                dir.file("b.db"), "call_id IN (" +
                                      [&] {
                                        std::string ids;
                                        for (int i = 0; i < before; ++i) {
                                          ids += (i ? ",'" : "'") + cdr(i).callId + "'";
                                        }
                                        return ids;
                                      }() +
                                      ")"),
            before);
  EXPECT_EQ(rawText(dir.file("b.db"), "PRAGMA integrity_check"), "ok");
  // One self-contained file, owner-only.
  EXPECT_EQ(rawText(dir.file("b.db"), "PRAGMA journal_mode"), "delete");
  struct stat s {};
  ASSERT_EQ(::stat(dir.file("b.db").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0600u);
  EXPECT_NE(::access((dir.file("b.db") + ".partial-" + std::to_string(::getpid())).c_str(), F_OK),
            0);
}

TEST(SqliteBackupTest, RefusesTheStoreItselfAnExistingFileAndAMissingStore) {
  TestTempDir dir;
  const std::string path = dir.file("tg.db");
  auto st = open(path);
  write(*st, 0, 3);
  auto self = backupSqliteStore(path, path, true);
  ASSERT_FALSE(self.ok());
  EXPECT_NE(self.error().message.find("itself"), std::string::npos);
  EXPECT_FALSE(backupSqliteStore(path, path + "-wal", true).ok());
  EXPECT_EQ(countWhere(path, "1"), 3);

  std::ofstream(dir.file("exists.db")) << "keep me";
  auto existing = backupSqliteStore(path, dir.file("exists.db"), false);
  ASSERT_FALSE(existing.ok());
  EXPECT_NE(existing.error().message.find("--force"), std::string::npos);
  EXPECT_TRUE(backupSqliteStore(path, dir.file("exists.db"), true).ok());

  EXPECT_FALSE(backupSqliteStore(dir.file("none.db"), dir.file("b.db"), false).ok());
  EXPECT_NE(::access(dir.file("none.db").c_str(), F_OK), 0);  // not created by the attempt
}

TEST(SqliteBackupTest, RestoreReplacesTheStoreAndKeepsTheOldOne) {
  TestTempDir dir;
  const std::string path = dir.file("tg.db");
  {
    auto st = open(path);
    write(*st, 0, 5);
    ASSERT_TRUE(backupSqliteStore(path, dir.file("b.db"), false).ok());
    write(*st, 5, 8);
  }
  auto r = restoreSqliteStore(dir.file("b.db"), path);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->copy.cdrs, 5);
  EXPECT_EQ(r->previous, storeBeforeRestorePath(path));
  auto st = open(path);
  EXPECT_EQ(countWhere(path, "1"), 5);
  EXPECT_EQ(countWhere(r->previous, "1"), 8);  // complete: its WAL was folded in
  struct stat s {};
  ASSERT_EQ(::stat(path.c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0600u);
}

TEST(SqliteBackupTest, RestoreRefusesWhileTheStoreIsLocked) {
  TestTempDir dir;
  const std::string path = dir.file("tg.db");
  {
    auto st = open(path);
    write(*st, 0, 2);
  }
  ASSERT_TRUE(backupSqliteStore(path, dir.file("b.db"), false).ok());
  {
    auto st = open(path);
    write(*st, 2, 4);
  }
  auto lock = StoreLock::acquire(path);  // what a running node holds
  ASSERT_TRUE(lock.ok()) << lock.error().message;
  auto r = restoreSqliteStore(dir.file("b.db"), path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("pid " + std::to_string(::getpid())), std::string::npos)
      << r.error().message;
  EXPECT_EQ(countWhere(path, "1"), 4);
}

TEST(SqliteBackupTest, RestoreRefusesDamagedAndNewerFilesLeavingTheStoreAlone) {
  TestTempDir dir;
  const std::string path = dir.file("tg.db");
  {
    auto st = open(path);
    write(*st, 0, 3);
  }
  std::ofstream(dir.file("junk.db")) << std::string(8192, 'x');
  EXPECT_FALSE(restoreSqliteStore(dir.file("junk.db"), path).ok());
  EXPECT_FALSE(checkSqliteBackup(dir.file("junk.db")).ok());

  ASSERT_TRUE(backupSqliteStore(path, dir.file("newer.db"), false).ok());
  rawExec(dir.file("newer.db"),
          "PRAGMA user_version = " + std::to_string(sqliteSchemaVersion() + 1));
  auto newer = restoreSqliteStore(dir.file("newer.db"), path);
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.error().message.find("newer"), std::string::npos) << newer.error().message;

  rawExec(dir.file("other.db"), "CREATE TABLE t(x)");
  EXPECT_FALSE(restoreSqliteStore(dir.file("other.db"), path).ok());

  EXPECT_EQ(countWhere(path, "1"), 3);
  EXPECT_NE(::access(storeBeforeRestorePath(path).c_str(), F_OK), 0);
  EXPECT_NE(::access((path + ".restore-partial").c_str(), F_OK), 0);
}

TEST(StoreLockTest, SecondHolderIsRefusedUntilTheFirstLetsGo) {
  TestTempDir dir;
  const std::string path = dir.file("sub/tg.db");
  {
    auto first = StoreLock::acquire(path);
    ASSERT_TRUE(first.ok()) << first.error().message;
    auto second = StoreLock::acquire(path);
    ASSERT_FALSE(second.ok());
    EXPECT_NE(second.error().message.find("held by pid"), std::string::npos);
    struct stat s {};
    ASSERT_EQ(::stat(dir.file("sub").c_str(), &s), 0);
    EXPECT_EQ(s.st_mode & 0777, 0700u);
  }
  EXPECT_TRUE(StoreLock::acquire(path).ok());
}

}  // namespace
}  // namespace tollgate::store
