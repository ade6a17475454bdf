// Call detail records: one per call attempt, including rejected and dropped
// attempts, and the sink the call layer hands them to. The store implements
// CdrSink; the call layer never waits on it. Cdr is a value; CdrSink
// implementations must be thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "media/rtpengine.h"

namespace tollgate::call {

// Why a call attempt ended. Documented in docs/cdr.md; the names are part of
// the operator interface (stored in CDRs, shown by `tollgate cdr list`).
enum class TerminationReason : uint8_t {
  CallerBye,      // answered, caller hung up
  CalleeBye,      // answered, callee hung up
  Busy,           // callee busy (486/600); failover stops
  NoAnswer,       // callee did not answer (408/480 or ring timeout)
  Cancelled,      // caller cancelled before answer
  Rejected,       // callee side refused with another final code (403, 404, 603, ...)
  NoRoute,        // no routing gateway matches the callee
  RouteFailed,    // every routing gateway tried failed (timeout, 5xx, unreachable)
  UnknownSource,  // source matches no mapping gateway
  PortMismatch,   // source IP belongs to an ip_port gateway but the port differs
  BadRequest,     // malformed or invalid INVITE (400, 416, 420, 415, 406)
  TooManyHops,    // Max-Forwards exhausted (483)
  AckTimeout,     // answered, but the caller never ACKed the 200 (Timer H / 64*T1)
  Draining,       // refused because the node is shutting down (503)
  InternalError,  // a bug or resource failure on our side (500)
  // Appended after the first release: never renumber or rename the above.
  AuthFailed,         // wrong digest credentials (re-challenged), or from a suspended source
  CalleeOffline,      // the callee is a registered account with no reachable contact (480)
  CarrierAuthFailed,  // a carrier challenged and refused our credentials (or we had none)
  // Call policy (issue 5). Append new reasons at the end; never reorder.
  CpsLimit,            // over the calls-per-second limit of the gateway or account (503)
  ConcurrentLimit,     // over the channel limit (max_concurrent) of the gateway or account
  CallerBlacklisted,   // caller refused by a number list or the dynamic blacklist (or cut)
  CalleeBlacklisted,   // callee refused by a number list or the dynamic blacklist (or cut)
  MaxDuration,         // answered, ended by tollgate at max_duration (BYE both legs)
  FraudThreshold,      // a fraud threshold's critical level was reached
  CarrierUnavailable,  // routes exist but every one was full or out of rotation (503)
  AdminHangup,         // ended by an operator (management API)
  InvalidNumber,       // the called number is not dialable after normalisation ([numbers])
  Overload,            // shed by overload control before parsing (503; docs/overload.md)
  // Media anchoring (docs/media.md).
  MediaUnavailable,  // no rtpengine answered (503), or one failed the call's offer/answer
  MediaTimeout,      // answered, ended by tollgate: no RTP on a leg (media.timeout)
  MediaRejected,     // rtpengine refused the caller's SDP offer (488)
  // Cluster (docs/cluster.md).
  ClusterUnavailable,  // the shared state is unreachable and cluster.down_rule = refuse (503)
};
// Number of TerminationReason values (for per-reason counters).
inline constexpr size_t kTerminationReasonCount =
    static_cast<size_t>(TerminationReason::ClusterUnavailable) + 1;
std::string_view reasonName(TerminationReason r);  // "caller_bye", ...
std::optional<TerminationReason> reasonFromName(std::string_view name);

enum class HangupSide : uint8_t { None, Caller, Callee, System };
std::string_view hangupName(HangupSide s);  // "", "caller", "callee", "system"
std::optional<HangupSide> hangupFromName(std::string_view name);

struct Cdr {
  int64_t id = 0;        // assigned by the store
  std::string callId;    // the caller leg's Call-ID
  int64_t startUs = 0;   // INVITE received, µs since the Unix epoch
  int64_t answerUs = 0;  // 200 OK relayed; 0 when never answered
  int64_t endUs = 0;     // attempt over
  // The numbers in canonical form (admission/number_form.h): what routing,
  // lists and fraud rules judged and the carrier was sent (before a route's
  // strip_digits / add_prefix). For a number that is not dialable, its
  // shown form (printable, bounded).
  std::string caller;          // From user part
  std::string callee;          // Request-URI user part
  std::string sourceAddress;   // "ip:port" the INVITE came from
  std::string transport;       // "udp", "tcp"
  std::string mappingGateway;  // "" when the source is unknown
  std::string routingGateway;  // the last one tried ("" when none)
  std::string gatewaysTried;   // comma-separated, in order
  int finalCode = 0;           // final SIP status sent to the caller (200 when answered)
  int64_t durationMs = 0;      // answer -> end; 0 when never answered
  HangupSide hangup = HangupSide::None;
  TerminationReason reason = TerminationReason::InternalError;
  // The same user parts as received: still %-escaped, parameters kept,
  // sanitized and bounded (admission::rawNumberForRecord). "" in rows
  // written before they were recorded.
  std::string callerRaw;
  std::string calleeRaw;
  // Relayed calls: what rtpengine counted per direction (present = false
  // when the media passed through or the engine did not answer).
  media::MediaFigures media;
};

class CdrSink {
 public:
  virtual ~CdrSink() = default;
  // Must not block the caller on I/O. Thread-safe.
  virtual void submit(Cdr&& cdr) = 0;
};

}  // namespace tollgate::call
