// File modes of the SQLite store (sqlite_open.h): whatever the umask, every
// kind of connection creates the directory 0700 and the database, -wal and
// -shm 0600; files found wider are tightened on open.
#include "store/sqlite_open.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "store/ban_store.h"
#include "store/mgmt_store.h"
#include "store/policy_store.h"
#include "store/registration_store.h"
#include "store/sqlite_backend.h"
#include "store/sqlite_connection.h"
#include "store/store.h"
#include "store/suspension_store.h"
#include "store/test_temp_dir.h"

namespace tollgate::store {
namespace {

unsigned modeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<unsigned>(st.st_mode) & 07777;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Sets the process umask for one test and puts the old one back.
class Umask {
 public:
  explicit Umask(mode_t m) : old_(::umask(m)) {}
  ~Umask() { ::umask(old_); }
  Umask(const Umask&) = delete;
  Umask& operator=(const Umask&) = delete;

 private:
  mode_t old_;
};

class SqliteOpenTest : public ::testing::TestWithParam<mode_t> {};

// Each opener first, on a fresh path in a directory that does not exist
// yet: whichever process or thread comes first creates the files.
using Opener = bool (*)(const std::string&);
const std::pair<const char*, Opener> kOpeners[] = {
    {"Store", [](const std::string& p) { return openSqliteStore(p).ok(); }},
    {"BanStore", [](const std::string& p) { return openSqliteBanStore(p).ok(); }},
    {"MgmtStore", [](const std::string& p) { return openSqliteMgmtStore(p).ok(); }},
    {"PolicyStore", [](const std::string& p) { return openSqlitePolicyStore(p).ok(); }},
    {"RegistrationStore", [](const std::string& p) { return openSqliteRegistrationStore(p).ok(); }},
    {"SuspensionStore", [](const std::string& p) { return openSqliteSuspensionStore(p).ok(); }},
};

TEST_P(SqliteOpenTest, EveryOpenerCreatesOwnerOnlyFiles) {
  Umask umask(GetParam());
  for (const auto& [name, open] : kOpeners) {
    TestTempDir tmp;
    ASSERT_TRUE(tmp.ok());
    const std::string dir = tmp.file("var/lib/tollgate");
    const std::string db = dir + "/tollgate.db";
    ASSERT_TRUE(open(db)) << name;
    // Keep a connection open and write, so the -wal and -shm exist.
    auto st = openSqliteStore(db);
    ASSERT_TRUE(st.ok()) << name;
    admission::Provisioning p;
    ASSERT_TRUE((*st)->importProvisioning(p, true).ok());
    ASSERT_TRUE(exists(db + "-wal")) << name;
    ASSERT_TRUE(exists(db + "-shm")) << name;
    for (const std::string& f : sqliteStoreFiles(db)) {
      if (exists(f)) {
        EXPECT_EQ(modeOf(f), 0600u) << name << " " << f;
      }
    }
    EXPECT_EQ(modeOf(dir), 0700u) << name << ": created by tollgate";
    EXPECT_EQ(modeOf(tmp.file("var")), 0700u) << name << ": every directory it creates";
  }
}

INSTANTIATE_TEST_SUITE_P(Umasks, SqliteOpenTest, ::testing::Values(0000, 0022, 0077, 0277));

TEST(SqliteOpenFilesTest, WiderFilesAreTightenedAndDirectoriesLeftAlone) {
  TestTempDir tmp;
  ASSERT_TRUE(tmp.ok());
  const std::string db = tmp.file("tollgate.db");
  {
    auto st = openSqliteStore(db);
    ASSERT_TRUE(st.ok());
  }
  ASSERT_EQ(::chmod(db.c_str(), 0644), 0);
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0755), 0);
  auto st = openSqliteStore(db);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(modeOf(db), 0600u);
  EXPECT_EQ(modeOf(db + "-wal"), 0600u) << "SQLite gives the WAL the database's mode";
  EXPECT_EQ(modeOf(tmp.path()), 0755u)
      << "an existing directory may be shared: reported (node, doctor), never changed";

  ASSERT_EQ(::chmod((db + "-shm").c_str(), 0666), 0);
  auto again = openSqliteBanStore(db);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(modeOf(db + "-shm"), 0600u) << "every opener tightens, not only the Store";
}

TEST(SqliteOpenFilesTest, OwnerBitsAreKept) {
  TestTempDir tmp;
  ASSERT_TRUE(tmp.ok());
  const std::string db = tmp.file("tollgate.db");
  ASSERT_TRUE(openSqliteStore(db).ok());
  ASSERT_EQ(::chmod(db.c_str(), 0640), 0);
  ASSERT_TRUE(openSqliteStore(db).ok());
  EXPECT_EQ(modeOf(db), 0600u);
}

TEST(SqliteOpenFilesTest, AStorePathThroughASymlinkEndsOwnerOnly) {
  Umask umask(0022);
  TestTempDir tmp;
  ASSERT_TRUE(tmp.ok());
  const std::string target = tmp.file("data.db");
  const std::string link = tmp.file("tollgate.db");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  // The link dangles: SQLite, not the opener, creates the target (0644).
  auto st = openSqliteStore(link);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(modeOf(target), 0600u) << "tightened right after SQLite created it";
  const auto files = sqliteStoreFiles(link);
  EXPECT_EQ(files[1], target + "-wal") << "SQLite names the WAL after the real path";
  EXPECT_TRUE(exists(files[1]));
  EXPECT_EQ(modeOf(files[1]), 0600u);
}

TEST(SqliteOpenFilesTest, ConnectionSettingsAreTheSameForEveryOpener) {
  TestTempDir tmp;
  ASSERT_TRUE(tmp.ok());
  const std::string db = tmp.file("tollgate.db");
  auto h = detail::SqliteConnection::open(db);
  ASSERT_TRUE(h.ok()) << h.error().message;
  auto pragma = [&](const char* sql) {
    auto s = (*h)->prepare(sql);
    EXPECT_TRUE(s.ok());
    std::string v;
    if (s.ok() && s->next()) v = s->text(0);
    return v;
  };
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA synchronous"), "1");  // NORMAL
  EXPECT_EQ(pragma("PRAGMA foreign_keys"), "1");
  EXPECT_EQ(pragma("PRAGMA busy_timeout"), std::to_string(kSqliteBusyTimeoutMs));
}

TEST(SqliteOpenFilesTest, RefusesAnEmptyPathAndAFileInTheWayOfTheDirectory) {
  EXPECT_FALSE(detail::SqliteConnection::open("").ok());
  TestTempDir tmp;
  ASSERT_TRUE(tmp.ok());
  const std::string blocker = tmp.file("f");
  ASSERT_TRUE(openSqliteStore(blocker).ok());
  auto r = openSqliteStore(blocker + "/sub/tollgate.db");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot create directory"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace tollgate::store
