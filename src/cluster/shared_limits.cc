// Channel and rate limits shared across nodes. See shared_limits.h.
#include "cluster/shared_limits.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "common/log.h"

namespace tollgate::cluster {

namespace {

// The admission verdict, atomic in Redis.
// KEYS[1]: the membership (zset: node id, score = last heartbeat, ms);
// KEYS[2i], KEYS[2i+1]: entity i's channel hash and token bucket.
// ARGV: node id, node_ttl ms, channel hash TTL ms, number of required
// entities, then per entity: max_concurrent, cps, burst.
// Returns {kind, entity, retry_after_ms, candidate}: kind 0 ok, 1 channels,
// 2 rate; entity 0-based among the required; candidate 0-based among the
// others, -1 = none had room.
constexpr std::string_view kAdmitLua = R"lua(
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local node = ARGV[1]
local nodeTtl = tonumber(ARGV[2])
local countTtl = tonumber(ARGV[3])
local required = tonumber(ARGV[4])
local n = (#KEYS - 1) / 2
local live = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - nodeTtl, '+inf')) do
  live[id] = true
end
live[node] = true
local function spec(i)
  local b = 4 + 3 * (i - 1)
  return tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
end
-- Calls in progress of live nodes; a dead node's field goes.
local function channels(i)
  local k = KEYS[2 * i]
  local all = redis.call('HGETALL', k)
  local sum = 0
  for j = 1, #all, 2 do
    if live[all[j]] then
      local v = tonumber(all[j + 1]) or 0
      if v > 0 then sum = sum + v end
    else
      redis.call('HDEL', k, all[j])
    end
  end
  return sum
end
local function tokens(i, cps, burst)
  local b = redis.call('HMGET', KEYS[2 * i + 1], 't', 'ts')
  local tk, ts = tonumber(b[1]), tonumber(b[2])
  if tk == nil or ts == nil then return burst end
  if now > ts then tk = math.min(burst, tk + (now - ts) * cps / 1000) end
  return tk
end
local function full(i)
  local max = spec(i)
  return max > 0 and channels(i) >= max
end
local function dry(i)
  local _, cps, burst = spec(i)
  if cps <= 0 then return false, 0 end
  local tk = tokens(i, cps, burst)
  if tk >= 1 then return false, 0 end
  return true, math.ceil((1 - tk) * 1000 / cps)
end
local function take(i)
  local _, cps, burst = spec(i)
  redis.call('HINCRBY', KEYS[2 * i], node, 1)
  redis.call('PEXPIRE', KEYS[2 * i], countTtl)
  if cps > 0 then
    local tk = tokens(i, cps, burst) - 1
    redis.call('HSET', KEYS[2 * i + 1], 't', tostring(tk), 'ts', now)
    redis.call('PEXPIRE', KEYS[2 * i + 1], math.ceil(burst * 1000 / cps) + 1000)
  end
end
for i = 1, required do
  if full(i) then return {1, i - 1, 0, -1} end
end
for i = 1, required do
  local d, retry = dry(i)
  if d then return {2, i - 1, retry, -1} end
end
for i = 1, required do take(i) end
for i = required + 1, n do
  if not full(i) and not dry(i) then
    take(i)
    return {0, 0, 0, i - required - 1}
  end
end
return {0, 0, 0, -1}
)lua";

// A call's end: one channel of each entity back, never below 0.
// KEYS: channel hashes; ARGV[1]: node id.
constexpr std::string_view kReleaseLua = R"lua(
for i = 1, #KEYS do
  if redis.call('HINCRBY', KEYS[i], ARGV[1], -1) <= 0 then
    redis.call('HDEL', KEYS[i], ARGV[1])
  end
end
return 0
)lua";

// Log lines about fallbacks and refusals: an over-limit customer must not
// flood the log (every one is counted).
constexpr double kLogRate = 1.0;
constexpr double kLogBurst = 10.0;

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

SharedLimits::SharedLimits(EventLoop& loop, Cluster& cluster)
    : loop_(loop),
      cluster_(cluster),
      admitScript_(std::string(kAdmitLua)),
      releaseScript_(std::string(kReleaseLua)) {
  log_.configure(kLogRate, kLogBurst, loop_.now());
  tick_.setCallback([this] { onTick(); });
}

SharedLimits::~SharedLimits() {
  *alive_ = false;
}

