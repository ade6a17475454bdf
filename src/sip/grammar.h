// Character classes of the RFC 3261 §25 grammar (namespace sip: the one
// definition of token, word, uric... for every layer that reads SIP text,
// e.g. the shield's raw scan and the digest parser), and the scanners the
// parser, the public value parsers, the framer and the checks share
// (sip::detail: internal to src/sip). Nothing here allocates; every result
// is a view into the input. Pure functions and constant tables: thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/ascii.h"
#include "sip/message.h"

namespace tollgate::sip {

enum CharClass : uint8_t {
  // RFC 3261 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
  kTokenChar = 1 << 0,
  kWordChar = 1 << 1,  // RFC 3261 word (Call-ID): token chars plus ( ) < > : \ " / [ ] ? { }
  kUriChar = 1 << 2,   // RFC 3261 uric (reserved / unreserved / escaped) plus "[" "]"
  kHostChar = 1 << 3,  // hostname / IPv4address chars; "_" accepted (seen in the wild)
  kDigitChar = 1 << 4,
  kHexChar = 1 << 5,
  kAlphaChar = 1 << 6,
  kWspChar = 1 << 7,  // SP / HTAB
};

constexpr std::array<uint8_t, 256> makeCharClasses() {
  std::array<uint8_t, 256> t{};
  auto add = [&t](std::string_view chars, uint8_t cls) {
    for (char c : chars) t[static_cast<unsigned char>(c)] |= cls;
  };
  for (int c = 'a'; c <= 'z'; ++c)
    t[c] |= kAlphaChar | kTokenChar | kWordChar | kUriChar | kHostChar;
  for (int c = 'A'; c <= 'Z'; ++c)
    t[c] |= kAlphaChar | kTokenChar | kWordChar | kUriChar | kHostChar;
  for (int c = '0'; c <= '9'; ++c) {
    t[c] |= kDigitChar | kHexChar | kTokenChar | kWordChar | kUriChar | kHostChar;
  }
  add("abcdefABCDEF", kHexChar);
  add("-.!%*_+`'~", kTokenChar | kWordChar);
  add("()<>:\\\"/[]?{}", kWordChar);
  add("-_.!~*'()%;/?:@&=+$,[]", kUriChar);
  add("-._", kHostChar);
  add(" \t", kWspChar);
  return t;
}
inline constexpr std::array<uint8_t, 256> kCharClasses = makeCharClasses();

inline bool hasClass(char c, uint8_t cls) {
  return (kCharClasses[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool isToken(char c) {
  return hasClass(c, kTokenChar);
}
inline bool isWord(char c) {
  return hasClass(c, kWordChar);
}
inline bool isUriChar(char c) {
  return hasClass(c, kUriChar);
}
inline bool isHostChar(char c) {
  return hasClass(c, kHostChar);
}
inline bool isDigit(char c) {
  return hasClass(c, kDigitChar);
}
inline bool isHex(char c) {
  return hasClass(c, kHexChar);
}
inline bool isAlpha(char c) {
  return hasClass(c, kAlphaChar);
}
inline bool isWsp(char c) {
  return c == ' ' || c == '\t';
}

namespace detail {

inline size_t skipWsp(std::string_view s, size_t i) {
  while (i < s.size() && isWsp(s[i])) ++i;
  return i;
}
inline std::string_view trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && isWsp(s[b])) ++b;
  while (e > b && isWsp(s[e - 1])) --e;
  return s.substr(b, e - b);
}
inline size_t scanTokens(std::string_view s, size_t i) {
  while (i < s.size() && isToken(s[i])) ++i;
  return i;
}

// Parses 1*DIGIT (the whole of `s`) into `out`; false when empty, not all
// digits or above `max`. Leading zeros are fine ("0068", RFC 4475 wsinv).
bool parseDecimal(std::string_view s, uint64_t max, uint64_t& out);

// A quoted-string starting at s[i] == '"' (RFC 3261 §25.1: qdtext and
// quoted-pair). Returns the index just past the closing quote, or npos when
// unterminated or holding an unescaped control character.
size_t scanQuoted(std::string_view s, size_t i);

// Splits a comma-separated header value on commas outside quoted strings and
// <> (RFC 3261 §7.3.1). An empty element or an unbalanced quote or '<' is an
// error; the caller gets it as next() returning false with failed() true.
class ListSplitter {
 public:
  explicit ListSplitter(std::string_view s) : s_(s) {}
  bool next(std::string_view& element);
  bool failed() const { return failed_; }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  bool done_ = false;
  bool failed_ = false;
};

// Walks a generic-param list as written after a name-addr or a Via
// (";a=1 ; b ;c = \"x\""), strictly: an empty parameter (";;") or a value
// that is neither token, host nor quoted-string is an error.
class ParamCursor {
 public:
  explicit ParamCursor(std::string_view s) : s_(s) {}
  // 1: a parameter was read; 0: end; -1: malformed.
  int next(std::string_view& name, std::string_view& value, bool& hasValue);

 private:
  std::string_view s_;
  size_t pos_ = 0;
};
// Whether `s` (empty, or starting with ';') is a well-formed param list.
bool validParams(std::string_view s);

// Internal parsers; each returns nullptr on success or static error text.
// The whole of `text` must be the construct.
const char* parseUriInto(std::string_view text, Uri& out);
// requireAngle: Route/Record-Route values must be name-addr (RFC 3261 §20.30).
const char* parseNameAddrInto(std::string_view text, NameAddr& out, bool requireAngle);
const char* parseViaInto(std::string_view text, Via& out);
// sent-by host or URI host: an IPv6 reference "[...]" or hostname/IPv4.
// Returns the index past the host, or npos when there is none.
size_t scanHost(std::string_view s, size_t i);
// Call-ID = word [ "@" word ] (RFC 3261 §25.1).
bool validCallId(std::string_view s);
// media-type = m-type SLASH m-subtype *(SEMI m-parameter); returns the
// "type/subtype" part trimmed of parameters (may contain SWS around '/'),
// or an empty view when malformed.
std::string_view mediaType(std::string_view value);
// Case-insensitive comparison of two media types, ignoring SWS around '/'.
bool mediaTypeEquals(std::string_view a, std::string_view b);

// Where the header section of `buf` ends: `emptyLine` is the offset of the
// empty line that ends it and `bodyStart` the offset just past that line.
// Lines end in CRLF or (liberally) a bare LF. `from` must be the start of a
// non-empty line (the start line). found == false when no empty line is
// present yet.
struct HeaderEnd {
  bool found = false;
  size_t emptyLine = 0;
  size_t bodyStart = 0;
};
HeaderEnd findHeaderEnd(std::string_view buf, size_t from);

}  // namespace detail
}  // namespace tollgate::sip
