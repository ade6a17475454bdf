// Counters of the management API itself (connections refused by the access
// list, logins, lockouts, trace sessions), bumped from API threads and read
// by /metrics and /api/v1/stats. Thread-safe (relaxed atomics).
#pragma once

#include <atomic>
#include <cstdint>

#include "common/latency_histogram.h"

namespace tollgate::mgmt {

struct ApiCounters {
  std::atomic<uint64_t> connectionsAccepted{0};
  std::atomic<uint64_t> refusedNotAllowed{0};  // api.allow: RST at accept
  std::atomic<uint64_t> refusedBusy{0};        // connection queue full: RST at accept
  std::atomic<uint64_t> tlsHandshakeFailed{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> responses4xx{0};
  std::atomic<uint64_t> responses5xx{0};
  std::atomic<uint64_t> unauthenticated{0};  // 401 for a missing/invalid token
  std::atomic<uint64_t> forbidden{0};        // 403: role too low
  std::atomic<uint64_t> loginSucceeded{0};
  std::atomic<uint64_t> loginFailed{0};         // wrong user name or password
  std::atomic<uint64_t> loginRefusedLocked{0};  // refused because a lock is active
  std::atomic<uint64_t> lockoutsPair{0};        // locks started, by scope
  std::atomic<uint64_t> lockoutsSource{0};
  std::atomic<uint64_t> lockoutsAccount{0};
  std::atomic<uint64_t> traceSessionsStarted{0};
  std::atomic<uint64_t> traceMessages{0};
  LatencyHistogram storeLatency;  // management store operations
};

}  // namespace tollgate::mgmt
