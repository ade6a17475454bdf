// The [cluster] settings (docs/cluster.md, docs/configuration.md): this
// node's identity among its peers, where the shared Redis is (directly or
// through Sentinel), how it is reached, and what the node does while Redis
// is unreachable. A value, externally synchronized: read-only once the
// node is built.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/net.h"

namespace tollgate::cluster {

// What a node does with the shared limits while Redis is unreachable.
enum class DownRule : uint8_t {
  // Each node enforces its share of every limit, ceil(limit / live nodes)
  // (the count of nodes last seen alive), from its local counters: the
  // switch as a whole stays within the limit, each node within its share.
  LocalShare,
  // New calls are refused (503, CDR cluster_unavailable); calls in
  // progress go on.
  Refuse,
};

// A Redis or Sentinel address as written ("host:port").
struct RedisAddress {
  std::string host;
  uint16_t port = 0;
};

// Addresses one node may list; more is a configuration mistake.
inline constexpr size_t kMaxRedisAddresses = 16;

struct ClusterSettings {
  bool enabled = false;  // [cluster] present with redis or sentinels set
  std::string nodeId;    // unique among the nodes; default: store.node_id, else the host name
  // Either a Redis master directly ...
  std::vector<RedisAddress> redis;
  // ... or Sentinels and the master's name (then `redis` is empty).
  std::vector<RedisAddress> sentinels;
  std::string masterName = "tollgate";
  std::string passwordFile;       // mode 0600; "" = no AUTH
  std::string password;           // read from passwordFile at load; never from the config text
  int database = 0;               // SELECT
  std::string keyPrefix = "tg:";  // every key this node writes starts with it
  // TLS to Redis and Sentinel (optional).
  bool tls = false;
  std::string tlsCaFile;    // "" = system store
  std::string tlsCertFile;  // client certificate, optional
  std::string tlsKeyFile;
  std::string tlsServerName;  // SNI / name checked; "" = the host as written
  // A command whose reply has not come in `timeout` counts as lost: its
  // caller gets "no reply" and the link reconnects.
  Millis timeout{250};
  Millis connectTimeout{1'000};
  Millis reconnectInterval{500};
  // Each node refreshes its heartbeat every `heartbeat`; a node whose
  // heartbeat is older than `nodeTtl` is dead for the others: its calls'
  // channels stop counting against the shared limits.
  Millis heartbeat{1'000};
  Millis nodeTtl{5'000};
  DownRule downRule = DownRule::LocalShare;
  // "ip:port" peers send SIP to (the node's heartbeat `sip` field); "" = the
  // node's first UDP listener (with sip.advertised_address for a wildcard).
  std::string advertise;
  // Where peers' SIP may come from: a live node's heartbeat address counts
  // as a peer (Cluster::isPeer) only inside one of these. Empty = any
  // address a heartbeat names (then whoever can write to Redis can make an
  // address a peer: docs/cluster.md, "Security").
  std::vector<net::Cidr> peerNetworks;
};

// Prefixes in cluster.peer_networks at most.
inline constexpr size_t kMaxPeerNetworks = 64;

// The name of a DownRule as configured ("local_share", "refuse").
inline const char* downRuleName(DownRule r) {
  return r == DownRule::Refuse ? "refuse" : "local_share";
}

}  // namespace tollgate::cluster
