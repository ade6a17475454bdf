// JSON string escaping. See json_string.h.
#include "common/json_string.h"

#include <cstdint>
#include <cstdio>

#include "common/utf8.h"

namespace tollgate {

void appendJsonEscaped(std::string& out, std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t from = i;
    int32_t cp = utf8::nextCodePoint(s, i);
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case utf8::kInvalid:
        out += "\\ufffd";
        break;
      default:
        if (cp < 0x20 || cp == 0x7F) {
          char b[8];
          std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(cp & 0x7F));
          out += b;
        } else {
          out.append(s.substr(from, i - from));
        }
    }
  }
}

void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  appendJsonEscaped(out, s);
  out += '"';
}

}  // namespace tollgate
