// The CDR recorder of one worker's call layer: every call attempt's CDR
// passes here on its way to the CdrSink (the store's writer), counted by
// termination reason and per gateway; refused attempts get theirs from
// reject() (numbers worked out here when the caller has none), and INVITEs
// from strangers (unknown source, port mismatch, failed or suspended
// digest) from illegalCall(), under a token bucket (cdr.illegal_rate,
// cdr.illegal_burst) so a flood of them cannot flood the CDR table. Holds
// the per-gateway counters (attempts, answered, failed) for the provisioned
// gateways. Confined to its worker.
#pragma once

#include <string>
#include <vector>

#include "call/cdr.h"
#include "call/numbers.h"
#include "call/settings.h"
#include "call/stats.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/token_bucket.h"
#include "sip/message.h"
#include "transport/transport.h"

namespace tollgate::call {

class CdrRecorder {
 public:
  CdrRecorder(EventLoop& loop, const Clock& clock, CdrSink& sink, const CallSettings& settings,
              CallStats& stats);
  CdrRecorder(const CdrRecorder&) = delete;
  CdrRecorder& operator=(const CdrRecorder&) = delete;

  // Counts `cdr` (reason, gateways) and hands it to the sink.
  void submit(Cdr&& cdr);
  // The CDR of an INVITE refused before it became a call, from `gateway`
  // ("" = a stranger). numbers: the call's, when already worked out.
  void reject(const sip::Message& request, const transport::Flow& from, const std::string& gateway,
              int code, TerminationReason reason, const CallNumbers* numbers = nullptr);
  // cdr.illegal_calls: whether INVITEs from strangers get CDRs at all.
  bool recordsIllegalCalls() const { return settings_.illegalCallCdrs; }
  // The CDR of a stranger's INVITE, unless over the rate (then only counted).
  void illegalCall(const sip::Message& request, const transport::Flow& from, int code,
                   TerminationReason reason);
  // The CDR of an INVITE shed by overload control (raw bytes: it was never
  // parsed), from `gateway` ("" = not a mapping gateway's address), under
  // the same rate as illegal calls' CDRs (then only counted). The parse
  // happens only when the CDR is written.
  void shedCall(std::string_view raw, const transport::Flow& from, const std::string& gateway,
                int code);
  // The CDR of an INVITE from a mapping gateway that did not parse.
  void malformedInvite(const transport::Flow& from, const std::string& gateway, int status);

  // Per-gateway counters exist for exactly the provisioned gateways: a
  // removed gateway's series ends, a new one starts at zero.
  void setGateways(const std::vector<std::string>& mapping,
                   const std::vector<std::string>& routing);
  void countMappingAttempt(const std::string& gateway);
  void countRoutingAttempt(const std::string& gateway);
  // `active` is left 0 (CallRegistry::gatewayStats() fills it).
  const GatewayStats& gateways() const { return gateways_; }

 private:
  bool takeIllegalCdrToken();

  EventLoop& loop_;
  const Clock& clock_;
  CdrSink& sink_;
  const CallSettings& settings_;
  CallStats& stats_;
  GatewayStats gateways_;
  // Unknown-source CDRs per second (cdr.illegal_rate / illegal_burst); full
  // at first use.
  BasicTokenBucket<double, MonoTime> illegalBucket_;
};

}  // namespace tollgate::call
