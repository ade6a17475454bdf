// The dynamic blacklist (VOS3000 SS_BLACK_LIST_*): one list of caller and
// callee numbers whose entries expire on their own, fed by three automatic
// rules and by operators (`tollgate blacklist add/remove`):
//
//  - malicious caller / callee: a number making (receiving) LIMIT calls
//    within INTERVAL is listed; the entry expires EXPIRE after its last
//    call, refused calls included;
//  - no answer: a callee with LIMIT unanswered calls in a row within PERIOD
//    is listed for EXPIRE (wangiri and dialer abuse);
//  - caller concurrency: a caller about to have more than LIMIT calls at
//    once is listed for EXPIRE, and that call is refused.
//
// Each rule enforces (its entries refuse calls) or only counts (entries are
// kept, marked count-only, and calls that would have been refused are
// counted, not refused), and may cut the live calls of a number the moment
// it is listed. Numbers on the system white list are never counted nor
// listed (the caller of this class checks that). Every table is bounded:
// entries (max_entries; a full list drops the entry closest to expiry) and
// counters (max_tracked_numbers per rule, least recently used evicted).
// Times are wall-clock microseconds so that entries and saved counters mean
// the same after a restart. Confined to its worker.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "admission/counters.h"
#include "admission/number_lists.h"
#include "common/bounded_table.h"

namespace tollgate::admission {

enum class NumberSide : uint8_t { Caller, Callee };
std::string_view sideName(NumberSide s);  // "caller", "callee"
bool parseSide(std::string_view text, NumberSide* out);

enum class BlacklistRule : uint8_t {
  MaliciousCaller,
  MaliciousCallee,
  NoAnswer,
  CallerConcurrent,
  Manual,  // added by an operator
};
std::string_view ruleName(BlacklistRule r);  // "malicious_caller", ..., "manual"
bool parseRule(std::string_view text, BlacklistRule* out);

struct BlacklistEntry {
  std::string number;
  NumberSide side = NumberSide::Caller;
  BlacklistRule rule = BlacklistRule::Manual;
  std::string gateway;   // mapping gateway of the call that listed it ("" = operator)
  bool enforced = true;  // false: the rule is count-only; calls are counted, not refused
  int64_t createdUs = 0;
  int64_t lastHitUs = 0;
  int64_t expiresUs = 0;
  uint64_t hits = 0;  // calls refused (count-only: that would have been)
  bool operator==(const BlacklistEntry&) const = default;
};

struct BlacklistRuleSettings {
  uint32_t limit = 0;      // 0 = rule off
  int64_t intervalUs = 0;  // INTERVAL (malicious) or PERIOD (no answer); unused for concurrency
  int64_t expireUs = 3'600'000'000;
  bool enforce = true;
  bool cutCalls = false;
};

// The [blacklist] keys (docs/configuration.md); the defaults are theirs.
struct DynamicBlacklistSettings {
  static constexpr int64_t kMinuteUs = 60'000'000;
  static constexpr int64_t kHourUs = 3'600'000'000;
  bool perGateway = false;  // only gateways/accounts with dynamic_blacklist = true
  BlacklistRuleSettings maliciousCaller{0, kMinuteUs, kHourUs, true, false};
  BlacklistRuleSettings maliciousCallee{0, kMinuteUs, kHourUs, true, false};
  BlacklistRuleSettings noAnswer{0, kHourUs, kHourUs, true, false};
  BlacklistRuleSettings callerConcurrent{0, kMinuteUs, kHourUs, true, false};
  size_t maxEntries = 100'000;
  size_t maxTrackedNumbers = 100'000;
};

// Where entries (and the policy counters) are kept across restarts.
// Thread-safe; must not block the worker.
class BlacklistPersistence {
 public:
  virtual ~BlacklistPersistence() = default;
  virtual void saveEntry(const BlacklistEntry& e) = 0;
  virtual void eraseEntry(std::string_view number, NumberSide side) = 0;
  // A counters blob (saveCounters() of a policy component) under a name.
  virtual void saveCounters(std::string_view name, std::string blob) = 0;
};

// Told of each call a malicious-call rule counts (and that did not reach
// the rule's limit here): a cluster adds it to the nodes' shared count
// (cluster/shared_policy.h) and lists the number through listShared()
// when the shared count reaches the limit. Confined to the blacklist's
// worker.
//
// The same sink shares the no-answer streaks (counted() with NoAnswer for
// each unanswered call below the limit here, answered() when a call to the
// number is answered: the streak ends on the cluster) and the calls in
// progress per caller of the concurrency rule (callStarted / callEnded;
// listShared() with CallerConcurrent when the cluster's count is over the
// limit).
class BlacklistCounterSink {
 public:
  virtual ~BlacklistCounterSink() = default;
  virtual void counted(BlacklistRule rule, std::string_view number, NumberSide side,
                       std::string_view gateway, int64_t nowUs) = 0;
  virtual void answered(std::string_view callee) {}
  virtual void callStarted(std::string_view caller, std::string_view gateway, int64_t nowUs) {}
  virtual void callEnded(std::string_view caller) {}
};

// A number that was just listed (returned so the switch can cut its calls).
struct Listing {
  std::string number;
  NumberSide side = NumberSide::Caller;
  BlacklistRule rule = BlacklistRule::Manual;
  bool enforced = true;
  bool cutCalls = false;
};

struct BlacklistStats {
  uint64_t listed[5] = {};       // entries created, by rule (count-only ones included)
  uint64_t countOnlyListed = 0;  // of those, count-only
  uint64_t refused = 0;          // calls refused by an enforced entry
  uint64_t wouldRefuse = 0;      // calls let through by a count-only entry
  uint64_t expired = 0;
  uint64_t removedByOperator = 0;
  uint64_t evictedFull = 0;       // entries dropped because the list was full
  uint64_t counterEvictions = 0;  // tracked numbers forgotten to stay within the bound
};

class DynamicBlacklist {
 public:
  explicit DynamicBlacklist(DynamicBlacklistSettings settings = {},
                            BlacklistPersistence* persistence = nullptr);

