// Internal to src/store: the one way tollgate opens its SQLite file. Every
// connection (Store, RegistrationStore, SuspensionStore, PolicyStore,
// BanStore, MgmtStore; in the node, the CLI and the API threads) is a
// SqliteConnection (sqlite_connection.h), whose open() is the only caller of
// openSqliteDatabase(), so all of them get the same file modes and the same
// settings:
//   - the directories it creates are 0700, the database file is created
//     0600 before SQLite sees it, and SQLite gives its -wal, -shm and
//     -journal files the database's mode (os_unix.c, robust_open with an
//     explicit fchmod): owner-only whatever the umask;
//   - an existing database, -wal, -shm or -journal open to group or others
//     is tightened to the owner's bits and logged (store.permissions_tightened);
//   - busy_timeout kSqliteBusyTimeoutMs, extended result codes,
//     journal_mode=WAL (refused when the file system cannot do it),
//     synchronous=NORMAL, foreign_keys=ON (docs/store.md).
// Stateless; the connection it returns is externally synchronized.
#pragma once

#include <sqlite3.h>

#include <string>

#include "common/result.h"
#include "store/sqlite_backend.h"
#include "store/store.h"

namespace tollgate::store::detail {

// Opens (creating when missing) the database at `path`, or a private
// in-memory one for ":memory:" (tests only: no WAL). The caller owns the
// handle (sqlite3_close_v2): SqliteConnection.
Result<sqlite3*, StoreError> openSqliteDatabase(const std::string& path);

}  // namespace tollgate::store::detail
