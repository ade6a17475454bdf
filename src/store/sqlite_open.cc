// Opening the SQLite file: modes first, then the connection's settings. See
// sqlite_open.h.
#include "store/sqlite_open.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "common/log.h"
#include "common/private_files.h"

namespace tollgate::store {

std::vector<std::string> sqliteStoreFiles(const std::string& path) {
  // SQLite names the side files after the database's real path (it
  // resolves symlinks), so a symlinked store.path has them beside its
  // target.
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(path, ec);
  const std::string base = ec ? path : real.string();
  return {path, base + "-wal", base + "-shm", base + "-journal"};
}

std::string sqliteStoreDirectory(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

namespace detail {

namespace {

bool isMemory(const std::string& path) {
  return path == ":memory:";
}

// Directories and the database file exist with owner-only modes before
// SQLite opens anything: SQLite then creates -wal, -shm and -journal with
// the database's mode.
Result<Ok, StoreError> createFiles(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    auto made = files::makePrivateDirectories(parent.string());
    if (!made) return Err{StoreError{made.error()}};
    for (const std::string& dir : *made) {
      log::info("store.directory_created")
          .kv("path", dir)
          .kv("mode", files::octal(files::kPrivateDirectoryMode));
    }
  }
  auto created = files::createPrivateFile(path);
  if (!created) return Err{StoreError{created.error()}};
  // A command run as root (sudo tollgate import before the service ever
  // ran) must not leave a database the service's user cannot open: it goes
  // to the owner of its directory, as SQLite does for -wal and -shm.
  if (*created && ::geteuid() == 0) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
      files::giveToDirectoryOwner(fd, sqliteStoreDirectory(path));
      ::close(fd);
    }
  }
  return Ok{};
}

// Files left wider (an older tollgate created them 0644, somebody ran chmod,
// or SQLite created the database through a dangling symlink) are tightened;
// a file we cannot change (owned by another user) is logged and opened as
// it is: refusing would stop the switch for a condition only the operator
// can fix, and `tollgate doctor` flags it. Runs after sqlite3_open_v2 (the
// database exists) and before the first statement (no -wal created yet by
// this connection).
void tightenFiles(const std::string& path) {
  for (const std::string& file : sqliteStoreFiles(path)) {
    auto was = files::restrictToOwner(file);
    if (!was) {
      log::warn("store.permissions_open")
          .kv("path", file)
          .kv("error", was.error())
          .kv("why",
              "holds HA1 digests and carrier passwords; make it 0600 and owned by the "
              "user tollgate runs as");
      continue;
    }
    if (*was) {
      log::warn("store.permissions_tightened")
          .kv("path", file)
          .kv("was", files::octal(**was))
          .kv("now", files::octal(**was & ~files::kOthersBits))
          .kv("why", "holds HA1 digests and carrier passwords: readable by its owner only");
    }
  }
}

// Switching a fresh file to WAL needs an exclusive lock, and SQLite does not
// run the busy handler for it: when several processes open a new store at
// once (the node, an import, a `cdr list`), the losers get SQLITE_BUSY at
// once. Retry, bounded by the same busy timeout.
Result<Ok, StoreError> enableWal(sqlite3* db, const std::string& path) {
  std::string mode;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kSqliteBusyTimeoutMs);
  auto busy = [](int code) {
    return (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
  };
  for (;;) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, nullptr) != SQLITE_OK) {
      if (busy(sqlite3_errcode(db)) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      return Err{
          StoreError{std::string("set journal_mode: ") + sqlite3_errmsg(db) + " (" + path + ")"}};
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      mode = p != nullptr ? p : "";
    }
    sqlite3_finalize(s);
    if (mode.empty() && busy(rc) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    break;
  }
  // WAL is what makes sharing the file between processes and kill -9
  // durability work as documented; refuse to run without it (e.g. on a file
  // system without shared memory support) rather than silently giving
  // weaker guarantees.
  if (mode != "wal" && !(isMemory(path) && mode == "memory")) {
    return Err{StoreError{"cannot enable WAL journal mode (got '" + mode +
                          "'): " + sqlite3_errmsg(db) + " (" + path + ")"}};
  }
  return Ok{};
}

}  // namespace

Result<sqlite3*, StoreError> openSqliteDatabase(const std::string& path) {
  if (path.empty()) return Err{StoreError{"empty SQLite store path"}};
  if (!isMemory(path)) {
    if (auto r = createFiles(path); !r) return Err{r.error()};
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Err{StoreError{"cannot open SQLite store " + path + ": " + msg}};
  }
  if (!isMemory(path)) tightenFiles(path);
  // Before anything that may wait for another process's lock, including
  // the journal mode switch.
  sqlite3_busy_timeout(db, kSqliteBusyTimeoutMs);
  sqlite3_extended_result_codes(db, 1);
  if (auto r = enableWal(db, path); !r) {
    sqlite3_close_v2(db);
    return Err{r.error()};
  }
  for (const char* pragma : {"PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"}) {
    if (sqlite3_exec(db, pragma, nullptr, nullptr, nullptr) != SQLITE_OK) {
      StoreError e{std::string(pragma) + ": " + sqlite3_errmsg(db) + " (" + path + ")"};
      sqlite3_close_v2(db);
      return Err{std::move(e)};
    }
  }
  return db;
}

}  // namespace detail
}  // namespace tollgate::store
