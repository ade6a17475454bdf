// The SQLite backend as the rest of tollgate sees it, beside the openSqliteX
// factories declared with each store interface (store.h, policy_store.h,
// ban_store.h, mgmt_store.h, registration_store.h, suspension_store.h).
//
// All of them open the same file, `store.path`, and each connection is
// opened and configured the same way (sqlite_connection.h, sqlite_open.h):
//   - the file may be shared by several processes at once (the running
//     switch, `tollgate import`, `tollgate cdr list`, the CLI): WAL mode, and
//     a writer waits up to kSqliteBusyTimeoutMs for another one's lock;
//   - the schema is migrated on open (sqlite_migrations.h);
//   - every file of the store is its owner's alone (0600, a directory it
//     creates 0700, whatever the umask) and wider modes found on open are
//     tightened;
//   - ":memory:" opens a private in-memory database (tests only: no WAL,
//     nothing shared, nothing durable; only openSqliteStore accepts it).
// See docs/store.md. The functions are stateless and thread-safe.
#pragma once

#include <string>
#include <vector>

namespace tollgate::store {

// How long a connection waits for another connection's lock (the write lock
// of another process, or a fresh file's switch to WAL) before it fails with
// "database is locked". Long enough for an import or an API edit to finish;
// short enough that a stuck process shows up as errors rather than a hang.
inline constexpr int kSqliteBusyTimeoutMs = 5000;

// The files SQLite keeps for the store at `path`: the database, then its
// -wal, -shm and -journal (beside the database's real path when `path` is
// a symlink). All hold secrets (HA1 digests, carrier passwords,
// session and token hashes); `tollgate doctor` checks their modes.
std::vector<std::string> sqliteStoreFiles(const std::string& path);
// The directory that holds them ("." for a bare file name).
std::string sqliteStoreDirectory(const std::string& path);

}  // namespace tollgate::store
