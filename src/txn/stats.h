// The transaction layer's counters, as plain values the management plane
// reads without compiling the SIP core (mgmt/node_control.h). A value,
// externally synchronized: counted on the worker, copied off it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tollgate::txn {

struct TxnStats {
  uint64_t serverCreated = 0;
  uint64_t clientCreated = 0;
  uint64_t retransmissionsAbsorbed = 0;  // request retransmissions answered from state
  uint64_t retransmissionsSent = 0;      // our requests/responses re-sent by timers
  uint64_t strayResponses = 0;
  uint64_t malformed = 0;
  uint64_t clientTimeouts = 0;
  uint64_t ackTimeouts = 0;
  uint64_t foreignCancels = 0;  // CANCELs matching an INVITE sent from another IP: dropped
  uint64_t foreignAcks = 0;     // ACKs for our non-2xx final from another IP: dropped
  size_t serverLive = 0;
  size_t clientLive = 0;
};

}  // namespace tollgate::txn
