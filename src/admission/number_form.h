// Number normalisation: the one canonical form of a calling or called
// number, computed once per call from the user part of a SIP/SIPS URI or the
// number of a tel URI, and used for routing, number lists, fraud rules, the
// dynamic blacklist, the CDR and the request sent to the carrier. Formatting
// a number differently ("1-900-555-1234", "%2B19005551234",
// "+1 (900) 555-1234", "0019005551234") therefore never changes which rules
// apply to it. Also the same normalisation of number list and prefix
// patterns, so what an operator writes matches the canonical numbers.
//
// The steps, in order (docs/configuration.md#numbers):
//   1. URI parameters are dropped: everything from the first unescaped ';'
//      (RFC 3966 §3 par: ;phone-context=, ;isub=, ;ext=; RFC 3261 §19.1.6
//      user=phone user parts). phone-context is deliberately not applied:
//      a local number stays the digits it was dialled as and is never
//      turned into a global one (RFC 3966 §5.1.5 leaves that mapping to the
//      context's owner). Because the carrier receives the canonical number,
//      no dropped parameter can change the number's meaning downstream.
//   2. %-escapes are decoded once (RFC 3261 §19.1.2, §25.1 escaped); an
//      invalid escape makes the number not dialable.
//   3. Visual separators are removed: RFC 3966 §5.1.1 "-" "." "(" ")", and
//      space and tab (E.123 display forms, arriving as %20 / %09).
//   4. A leading '+', or the configured international prefix ("00", "011")
//      followed by a digit 1-9 (E.164 country codes never start with 0),
//      marks an international number. Form Digits drops the marker, E164
//      writes it as '+'.
//   5. Dialable: an international number is 1-15 digits (ITU-T E.164 §6.1),
//      the first not 0; any other (national, short or service) number is
//      1-kMaxNationalDigits of 0-9 * #. '*' and '#' are the RFC 3966 §3
//      local-number dial characters of service codes ("*67", "#31#") and
//      are refused in international numbers, as the RFC does.
//
// A number that is not dialable (letters, "anonymous", empty, bad escapes,
// too long) keeps a canonical form for logs and CDRs only: the decoded
// number part with bytes outside printable ASCII, '%' and ';' replaced by
// '?', at most kMaxShownNumberBytes (a longer one ends in '?'). It is never
// dialable itself, so normalising a canonical form again gives it back: the
// canonical form is a fixed point.
//
// Pure functions: no exceptions, bounded work (the input is read up to
// kMaxNumberPartBytes), no allocation beyond the returned string;
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tollgate::admission {

// ITU-T E.164 §6.1: at most 15 digits, country code included.
inline constexpr size_t kMaxE164Digits = 15;
// National, short and service numbers: the longest national numbering plans
// (about 17 digits) with a carrier access code in front still fit, and so
// do route prefixes, which are at most as long (provisioning's bound).
inline constexpr size_t kMaxNationalDigits = 32;
// The number part (before ';') as received, escaped: a 32-digit number
// fully %-escaped with separators fits; longer is not a number.
inline constexpr size_t kMaxNumberPartBytes = 128;
// The canonical form of something that is not dialable is shown in logs and
// CDRs only: enough to recognise it, never a way to store a blob per call.
inline constexpr size_t kMaxShownNumberBytes = 64;
// The raw user part kept in a CDR (callerRaw / calleeRaw) beside the
// canonical form: what the peer sent, escaped, parameters included.
inline constexpr size_t kMaxRawNumberBytes = 128;
// The international prefix setting: "00", "011", "0011" (ITU-T E.164
// recommends "00"; the longest in use have a carrier selection code).
inline constexpr size_t kMinInternationalPrefix = 2;
inline constexpr size_t kMaxInternationalPrefix = 6;

// [numbers] in the node settings (docs/configuration.md#numbers).
struct NumberSettings {
  enum class Form : uint8_t {
    Digits,  // canonical is digits only: "+1 900..." and "001900..." both become "1900..."
    E164,    // an international number is "+" then digits: "+1900..."
  };
  Form form = Form::Digits;
  // Dialled before a country code to reach another country. "" = only a
  // leading '+' marks an international number.
  std::string internationalPrefix = "00";
  // Final response to an INVITE whose called number is not dialable after
  // normalisation (RFC 3261 §21.4.22 484 Address Incomplete).
  int invalidCode = 484;
};
std::string_view numberFormName(NumberSettings::Form f);  // "digits", "e164"
// "" when `prefix` is a usable international prefix ("", or 2 to
// kMaxInternationalPrefix digits starting with 0), else why not.
std::string internationalPrefixProblem(std::string_view prefix);

struct NormalizedNumber {
  std::string canonical;
  bool dialable = false;
};

// `userPart`: the user part of a SIP/SIPS URI or the number of a tel URI,
// as received (still %-escaped, parameters allowed).
[[nodiscard]] NormalizedNumber normalizeNumber(std::string_view userPart,
                                               const NumberSettings& settings);

// A number list pattern or route / fraud prefix in canonical form: a
// trailing '*' (any rest) and '?' (any one character) are kept, separators
// are removed and the international marker is handled as for numbers, so
// "+1900*", "1-900*" and "001900*" all become "1900*" (form Digits) or
// "+1900*" (form E164). "00*" or "+*" (every international number) becomes
// "+*" in form E164. A pattern that does not describe dialable numbers
// ("anonymous", "*", "") is returned as written. Patterns are operator text,
// not URIs: no %-decoding, no parameters.
[[nodiscard]] std::string normalizePattern(std::string_view pattern,
                                           const NumberSettings& settings);

// "" unless `pattern` cannot mean what it says in this form: in form Digits
// international numbers carry no marker, so "+*" or "00*" (every
// international number) matches nothing. For logs at snapshot load.
std::string patternFormProblem(std::string_view pattern, const NumberSettings& settings);

// The user part as received, for the CDR's raw columns: at most
// kMaxRawNumberBytes, bytes outside printable ASCII replaced by '?'.
std::string rawNumberForRecord(std::string_view userPart);

}  // namespace tollgate::admission
