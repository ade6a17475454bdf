// The text form of the security state the nodes share through Redis (bans,
// digest suspensions, blacklist entries): space-separated fields, each
// free-form field percent-encoded (RFC 3986 §2.1) so no field holds a space
// or a control character. A payload read back from Redis came from another
// node, not from an attacker, but a bug or a hostile writer with access to
// Redis must not crash a node or grow it without bound: decoding is bounded
// (kMaxSharedPayload, kMaxSharedFields) and validates every number. Pure
// functions: thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/redis_link.h"

namespace tollgate::cluster {

// Longest payload a node decodes: a ban's detail (shield::kMaxBanDetail)
// or a username (auth::kMaxTrackedUsername), percent-encoded (x3), plus
// the fixed fields.
inline constexpr size_t kMaxSharedPayload = 1024;
// Most fields in one payload.
inline constexpr size_t kMaxSharedFields = 16;
// First field of every payload: the format's version.
inline constexpr std::string_view kSharedFormat = "v1";

// Builds "v1 f1 f2 ...": `fields` percent-encoded.
std::string encodeShared(const std::vector<std::string_view>& fields);
// The decoded fields after the version, or nullopt when the payload is too
// long, has too many fields or another version.
std::optional<std::vector<std::string>> decodeShared(std::string_view payload);

// Stores a payload in a hash unless the hash holds `bound` fields already
// (a field already there is always replaced), sets the hash's TTL when one
// is given (ms, 0 = none), then publishes the payload. Replies 1 stored,
// 0 only published. KEYS[1] hash; ARGV field, payload, bound, channel, ttl.
const RedisScript& storeAndPublishScript();

// Removes the fields of a hash whose payload's expiry (wall µs, the
// ARGV[2]-th space-separated token, "v1" being the 1st; 0 = never) is at
// or before ARGV[1], and fields whose payload has no such token. Replies
// how many went. O(fields): run at link up and once a minute.
const RedisScript& sweepExpiredScript();

// Lua that sets `live[id] = true` for every node whose heartbeat is within
// the node TTL (docs/cluster.md, Membership), prepended to a script. It
// reads KEYS[1] (the <prefix>nodes zset) and ARGV[2] (node TTL, ms), and
// counts ARGV[1] (this node) live. `liveSum(k)` sums the positive fields of
// hash `k` held by live nodes.
inline constexpr std::string_view kLiveNodesLua = R"lua(
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')) do
  live[id] = true
end
live[ARGV[1]] = true
local function fieldSum(k, keep)
  local all = redis.call('HGETALL', k)
  local sum = 0
  for j = 1, #all, 2 do
    if keep(all[j]) then
      local v = tonumber(all[j + 1]) or 0
      if v > 0 then sum = sum + v end
    end
  end
  return sum
end
local function liveSum(k)
  return fieldSum(k, function(id) return live[id] end)
end
)lua";

// A decimal int64 field; nullopt when it is not one.
std::optional<int64_t> sharedInt(std::string_view field);

}  // namespace tollgate::cluster
