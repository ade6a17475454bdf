// The digest authenticator's counters, as plain values the management
// plane reads without compiling the SIP core (mgmt/node_control.h). A value,
// externally synchronized: counted on the worker, copied off it.
#pragma once

#include <cstdint>

namespace tollgate::auth {

struct AuthStats {
  uint64_t challenges = 0;
  uint64_t authenticated = 0;
  uint64_t failures = 0;       // wrong response, unknown user or wrong address
  uint64_t uriMismatches = 0;  // digest uri= names another target (counted like failures)
  uint64_t stale = 0;
  uint64_t replays = 0;
  uint64_t invalidNonces = 0;
  uint64_t unsupported = 0;  // algorithm/qop we did not offer, malformed nc
  uint64_t malformed = 0;    // unparseable Digest headers (ignored)
  uint64_t suspendedDrops = 0;
};

}  // namespace tollgate::auth
