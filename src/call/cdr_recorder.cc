// CDRs of the call layer and their counters. See cdr_recorder.h.
#include "call/cdr_recorder.h"

#include <algorithm>

#include "common/log.h"

namespace tollgate::call {

CdrRecorder::CdrRecorder(EventLoop& loop, const Clock& clock, CdrSink& sink,
                         const CallSettings& settings, CallStats& stats)
    : loop_(loop), clock_(clock), sink_(sink), settings_(settings), stats_(stats) {}

void CdrRecorder::submit(Cdr&& cdr) {
  size_t idx = static_cast<size_t>(cdr.reason);
  if (idx < stats_.byReason.size()) ++stats_.byReason[idx];
  const bool answered = cdr.answerUs != 0;
  if (!answered) ++stats_.callsFailed;
  if (auto it = gateways_.mapping.find(cdr.mappingGateway); it != gateways_.mapping.end()) {
    ++(answered ? it->second.answered : it->second.failed);
  }
  // Every carrier tried before the last one failed the call; the last one
  // answered it or failed it too.
  std::string_view tried = cdr.gatewaysTried;
  while (!tried.empty()) {
    size_t comma = tried.find(',');
    std::string name(tried.substr(0, comma));
    tried = comma == std::string_view::npos ? std::string_view() : tried.substr(comma + 1);
    if (auto it = gateways_.routing.find(name); it != gateways_.routing.end()) {
      ++((tried.empty() && answered) ? it->second.answered : it->second.failed);
    }
  }
  log::debug("call.end")
      .kv("call_id", cdr.callId)
      .kv("reason", reasonName(cdr.reason))
      .kv("code", cdr.finalCode)
      .kv("caller", cdr.caller)
      .kv("callee", cdr.callee)
      .kv("source", cdr.sourceAddress)
      .kv("mapping_gateway", cdr.mappingGateway)
      .kv("routing_gateway", cdr.routingGateway)
      .kv("duration_ms", cdr.durationMs);
  sink_.submit(std::move(cdr));
}

void CdrRecorder::reject(const sip::Message& request, const transport::Flow& from,
                         const std::string& gateway, int code, TerminationReason reason,
                         const CallNumbers* numbers) {
  Cdr cdr;
  cdr.callId = std::string(request.callId());
  cdr.startUs = cdr.endUs = clock_.wallMicros();
  CallNumbers n = numbers ? *numbers : normalizedNumbers(request, settings_.numbers);
  cdr.caller = std::move(n.caller);
  cdr.callee = std::move(n.callee);
  cdr.callerRaw = std::move(n.callerRaw);
  cdr.calleeRaw = std::move(n.calleeRaw);
  cdr.sourceAddress = from.remote.toString();
  cdr.transport = std::string(transport::protocolParam(from.protocol));
  cdr.mappingGateway = gateway;
  cdr.finalCode = code;
  cdr.reason = reason;
  submit(std::move(cdr));
}

void CdrRecorder::illegalCall(const sip::Message& request, const transport::Flow& from, int code,
                              TerminationReason reason) {
  if (takeIllegalCdrToken()) {
    reject(request, from, "", code, reason);
  } else {
    ++stats_.illegalCdrsSuppressed;
  }
}

void CdrRecorder::shedCall(std::string_view raw, const transport::Flow& from,
                           const std::string& gateway, int code) {
  if (!takeIllegalCdrToken()) {
    ++stats_.illegalCdrsSuppressed;
    return;
  }
  auto parsed = sip::Message::parse(std::string(raw));
  if (!parsed.ok()) return;  // the parser's own counters see it if it is retried
  reject(*parsed.value(), from, gateway, code, TerminationReason::Overload);
}

void CdrRecorder::malformedInvite(const transport::Flow& from, const std::string& gateway,
                                  int status) {
  Cdr cdr;
  cdr.startUs = cdr.endUs = clock_.wallMicros();
  cdr.sourceAddress = from.remote.toString();
  cdr.transport = std::string(transport::protocolParam(from.protocol));
  cdr.mappingGateway = gateway;
  cdr.finalCode = status;
  cdr.reason = status == 483 ? TerminationReason::TooManyHops : TerminationReason::BadRequest;
  submit(std::move(cdr));
}

bool CdrRecorder::takeIllegalCdrToken() {
  return illegalBucket_.tryTake(loop_.now(), settings_.illegalCdrRate, settings_.illegalCdrBurst);
}

void CdrRecorder::setGateways(const std::vector<std::string>& mapping,
                              const std::vector<std::string>& routing) {
  // The maps stay bounded by provisioning.
  auto sync = [](std::unordered_map<std::string, GatewayCounters>& m,
                 const std::vector<std::string>& names) {
    std::unordered_map<std::string, GatewayCounters> next;
    next.reserve(names.size());
    for (const std::string& n : names) {
      auto it = m.find(n);
      next.emplace(n, it != m.end() ? it->second : GatewayCounters{});
    }
    m.swap(next);
  };
  sync(gateways_.mapping, mapping);
  sync(gateways_.routing, routing);
}

void CdrRecorder::countMappingAttempt(const std::string& gateway) {
  if (auto it = gateways_.mapping.find(gateway); it != gateways_.mapping.end()) {
    ++it->second.attempts;
  }
}

void CdrRecorder::countRoutingAttempt(const std::string& gateway) {
  if (auto it = gateways_.routing.find(gateway); it != gateways_.routing.end()) {
    ++it->second.attempts;
  }
}

}  // namespace tollgate::call
