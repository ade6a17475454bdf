// UTF-8 decoding for code that must decide what to do with bytes from the
// wire that are not well-formed UTF-8 (JSON output, terminal rendering):
// one decoder, strict per RFC 3629. Pure functions: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tollgate::utf8 {

// What nextCodePoint() returns for bytes that are not well-formed UTF-8.
inline constexpr int32_t kInvalid = -1;

// Decodes one UTF-8 sequence at s[i] (i < s.size()) and advances i past it.
// Returns the code point, or kInvalid after consuming exactly one byte when
// the bytes there are not well-formed UTF-8 (RFC 3629 §3: no overlong
// forms, no surrogates, nothing above U+10FFFF).
int32_t nextCodePoint(std::string_view s, size_t& i);

}  // namespace tollgate::utf8
