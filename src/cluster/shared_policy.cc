// The dynamic blacklist's entries shared through Redis. See
// shared_policy.h.
#include "cluster/shared_policy.h"

#include <algorithm>

#include "cluster/shared_codec.h"
#include "common/log.h"

namespace tollgate::cluster {

namespace {

using admission::BlacklistEntry;
using admission::BlacklistRule;
using admission::NumberSide;

// Longest number a payload may carry (numbers are canonical digits; a
// generous bound).
constexpr size_t kMaxSharedNumber = 64;
constexpr size_t kMaxSharedGateway = 128;
// The sweep reads the expiry as this token of the payload.
constexpr std::string_view kExpiryToken = "10";

// One call counted in a rule's current window. KEYS: this window's counter,
// the previous one's; ARGV: TTL ms (two windows). Replies {this, previous}.
const RedisScript& countScript() {
  static const RedisScript s(R"lua(
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local p = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
return {n, p}
)lua");
  return s;
}

// A caller's call starts. KEYS: nodes zset, the caller's hash; ARGV: node
// id, node TTL ms, hash TTL ms. Replies the live nodes' sum.
const RedisScript& callerStartScript() {
  static const RedisScript s(std::string(kLiveNodesLua) + R"lua(
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return liveSum(KEYS[2])
)lua");
  return s;
}

// A caller's call ends: never below 0. KEYS: the caller's hash; ARGV: node id.
const RedisScript& callerEndScript() {
  static const RedisScript s(R"lua(
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
)lua");
  return s;
}

}  // namespace

std::string encodeEntry(std::string_view nodeId, const BlacklistEntry& e) {
  // Fields: node number side rule gateway enforced created last_hit expires
  // ("expires" is the 10th token, "v1" being the 1st).
  const std::string created = std::to_string(e.createdUs);
  const std::string lastHit = std::to_string(e.lastHitUs);
  const std::string expires = std::to_string(e.expiresUs);
  return encodeShared({nodeId, e.number, admission::sideName(e.side), admission::ruleName(e.rule),
                       e.gateway, e.enforced ? "1" : "0", created, lastHit, expires});
}

std::optional<SharedEntry> decodeEntry(std::string_view payload) {
  auto f = decodeShared(payload);
  if (!f || f->size() != 9 || (*f)[0].empty()) return std::nullopt;
  const std::vector<std::string>& v = *f;
  SharedEntry out;
  out.node = v[0];
  BlacklistEntry& e = out.entry;
  auto created = sharedInt(v[6]);
  auto lastHit = sharedInt(v[7]);
  auto expires = sharedInt(v[8]);
  if (v[1].empty() || v[1].size() > kMaxSharedNumber || v[4].size() > kMaxSharedGateway ||
      !admission::parseSide(v[2], &e.side) || !admission::parseRule(v[3], &e.rule) ||
      (v[5] != "0" && v[5] != "1") || !created || !lastHit || !expires || *created < 0 ||
      *expires < 0) {
    return std::nullopt;
  }
  e.number = v[1];
  e.gateway = v[4];
  e.enforced = v[5] == "1";
  e.createdUs = *created;
  e.lastHitUs = *lastHit;
  e.expiresUs = *expires;
  return out;
}

SharedPolicy::SharedPolicy(EventLoop& loop, Cluster& cluster,
                           admission::DynamicBlacklist& blacklist,
                           admission::BlacklistPersistence* next)
    : loop_(loop),
      cluster_(cluster),
      blacklist_(blacklist),
      next_(next),
      hashKey_(cluster.key("bl:entries")),
      channel_(cluster.key("ch:bl")),
      removalChannel_(cluster.key("ch:unbl")),
      published_(std::max<size_t>(blacklist.settings().maxEntries, 1), StringHasher{}) {}

std::string SharedPolicy::field(std::string_view number, NumberSide side) {
  std::string f(admission::sideName(side));
  f += '|';
  f += number;
  return f;
}

void SharedPolicy::start() {
  RedisLink& link = cluster_.redis();
  link.subscribe(channel_, [this](std::string_view m) { applyRemote(m); });
  link.subscribe(removalChannel_, [this](std::string_view m) { applyRemoteRemoval(m); });
  link.onUp([this] {
    resync();
    announceCallers();
  });
  callerTimer_.setCallback([this] {
    announceCallers();
    callerTimer_.start(loop_.timers(), kCallerAnnounce);
  });
  callerTimer_.start(loop_.timers(), kCallerAnnounce);
  sweepTimer_.setCallback([this] {
    sweep();
    sweepTimer_.start(loop_.timers(), kSharedBlacklistSweep);
  });
  sweepTimer_.start(loop_.timers(), kSharedBlacklistSweep);
}

void SharedPolicy::saveEntry(const BlacklistEntry& e) {
  if (next_ != nullptr) next_->saveEntry(e);
  if (applying_) return;
  Published* p = published_.find(field(e.number, e.side));
  if (p != nullptr && p->enforced == e.enforced &&
      e.expiresUs < p->expiresUs + kBlacklistRepublishSlackUs) {
    return;  // nothing the other nodes need to hear
  }
  publish(e);
}

void SharedPolicy::eraseEntry(std::string_view number, NumberSide side) {
  if (next_ != nullptr) next_->eraseEntry(number, side);
  published_.erase(field(number, side));
}

void SharedPolicy::saveCounters(std::string_view name, std::string blob) {
  if (next_ != nullptr) next_->saveCounters(name, std::move(blob));
}

void SharedPolicy::counted(admission::BlacklistRule rule, std::string_view number, NumberSide side,
                           std::string_view gateway, int64_t nowUs) {
  RedisLink& link = cluster_.redis();
  const admission::BlacklistRuleSettings* rs = blacklist_.ruleSettings(rule);
  if (!link.up() || rs == nullptr || rs->limit == 0 || rs->intervalUs <= 0 ||
      number.size() > kMaxSharedNumber) {
    return;  // counted here only
  }
  const int64_t window = nowUs / rs->intervalUs;
  const std::string base = windowBase(rule, number);
  const double left =
      1.0 - static_cast<double>(nowUs % rs->intervalUs) / static_cast<double>(rs->intervalUs);
  ++stats_.counted;
  link.eval(countScript(),
            {cluster_.key(base + std::to_string(window)),
             cluster_.key(base + std::to_string(window - 1))},
            {std::to_string(2 * rs->intervalUs / 1000 + 1)},
            [this, rule, side, left, limit = rs->limit, number = std::string(number),
             gateway = std::string(gateway)](const RedisReply* r) {
              if (r == nullptr || r->type != RedisReply::Type::Array || r->elements.size() != 2) {
                return;  // the local count stands
              }
              const double estimate = static_cast<double>(r->elements[0].integer) +
                                      static_cast<double>(r->elements[1].integer) * left;
              if (estimate + 1e-9 < static_cast<double>(limit)) return;
              if (blacklist_.listShared(number, side, rule, gateway, loop_.clock().wallMicros())) {
                ++stats_.listed;
              }
            });
}

std::string SharedPolicy::windowBase(admission::BlacklistRule rule, std::string_view number) const {
  return "bl:cnt:" + std::string(admission::ruleName(rule)) + ":" + std::string(number) + ":";
}

void SharedPolicy::answered(std::string_view callee) {
  RedisLink& link = cluster_.redis();
  const admission::BlacklistRuleSettings* rs = blacklist_.ruleSettings(BlacklistRule::NoAnswer);
  if (!link.up() || rs == nullptr || rs->limit == 0 || rs->intervalUs <= 0 ||
      callee.size() > kMaxSharedNumber) {
    return;
  }
  const int64_t window = loop_.clock().wallMicros() / rs->intervalUs;
  const std::string base = windowBase(BlacklistRule::NoAnswer, callee);
  ++stats_.streaksEnded;
  link.command({"DEL", cluster_.key(base + std::to_string(window)),
                cluster_.key(base + std::to_string(window - 1))});
}

void SharedPolicy::callStarted(std::string_view caller, std::string_view gateway, int64_t nowUs) {
  RedisLink& link = cluster_.redis();
  const admission::BlacklistRuleSettings* rs =
      blacklist_.ruleSettings(BlacklistRule::CallerConcurrent);
  if (!link.up() || rs == nullptr || rs->limit == 0 || caller.size() > kMaxSharedNumber) return;
  ++stats_.callerCalls;
  link.eval(callerStartScript(),
            {cluster_.key("nodes"), cluster_.key("bl:cc:" + std::string(caller))},
            {cluster_.nodeId(), std::to_string(cluster_.settings().nodeTtl.count()),
             std::to_string(kCallerLiveTtl.count())},
            [this, limit = rs->limit, caller = std::string(caller),
             gateway = std::string(gateway)](const RedisReply* r) {
              if (r == nullptr || r->type != RedisReply::Type::Integer) return;
              if (r->integer <= static_cast<int64_t>(limit)) return;
              if (blacklist_.listShared(caller, NumberSide::Caller, BlacklistRule::CallerConcurrent,
                                        gateway, loop_.clock().wallMicros())) {
                ++stats_.listed;
              }
            });
}

void SharedPolicy::callEnded(std::string_view caller) {
  RedisLink& link = cluster_.redis();
  const admission::BlacklistRuleSettings* rs =
      blacklist_.ruleSettings(BlacklistRule::CallerConcurrent);
  if (!link.up() || rs == nullptr || rs->limit == 0 || caller.size() > kMaxSharedNumber) return;
  link.eval(callerEndScript(), {cluster_.key("bl:cc:" + std::string(caller))}, {cluster_.nodeId()});
}

void SharedPolicy::announceCallers() {
  RedisLink& link = cluster_.redis();
  const admission::BlacklistRuleSettings* rs =
      blacklist_.ruleSettings(BlacklistRule::CallerConcurrent);
  if (!link.up() || rs == nullptr || rs->limit == 0) return;
  const std::string ttl = std::to_string(kCallerLiveTtl.count());
  blacklist_.forEachLiveCaller([&](std::string_view caller, uint32_t n) {
    if (caller.empty() || caller.size() > kMaxSharedNumber) return;
    ++stats_.callerAnnounced;
    const std::string k = cluster_.key("bl:cc:" + std::string(caller));
    link.command({"HSET", k, cluster_.nodeId(), std::to_string(n)});
    link.command({"PEXPIRE", k, ttl});
  });
}

void SharedPolicy::publish(const BlacklistEntry& e) {
  RedisLink& link = cluster_.redis();
  if (!link.up()) return;  // resync() publishes it when the link is back
  const std::string f = field(e.number, e.side);
  Published* p = published_.touch(f);
  p->expiresUs = e.expiresUs;
  p->enforced = e.enforced;
  ++stats_.published;
  link.eval(
      storeAndPublishScript(), {hashKey_},
      {f, encodeEntry(cluster_.nodeId(), e), std::to_string(blacklist_.settings().maxEntries),
       channel_, "0"},
      [this](const RedisReply* r) {
        if (r != nullptr && r->type == RedisReply::Type::Integer && r->integer == 0) {
          if (stats_.notStored++ == 0) {
            log::warn("cluster.blacklist_hash_full").kv("bound", blacklist_.settings().maxEntries);
          }
        }
      });
}

void SharedPolicy::publishRemoval(std::string_view number, std::optional<NumberSide> side) {
  RedisLink& link = cluster_.redis();
  if (!link.up()) return;
  ++stats_.removals;
  if (number.empty()) {
    forgetPublished();
    link.command({"DEL", hashKey_});
  } else {
    for (NumberSide s : {NumberSide::Caller, NumberSide::Callee}) {
      if (side && *side != s) continue;
      published_.erase(field(number, s));
      link.command({"HDEL", hashKey_, field(number, s)});
    }
  }
  link.command({"PUBLISH", removalChannel_,
                encodeShared({cluster_.nodeId(), number,
                              side ? admission::sideName(*side) : std::string_view("both")})});
}

void SharedPolicy::applyRemote(std::string_view payload) {
  auto shared = decodeEntry(payload);
  if (!shared) {
    if (stats_.rejected++ == 0) {
      log::warn("cluster.blacklist_payload_invalid").kv("size", payload.size());
    }
    return;
  }
  if (shared->node == cluster_.nodeId()) return;
  const BlacklistEntry& e = shared->entry;
  const int64_t now = loop_.clock().wallMicros();
  if (e.expiresUs != 0 && e.expiresUs <= now) return;
  // Ours runs longer (or enforces where theirs only counts): keep it.
  if (const BlacklistEntry* own = blacklist_.find(e.number, e.side);
      own && (own->expiresUs == 0 || own->expiresUs > now) &&
      (own->expiresUs == 0 || (e.expiresUs != 0 && own->expiresUs >= e.expiresUs)) &&
      (own->enforced || !e.enforced)) {
    return;
  }
  applying_ = true;
  blacklist_.put(e);
  applying_ = false;
  ++stats_.applied;
  log::info("blacklist.shared")
      .kv("number", e.number)
      .kv("side", admission::sideName(e.side))
      .kv("rule", admission::ruleName(e.rule))
      .kv("enforced", e.enforced)
      .kv("node", shared->node.substr(0, 64));
}

void SharedPolicy::applyRemoteRemoval(std::string_view payload) {
  auto f = decodeShared(payload);
  std::optional<NumberSide> side;
  bool ok = f && f->size() == 3 && (*f)[1].size() <= kMaxSharedNumber;
  if (ok && (*f)[2] != "both") {
    NumberSide s{};
    ok = admission::parseSide((*f)[2], &s);
    side = s;
  }
  if (!ok) {
    if (stats_.rejected++ == 0) {
      log::warn("cluster.blacklist_payload_invalid").kv("size", payload.size());
    }
    return;
  }
  if ((*f)[0] == cluster_.nodeId()) return;
  ++stats_.removed;
  applying_ = true;
  if ((*f)[1].empty()) {
    log::info("blacklist.shared_clear").kv("entries", blacklist_.size());
    blacklist_.clear(/*persist=*/true);
  } else {
    const size_t n = blacklist_.remove((*f)[1], side, /*persist=*/true);
    log::info("blacklist.shared_remove").kv("number", (*f)[1]).kv("entries", n);
  }
  applying_ = false;
}

void SharedPolicy::forgetPublished() {
  std::vector<std::string> keys;
  keys.reserve(published_.size());
  published_.forEach([&keys](const std::string& k, const Published&) { keys.push_back(k); });
  for (const std::string& k : keys) published_.erase(k);
}

void SharedPolicy::resync() {
  ++stats_.resyncs;
  const int64_t now = loop_.clock().wallMicros();
  forgetPublished();
  size_t own = 0;
  for (const BlacklistEntry& e : blacklist_.entries()) {
    if (e.expiresUs != 0 && e.expiresUs <= now) continue;
    publish(e);
    ++own;
  }
  cluster_.redis().command({"HGETALL", hashKey_}, [this, own](const RedisReply* r) {
    if (r == nullptr || r->type != RedisReply::Type::Array) return;
    const uint64_t before = stats_.applied;
    for (size_t i = 1; i < r->elements.size(); i += 2) applyRemote(r->elements[i].str);
    log::info("cluster.blacklist_resynced")
        .kv("republished", own)
        .kv("applied", stats_.applied - before);
  });
  sweep();
}

void SharedPolicy::sweep() {
  RedisLink& link = cluster_.redis();
  if (!link.up()) return;
  link.eval(sweepExpiredScript(), {hashKey_},
            {std::to_string(loop_.clock().wallMicros()), std::string(kExpiryToken)});
}

}  // namespace tollgate::cluster
