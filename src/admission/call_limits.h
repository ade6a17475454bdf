// Call rate and channel limits of mapping gateways, accounts and routing
// gateways (VOS3000 "rate limit" and "number of channels"): a token bucket
// with burst per entity for calls per second, and a count of calls in
// progress against max_concurrent. Entities are keyed by name and survive
// provisioning reloads: a reload changes an entity's limits but keeps its
// tokens and its calls in progress, so a live update never resets a limit.
// With several nodes sharing the limits (cluster/shared_limits.h) these
// counts are this node's own calls, the number it announces; while the
// shared store is unreachable the node enforces its share of every limit
// (setShare). Confined to its worker. Checks are O(entities of one call)
// and allocate nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/number_lists.h"
#include "admission/provisioning.h"
#include "common/clock.h"
#include "common/token_bucket.h"

namespace tollgate::admission {

class CallLimits {
 public:
  using Handle = uint32_t;
  static constexpr Handle kNone = UINT32_MAX;

  enum class Verdict : uint8_t { Ok, Concurrency, Rate };
  struct Decision {
    Verdict verdict = Verdict::Ok;
    Handle entity = kNone;  // the entity that refused
    Millis retryAfter{0};   // Rate: until that entity has a token again
  };

  // A reload: begin, configure every entity of the new snapshot, end.
  // Entities not configured again lose their limits; their entry goes once
  // no call holds it any more.
  void beginReload();
  Handle configure(std::string_view key, const CallLimitsSpec& spec, MonoTime now);
  void endReload();

  // All or nothing: when every entity has a free channel and a token, takes
  // one of each and returns Ok; otherwise takes nothing. Channels are checked
  // first, so a call refused for channels does not spend a token.
  Decision tryAcquire(std::span<const Handle> entities, MonoTime now);
  // True when the entity has a free channel and a token now (nothing taken).
  bool wouldAdmit(Handle h, MonoTime now);
  // Takes a channel (and a token) without checking; for a call already
  // judged by wouldAdmit() within the same event.
  void acquire(Handle h, MonoTime now);
  void release(Handle h);

  size_t active(Handle h) const { return h < slots_.size() ? slots_[h].active : 0; }
  const std::string& name(Handle h) const { return slots_[h].key; }
  // The bucket depth of `spec`: cps_burst, else one second of rate (at least 1).
  static double burstOf(const CallLimitsSpec& spec);
  // The limits configured for `h` (whole, not this node's share).
  const CallLimitsSpec& spec(Handle h) const { return slots_[h].spec; }

  // This node's share of every limit: ceil(max_concurrent / divisor)
  // channels and cps / divisor calls per second (burst likewise, at least
  // 1). 1 = the whole limit. Used while the limits shared with other nodes
  // cannot be consulted (cluster.down_rule = local_share).
  void setShare(size_t divisor, MonoTime now);
  size_t share() const { return share_; }
  // True when `h` holds more calls than ceil(max_concurrent / divisor):
  // over a node's share of its channels (a call admitted without the
  // shared verdict is judged by it).
  bool overShare(Handle h, size_t divisor) const;
  // Every entity this node knows, with its calls in progress (0 included):
  // what the node announces to the shared store.
  template <typename Fn>
  void forEach(Fn&& fn) const {
    for (const Slot& s : slots_) {
      if (!s.key.empty()) fn(std::string_view(s.key), s.active);
    }
  }
  Handle find(std::string_view key) const;
  size_t size() const { return byKey_.size(); }

 private:
  struct Slot {
    std::string key;
    CallLimitsSpec spec;
    TokenBucket bucket;
    uint32_t active = 0;
    bool live = false;        // configured by the current snapshot
    bool configured = false;  // configured in the reload in progress
  };
  void gc();
  void configureBucket(Slot& s, MonoTime now);
  uint32_t channels(const Slot& s) const;  // this node's share of max_concurrent; 0 = none

  std::vector<Slot> slots_;
  std::vector<Handle> free_;
  size_t share_ = 1;
  std::unordered_map<std::string, Handle, StringHash, StringEq> byKey_;
};

}  // namespace tollgate::admission
