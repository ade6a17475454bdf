// UTF-8 decoding for code that must decide what to do with bytes from the
// wire that are not well-formed UTF-8 (JSON output, terminal rendering):
// one decoder, strict per RFC 3629. Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tollgate::utf8 {

// What nextCodePoint() returns for bytes that are not well-formed UTF-8.
inline constexpr int32_t kInvalid = -1;

// Decodes one UTF-8 sequence at s[i] (i < s.size()) and advances i past it.
// Returns the code point, or kInvalid after consuming exactly one byte when
// the bytes there are not well-formed UTF-8 (RFC 3629 §3: no overlong
// forms, no surrogates, nothing above U+10FFFF).
int32_t nextCodePoint(std::string_view s, size_t& i);

// Text from the wire as a record keeps it (a display name, a User-Agent in
// a call list): well-formed UTF-8 and printable, so it can go into JSON and
// onto a screen as it is. Each control character (C0, DEL, C1) and each
// byte that is not well-formed UTF-8 becomes '?'; the result is at most
// `maxBytes` long, cut at a character boundary, its last character '?'
// when something was cut.
std::string printable(std::string_view s, size_t maxBytes);

}  // namespace tollgate::utf8
