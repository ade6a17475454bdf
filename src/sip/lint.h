// `tollgate lint`: the verdict the switch would give one captured message,
// as one line of text. Pure function: thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tollgate::sip {

struct LintResult {
  bool ok = false;
  // "ok INVITE", "ok 200", "ok INVITE (answered 416 Unsupported URI Scheme)",
  // or "error: Content-Length larger than body (400)".
  std::string line;
};

LintResult lint(std::string_view bytes);

}  // namespace tollgate::sip
