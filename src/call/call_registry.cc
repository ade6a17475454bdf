// The live calls of one worker. See call_registry.h.
#include "call/call_registry.h"

#include <algorithm>

#include "call/cdr_recorder.h"
#include "common/log.h"

namespace tollgate::call {

CallRegistry::CallRegistry(CallServices& services) : s_(services) {
  s_.loop.addFlushHook([this] { deadCalls_.clear(); });
}

CallRegistry::~CallRegistry() {
  deadCalls_.clear();
  calls_.clear();
}

Call& CallRegistry::open(admission::CallTicket&& ticket, const net::IpAddress& source) {
  const uint64_t id = nextCallId_++;
  auto call = std::make_unique<Call>(s_, *this, id);
  Call& c = *call;
  calls_.emplace(id, std::move(call));
  s_.stats.activeCalls = calls_.size();
  c.setTicket(std::move(ticket));
  // Before start(): a call may end inside it (no route), and the close must
  // follow the open.
  c.source = source;
  if (occupancy_) occupancy_->opened(OccupancyKind::Dialog, c.source);
  return c;
}

CallRegistry::TagMatch CallRegistry::byTag(std::string_view tag) const {
  auto it = byTag_.find(std::string(tag));
  if (it == byTag_.end()) return {};
  Call* c = it->second;
  return {c, it->first == c->a().localTag ? Side::A : Side::B};
}

Call* CallRegistry::byInvite(txn::TxnId invite) const {
  auto it = byAInvite_.find(invite);
  return it == byAInvite_.end() ? nullptr : it->second;
}

std::vector<LiveCall> CallRegistry::liveCalls(size_t limit) const {
  std::vector<LiveCall> out;
  out.reserve(std::min(limit, calls_.size()));
  for (const auto& [id, c] : calls_) {
    if (c->ended()) continue;
    out.push_back(c->live());
  }
  std::sort(out.begin(), out.end(),
            [](const LiveCall& a, const LiveCall& b) { return a.id < b.id; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

bool CallRegistry::endCall(uint64_t id, TerminationReason reason) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second->ended()) return false;
  log::info("call.ended_by_operator").kv("id", id).kv("call_id", it->second->a().callId);
  it->second->hangup(reason);
  return true;
}

GatewayStats CallRegistry::gatewayStats() const {
  GatewayStats g = s_.cdrs.gateways();
  for (auto& [name, c] : g.mapping) c.active = 0;
  for (auto& [name, c] : g.routing) c.active = 0;
  for (const auto& [id, c] : calls_) {
    if (c->ended()) continue;
    const Cdr& cdr = c->cdr();
    if (auto it = g.mapping.find(cdr.mappingGateway); it != g.mapping.end()) ++it->second.active;
    if (auto it = g.routing.find(cdr.routingGateway); it != g.routing.end()) ++it->second.active;
  }
  return g;
}

void CallRegistry::hangupAll() {
  std::vector<Call*> live;
  for (auto& [id, c] : calls_) {
    if (!c->ended()) live.push_back(c.get());
  }
  for (Call* c : live) c->hangup(TerminationReason::Draining);
}

void CallRegistry::onEnded(Call& call, bool answered, TerminationReason reason) {
  s_.policy.releaseCarrier(call.carrierHandle());
  call.carrierHandle() = admission::CallLimits::kNone;
  // Input of the no-answer rule: the call reached a carrier and the callee
  // did not take it. Our own refusals and route failures say nothing about
  // the callee.
  const bool unanswered =
      !answered &&
      (reason == TerminationReason::NoAnswer || reason == TerminationReason::Busy ||
       reason == TerminationReason::Cancelled || reason == TerminationReason::Rejected);
  const Cdr& cdr = call.cdr();
  std::vector<admission::Listing> listings;
  s_.policy.onEnded(call.ticket(), cdr.mappingGateway, cdr.caller, cdr.callee, unanswered,
                    cdr.durationMs, s_.clock.wallMicros(), &listings);
  applyListings(listings);
}

void CallRegistry::applyListings(const std::vector<admission::Listing>& listings) {
  if (listings.empty()) return;
  // Copied: cutting calls ends them, which may list more numbers.
  const std::vector<admission::Listing> todo = listings;
  for (const admission::Listing& l : todo) {
    if (l.cutCalls) cutCalls(l.number, l.side);
  }
}

size_t CallRegistry::cutCalls(std::string_view number, admission::NumberSide side) {
  std::vector<uint64_t> victims;
  for (const auto& [id, c] : calls_) {
    if (c->ended()) continue;
    const std::string& n =
        side == admission::NumberSide::Caller ? c->cdr().caller : c->cdr().callee;
    if (n == number) victims.push_back(id);
  }
  const TerminationReason why = side == admission::NumberSide::Caller
                                    ? TerminationReason::CallerBlacklisted
                                    : TerminationReason::CalleeBlacklisted;
  size_t n = 0;
  for (uint64_t id : victims) {
    auto it = calls_.find(id);
    if (it == calls_.end() || it->second->ended()) continue;
    it->second->hangup(why, s_.policy.settings().blockedCode);
    ++n;
  }
  if (n > 0) {
    s_.policy.stats().cutCalls += n;
    log::warn("blacklist.calls_cut")
        .kv("number", number)
        .kv("side", admission::sideName(side))
        .kv("calls", n);
  }
  return n;
}

void CallRegistry::registerTag(const std::string& tag, Call* call) {
  byTag_[tag] = call;
}

void CallRegistry::unregisterTag(const std::string& tag) {
  if (!tag.empty()) byTag_.erase(tag);
}

void CallRegistry::registerInvite(txn::TxnId invite, Call* call) {
  byAInvite_[invite] = call;
}

void CallRegistry::forgetInvite(txn::TxnId invite) {
  byAInvite_.erase(invite);
}

void CallRegistry::finish(Call* call) {
  unregisterTag(call->a().localTag);
  unregisterTag(call->b().localTag);
  byAInvite_.erase(call->aInvite());
  auto it = calls_.find(call->id());
  if (it != calls_.end()) {
    if (occupancy_) occupancy_->closed(OccupancyKind::Dialog, call->source);
    deadCalls_.push_back(std::move(it->second));
    calls_.erase(it);
  }
  s_.stats.activeCalls = calls_.size();
}

}  // namespace tollgate::call
