// For unit tests of the call layer: one worker's call layer
// (call/call_layer.h, the node's own wiring), each part with settings the
// test chooses, on a real EventLoop, a real UDP Transport on 127.0.0.1 and
// a real TransactionLayer, driven by a ManualClock: a test moves time with
// advance() and every timer (RFC 3261 A-K, setup, ring, max duration) fires
// exactly when due, without sleeping. CDRs are captured as the CdrRecorder
// hands them to its sink. LoopbackPeers play the customer and carriers;
// settle() runs the loop until the wire is quiet and collects what each
// peer received. Confined to its worker: the test's thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "admission/call_policy.h"
#include "auth/authenticator.h"
#include "auth/digest_client.h"
#include "call/call_layer.h"
#include "call/call_registry.h"
#include "call/carrier_monitor.h"
#include "call/carrier_requests.h"
#include "call/cdr.h"
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
#include "test_support/loopback_peer.h"
#include "transport/forwarding_sink.h"
#include "transport/transport.h"
#include "txn/transaction_layer.h"

namespace tollgate::test_support {

// The call layer of one worker, wired exactly as the node wires it.
using CallLayerSettings = call::CallLayerSettings;
using TestCallLayer = call::CallLayer;

// The CdrSink: keeps every CDR it is handed.
class CapturedCdrs final : public call::CdrSink {
 public:
  void submit(call::Cdr&& cdr) override;
  std::vector<call::Cdr> all() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<call::Cdr> cdrs_;
};

class CallHarness {
 public:
  // Timers at RFC 3261's defaults unless given: time costs nothing here.
  explicit CallHarness(txn::TimerSettings timers = {});
  ~CallHarness();
  CallHarness(const CallHarness&) = delete;
  CallHarness& operator=(const CallHarness&) = delete;

  // Builds the call layer (again: the previous one is destroyed first)
  // and installs `p` as its first snapshot.
  void start(const admission::Provisioning& p, CallLayerSettings s = {});
  TestCallLayer& layer() { return *layer_; }

  // The peers settle() collects for.
  void addPeer(LoopbackPeer& peer) { peers_.push_back(&peer); }
  // Runs loop turns without waiting, receiving on every peer, until a few
  // turns in a row move nothing (bounded).
  void settle();
  // Moves the clock by `d` in steps of at most `step`, settling after each,
  // so timers fire in order, each at its deadline.
  void advance(Millis d, Millis step = Millis(10));
  // settle(), then advance in `step`s until pred() or `limit` of manual time.
  bool advanceUntil(const std::function<bool()>& pred, Millis limit, Millis step = Millis(10));

  ManualClock clock;
  SeededRandom random{42};
  EventLoop loop;
  transport::ForwardingSink sink;
  transport::Transport transport;
  txn::TransactionLayer txns;
  CapturedCdrs cdrs;
  uint16_t port = 0;  // our UDP listener on 127.0.0.1

 private:
  std::unique_ptr<TestCallLayer> layer_;
  std::vector<LoopbackPeer*> peers_;
};

}  // namespace tollgate::test_support
