// The SIP worker's transaction user (RFC 3261 §5: everything above the
// transaction layer), built and wired in dependency order: first the peers the call layer works
// with — the digest authenticator, the digest client for carriers' challenges, the registrar and
// the outbound registrations, the call policy, the carrier monitor — then the call layer itself:
// the CDR recorder, the carrier requests, the live-call registry and the request router, which
// becomes the transaction layer's user. Each part gets its own settings struct (CallLayerSettings;
// app fills them from the node's Config, unit tests choose them). The one
// wiring of the call layer: the node (app/node.cc) and the call-layer unit
// tests (test_support/call_harness.h) both build this. Destroyed in reverse: the router first (no
// more requests), then the calls, then the peers. Built, used and destroyed
// on the worker: confined to its worker.
#pragma once

#include "admission/call_policy.h"
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
#include "media/media_settings.h"
#include "media/ng_client.h"
#include "registrar/outbound.h"
#include "registrar/registrar.h"
#include "txn/transaction_layer.h"

namespace tollgate::call {

// The settings of the call layer and of each peer wired to it.
struct CallLayerSettings {
  CallSettings call;
  auth::AuthSettings auth;
  registrar::RegistrarSettings registrar;
  admission::PolicySettings policy;
  CarrierMonitorSettings carriers;
  media::MediaSettings media;
};

struct CallLayer {
  CallLayer(CallLayerSettings s, EventLoop& loop, txn::TransactionLayer& txns, CdrSink& cdrSink,
            Random& random, const Clock& clock);
  CallLayer(const CallLayer&) = delete;
  CallLayer& operator=(const CallLayer&) = delete;

  const CallLayerSettings all;
  const CallSettings& settings;  // all.call
  call::CallStats stats;
  call::LocalAddress local;
  auth::DigestAuthenticator authenticator;
  auth::DigestClient carrierDigest;
  registrar::Registrar registrar;
  registrar::OutboundRegistrations outbound;
  admission::CallPolicy policy;
  call::CarrierMonitor carriers;
  call::CdrRecorder cdrs;
  // After the CDR recorder: a relayed call's CDR waits for its figures in
  // the client's callbacks, which run (without figures) when it is destroyed.
  media::NgClient media;
  call::CarrierRequests carrierRequests;
  call::CallServices services;
  call::CallRegistry calls;
  call::RequestRouter router;
};

}  // namespace tollgate::call
