// Membership of this node through Redis. See cluster.h.
#include "cluster/cluster.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "common/log.h"

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "0"
#endif

namespace tollgate::cluster {
namespace {

// Members of <prefix>nodes whose last heartbeat is older than this many
// node_ttl are removed by any node's heartbeat: a node that died (no clean
// leave) disappears from the set after a while, yet stays there long enough
// for `cluster status` to be read in the meantime.
constexpr int64_t kPruneTtls = 10;
// Nodes one heartbeat reads at most: a cluster is a handful of nodes; the
// bound keeps a polluted set from making every heartbeat expensive.
constexpr size_t kMaxNodes = 64;

// The heartbeat, in Redis time (TIME), so that every node's score and every
// liveness test in other scripts use one clock whatever the nodes' clocks.
// KEYS[1] = <prefix>nodes, KEYS[2] = <prefix>node:<id>
// ARGV = id, sip, started_ms, calls, version, node_ttl_ms, prune_ms,
//        <prefix>node:, max_nodes
// Returns {now_ms, {id, seen_ms, sip, started_ms, calls}...} of live nodes,
// or {-1, sip} when another live node holds this id with another address
// (two nodes configured with one node_id): nothing is written then.
constexpr const char* kHeartbeat = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[6])
local held = redis.call('HMGET', KEYS[2], 'sip', 'seen')
if held[1] and held[1] ~= ARGV[2] and tonumber(held[2] or 0) >= now - ttl then
  return {-1, held[1]}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], 'sip', ARGV[2], 'started', ARGV[3], 'seen', now,
           'calls', ARGV[4], 'version', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[7]))
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now - ttl, '+inf', 'WITHSCORES',
                       'LIMIT', 0, tonumber(ARGV[9]))
local out = {now}
for i = 1, #ids, 2 do
  local h = redis.call('HMGET', ARGV[8] .. ids[i], 'sip', 'started', 'calls')
  out[#out + 1] = {ids[i], ids[i + 1], h[1] or '', h[2] or '0', h[3] or '0'}
end
return out
)lua";

int64_t toInt(std::string_view s) {
  int64_t v = 0;
  // Scores may come as "1700000000123" or in exponent form from older
  // Redis versions; the integer prefix is what we want either way.
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

}  // namespace

struct Cluster::State {
  RedisScript heartbeat{kHeartbeat};
  Timer tick;
  std::string sipAddress;
  std::function<uint64_t()> calls;
  int64_t startedUs = 0;
  bool started = false;
  bool inFlight = false;  // one heartbeat at a time
  bool conflict = false;  // another live node holds our node id
  std::vector<NodeInfo> nodes;
  std::vector<net::SockAddr> peers;    // SIP addresses of the live nodes but this one
  std::set<std::string> refusedPeers;  // "id@sip" already logged (bounded by kMaxNodes)
};

Cluster::Cluster(EventLoop& loop, ClusterSettings settings)
    : loop_(loop),
      settings_(std::move(settings)),
      redis_(std::make_unique<RedisLink>(loop_, settings_)),
      state_(std::make_unique<State>()) {}

// Without stop() first (a start-up failure), the link closes silently:
// nobody's callbacks run during destruction.
Cluster::~Cluster() {
  state_->tick.cancel();
}

std::string Cluster::key(std::string_view suffix) const {
  std::string k;
  k.reserve(settings_.keyPrefix.size() + suffix.size());
  k += settings_.keyPrefix;
  k += suffix;
  return k;
}

void Cluster::start(std::string sipAddress, std::function<uint64_t()> calls) {
  State& st = *state_;
  st.sipAddress = std::move(sipAddress);
  st.calls = std::move(calls);
  st.startedUs = loop_.clock().wallMicros();
  st.started = true;
  // Until the first heartbeat round, this node alone is known alive.
  NodeInfo self;
  self.id = settings_.nodeId;
  self.sipAddress = st.sipAddress;
  self.startedUs = st.startedUs;
  self.self = true;
  st.nodes = {self};
  st.tick.setCallback([this] {
    beat();
    state_->tick.start(loop_.timers(), settings_.heartbeat);
  });
  // A heartbeat as soon as the link is up: peers see this node, and this
  // node sees them, without waiting a whole period.
  redis_->onUp([this] { beat(); });
  redis_->start();
  st.tick.start(loop_.timers(), settings_.heartbeat);
  log::info("cluster.started")
      .kv("node_id", settings_.nodeId)
      .kv("sip", st.sipAddress)
      .kv("down_rule", downRuleName(settings_.downRule))
      .kv("key_prefix", settings_.keyPrefix);
}

void Cluster::beat() {
  State& st = *state_;
  if (!st.started || st.inFlight || !redis_->up()) return;
  st.inFlight = true;
  const uint64_t calls = st.calls ? st.calls() : 0;
  redis_->eval(st.heartbeat, {key("nodes"), key("node:" + settings_.nodeId)},
               {settings_.nodeId, st.sipAddress, std::to_string(st.startedUs / 1000),
                std::to_string(calls), TOLLGATE_VERSION, std::to_string(settings_.nodeTtl.count()),
                std::to_string(settings_.nodeTtl.count() * kPruneTtls), key("node:"),
                std::to_string(kMaxNodes)},
               [this](const RedisReply* r) {
                 state_->inFlight = false;
                 if (r == nullptr) return;  // link down: keep the last view
                 if (r->isError()) {
                   log::warn("cluster.heartbeat_failed").kv("error", r->str);
                   return;
                 }
                 absorb(*r);
               });
}

