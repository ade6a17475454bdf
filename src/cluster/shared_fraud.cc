// The fraud thresholds' counters shared through Redis. See shared_fraud.h.
#include "cluster/shared_fraud.h"

#include <cmath>

#include "cluster/shared_codec.h"
#include "common/log.h"

namespace tollgate::cluster {

namespace {

constexpr int64_t kMinuteUs = 60'000'000;
constexpr int64_t kRateTtlMs = 3 * 60'000;         // this minute, read as "previous" next
constexpr int64_t kMinutesTtlMs = 2 * 86'400'000;  // a local day, whatever the zone
constexpr int64_t kRunTtlMs = 86'400'000;          // the run resets with the day locally

// One call counted (ARGV[3] = 1) or a view re-read (0). KEYS: nodes zset,
// this minute's hash, the previous minute's, the calls-in-progress hash,
// today's talk time hash, the run hash. ARGV: node id, node TTL ms, count,
// number, TTLs (rate, live, run). Replies the other nodes' {this minute,
// previous minute, calls in progress (live nodes), talk time ms} and the
// cluster's {last number, run}.
const RedisScript& admitScript() {
  static const RedisScript s(std::string(kLiveNodesLua) + R"lua(
local node = ARGV[1]
local function others(k) return fieldSum(k, function(id) return id ~= node end) end
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[2], node, 1)
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  redis.call('HINCRBY', KEYS[4], node, 1)
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
end
local s = redis.call('HMGET', KEYS[6], 'n', 'r')
local n, run = s[1] or '', tonumber(s[2]) or 0
if ARGV[3] == '1' then
  if n == ARGV[4] then run = run + 1 else run = 1 end
  n = ARGV[4]
  redis.call('HSET', KEYS[6], 'n', n, 'r', run)
  redis.call('PEXPIRE', KEYS[6], ARGV[7])
end
local liveOthers = fieldSum(KEYS[4], function(id) return id ~= node and live[id] end)
return {others(KEYS[2]), others(KEYS[3]), liveOthers, others(KEYS[5]), n, run}
)lua");
  return s;
}

// A call's end: one call in progress back (never below 0), its talk time
// added. KEYS: calls-in-progress hash, talk time hash. ARGV: node id, ms,
// talk time TTL.
const RedisScript& endScript() {
  static const RedisScript s(R"lua(
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
if tonumber(ARGV[2]) > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 0
)lua");
  return s;
}

// This node's holdings, as they are here. KEYS: calls-in-progress hash,
// this minute's hash, talk time hash. ARGV: node id, calls in progress,
// calls in the last minute (-1: leave the rates alone), talk time ms (-1:
// leave), TTLs (live, rate, talk time). The minute's field is only raised
// (the node's own count of the last minute may span two windows).
const RedisScript& announceScript() {
  static const RedisScript s(R"lua(
local node = ARGV[1]
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], node, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
else
  redis.call('HDEL', KEYS[1], node)
end
local cpm = tonumber(ARGV[3])
if cpm > 0 and cpm > (tonumber(redis.call('HGET', KEYS[2], node)) or 0) then
  redis.call('HSET', KEYS[2], node, cpm)
  redis.call('PEXPIRE', KEYS[2], ARGV[6])
end
local ms = tonumber(ARGV[4])
if ms > 0 then
  redis.call('HSET', KEYS[3], node, ms)
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
return 0
)lua");
  return s;
}

}  // namespace

SharedFraud::SharedFraud(EventLoop& loop, Cluster& cluster, admission::FraudThresholds& fraud)
    : loop_(loop), cluster_(cluster), fraud_(fraud) {}

std::string SharedFraud::base(std::string_view kind, std::string_view rule,
                              std::string_view subject) const {
  std::string k = "fraud:";
  k += kind;
  k += ':';
  k += rule;
  k += ':';
  k += subject;
  return cluster_.key(k);
}

