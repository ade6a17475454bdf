// What the request router and the calls of one worker work with: the event
// loop and transaction layer, clock and randomness, the call layer's
// settings and counters, the provisioning snapshot in force, and the peers
// app wires to the layer (registrar, call policy, carrier monitor, digest
// client, CDR recorder). References to objects app owns and that outlive
// every call; only `snapshot` changes, on the worker (RequestRouter::
// setSnapshot). Confined to its worker.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "admission/call_policy.h"
#include "auth/digest_client.h"
#include "call/carrier_monitor.h"
#include "call/settings.h"
#include "call/snapshot.h"
#include "call/stats.h"
#include "cluster/cluster.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/random.h"
#include "media/media_settings.h"
#include "media/ng_client.h"
#include "registrar/peer_bindings.h"
#include "registrar/registrar.h"
#include "sip/checks.h"
#include "txn/transaction_layer.h"

namespace tollgate::cluster {
class SharedLimits;
}

namespace tollgate::call {

class CarrierRequests;
class CdrRecorder;
class LocalAddress;

// Our tags: 12 characters of [0-9a-z] (about 62 bits): unique per leg, and
// what in-dialog requests are matched by (RFC 3261 §19.3 asks for 32 bits).
inline constexpr size_t kTagLength = 12;
// Call-IDs of our outbound legs: 20 characters (about 103 bits, §8.1.1.4).
inline constexpr size_t kCallIdLength = 20;

// Told of each carrier leg a call opens (every attempt: failover opens
// another), so a capture (mgmt/hep.h) can file the carrier leg's messages
// under the caller's Call-ID. Called on the worker; must not re-enter the
// call layer.
class LegObserver {
 public:
  virtual ~LegObserver() = default;
  virtual void onCarrierLeg(std::string_view callerCallId, std::string_view carrierCallId) = 0;
};

// Several observers behind CallServices::legObserver (the HEP capture and
// the SIP trace each keep their own leg table). Set up before the worker
// runs; confined to the worker afterwards.
class LegFanout final : public LegObserver {
 public:
  void add(LegObserver* o) {
    if (o != nullptr) observers_.push_back(o);
  }
  bool empty() const { return observers_.empty(); }
  void onCarrierLeg(std::string_view callerCallId, std::string_view carrierCallId) override {
    for (LegObserver* o : observers_) o->onCarrierLeg(callerCallId, carrierCallId);
  }

 private:
  std::vector<LegObserver*> observers_;
};

struct CallServices {
  EventLoop& loop;
  txn::TransactionLayer& txns;
  const Clock& clock;
  Random& random;
  const CallSettings& settings;
  const LocalAddress& local;
  registrar::Registrar& registrar;
  admission::CallPolicy& policy;
  CarrierMonitor& carriers;
  auth::DigestClient& carrierDigest;
  CarrierRequests& carrierRequests;
  CdrRecorder& cdrs;
  CallStats& stats;
  // Media anchoring (docs/media.md): null = no rtpengine configured.
  media::NgClient* media = nullptr;
  const media::MediaSettings* mediaSettings = nullptr;
  // Registrations held by the other nodes of a cluster, and the
  // authentication of requests between nodes (registrar/peer_bindings.h);
  // null on a single node.
  registrar::PeerBindings* peers = nullptr;
  // The provisioning in force; null before the first is installed.
  std::shared_ptr<const Snapshot> snapshot = nullptr;
  // The checks of a request we forward (a new INVITE, an in-dialog request
  // relayed to the other leg): sip/checks.h; its Allow is what we offer.
  sip::CheckPolicy forwarding{};
  // Null = nobody (no capture).
  LegObserver* legObserver = nullptr;
  // The cluster this node belongs to (docs/cluster.md): null = no [cluster]
  // (a single node; everything stays local). Set by app before the worker
  // runs; lives as long as the call layer.
  cluster::Cluster* cluster = nullptr;
  // Channel and rate limits shared with the other nodes of a cluster
  // (cluster/shared_limits.h); null = this node alone.
  cluster::SharedLimits* sharedLimits = nullptr;

  std::string newTag() { return random.token(kTagLength); }
  std::string newCallId() { return random.token(kCallIdLength); }
};

}  // namespace tollgate::call
