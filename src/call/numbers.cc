// The numbers of a new call. See numbers.h.
#include "call/numbers.h"

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

}  // namespace tollgate::call
