// Admission order and carrier checks. See call_policy.h.
#include "admission/call_policy.h"

#include <algorithm>

#include "common/log.h"

namespace tollgate::admission {

namespace {
std::string limitKey(char kind, std::string_view name) {
  std::string k(1, kind);
  k += ':';
  k.append(name);
  return k;
}
}  // namespace

PolicySnapshot::PolicySnapshot(const Provisioning& p, const std::vector<NumberList>& lists,
                               const NumberSettings& numbers)
    : lists_(lists, numbers), fraudRules_(p.fraudRules), problems_(lists_.problems()) {
  // A fraud prefix is a prefix pattern without its '*'.
  for (FraudRule& r : fraudRules_) {
    for (std::string& prefix : r.prefixes) {
      const std::string pattern = prefix + "*";
      if (std::string problem = patternFormProblem(pattern, numbers); !problem.empty()) {
        problems_.push_back("fraud rule " + r.name + ": prefix " + problem);
      }
      prefix = normalizePattern(pattern, numbers);
      prefix.pop_back();
    }
  }
  std::unordered_map<std::string, size_t, StringHash, StringEq> accountIndex;
  auto bind = [&](const std::string& owner, const NumberListRefs& refs) {
    std::vector<std::string> missing;
    ListBinding b = bindLists(lists_, refs, &missing);
    for (const std::string& m : missing) {
      problems_.push_back(owner + ": number list \"" + m +
                          "\" does not exist (or cannot be attached)");
    }
    return b;
  };
  for (const Account& a : p.accounts) {
    Owner o;
    o.name = a.name;
    o.limits = a.limits;
    o.maxDurationS = a.maxDuration;
    o.lists = bind("account " + a.name, a.lists);
    o.dynamicBlacklist = a.dynamicBlacklist;
    o.subject = "account:" + a.name;
    accountIndex.emplace(a.name, accounts_.size());
    accounts_.push_back(std::move(o));
  }
  for (const MappingGateway& g : p.mappingGateways) {
    Owner o;
    o.name = g.name;
    o.limits = g.policy.limits;
    o.maxDurationS = g.policy.maxDuration;
    o.lists = bind("mapping gateway " + g.name, g.policy.lists);
    o.dynamicBlacklist = g.policy.dynamicBlacklist;
    o.subject = "gateway:" + g.name;
    if (!g.policy.account.empty()) {
      auto it = accountIndex.find(g.policy.account);
      if (it == accountIndex.end()) {
        problems_.push_back("mapping gateway " + g.name + ": account \"" + g.policy.account +
                            "\" does not exist");
      } else {
        o.account = static_cast<int>(it->second);
      }
    }
    mappingIndex_.emplace(g.name, mappings_.size());
    mappings_.push_back(std::move(o));
  }
  for (const RoutingGateway& g : p.routingGateways) {
    Owner o;
    o.name = g.name;
    o.limits = g.policy.limits;
    o.lists = bind("routing gateway " + g.name, g.policy.lists);
    routingIndex_.emplace(g.name, routings_.size());
    routings_.push_back(std::move(o));
  }
}

const PolicySnapshot::Owner* PolicySnapshot::mapping(std::string_view name, size_t* index) const {
  auto it = mappingIndex_.find(name);
  if (it == mappingIndex_.end()) return nullptr;
  if (index) *index = it->second;
  return &mappings_[it->second];
}

const PolicySnapshot::Owner* PolicySnapshot::routing(std::string_view name, size_t* index) const {
  auto it = routingIndex_.find(name);
  if (it == routingIndex_.end()) return nullptr;
  if (index) *index = it->second;
  return &routings_[it->second];
}

CallPolicy::CallPolicy(PolicySettings settings, BlacklistPersistence* persistence)
    : settings_(std::move(settings)),
      snap_(std::make_shared<PolicySnapshot>()),
      blacklist_(settings_.blacklist, persistence) {}

void CallPolicy::setSnapshot(std::shared_ptr<const PolicySnapshot> snap, MonoTime now) {
  if (!snap) snap = std::make_shared<PolicySnapshot>();
  limits_.beginReload();
  mappingHandles_.clear();
  accountHandles_.clear();
  routingHandles_.clear();
  auto handle = [&](char kind, const PolicySnapshot::Owner& o) {
    const CallLimitsSpec& l = o.limits;
    if (l.cps <= 0 && l.maxConcurrent <= 0) return CallLimits::kNone;  // nothing to count
    return limits_.configure(limitKey(kind, o.name), l, now);
  };
  for (const auto& o : snap->mappings()) mappingHandles_.push_back(handle('m', o));
  for (const auto& o : snap->accounts()) accountHandles_.push_back(handle('a', o));
  for (const auto& o : snap->routings()) routingHandles_.push_back(handle('r', o));
  limits_.endReload();
  fraud_.configure(snap->fraudRules());
  for (const std::string& p : snap->problems()) {
    log::warn("policy.unresolved_reference").kv("problem", p);
  }
  snap_ = std::move(snap);
}

bool CallPolicy::watched(const PolicySnapshot::Owner& gw) const {
  if (!settings_.blacklist.perGateway) return true;
  if (gw.dynamicBlacklist) return true;
  return gw.account >= 0 && snap_->accounts()[static_cast<size_t>(gw.account)].dynamicBlacklist;
}

PolicyDecision CallPolicy::admit(std::string_view gateway, std::string_view caller,
                                 std::string_view callee, MonoTime now, int64_t wallUs,
                                 CallTicket* t, std::vector<Listing>* listings,
                                 std::span<const std::string> identities) {
  *t = CallTicket{};
  auto refuse = [&](Refusal r, int code, std::string_view by) {
    ++stats_.refused[static_cast<size_t>(r)];
    return PolicyDecision{r, code, 0, by};
  };
  size_t gwIndex = 0;
  const PolicySnapshot::Owner* gw = snap_->mapping(gateway, &gwIndex);
  const PolicySnapshot::Owner* acc =
      gw && gw->account >= 0 ? &snap_->accounts()[static_cast<size_t>(gw->account)] : nullptr;

  // 1. Static number lists: the gateway's, then its account's.
  for (const PolicySnapshot::Owner* o : {gw, acc}) {
    if (o == nullptr || o->lists.empty()) continue;
    switch (checkLists(o->lists, caller, callee)) {
      case ListVerdict::CallerBlocked:
        return refuse(Refusal::CallerBlacklisted, settings_.blockedCode, o->name);
      case ListVerdict::CalleeBlocked:
        return refuse(Refusal::CalleeBlacklisted, settings_.blockedCode, o->name);
      case ListVerdict::Pass:
        break;
    }
    for (const std::string& id : identities) {
      if (checkLists(o->lists, id, callee) == ListVerdict::CallerBlocked) {
        return refuse(Refusal::CallerBlacklisted, settings_.blockedCode, o->name);
      }
    }
  }

  // 2. The dynamic blacklist; the system white list beats it.
  t->callerExempt = snap_->lists().systemWhite(caller);
  t->calleeExempt = snap_->lists().systemWhite(callee);
  t->watched = gw == nullptr || watched(*gw);
  if (t->watched) {
    if (!t->callerExempt) {
      auto hit = blacklist_.check(caller, NumberSide::Caller, wallUs);
      if (hit == DynamicBlacklist::Hit::Refuse) {
        return refuse(Refusal::CallerBlacklisted, settings_.blockedCode, "dynamic");
      }
      if (hit == DynamicBlacklist::Hit::CountOnly) ++stats_.wouldRefuseCountOnly;
    }
    for (const std::string& id : identities) {
      if (snap_->lists().systemWhite(id)) continue;
      if (blacklist_.check(id, NumberSide::Caller, wallUs) == DynamicBlacklist::Hit::Refuse) {
        return refuse(Refusal::CallerBlacklisted, settings_.blockedCode, "dynamic");
      }
    }
    if (!t->calleeExempt) {
      auto hit = blacklist_.check(callee, NumberSide::Callee, wallUs);
      if (hit == DynamicBlacklist::Hit::Refuse) {
        return refuse(Refusal::CalleeBlacklisted, settings_.blockedCode, "dynamic");
      }
      if (hit == DynamicBlacklist::Hit::CountOnly) ++stats_.wouldRefuseCountOnly;
    }
    const size_t before = listings->size();
    blacklist_.onAttempt(caller, t->callerExempt, callee, t->calleeExempt, gateway, wallUs,
                         listings);
    for (size_t i = before; i < listings->size(); ++i) {
      const Listing& l = (*listings)[i];
      if (!l.cutCalls) continue;
      // Its live calls are about to be cut; this call would be the first.
      if (l.side == NumberSide::Caller) {
        return refuse(Refusal::CallerBlacklisted, settings_.blockedCode, "dynamic");
      }
      return refuse(Refusal::CalleeBlacklisted, settings_.blockedCode, "dynamic");
    }
    if (!t->callerExempt) {
      if (!blacklist_.onCallStart(caller, gateway, wallUs, listings)) {
        return refuse(Refusal::CallerBlacklisted, settings_.blockedCode, "dynamic");
      }
      t->liveCounted = true;
    }
  }

  // 3. Channels and calls per second, gateway and account together.
  t->gateway = gw ? mappingHandles_[gwIndex] : CallLimits::kNone;
  t->account = acc ? accountHandles_[static_cast<size_t>(gw->account)] : CallLimits::kNone;
  const CallLimits::Handle held[2] = {t->gateway, t->account};
  CallLimits::Decision d = limits_.tryAcquire(held, now);
  if (d.verdict != CallLimits::Verdict::Ok) {
    if (t->liveCounted) blacklist_.onCallEnd(caller);
    t->liveCounted = false;
    std::string_view by =
        d.entity == t->account && acc ? std::string_view(acc->name) : std::string_view(gateway);
    if (d.verdict == CallLimits::Verdict::Concurrency) {
      return refuse(Refusal::ConcurrentLimit, settings_.concurrentLimitCode, by);
    }
    PolicyDecision pd = refuse(Refusal::CpsLimit, 503, by);
    // Whole seconds, at least 1 (RFC 3261 §20.33).
    pd.retryAfterS = static_cast<int>(std::max<int64_t>(1, (d.retryAfter.count() + 999) / 1000));
    return pd;
  }

  // 4. Fraud thresholds, per account (a gateway without one counts alone).
  std::string_view accountName = acc ? std::string_view(acc->name) : std::string_view();
  std::string_view subject = acc  ? std::string_view(acc->subject)
                             : gw ? std::string_view(gw->subject)
                                  : gateway;
  auto fv = fraud_.admit(subject, accountName, callee, wallUs, localTimeOf(wallUs), &t->fraud);
  if (fv.blocked) {
    limits_.release(t->gateway);
    limits_.release(t->account);
    if (t->liveCounted) blacklist_.onCallEnd(caller);
    t->liveCounted = false;
    log::warn("fraud.blocked")
        .kv("rule", fv.rule)
        .kv("subject", subject)
        .kv("measure", measureName(fv.measure))
        .kv("value", fv.value)
        .kv("critical", fv.level)
        .kv("callee", callee);
    return refuse(Refusal::FraudThreshold, settings_.fraudCode, fv.rule);
  }

  int maxDuration = settings_.maxDurationS;
  for (const PolicySnapshot::Owner* o : {gw, acc}) {
    if (o && o->maxDurationS > 0 && (maxDuration == 0 || o->maxDurationS < maxDuration)) {
      maxDuration = o->maxDurationS;
    }
  }
  t->maxDurationS = maxDuration;
  t->admitted = true;
  return {};
}

void CallPolicy::onAnswered(const CallTicket& t, std::string_view callee) {
  if (t.watched && !t.calleeExempt) blacklist_.onAnswered(callee);
}

void CallPolicy::onEnded(CallTicket& t, std::string_view gateway, std::string_view caller,
                         std::string_view callee, bool unanswered, int64_t answeredMs,
                         int64_t wallUs, std::vector<Listing>* listings) {
  if (!t.admitted) return;
  t.admitted = false;
  limits_.release(t.gateway);
  limits_.release(t.account);
  fraud_.onCallEnded(t.fraud, answeredMs, localTimeOf(wallUs));
  if (t.liveCounted) blacklist_.onCallEnd(caller);
  if (t.watched && !t.calleeExempt && unanswered) {
    blacklist_.onUnanswered(callee, gateway, wallUs, listings);
  }
}

CallPolicy::CarrierCheck CallPolicy::acquireCarrier(std::string_view carrier,
                                                    std::string_view caller,
                                                    std::string_view callee, MonoTime now,
                                                    CallLimits::Handle* handle,
                                                    std::span<const std::string> identities) {
  CarrierCheck c = checkCarrier(carrier, caller, callee, now, handle, identities);
  if (c == CarrierCheck::Ok) limits_.acquire(*handle, now);
  return c;
}

CallPolicy::CarrierCheck CallPolicy::checkCarrier(std::string_view carrier, std::string_view caller,
                                                  std::string_view callee, MonoTime now,
                                                  CallLimits::Handle* handle,
                                                  std::span<const std::string> identities) {
  *handle = CallLimits::kNone;
  size_t idx = 0;
  const PolicySnapshot::Owner* o = snap_->routing(carrier, &idx);
  if (o == nullptr) return CarrierCheck::Ok;
  if (!o->lists.empty()) {
    switch (checkLists(o->lists, caller, callee)) {
      case ListVerdict::CallerBlocked:
        ++stats_.carrierListed;
        return CarrierCheck::CallerBlocked;
      case ListVerdict::CalleeBlocked:
        ++stats_.carrierListed;
        return CarrierCheck::CalleeBlocked;
      case ListVerdict::Pass:
        break;
    }
    for (const std::string& id : identities) {
      if (checkLists(o->lists, id, callee) == ListVerdict::CallerBlocked) {
        ++stats_.carrierListed;
        return CarrierCheck::CallerBlocked;
      }
    }
  }
  CallLimits::Handle h = routingHandles_[idx];
  if (h == CallLimits::kNone) return CarrierCheck::Ok;
  if (!limits_.wouldAdmit(h, now)) {
    ++stats_.carrierFull;
    return CarrierCheck::Full;
  }
  *handle = h;
  return CarrierCheck::Ok;
}

}  // namespace tollgate::admission
