// The worker's call layer and its peers, wired. See call_layer.h.
#include "app/call_layer.h"

namespace tollgate::app {

CallLayer::CallLayer(const Config& config, EventLoop& loop, txn::TransactionLayer& txns,
                     call::CdrSink& cdrSink, Random& random, const Clock& clock)
    : settings(config.call),
      local(txns.transport(), settings.advertisedAddress),
      authenticator(random, clock, config.auth),
      carrierDigest(random),
      registrar(loop, txns, clock, random, config.registrar,
                [this](transport::ListenerId l) { return local.hostPort(l); }),
      outbound(loop, txns, clock, random, carrierDigest, settings.userAgent,
               [this](transport::ListenerId l) { return local.hostPort(l); }),
      policy(config.policy),
      carriers(loop, txns, random, config.carrierMonitor,
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
