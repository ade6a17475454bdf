// Test helper: reads and writes a store file through a raw SQLite
// connection of its own, bypassing the store and its opener, to check what
// is really in the file rather than what a store says, and to build files
// as an older tollgate left them. For *_test.cc files only. Each call opens
// and closes its own connection: thread-safe.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <string>

namespace tollgate::store {

// Runs `sql` (one or more statements) on the file at `path`, creating it
// when missing; the failure names SQLite's message and the SQL.
inline ::testing::AssertionResult execRaw(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    sqlite3_close_v2(db);
    return ::testing::AssertionFailure() << "cannot open " << path;
  }
  char* msg = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
  auto out = rc == SQLITE_OK ? ::testing::AssertionSuccess()
                             : ::testing::AssertionFailure() << (msg ? msg : "") << "\n"
                                                             << sql;
  sqlite3_free(msg);
  sqlite3_close_v2(db);
  return out;
}

inline void rawExec(const std::string& path, const std::string& sql) {
  EXPECT_TRUE(execRaw(path, sql));
}

// The first column of the first row of `sql` on the existing file at
// `path`, read by `read` (-1 or "" when there is no row).
template <typename T, typename Read>
T rawValue(const std::string& path, const std::string& sql, T none, Read read) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
  T v = none;
  if (st != nullptr && sqlite3_step(st) == SQLITE_ROW) v = read(st);
  sqlite3_finalize(st);
  sqlite3_close_v2(db);
  return v;
}

inline int64_t rawInt(const std::string& path, const std::string& sql) {
  return rawValue<int64_t>(path, sql, -1,
                           [](sqlite3_stmt* st) { return sqlite3_column_int64(st, 0); });
}

inline std::string rawText(const std::string& path, const std::string& sql) {
  return rawValue<std::string>(path, sql, "", [](sqlite3_stmt* st) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    return std::string(p != nullptr ? p : "");
  });
}

}  // namespace tollgate::store
