// Counters of the management API itself (connections refused by the access
// list or the connection limits, connections closed by the intake's
// deadlines, logins, lockouts, privilege refusals, trace sessions), bumped
// from API threads and read by /metrics and /api/v1/stats. Thread-safe
// (relaxed atomics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "common/latency_histogram.h"

namespace tollgate::mgmt {

// Why a credential was refused an action that would give it (or someone)
// more than its effective role (docs/api.md "Roles").
enum class PrivilegeRefusal : uint8_t {
  RouteRole,                // the route needs a higher role than the credential has
  RoleAboveOwn,             // token, user or role change above the caller's effective role
  TargetAboveOwn,           // editing or deleting a user whose role is above the caller's
  TokenForOtherUser,        // a token making a token for another user
  TokenOutlivesCredential,  // a token making a token that expires after it
  TokenChangesPassword,     // tokens never change passwords
  OtherUserNotAdmin,        // a non-admin setting another user's password or making their token
  CurrentPasswordMissing,   // own password change without current_password
  CurrentPasswordWrong,     // own password change with a wrong current_password
  CsrfToken,                // a change made with the console's session cookie and no CSRF token
  Count
};
inline constexpr size_t kPrivilegeRefusalCount = static_cast<size_t>(PrivilegeRefusal::Count);
constexpr std::string_view privilegeRefusalName(PrivilegeRefusal r) {
  constexpr std::array<std::string_view, kPrivilegeRefusalCount> kNames = {
      "route_role",
      "role_above_own",
      "target_above_own",
      "token_for_other_user",
      "token_outlives_credential",
      "token_changes_password",
      "other_user_not_admin",
      "current_password_missing",
      "current_password_wrong",
      "csrf_token"};
  return kNames[static_cast<size_t>(r)];
}

// Why the intake refused a new connection or closed one before a worker
// served it (docs/api.md "Connection limits and deadlines").
enum class IntakeClose : uint8_t {
  HeadTimeout,          // request head not complete within api.request_head_timeout
  TlsHandshakeTimeout,  // TLS handshake not complete within api.tls_handshake_timeout
  HeadTooLarge,         // request head over kApiMaxHeadBytes (431)
  Evicted,              // the oldest unfinished connection, to admit a new one at the cap
  IdleKeepAlive,        // no next request within kApiKeepAliveSeconds
  WriteTimeout,         // the client did not read its response within the write deadline
  Count
};
inline constexpr size_t kIntakeCloseCount = static_cast<size_t>(IntakeClose::Count);
constexpr std::string_view intakeCloseName(IntakeClose r) {
  constexpr std::array<std::string_view, kIntakeCloseCount> kNames = {
      "head_timeout", "tls_handshake_timeout", "head_too_large", "evicted",
      "idle",         "write_timeout"};
  return kNames[static_cast<size_t>(r)];
}

struct ApiCounters {
  std::atomic<uint64_t> connectionsAccepted{0};
  std::atomic<uint64_t> refusedNotAllowed{0};  // api.allow: RST at accept
  std::atomic<uint64_t> refusedBusy{0};        // every worker busy and the queue full: 503
  std::atomic<uint64_t> refusedPerSource{0};   // api.max_connections_per_source: RST at accept
  std::atomic<uint64_t> refusedTableFull{0};   // api.max_connections, nothing to evict: RST
  std::atomic<uint64_t> tlsHandshakeFailed{0};
  std::array<std::atomic<uint64_t>, kIntakeCloseCount> intakeClosed{};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> responses4xx{0};
  std::atomic<uint64_t> responses5xx{0};
  std::atomic<uint64_t> unauthenticated{0};  // 401 for a missing/invalid token
  std::atomic<uint64_t> forbidden{0};        // 403: role too low
  std::array<std::atomic<uint64_t>, kPrivilegeRefusalCount> privilegeRefused{};
  std::atomic<uint64_t> loginSucceeded{0};
  std::atomic<uint64_t> loginFailed{0};           // wrong user name or password (hash checked)
  std::atomic<uint64_t> loginRefusedLocked{0};    // refused because a lock is active
  std::atomic<uint64_t> loginRefusedInFlight{0};  // refused: attempts being checked reach the limit
  std::atomic<uint64_t> lockoutsPair{0};          // locks started, by scope
  std::atomic<uint64_t> lockoutsSource{0};
  std::atomic<uint64_t> lockoutsAccount{0};
  std::atomic<uint64_t> traceSessionsStarted{0};
  std::atomic<uint64_t> traceMessages{0};
  std::atomic<uint64_t> liveStreamsStarted{0};  // console live feeds (GET /api/v1/live)
  std::atomic<uint64_t> liveStreamsRefused{0};  // ... refused: per-user or total bound reached
  LatencyHistogram storeLatency;                // management store operations

  void count(PrivilegeRefusal r) {
    privilegeRefused[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
  void count(IntakeClose r) {
    intakeClosed[static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
  }
};

}  // namespace tollgate::mgmt
