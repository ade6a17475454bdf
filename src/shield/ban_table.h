// BanTable: the shield's ban list, hosts and prefixes in one bounded table.
// A lookup probes one hash bucket per distinct prefix length present (host,
// the auto-ban prefix length, and whatever lengths operators banned), so it
// stays O(1) however many bans there are. Expired bans stay as inactive
// records until ban_memory has passed, so a repeat offender's next ban
// escalates; when the table is full, only inactive or expired records are
// evicted, never an active ban. Confined to its worker.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/bounded_table.h"
#include "shield/ban.h"
#include "shield/ip_key.h"

namespace tollgate::shield {

inline constexpr int64_t kNeverMs = std::numeric_limits<int64_t>::max();

struct BanRecord {
  BanReason reason = BanReason::Manual;
  bool active = false;   // false: expired or lifted; kept until forgetMs for escalation
  bool manual = false;   // placed by an operator
  bool enforced = true;  // dropped packets (false under ban_mode = count-only)
  bool hitsQueued = false;
  uint8_t level = 0;      // 1 = first ban
  int64_t createdUs = 0;  // wall clock
  int64_t expiresUs = 0;  // wall clock; 0 = never
  int64_t expiresMs = 0;  // monotonic ms; kNeverMs = never
  int64_t forgetMs = 0;   // monotonic ms after which an inactive record may go
  uint64_t hits = 0;
  uint64_t hitsReported = 0;
  std::string detail;

  bool liveAt(int64_t nowMs) const { return active && expiresMs > nowMs; }
};

class BanTable {
 public:
  BanTable(size_t capacity, uint64_t seed);

  // The active ban covering ip, or null; *matched (when given) receives its
  // prefix. An expired ban met on the way is made inactive (counted in
  // expiredCount()).
  BanRecord* lookup(const IpKey& ip, int64_t nowMs, PrefixKey* matched = nullptr);
  // The record of exactly this prefix, active or not; null when none.
  BanRecord* find(const PrefixKey& p);
  // The record of p, created (value-initialised) when absent. When the table
  // is full an inactive or expired record is evicted; returns null when
  // every probed record is an active ban (the caller counts a refused ban).
  BanRecord* upsert(const PrefixKey& p, int64_t nowMs, bool* inserted);
  bool erase(const PrefixKey& p);
  // The least recently placed record (for the sweep that forgets old
  // history), or null.
  const PrefixKey* oldestKey() const { return table_.oldestKey(); }

  size_t size() const { return table_.size(); }
  size_t capacity() const { return table_.capacity(); }
  size_t activeCount(int64_t nowMs);
  uint64_t expiredCount() const { return expired_; }
  size_t memoryBytes() const;

  template <typename F>
  void forEach(F&& f) {
    table_.forEach(f);
  }

 private:
  void countLength(const PrefixKey& p, int delta);

  BoundedTable<PrefixKey, BanRecord, KeyHasher> table_;
  std::array<uint32_t, 129> perLength_{};  // records per prefix length (IPv6 bits)
  std::vector<uint8_t> lengths4_;          // lengths in use, longest first
  std::vector<uint8_t> lengths6_;
  uint64_t expired_ = 0;
};

// Expected heap bytes of one ban's detail text beyond the record: details
// are built from a handful of fixed phrases plus numbers and one
// User-Agent fragment, capped at this length.
inline constexpr size_t kMaxBanDetail = 200;

}  // namespace tollgate::shield
