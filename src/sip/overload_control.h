// RFC 7339 (SIP overload control) on the wire: whether a client's Via says
// it supports the loss-based algorithm, and where in a Via header value the
// server's feedback parameters go. The numbers themselves come from the
// shield's overload control. Free functions on views; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace tollgate::sip {

// The first via-parm of a Via header value ("SIP/2.0/UDP h;branch=x, SIP/2.0
// ..." -> "SIP/2.0/UDP h;branch=x"): cut at the first comma outside a quoted
// string.
std::string_view firstViaParm(std::string_view viaValue);

// True when the via-parm carries the `oc` parameter (RFC 7339 §5.1) and
// either no oc-algo or an oc-algo list naming "loss", the algorithm we
// speak (§5.2).
bool viaSupportsOc(std::string_view viaParm);

// viaValue with `params` (";oc=...") appended to its first via-parm, in
// place of any oc, oc-algo, oc-validity and oc-seq parameters it had.
std::string withTopViaParams(std::string_view viaValue, std::string_view params);

}  // namespace tollgate::sip
