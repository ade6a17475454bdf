// The numbers of a new call, worked out once from its INVITE and used by
// admission, routing, the CDR and the request sent on. Every number is in
// its canonical form (admission/number_form.h): routing, the number lists,
// the dynamic blacklist, fraud rules, the CDR and the carrier all see the
// same string, whatever separators, escapes or international prefix the
// customer wrote. Pure functions and values; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "admission/number_form.h"
#include "sip/message.h"

namespace tollgate::call {

struct CallNumbers {
  std::string caller;  // From user
  std::string callee;  // Request-URI user (To user when it has none)
  bool calleeDialable = false;
  std::string callerRaw;  // as received, for the CDR
  std::string calleeRaw;
  // Other caller numbers the carrier will see: identity headers of a gateway
  // trusted to assert them, the gateway's asserted identity.
  std::vector<std::string> identities;
};

// The numbers of `request` as CallNumbers (identities left empty).
CallNumbers normalizedNumbers(const sip::Message& request, const admission::NumberSettings& n);

// What a new INVITE says of its caller besides the number, as the live call
// list shows it: the From display name (quoted-pairs undone, RFC 3261
// §25.1) and the first User-Agent, each made printable and bounded
// (utf8::printable). "" when absent.
inline constexpr size_t kMaxCallerNameBytes = 128;  // longer than any real name
inline constexpr size_t kMaxUserAgentBytes = 128;   // product and version, as logged
std::string callerNameForRecord(const sip::Message& request);
std::string userAgentForRecord(const sip::Message& request);

// The dialled number of a new INVITE as written (escaped): Request-URI user
// (sip/sips) or the tel number; the To user when the Request-URI has none.
std::string_view calleeOf(const sip::Message& m);

}  // namespace tollgate::call
