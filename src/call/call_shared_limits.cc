// Call setup against the limits shared across nodes (cluster/shared_limits.h,
// docs/cluster.md). The local CallPolicy has already admitted the call on
// this node's own counts (and, while Redis is down under local_share, on
// this node's share of each limit); with the link up, one verdict in Redis
// judges the mapping gateway and its account against every live node's
// calls, and in the same exchange takes the first of the carriers (that
// pass their local checks) with a free channel and a token. The caller's
// INVITE has had its 100 Trying; the worker serves other calls meanwhile.
// A failover asks again for the remaining carriers. Without a reply (link
// down, timeout) cluster.down_rule decides. See call.h.
#include <algorithm>
#include <cmath>

#include "call/call.h"
#include "call/call_registry.h"
#include "cluster/shared_limits.h"
#include "common/log.h"

namespace tollgate::call {

namespace {

using admission::CallLimits;

cluster::SharedLimit limitOf(const CallLimits& limits, CallLimits::Handle h) {
  const admission::CallLimitsSpec& spec = limits.spec(h);
  return cluster::SharedLimit{.key = limits.name(h),
                              .maxConcurrent = spec.maxConcurrent,
                              .cps = spec.cps,
                              .burst = spec.cps > 0 ? CallLimits::burstOf(spec) : 0.0};
}

}  // namespace

bool Call::sharedCarriers() const {
  return s_.sharedLimits != nullptr && !sharedBypass_ && !toAccount_ && s_.sharedLimits->shared();
}

bool Call::sharedStart() {
  cluster::SharedLimits* sl = s_.sharedLimits;
  if (sl == nullptr) return false;
  sharedOnNoCarrier_ = [this] { sharedNoCarrier(); };
  if (!sl->shared()) {
    if (sl->downRule() == cluster::DownRule::Refuse) {
      sl->countFallback(false);
      failCall(503, "Service Unavailable", TerminationReason::ClusterUnavailable);
      return true;
    }
    // local_share: CallPolicy admitted it on this node's share.
    sl->countFallback(true);
    sharedAdmitted_ = true;
    return false;
  }
  if (ticket_.gateway == CallLimits::kNone && ticket_.account == CallLimits::kNone) {
    sharedAdmitted_ = true;  // nothing of the admission is limited
    return false;            // carriers (if limited) get their verdict in nextAttempt()
  }
  sharedAdmissionDue_ = true;
  if (!sharedNext()) sharedNoCarrier();
  return true;
}

bool Call::sharedNext() {
  const CallLimits& limits = s_.policy.limits();
  for (;;) {
    // The carriers that pass their local checks, in route order, up to the
    // first without limits (always has room: the fallback).
    sharedRoutes_.clear();
    sharedHandles_.clear();
    sharedFallback_ = -1;
    size_t i = nextRoute_;
    if (!toAccount_) {
      for (; i < routes_.size() && attempts_ < s_.settings.switchLimit &&
             sharedRoutes_.size() < cluster::kMaxCandidates;
           ++i) {
        const Target& r = routes_[i];
        if (!s_.carriers.available(r.name)) {
          skippedUnavailable_ = true;
          continue;
        }
        using CC = admission::CallPolicy::CarrierCheck;
        CallLimits::Handle h = CallLimits::kNone;
        CC cc = s_.policy.checkCarrier(r.name, cdr_.caller, cdr_.callee, s_.loop.now(), &h,
                                       identities_);
        if (cc != CC::Ok) {
          carrierSkipped(r, cc);
          continue;
        }
        if (h == CallLimits::kNone) {
          sharedFallback_ = static_cast<int>(i);
          break;
        }
        sharedRoutes_.push_back(i);
        sharedHandles_.push_back(h);
      }
    }
    sharedScanEnd_ = sharedFallback_ >= 0 ? static_cast<size_t>(sharedFallback_) + 1 : i;

    if (!sharedAdmissionDue_ && sharedRoutes_.empty()) {
      // Nothing to ask Redis about.
      nextRoute_ = sharedScanEnd_;
      if (sharedFallback_ < 0) return false;
      ++attempts_;
      if (startAttempt(routes_[static_cast<size_t>(sharedFallback_)])) return true;
      continue;
    }

    std::vector<cluster::SharedLimit> required;
    if (sharedAdmissionDue_) {
      for (CallLimits::Handle h : {ticket_.gateway, ticket_.account}) {
        if (h != CallLimits::kNone) required.push_back(limitOf(limits, h));
      }
    }
    std::vector<cluster::SharedLimit> candidates;
    candidates.reserve(sharedHandles_.size());
    for (CallLimits::Handle h : sharedHandles_) candidates.push_back(limitOf(limits, h));
    sharedVerdict_ = s_.sharedLimits->ask(
        required, candidates, [this](const cluster::SharedVerdict& v) { onSharedVerdict(v); });
    if (sharedVerdict_ == 0) {
      // The link went down since shared() said up: the down rule, now.
      onSharedVerdict(cluster::SharedVerdict{.kind = cluster::SharedVerdict::Kind::NoReply});
    }
    return true;
  }
}

void Call::onSharedVerdict(const cluster::SharedVerdict& v) {
  using Kind = cluster::SharedVerdict::Kind;
  sharedVerdict_ = 0;
  if (state_ == State::Ended || cancelled_) return;
  cluster::SharedLimits& sl = *s_.sharedLimits;
  if (sharedAdmissionDue_) {
    sharedAdmissionDue_ = false;
    if (v.kind == Kind::Concurrency || v.kind == Kind::Rate) {
      sharedRefuse(v);
      return;
    }
    if (v.kind == Kind::NoReply) {
      if (sl.downRule() == cluster::DownRule::Refuse) {
        sl.countFallback(false);
        failCall(503, "Service Unavailable", TerminationReason::ClusterUnavailable);
        return;
      }
      // local_share: this node's share of the channels, counting this call
      // (CallPolicy judged it against the whole limit while the link was up).
      const CallLimits& limits = s_.policy.limits();
      const size_t nodes = s_.cluster != nullptr ? s_.cluster->liveNodes() : 1;
      if (limits.overShare(ticket_.gateway, nodes) || limits.overShare(ticket_.account, nodes)) {
        sl.countFallback(false);
        sharedRefuse(cluster::SharedVerdict{.kind = Kind::Concurrency});
        return;
      }
      sl.countFallback(true);  // admitted on this node's own counts
    }
    sharedAdmitted_ = true;
  }
  if (v.kind == Kind::NoReply) {
    // Carriers on this node's own counts for the rest of this call.
    sharedBypass_ = true;
    if (!nextAttempt()) sharedOnNoCarrier_();
    return;
  }
  if (v.candidate >= 0 && static_cast<size_t>(v.candidate) < sharedRoutes_.size()) {
    const auto c = static_cast<size_t>(v.candidate);
    // The candidates before it were full across the nodes.
    if (c > 0) {
      skippedUnavailable_ = true;
      s_.policy.stats().carrierFull += c;
    }
    const size_t route = sharedRoutes_[c];
    nextRoute_ = route + 1;
    carrier_ = sharedHandles_[c];
    s_.policy.takeCarrier(carrier_, s_.loop.now());
    ++attempts_;
    if (startAttempt(routes_[route])) return;
    releaseCarrier();
  } else {
    if (!sharedRoutes_.empty()) {
      skippedUnavailable_ = true;
      s_.policy.stats().carrierFull += sharedRoutes_.size();
    }
    nextRoute_ = sharedScanEnd_;
    if (sharedFallback_ >= 0) {
      ++attempts_;
      if (startAttempt(routes_[static_cast<size_t>(sharedFallback_)])) return;
    }
  }
  if (!nextAttempt()) sharedOnNoCarrier_();
}

void Call::sharedRefuse(const cluster::SharedVerdict& v) {
  // Today's codes and reasons: the limit is the same, only counted wider.
  const bool rate = v.kind == cluster::SharedVerdict::Kind::Rate;
  const admission::Refusal r =
      rate ? admission::Refusal::CpsLimit : admission::Refusal::ConcurrentLimit;
  ++s_.policy.stats().refused[static_cast<size_t>(r)];
  const int code = rate ? 503 : s_.policy.settings().concurrentLimitCode;
  std::vector<sip::ExtraHeader> extra;
  std::string retryAfter;
  if (rate) {
    // Whole seconds, at least 1 (RFC 3261 §20.33).
    retryAfter = std::to_string(std::max<int64_t>(1, (v.retryAfter.count() + 999) / 1000));
    extra.push_back({"Retry-After", retryAfter});
  }
  log::debug("call.refused_shared")
      .kv("call_id", cdr_.callId)
      .kv("reason", rate ? "cps_limit" : "concurrent_limit")
      .kv("gateway", cdr_.mappingGateway);
  s_.txns.respond(aInvite_, code, "", a_.localTag, extra);
  cdr_.finalCode = code;
  end(rate ? TerminationReason::CpsLimit : TerminationReason::ConcurrentLimit, HangupSide::None);
}

void Call::releaseCarrier() {
  if (carrier_ == CallLimits::kNone) return;
  if (s_.sharedLimits != nullptr) {
    const std::string_view key[] = {s_.policy.limits().name(carrier_)};
    s_.sharedLimits->release(key);
  }
  s_.policy.releaseCarrier(carrier_);
  carrier_ = CallLimits::kNone;
}

void Call::sharedEnd() {
  if (s_.sharedLimits == nullptr) return;
  if (sharedVerdict_ != 0) {
    s_.sharedLimits->cancel(sharedVerdict_);
    sharedVerdict_ = 0;
  }
  releaseCarrier();
  if (sharedAdmitted_) {
    sharedAdmitted_ = false;
    const CallLimits& limits = s_.policy.limits();
    std::vector<std::string_view> keys;
    for (CallLimits::Handle h : {ticket_.gateway, ticket_.account}) {
      if (h != CallLimits::kNone) keys.push_back(limits.name(h));
    }
    s_.sharedLimits->release(keys);
  }
}

}  // namespace tollgate::call
