// JSON string escaping (RFC 8259 §7), the one implementation behind every
// hand-written JSON and log line: CDR JSON, the CLI's JSON output, trace
// records, JSON logs and logfmt's quoted values. JSON text must be UTF-8
// (RFC 8259 §8.1) and a SIP header need not be, so bytes that are not
// well-formed UTF-8 become U+FFFD; control characters and DEL are escaped,
// so hostile input can neither break the JSON nor forge a log line. Code
// that builds whole documents uses nlohmann-json instead. Pure functions: thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tollgate {

// Appends `s` escaped for the inside of a JSON string (no quotes).
void appendJsonEscaped(std::string& out, std::string_view s);

// Appends `s` as a JSON string literal, quotes included.
void appendJsonString(std::string& out, std::string_view s);

}  // namespace tollgate
