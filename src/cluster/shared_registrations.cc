// Registrations shared through Redis. See shared_registrations.h.
#include "cluster/shared_registrations.h"

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "common/log.h"

namespace tollgate::cluster {

namespace {

// KEYS[1] reg:<user>; ARGV: contact, value, ttl ms, now ms. Sets the field,
// drops fields past their expiry (the value's second field), and extends
// the key's expiry to the latest binding's.
constexpr const char* kSaveLua = R"(
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local now = tonumber(ARGV[4])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local exp = tonumber(string.match(all[i + 1], '^[^;]*;([^;]*);'))
  if exp == nil or exp <= now then redis.call('HDEL', KEYS[1], all[i]) end
end
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
)";

// KEYS[1] reg:<user>; ARGV: contact, owner. Deletes the field only when
// this node still owns it (the phone may have registered the same contact
// through another node since).
constexpr const char* kRemoveLua = R"(
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local owner = string.match(v, '^[^;]*;[^;]*;[^;]*;[^;]*;(.*)$')
if owner ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
)";

bool parseInt(std::string_view s, int64_t* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc{} && end == s.data() + s.size() && !s.empty();
}

// The key's bytes from its hex form; "" (refused by setKey) when it is not
// lowercase hex of the right length.
std::string fromHex(std::string_view hex) {
  if (hex.size() != 2 * kPeerKeyBytes) return {};
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int v = 0;
    for (char c : hex.substr(i, 2)) {
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return {};
      v = v * 16 + d;
    }
    out += static_cast<char>(v);
  }
  return out;
}

}  // namespace

SharedRegistrations::SharedRegistrations(Cluster& cluster, EventLoop& loop, const Clock& clock,
                                         Random& random, registrar::Registrar& registrar,
                                         registrar::BindingListener* next)
    : cluster_(cluster),
      loop_(loop),
      clock_(clock),
      random_(random),
      registrar_(registrar),
      next_(next),
      saveScript_(kSaveLua),
      removeScript_(kRemoveLua),
      seen_(kMaxPeerReplayEntries, StringHash{}) {
  vouchTimer_.setCallback([this] { vouchPeers(); });
}

SharedRegistrations::~SharedRegistrations() {
  *alive_ = false;
}

void SharedRegistrations::start() {
  std::weak_ptr<bool> alive = alive_;
  cluster_.redis().onUp([this, alive] {
    if (alive.lock() && *alive.lock()) onLinkUp();
  });
  if (cluster_.shared()) onLinkUp();
  vouchTimer_.start(loop_.timers(), Millis(0));
}

std::string SharedRegistrations::encode(const registrar::Binding& b, std::string_view owner) {
  return "1;" + std::to_string(b.expiresUs / 1000) + ";" + std::to_string(b.registeredUs / 1000) +
         ";" + (b.online ? "1" : "0") + ";" + std::string(owner);
}

bool SharedRegistrations::decode(std::string_view v, Entry* out) {
  // "1;<expires ms>;<registered ms>;<online>;<owner>": the owner last, so
  // it may hold any character but the split is never ambiguous.
  std::string_view f[4];
  for (std::string_view& field : f) {
    const size_t semi = v.find(';');
    if (semi == std::string_view::npos) return false;
    field = v.substr(0, semi);
    v.remove_prefix(semi + 1);
  }
  if (f[0] != "1" || (f[3] != "0" && f[3] != "1") || v.empty()) return false;
  if (!parseInt(f[1], &out->expiresMs) || !parseInt(f[2], &out->registeredMs)) return false;
  out->online = f[3] == "1";
  out->owner = std::string(v);
  return true;
}

