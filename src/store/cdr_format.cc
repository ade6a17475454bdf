// JSON and table rendering of CDRs (cdr_format.h). Hand-written rather than
// nlohmann-json: one flat object with fixed keys, and we want control over
// what happens to invalid UTF-8 from the wire.
#include "store/cdr_format.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "common/utf8.h"

namespace tollgate::store {
namespace {

// Code points a terminal may act on rather than print: C0 and C1 controls,
// DEL, line/paragraph separators and the bidirectional overrides that can
// make a row read differently from what it contains (Trojan Source).
bool unsafeForTerminal(int32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

// Appends `s` with every unsafe or invalid character replaced by '?', and
// returns how many characters (code points) it appended, for padding.
size_t appendPrintable(std::string& out, std::string_view s) {
  size_t chars = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t from = i;
    int32_t cp = utf8::nextCodePoint(s, i);
    if (cp == utf8::kInvalid || unsafeForTerminal(cp)) {
      out += '?';
    } else {
      out.append(s.substr(from, i - from));
    }
    ++chars;
  }
  return chars;
}

enum class Align { Left, Right };

struct Column {
  const char* title;
  size_t width;
  Align align;
};

// The table layout; header and rows are built from this one list.
constexpr Column kColumns[] = {
    {"ID", 8, Align::Right},      {"START (UTC)", 19, Align::Left}, {"CALLER", 16, Align::Left},
    {"CALLEE", 16, Align::Left},  {"SOURCE", 21, Align::Left},      {"MAPPING", 12, Align::Left},
    {"ROUTING", 12, Align::Left}, {"CODE", 4, Align::Right},        {"DURATION", 9, Align::Right},
    {"HANGUP", 6, Align::Left},   {"REASON", 0, Align::Left},
};
constexpr size_t kColumnCount = sizeof kColumns / sizeof kColumns[0];
constexpr size_t kCallerColumn = 2;
constexpr size_t kCalleeColumn = 3;

// Joins cells with two spaces; the last column is not padded, so rows carry
// no trailing blanks.
std::string renderRow(const std::string_view (&cells)[kColumnCount]) {
  std::string out;
  for (size_t c = 0; c < kColumnCount; ++c) {
    if (c > 0) out += "  ";
    std::string_view v = cells[c].empty() ? std::string_view("-") : cells[c];
    std::string text;
    size_t chars = appendPrintable(text, v);
    size_t pad = kColumns[c].width > chars && c + 1 < kColumnCount ? kColumns[c].width - chars : 0;
    if (kColumns[c].align == Align::Right) out.append(pad, ' ');
    out += text;
    if (kColumns[c].align == Align::Left) out.append(pad, ' ');
  }
  return out;
}

// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
// civil_from_days; exact for every int64 day count we can meet).
void civilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2 ? 1 : 0);
}

struct UtcParts {
  int64_t year;
  unsigned month, day, hour, minute, second;
  int64_t micros;
};

UtcParts utcParts(int64_t us) {
  constexpr int64_t kUsPerDay = 86'400'000'000;
  int64_t days = us / kUsPerDay;
  int64_t rem = us % kUsPerDay;
  if (rem < 0) {  // floor division: times before 1970 stay well-formed
    rem += kUsPerDay;
    --days;
  }
  UtcParts p{};
  civilFromDays(days, &p.year, &p.month, &p.day);
  int64_t secs = rem / 1'000'000;
  p.micros = rem % 1'000'000;
  p.hour = static_cast<unsigned>(secs / 3600);
  p.minute = static_cast<unsigned>(secs / 60 % 60);
  p.second = static_cast<unsigned>(secs % 60);
  return p;
}

// A loss percentage with two decimals ("0.00"), locale-independent.
std::string lossText(double pct) {
  if (!(pct > 0)) return "0.00";
  const int64_t hundredths = static_cast<int64_t>(pct * 100 + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%02" PRId64, hundredths / 100, hundredths % 100);
  return buf;
}

void appendKey(std::string& out, const char* key) {
  out += '"';
  out += key;
  out += "\":";
}

void appendInt(std::string& out, int64_t v) {
  out += std::to_string(v);
}

}  // namespace

std::string formatUtcMicros(int64_t unixMicros) {
  UtcParts p = utcParts(unixMicros);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%06" PRId64 "Z", p.year,
                p.month, p.day, p.hour, p.minute, p.second, p.micros);
  return buf;
}

