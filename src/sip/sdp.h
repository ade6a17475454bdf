// SDP (RFC 4566) edits a B2BUA makes to a body it relays: the session-level
// origin (o=) and session name (s=) lines name the sender's user, host and
// often its software ("o=root 1 1 IN IP4 10.0.0.7", "s=Asterisk PBX"), and
// i=/u=/e=/p= may name its organisation, so they are replaced or dropped
// before the body crosses to the other leg. Media lines
// (c=, m=, a=) are left alone: without media anchoring they must reach the
// other side unchanged for the media to flow. Pure functions: thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tollgate::sip {

// True when `contentType` (a Content-Type value, parameters allowed) is
// application/sdp.
bool isSdp(std::string_view contentType);

// `body` with its first o= line rewritten to "o=- <sess-id> <sess-version>
// IN IP4|IP6 <address>" (the session id and version are kept: RFC 3264 §8
// compares them across offers, and we rewrite every offer the same way) and
// its first s= line to "s=-"; the session-level i=, u=, e= and p= lines
// (information, URI, email, phone: RFC 4566 §5.4-5.6, optional) are
// dropped, media-level i= lines kept. An o= line that does not have its six fields
// becomes "o=- 0 0 IN IP4|IP6 <address>". Each line keeps its own ending
// (CRLF or LF). `address` is our host on the receiving leg: an IPv4 or IPv6
// address (brackets are removed) or a host name.
std::string rewriteSdpOrigin(std::string_view body, std::string_view address);

}  // namespace tollgate::sip
