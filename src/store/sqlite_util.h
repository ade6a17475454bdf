// Small helpers for code that talks to SQLite directly outside
// sqlite_store.cc (the call policy tables and PolicyStore): an owning
// prepared statement that is finalized on scope exit, text/list encodings,
// and the time. Externally synchronized, like the connection it wraps.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::store {

class SqlStmt {
 public:
  SqlStmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  ~SqlStmt() { sqlite3_finalize(s_); }
  SqlStmt(const SqlStmt&) = delete;
  SqlStmt& operator=(const SqlStmt&) = delete;

  bool ok() const { return s_ != nullptr; }
  SqlStmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  SqlStmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  SqlStmt& bind(int i, bool v) { return bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  SqlStmt& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  SqlStmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  SqlStmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  SqlStmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  SqlStmt& blob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
  double real(int col) const { return sqlite3_column_double(s_, col); }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    int n = sqlite3_column_bytes(s_, col);
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(n));
  }
  std::string blobValue(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(s_, col));
    int n = sqlite3_column_bytes(s_, col);
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(n));
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Lists of names or prefixes in one TEXT column, comma-separated (neither
// may contain a comma: names are [A-Za-z0-9._-], prefixes [0-9+*#]).
inline std::string joinList(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += v[i];
  }
  return out;
}
// keepEmpty: "" is one empty element (a prefix list, where "" is the
// default prefix and lists are never empty) rather than no element.
inline std::vector<std::string> splitList(std::string_view s, bool keepEmpty) {
  std::vector<std::string> out;
  if (s.empty() && !keepEmpty) return out;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    out.emplace_back(s.substr(start, comma == std::string_view::npos ? s.npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

inline int64_t wallNowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tollgate::store