void Cluster::absorb(const RedisReply& r) {
  if (r.type != RedisReply::Type::Array || r.elements.empty()) return;
  State& st = *state_;
  if (r.elements[0].type == RedisReply::Type::Integer && r.elements[0].integer == -1) {
    // Said once per conflict, not every heartbeat; the node stays out of
    // the node set (and keeps its last view) until the other one is gone.
    const std::string other = r.elements.size() > 1 ? r.elements[1].str : "";
    if (!st.conflict) {
      log::error("cluster.node_id_conflict")
          .kv("node_id", settings_.nodeId)
          .kv("sip", st.sipAddress)
          .kv("held_by", other)
          .kv("note", "another live node uses this cluster.node_id; give each node its own");
    }
    st.conflict = true;
    return;
  }
  if (st.conflict) log::info("cluster.node_id_conflict_over").kv("node_id", settings_.nodeId);
  st.conflict = false;
  std::vector<NodeInfo> nodes;
  std::vector<net::SockAddr> peers;
  for (size_t i = 1; i < r.elements.size(); ++i) {
    const RedisReply& e = r.elements[i];
    if (e.type != RedisReply::Type::Array || e.elements.size() != 5) continue;
    NodeInfo n;
    n.id = e.elements[0].str;
    n.seenUs = toInt(e.elements[1].str) * 1000;
    n.sipAddress = e.elements[2].str;
    n.startedUs = toInt(e.elements[3].str) * 1000;
    n.calls = static_cast<uint64_t>(std::max<int64_t>(0, toInt(e.elements[4].str)));
    n.self = n.id == settings_.nodeId;
    if (!n.self) {
      auto a = net::SockAddr::parse(n.sipAddress);
      if (a && inPeerNetworks(a->ip())) {
        peers.push_back(*a);
      } else if (st.refusedPeers.insert(n.id + "@" + n.sipAddress).second &&
                 st.refusedPeers.size() <= kMaxNodes) {
        // Said once per (node, address): a heartbeat naming an address
        // outside cluster.peer_networks is not made a peer.
        log::warn("cluster.peer_refused")
            .kv("node_id", n.id)
            .kv("sip", n.sipAddress)
            .kv("why", a ? "outside cluster.peer_networks" : "not ip:port");
      }
    }
    nodes.push_back(std::move(n));
  }
  size_t before = st.nodes.size();
  std::sort(nodes.begin(), nodes.end(),
            [](const NodeInfo& a, const NodeInfo& b) { return a.id < b.id; });
  if (nodes.size() != before) {
    std::string ids;
    for (const NodeInfo& n : nodes) {
      if (!ids.empty()) ids += ',';
      ids += n.id;
    }
    log::info("cluster.nodes_changed").kv("nodes", nodes.size()).kv("ids", ids);
  }
  if (!nodes.empty()) {
    st.nodes = std::move(nodes);
    st.peers = std::move(peers);
  }
}

void Cluster::stop() {
  State& st = *state_;
  st.tick.cancel();
  if (st.started && redis_->up()) {
    // A clean leave: the others stop counting this node at once, not after
    // node_ttl. Waited for (bounded by cluster.timeout): the node is
    // stopping and the worker loop is no longer run by anyone else.
    bool done = false;
    redis_->command({"ZREM", key("nodes"), settings_.nodeId});
    redis_->command({"DEL", key("node:" + settings_.nodeId)},
                    [&done](const RedisReply*) { done = true; });
    const MonoTime deadline = loop_.clock().now() + settings_.timeout + Millis(50);
    while (!done && loop_.clock().now() < deadline) loop_.runOnce(Millis(5));
    log::info("cluster.left").kv("node_id", settings_.nodeId).kv("confirmed", done);
  }
  st.started = false;
  redis_->stop();
}

bool Cluster::shared() const {
  return redis_->up();
}

size_t Cluster::liveNodes() const {
  return std::max<size_t>(1, state_->nodes.size());
}

const NodeInfo* Cluster::node(std::string_view id) const {
  for (const NodeInfo& n : state_->nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

bool Cluster::inPeerNetworks(const net::IpAddress& ip) const {
  if (settings_.peerNetworks.empty()) return true;
  for (const net::Cidr& c : settings_.peerNetworks) {
    if (c.contains(ip)) return true;
  }
  return false;
}

bool Cluster::isPeer(const net::SockAddr& addr) const {
  for (const net::SockAddr& p : state_->peers) {
    if (p == addr) return true;
  }
  return false;
}

ClusterStatus Cluster::status() const {
  ClusterStatus s;
  s.enabled = true;
  s.nodeId = settings_.nodeId;
  s.shared = shared();
  s.downRule = settings_.downRule;
  s.redis = redis_->stats();
  s.nodes = state_->nodes;
  s.viaSentinel = !settings_.sentinels.empty();
  s.masterName = settings_.masterName;
  s.heartbeat = settings_.heartbeat;
  s.nodeTtl = settings_.nodeTtl;
  s.idConflict = state_->conflict;
  return s;
}

}  // namespace tollgate::cluster
