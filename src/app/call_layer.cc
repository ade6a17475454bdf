// The worker's call layer and its peers, wired. See call_layer.h.
#include "app/call_layer.h"

namespace tollgate::app {

call::CallSettings callSettings(const Config& c) {
  call::CallSettings s;
  s.unknownSource = c.sip.unknownSource == UnknownSourcePolicy::Reject403
                        ? call::UnknownSourcePolicy::Reject403
                        : call::UnknownSourcePolicy::Drop;
  s.userAgent = c.sip.userAgent;
  s.advertisedAddress = c.sip.advertisedAddress;
  s.ringTimeout = std::chrono::duration_cast<Millis>(c.sip.ringTimeout);
  s.setupTimeout = std::chrono::duration_cast<Millis>(c.routing.setupTimeout);
  s.switchLimit = c.routing.switchLimit;
  s.stopAfterBusy = c.routing.stopAfterBusy;
  s.switchUntilConnect = c.routing.switchUntilConnect;
  s.noRouteCode = c.routing.noRouteCode;
  s.illegalCallCdrs = c.cdr.illegalCalls;
  s.illegalCdrRate = c.cdr.illegalRate;
  s.illegalCdrBurst = c.cdr.illegalBurst;
  s.challenge = c.sip.challenge;
  s.numbers = c.numbers;
  s.tcpCloseReset = c.sip.tcpClose == TcpClose::Reset;
  return s;
}

auth::AuthSettings authSettings(const Config& c) {
  auth::AuthSettings s;
  s.realm = c.sip.domain;
  s.algorithms = c.auth.digestAlgorithms;
  s.nonceLifetime = std::chrono::duration_cast<Millis>(c.auth.nonceLifetime);
  s.digestUriHostOnly = c.auth.digestUriHostOnly;
  s.limits.enabled = c.auth.retryLimits;
  s.limits.maxRetry = static_cast<uint32_t>(c.auth.maxRetry);
  s.limits.sourceMaxRetry = static_cast<uint32_t>(c.auth.sourceMaxRetry);
  s.limits.suspendTime = c.auth.suspendTime;
  s.limits.maxSuspendTime = c.auth.maxSuspendTime;
  s.limits.failureWindow = c.auth.failureWindow;
  return s;
}

registrar::RegistrarSettings registrarSettings(const Config& c) {
  registrar::RegistrarSettings s;
  s.replace = c.registrar.replace;
  s.defaultExpires = c.registrar.defaultExpires;
  s.minExpires = c.registrar.minExpires;
  s.maxExpires = c.registrar.maxExpires;
  s.keepaliveInterval = c.registrar.keepaliveInterval;
  s.userAgent = c.sip.userAgent;
  return s;
}

admission::PolicySettings policySettings(const Config& c) {
  admission::PolicySettings p;
  p.maxDurationS = static_cast<int>(c.policy.maxDuration.count());
  p.durationWarningS = static_cast<int>(c.policy.durationWarning.count());
  p.concurrentLimitCode = c.policy.concurrentLimitCode;
  p.blockedCode = c.policy.blockedCode;
  p.fraudCode = c.policy.fraudCode;
  admission::DynamicBlacklistSettings& b = p.blacklist;
  b.perGateway = c.blacklist.perGateway;
  b.maxEntries = c.blacklist.maxEntries;
  b.maxTrackedNumbers = c.blacklist.maxTrackedNumbers;
  auto rule = [](const BlacklistRuleConfig& in) {
    admission::BlacklistRuleSettings r;
    r.limit = static_cast<uint32_t>(in.limit);
    r.intervalUs = std::chrono::duration_cast<std::chrono::microseconds>(in.interval).count();
    r.expireUs = std::chrono::duration_cast<std::chrono::microseconds>(in.expire).count();
    r.enforce = in.enforce;
    r.cutCalls = in.cutCalls;
    return r;
  };
  b.maliciousCaller = rule(c.blacklist.callerMalicious);
  b.maliciousCallee = rule(c.blacklist.calleeMalicious);
  b.noAnswer = rule(c.blacklist.noAnswer);
  b.callerConcurrent = rule(c.blacklist.callerConcurrent);
  return p;
}

call::CarrierMonitorSettings carrierMonitorSettings(const Config& c) {
  call::CarrierMonitorSettings s;
  s.period = std::chrono::duration_cast<Millis>(c.routing.optionsCheckPeriod);
  s.failureLimit = c.routing.optionsFailureLimit;
  s.userAgent = c.sip.userAgent;
  return s;
}

CallLayer::CallLayer(const Config& config, EventLoop& loop, txn::TransactionLayer& txns,
                     call::CdrSink& cdrSink, Random& random, const Clock& clock)
    : settings(callSettings(config)),
      local(txns.transport(), settings.advertisedAddress),
      authenticator(random, clock, authSettings(config)),
      carrierDigest(random),
      registrar(loop, txns, clock, random, registrarSettings(config),
                [this](transport::ListenerId l) { return local.hostPort(l); }),
      outbound(loop, txns, clock, random, carrierDigest, settings.userAgent,
               [this](transport::ListenerId l) { return local.hostPort(l); }),
      policy(policySettings(config)),
      carriers(loop, txns, random, carrierMonitorSettings(config),
               [this](transport::ListenerId l) { return local.hostPort(l); }),
      cdrs(loop, clock, cdrSink, settings, stats),
      carrierRequests(loop, txns, carrierDigest, stats),
      services{.loop = loop,
               .txns = txns,
               .clock = clock,
               .random = random,
               .settings = settings,
               .local = local,
               .registrar = registrar,
               .policy = policy,
               .carriers = carriers,
               .carrierDigest = carrierDigest,
               .carrierRequests = carrierRequests,
               .cdrs = cdrs,
               .stats = stats},
      calls(services),
      router(services, calls, authenticator, outbound) {}

}  // namespace tollgate::app
