// SharedBans: the shield's ban list shared by every node of the cluster
// through Redis (docs/cluster-security.md). A ban this node places (an
// automatic ban, an auth suspension's ban, an operator's ban read from the
// store) is written to the hash <prefix>ban:active (field = the banned
// address or prefix, value = the ban with its expiry and the placing node)
// and published on <prefix>ch:ban; a lift is removed from the hash and
// published on <prefix>ch:unban. Every node subscribes and applies the other
// nodes' bans to its shield as if read from the store (so they reach the
// kernel set when firewall offload is on, are not written to this node's
// store, and are never published again: no loops); `ban why` names the
// placing node. When the link comes up (start, reconnection, Sentinel
// failover) the node reads the hash, applies what is still active, drops
// expired fields, and publishes its own active bans again (Redis may have
// lost them). While Redis is down each node enforces its own list, as a
// single node does.
//
// Bounds: the hash holds at most the shield's ban table bound
// (shield.max_bans) fields; beyond that a ban is still published but not
// stored (counted). Expired fields are removed every kSharedBanSweep and at
// every link up. Payloads from Redis are decoded defensively
// (shared_codec.h); a bad one is counted and dropped.
//
// Confined to its worker (the shield's).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster.h"
#include "common/bounded_table.h"
#include "common/event_loop.h"
#include "shield/ban.h"
#include "shield/ip_key.h"

namespace tollgate::shield {
class Shield;
}

namespace tollgate::cluster {

// How often expired bans are removed from the shared hash.
inline constexpr Millis kSharedBanSweep{60'000};

struct SharedBanStats {
  uint64_t published = 0;    // bans of this node published
  uint64_t unpublished = 0;  // lifts of this node published
  uint64_t applied = 0;      // other nodes' bans applied to the shield
  uint64_t lifted = 0;       // other nodes' lifts applied
  uint64_t rejected = 0;     // payloads that did not decode (dropped)
  uint64_t notStored = 0;    // bans published but not stored: hash full
  uint64_t notShared = 0;    // changes while Redis was down (re-published on up)
  uint64_t resyncs = 0;      // link-up rounds (read back, re-published)
  uint64_t swept = 0;        // expired fields removed from the hash
};

// A ban in its shared form, and back. Exposed for tests.
std::string encodeBan(std::string_view nodeId, const shield::BanInfo& ban);
struct SharedBan {
  std::string node;
  shield::BanInfo ban;
};
std::optional<SharedBan> decodeBan(std::string_view payload);

class SharedBans {
 public:
  // `maxShared`: the hash's bound (shield.max_bans).
  SharedBans(EventLoop& loop, Cluster& cluster, shield::Shield& shield, size_t maxShared);
  ~SharedBans();
  SharedBans(const SharedBans&) = delete;
  SharedBans& operator=(const SharedBans&) = delete;

  // Subscribes and hooks the link's up event; before Cluster::start().
  void start();

  // From the node's BanListener, for every ban change of the shield.
  // Changes the shield makes while applying another node's ban are
  // recognised and not published again.
  void onBanAdded(const shield::BanInfo& ban, bool fromStore);
  void onBanRemoved(const shield::PrefixKey& prefix);

  // True while the shield applies another node's ban or lift: the node
  // persists those in its own store (so `ban why`/`ban list` name them and
  // a restart keeps them) but does not publish them.
  bool applyingRemote() const { return applying_; }

  const SharedBanStats& stats() const { return stats_; }

 private:
  struct Remote {
    bool pinned() const { return false; }
  };
  using RemoteTable = BoundedTable<shield::PrefixKey, Remote, shield::KeyHasher>;

  void publish(const shield::BanInfo& ban);
  void applyRemote(std::string_view payload);
  void applyRemoteLift(std::string_view payload);
  void resync();
  void sweep();

  EventLoop& loop_;
  Cluster& cluster_;
  shield::Shield& shield_;
  size_t maxShared_;
  std::string hashKey_;
  std::string banChannel_;
  std::string unbanChannel_;
  RemoteTable remote_;     // prefixes whose ban came from another node
  bool applying_ = false;  // inside applyRemote*: the shield's callbacks are ours
  Timer sweepTimer_;
  SharedBanStats stats_;
};

}  // namespace tollgate::cluster
