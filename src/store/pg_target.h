// Where a store lives: the backend and how to reach it, as the node's
// `[store]` settings name it (docs/store.md, "Backends"). Plain values;
// the factories in store_factory.h open stores on it. Thread-safe to read.
#pragma once

#include <string>

namespace tollgate::store {

enum class Backend { Sqlite, Postgresql };

// A PostgreSQL server. The URL is a libpq connection URI
// (postgresql://user@host:port/db?sslmode=verify-full&sslrootcert=...)
// without a password: the password comes from `store.password_file` (or
// libpq's own ~/.pgpass / PGPASSFILE), never from a URL that shows up in
// `ps` output and logs.
struct PgTarget {
  std::string url;
  std::string password;  // "" = none / libpq's password file
  std::string applicationName = "tollgate";
  // A statement that has not answered within this long fails, and the
  // connection is dropped (reconnected on next use): a hung server must not
  // hang the thread forever. The CDR writer uses a short one, so that a slow
  // database sends CDRs to the spool instead of holding them in memory.
  int queryTimeoutMs = 30'000;
};

struct StoreTarget {
  Backend backend = Backend::Sqlite;
  // SQLite: the database file. PostgreSQL: still the node's local state
  // (the node lock <path>.lock, the local API token <path>.api-token and
  // the CDR spool directory beside it).
  std::string path;
  PgTarget pg;  // backend == Postgresql
};

inline const char* backendName(Backend b) {
  return b == Backend::Postgresql ? "postgresql" : "sqlite";
}

}  // namespace tollgate::store
