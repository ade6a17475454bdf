// Bans: why a source (a host or a prefix) is banned, until when, and how
// often it has been; BanInfo is the form bans take outside the shield
// (store rows, kernel set elements, `tollgate ban why`). BanListener is how
// the node learns of ban changes to persist and offload them. Plain values,
// externally synchronized; BanListener is confined to the shield's worker
// (it is called there).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shield/ip_key.h"

namespace tollgate::shield {

enum class BanReason : uint8_t {
  Manual,      // an operator (`tollgate ban add`, later the management API)
  Signature,   // scanner User-Agent
  Rate,        // per-source sliding window or token bucket
  PrefixRate,  // per-prefix sliding window or token bucket
  Auth,        // repeated digest failures (reported through BanSink)
  Other,       // a reason this version does not know (read from the store)
};
inline constexpr size_t kBanReasonCount = 6;
// "manual", "signature", "rate", "prefix_rate", "auth", "other"
std::string_view banReasonName(BanReason r);
BanReason banReasonFromName(std::string_view name);  // unknown -> Other

struct BanInfo {
  PrefixKey prefix;
  BanReason reason = BanReason::Manual;
  std::string detail;     // which rule and what tripped it, for `ban why`
  int64_t createdUs = 0;  // wall clock, microseconds since the epoch
  int64_t expiresUs = 0;  // wall clock; 0 = never
  uint64_t hits = 0;      // packets dropped by it (the trigger included)
  int level = 1;          // 1 = first ban; n = the n-th within ban_memory
  bool manual = false;    // set by an operator, not by a check
  bool active = true;     // false: expired, kept for escalation
  bool enforced = true;   // false: shield.ban_mode is count-only
};

struct BanHits {
  PrefixKey prefix;
  uint64_t hits = 0;
};

class BanListener {
 public:
  virtual ~BanListener() = default;
  // A ban was placed or changed (escalated, extended, edited). fromStore:
  // it came from the store (an operator or another node), so it must not
  // be written back.
  virtual void onBanAdded(const BanInfo& ban, bool fromStore) = 0;
  // A ban was lifted before its expiry (deleted in the store).
  virtual void onBanRemoved(const PrefixKey& prefix) = 0;
  // Hit counts that changed since the last report (batched, periodic).
  virtual void onBanHits(const std::vector<BanHits>& hits) = 0;
};

}  // namespace tollgate::shield