void SharedRegistrations::onLinkUp() {
  fallbackLogged_ = false;
  // The peer key: the first node to reach Redis creates it; every node
  // reads what is there (both commands leave in one write).
  // Stored as hex: readable with redis-cli, and a value of another length
  // or alphabet is refused rather than used.
  unsigned char raw[kPeerKeyBytes];
  random_.fill(raw, sizeof raw);
  std::string fresh;
  for (unsigned char c : raw) {
    fresh += "0123456789abcdef"[c >> 4];
    fresh += "0123456789abcdef"[c & 0xf];
  }
  const std::string keyName = cluster_.key("peer-key");
  cluster_.redis().command({"SET", keyName, fresh, "NX"});
  std::weak_ptr<bool> alive = alive_;
  cluster_.redis().command({"GET", keyName}, [this, alive](const RedisReply* r) {
    if (!alive.lock() || !*alive.lock()) return;
    if (r == nullptr || r->type != RedisReply::Type::String || !token_.setKey(fromHex(r->str))) {
      log::warn("cluster.peer_key_unavailable").kv("why", r == nullptr ? "no reply" : "bad value");
      return;
    }
    if (!stats_.keyLoaded) log::info("cluster.peer_key_loaded");
    stats_.keyLoaded = true;
  });
  // Re-announce what this node holds: Redis may have lost it (a restart, a
  // failover to a replica that had not seen the last writes).
  size_t n = 0;
  for (const registrar::Binding& b : registrar_.bindings()) {
    write(b, true);
    ++n;
  }
  log::info("cluster.registrations_reannounced").kv("bindings", n);
}

void SharedRegistrations::noteFallback(std::string_view what) {
  // Every fallback is counted; the log says it once per outage (callers of
  // offline accounts could otherwise fill it).
  if (fallbackLogged_) return;
  fallbackLogged_ = true;
  log::warn("cluster.registrations_local_only")
      .kv("first", what)
      .kv("effect",
          "bindings kept locally, re-announced on reconnect; calls to accounts "
          "registered through other nodes get 480");
}

void SharedRegistrations::write(const registrar::Binding& b, bool reannounce) {
  if (!cluster_.shared()) {
    ++stats_.writesSkipped;
    noteFallback("write");
    return;
  }
  const int64_t nowMs = clock_.wallMicros() / 1000;
  const int64_t ttl = std::max<int64_t>(b.expiresUs / 1000 - nowMs, 1);
  if (reannounce) {
    ++stats_.reannounced;
  } else {
    ++stats_.written;
  }
  std::weak_ptr<bool> alive = alive_;
  cluster_.redis().eval(
      saveScript_, {cluster_.key("reg:" + b.username)},
      {b.contact, encode(b, cluster_.nodeId()), std::to_string(ttl), std::to_string(nowMs)},
      [this, alive](const RedisReply* r) {
        if (!alive.lock() || !*alive.lock()) return;
        if (r == nullptr || r->isError()) ++stats_.writeErrors;
      });
}

void SharedRegistrations::bindingSaved(const registrar::Binding& b) {
  write(b, false);
  if (next_) next_->bindingSaved(b);
}

void SharedRegistrations::bindingRemoved(const registrar::Binding& b) {
  if (cluster_.shared()) {
    ++stats_.removed;
    std::weak_ptr<bool> alive = alive_;
    cluster_.redis().eval(removeScript_, {cluster_.key("reg:" + b.username)},
                          {b.contact, cluster_.nodeId()}, [this, alive](const RedisReply* r) {
                            if (!alive.lock() || !*alive.lock()) return;
                            if (r == nullptr || r->isError()) ++stats_.writeErrors;
                          });
  } else {
    // Gone from Redis at the key's expiry, and never delivered to: the
    // owner answers 480 for a binding it no longer has.
    ++stats_.writesSkipped;
    noteFallback("remove");
  }
  if (next_) next_->bindingRemoved(b);
}

void SharedRegistrations::owners(std::string username,
                                 std::function<void(std::vector<registrar::PeerOwner>)> done) {
  ++stats_.lookups;
  std::weak_ptr<bool> alive = alive_;
  if (!cluster_.shared()) {
    // Never inside the caller's frame (peer_bindings.h).
    ++stats_.lookupsFailed;
    noteFallback("lookup");
    loop_.post([alive, done = std::move(done)] {
      if (alive.lock() && *alive.lock()) done({});
    });
    return;
  }
  cluster_.redis().command({"HGETALL", cluster_.key("reg:" + username)},
                           [this, alive, done = std::move(done)](const RedisReply* r) {
                             if (!alive.lock() || !*alive.lock()) return;
                             done(ownersIn(r));
                           });
}

