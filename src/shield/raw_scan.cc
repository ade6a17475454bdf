// Raw start-line and header scanning. See raw_scan.h.
#include "shield/raw_scan.h"

#include <cstring>

#include "common/ascii.h"
#include "sip/grammar.h"
#include "sip/limits.h"

namespace tollgate::shield {

namespace {

using ascii::iequals;
using sip::isDigit;
using sip::isToken;

constexpr std::string_view kVersion = "SIP/2.0";

}  // namespace

StartLine scanStartLine(std::string_view bytes) {
  StartLine out;
  size_t p = 0;
  while (p < bytes.size() && p < sip::kMaxLeadingCrlf && (bytes[p] == '\r' || bytes[p] == '\n')) {
    ++p;
  }
  std::string_view rest = bytes.substr(p, kMaxStartLineScan);
  const void* nl = std::memchr(rest.data(), '\n', rest.size());
  if (nl == nullptr) return out;
  std::string_view line = rest.substr(0, static_cast<const char*>(nl) - rest.data());
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

  if (line.size() >= kVersion.size() + 4 && iequals(line.substr(0, kVersion.size()), kVersion) &&
      line[kVersion.size()] == ' ') {
    std::string_view code = line.substr(kVersion.size() + 1, 3);
    if (isDigit(code[0]) && isDigit(code[1]) && isDigit(code[2]) &&
        (line.size() == kVersion.size() + 4 || line[kVersion.size() + 4] == ' ')) {
      out.kind = StartLine::Response;
    }
    return out;
  }

  size_t m = 0;
  while (m < line.size() && m < sip::kMaxTokenLength && isToken(line[m])) ++m;
  if (m == 0 || m >= line.size() || line[m] != ' ') return out;
  // " SIP/2.0" at the end, and a non-empty URI between.
  if (line.size() < m + 2 + kVersion.size()) return out;
  std::string_view version = line.substr(line.size() - kVersion.size());
  if (!iequals(version, kVersion) || line[line.size() - kVersion.size() - 1] != ' ') return out;
  const size_t uriLen = line.size() - kVersion.size() - 1 - (m + 1);
  if (uriLen == 0 || line[m + 1] == ' ') return out;
  out.kind = StartLine::Request;
  out.methodToken = line.substr(0, m);
  out.method = sip::methodFromName(out.methodToken);
  return out;
}

std::string_view findHeader(std::string_view bytes, std::string_view name, size_t maxValue,
                            char compact) {
  const size_t limit = bytes.size() < sip::kMaxMessageSize ? bytes.size() : sip::kMaxMessageSize;
  const char first = ascii::toLower(name.empty() ? '\0' : name[0]);
  const char shortName = ascii::toLower(compact);
  const char* data = bytes.data();
  // Skip the start line (and leading CRLFs: the first line with content).
  size_t p = 0;
  while (p < limit && (data[p] == '\r' || data[p] == '\n')) ++p;
  const void* nl = std::memchr(data + p, '\n', limit - p);
  if (nl == nullptr) return {};
  p = static_cast<size_t>(static_cast<const char*>(nl) - data) + 1;

  while (p < limit) {
    // An empty line ends the header section.
    if (data[p] == '\n' || (data[p] == '\r' && p + 1 < limit && data[p + 1] == '\n')) return {};
    const void* e = std::memchr(data + p, '\n', limit - p);
    const size_t end =
        e == nullptr ? limit : static_cast<size_t>(static_cast<const char*>(e) - data);
    size_t nameLen = 0;
    const char c = ascii::toLower(data[p]);
    if (c == first && end - p > name.size() &&
        iequals(std::string_view(data + p, name.size()), name)) {
      nameLen = name.size();
    } else if (shortName != '\0' && c == shortName && end - p > 1) {
      nameLen = 1;
    }
    if (nameLen != 0) {
      size_t q = p + nameLen;
      while (q < end && (data[q] == ' ' || data[q] == '\t')) ++q;
      if (q < end && data[q] == ':') {
        ++q;
        while (q < end && (data[q] == ' ' || data[q] == '\t')) ++q;
        size_t v = end;
        while (v > q && (data[v - 1] == '\r' || data[v - 1] == ' ' || data[v - 1] == '\t')) --v;
        std::string_view value(data + q, v - q);
        return value.substr(0, maxValue);
      }
    }
    if (e == nullptr) return {};
    p = end + 1;
  }
  return {};
}

std::string_view headerTag(std::string_view value) {
  size_t p = 0;
  if (const size_t gt = value.find('>'); gt != std::string_view::npos) {
    p = gt + 1;
  } else if (const size_t lt = value.find('<'); lt != std::string_view::npos) {
    return {};  // an unclosed name-addr: no parameters we can place
  }
  while (p < value.size()) {
    const size_t semi = value.find(';', p);
    if (semi == std::string_view::npos) return {};
    size_t q = semi + 1;
    while (q < value.size() && (value[q] == ' ' || value[q] == '\t')) ++q;
    if (value.size() - q > 3 && iequals(value.substr(q, 3), "tag")) {
      size_t e = q + 3;
      while (e < value.size() && (value[e] == ' ' || value[e] == '\t')) ++e;
      if (e < value.size() && value[e] == '=') {
        ++e;
        while (e < value.size() && (value[e] == ' ' || value[e] == '\t')) ++e;
        size_t v = e;
        while (v < value.size() && value[v] != ';' && value[v] != ',' && value[v] != ' ' &&
               value[v] != '\t' && value[v] != '\r') {
          ++v;
        }
        return value.substr(e, v - e);
      }
    }
    p = q;
  }
  return {};
}

bool containsLowered(std::string_view haystack, std::string_view lowerNeedle) {
  if (lowerNeedle.empty()) return true;
  if (lowerNeedle.size() > haystack.size()) return false;
  const char c0 = lowerNeedle[0];
  const size_t last = haystack.size() - lowerNeedle.size();
  for (size_t i = 0; i <= last; ++i) {
    if (ascii::toLower(haystack[i]) != c0) continue;
    size_t j = 1;
    while (j < lowerNeedle.size() && ascii::toLower(haystack[i + j]) == lowerNeedle[j]) ++j;
    if (j == lowerNeedle.size()) return true;
  }
  return false;
}

}  // namespace tollgate::shield