  const DynamicBlacklistSettings& settings() const { return settings_; }
  void setPersistence(BlacklistPersistence* p) { persistence_ = p; }
  void setCounterSink(BlacklistCounterSink* s) { counterSink_ = s; }
  // The settings of a rule (Manual: none).
  const BlacklistRuleSettings* ruleSettings(BlacklistRule rule) const;
  // Lists `number` by an automatic rule because the cluster's shared
  // count reached its limit (the calls that counted were spread over
  // nodes). Live calls are not cut (that is decided where a call lists
  // the number). False when the rule is off or the number is listed
  // already.
  bool listShared(std::string_view number, NumberSide side, BlacklistRule rule,
                  std::string_view gateway, int64_t nowUs);

  // Entries from the store at start-up (expired ones are skipped).
  void load(const std::vector<BlacklistEntry>& entries, int64_t nowUs);

  enum class Hit : uint8_t { None, Refuse, CountOnly };
  // Is `number` listed on this side? A hit is counted on the entry, and an
  // entry of a malicious-call rule is extended to EXPIRE from now.
  Hit check(std::string_view number, NumberSide side, int64_t nowUs);

  // Malicious-call rules: one call attempt from caller to callee. A side
  // whose number is exempt (system white list) is skipped.
  void onAttempt(std::string_view caller, bool callerExempt, std::string_view callee,
                 bool calleeExempt, std::string_view gateway, int64_t nowUs,
                 std::vector<Listing>* out);
  // Concurrency rule: a call from caller starts. Returns false when this
  // call lists the caller with an enforcing rule (the call must be refused;
  // it is then not counted). When it returns true the call is counted and
  // onCallEnd(caller) must follow.
  bool onCallStart(std::string_view caller, std::string_view gateway, int64_t nowUs,
                   std::vector<Listing>* out);
  void onCallEnd(std::string_view caller);
  // No-answer rule: a call to callee ended unanswered (it reached a carrier)
  // or was answered (which ends the callee's streak).
  void onUnanswered(std::string_view callee, std::string_view gateway, int64_t nowUs,
                    std::vector<Listing>* out);
  void onAnswered(std::string_view callee);

  // Operator changes (and changes another process made in the store).
  void put(const BlacklistEntry& e);  // adds or replaces; not persisted (already in the store)
  // persist: also tell the persistence (an operator removal must win over
  // a write of the same entry still queued from before it).
  size_t remove(std::string_view number, std::optional<NumberSide> side, bool persist = false);
  void clear(bool persist = false);

  // Drops expired entries (and tells the persistence); returns how many.
  size_t expire(int64_t nowUs);
  std::vector<BlacklistEntry> entries() const;
  // The entry of `number` on `side`, expired or not; null when none.
  const BlacklistEntry* find(std::string_view number, NumberSide side) const;
  size_t size() const { return entries_[0].size() + entries_[1].size(); }
  size_t liveCallers() const { return liveByCaller_.size(); }
  // Calls in progress per caller (the concurrency rule's counts).
  template <typename Fn>
  void forEachLiveCaller(Fn&& fn) const {
    for (const auto& [k, n] : liveByCaller_) fn(std::string_view(k), n);
  }
  const BlacklistStats& stats() const { return stats_; }

  // The counters (not the entries, which the store keeps) as a blob, and
  // back: at most kMaxSavedPerRule numbers per rule, the most recently
  // active ones (the save runs on the worker; this bounds its cost to a few
  // milliseconds). A blob taken with other rule intervals is ignored.
  static constexpr size_t kMaxSavedPerRule = 20'000;
  std::string saveCounters(int64_t nowUs);
  bool restoreCounters(std::string_view blob, int64_t nowUs);

 private:
  // The listings are not a BoundedTable: when the list is full the entry
  // closest to its expiry goes, not the least recently touched, so a full
  // list keeps the listings that have longest to run (and a number that
  // keeps calling, whose listing is extended, stays).
  using EntryMap = std::unordered_map<std::string, BlacklistEntry, StringHash, StringEq>;
  // (expiresUs, side, number view into the map key): expiry order, for the
  // sweep and for evicting when full.
  using ExpiryIndex = std::set<std::tuple<int64_t, NumberSide, std::string_view>>;

  EntryMap& map(NumberSide s) { return entries_[static_cast<size_t>(s)]; }
  void list(std::string_view number, NumberSide side, BlacklistRule rule,
            const BlacklistRuleSettings& rs, std::string_view gateway, int64_t nowUs,
            std::vector<Listing>* out);
  void setExpiry(BlacklistEntry& e, int64_t expiresUs);
  void eraseEntry(EntryMap::iterator it, bool persist);

  DynamicBlacklistSettings settings_;
  BlacklistPersistence* persistence_;
  BlacklistCounterSink* counterSink_ = nullptr;
  EntryMap entries_[2];
  ExpiryIndex byExpiry_;
  // Per-number event counters of the windowed rules, least recently touched
  // evicted (maxTrackedNumbers each).
  using Counters = BoundedTable<std::string, WindowCounter, StringHash>;
  Counters callerCalls_;
  Counters calleeCalls_;
  Counters unanswered_;
  // Live calls per caller, for the concurrency rule. Bounded by the calls in
  // progress (each entry is held by at least one call).
  std::unordered_map<std::string, uint32_t, StringHash, StringEq> liveByCaller_;
  BlacklistStats stats_;
};

}  // namespace tollgate::admission
