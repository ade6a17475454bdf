// Strict UTF-8 decoding. See utf8.h.
#include "common/utf8.h"

#include <algorithm>

namespace tollgate::utf8 {

int32_t nextCodePoint(std::string_view s, size_t& i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t len;
  int32_t cp;
  int32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return kInvalid;
  }
  if (i + len > s.size()) {
    ++i;
    return kInvalid;
  }
  for (size_t k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return kInvalid;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return kInvalid;
  }
  i += len;
  return cp;
}

std::string printable(std::string_view s, size_t maxBytes) {
  std::string out;
  out.reserve(std::min(s.size(), maxBytes));
  for (size_t i = 0; i < s.size();) {
    const size_t from = i;
    const int32_t cp = nextCodePoint(s, i);
    const bool shown = cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp > 0x9f);
    const std::string_view piece = shown ? s.substr(from, i - from) : std::string_view("?");
    if (out.size() + piece.size() > maxBytes) {
      // Cut: whole characters off the end until the '?' that marks it fits.
      while (!out.empty() && out.size() + 1 > maxBytes) {
        size_t k = out.size() - 1;
        while (k > 0 && (static_cast<unsigned char>(out[k]) & 0xC0) == 0x80) --k;
        out.resize(k);
      }
      if (maxBytes > 0) out.push_back('?');
      break;
    }
    out.append(piece);
  }
  return out;
}

}  // namespace tollgate::utf8
