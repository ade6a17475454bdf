// The ban list shared through Redis. See shared_bans.h.
#include "cluster/shared_bans.h"

#include <algorithm>

#include "cluster/shared_codec.h"
#include "common/log.h"
#include "shield/shield.h"

namespace tollgate::cluster {

namespace {

constexpr std::string_view kPlacedBy = " (placed by node ";

}  // namespace

std::string encodeBan(std::string_view nodeId, const shield::BanInfo& ban) {
  const std::string prefix = shield::toString(ban.prefix);
  const std::string reason(shield::banReasonName(ban.reason));
  const std::string level = std::to_string(ban.level);
  const std::string created = std::to_string(ban.createdUs);
  const std::string expires = std::to_string(ban.expiresUs);
  // Fields: node prefix reason level manual created expires detail (the
  // sweep script reads `expires` as the 8th token, "v1" being the 1st).
  return encodeShared(
      {nodeId, prefix, reason, level, ban.manual ? "1" : "0", created, expires, ban.detail});
}

std::optional<SharedBan> decodeBan(std::string_view payload) {
  auto f = decodeShared(payload);
  if (!f || f->size() != 8 || (*f)[0].empty()) return std::nullopt;
  const std::vector<std::string>& v = *f;
  auto prefix = shield::parsePrefix(v[1]);
  auto level = sharedInt(v[3]);
  auto created = sharedInt(v[5]);
  auto expires = sharedInt(v[6]);
  if (!prefix || !level || !created || !expires || (v[4] != "0" && v[4] != "1") || *level < 1 ||
      *level > 255 || *created < 0 || *expires < 0) {
    return std::nullopt;
  }
  SharedBan out;
  out.node = v[0];
  out.ban.prefix = *prefix;
  out.ban.reason = shield::banReasonFromName(v[2]);
  out.ban.level = static_cast<int>(*level);
  out.ban.manual = v[4] == "1";
  out.ban.createdUs = *created;
  out.ban.expiresUs = *expires;
  out.ban.detail = v[7].substr(0, shield::kMaxBanDetail);
  out.ban.active = true;
  return out;
}

SharedBans::SharedBans(EventLoop& loop, Cluster& cluster, shield::Shield& shield, size_t maxShared)
    : loop_(loop),
      cluster_(cluster),
      shield_(shield),
      maxShared_(std::max<size_t>(maxShared, 1)),
      hashKey_(cluster.key("ban:active")),
      banChannel_(cluster.key("ch:ban")),
      unbanChannel_(cluster.key("ch:unban")),
      remote_(std::max<size_t>(maxShared, 1), shield::KeyHasher(0x5eedba25)) {}

SharedBans::~SharedBans() = default;

void SharedBans::start() {
  RedisLink& link = cluster_.redis();
  link.subscribe(banChannel_, [this](std::string_view m) { applyRemote(m); });
  link.subscribe(unbanChannel_, [this](std::string_view m) { applyRemoteLift(m); });
  link.onUp([this] { resync(); });
  sweepTimer_.setCallback([this] {
    sweep();
    sweepTimer_.start(loop_.timers(), kSharedBanSweep);
  });
  sweepTimer_.start(loop_.timers(), kSharedBanSweep);
}

void SharedBans::onBanAdded(const shield::BanInfo& ban, bool fromStore) {
  if (applying_) return;  // another node's ban, being applied
  if (fromStore) {
    // Read from this node's store: an operator's ban, unless another node
    // placed it and a shared store (PostgreSQL) brought it here too.
    if (remote_.find(ban.prefix) != nullptr) return;
    if (ban.detail.find(kPlacedBy) != std::string::npos) return;
  } else {
    remote_.erase(ban.prefix);  // placed here now: ours, whatever it was
  }
  if (!ban.active) return;
  publish(ban);
}

void SharedBans::onBanRemoved(const shield::PrefixKey& prefix) {
  if (applying_) return;
  remote_.erase(prefix);
  RedisLink& link = cluster_.redis();
  if (!link.up()) {
    ++stats_.notShared;
    return;
  }
  const std::string field = shield::toString(prefix);
  link.command({"HDEL", hashKey_, field});
  link.command({"PUBLISH", unbanChannel_, encodeShared({cluster_.nodeId(), field})});
  ++stats_.unpublished;
}

void SharedBans::publish(const shield::BanInfo& ban) {
  RedisLink& link = cluster_.redis();
  if (!link.up()) {
    ++stats_.notShared;  // resync() publishes it when the link is back
    return;
  }
  ++stats_.published;
  link.eval(storeAndPublishScript(), {hashKey_},
            {shield::toString(ban.prefix), encodeBan(cluster_.nodeId(), ban),
             std::to_string(maxShared_), banChannel_, "0"},
            [this](const RedisReply* r) {
              if (r != nullptr && r->type == RedisReply::Type::Integer && r->integer == 0) {
                if (stats_.notStored++ == 0) {
                  log::warn("cluster.ban_hash_full")
                      .kv("bound", maxShared_)
                      .kv("note", "bans are still published; nodes that join later miss them");
                }
              }
            });
}

void SharedBans::applyRemote(std::string_view payload) {
  auto b = decodeBan(payload);
  if (!b) {
    if (stats_.rejected++ == 0) log::warn("cluster.ban_payload_invalid").kv("size", payload.size());
    return;
  }
  if (b->node == cluster_.nodeId()) return;  // our own, echoed
  shield::BanInfo& ban = b->ban;
  // `ban why` on this node names the node that placed it.
  std::string by = std::string(kPlacedBy) + b->node.substr(0, 64) + ")";
  for (char& c : by) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  if (ban.detail.find(kPlacedBy) == std::string::npos) {
    if (ban.detail.size() + by.size() > shield::kMaxBanDetail) {
      ban.detail.resize(shield::kMaxBanDetail - std::min(by.size(), shield::kMaxBanDetail));
    }
    ban.detail += by;
  }
  remote_.touch(ban.prefix);
  applying_ = true;
  shield_.applyStoredBan(ban);
  applying_ = false;
  ++stats_.applied;
}

void SharedBans::applyRemoteLift(std::string_view payload) {
  auto f = decodeShared(payload);
  std::optional<shield::PrefixKey> prefix;
  if (f && f->size() == 2) prefix = shield::parsePrefix((*f)[1]);
  if (!prefix) {
    if (stats_.rejected++ == 0) log::warn("cluster.ban_payload_invalid").kv("size", payload.size());
    return;
  }
  if ((*f)[0] == cluster_.nodeId()) return;
  remote_.erase(*prefix);
  applying_ = true;
  shield_.liftBan(*prefix);
  applying_ = false;
  ++stats_.lifted;
}

void SharedBans::resync() {
  ++stats_.resyncs;
  RedisLink& link = cluster_.redis();
  // Ours first: Redis may have lost them (a restart, a failover to a
  // replica that had not caught up).
  size_t own = 0;
  for (const shield::BanInfo& ban : shield_.activeBans()) {
    if (remote_.find(ban.prefix) != nullptr) continue;
    publish(ban);
    ++own;
  }
  link.command({"HGETALL", hashKey_}, [this, own](const RedisReply* r) {
    if (r == nullptr || r->type != RedisReply::Type::Array) return;
    size_t applied = 0;
    for (size_t i = 1; i < r->elements.size(); i += 2) {
      const std::string& payload = r->elements[i].str;
      auto b = decodeBan(payload);
      if (!b || b->node == cluster_.nodeId()) continue;
      applyRemote(payload);
      ++applied;
    }
    log::info("cluster.bans_resynced").kv("republished", own).kv("applied", applied);
  });
  sweep();
}

void SharedBans::sweep() {
  RedisLink& link = cluster_.redis();
  if (!link.up()) return;
  const int64_t nowUs = loop_.clock().wallMicros();
  link.eval(sweepExpiredScript(), {hashKey_}, {std::to_string(nowUs), "8"},
            [this](const RedisReply* r) {
              if (r != nullptr && r->type == RedisReply::Type::Integer && r->integer > 0) {
                stats_.swept += static_cast<uint64_t>(r->integer);
              }
            });
}

}  // namespace tollgate::cluster
