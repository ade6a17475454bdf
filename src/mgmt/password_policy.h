// Password policy for management users, after NIST SP 800-63B §5.1.1.2 and
// VOS3000 SERVER_PASSWORD_LENGTH: a minimum length (api.password_min_length,
// counted in characters), every printable character and space allowed, no
// composition rules, and a refusal of passwords that are easy to guess: on
// the list of common passwords shipped in src/mgmt/data (Openwall's
// public-domain list of ~3500, also with digits or symbols added at either
// end), the user name or the product name, one character, a pattern or a
// word repeated, or a run like "123456789012" / "zyxwvutsrqpo".
// Pure functions over an immutable embedded list: thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tollgate::mgmt {

struct PasswordVerdict {
  bool ok = true;
  std::string rule;     // "min_length", "max_length", "characters", "user_name",
                        // "product_name", "common", "repetitive", "sequential"
  std::string message;  // for the operator; never echoes the password
};

PasswordVerdict checkPassword(std::string_view password, std::string_view userName,
                              size_t minLength);

// True when the lower-cased password is on the shipped list (for tests).
bool isCommonPassword(std::string_view password);
size_t commonPasswordCount();

}  // namespace tollgate::mgmt