void SharedFraud::start() {
  RedisLink& link = cluster_.redis();
  link.onUp([this] {
    ++stats_.resyncs;
    announce(/*withRates=*/true);
  });
  link.onDown([this] {
    fraud_.forgetShared();
    log::warn("cluster.fraud_local").kv("reason", "redis_down");
  });
  announceTimer_.setCallback([this] {
    announce(/*withRates=*/false);
    announceTimer_.start(loop_.timers(), kFraudAnnounce);
  });
  announceTimer_.start(loop_.timers(), kFraudAnnounce);
}

void SharedFraud::counted(std::string_view rule, std::string_view subject, std::string_view number,
                          int64_t nowUs, int64_t day, bool count) {
  RedisLink& link = cluster_.redis();
  if (!link.up() || rule.size() + subject.size() > kMaxFraudKey) {
    if (count) ++stats_.localOnly;
    return;
  }
  const int64_t minute = nowUs / kMinuteUs;
  const double left = 1.0 - static_cast<double>(nowUs % kMinuteUs) / static_cast<double>(kMinuteUs);
  const std::string rate = base("cpm", rule, subject) + ":";
  ++(count ? stats_.counted : stats_.refreshed);
  link.eval(admitScript(),
            {cluster_.key("nodes"), rate + std::to_string(minute),
             rate + std::to_string(minute - 1), base("cc", rule, subject),
             base("min", rule, subject) + ":" + std::to_string(day), base("seq", rule, subject)},
            {cluster_.nodeId(), std::to_string(cluster_.settings().nodeTtl.count()),
             count ? "1" : "0", std::string(number), std::to_string(kRateTtlMs),
             std::to_string(kFraudLiveTtl.count()), std::to_string(kRunTtlMs)},
            [this, left, day, rule = std::string(rule),
             subject = std::string(subject)](const RedisReply* r) {
              if (r == nullptr || r->type != RedisReply::Type::Array || r->elements.size() != 6) {
                ++stats_.unanswered;
                return;  // the local counts stand
              }
              const auto& e = r->elements;
              admission::FraudShared s;
              s.callsPerMinute = std::llround(static_cast<double>(e[0].integer) +
                                              static_cast<double>(e[1].integer) * left);
              s.concurrent = e[2].integer;
              s.answeredMs = e[3].integer;
              s.day = day;
              s.lastNumber = e[4].str;
              s.run = e[5].integer;
              ++stats_.absorbed;
              fraud_.absorbShared(rule, subject, std::move(s), loop_.clock().wallMicros());
            });
}

void SharedFraud::ended(std::string_view rule, std::string_view subject, int64_t answeredMs,
                        int64_t day) {
  RedisLink& link = cluster_.redis();
  if (!link.up() || rule.size() + subject.size() > kMaxFraudKey) return;
  ++stats_.ended;
  link.eval(endScript(),
            {base("cc", rule, subject), base("min", rule, subject) + ":" + std::to_string(day)},
            {cluster_.nodeId(), std::to_string(answeredMs), std::to_string(kMinutesTtlMs)});
}

void SharedFraud::announce(bool withRates) {
  RedisLink& link = cluster_.redis();
  if (!link.up()) return;
  const int64_t now = loop_.clock().wallMicros();
  const std::string minute = std::to_string(now / kMinuteUs);
  const uint64_t before = stats_.announced;
  fraud_.forEachHolding(now, kMaxFraudAnnounce, [&](const admission::FraudThresholds::Holding& h) {
    if (h.rule.size() + h.subject.size() > kMaxFraudKey) return;
    if (!withRates && h.concurrent == 0) return;  // the periodic round keeps live calls alive
    ++stats_.announced;
    link.eval(
        announceScript(),
        {base("cc", h.rule, h.subject), base("cpm", h.rule, h.subject) + ":" + minute,
         base("min", h.rule, h.subject) + ":" + std::to_string(h.day)},
        {cluster_.nodeId(), std::to_string(h.concurrent),
         withRates ? std::to_string(h.callsPerMinute) : "-1",
         withRates ? std::to_string(h.answeredMs) : "-1", std::to_string(kFraudLiveTtl.count()),
         std::to_string(kRateTtlMs), std::to_string(kMinutesTtlMs)});
  });
  if (withRates) {
    log::info("cluster.fraud_resynced").kv("announced", stats_.announced - before);
  }
}

}  // namespace tollgate::cluster
