// Password policy (password_policy.h).
#include "mgmt/password_policy.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <unordered_set>

#include "common/ascii.h"
#include "mgmt/secrets.h"

namespace tollgate::mgmt {
namespace {

// The list, embedded at build time from data/common_passwords.txt (one per
// line; "#!comment" lines are the list's own header).
constexpr std::string_view kCommonPasswordText =
#include "common_passwords.inc"
    ;

// Bases shorter than this are not looked up after stripping digits and
// symbols: "ab" + "1234567890" is weak, but every word would match it.
constexpr size_t kMinStrippedBase = 4;

using ascii::lowered;

const std::unordered_set<std::string>& commonSet() {
  static const std::unordered_set<std::string> set = [] {
    std::unordered_set<std::string> s;
    std::string_view text = kCommonPasswordText;
    while (!text.empty()) {
      size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || line.substr(0, 2) == "#!") continue;
      s.insert(lowered(line));
    }
    return s;
  }();
  return set;
}

bool isDecoration(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) ||
         std::string_view("!@#$%^&*()_-+=.,?~ ").find(c) != std::string_view::npos;
}

// Characters (UTF-8 code points); invalid bytes count one each.
size_t characterCount(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// One character, a short pattern or a word repeated ("abcabcabcabc",
// "passwordpassword"): the string has a period of at most half its length.
bool repetitive(std::string_view s) {
  for (size_t unit = 1; unit * 2 <= s.size(); ++unit) {
    bool repeats = true;
    for (size_t i = unit; i < s.size() && repeats; ++i) repeats = s[i] == s[i - unit];
    if (repeats) return true;
  }
  return false;
}

// Every step +1 (or every step -1) within digits (0 follows 9) or letters.
bool sequential(std::string_view s) {
  if (s.size() < 3) return false;
  auto step = [](char a, char b) -> int {
    auto ua = static_cast<unsigned char>(ascii::toLower(a));
    auto ub = static_cast<unsigned char>(ascii::toLower(b));
    if (std::isdigit(ua) && std::isdigit(ub)) {
      int d = (ub - ua + 10) % 10;
      return d == 1 ? 1 : d == 9 ? -1 : 0;
    }
    if (std::isalpha(ua) && std::isalpha(ub)) {
      int d = static_cast<int>(ub) - static_cast<int>(ua);
      return d == 1 || d == -1 ? d : 0;
    }
    return 0;
  };
  int dir = step(s[0], s[1]);
  if (dir == 0) return false;
  for (size_t i = 2; i < s.size(); ++i) {
    if (step(s[i - 1], s[i]) != dir) return false;
  }
  return true;
}

PasswordVerdict refuse(std::string rule, std::string message) {
  return PasswordVerdict{false, std::move(rule), std::move(message)};
}

}  // namespace

bool isCommonPassword(std::string_view password) {
  return commonSet().count(lowered(password)) > 0;
}

size_t commonPasswordCount() {
  return commonSet().size();
}

PasswordVerdict checkPassword(std::string_view password, std::string_view userName,
                              size_t minLength) {
  if (password.size() > kMaxPasswordBytes) {
    return refuse("max_length",
                  "must be at most " + std::to_string(kMaxPasswordBytes) + " bytes long");
  }
  for (unsigned char c : password) {
    if (c < 0x20 || c == 0x7f) {
      return refuse("characters", "must not contain control characters");
    }
  }
  if (characterCount(password) < minLength) {
    return refuse("min_length", "must be at least " + std::to_string(minLength) +
                                    " characters long (api.password_min_length)");
  }
  const std::string pw = lowered(password);
  const std::string user = lowered(userName);
  if (!user.empty() &&
      (pw == user || (user.size() >= kMinStrippedBase && pw.find(user) != std::string::npos))) {
    return refuse("user_name", "must not be or contain the user name");
  }
  if (pw.find("tollgate") != std::string::npos) {
    return refuse("product_name", "must not contain the product name");
  }
  if (commonSet().count(pw) > 0) {
    return refuse("common", "is on the list of commonly used passwords");
  }
  // "Password2024!" is "password" with decoration: strip digits and
  // symbols from both ends and look again.
  size_t b = 0, e = pw.size();
  while (b < e && isDecoration(pw[b])) ++b;
  while (e > b && isDecoration(pw[e - 1])) --e;
  if ((b > 0 || e < pw.size()) && e - b >= kMinStrippedBase &&
      commonSet().count(pw.substr(b, e - b)) > 0) {
    return refuse("common", "is a commonly used password with digits or symbols added");
  }
  if (repetitive(pw)) {
    return refuse("repetitive", "must not be one character or a short pattern repeated");
  }
  if (sequential(pw)) {
    return refuse("sequential", "must not be a run of consecutive characters");
  }
  return {};
}

}  // namespace tollgate::mgmt
