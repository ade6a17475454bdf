// The SIP worker's transaction user (RFC 3261 §5: everything above the
// transaction layer), built and wired in dependency order from the node's
// Config: first the peers the call layer works with — the digest
// authenticator, the digest client for carriers' challenges, the registrar
// and the outbound registrations, the call policy, the carrier monitor —
// then the call layer itself: the CDR recorder, the carrier requests, the
// live-call registry and the request router, which becomes the transaction
// layer's user. Each part gets its own settings struct, as the config
// reader filled it (app/config.h). Destroyed in reverse: the router first (no
// more requests), then the calls, then the peers. Built, used and destroyed
// on the worker: confined to its worker.
#pragma once

#include "admission/call_policy.h"
#include "app/config.h"
#include "auth/authenticator.h"
#include "auth/digest_client.h"
#include "call/call_registry.h"
#include "call/carrier_monitor.h"
#include "call/carrier_requests.h"
#include "call/cdr_recorder.h"
#include "call/local_address.h"
#include "call/request_router.h"
#include "call/services.h"
#include "call/settings.h"
#include "call/stats.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/random.h"
#include "registrar/outbound.h"
#include "registrar/registrar.h"
#include "txn/transaction_layer.h"

namespace tollgate::app {

struct CallLayer {
  CallLayer(const Config& config, EventLoop& loop, txn::TransactionLayer& txns,
            call::CdrSink& cdrSink, Random& random, const Clock& clock);
  CallLayer(const CallLayer&) = delete;
  CallLayer& operator=(const CallLayer&) = delete;

  const call::CallSettings settings;
  call::CallStats stats;
  call::LocalAddress local;
  auth::DigestAuthenticator authenticator;
  auth::DigestClient carrierDigest;
  registrar::Registrar registrar;
  registrar::OutboundRegistrations outbound;
  admission::CallPolicy policy;
  call::CarrierMonitor carriers;
  call::CdrRecorder cdrs;
  call::CarrierRequests carrierRequests;
  call::CallServices services;
  call::CallRegistry calls;
  call::RequestRouter router;
};

}  // namespace tollgate::app
