// Authentication retry limits (VOS3000 SS_AUTHENTICATION_MAX_RETRY /
// SS_AUTHENTICATION_FAILED_SUSPEND): failed digest attempts are counted per
// (username, source) and per source; past the limit that pair, or the whole
// source, is suspended for a while, longer each time it offends again.
//
// Why two keys: a password guesser at one address trips the pair limit fast,
// while the real user of that account, coming from their own address, is a
// different pair and keeps working. A source that sprays many usernames
// trips the source limit. A "source" is an IPv4 address or an IPv6 /64 (one
// subscriber's prefix: per-address keys would let an IPv6 attacker rotate
// through 2^64 addresses).
//
// Every table is keyed by attacker-controlled data, so each has a hard bound
// (kMaxTrackedPairs, kMaxTrackedSources) and evicts the least recently
// touched entry when full. Times are wall-clock microseconds, so
// suspensions can be persisted and restored across restarts.
//
// Confined to its worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/bounded_table.h"
#include "common/clock.h"
#include "common/net.h"

namespace tollgate::auth {

// Bounds of the limiter's tables (entries of ~150 bytes: ~10 MiB each when full).
inline constexpr size_t kMaxTrackedPairs = 65'536;
inline constexpr size_t kMaxTrackedSources = 65'536;
// Usernames longer than this are tracked by their prefix: no account name
// is that long (provisioning caps it at 64), and an attacker must not make
// each table entry arbitrarily large.
inline constexpr size_t kMaxTrackedUsername = 128;
// A key that offends again within this time after its last suspension is a
// repeat offender: its next suspension is twice as long (up to the maximum).
inline constexpr std::chrono::hours kOffenseMemory{24};

struct RetryLimits {
  bool enabled = true;
  uint32_t maxRetry = 6;         // failures per (username, source) before suspension
  uint32_t sourceMaxRetry = 30;  // failures per source, any username
  std::chrono::seconds suspendTime{180};
  std::chrono::seconds maxSuspendTime{3600};  // cap of the escalation
  std::chrono::seconds failureWindow{600};    // failures older than this are forgotten
};

enum class SuspensionKind : uint8_t { Pair, Source };
std::string_view suspensionKindName(SuspensionKind k);  // "user_source", "source"
bool suspensionKindFromName(std::string_view name, SuspensionKind* out);

struct Suspension {
  SuspensionKind kind = SuspensionKind::Pair;
  std::string username;   // Pair only
  net::IpAddress source;  // an IPv4 address, or the network address of an IPv6 /64
  int64_t sinceUs = 0;    // wall clock, µs since the Unix epoch
  int64_t untilUs = 0;
  uint32_t offenses = 1;  // 1 = first suspension; the duration doubles per offense
  uint32_t failures = 0;  // failed attempts that led to it
};

// Told about every new suspension (to persist and log it).
class SuspensionListener {
 public:
  virtual ~SuspensionListener() = default;
  virtual void onSuspended(const Suspension& s) = 0;
};

struct RetryLimiterStats {
  uint64_t failures = 0;
  uint64_t suspensions = 0;
  uint64_t lifted = 0;   // by an operator
  uint64_t evicted = 0;  // entries pushed out of a full table
  size_t pairsTracked = 0;
  size_t sourcesTracked = 0;
};

class AuthRetryLimiter {
 public:
  AuthRetryLimiter(const Clock& clock, RetryLimits limits, size_t maxPairs = kMaxTrackedPairs,
                   size_t maxSources = kMaxTrackedSources);

  void setListener(SuspensionListener* l) { listener_ = l; }
  const RetryLimits& limits() const { return limits_; }

  // The key a source address is counted under: IPv4 as is, IPv6 its /64.
  static net::IpAddress sourceKey(const net::IpAddress& ip);

  // True while the source, or the (username, source) pair, is suspended.
  bool suspended(std::string_view username, const net::IpAddress& source) const;
  bool sourceSuspended(const net::IpAddress& source) const;

  // One failed attempt. True when it suspended the pair or the source.
  bool recordFailure(std::string_view username, const net::IpAddress& source);
  // A successful authentication clears the pair's failures (not the
  // source's: a guesser with one valid account must not reset its count).
  void recordSuccess(std::string_view username, const net::IpAddress& source);

  // Re-installs a suspension read from the store at start-up (expired ones
  // keep their offense count for escalation).
  void restore(const Suspension& s);
  // Lifts a suspension (operator command). untilUs != 0 lifts only that
  // suspension (not a newer one of the same key). Failures are forgotten
  // too, so the user gets a full set of attempts. True when one was lifted.
  bool lift(SuspensionKind kind, std::string_view username, const net::IpAddress& source,
            int64_t untilUs);

  // The suspension a failure now would place on the key (the duration
  // escalated by the key's offense history here), without placing it: a
  // cluster (cluster/shared_auth.h) stores it when the shared count of
  // failures reaches the limit.
  Suspension prospective(SuspensionKind kind, std::string_view username,
                         const net::IpAddress& source) const;
  // Installs a suspension decided by the cluster's shared count (`isNew`:
  // this node's failure reached the limit: counted and told to the
  // listener, like one of its own) or placed by another node (not told).
  // A longer suspension already in force is kept.
  void install(const Suspension& s, bool isNew);

  // Suspensions in force now.
  std::vector<Suspension> active() const;
  RetryLimiterStats stats() const;

 private:
  // A (username, source) pair; sources are counted under username "".
  struct Key {
    std::string username;
    net::IpAddress source;
  };
  // Looks a key up without copying the username.
  struct KeyView {
    std::string_view username;
    net::IpAddress source;
    explicit operator Key() const { return Key{std::string(username), source}; }
    friend bool operator==(const Key& k, const KeyView& v) {
      return k.source == v.source && k.username == v.username;
    }
  };
  struct KeyHash {
    size_t operator()(const KeyView& k) const {
      return std::hash<std::string_view>()(k.username) * 31 + k.source.hash();
    }
    size_t operator()(const Key& k) const { return (*this)(KeyView{k.username, k.source}); }
  };
  struct Entry {
    uint32_t failures = 0;
    int64_t lastFailureUs = 0;
    uint32_t offenses = 0;
    int64_t lastOffenseUs = 0;
    int64_t sinceUs = 0;
    int64_t untilUs = 0;  // suspended while now < untilUs
  };
  // The least recently touched entry is evicted when full, suspended or
  // not (nothing is pinned).
  using Table = BoundedTable<Key, Entry, KeyHash>;

  // The key of a username (clipped to kMaxTrackedUsername) and source key.
  static KeyView keyOf(std::string_view username, const net::IpAddress& source);
  // Counts a failure on e; true when e became suspended.
  bool fail(const KeyView& k, Entry& e, uint32_t limit, SuspensionKind kind, int64_t now);
  // The length of a key's `offenses`-th suspension (escalated, capped).
  int64_t durationUs(uint32_t offenses) const;
  Suspension toSuspension(const KeyView& k, const Entry& e, SuspensionKind kind) const;

  const Clock& clock_;
  RetryLimits limits_;
  SuspensionListener* listener_ = nullptr;
  Table pairs_;
  Table sources_;
  RetryLimiterStats stats_;
};

}  // namespace tollgate::auth
