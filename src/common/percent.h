// Percent-encoding (RFC 3986 §2.1), the one implementation for every kind
// of URI text: SIP URI user parts (sip::escapeUser) and the management
// API's query strings. Callers differ only in which characters they keep
// unescaped, so that is a parameter. Pure functions: thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tollgate {

// The unreserved characters of RFC 3986 §2.3 besides letters and digits:
// what a URL query value keeps.
inline constexpr std::string_view kUrlUnreservedMarks = "-_.~";

// `text` with every byte escaped as %XX (upper-case hex) except ASCII
// letters, digits and the characters in `keep`.
std::string percentEncode(std::string_view text, std::string_view keep);

// `text` with every %XX escape decoded. A '%' not followed by two hex
// digits is kept as it is (liberal: for display and comparison, not for
// validating input).
std::string percentDecode(std::string_view text);

// 0..15 for a hex digit (either case), -1 for anything else.
constexpr int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace tollgate
