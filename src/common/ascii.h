// ASCII case folding, the one definition for every layer: protocol text
// (SIP header and parameter names, HTTP header names, digest parameters,
// DNS names in certificates) is case-insensitive in ASCII only (RFC 3261
// §7.3.1, RFC 9110 §5.1, RFC 4343), so bytes outside A-Z are never
// changed, whatever the process locale. Nothing here allocates except
// lowered(). Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tollgate::ascii {

constexpr char toLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// Equal ignoring ASCII case.
constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (toLower(a[i]) != toLower(b[i])) return false;
  }
  return true;
}

// `s` starts with `prefix`, ignoring ASCII case.
constexpr bool istartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// A copy of `s` with A-Z lowered.
inline std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = toLower(c);
  return out;
}

}  // namespace tollgate::ascii
