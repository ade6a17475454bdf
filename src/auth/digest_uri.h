// Does a digest `uri=` name the request's target? RFC 3261 §22.4 and RFC
// 7616 §3.4.6 (RFC 2617 §3.2.2.5): the server must check that the resource
// the credentials were computed for is the one the Request-Line names;
// otherwise a response computed for a call to one number authenticates a
// request to another (a proxy or a man in the middle rewrote the
// Request-URI and kept the credentials). Pure functions: thread-safe.
//
// The rule (RFC 3261 §19.1.4 where it decides who is called):
//   - the schemes are equal (case-insensitive): sip, sips or tel; any other
//     scheme must be written exactly as in the Request-URI;
//   - sip/sips: user and password equal byte for byte after %-unescaping
//     (case-sensitive: "%41" equals "A", "1-900" does not equal "1900");
//     host equal case-insensitively (IP addresses as text: "[::1]" and
//     "[0::1]" differ); port equal, an absent port standing for the scheme's
//     default (5060 sip, 5061 sips);
//   - uri-parameters: a parameter present in both must have equal values
//     (case-insensitive); `user`, `ttl`, `method`, `maddr` and `transport`
//     must not appear in only one of them; other parameters in one only are
//     ignored; a header part (`?...`) never matches (a Request-URI has none);
//   - tel and other schemes: the text after the scheme is equal after
//     %-unescaping.
// With `hostOnly`, one more form is accepted: a sip/sips URI with no user,
// no password, no parameters and no headers, whose scheme, host and port
// equal the Request-URI's (SIPp 3.6.1 hashes `sip:<remote_ip>:<remote_port>`
// by default). Such credentials do not bind the user part at all; they can
// never name *another* user, which is what this check refuses.
#pragma once

#include <string_view>

#include "sip/message.h"

namespace tollgate::auth {

enum class DigestUriMatch : uint8_t {
  Exact,     // names the Request-URI's target by the rule above
  HostOnly,  // the tolerated host-only form (only when allowed)
  Mismatch,  // another target, unparseable, or host-only when not allowed
};

[[nodiscard]] DigestUriMatch matchDigestUri(std::string_view digestUri, const sip::Uri& requestUri,
                                            bool hostOnly);

}  // namespace tollgate::auth
