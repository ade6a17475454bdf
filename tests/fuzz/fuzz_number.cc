// libFuzzer harness for number normalisation (admission/number_form.h) and
// the number lists that match canonical numbers. The first byte picks the
// settings (form, international prefix); the rest is a URI user part.
// Invariants: the canonical form is a fixed point and bounded; a dialable
// one matches the grammar of its form; the two forms agree; '+' and the
// international prefix agree; a pattern written like a number normalises to
// that number's canonical form and matches it through NumberMatcher, as a
// prefix pattern too; raw numbers for CDRs are printable and bounded; and
// nothing crashes (ASan/UBSan).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admission/number_form.h"
#include "admission/number_lists.h"
#include "fuzz_check.h"

using namespace tollgate::admission;

namespace {

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// A dialable canonical number: "+" then 1-15 digits, the first not 0 (form
// E164 only), or 1-32 of 0-9 * #.
bool dialableGrammar(std::string_view c, NumberSettings::Form form) {
  if (!c.empty() && c.front() == '+') {
    if (form != NumberSettings::Form::E164) return false;
    std::string_view d = c.substr(1);
    if (d.empty() || d.size() > kMaxE164Digits || d.front() == '0') return false;
    for (char ch : d) {
      if (!digit(ch)) return false;
    }
    return true;
  }
  if (c.empty() || c.size() > kMaxNationalDigits) return false;
  for (char ch : c) {
    if (!digit(ch) && ch != '*' && ch != '#') return false;
  }
  return true;
}

bool printable(std::string_view s) {
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kPrefixes[] = {"00", "011", "", "0011"};
  NumberSettings s;
  s.form = (data[0] & 1) ? NumberSettings::Form::E164 : NumberSettings::Form::Digits;
  s.internationalPrefix = kPrefixes[(data[0] >> 1) & 3];
  NumberSettings other = s;
  other.form = s.form == NumberSettings::Form::E164 ? NumberSettings::Form::Digits
                                                    : NumberSettings::Form::E164;
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);

  const NormalizedNumber n = normalizeNumber(input, s);
  FUZZ_CHECK(n.canonical.size() <= kMaxShownNumberBytes);
  // The canonical form is a fixed point, dialable or not.
  const NormalizedNumber again = normalizeNumber(n.canonical, s);
  FUZZ_CHECK(again.dialable == n.dialable);
  FUZZ_CHECK(again.canonical == n.canonical);
  if (n.dialable) {
    FUZZ_CHECK(dialableGrammar(n.canonical, s.form));
  } else {
    FUZZ_CHECK(printable(n.canonical));
    FUZZ_CHECK(n.canonical.find_first_of("%;") == std::string::npos);
  }

  // Both forms agree on dialability, and differ only by the '+'.
  const NormalizedNumber o = normalizeNumber(input, other);
  FUZZ_CHECK(o.dialable == n.dialable);
  if (n.dialable) {
    const std::string& e164 = s.form == NumberSettings::Form::E164 ? n.canonical : o.canonical;
    const std::string& digits = s.form == NumberSettings::Form::E164 ? o.canonical : n.canonical;
    FUZZ_CHECK(e164 == digits || e164 == "+" + digits);
    // '+' and the international prefix mean the same.
    if (e164.front() == '+' && !s.internationalPrefix.empty()) {
      const NormalizedNumber viaPrefix = normalizeNumber(s.internationalPrefix + e164.substr(1), s);
      FUZZ_CHECK(viaPrefix.dialable && viaPrefix.canonical == n.canonical);
    }
  }

  // Patterns: bounded, idempotent, never longer than written.
  const std::string p = normalizePattern(input, s);
  FUZZ_CHECK(normalizePattern(p, s) == p);
  if (input.size() <= kMaxNumberPartBytes) FUZZ_CHECK(p.size() <= input.size());
  (void)patternFormProblem(input, s);

  // A number written as a pattern (no escapes, parameters or wildcards)
  // normalises like the number and matches it, exactly and as a prefix --
  // except the international prefix alone: as a prefix pattern ("00*") it
  // means every international number, as a number it is a national one.
  // (A '*' at the end, trailing separators aside, is the prefix wildcard.)
  const size_t last = input.find_last_not_of("-.() \t");
  const bool plain = input.find_first_of("%;?") == std::string::npos &&
                     (last == std::string::npos || input[last] != '*');
  if (n.dialable && plain && input.size() < kMaxNumberPartBytes) {
    FUZZ_CHECK(p == n.canonical);
    NumberMatcher exact({input}, &s);
    FUZZ_CHECK(!patternProblem(input).empty() || exact.matches(n.canonical));
    if (n.canonical != s.internationalPrefix) {
      FUZZ_CHECK(normalizePattern(input + "*", s) == n.canonical + "*");
      NumberMatcher prefix({input + "*"}, &s);
      FUZZ_CHECK(!patternProblem(input + "*").empty() || prefix.matches(n.canonical));
    }
  }

  const std::string raw = rawNumberForRecord(input);
  FUZZ_CHECK(raw.size() <= kMaxRawNumberBytes);
  FUZZ_CHECK(printable(raw));
  return 0;
}
