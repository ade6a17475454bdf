// Cluster: this node's membership among the nodes sharing one Redis. Every
// cluster.heartbeat it writes its heartbeat (node id, SIP address it takes
// peer traffic on, start time, calls in progress) with a TTL of
// cluster.node_ttl, and reads the others': the live node set is what the
// shared-state owners (limits, bans, auth counters, registrations) use to
// count only live nodes' holdings, to compute a node's share of a limit
// while Redis is down (DownRule::LocalShare), and to reach the node that
// owns a registration. It owns the RedisLink. `tollgate cluster status`
// and /api/v1/cluster report its status().
//
// Keys (what the other owners of shared state rely on; docs/cluster.md):
//   <prefix>nodes       sorted set: member = node id, score = Redis time
//                       (TIME, in ms) of that node's last heartbeat. A node
//                       is alive while score >= now_ms - node_ttl_ms; a Lua
//                       script tests it with
//                         local t = redis.call('TIME')
//                         local now = t[1] * 1000 + math.floor(t[2] / 1000)
//                         local s = redis.call('ZSCORE', prefix..'nodes', id)
//                         alive = s and tonumber(s) >= now - node_ttl_ms
//                       Members older than 10 x node_ttl are pruned by any
//                       heartbeat; a clean stop removes its own member.
//   <prefix>node:<id>   hash: sip ("ip:port"), started (wall ms), seen (Redis
//                       ms), calls, version; PEXPIRE node_ttl_ms.
// The heartbeat is one EVALSHA every cluster.heartbeat (plus the link's
// PING); its reply refreshes the live node list this object serves.
//
// Confined to its worker (status() is copied out by the node for the API).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/cluster_settings.h"
#include "cluster/redis_link.h"
#include "common/event_loop.h"
#include "common/net.h"

namespace tollgate::cluster {

struct NodeInfo {
  std::string id;
  std::string sipAddress;  // "ip:port" (UDP) this node accepts peer traffic on
  int64_t startedUs = 0;   // wall clock
  int64_t seenUs = 0;      // wall clock of its last heartbeat
  uint64_t calls = 0;      // calls in progress at its last heartbeat
  bool self = false;
};

struct ClusterStatus {
  bool enabled = false;
  std::string nodeId;
  bool shared = false;  // Redis up: shared state is authoritative
  DownRule downRule = DownRule::LocalShare;
  RedisLinkStats redis;
  std::vector<NodeInfo> nodes;  // live nodes, this one included
  bool viaSentinel = false;     // the master is found through Sentinel
  std::string masterName;       // with Sentinel
  Millis heartbeat{0};
  Millis nodeTtl{0};
  // Another live node (another SIP address) holds this node's id: this one
  // writes no heartbeat until it is gone (cluster.node_id_conflict).
  bool idConflict = false;
};

class Cluster {
 public:
  Cluster(EventLoop& loop, ClusterSettings settings);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // `sipAddress`: where peers send requests to this node; `calls`: read at
  // each heartbeat.
  void start(std::string sipAddress, std::function<uint64_t()> calls);
  void stop();  // deletes this node's heartbeat (a clean leave)

  const ClusterSettings& settings() const { return settings_; }
  const std::string& nodeId() const { return settings_.nodeId; }
  // settings().keyPrefix + suffix
  std::string key(std::string_view suffix) const;
  RedisLink& redis() { return *redis_; }
  bool shared() const;  // the link is up
  // Live nodes (this one included) as of the last heartbeat round; at
  // least 1. The divisor of DownRule::LocalShare.
  size_t liveNodes() const;
  const NodeInfo* node(std::string_view id) const;
  // True when `addr` is the SIP address of a live peer node (not this one)
  // inside cluster.peer_networks: requests from it are peer traffic
  // (docs/cluster.md).
  bool isPeer(const net::SockAddr& addr) const;

  ClusterStatus status() const;

 private:
  void beat();
  void absorb(const RedisReply& reply);
  bool inPeerNetworks(const net::IpAddress& ip) const;

  EventLoop& loop_;
  ClusterSettings settings_;
  std::unique_ptr<RedisLink> redis_;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tollgate::cluster
