// SharedRegistrations: the registrar's bindings shared with the other nodes
// of a cluster through Redis, so a call entering any node reaches an
// account registered through another (docs/cluster-registrations.md), the
// way OpenSIPS' federated usrloc keeps one location table per cluster.
//
//   <prefix>reg:<username>  a hash, one field per contact: the value is
//       "1;<expires ms>;<registered ms>;<online 0|1>;<owner node id>";
//       each write drops the fields past their expiry and extends the key's
//       PEXPIRE to the latest expiry (so a dead node's bindings vanish at
//       their own expiry at the latest). The key set is bounded by the
//       provisioned registering accounts (only a REGISTER that passed
//       digest writes), its fields by max_contacts per node.
//   <prefix>peer-key  32 random bytes (64 hex digits), written once (SET NX) by the first
//       node that reaches Redis, read by every node on each (re)connection:
//       the HMAC key of peer requests (cluster/peer_token.h).
//
// The node is the BindingListener of its registrar through this object
// (it passes every change on to `next`, the store). A binding's owner is
// the node whose registrar holds it; a call on another node finds it
// through owners() (one HGETALL per call, only when no local binding
// answers) and goes through the owner: the owner has the NAT mapping or the
// TCP/TLS connection. While Redis is down writes are not queued: when the
// link comes back (onUp) the node re-announces every binding it holds.
//
// Peer nodes are also vouched for in the shield (TrustSink) for as long as
// their heartbeat is alive, so peer traffic passes as a gateway's does;
// each peer INVITE is still authenticated by its header (verify()).
//
// Confined to its worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster.h"
#include "cluster/peer_token.h"
#include "common/bounded_table.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/random.h"
#include "registrar/binding.h"
#include "registrar/peer_bindings.h"
#include "registrar/registrar.h"

namespace tollgate::cluster {

// Peer headers remembered against replay (each for kPeerTokenWindow): at
// 65,536 a replay needs more than 2,000 peer calls a second in between
// (then the oldest are forgotten first, counted as peer_replay_evictions).
inline constexpr size_t kMaxPeerReplayEntries = 1u << 16;
// Bindings of one account read back from Redis at most: max_contacts per
// node (admission::kMaxContactsLimit) times any sane node count.
inline constexpr size_t kMaxSharedBindingsPerAccount = 1024;

struct SharedRegistrationStats {
  uint64_t written = 0;        // HSETs of a binding (new, refreshed, state change)
  uint64_t removed = 0;        // HDELs of a binding this node owned
  uint64_t reannounced = 0;    // bindings written again when the link came up
  uint64_t writesSkipped = 0;  // changes not written: Redis down (re-announced on up)
  uint64_t writeErrors = 0;    // no reply or an error reply to a write
  uint64_t lookups = 0;        // owners() asked
  uint64_t lookupsFound = 0;   // ... and found at least one live owner
  uint64_t lookupsFailed = 0;  // ... and Redis did not answer (down, timeout, error)
  uint64_t replayEvictions = 0;
  bool keyLoaded = false;  // the peer key is known
};

class SharedRegistrations final : public registrar::BindingListener,
                                  public registrar::PeerBindings {
 public:
  // `next` (may be null) hears of every change after this does.
  SharedRegistrations(Cluster& cluster, EventLoop& loop, const Clock& clock, Random& random,
                      registrar::Registrar& registrar, registrar::BindingListener* next);
  ~SharedRegistrations() override;
  SharedRegistrations(const SharedRegistrations&) = delete;
  SharedRegistrations& operator=(const SharedRegistrations&) = delete;

  // `vouch(ip, ttl)`: trust a live peer's address in the shield for `ttl`
  // (shield::TrustSink::vouch); empty = no shield.
  void setVouch(std::function<void(const net::IpAddress&, std::chrono::seconds)> vouch) {
    vouch_ = std::move(vouch);
  }
  // Hooks the link (key + re-announce on every up) and starts vouching for
  // peers; call before Cluster::start.
  void start();

  // registrar::BindingListener
  void bindingSaved(const registrar::Binding& b) override;
  void bindingRemoved(const registrar::Binding& b) override;

  // registrar::PeerBindings
  void owners(std::string username,
              std::function<void(std::vector<registrar::PeerOwner>)> done) override;
  std::string sign(std::string_view callId, std::string_view fromTag,
                   std::string_view username) override;
  registrar::PeerVerdict verify(const net::SockAddr& from, std::string_view value,
                                std::string_view callId, std::string_view fromTag,
                                std::string_view username, std::string* node) override;

  SharedRegistrationStats stats() const { return stats_; }

  // The hash value of a binding (exposed for tests), and its parse.
  struct Entry {
    int64_t expiresMs = 0;
    int64_t registeredMs = 0;
    bool online = false;
    std::string owner;
  };
  static std::string encode(const registrar::Binding& b, std::string_view owner);
  static bool decode(std::string_view value, Entry* out);

 private:
  struct StringHash {
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void write(const registrar::Binding& b, bool reannounce);
  // The live peer owners in an HGETALL reply of reg:<username>, newest first.
  std::vector<registrar::PeerOwner> ownersIn(const RedisReply* reply);
  void onLinkUp();
  void vouchPeers();  // every heartbeat: each live peer's address
  void vouchPeer(const net::IpAddress& ip);
  void noteFallback(std::string_view what);

  Cluster& cluster_;
  EventLoop& loop_;
  const Clock& clock_;
  Random& random_;
  registrar::Registrar& registrar_;
  registrar::BindingListener* next_;
  std::function<void(const net::IpAddress&, std::chrono::seconds)> vouch_;
  RedisScript saveScript_;
  RedisScript removeScript_;
  PeerToken token_;
  BoundedTable<std::string, int64_t, StringHash> seen_;  // accepted MACs -> wall ms they expire
  Timer vouchTimer_;
  // Callbacks posted to the loop or waiting on Redis check it: they may
  // outlive this object at shutdown.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  SharedRegistrationStats stats_;
  bool fallbackLogged_ = false;  // this outage's fallback was logged
};

}  // namespace tollgate::cluster
