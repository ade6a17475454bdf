// The call policy's counters (refusals, carriers skipped, cut calls, max
// duration) and the fraud thresholds', as plain values the management plane
// reads without compiling the SIP core (mgmt/node_control.h). Values,
// externally synchronized: counted on the worker, copied off it.
#pragma once

#include <cstdint>

namespace tollgate::admission {

struct PolicyStats {
  uint64_t refused[6] = {};    // by Refusal
  uint64_t carrierFull = 0;    // routing gateway skipped: its channels or rate
  uint64_t carrierListed = 0;  // routing gateway skipped: its number lists
  uint64_t wouldRefuseCountOnly = 0;
  uint64_t cutCalls = 0;
  uint64_t durationWarnings = 0;
  uint64_t maxDurationEnded = 0;
};

struct FraudStats {
  uint64_t warnings = 0;  // calls admitted above a warning level
  uint64_t blocked = 0;   // calls refused at a critical level
  // Of those, refused only because of the other nodes' share (cluster):
  // this node's own counts were below every critical level.
  uint64_t blockedShared = 0;
};

}  // namespace tollgate::admission
