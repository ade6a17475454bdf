// The registrar's counters, as plain values the management plane reads
// without compiling the SIP core (mgmt/node_control.h). A value, externally
// synchronized: counted on the worker, copied off it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tollgate::registrar {

struct RegistrarStats {
  uint64_t registers = 0;  // REGISTERs answered 200
  uint64_t added = 0;
  uint64_t refreshed = 0;
  uint64_t removed = 0;   // by Expires 0 or "*"
  uint64_t replaced = 0;  // kicked by a newer contact
  uint64_t refusedReplace = 0;
  uint64_t tooBrief = 0;  // 423
  uint64_t invalid = 0;   // 400
  uint64_t expired = 0;
  uint64_t probesSent = 0;
  uint64_t wentOffline = 0;
  uint64_t cameOnline = 0;
  size_t bindings = 0;
};

}  // namespace tollgate::registrar
