// Call detail records: one per call attempt, including rejected and dropped
// attempts, and the sink the call layer hands them to. The store implements
// CdrSink; the call layer never waits on it. Cdr is a value; CdrSink
// implementations must be thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
  // Appended after the first release (values are stable; add new ones at the end).
  AdminHangup,  // ended by an operator through the management API
};
std::string_view reasonName(TerminationReason r);  // "caller_bye", ...
std::optional<TerminationReason> reasonFromName(std::string_view name);

enum class HangupSide : uint8_t { None, Caller, Callee, System };
std::string_view hangupName(HangupSide s);  // "", "caller", "callee", "system"
std::optional<HangupSide> hangupFromName(std::string_view name);

struct Cdr {
  int64_t id = 0;              // assigned by the store
  std::string callId;          // the caller leg's Call-ID
  int64_t startUs = 0;         // INVITE received, µs since the Unix epoch
  int64_t answerUs = 0;        // 200 OK relayed; 0 when never answered
  int64_t endUs = 0;           // attempt over
  std::string caller;          // From user part (unescaped)
  std::string callee;          // Request-URI user part as received (unescaped)
  std::string sourceAddress;   // "ip:port" the INVITE came from
  std::string transport;       // "udp", "tcp"
  std::string mappingGateway;  // "" when the source is unknown
  std::string routingGateway;  // the last one tried ("" when none)
  std::string gatewaysTried;   // comma-separated, in order
  int finalCode = 0;           // final SIP status sent to the caller (200 when answered)
  int64_t durationMs = 0;      // answer -> end; 0 when never answered
  HangupSide hangup = HangupSide::None;
  TerminationReason reason = TerminationReason::InternalError;
};

class CdrSink {
 public:
  virtual ~CdrSink() = default;
  // Must not block the caller on I/O. Thread-safe.
  virtual void submit(Cdr&& cdr) = 0;
};

}  // namespace tollgate::call
