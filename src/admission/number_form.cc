// Number normalisation. See number_form.h.
#include "admission/number_form.h"

#include <algorithm>

#include "common/percent.h"

namespace tollgate::admission {
namespace {

using Form = NumberSettings::Form;

// Numbers are %-decoded URI text; patterns are operator text with wildcards.
enum class Input : uint8_t { Number, Pattern };

// percentDecode() (common/percent.h) is not reused: it keeps invalid
// escapes as text and builds a second string, where a number must refuse
// them and write only into its result.

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 3966 §5.1.1 visual separators, plus space and tab of display forms.
bool isSeparator(char c) {
  return c == '-' || c == '.' || c == '(' || c == ')' || c == ' ' || c == '\t';
}

// The number part of a user part: up to the first unescaped ';' (URI
// parameters follow). Reads at most kMaxNumberPartBytes + 1 bytes; false
// when the number part is longer than kMaxNumberPartBytes.
bool numberPart(std::string_view userPart, std::string_view* part) {
  const size_t scan = std::min(userPart.size(), kMaxNumberPartBytes + 1);
  const size_t semi = userPart.substr(0, scan).find(';');
  if (semi != std::string_view::npos) {
    *part = userPart.substr(0, semi);
    return true;
  }
  *part = userPart.substr(0, std::min(userPart.size(), kMaxNumberPartBytes));
  return userPart.size() <= kMaxNumberPartBytes;
}

// True when every '%' of `part` starts a valid escape (RFC 3261 §25.1).
bool validEscapes(std::string_view part) {
  for (size_t i = 0; i < part.size(); ++i) {
    if (part[i] != '%') continue;
    if (i + 2 >= part.size() || hexDigitValue(part[i + 1]) < 0 || hexDigitValue(part[i + 2]) < 0) {
      return false;
    }
    i += 2;
  }
  return true;
}

// Builds the canonical form of a number part (no parameters) or a pattern
// body (no trailing '*') into *out, which the caller reserved. Returns
// false when it does not describe dialable numbers; *out is then
// unspecified. `prefixPattern`: the body is followed by '*', so an
// international marker alone ("+", "00") means "every international
// number".
bool canonicalize(std::string_view part, const NumberSettings& s, Input input, bool prefixPattern,
                  std::string* out) {
  out->clear();
  // Decode, drop separators, keep dial characters. A '+' counts only as the
  // first kept character; more than kMaxNationalDigits + 1 kept characters
  // cannot be dialable, so the scan stops there.
  for (size_t i = 0; i < part.size(); ++i) {
    char c = part[i];
    if (input == Input::Number && c == '%') {
      if (i + 2 >= part.size()) return false;
      const int hi = hexDigitValue(part[i + 1]);
      const int lo = hexDigitValue(part[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (isSeparator(c)) continue;
    const bool dial = isDigit(c) || c == '*' || c == '#' || (c == '+' && out->empty()) ||
                      (input == Input::Pattern && c == '?');
    if (!dial || out->size() > kMaxNationalDigits) return false;
    out->push_back(c);
  }

  // The international marker: '+', or the prefix before a country code
  // (E.164 country codes start with 1-9; in a pattern '?' may be one).
  size_t marker = 0;
  const std::string& prefix = s.internationalPrefix;
  if (!out->empty() && out->front() == '+') {
    marker = 1;
  } else if (!prefix.empty() && out->size() >= prefix.size() &&
             std::string_view(*out).substr(0, prefix.size()) == prefix) {
    if (out->size() > prefix.size()) {
      const char next = (*out)[prefix.size()];
      if ((next >= '1' && next <= '9') || (input == Input::Pattern && next == '?')) {
        marker = prefix.size();
      }
    } else if (input == Input::Pattern && prefixPattern) {
      marker = prefix.size();  // "00*": every international number
    }
  }

  if (marker == 0) {
    // National, short or service number: 0-9 * # (and '?' in patterns).
    return !out->empty() && out->size() <= kMaxNationalDigits;
  }
  const std::string_view digits = std::string_view(*out).substr(marker);
  if (digits.empty()) {
    // Only a prefix pattern may be the marker alone, and only form E164 can
    // say "international" without digits.
    if (!(input == Input::Pattern && prefixPattern && s.form == Form::E164)) return false;
  } else {
    if (digits.size() > kMaxE164Digits || digits.front() == '0') return false;
    for (char c : digits) {
      if (!(isDigit(c) || (input == Input::Pattern && c == '?'))) return false;
    }
  }
  if (s.form == Form::E164) {
    if (out->front() != '+') {
      out->erase(0, marker);
      out->insert(out->begin(), '+');
    }
  } else {
    out->erase(0, marker);
  }
  return true;
}

// The shown form of something that is not dialable (see number_form.h).
void appendShown(std::string* out, std::string_view part, bool decode) {
  out->clear();
  for (size_t i = 0; i < part.size(); ++i) {
    char c = part[i];
    if (decode && c == '%') {  // escapes were checked by the caller
      c = static_cast<char>(hexDigitValue(part[i + 1]) * 16 + hexDigitValue(part[i + 2]));
      i += 2;
    }
    if (out->size() == kMaxShownNumberBytes) {
      out->back() = '?';  // cut: the '?' keeps it undialable
      return;
    }
    const auto u = static_cast<unsigned char>(c);
    out->push_back(u < 0x20 || u >= 0x7f || c == '%' || c == ';' ? '?' : c);
  }
}

}  // namespace

std::string_view numberFormName(NumberSettings::Form f) {
  return f == Form::E164 ? "e164" : "digits";
}

std::string internationalPrefixProblem(std::string_view prefix) {
  if (prefix.empty()) return "";
  const bool digits = std::all_of(prefix.begin(), prefix.end(), isDigit);
  // A prefix starting 1-9 could also be the start of a country code ("810"
  // vs +81 0...), so a canonical number in form digits would be ambiguous.
  if (!digits || prefix.size() < kMinInternationalPrefix ||
      prefix.size() > kMaxInternationalPrefix || prefix.front() != '0') {
    return "must be \"\" or " + std::to_string(kMinInternationalPrefix) + "-" +
           std::to_string(kMaxInternationalPrefix) +
           " digits starting with 0, e.g. \"00\" or \"011\"";
  }
  return "";
}

NormalizedNumber normalizeNumber(std::string_view userPart, const NumberSettings& settings) {
  NormalizedNumber r;
  r.canonical.reserve(kMaxShownNumberBytes);
  std::string_view part;
  if (!numberPart(userPart, &part)) {
    appendShown(&r.canonical, part, /*decode=*/false);
    return r;
  }
  r.dialable = canonicalize(part, settings, Input::Number, false, &r.canonical);
  if (!r.dialable) appendShown(&r.canonical, part, validEscapes(part));
  return r;
}

std::string normalizePattern(std::string_view pattern, const NumberSettings& settings) {
  if (pattern.empty() || pattern.size() > kMaxNumberPartBytes) return std::string(pattern);
  // Trailing separators carry nothing ("1900*." is "1900*"); dropping them
  // first also keeps a '*' before them from turning into the wildcard of
  // the canonical form later, which would change the pattern's meaning.
  std::string_view trimmed = pattern;
  while (!trimmed.empty() && isSeparator(trimmed.back())) trimmed.remove_suffix(1);
  const bool prefix = !trimmed.empty() && trimmed.back() == '*';
  const std::string_view body = prefix ? trimmed.substr(0, trimmed.size() - 1) : trimmed;
  std::string out;
  out.reserve(pattern.size() + 1);
  if (!canonicalize(body, settings, Input::Pattern, prefix, &out)) return std::string(pattern);
  if (prefix) out.push_back('*');
  return out;
}

std::string patternFormProblem(std::string_view pattern, const NumberSettings& settings) {
  if (settings.form != Form::Digits || pattern.empty() || pattern.back() != '*') return "";
  NumberSettings e164 = settings;
  e164.form = Form::E164;
  if (normalizePattern(pattern, e164) != "+*") return "";
  return "pattern \"" + std::string(pattern) +
         "\" means every international number, which numbers.form = \"digits\" cannot tell "
         "from a national one: it matches nothing (list the country codes, or use "
         "numbers.form = \"e164\")";
}

std::string rawNumberForRecord(std::string_view userPart) {
  std::string out;
  out.reserve(std::min(userPart.size(), kMaxRawNumberBytes));
  for (char c : userPart) {
    if (out.size() == kMaxRawNumberBytes) {
      out.back() = '?';
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u >= 0x7f ? '?' : c);
  }
  return out;
}

}  // namespace tollgate::admission
