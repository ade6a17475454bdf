// Backup (SQLite backup API, one step) and restore of the store. See
// sqlite_backup.h.
#include "store/sqlite_backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/private_files.h"
#include "store/sqlite_backend.h"
#include "store/sqlite_migrations.h"
#include "store/sqlite_open.h"
#include "store/store_lock.h"

namespace tollgate::store {
namespace {

// Pause between tries when the source is busy for a moment (a WAL
// recovery, a checkpoint); the tries end at kSqliteBusyTimeoutMs like any
// other wait for a lock.
constexpr std::chrono::milliseconds kBusyRetry{10};

// One sqlite3 handle, closed on scope exit.
struct Db {
  sqlite3* p = nullptr;
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() { sqlite3_close_v2(p); }
};

StoreError sqliteError(sqlite3* db, const std::string& what, const std::string& file) {
  return StoreError{what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory") + " (" +
                    file + ")"};
}

std::string systemError(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// The first column of the first row of `sql`, as text; nullopt (and *err)
// on failure.
std::optional<std::string> scalar(sqlite3* db, const char* sql, std::string* err) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
    *err = std::string(sql) + ": " + sqlite3_errmsg(db);
    return std::nullopt;
  }
  std::optional<std::string> out;
  if (sqlite3_step(s) == SQLITE_ROW) {
    auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    out = t != nullptr ? t : "";
  } else {
    *err = std::string(sql) + ": " + sqlite3_errmsg(db);
  }
  sqlite3_finalize(s);
  return out;
}

// The checks a copy must pass before it is called a backup or put in place
// of the store.
Result<StoreCopyInfo, StoreError> checkCopy(sqlite3* db, const std::string& file) {
  std::string err;
  auto integrity = scalar(db, "PRAGMA integrity_check", &err);
  if (!integrity) return Err{StoreError{"cannot check " + file + ": " + err}};
  if (*integrity != "ok") {
    return Err{StoreError{file + " is damaged (integrity_check: " + *integrity + ")"}};
  }
  auto version = scalar(db, "PRAGMA user_version", &err);
  if (!version) return Err{StoreError{"cannot read " + file + ": " + err}};
  StoreCopyInfo info;
  info.schemaVersion = std::atoi(version->c_str());
  if (info.schemaVersion < 1) {
    return Err{StoreError{file + " is not a tollgate store (no schema version)"}};
  }
  if (info.schemaVersion > sqliteSchemaVersion()) {
    return Err{StoreError{file + " has schema " + std::to_string(info.schemaVersion) +
                          ", newer than this tollgate's " + std::to_string(sqliteSchemaVersion()) +
                          ": restore it with that version"}};
  }
  auto cdrs = scalar(db, "SELECT count(*) FROM cdr", &err);
  if (!cdrs) return Err{StoreError{file + " is not a tollgate store: " + err}};
  info.cdrs = std::atoll(cdrs->c_str());
  return info;
}

// Copies every page of `from` into `to` in one backup step: one read
// transaction on the source, so one consistent snapshot.
Result<Ok, StoreError> copyDatabase(sqlite3* from, const std::string& fromName, sqlite3* to,
                                    const std::string& toName) {
  sqlite3_backup* b = sqlite3_backup_init(to, "main", from, "main");
  if (b == nullptr) return Err{sqliteError(to, "cannot start the copy", toName)};
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kSqliteBusyTimeoutMs);
  int rc;
  for (;;) {
    rc = sqlite3_backup_step(b, -1);
    const bool busy = rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
    if (!busy || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(kBusyRetry);
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    return Err{StoreError{"copying " + fromName + " to " + toName + ": " + sqlite3_errstr(rc)}};
  }
  return Ok{};
}

Result<Ok, StoreError> syncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    std::string e = systemError("cannot flush", path);
    if (fd >= 0) ::close(fd);
    return Err{StoreError{std::move(e)}};
  }
  ::close(fd);
  return Ok{};
}

// A rename is durable once its directory is flushed.
void syncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string directoryOf(const std::string& path) {
  return sqliteStoreDirectory(path);
}

// true when `a` and `b` name the same file (both exist) or the same path.
bool sameFile(const std::string& a, const std::string& b) {
  struct stat sa {};
  struct stat sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0) {
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  }
  std::error_code ec1, ec2;
  return std::filesystem::weakly_canonical(a, ec1) == std::filesystem::weakly_canonical(b, ec2) &&
         !ec1 && !ec2;
}

