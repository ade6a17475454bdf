// Backup and restore of the SQLite store (docs/operations.md, "Backup and
// restore").
//
// backupSqliteStore() is online: it runs beside the node, which keeps
// writing CDRs, registrations and bans. It copies the database with SQLite's
// backup API in one step, that is inside one read transaction: the copy is
// the store as it was at one instant (WAL snapshot isolation), holding every
// transaction committed before the copy began and none committed after, and
// the node's writers are never blocked (in WAL mode readers and writers do
// not wait for each other). The copy is written to "<file>.partial-<pid>",
// switched to a self-contained rollback-journal file, checked (PRAGMA
// integrity_check, a tollgate schema), flushed to disk and only then
// renamed to `file`: a crash or a failed check leaves no half backup under
// the name. The file is 0600 (it holds HA1 digests and token hashes).
//
// restoreSqliteStore() is offline: it takes the store lock (store_lock.h),
// so it refuses while a node runs on the store, and a node cannot start
// while it runs. It checks the backup the same way, copies it next to the
// store, keeps the store it replaces (checkpointed, so complete) as
// "<store.path>.before-restore", and renames the copy into place. An older
// schema is migrated by the next open, like any store; a newer one is
// refused. Run as root, the new files are given to the owner of the store's
// directory (the user the node runs as).
//
// Stateless functions, thread-safe; each opens its own connections.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/result.h"
#include "store/store.h"

namespace tollgate::store {

// What a check of a backup file (or of a fresh copy) found.
struct StoreCopyInfo {
  int64_t bytes = 0;
  int schemaVersion = 0;  // PRAGMA user_version
  int64_t cdrs = 0;       // rows in the cdr table
};

struct BackupReport {
  StoreCopyInfo copy;
  std::chrono::milliseconds took{0};
};

// Copies the store at `storePath` to `file`. An existing `file` is refused
// unless `replace`; the store's own files always are.
Result<BackupReport, StoreError> backupSqliteStore(const std::string& storePath,
                                                   const std::string& file, bool replace);

// Checks a backup file without changing it: integrity_check ok, a tollgate
// schema this build can open.
Result<StoreCopyInfo, StoreError> checkSqliteBackup(const std::string& file);

struct RestoreReport {
  StoreCopyInfo copy;
  // Where the replaced store was kept; "" when there was none.
  std::string previous;
};

// Replaces the store at `storePath` with the backup `file`; the node must
// not run (the store lock is taken, or the restore refused).
Result<RestoreReport, StoreError> restoreSqliteStore(const std::string& file,
                                                     const std::string& storePath);

// "<store.path>.before-restore".
std::string storeBeforeRestorePath(const std::string& storePath);

}  // namespace tollgate::store
