// Digest retry counters and suspensions shared through Redis. See
// shared_auth.h.
#include "cluster/shared_auth.h"

#include <openssl/sha.h>

#include <algorithm>
#include <chrono>

#include "cluster/shared_codec.h"
#include "common/log.h"

namespace tollgate::cluster {

namespace {

using auth::Suspension;
using auth::SuspensionKind;
using Verdict = auth::SharedRetryCounter::Verdict;

// One failure, atomically (shared_auth.h). KEYS: pair counter, source
// counter, suspension hash. ARGV: 1 pair field, 2 source field, 3 max_retry,
// 4 source_max_retry, 5 window ms, 6 now (wall µs), 7 pair suspension,
// 8 source suspension, 9 channel, 10 hash bound, 11 hash TTL ms.
// Replies {pair state, pair count, pair payload, source state, source
// count, source payload}; state 0 counted, 1 suspended by this failure,
// 2 suspended already (payload: the suspension in force).
const RedisScript& failureScript() {
  static const RedisScript s(R"lua(
local now = tonumber(ARGV[6])
local function live(f)
  local v = redis.call('HGET', KEYS[3], f)
  if not v then return nil end
  local n, u = 0, nil
  for w in string.gmatch(v, '%S+') do
    n = n + 1
    if n == 6 then u = tonumber(w) break end
  end
  if u and u > now then return v end
  redis.call('HDEL', KEYS[3], f)
  return nil
end
local ps, ss = live(ARGV[1]), live(ARGV[2])
if ps or ss then
  return {ps and 2 or 0, 0, ps or '', ss and 2 or 0, 0, ss or ''}
end
local function count(key, limit, f, payload)
  local n = redis.call('INCR', key)
  redis.call('PEXPIRE', key, ARGV[5])
  if n < limit then return 0, n end
  redis.call('DEL', key)
  if redis.call('HLEN', KEYS[3]) < tonumber(ARGV[10]) then
    redis.call('HSET', KEYS[3], f, payload)
    redis.call('PEXPIRE', KEYS[3], ARGV[11])
  end
  redis.call('PUBLISH', ARGV[9], payload)
  return 1, n
end
local a, an = count(KEYS[1], tonumber(ARGV[3]), ARGV[1], ARGV[7])
local b, bn = count(KEYS[2], tonumber(ARGV[4]), ARGV[2], ARGV[8])
return {a, an, '', b, bn, ''}
)lua");
  return s;
}

int64_t ms(std::chrono::seconds s) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(s).count();
}

std::string printable(std::string_view text) {
  std::string out(text.substr(0, auth::kMaxTrackedUsername));
  for (char& c : out) {
    if (c < 0x21 || c > 0x7e) c = '?';
  }
  return out;
}

}  // namespace

