// The shield's look at raw message bytes before any parsing: is this a
// request (which method), a response, or not SIP at all; and the value of
// one header field (User-Agent) found by scanning line starts. Deliberately
// shallow and liberal: the parser (sip/) stays the judge of well-formedness;
// this only has to be right about what it reports, in time linear in the
// header section and with no allocation. Free functions on views; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include "sip/message.h"

namespace tollgate::shield {

// Start lines longer than this are not looked at as SIP: a Request-URI may
// be sip::kMaxUriLength, plus method and version.
inline constexpr size_t kMaxStartLineScan = 2048 + 256;
// User-Agent bytes compared against signatures; real values are < 100
// bytes, and a signature hidden after this many bytes is not a scanner we
// know.
inline constexpr size_t kMaxUserAgentScan = 256;

struct StartLine {
  enum Kind : uint8_t {
    Request,
    Response,
    Garbage,  // neither: no start line we recognise
  };
  Kind kind = Garbage;
  sip::Method method = sip::Method::Unknown;  // Request: Unknown for extension methods
  std::string_view methodToken;               // Request: as sent
};

// Looks only at the first line (after up to sip::kMaxLeadingCrlf CR/LF
// bytes, RFC 3261 §7.5). Request: token SP non-empty-URI SP "SIP/2.0";
// response: "SIP/2.0" SP 3DIGIT. The version is compared case-
// insensitively, as the parser does.
StartLine scanStartLine(std::string_view bytes);

// The value of the first header field named `name` (compared case-
// insensitively), or `compact` when given (its RFC 3261 §7.3.3 compact
// form, e.g. 't' for To), in the header section, trimmed of leading and
// trailing whitespace and cut at `maxValue` bytes; "" when absent. Stops at
// the empty line that ends the header section. Folded continuation lines
// are not joined: the value is the first line's.
std::string_view findHeader(std::string_view bytes, std::string_view name, size_t maxValue,
                            char compact = '\0');

// The tag parameter of a From or To header value ("" when none): after the
// closing '>' of a name-addr, else after the addr-spec (where a URI cannot
// carry parameters of its own). Case-insensitive name; the value ends at
// ';', ',', whitespace or the end.
std::string_view headerTag(std::string_view value);

// ASCII case-insensitive substring test; needle must be lower case.
bool containsLowered(std::string_view haystack, std::string_view lowerNeedle);

}  // namespace tollgate::shield
