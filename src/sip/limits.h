// Named limits on untrusted SIP input, in one place. Each bounds the work or
// memory one message from the network can cost. Plain constants: thread-safe.
#pragma once

#include <cstddef>

namespace tollgate::sip {

// Largest message we parse: a UDP datagram cannot be bigger, and no
// legitimate SIP message over a stream comes close.
inline constexpr size_t kMaxMessageSize = 65535;
// Header fields per message. Real INVITEs carry 15-40; 128 leaves headroom
// for long Record-Route sets while capping per-message parse work.
inline constexpr size_t kMaxHeaderCount = 128;
// Via entries per message (the hop count a request may have travelled).
// RFC 3261 §8.1.1.6 recommends an initial Max-Forwards of 70, so a request
// with more Vias than that went through more hops than a sane path has: a
// loop or an attack; the request gets 483. (32 was too tight: RFC 4475
// longreq, a valid message, carries 34 Vias.)
inline constexpr size_t kMaxViaCount = 70;
// Length of one (unfolded) header field line.
inline constexpr size_t kMaxHeaderLineLength = 8192;
// Length of a Request-URI or any URI we parse.
inline constexpr size_t kMaxUriLength = 2048;
// Length of a method token or a header name. (RFC 4475 longreq, a valid
// message, has a 93-octet header name.)
inline constexpr size_t kMaxTokenLength = 128;
// Bytes of leading CRLFs tolerated before a start line (RFC 3261 §7.5).
inline constexpr size_t kMaxLeadingCrlf = 64;

}  // namespace tollgate::sip
