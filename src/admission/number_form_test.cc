#include "admission/number_form.h"

#include <gtest/gtest.h>

#include <string>

#include "admission/number_lists.h"

namespace tollgate::admission {
namespace {

using Form = NumberSettings::Form;

NumberSettings digits(std::string prefix = "00") {
  NumberSettings s;
  s.form = Form::Digits;
  s.internationalPrefix = std::move(prefix);
  return s;
}

NumberSettings e164(std::string prefix = "00") {
  NumberSettings s = digits(std::move(prefix));
  s.form = Form::E164;
  return s;
}

// canonical, or "!" + canonical when not dialable: one string per case
// keeps the tables below readable.
std::string norm(std::string_view in, const NumberSettings& s) {
  NormalizedNumber n = normalizeNumber(in, s);
  return n.dialable ? n.canonical : "!" + n.canonical;
}

TEST(NumberForm, FormattingOfOnePremiumNumberAllGivesOneCanonicalForm) {
  // The forms that reached the carrier past a callee list "1900*".
  for (std::string_view in :
       {"19005551234", "1-900-555-1234", "1.900.5551234", "%2B19005551234", "%2b19005551234",
        "+1 (900) 555-1234", "+1%20(900)%20555-1234", "0019005551234", "00-1-900-555-1234",
        "%31900%35551234", "+1-900-555-1234;phone-context=+1", "19005551234;isub=12;ext=9",
        "%2B1%2D900%2E555%2D1234", "+1%09900%095551234", "(+1)9005551234"}) {
    EXPECT_EQ(norm(in, digits()), "19005551234") << in;
    EXPECT_EQ(norm(in, e164()),
              in.starts_with("1") || in.starts_with("%31") ? "19005551234" : "+19005551234")
        << in;
  }
}

TEST(NumberForm, InternationalPrefixIsASetting) {
  EXPECT_EQ(norm("01119005551234", digits("011")), "19005551234");
  EXPECT_EQ(norm("01119005551234", e164("011")), "+19005551234");
  // With "011", "00" is not a marker: a national number as dialled.
  EXPECT_EQ(norm("0019005551234", e164("011")), "0019005551234");
  EXPECT_EQ(norm("0019005551234", e164("")), "0019005551234");
  EXPECT_EQ(norm("01119005551234", e164("00")), "01119005551234");
  // No prefix: only '+' marks an international number.
  EXPECT_EQ(norm("+442071234567", e164("")), "+442071234567");
  EXPECT_EQ(norm("+442071234567", digits("")), "442071234567");
}

TEST(NumberForm, PrefixBeforeAZeroIsNotInternational) {
  // E.164 country codes start with 1-9: "000" (an emergency number) and
  // "00" alone are national numbers as dialled.
  EXPECT_EQ(norm("000", e164()), "000");
  EXPECT_EQ(norm("00", e164()), "00");
  EXPECT_EQ(norm("0001234", digits()), "0001234");
  // But a '+' before 0 is no E.164 number: refused, never reinterpreted.
  EXPECT_EQ(norm("+0019005551234", digits()), "!+0019005551234");
  EXPECT_EQ(norm("%2B0019005551234", e164()), "!+0019005551234");
  EXPECT_EQ(norm("+", e164()), "!+");
}

TEST(NumberForm, NationalAndServiceNumbers) {
  EXPECT_EQ(norm("02071234567", digits()), "02071234567");
  EXPECT_EQ(norm("(020) 7123-4567", e164()), "02071234567");
  EXPECT_EQ(norm("112", e164()), "112");
  // RFC 3966 §3: '*' and '#' are local-number dial characters.
  EXPECT_EQ(norm("*67", digits()), "*67");
  EXPECT_EQ(norm("%2A67%2302071234567", digits()), "*67#02071234567");
  EXPECT_EQ(norm("#31#5551234", e164()), "#31#5551234");
  // ... and no part of an E.164 number.
  EXPECT_EQ(norm("+1*900", e164()), "!+1*900");
  EXPECT_EQ(norm("001900#", digits()), "!001900#");
  // '+' is a marker only in front.
  EXPECT_EQ(norm("1900+5551234", digits()), "!1900+5551234");
  EXPECT_EQ(norm("00+19005551234", digits()), "!00+19005551234");
}

TEST(NumberForm, NotDialableKeepsAShownForm) {
  EXPECT_EQ(norm("anonymous", digits()), "!anonymous");
  EXPECT_EQ(norm("Anonymous;user=phone", e164()), "!Anonymous");
  EXPECT_EQ(norm("", digits()), "!");
  EXPECT_EQ(norm(";phone-context=example.com", digits()), "!");
  EXPECT_EQ(norm("---", digits()), "!---");
  EXPECT_EQ(norm("1-800-FLOWERS", digits()), "!1-800-FLOWERS");
  // RFC 3966 hex digits of local numbers are not dialable here.
  EXPECT_EQ(norm("12AB", digits()), "!12AB");
  // A %-encoded ';' is data, not a parameter: not a dial character.
  EXPECT_EQ(norm("1900%3B5551234", digits()), "!1900?5551234");
  // Escapes are decoded once: "%2531" is "%31", not "1".
  EXPECT_EQ(norm("%2531900", digits()), "!?31900");
}

TEST(NumberForm, InvalidEscapesAreNotDialable) {
  for (std::string_view in : {"1900%", "1900%2", "%zz1900", "1900%2G", "%%31"}) {
    NormalizedNumber n = normalizeNumber(in, digits());
    EXPECT_FALSE(n.dialable) << in;
    // The raw text, '%' shown as '?'.
    EXPECT_EQ(n.canonical.find('%'), std::string::npos) << in;
    EXPECT_EQ(n.canonical.size(), in.size()) << in;
  }
  EXPECT_EQ(norm("1900%2G", digits()), "!1900?2G");
}

TEST(NumberForm, ControlBytesAndNulNeverReachTheShownForm) {
  const std::string nul(
      "1900\0"
      "5551234",
      12);
  EXPECT_EQ(norm(nul, digits()), "!1900?5551234");
  EXPECT_EQ(norm("1900%005551234", digits()), "!1900?5551234");
  EXPECT_EQ(norm("1900%0D%0AVia:x", digits()), "!1900??Via:x");
  EXPECT_EQ(norm("19\xff\xfe", digits()), "!19??");
  EXPECT_EQ(norm("%C3%A9", digits()), "!??");
}

TEST(NumberForm, LengthBounds) {
  // E.164: 15 digits at most.
  EXPECT_EQ(norm("+" + std::string(15, '1'), e164()), "+" + std::string(15, '1'));
  EXPECT_EQ(norm("+" + std::string(16, '1'), e164()), "!+" + std::string(16, '1'));
  EXPECT_EQ(norm("00" + std::string(16, '1'), digits()), "!00" + std::string(16, '1'));
  // National: kMaxNationalDigits.
  EXPECT_EQ(norm(std::string(kMaxNationalDigits, '5'), digits()),
            std::string(kMaxNationalDigits, '5'));
  EXPECT_EQ(norm(std::string(kMaxNationalDigits + 1, '5'), digits()),
            "!" + std::string(kMaxNationalDigits + 1, '5'));
  // Separators do not count.
  std::string spaced;
  for (int i = 0; i < 15; ++i) spaced += "1-";
  EXPECT_EQ(norm("+" + spaced, digits()), std::string(15, '1'));
}

TEST(NumberForm, VeryLongInputIsBoundedAndNotDialable) {
  const std::string huge(1 << 20, '1');
  NormalizedNumber n = normalizeNumber(huge, digits());
  EXPECT_FALSE(n.dialable);
  EXPECT_EQ(n.canonical.size(), kMaxShownNumberBytes);
  EXPECT_EQ(n.canonical.back(), '?');
  // A long number part with separators: cut, and the cut shows.
  std::string dashes;
  while (dashes.size() < kMaxNumberPartBytes) dashes += "1-";
  n = normalizeNumber(dashes + "%zz", digits());
  EXPECT_FALSE(n.dialable);
  EXPECT_EQ(n.canonical.back(), '?');
  EXPECT_FALSE(normalizeNumber(n.canonical, digits()).dialable);
  // Long parameters do not matter: they are not read.
  n = normalizeNumber("19005551234;x=" + huge, digits());
  EXPECT_TRUE(n.dialable);
  EXPECT_EQ(n.canonical, "19005551234");
}

TEST(NumberForm, CanonicalFormIsAFixedPoint) {
  for (const NumberSettings& s :
       {digits(), e164(), digits("011"), e164("011"), digits(""), e164("")}) {
    for (std::string_view in :
         {"+1 (900) 555-1234", "0019005551234", "01144207", "*67#1", "000", "anonymous", "1900%2G",
          "+0123", "%2531", "1900%3B1", "", "+", "00", "123456789012345678901234567890123",
          "+4412345678901234",
          "1-2-3-4-5-6-7-8-9-0-1-2-3-4-5-6-7-8-9-0-1-2-3-4-5-6-7-8-9-0-1-2-3-4"}) {
      NormalizedNumber once = normalizeNumber(in, s);
      NormalizedNumber twice = normalizeNumber(once.canonical, s);
      EXPECT_EQ(twice.canonical, once.canonical) << in;
      EXPECT_EQ(twice.dialable, once.dialable) << in;
    }
  }
}

TEST(NumberForm, OneByteAtATimeNeverAllowsMoreThanTheWhole) {
  // Every prefix of an attack form normalises without trouble, and only
  // complete dial strings are dialable.
  const std::string in = "%2B1%20(900)%20555-1234;phone-context=+1";
  for (size_t n = 0; n <= in.size(); ++n) {
    NormalizedNumber r = normalizeNumber(std::string_view(in).substr(0, n), e164());
    EXPECT_LE(r.canonical.size(), kMaxShownNumberBytes);
    if (r.dialable) {
      EXPECT_TRUE(r.canonical.starts_with("+")) << n;
      EXPECT_TRUE(std::string_view("+19005551234").starts_with(r.canonical)) << n;
    }
  }
  // A cut inside an escape is an invalid escape.
  EXPECT_FALSE(normalizeNumber("%2", e164()).dialable);
  EXPECT_FALSE(normalizeNumber("%", e164()).dialable);
}

TEST(NumberPattern, SeparatorsAndInternationalMarker) {
  for (std::string_view p : {"1900*", "+1900*", "1-900*", "001900*", "+1 (900)*", "(1) 900*"}) {
    EXPECT_EQ(normalizePattern(p, digits()), "1900*") << p;
    EXPECT_EQ(normalizePattern(p, e164()),
              p.starts_with("1") || p.starts_with("(1)") ? "1900*" : "+1900*")
        << p;
  }
  EXPECT_EQ(normalizePattern("0111900*", digits("011")), "1900*");
  EXPECT_EQ(normalizePattern("+1-900-555-1234", e164()), "+19005551234");
  EXPECT_EQ(normalizePattern("+44?0*", digits()), "44?0*");
  EXPECT_EQ(normalizePattern("00?9*", e164()), "+?9*");
  EXPECT_EQ(normalizePattern("1900???1", digits()), "1900???1");
  // Trailing separators go first: a '*' before them is the wildcard.
  EXPECT_EQ(normalizePattern("1-900-*-", digits()), "1900*");
  EXPECT_EQ(normalizePattern("00*.", e164()), "+*");
  EXPECT_EQ(normalizePattern("*67*)", digits()), "*67*");
}

TEST(NumberPattern, WhatIsNotANumberPatternStaysAsWritten) {
  for (std::string_view p : {"*", "anonymous", "1-800-FLOWERS*", "?", "+0*", "1900%2B*", ""}) {
    if (p == "?") continue;  // "?" is a one-character number pattern
    EXPECT_EQ(normalizePattern(p, digits()), p) << p;
    EXPECT_EQ(normalizePattern(p, e164()), p) << p;
  }
  EXPECT_EQ(normalizePattern("?", digits()), "?");
  EXPECT_EQ(normalizePattern("*67*", digits()), "*67*");
  EXPECT_EQ(normalizePattern("#31#", e164()), "#31#");
}

TEST(NumberPattern, EveryInternationalNumber) {
  EXPECT_EQ(normalizePattern("+*", e164()), "+*");
  EXPECT_EQ(normalizePattern("00*", e164()), "+*");
  EXPECT_EQ(normalizePattern("011*", e164("011")), "+*");
  EXPECT_EQ(patternFormProblem("00*", e164()), "");
  // Form digits cannot say it: kept as written, and reported.
  EXPECT_EQ(normalizePattern("00*", digits()), "00*");
  EXPECT_EQ(normalizePattern("+*", digits()), "+*");
  EXPECT_NE(patternFormProblem("00*", digits()), "");
  EXPECT_NE(patternFormProblem("+*", digits()), "");
  EXPECT_EQ(patternFormProblem("001900*", digits()), "");
  EXPECT_EQ(patternFormProblem("*", digits()), "");
  // "00" alone (no '*') is a national number.
  EXPECT_EQ(normalizePattern("00", e164()), "00");
}

TEST(NumberPattern, AgreesWithNumbersThroughTheMatcher) {
  for (const NumberSettings& s : {digits(), e164(), digits("011"), e164("")}) {
    const std::string uk =
        (s.internationalPrefix.empty() ? "+" : s.internationalPrefix) + "44 20 7123 4567";
    NumberMatcher m(
        {normalizePattern("+1-900*", s), normalizePattern(uk, s), normalizePattern("+3?1*", s)});
    for (std::string_view in : {"%2B19005551234", "+1 (900) 555-1234", "+1.900.5551234"}) {
      EXPECT_TRUE(m.matches(normalizeNumber(in, s).canonical)) << in;
    }
    // Written without '+', the number is international only in form
    // digits; form e164 keeps national numbers apart.
    EXPECT_EQ(m.matches(normalizeNumber("1-900-555-1234", s).canonical), s.form == Form::Digits);
    EXPECT_TRUE(m.matches(normalizeNumber("+44 20 7123 4567", s).canonical));
    EXPECT_TRUE(m.matches(normalizeNumber("+33 1 23", s).canonical));
    EXPECT_FALSE(m.matches(normalizeNumber("+1 800 555 1234", s).canonical));
  }
}

TEST(NumberSettings, InternationalPrefixProblems) {
  EXPECT_EQ(internationalPrefixProblem(""), "");
  EXPECT_EQ(internationalPrefixProblem("00"), "");
  EXPECT_EQ(internationalPrefixProblem("011"), "");
  EXPECT_EQ(internationalPrefixProblem("0011"), "");
  EXPECT_NE(internationalPrefixProblem("0"), "");
  EXPECT_NE(internationalPrefixProblem("810"), "");
  EXPECT_NE(internationalPrefixProblem("+"), "");
  EXPECT_NE(internationalPrefixProblem("0a"), "");
  EXPECT_NE(internationalPrefixProblem("0000000"), "");
  EXPECT_EQ(numberFormName(Form::Digits), "digits");
  EXPECT_EQ(numberFormName(Form::E164), "e164");
}

TEST(RawNumber, SanitizedAndBounded) {
  EXPECT_EQ(rawNumberForRecord("%2B1-900;isub=1"), "%2B1-900;isub=1");
  EXPECT_EQ(rawNumberForRecord(std::string("1\0\r\n\x7f\xc3", 6)), "1?????");
  const std::string huge(1000, '1');
  const std::string r = rawNumberForRecord(huge);
  EXPECT_EQ(r.size(), kMaxRawNumberBytes);
  EXPECT_EQ(r.back(), '?');
}

}  // namespace
}  // namespace tollgate::admission
