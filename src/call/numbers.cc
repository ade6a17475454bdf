// The numbers of a new call. See numbers.h.
#include "call/numbers.h"

#include <algorithm>

#include "common/utf8.h"

namespace tollgate::call {

std::string_view calleeOf(const sip::Message& m) {
  const sip::Uri& r = m.requestUri();
  return !r.user.empty() ? r.user : m.to().uri.user;
}

CallNumbers normalizedNumbers(const sip::Message& request,
                              const admission::NumberSettings& settings) {
  CallNumbers n;
  std::string_view from = request.from().uri.user;
  std::string_view to = calleeOf(request);
  n.caller = admission::normalizeNumber(from, settings).canonical;
  admission::NormalizedNumber callee = admission::normalizeNumber(to, settings);
  n.callee = std::move(callee.canonical);
  n.calleeDialable = callee.dialable;
  n.callerRaw = admission::rawNumberForRecord(from);
  n.calleeRaw = admission::rawNumberForRecord(to);
  return n;
}

std::string callerNameForRecord(const sip::Message& request) {
  std::string_view quoted = request.from().displayName;
  std::string name;
  name.reserve(std::min(quoted.size(), kMaxCallerNameBytes * 2));
  // Past the bound, more bytes change nothing but the cut mark: stop there.
  for (size_t i = 0; i < quoted.size() && name.size() <= kMaxCallerNameBytes * 2; ++i) {
    if (quoted[i] == '\\' && i + 1 < quoted.size()) ++i;  // quoted-pair: the next byte as is
    name.push_back(quoted[i]);
  }
  return utf8::printable(name, kMaxCallerNameBytes);
}

std::string userAgentForRecord(const sip::Message& request) {
  const sip::Header* ua = request.header(sip::HeaderId::UserAgent);
  return ua ? utf8::printable(ua->value, kMaxUserAgentBytes) : std::string();
}

}  // namespace tollgate::call
