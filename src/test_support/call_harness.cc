// The call layer on a loopback stack with a manual clock. See call_harness.h.
#include "test_support/call_harness.h"

#include <algorithm>

namespace tollgate::test_support {

namespace {

// settle(): turns in a row that move nothing before the wire counts as
// quiet (a posted function or a flush hook may need one more turn), and
// the most turns it runs (a retransmission storm must not hang a test).
constexpr int kQuietTurns = 3;
constexpr int kMaxSettleTurns = 200;

}  // namespace

void CapturedCdrs::submit(call::Cdr&& cdr) {
  std::lock_guard<std::mutex> lock(mu_);
  cdrs_.push_back(std::move(cdr));
}

std::vector<call::Cdr> CapturedCdrs::all() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cdrs_;
}

size_t CapturedCdrs::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cdrs_.size();
}

CallHarness::CallHarness(txn::TimerSettings timers)
    : loop(clock), transport(loop, sink), txns(loop, transport, random, timers) {
  sink.target = &txns;
  auto spec = transport::parseListenSpec("udp:127.0.0.1:0");
  if (!spec || !transport.listen(*spec).ok()) std::abort();
  port = transport.listeners().front().address.port();
}

CallHarness::~CallHarness() {
  layer_.reset();
}

void CallHarness::start(const admission::Provisioning& p, CallLayerSettings s) {
  layer_.reset();
  layer_ = std::make_unique<TestCallLayer>(std::move(s), loop, txns, cdrs, random, clock);
  layer_->router.setSnapshot(std::make_shared<const call::Snapshot>(
      p, 1, "", std::vector<admission::NumberList>{}, layer_->settings.numbers));
  settle();
}

void CallHarness::settle() {
  int quiet = 0;
  for (int turn = 0; turn < kMaxSettleTurns && quiet < kQuietTurns; ++turn) {
    loop.runOnce(Millis(0));
    bool moved = false;
    for (LoopbackPeer* p : peers_) moved = !p->receive().empty() || moved;
    quiet = moved ? 0 : quiet + 1;
  }
}

void CallHarness::advance(Millis d, Millis step) {
  settle();
  while (d.count() > 0) {
    const Millis by = std::min(d, step);
    clock.advance(by);
    d -= by;
    settle();
  }
}

bool CallHarness::advanceUntil(const std::function<bool()>& pred, Millis limit, Millis step) {
  settle();
  while (!pred() && limit.count() > 0) {
    const Millis by = std::min(limit, step);
    clock.advance(by);
    limit -= by;
    settle();
  }
  return pred();
}

}  // namespace tollgate::test_support