void SharedLimits::start() {
  if (started_) return;
  started_ = true;
  std::weak_ptr<bool> alive = alive_;
  cluster_.redis().onUp([this, alive] {
    if (alive.lock() && *alive.lock()) onUp();
  });
  cluster_.redis().onDown([this, alive] {
    if (alive.lock() && *alive.lock()) onDown();
  });
  // Until the link first comes up the node is "down": its share applies.
  if (!shared()) onDown();
  tick_.start(loop_.timers(), kAnnounceInterval);
}

void SharedLimits::stop() {
  // The node is going: no more verdicts or announcements; the node's
  // heartbeat goes with it, and with it every count it holds.
  tick_.cancel();
  *alive_ = false;
  pending_.clear();
}

bool SharedLimits::shared() const {
  return cluster_.shared();
}

std::string SharedLimits::countKey(std::string_view entity) const {
  std::string k = cluster_.key("lim:cc:");
  k.append(entity);
  return k;
}

std::string SharedLimits::bucketKey(std::string_view entity) const {
  std::string k = cluster_.key("lim:tb:");
  k.append(entity);
  return k;
}

SharedLimits::Id SharedLimits::ask(std::span<const SharedLimit> required,
                                   std::span<const SharedLimit> candidates, Done done) {
  if (!shared() || !*alive_) {
    ++stats_.noReply;
    return 0;
  }
  if (candidates.size() > kMaxCandidates) candidates = candidates.first(kMaxCandidates);
  const ClusterSettings& cs = cluster_.settings();
  std::vector<std::string> keys;
  std::vector<std::string> args;
  keys.reserve(1 + 2 * (required.size() + candidates.size()));
  args.reserve(4 + 3 * (required.size() + candidates.size()));
  keys.push_back(cluster_.key("nodes"));
  args.push_back(cs.nodeId);
  args.push_back(std::to_string(cs.nodeTtl.count()));
  args.push_back(std::to_string(kLimitCountTtl.count()));
  args.push_back(std::to_string(required.size()));
  Pending p;
  auto add = [&](const SharedLimit& l, std::vector<std::string>& names) {
    keys.push_back(countKey(l.key));
    keys.push_back(bucketKey(l.key));
    args.push_back(std::to_string(std::max(0, l.maxConcurrent)));
    args.push_back(number(std::max(0.0, l.cps)));
    args.push_back(number(l.cps > 0 ? std::max(1.0, l.burst) : 0.0));
    names.emplace_back(l.key);
  };
  for (const SharedLimit& l : required) add(l, p.required);
  for (const SharedLimit& l : candidates) add(l, p.candidates);
  p.done = std::move(done);
  p.sent = loop_.now();
  const Id id = nextId_++;
  pending_.emplace(id, std::move(p));
  ++stats_.verdicts;
  std::weak_ptr<bool> alive = alive_;
  cluster_.redis().eval(admitScript_, std::move(keys), std::move(args),
                        [this, alive, id](const RedisReply* reply) {
                          auto a = alive.lock();
                          if (!a || !*a) return;
                          onReply(id, reply);
                        });
  return id;
}

void SharedLimits::onReply(Id id, const RedisReply* reply) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  SharedVerdict v;
  const bool valid =
      reply != nullptr && reply->type == RedisReply::Type::Array && reply->elements.size() == 4;
  if (valid) {
    const auto us = std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::microseconds>(loop_.now() - p.sent).count());
    stats_.latencyUsSum += static_cast<uint64_t>(us);
    stats_.latencyUsMax = std::max(stats_.latencyUsMax, static_cast<uint64_t>(us));
  }
  if (!valid) {
    ++stats_.noReply;
    if (reply != nullptr && log_.tryTake(loop_.now())) {
      log::warn("cluster.limit_script_failed")
          .kv("reply", reply->isError() ? reply->str : std::string("unexpected"));
    }
    v.kind = SharedVerdict::Kind::NoReply;
  } else {
    const int64_t kind = reply->elements[0].integer;
    v.entity = static_cast<size_t>(std::max<int64_t>(0, reply->elements[1].integer));
    v.retryAfter = Millis(std::max<int64_t>(0, reply->elements[2].integer));
    v.candidate = static_cast<int>(reply->elements[3].integer);
    if (v.candidate >= static_cast<int>(p.candidates.size())) v.candidate = -1;
    if (kind == 1 || kind == 2) {
      v.kind = kind == 1 ? SharedVerdict::Kind::Concurrency : SharedVerdict::Kind::Rate;
      ++(kind == 1 ? stats_.refusedConcurrency : stats_.refusedRate);
      if (log_.tryTake(loop_.now())) {
        log::info("cluster.limit_refused")
            .kv("reason", kind == 1 ? "concurrent_limit" : "cps_limit")
            .kv("entity", v.entity < p.required.size() ? p.required[v.entity] : std::string())
            .kv("not_logged_before", logSuppressed_);
        logSuppressed_ = 0;
      } else {
        ++logSuppressed_;
      }
    } else {
      v.kind = SharedVerdict::Kind::Ok;
      ++stats_.admitted;
      if (v.candidate < 0 && !p.candidates.empty()) ++stats_.carrierFull;
    }
  }
  if (!p.done) {
    // The call went away while its verdict was in flight: give back what
    // the verdict took.
    if (v.kind == SharedVerdict::Kind::Ok) {
      ++stats_.orphaned;
      std::vector<std::string_view> keys(p.required.begin(), p.required.end());
      if (v.candidate >= 0) keys.push_back(p.candidates[static_cast<size_t>(v.candidate)]);
      release(keys);
    }
    return;
  }
  p.done(v);
}