// Refuses `file` when it is one of the store's own files.
Result<Ok, StoreError> notTheStore(const std::string& file, const std::string& storePath) {
  std::vector<std::string> own = sqliteStoreFiles(storePath);
  own.push_back(storeLockPath(storePath));
  for (const std::string& f : own) {
    if (sameFile(file, f)) {
      return Err{StoreError{file + " is a file of the store " + storePath + " itself"}};
    }
  }
  return Ok{};
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// A new 0600 file for a copy; a leftover of a crashed run is replaced.
Result<Ok, StoreError> freshPrivateFile(const std::string& path) {
  ::unlink(path.c_str());
  auto created = files::createPrivateFile(path);
  if (!created) return Err{StoreError{created.error()}};
  if (!*created) return Err{StoreError{"cannot create " + path + ": it exists"}};
  return Ok{};
}

// Copies `from` into the empty file `partial` (freshPrivateFile), makes it
// one self-contained rollback-journal file (the copy carries the source's
// WAL mark; the node's opener switches a restored store back to WAL), and
// checks it.
Result<StoreCopyInfo, StoreError> copyInto(sqlite3* from, const std::string& fromName,
                                           const std::string& partial) {
  Db dst;
  if (sqlite3_open_v2(partial.c_str(), &dst.p, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return Err{sqliteError(dst.p, "cannot open", partial)};
  }
  if (auto r = copyDatabase(from, fromName, dst.p, partial); !r) return Err{r.error()};
  std::string err;
  if (!scalar(dst.p, "PRAGMA journal_mode=DELETE", &err)) {
    return Err{StoreError{"cannot set the journal mode of " + partial + ": " + err}};
  }
  return checkCopy(dst.p, partial);
}

}  // namespace

std::string storeBeforeRestorePath(const std::string& storePath) {
  return storePath + ".before-restore";
}

Result<BackupReport, StoreError> backupSqliteStore(const std::string& storePath,
                                                   const std::string& file, bool replace) {
  const auto t0 = std::chrono::steady_clock::now();
  if (!exists(storePath))
    return Err{StoreError{"no store at " + storePath + ": nothing to back up"}};
  if (auto r = notTheStore(file, storePath); !r) return Err{r.error()};
  if (exists(file) && !replace) {
    return Err{StoreError{file + " exists (--force replaces it)"}};
  }
  const std::string partial = file + ".partial-" + std::to_string(::getpid());
  if (auto r = freshPrivateFile(partial); !r) return Err{r.error()};
  auto fail = [&](StoreError e) -> Result<BackupReport, StoreError> {
    ::unlink(partial.c_str());
    return Err{std::move(e)};
  };
  StoreCopyInfo info;
  {
    // The node's settings (WAL, busy timeout) on the source; no migration:
    // the backup is the store as it is.
    auto opened = detail::openSqliteDatabase(storePath);
    if (!opened) return fail(opened.error());
    Db src;
    src.p = *opened;
    auto copied = copyInto(src.p, storePath, partial);
    if (!copied) return fail(copied.error());
    info = *copied;
  }
  if (auto r = syncFile(partial); !r) return fail(r.error());
  if (::rename(partial.c_str(), file.c_str()) != 0) {
    return fail(StoreError{systemError("cannot rename " + partial + " to", file)});
  }
  syncDirectory(directoryOf(file));
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) info.bytes = st.st_size;
  BackupReport report;
  report.copy = info;
  report.took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return report;
}

Result<StoreCopyInfo, StoreError> checkSqliteBackup(const std::string& file) {
  if (!exists(file)) return Err{StoreError{"no file " + file}};
  Db db;
  // Read-only: a backup is checked, never changed (no journal, no WAL files
  // for a rollback-mode file).
  if (sqlite3_open_v2(file.c_str(), &db.p, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    return Err{sqliteError(db.p, "cannot open", file)};
  }
  auto info = checkCopy(db.p, file);
  if (!info) return Err{info.error()};
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) info->bytes = st.st_size;
  return info;
}

Result<RestoreReport, StoreError> restoreSqliteStore(const std::string& file,
                                                     const std::string& storePath) {
  if (auto r = notTheStore(file, storePath); !r) return Err{r.error()};
  if (!exists(file)) return Err{StoreError{"no file " + file}};
  const std::string dir = directoryOf(storePath);
  auto lock = StoreLock::acquire(storePath);
  if (!lock) return Err{lock.error()};

  // 1. The backup, checked, copied next to the store.
  const std::string partial = storePath + ".restore-partial";
  if (auto r = freshPrivateFile(partial); !r) return Err{r.error()};
  auto fail = [&](StoreError e) -> Result<RestoreReport, StoreError> {
    ::unlink(partial.c_str());
    return Err{std::move(e)};
  };
  RestoreReport report;
  {
    Db src;
    if (sqlite3_open_v2(file.c_str(), &src.p, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      return fail(sqliteError(src.p, "cannot open", file));
    }
    if (auto checked = checkCopy(src.p, file); !checked) return fail(checked.error());
    auto copied = copyInto(src.p, file, partial);
    if (!copied) return fail(copied.error());
    report.copy = *copied;
  }
  if (::geteuid() == 0) {
    const int fd = ::open(partial.c_str(), O_RDONLY | O_CLOEXEC);
    const bool given = fd >= 0 && files::giveToDirectoryOwner(fd, dir);
    if (fd >= 0) ::close(fd);
    if (!given) return fail(StoreError{systemError("cannot give to the owner of " + dir, partial)});
  }
  if (auto r = syncFile(partial); !r) return fail(r.error());

  // 2. The store it replaces, complete (its WAL folded in), kept aside.
  if (exists(storePath)) {
    {
      auto opened = detail::openSqliteDatabase(storePath);
      if (!opened) return fail(opened.error());
      Db old;
      old.p = *opened;
      if (sqlite3_exec(old.p, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) !=
          SQLITE_OK) {
        return fail(sqliteError(old.p, "cannot checkpoint the store", storePath));
      }
    }
    report.previous = storeBeforeRestorePath(storePath);
    if (::rename(storePath.c_str(), report.previous.c_str()) != 0) {
      return fail(StoreError{systemError("cannot move the store aside to", report.previous)});
    }
  }
  // The old store's side files describe the old database; none may meet
  // the new one.
  const std::vector<std::string> side = sqliteStoreFiles(storePath);
  for (size_t i = 1; i < side.size(); ++i) ::unlink(side[i].c_str());

  // 3. The copy in place.
  if (::rename(partial.c_str(), storePath.c_str()) != 0) {
    return fail(StoreError{systemError("cannot rename " + partial + " to", storePath)});
  }
  syncDirectory(dir);
  struct stat st {};
  if (::stat(storePath.c_str(), &st) == 0) report.copy.bytes = st.st_size;
  return report;
}

}  // namespace tollgate::store
