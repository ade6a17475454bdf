// The dialog state a request or response carries (RFC 3261 §12.1): the
// remote target (the first Contact's URI) and the route set (the
// Record-Route values, reversed on the UAC side, §12.1.2). Pure functions;
// thread-safe.
#pragma once

#include <string>
#include <vector>

#include "sip/message.h"

namespace tollgate::call {

// The URI of the first Contact; "" when there is none (or it is "*").
std::string firstContactUri(const sip::Message& m);
// Every Record-Route value in order, or in reverse order.
std::vector<std::string> recordRoutes(const sip::Message& m, bool reverse);

}  // namespace tollgate::call
