// lint(): the switch's verdict on one captured message, as one line.
#include "sip/lint.h"

#include <charconv>

#include "sip/checks.h"
#include "sip/message.h"

namespace tollgate::sip {

namespace {

void appendInt(std::string& out, int v) {
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), v);
  (void)ec;
  out.append(digits, static_cast<size_t>(end - digits));
}

}  // namespace

LintResult lint(std::string_view bytes) {
  LintResult r;
  auto parsed = Message::parse(std::string(bytes));
  if (!parsed) {
    const ParseError& e = parsed.error();
    r.line = "error: ";
    r.line.append(e.detail);
    r.line.append(" (");
    if (e.status == 0) {
      r.line.append("drop");
    } else {
      appendInt(r.line, e.status);
    }
    r.line.append(")");
    return r;
  }
  const Message& m = **parsed;
  r.ok = true;
  r.line = "ok ";
  if (m.isResponse()) {
    appendInt(r.line, m.status());
    return r;
  }
  r.line.append(m.methodName());
  // The switch forwards INVITEs and answers every other new request itself
  // (an OPTIONS with Max-Forwards 0 gets 200, not 483): check the same way.
  CheckPolicy policy;
  policy.forwarding = m.method() == Method::Invite;
  CheckFailure f = checkRequest(m, policy);
  if (f.status != 0) {
    // RFC 3261 §17.1.1.3: an ACK is never answered; a failing one is dropped.
    r.line.append(m.method() == Method::Ack ? " (dropped, would be " : " (answered ");
    appendInt(r.line, f.status);
    r.line.push_back(' ');
    r.line.append(f.reason);
    r.line.append(")");
  }
  return r;
}

}  // namespace tollgate::sip
