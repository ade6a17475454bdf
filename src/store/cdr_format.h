// Renders CDRs for operators: the JSON object `tollgate cdr list --json`
// prints and a one-line row of the human table. The JSON keys and the time
// format are an interface fixed in docs/cdr.md. Both forms are safe to print
// whatever the caller put in a From header: JSON output is always valid UTF-8
// with control characters escaped, and table rows never contain a control
// character a terminal would interpret. Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "call/cdr.h"
#include "common/json_string.h"

namespace tollgate::store {

// ISO-8601 UTC with microseconds: "2026-11-26T16:20:00.123456Z".
std::string formatUtcMicros(int64_t unixMicros);

// JSON string literals (common/json_string.h), under the name the CLI's
// hand-written JSON uses.
using ::tollgate::appendJsonString;

// One JSON object, no trailing newline:
// {"id":1,"call_id":"..","start":"..","answer":null,"end":"..","caller":"..",
//  "callee":"..","source":"..","transport":"udp","mapping_gateway":"..",
//  "routing_gateway":"..","gateways_tried":["a","b"],"final_code":486,
//  "duration_ms":0,"hangup":"","reason":"busy","caller_raw":"..","callee_raw":".."}
// "answer" is null when answerUs == 0.
std::string cdrToJson(const call::Cdr& cdr);

// A JSON array of cdrToJson() objects in the given order, one per line, with
// a trailing newline: what `tollgate cdr list --json` prints.
std::string cdrsToJson(const std::vector<call::Cdr>& cdrs);

// The human table: a header line and one line per CDR, columns padded to
// fixed widths (a longer value is printed whole and shifts the rest of its
// row; nothing is hidden). Empty values print as "-". No trailing newline.
// The CALLER and CALLEE columns show the canonical numbers, or with Raw the
// user parts as received (`tollgate cdr list --raw`).
enum class CdrNumbers : uint8_t { Canonical, Raw };
std::string cdrTableHeader(CdrNumbers numbers = CdrNumbers::Canonical);
std::string cdrToTableRow(const call::Cdr& cdr, CdrNumbers numbers = CdrNumbers::Canonical);

// CSV export (RFC 4180): the JSON keys as the header line, one row per CDR,
// CRLF line ends, fields quoted when they hold a comma or quote. Control
// characters, bidi overrides and invalid UTF-8 become '?' as in the table.
// gateways_tried is the names joined by ';'. Spreadsheet formula injection
// (OWASP "CSV injection"): a field that starts with = @ TAB CR, or with + or
// - not followed by a number only, gets a leading apostrophe, so a hostile
// From header cannot become a formula when an operator opens the file.
// Dialled numbers such as "+4420..." stay as they are.
std::string cdrCsvHeader();
std::string cdrToCsvRow(const call::Cdr& cdr);

}  // namespace tollgate::store
