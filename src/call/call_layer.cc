// The worker's call layer and its peers, wired. See call_layer.h.
#include "call/call_layer.h"

namespace tollgate::call {

CallLayer::CallLayer(CallLayerSettings s, EventLoop& loop, txn::TransactionLayer& txns,
                     CdrSink& cdrSink, Random& random, const Clock& clock)
    : all(std::move(s)),
      settings(all.call),
      local(txns.transport(), settings.advertisedAddress),
      authenticator(random, clock, all.auth),
      carrierDigest(random),
      registrar(loop, txns, clock, random, all.registrar,
                [this](transport::ListenerId l) { return local.hostPort(l); }),
      outbound(loop, txns, clock, random, carrierDigest, settings.userAgent,
               [this](transport::ListenerId l) { return local.hostPort(l); }),
      policy(all.policy),
      carriers(loop, txns, random, all.carriers,
               [this](transport::ListenerId l) { return local.hostPort(l); }),
      cdrs(loop, clock, cdrSink, settings, stats),
      media(all.media, loop, random),
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
               .stats = stats,
               .media = media.enabled() ? &media : nullptr,
               .mediaSettings = &all.media},
      calls(services),
      router(services, calls, authenticator, outbound) {}

}  // namespace tollgate::call
