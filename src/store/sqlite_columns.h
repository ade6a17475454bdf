// Internal to src/store: how the SQLite backend keeps values that have no
// column type of their own. Lists of names or prefixes sit in one TEXT
// column, comma-separated (neither may contain a comma: names are
// [A-Za-z0-9._-] or DNS names, prefixes [0-9+*#]). Times are INTEGER
// microseconds since the Unix epoch, like Cdr (common/clock.h). Pure
// functions: thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tollgate::store {

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

}  // namespace tollgate::store