void SharedLimits::cancel(Id id) {
  auto it = pending_.find(id);
  if (it != pending_.end()) it->second.done = nullptr;
}

void SharedLimits::release(std::span<const std::string_view> keys) {
  if (keys.empty() || !shared() || !*alive_) return;
  std::vector<std::string> k;
  k.reserve(keys.size());
  for (std::string_view e : keys) k.push_back(countKey(e));
  ++stats_.releases;
  cluster_.redis().eval(releaseScript_, std::move(k), {cluster_.settings().nodeId});
}

void SharedLimits::announce(Announce mode) {
  if (!counts_ || !shared()) return;
  const std::string& node = cluster_.settings().nodeId;
  const std::string ttl = std::to_string(kLimitCountTtl.count());
  RedisLink& link = cluster_.redis();
  counts_([&](std::string_view entity, uint32_t calls) {
    if (calls > 0) {
      std::string k = countKey(entity);
      if (mode != Announce::TtlOnly) link.command({"HSET", k, node, std::to_string(calls)});
      link.command({"PEXPIRE", std::move(k), ttl});
    } else if (mode == Announce::All) {
      link.command({"HDEL", countKey(entity), node});
    }
  });
  if (mode != Announce::TtlOnly) ++stats_.announcements;
}

void SharedLimits::onUp() {
  // Shared again: the whole limit is judged in Redis; this node's counts
  // replace whatever its fields say (the outage's calls, a replica that
  // missed the last writes).
  stats_.share = 1;
  if (shareHook_) shareHook_(1);
  announce(Announce::All);
  log::info("cluster.limits_shared").kv("nodes", cluster_.liveNodes());
}

void SharedLimits::onDown() {
  // Verdicts in flight get NoReply from the link itself.
  const size_t divisor =
      cluster_.settings().downRule == DownRule::LocalShare ? cluster_.liveNodes() : 1;
  stats_.share = divisor;
  if (shareHook_) shareHook_(divisor);
  log::warn("cluster.limits_local")
      .kv("rule", cluster_.settings().downRule == DownRule::LocalShare ? "local_share" : "refuse")
      .kv("share_of", divisor);
}

void SharedLimits::onTick() {
  // Only while no verdict is in flight: a verdict queued before the
  // announcement and refused after it would leave a count one too high.
  announce(pending_.empty() ? Announce::Counts : Announce::TtlOnly);
  tick_.start(loop_.timers(), kAnnounceInterval);
}

void SharedLimits::countFallback(bool admitted) {
  if (cluster_.settings().downRule == DownRule::Refuse) {
    ++stats_.fallbackRefused;
  } else if (admitted) {
    ++stats_.fallbackLocalAdmitted;
  } else {
    ++stats_.fallbackLocalRefused;
  }
  if (log_.tryTake(loop_.now())) {
    log::warn("cluster.limit_fallback")
        .kv("rule", cluster_.settings().downRule == DownRule::LocalShare ? "local_share" : "refuse")
        .kv("admitted", admitted)
        .kv("share_of", stats_.share)
        .kv("not_logged_before", logSuppressed_);
    logSuppressed_ = 0;
  } else {
    ++logSuppressed_;
  }
}

SharedLimitStats SharedLimits::stats() const {
  return stats_;
}

}  // namespace tollgate::cluster