std::string sharedUserKey(std::string_view username) {
  username = username.substr(0, std::min(username.size(), auth::kMaxTrackedUsername));
  if (username.size() <= kMaxSharedUsername) return std::string(username);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(username.data()), username.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "#";
  for (size_t i = 0; i < 16; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string encodeSuspension(std::string_view nodeId, const Suspension& s) {
  // Fields: node kind source since until offenses failures username (the
  // failure script reads `until` as the 6th token, "v1" being the 1st).
  const std::string source = s.source.toString();
  const std::string since = std::to_string(s.sinceUs);
  const std::string until = std::to_string(s.untilUs);
  const std::string offenses = std::to_string(s.offenses);
  const std::string failures = std::to_string(s.failures);
  return encodeShared({nodeId, auth::suspensionKindName(s.kind), source, since, until, offenses,
                       failures, s.username});
}

std::optional<SharedSuspension> decodeSuspension(std::string_view payload) {
  auto f = decodeShared(payload);
  if (!f || f->size() != 8 || (*f)[0].empty()) return std::nullopt;
  const std::vector<std::string>& v = *f;
  SharedSuspension out;
  out.node = v[0];
  Suspension& s = out.suspension;
  auto source = net::IpAddress::parse(v[2]);
  auto since = sharedInt(v[3]);
  auto until = sharedInt(v[4]);
  auto offenses = sharedInt(v[5]);
  auto failures = sharedInt(v[6]);
  if (!auth::suspensionKindFromName(v[1], &s.kind) || !source || !since || !until || !offenses ||
      !failures || *since < 0 || *until < *since || *offenses < 1 || *offenses > 1'000'000 ||
      *failures < 0 || *failures > 1'000'000'000 || v[7].size() > auth::kMaxTrackedUsername) {
    return std::nullopt;
  }
  if (s.kind == SuspensionKind::Source && !v[7].empty()) return std::nullopt;
  s.source = auth::AuthRetryLimiter::sourceKey(*source);
  s.sinceUs = *since;
  s.untilUs = *until;
  s.offenses = static_cast<uint32_t>(*offenses);
  s.failures = static_cast<uint32_t>(*failures);
  s.username = v[7];
  return out;
}

SharedAuth::SharedAuth(EventLoop& loop, Cluster& cluster, auth::AuthRetryLimiter& limiter)
    : loop_(loop),
      cluster_(cluster),
      limiter_(limiter),
      hashKey_(cluster.key("auth:susp")),
      channel_(cluster.key("ch:auth")),
      clearChannel_(cluster.key("ch:unauth")) {}

void SharedAuth::start() {
  RedisLink& link = cluster_.redis();
  link.subscribe(channel_, [this](std::string_view m) { applyRemote(m, true); });
  link.subscribe(clearChannel_, [this](std::string_view m) { applyRemoteClear(m); });
  link.onUp([this] { resync(); });
}

bool SharedAuth::available() const {
  return limiter_.limits().enabled && cluster_.redis().up();
}

std::string SharedAuth::field(const Suspension& s) const {
  std::string f(auth::suspensionKindName(s.kind));
  f += '|';
  f += s.source.toString();
  if (s.kind == SuspensionKind::Pair) {
    f += '|';
    f += sharedUserKey(s.username);
  }
  return f;
}

void SharedAuth::countFailure(std::string_view username, const net::IpAddress& source,
                              std::function<void(Verdict)> done) {
  const auth::RetryLimits& limits = limiter_.limits();
  Suspension pair = limiter_.prospective(SuspensionKind::Pair, username, source);
  Suspension whole = limiter_.prospective(SuspensionKind::Source, {}, source);
  const std::string src = pair.source.toString();
  const int64_t hashTtl = std::max(ms(limits.maxSuspendTime), ms(limits.suspendTime));
  std::vector<std::string> keys = {
      cluster_.key("auth:try:" + src + "|" + sharedUserKey(pair.username)),
      cluster_.key("auth:try:" + src), hashKey_};
  std::vector<std::string> args = {field(pair),
                                   field(whole),
                                   std::to_string(limits.maxRetry),
                                   std::to_string(limits.sourceMaxRetry),
                                   std::to_string(ms(limits.failureWindow)),
                                   std::to_string(loop_.clock().wallMicros()),
                                   encodeSuspension(cluster_.nodeId(), pair),
                                   encodeSuspension(cluster_.nodeId(), whole),
                                   channel_,
                                   std::to_string(kMaxSharedSuspensions),
                                   std::to_string(hashTtl)};
  cluster_.redis().eval(
      failureScript(), std::move(keys), std::move(args),
      [this, pair = std::move(pair), whole = std::move(whole),
       done = std::move(done)](const RedisReply* r) {
        if (r == nullptr || r->type != RedisReply::Type::Array || r->elements.size() != 6) {
          ++stats_.unanswered;
          done(Verdict::Local);
          return;
        }
        ++stats_.counted;
        Verdict v = Verdict::Counted;
        for (size_t k = 0; k < 2; ++k) {
          const RedisReply& state = r->elements[k * 3];
          const int64_t st = state.type == RedisReply::Type::Integer ? state.integer : 0;
          if (st == 2) {
            // Suspended by an earlier failure (any node): make sure it
            // holds here too.
            if (auto shared = decodeSuspension(r->elements[k * 3 + 2].str)) {
              limiter_.install(shared->suspension, false);
            }
            if (v == Verdict::Counted) v = Verdict::Suspended;
          } else if (st == 1) {
            // This failure reached the limit: the suspension the script
            // stored and published is ours to persist and log.
            installing_ = true;
            limiter_.install(k == 0 ? pair : whole, true);
            installing_ = false;
            ++stats_.suspended;
            v = Verdict::NewSuspension;
          }
        }
        done(v);
      });
}

void SharedAuth::onSuccess(std::string_view username, const net::IpAddress& source) {
  RedisLink& link = cluster_.redis();
  if (!link.up() || !limiter_.limits().enabled) return;
  const std::string src = auth::AuthRetryLimiter::sourceKey(source).toString();
  link.command({"DEL", cluster_.key("auth:try:" + src + "|" + sharedUserKey(username))});
}

void SharedAuth::onSuspended(const Suspension& s) {
  if (next_ != nullptr) next_->onSuspended(s);
  if (!installing_) publish(s);
}

void SharedAuth::publish(const Suspension& s) {
  RedisLink& link = cluster_.redis();
  if (!link.up()) return;  // resync() publishes it when the link is back
  const auth::RetryLimits& limits = limiter_.limits();
  const int64_t hashTtl = std::max(ms(limits.maxSuspendTime), ms(limits.suspendTime));
  ++stats_.published;
  link.eval(storeAndPublishScript(), {hashKey_},
            {field(s), encodeSuspension(cluster_.nodeId(), s),
             std::to_string(kMaxSharedSuspensions), channel_, std::to_string(hashTtl)});
}

void SharedAuth::onCleared(const Suspension& s) {
  RedisLink& link = cluster_.redis();
  if (!link.up()) return;
  const std::string src = auth::AuthRetryLimiter::sourceKey(s.source).toString();
  const bool pair = s.kind == SuspensionKind::Pair;
  link.command({"HDEL", hashKey_, field(s)});
  link.command({"DEL", pair ? cluster_.key("auth:try:" + src + "|" + sharedUserKey(s.username))
                            : cluster_.key("auth:try:" + src)});
  link.command({"PUBLISH", clearChannel_,
                encodeShared({cluster_.nodeId(), auth::suspensionKindName(s.kind), src,
                              pair ? std::string_view(s.username) : std::string_view()})});
  ++stats_.published;
}

void SharedAuth::applyRemote(std::string_view payload, bool announce) {
  auto shared = decodeSuspension(payload);
  if (!shared) {
    if (stats_.rejected++ == 0)
      log::warn("cluster.auth_payload_invalid").kv("size", payload.size());
    return;
  }
  if (shared->node == cluster_.nodeId()) return;  // ours, echoed
  const Suspension& s = shared->suspension;
  if (s.untilUs <= loop_.clock().wallMicros()) return;
  limiter_.install(s, false);
  ++stats_.applied;
  if (announce) {
    log::info("auth.suspension_shared")
        .kv("kind", auth::suspensionKindName(s.kind))
        .kv("username", printable(s.username))
        .kv("source", s.source.toString())
        .kv("seconds", (s.untilUs - loop_.clock().wallMicros()) / 1'000'000)
        .kv("node", printable(shared->node));
  }
}

void SharedAuth::applyRemoteClear(std::string_view payload) {
  auto f = decodeShared(payload);
  SuspensionKind kind{};
  std::optional<net::IpAddress> source;
  if (f && f->size() == 4 && auth::suspensionKindFromName((*f)[1], &kind)) {
    source = net::IpAddress::parse((*f)[2]);
  }
  if (!source || (*f)[3].size() > auth::kMaxTrackedUsername) {
    if (stats_.rejected++ == 0)
      log::warn("cluster.auth_payload_invalid").kv("size", payload.size());
    return;
  }
  if ((*f)[0] == cluster_.nodeId()) return;
  const bool lifted = limiter_.lift(kind, (*f)[3], *source, 0);
  ++stats_.lifted;
  log::info("auth.suspension_cleared")
      .kv("kind", auth::suspensionKindName(kind))
      .kv("username", printable((*f)[3]))
      .kv("source", source->toString())
      .kv("lifted", lifted)
      .kv("node", printable((*f)[0]));
}

void SharedAuth::resync() {
  ++stats_.resyncs;
  if (!limiter_.limits().enabled) return;
  size_t own = 0;
  for (const Suspension& s : limiter_.active()) {
    publish(s);
    ++own;
  }
  cluster_.redis().command({"HGETALL", hashKey_}, [this, own](const RedisReply* r) {
    if (r == nullptr || r->type != RedisReply::Type::Array) return;
    size_t applied = 0;
    for (size_t i = 1; i < r->elements.size(); i += 2) {
      const uint64_t before = stats_.applied;
      applyRemote(r->elements[i].str, false);
      if (stats_.applied != before) ++applied;
    }
    log::info("cluster.suspensions_resynced").kv("republished", own).kv("applied", applied);
  });
}

}  // namespace tollgate::cluster
