// SharedLimits: the channel (max_concurrent) and calls-per-second limits of
// mapping gateways, accounts and carriers held across every node sharing
// one Redis (docs/cluster-limits.md), so N nodes admit what one switch
// would. Per entity Redis holds
//   <prefix>lim:cc:<entity>  hash, field = node id, value = that node's
//                            calls in progress holding the entity;
//   <prefix>lim:tb:<entity>  hash {t = tokens, ts = last refill, ms of the
//                            Redis clock}: the entity's token bucket.
// One Lua script per call setup (atomic in Redis, one pipelined exchange)
// judges the call's entities the way admission::CallLimits does locally:
// every required entity (the mapping gateway and its account) has a free
// channel (fields of live nodes only: a node absent from the membership
// for cluster.node_ttl no longer holds channels, and its fields are
// deleted), then a token; all or nothing; then the first of the candidate
// carriers that has both is taken too. A call's end releases its entities
// (HINCRBY -1, never below 0, fire and forget).
//
// The node's local CallLimits keeps counting its own calls: that count is
// what the node announces (HSET of its field for every entity) each time
// the link comes up (after an outage or a Sentinel failover to a replica
// that missed the last writes) and every kAnnounceInterval while no verdict
// is in flight, so the shared counts converge to the truth; and it is what
// enforces the node's share of each limit while the link is down
// (cluster.down_rule = local_share: setShare hook).
//
// Entity names are provisioning names (operator-controlled, bounded by
// provisioning); every key has a TTL.
//
// Confined to its worker.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/cluster.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/token_bucket.h"

namespace tollgate::cluster {

// A channel hash lives this long after the last node touched it (every
// node holding calls refreshes it each kAnnounceInterval): long enough to
// never expire under a live call, short enough that an abandoned
// provisioning name does not stay in Redis.
inline constexpr Millis kLimitCountTtl{60'000};
// How often a node re-announces its counts while the link is up (heals a
// release lost with a reply, a field deleted while the node looked dead).
inline constexpr Millis kAnnounceInterval{10'000};
// Carriers offered to one verdict at most (the script's size is bounded;
// more remaining carriers are asked in a further exchange).
inline constexpr size_t kMaxCandidates = 16;

// One entity of a call as the verdict needs it.
struct SharedLimit {
  std::string_view key;   // "m:<gateway>", "a:<account>", "r:<carrier>"
  int maxConcurrent = 0;  // 0 = no channel limit
  double cps = 0;         // 0 = no rate limit
  double burst = 0;       // bucket depth (at least 1 when cps > 0)
};

struct SharedVerdict {
  enum class Kind : uint8_t {
    Ok,           // the required entities are taken (and candidates[candidate])
    Concurrency,  // required[entity] has no free channel across the nodes
    Rate,         // required[entity] has no token; retryAfter until it has
    NoReply,      // the link is down or no reply came: the down rule decides
  };
  Kind kind = Kind::Ok;
  size_t entity = 0;
  Millis retryAfter{0};
  int candidate = -1;  // Ok: the candidate taken; -1 = none had room (or none offered)
};

struct SharedLimitStats {
  uint64_t verdicts = 0;  // exchanges sent
  uint64_t admitted = 0;
  uint64_t refusedConcurrency = 0;
  uint64_t refusedRate = 0;
  uint64_t carrierFull = 0;    // verdicts whose candidates all were full
  uint64_t noReply = 0;        // verdicts the link could not give
  uint64_t releases = 0;       // release exchanges sent
  uint64_t announcements = 0;  // full re-announcements (link up, periodic)
  uint64_t orphaned = 0;       // verdicts whose call was gone: what they took given back
  // Calls judged by the down rule instead of Redis.
  uint64_t fallbackLocalAdmitted = 0;
  uint64_t fallbackLocalRefused = 0;
  uint64_t fallbackRefused = 0;  // down_rule = refuse
  size_t share = 1;              // the divisor in force (1 = shared, or the whole limit)
  uint64_t latencyUsSum = 0;     // verdict round trips, for the mean
  uint64_t latencyUsMax = 0;
};

class SharedLimits {
 public:
  // Visits this node's entities with their calls in progress.
  using CountVisitor = std::function<void(std::string_view key, uint32_t calls)>;
  using CountSource = std::function<void(const CountVisitor&)>;
  using Done = std::function<void(const SharedVerdict&)>;
  using Id = uint64_t;

  SharedLimits(EventLoop& loop, Cluster& cluster);
  ~SharedLimits();
  SharedLimits(const SharedLimits&) = delete;
  SharedLimits& operator=(const SharedLimits&) = delete;

  // Wiring, before start(): where the node's own counts come from, and who
  // applies the share of the limits (the divisor: liveNodes() while the
  // link is down under local_share, 1 otherwise).
  void setCounts(CountSource counts) { counts_ = std::move(counts); }
  void setShareHook(std::function<void(size_t divisor)> fn) { shareHook_ = std::move(fn); }
  // Registers the link's up/down hooks and the periodic announcement.
  void start();
  // No more verdicts or announcements (the node is stopping): verdicts in
  // flight are dropped without their callbacks.
  void stop();

  // The link is up: verdicts come from Redis.
  bool shared() const;
  DownRule downRule() const { return cluster_.settings().downRule; }

  // One exchange: `required` all or nothing, then the first of
  // `candidates` with room (kMaxCandidates at most). `done` runs on the
  // worker, later (never inside ask), once, unless cancel(id) ran first.
  // Returns 0 when the link is down: nothing sent, `done` never runs.
  Id ask(std::span<const SharedLimit> required, std::span<const SharedLimit> candidates, Done done);
  // The asker is gone: `done` will not run; whatever the verdict takes is
  // given back when it arrives.
  void cancel(Id id);
  // Gives back one channel of each entity (no-op while the link is down:
  // the next announcement carries the truth).
  void release(std::span<const std::string_view> keys);

  // The down rule counted (the call layer reports each call it judged so).
  void countFallback(bool admitted);

  SharedLimitStats stats() const;

 private:
  struct Pending {
    Done done;
    std::vector<std::string> required;  // entity keys, to give back an orphan's take
    std::vector<std::string> candidates;
    MonoTime sent;
  };
  void onReply(Id id, const RedisReply* reply);
  void onUp();
  void onDown();
  enum class Announce : uint8_t {
    All,      // every entity's field of this node set to its count (0: deleted)
    Counts,   // only entities with calls (their counts and TTLs)
    TtlOnly,  // only the TTLs of entities with calls
  };
  void announce(Announce mode);
  void onTick();
  std::string countKey(std::string_view entity) const;
  std::string bucketKey(std::string_view entity) const;

  EventLoop& loop_;
  Cluster& cluster_;
  CountSource counts_;
  std::function<void(size_t)> shareHook_;
  RedisScript admitScript_;
  RedisScript releaseScript_;
  std::unordered_map<Id, Pending> pending_;
  Id nextId_ = 1;
  Timer tick_;
  bool started_ = false;
  // Callbacks from the link check it: the link may outlive this object.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // `cluster.limit_refused` and fallback log lines at this rate.
  TokenBucket log_;
  uint64_t logSuppressed_ = 0;
  SharedLimitStats stats_;
};

}  // namespace tollgate::cluster
