// The dynamic blacklist and its automatic rules. See dynamic_blacklist.h.
#include "admission/dynamic_blacklist.h"

#include <algorithm>

#include "common/log.h"

namespace tollgate::admission {

std::string_view sideName(NumberSide s) {
  return s == NumberSide::Caller ? "caller" : "callee";
}

bool parseSide(std::string_view text, NumberSide* out) {
  if (text == "caller") {
    *out = NumberSide::Caller;
  } else if (text == "callee") {
    *out = NumberSide::Callee;
  } else {
    return false;
  }
  return true;
}

namespace {
constexpr std::string_view kRuleNames[] = {"malicious_caller", "malicious_callee", "no_answer",
                                           "caller_concurrent", "manual"};
// Longest number kept as a key: a From user part can be long, but a key
// longer than this is truncated (an attacker gains nothing by it: the
// truncated number is listed).
constexpr size_t kMaxKeyLength = 64;

std::string_view key(std::string_view number) {
  return number.substr(0, kMaxKeyLength);
}
}  // namespace

std::string_view ruleName(BlacklistRule r) {
  auto i = static_cast<size_t>(r);
  return i < std::size(kRuleNames) ? kRuleNames[i] : "manual";
}

bool parseRule(std::string_view text, BlacklistRule* out) {
  for (size_t i = 0; i < std::size(kRuleNames); ++i) {
    if (kRuleNames[i] == text) {
      *out = static_cast<BlacklistRule>(i);
      return true;
    }
  }
  return false;
}

DynamicBlacklist::DynamicBlacklist(DynamicBlacklistSettings settings,
                                   BlacklistPersistence* persistence)
    : settings_(settings),
      persistence_(persistence),
      callerCalls_(settings.maxTrackedNumbers, StringHash{}),
      calleeCalls_(settings.maxTrackedNumbers, StringHash{}),
      unanswered_(settings.maxTrackedNumbers, StringHash{}) {
  if (settings_.maxEntries == 0) settings_.maxEntries = 1;
}

void DynamicBlacklist::setExpiry(BlacklistEntry& e, int64_t expiresUs) {
  byExpiry_.erase({e.expiresUs, e.side, std::string_view(map(e.side).find(e.number)->first)});
  e.expiresUs = expiresUs;
  byExpiry_.insert({e.expiresUs, e.side, std::string_view(map(e.side).find(e.number)->first)});
}

void DynamicBlacklist::eraseEntry(EntryMap::iterator it, bool persist) {
  BlacklistEntry& e = it->second;
  byExpiry_.erase({e.expiresUs, e.side, std::string_view(it->first)});
  if (persist && persistence_) persistence_->eraseEntry(e.number, e.side);
  map(e.side).erase(it);
}

void DynamicBlacklist::put(const BlacklistEntry& in) {
  BlacklistEntry e = in;
  e.number = std::string(key(e.number));
  EntryMap& m = map(e.side);
  if (auto it = m.find(e.number); it != m.end()) eraseEntry(it, false);
  while (size() >= settings_.maxEntries && !byExpiry_.empty()) {
    auto [exp, side, num] = *byExpiry_.begin();
    eraseEntry(map(side).find(num), true);
    ++stats_.evictedFull;
  }
  auto [it, inserted] = m.emplace(e.number, e);
  byExpiry_.insert({e.expiresUs, e.side, std::string_view(it->first)});
}

void DynamicBlacklist::load(const std::vector<BlacklistEntry>& entries, int64_t nowUs) {
  for (const BlacklistEntry& e : entries) {
    if (e.expiresUs > nowUs) put(e);
  }
}

DynamicBlacklist::Hit DynamicBlacklist::check(std::string_view number, NumberSide side,
                                              int64_t nowUs) {
  EntryMap& m = map(side);
  if (m.empty()) return Hit::None;
  auto it = m.find(key(number));
  if (it == m.end()) return Hit::None;
  BlacklistEntry& e = it->second;
  if (e.expiresUs <= nowUs) {
    ++stats_.expired;
    log::info("blacklist.expired")
        .kv("number", e.number)
        .kv("side", sideName(e.side))
        .kv("rule", ruleName(e.rule));
    eraseEntry(it, true);
    return Hit::None;
  }
  ++e.hits;
  e.lastHitUs = nowUs;
  // "Blacklisted for EXPIRE after its last call": the malicious-call rules
  // keep a number listed while it keeps calling.
  const BlacklistRuleSettings* rs = nullptr;
  if (e.rule == BlacklistRule::MaliciousCaller) rs = &settings_.maliciousCaller;
  if (e.rule == BlacklistRule::MaliciousCallee) rs = &settings_.maliciousCallee;
  if (rs != nullptr && rs->limit > 0 && nowUs + rs->expireUs > e.expiresUs) {
    setExpiry(e, nowUs + rs->expireUs);
  }
  if (persistence_) persistence_->saveEntry(e);
  if (e.enforced) {
    ++stats_.refused;
    return Hit::Refuse;
  }
  ++stats_.wouldRefuse;
  return Hit::CountOnly;
}

void DynamicBlacklist::list(std::string_view number, NumberSide side, BlacklistRule rule,
                            const BlacklistRuleSettings& rs, std::string_view gateway,
                            int64_t nowUs, std::vector<Listing>* out) {
  const std::string_view k = key(number);
  EntryMap& m = map(side);
  auto it = m.find(k);
  if (it != m.end() && it->second.expiresUs > nowUs) {
    // Already listed (a count-only entry, or a race of two rules): an
    // enforcing rule upgrades it; the later expiry wins.
    BlacklistEntry& e = it->second;
    if (rs.enforce && !e.enforced) {
      e.enforced = true;
      e.rule = rule;
    }
    if (nowUs + rs.expireUs > e.expiresUs) setExpiry(e, nowUs + rs.expireUs);
    if (persistence_) persistence_->saveEntry(e);
  } else {
    BlacklistEntry e;
    e.number = std::string(k);
    e.side = side;
    e.rule = rule;
    e.gateway = std::string(gateway);
    e.enforced = rs.enforce;
    e.createdUs = nowUs;
    e.lastHitUs = nowUs;
    e.expiresUs = nowUs + rs.expireUs;
    put(e);
    if (persistence_) persistence_->saveEntry(e);
  }
  ++stats_.listed[static_cast<size_t>(rule)];
  if (!rs.enforce) ++stats_.countOnlyListed;
  log::warn(rs.enforce ? "blacklist.listed" : "blacklist.would_list")
      .kv("number", k)
      .kv("side", sideName(side))
      .kv("rule", ruleName(rule))
      .kv("gateway", gateway)
      .kv("expire_s", rs.expireUs / 1'000'000)
      .kv("cut_calls", rs.enforce && rs.cutCalls);
  if (out)
    out->push_back(Listing{std::string(k), side, rule, rs.enforce, rs.enforce && rs.cutCalls});
}

void DynamicBlacklist::onAttempt(std::string_view caller, bool callerExempt,
                                 std::string_view callee, bool calleeExempt,
                                 std::string_view gateway, int64_t nowUs,
                                 std::vector<Listing>* out) {
  auto rule = [&](Counters& table, const BlacklistRuleSettings& rs, std::string_view number,
                  NumberSide side, BlacklistRule which) {
    if (rs.limit == 0 || number.empty()) return;
    bool evicted = false;
    WindowCounter& w = *table.touch(key(number), nullptr, true, nullptr, &evicted);
    if (evicted) ++stats_.counterEvictions;
    uint32_t n = w.add(nowUs, sliceLengthUs(rs.intervalUs));
    if (n >= rs.limit) {
      // Reached: list it, and start counting afresh (the entry now does
      // the work; a second listing needs LIMIT more calls).
      table.erase(key(number));
      list(number, side, which, rs, gateway, nowUs, out);
    } else if (counterSink_ != nullptr) {
      counterSink_->counted(which, key(number), side, gateway, nowUs);
    }
  };
  if (!callerExempt) {
    rule(callerCalls_, settings_.maliciousCaller, caller, NumberSide::Caller,
         BlacklistRule::MaliciousCaller);
  }
  if (!calleeExempt) {
    rule(calleeCalls_, settings_.maliciousCallee, callee, NumberSide::Callee,
         BlacklistRule::MaliciousCallee);
  }
}

const BlacklistRuleSettings* DynamicBlacklist::ruleSettings(BlacklistRule rule) const {
  switch (rule) {
    case BlacklistRule::MaliciousCaller:
      return &settings_.maliciousCaller;
    case BlacklistRule::MaliciousCallee:
      return &settings_.maliciousCallee;
    case BlacklistRule::NoAnswer:
      return &settings_.noAnswer;
    case BlacklistRule::CallerConcurrent:
      return &settings_.callerConcurrent;
    case BlacklistRule::Manual:
      break;
  }
  return nullptr;
}

bool DynamicBlacklist::listShared(std::string_view number, NumberSide side, BlacklistRule rule,
                                  std::string_view gateway, int64_t nowUs) {
  const BlacklistRuleSettings* rs = ruleSettings(rule);
  if (rs == nullptr || rs->limit == 0 || number.empty()) return false;
  if (const BlacklistEntry* e = find(number, side); e && e->expiresUs > nowUs) return false;
  if (rule == BlacklistRule::MaliciousCaller) callerCalls_.erase(key(number));
  if (rule == BlacklistRule::MaliciousCallee) calleeCalls_.erase(key(number));
  if (rule == BlacklistRule::NoAnswer) unanswered_.erase(key(number));
  list(number, side, rule, *rs, gateway, nowUs, nullptr);
  return true;
}

bool DynamicBlacklist::onCallStart(std::string_view caller, std::string_view gateway, int64_t nowUs,
                                   std::vector<Listing>* out) {
  const BlacklistRuleSettings& rs = settings_.callerConcurrent;
  if (rs.limit == 0) return true;  // rule off: nothing to count (onCallEnd finds nothing)
  auto it = liveByCaller_.find(key(caller));
  const uint32_t live = it == liveByCaller_.end() ? 0 : it->second;
  if (rs.limit > 0 && !caller.empty() && live + 1 > rs.limit) {
    list(caller, NumberSide::Caller, BlacklistRule::CallerConcurrent, rs, gateway, nowUs, out);
    if (rs.enforce) return false;
  }
  if (it == liveByCaller_.end()) {
    liveByCaller_.emplace(std::string(key(caller)), 1);
  } else {
    ++it->second;
  }
  if (counterSink_ != nullptr && !caller.empty()) {
    counterSink_->callStarted(key(caller), gateway, nowUs);
  }
  return true;
}

void DynamicBlacklist::onCallEnd(std::string_view caller) {
  auto it = liveByCaller_.find(key(caller));
  if (it == liveByCaller_.end()) return;
  if (counterSink_ != nullptr && !caller.empty()) counterSink_->callEnded(key(caller));
  if (--it->second == 0) liveByCaller_.erase(it);
}

void DynamicBlacklist::onUnanswered(std::string_view callee, std::string_view gateway,
                                    int64_t nowUs, std::vector<Listing>* out) {
  const BlacklistRuleSettings& rs = settings_.noAnswer;
  if (rs.limit == 0 || callee.empty()) return;
  bool evicted = false;
  WindowCounter& w = *unanswered_.touch(key(callee), nullptr, true, nullptr, &evicted);
  if (evicted) ++stats_.counterEvictions;
  uint32_t n = w.add(nowUs, sliceLengthUs(rs.intervalUs));
  if (n >= rs.limit) {
    unanswered_.erase(key(callee));
    list(callee, NumberSide::Callee, BlacklistRule::NoAnswer, rs, gateway, nowUs, out);
  } else if (counterSink_ != nullptr) {
    counterSink_->counted(BlacklistRule::NoAnswer, key(callee), NumberSide::Callee, gateway, nowUs);
  }
}

void DynamicBlacklist::onAnswered(std::string_view callee) {
  if (settings_.noAnswer.limit == 0) return;
  unanswered_.erase(key(callee));
  if (counterSink_ != nullptr && !callee.empty()) counterSink_->answered(key(callee));
}

size_t DynamicBlacklist::remove(std::string_view number, std::optional<NumberSide> side,
                                bool persist) {
  size_t n = 0;
  for (NumberSide s : {NumberSide::Caller, NumberSide::Callee}) {
    if (side && *side != s) continue;
    EntryMap& m = map(s);
    if (auto it = m.find(key(number)); it != m.end()) {
      eraseEntry(it, persist);
      ++n;
    } else if (persist && persistence_) {
      persistence_->eraseEntry(key(number), s);
    }
  }
  stats_.removedByOperator += n;
  return n;
}

const BlacklistEntry* DynamicBlacklist::find(std::string_view number, NumberSide side) const {
  const EntryMap& m = entries_[static_cast<size_t>(side)];
  auto it = m.find(key(number));
  return it == m.end() ? nullptr : &it->second;
}

void DynamicBlacklist::clear(bool persist) {
  stats_.removedByOperator += size();
  if (persist && persistence_) {
    for (const auto& m : entries_) {
      for (const auto& [k, e] : m) persistence_->eraseEntry(e.number, e.side);
    }
  }
  entries_[0].clear();
  entries_[1].clear();
  byExpiry_.clear();
}

size_t DynamicBlacklist::expire(int64_t nowUs) {
  size_t n = 0;
  while (!byExpiry_.empty() && std::get<0>(*byExpiry_.begin()) <= nowUs) {
    auto [exp, side, num] = *byExpiry_.begin();
    auto it = map(side).find(num);
    log::info("blacklist.expired")
        .kv("number", num)
        .kv("side", sideName(side))
        .kv("rule", ruleName(it->second.rule));
    eraseEntry(it, true);
    ++stats_.expired;
    ++n;
  }
  return n;
}

std::vector<BlacklistEntry> DynamicBlacklist::entries() const {
  std::vector<BlacklistEntry> out;
  out.reserve(size());
  for (const auto& m : entries_) {
    for (const auto& [k, e] : m) out.push_back(e);
  }
  return out;
}

// Blob: u8 version, then for each of the three windowed rules: i64 slice
// length (a changed interval invalidates the saved slices), u32 count, and
// (key, window) pairs.
namespace {
constexpr uint8_t kCountersVersion = 2;  // 2: sparse windows
}

std::string DynamicBlacklist::saveCounters(int64_t nowUs) {
  ByteWriter w;
  w.reserve(64 * 1024);
  w.u8(kCountersVersion);
  auto table = [&](Counters& t, const BlacklistRuleSettings& rs) {
    const int64_t slice = sliceLengthUs(rs.intervalUs);
    w.i64(rs.limit > 0 ? slice : 0);
    std::vector<std::pair<std::string_view, const WindowCounter*>> live;
    t.forEachRecent(kMaxSavedPerRule, [&](std::string_view k, WindowCounter& c) {
      if (!c.empty(nowUs, slice)) live.emplace_back(k, &c);  // aged-out windows are not saved
      return true;
    });
    w.u32(static_cast<uint32_t>(live.size()));
    // Least recent first, so a restore re-creates the same LRU order.
    for (auto it = live.rbegin(); it != live.rend(); ++it) {
      w.str(it->first);
      writeWindow(w, *it->second);
    }
  };
  table(callerCalls_, settings_.maliciousCaller);
  table(calleeCalls_, settings_.maliciousCallee);
  table(unanswered_, settings_.noAnswer);
  return w.take();
}

bool DynamicBlacklist::restoreCounters(std::string_view blob, int64_t nowUs) {
  ByteReader r(blob);
  if (r.u8() != kCountersVersion) return false;
  auto table = [&](Counters& t, const BlacklistRuleSettings& rs) {
    const int64_t slice = r.i64();
    const uint32_t n = r.u32();
    const bool usable = rs.limit > 0 && slice == sliceLengthUs(rs.intervalUs);
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      std::string_view k = r.str(kMaxKeyLength);
      WindowCounter c = readWindow(r);
      if (!r.ok() || !usable || c.empty(nowUs, slice)) continue;
      *t.touch(k) = c;
    }
  };
  table(callerCalls_, settings_.maliciousCaller);
  table(calleeCalls_, settings_.maliciousCallee);
  table(unanswered_, settings_.noAnswer);
  return r.ok();
}

}  // namespace tollgate::admission