std::string cdrToJson(const call::Cdr& c) {
  std::string out;
  out.reserve(512);
  out += '{';
  appendKey(out, "id");
  appendInt(out, c.id);
  out += ',';
  appendKey(out, "call_id");
  appendJsonString(out, c.callId);
  out += ',';
  appendKey(out, "start");
  appendJsonString(out, formatUtcMicros(c.startUs));
  out += ',';
  appendKey(out, "answer");
  if (c.answerUs == 0) {
    out += "null";
  } else {
    appendJsonString(out, formatUtcMicros(c.answerUs));
  }
  out += ',';
  appendKey(out, "end");
  appendJsonString(out, formatUtcMicros(c.endUs));
  out += ',';
  appendKey(out, "caller");
  appendJsonString(out, c.caller);
  out += ',';
  appendKey(out, "callee");
  appendJsonString(out, c.callee);
  out += ',';
  appendKey(out, "source");
  appendJsonString(out, c.sourceAddress);
  out += ',';
  appendKey(out, "transport");
  appendJsonString(out, c.transport);
  out += ',';
  appendKey(out, "mapping_gateway");
  appendJsonString(out, c.mappingGateway);
  out += ',';
  appendKey(out, "routing_gateway");
  appendJsonString(out, c.routingGateway);
  out += ',';
  appendKey(out, "gateways_tried");
  out += '[';
  // gatewaysTried is "a,b,c"; gateway names cannot contain ',' (they are
  // [A-Za-z0-9._-]), and empty pieces carry no name.
  bool first = true;
  std::string_view rest = c.gatewaysTried;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view name = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (name.empty()) continue;
    if (!first) out += ',';
    first = false;
    appendJsonString(out, name);
  }
  out += "],";
  appendKey(out, "final_code");
  appendInt(out, c.finalCode);
  out += ',';
  appendKey(out, "duration_ms");
  appendInt(out, c.durationMs);
  out += ',';
  appendKey(out, "hangup");
  appendJsonString(out, call::hangupName(c.hangup));
  out += ',';
  appendKey(out, "reason");
  appendJsonString(out, call::reasonName(c.reason));
  out += ',';
  appendKey(out, "caller_raw");
  appendJsonString(out, c.callerRaw);
  out += ',';
  appendKey(out, "callee_raw");
  appendJsonString(out, c.calleeRaw);
  out += ',';
  // Relayed media (docs/media.md): per direction, as rtpengine counted it.
  appendKey(out, "media");
  if (!c.media.present) {
    out += "null";
  } else {
    out += '{';
    bool first = true;
    for (const auto& [side, d] :
         {std::pair<const char*, const media::DirectionFigures*>{"caller", &c.media.caller},
          {"callee", &c.media.callee}}) {
      const std::string p(side);
      if (!first) out += ',';
      first = false;
      appendKey(out, (p + "_packets").c_str());
      appendInt(out, static_cast<int64_t>(d->packets));
      out += ',';
      appendKey(out, (p + "_bytes").c_str());
      appendInt(out, static_cast<int64_t>(d->bytes));
      out += ',';
      // Unknown (no RTCP figures from rtpengine) is null, never 0.
      appendKey(out, (p + "_loss_pct").c_str());
      out += d->lossPct ? lossText(*d->lossPct) : "null";
      out += ',';
      appendKey(out, (p + "_jitter_ms").c_str());
      if (d->jitterMs) {
        appendInt(out, *d->jitterMs);
      } else {
        out += "null";
      }
    }
    out += '}';
  }
  out += '}';
  return out;
}

std::string cdrsToJson(const std::vector<call::Cdr>& cdrs) {
  if (cdrs.empty()) return "[]\n";
  std::string out = "[\n";
  for (size_t i = 0; i < cdrs.size(); ++i) {
    out += "  ";
    out += cdrToJson(cdrs[i]);
    out += i + 1 < cdrs.size() ? ",\n" : "\n";
  }
  out += "]\n";
  return out;
}

std::string cdrTableHeader(CdrNumbers numbers) {
  std::string_view cells[kColumnCount];
  for (size_t c = 0; c < kColumnCount; ++c) cells[c] = kColumns[c].title;
  if (numbers == CdrNumbers::Raw) {
    cells[kCallerColumn] = "CALLER (RAW)";
    cells[kCalleeColumn] = "CALLEE (RAW)";
  }
  return renderRow(cells);
}