std::vector<registrar::PeerOwner> SharedRegistrations::ownersIn(const RedisReply* r) {
  std::vector<registrar::PeerOwner> found;
  if (r == nullptr || r->type != RedisReply::Type::Array) {
    ++stats_.lookupsFailed;
    return found;
  }
  const int64_t nowMs = clock_.wallMicros() / 1000;
  // The newest online, unexpired binding of each live peer node.
  std::unordered_map<std::string, int64_t> newest;
  const size_t n = std::min(r->elements.size() / 2, kMaxSharedBindingsPerAccount);
  for (size_t i = 0; i < n; ++i) {
    Entry e;
    if (!decode(r->elements[2 * i + 1].str, &e) || !e.online || e.expiresMs <= nowMs) continue;
    const NodeInfo* node = cluster_.node(e.owner);
    if (node == nullptr || node->self) continue;  // dead (heartbeat expired), or this node
    auto [it, inserted] = newest.try_emplace(e.owner, e.registeredMs);
    if (!inserted) it->second = std::max(it->second, e.registeredMs);
  }
  std::vector<std::pair<int64_t, std::string>> order;
  for (auto& [owner, at] : newest) order.emplace_back(at, owner);
  std::sort(order.begin(), order.end(), std::greater<>());
  for (auto& [at, owner] : order) {
    auto addr = net::SockAddr::parse(cluster_.node(owner)->sipAddress);
    // Only to a peer address (cluster.peer_networks): a heartbeat naming
    // any other address cannot draw calls there.
    if (!addr || !cluster_.isPeer(*addr)) continue;
    vouchPeer(addr->ip());  // its answers must not meet the strangers' limits
    found.push_back({owner, *addr});
  }
  if (!found.empty()) ++stats_.lookupsFound;
  return found;
}

std::string SharedRegistrations::sign(std::string_view callId, std::string_view fromTag,
                                      std::string_view username) {
  return token_.sign(cluster_.nodeId(), clock_.wallMicros() / 1000, callId, fromTag, username);
}

registrar::PeerVerdict SharedRegistrations::verify(const net::SockAddr& from,
                                                   std::string_view value, std::string_view callId,
                                                   std::string_view fromTag,
                                                   std::string_view username, std::string* node) {
  using registrar::PeerVerdict;
  // The source first: from anywhere but a live peer's SIP address the
  // header is refused before any MAC is computed.
  if (!cluster_.isPeer(from)) return PeerVerdict::NotPeer;
  const int64_t nowMs = clock_.wallMicros() / 1000;
  PeerTokenFields f;
  const PeerVerdict v = token_.check(value, nowMs, callId, fromTag, username, &f);
  if (v != PeerVerdict::Authentic) return v;
  // The node named must be the one at that address: a peer cannot speak
  // for another.
  const NodeInfo* info = cluster_.node(f.node);
  auto addr = info ? net::SockAddr::parse(info->sipAddress) : std::nullopt;
  if (info == nullptr || info->self || !addr || !(*addr == from)) return PeerVerdict::NotPeer;
  // One use per header: a copy sent again with another Via branch (the
  // transaction layer absorbs true retransmissions) is a replay.
  bool inserted = false;
  bool evicted = false;
  int64_t* until = seen_.touchWith(
      f.mac, &inserted, [nowMs](const int64_t& exp) { return exp > nowMs; }, true, nullptr,
      &evicted);
  if (evicted) ++stats_.replayEvictions;
  if (until == nullptr) return PeerVerdict::Replayed;  // cannot remember it: refuse
  if (!inserted && *until > nowMs) return PeerVerdict::Replayed;
  *until = f.wallMs + kPeerTokenWindow.count() + 1;
  *node = std::string(f.node);
  // Before the next vouching round: the rest of this call (and the next
  // ones) pass the shield as a gateway's traffic does.
  vouchPeer(from.ip());
  return PeerVerdict::Authentic;
}

void SharedRegistrations::vouchPeer(const net::IpAddress& ip) {
  // For a little longer than a peer stays alive without a heartbeat.
  if (vouch_) vouch_(ip, std::chrono::seconds(cluster_.settings().nodeTtl.count() / 1000 + 2));
}

void SharedRegistrations::vouchPeers() {
  if (vouch_) {
    for (const NodeInfo& n : cluster_.status().nodes) {
      if (n.self) continue;
      auto addr = net::SockAddr::parse(n.sipAddress);
      if (addr && cluster_.isPeer(*addr)) vouchPeer(addr->ip());
    }
  }
  vouchTimer_.start(loop_.timers(), cluster_.settings().heartbeat);
}

}  // namespace tollgate::cluster