std::string cdrToTableRow(const call::Cdr& c, CdrNumbers numbers) {
  std::string id = std::to_string(c.id);
  std::string start;
  {
    UtcParts p = utcParts(c.startUs);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04" PRId64 "-%02u-%02u %02u:%02u:%02u", p.year, p.month, p.day,
                  p.hour, p.minute, p.second);
    start = buf;
  }
  std::string code = c.finalCode != 0 ? std::to_string(c.finalCode) : std::string();
  std::string duration;
  if (c.answerUs != 0) {
    char buf[32];
    int64_t ms = c.durationMs < 0 ? 0 : c.durationMs;
    std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64 "s", ms / 1000, ms % 1000);
    duration = buf;
  }
  const std::string_view cells[kColumnCount] = {
      id,
      start,
      numbers == CdrNumbers::Raw ? c.callerRaw : c.caller,
      numbers == CdrNumbers::Raw ? c.calleeRaw : c.callee,
      c.sourceAddress,
      c.mappingGateway,
      c.routingGateway,
      code,
      duration,
      call::hangupName(c.hangup),
      call::reasonName(c.reason),
  };
  return renderRow(cells);
}

namespace {

bool isNumberText(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == '*' || c == '#')) return false;
  }
  return true;
}

void appendCsvField(std::string& out, std::string_view v) {
  // Invalid UTF-8, control characters and bidi overrides become '?', as in
  // the table rendering: a CSV file is read by people too.
  std::string clean;
  clean.reserve(v.size());
  appendPrintable(clean, v);
  bool risky = false;
  if (!clean.empty()) {
    char f = clean.front();
    if (f == '=' || f == '@' || f == '\t' || f == '\r') risky = true;
    if ((f == '+' || f == '-') && !isNumberText(std::string_view(clean).substr(1))) risky = true;
  }
  if (risky) clean.insert(clean.begin(), '\'');
  bool quote = clean.find_first_of(",\"\r\n") != std::string::npos;
  if (!quote) {
    out += clean;
    return;
  }
  out += '"';
  for (char c : clean) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace

std::string cdrCsvHeader() {
  return "id,call_id,start,answer,end,caller,callee,source,transport,mapping_gateway,"
         "routing_gateway,gateways_tried,final_code,duration_ms,hangup,reason,caller_raw,"
         "callee_raw,media_relayed,caller_packets,caller_bytes,caller_loss_pct,caller_jitter_ms,"
         "callee_packets,callee_bytes,callee_loss_pct,callee_jitter_ms\r\n";
}

std::string cdrToCsvRow(const call::Cdr& c) {
  std::string out;
  out += std::to_string(c.id);
  out += ',';
  appendCsvField(out, c.callId);
  out += ',';
  out += formatUtcMicros(c.startUs);
  out += ',';
  if (c.answerUs != 0) out += formatUtcMicros(c.answerUs);
  out += ',';
  out += formatUtcMicros(c.endUs);
  out += ',';
  appendCsvField(out, c.caller);
  out += ',';
  appendCsvField(out, c.callee);
  out += ',';
  appendCsvField(out, c.sourceAddress);
  out += ',';
  appendCsvField(out, c.transport);
  out += ',';
  appendCsvField(out, c.mappingGateway);
  out += ',';
  appendCsvField(out, c.routingGateway);
  out += ',';
  std::string tried = c.gatewaysTried;
  std::replace(tried.begin(), tried.end(), ',', ';');
  appendCsvField(out, tried);
  out += ',';
  out += std::to_string(c.finalCode);
  out += ',';
  out += std::to_string(c.durationMs);
  out += ',';
  out += call::hangupName(c.hangup);
  out += ',';
  out += call::reasonName(c.reason);
  out += ',';
  appendCsvField(out, c.callerRaw);
  out += ',';
  appendCsvField(out, c.calleeRaw);
  out += c.media.present ? ",1" : ",0";
  for (const media::DirectionFigures* d : {&c.media.caller, &c.media.callee}) {
    out += ',';
    out += std::to_string(d->packets);
    out += ',';
    out += std::to_string(d->bytes);
    out += ',';
    if (d->lossPct) out += lossText(*d->lossPct);  // empty: unknown
    out += ',';
    if (d->jitterMs) out += std::to_string(*d->jitterMs);
  }
  out += "\r\n";
  return out;
}

}  // namespace tollgate::store
