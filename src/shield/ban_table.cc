// Ban table and ban reason names. See ban_table.h and ban.h.
#include "shield/ban_table.h"

#include <algorithm>

namespace tollgate::shield {

std::string_view banReasonName(BanReason r) {
  switch (r) {
    case BanReason::Manual:
      return "manual";
    case BanReason::Signature:
      return "signature";
    case BanReason::Rate:
      return "rate";
    case BanReason::PrefixRate:
      return "prefix_rate";
    case BanReason::Auth:
      return "auth";
    case BanReason::Other:
      return "other";
  }
  return "other";
}

BanReason banReasonFromName(std::string_view name) {
  for (size_t i = 0; i < kBanReasonCount; ++i) {
    auto r = static_cast<BanReason>(i);
    if (banReasonName(r) == name) return r;
  }
  return BanReason::Other;
}

BanTable::BanTable(size_t capacity, uint64_t seed) : table_(capacity, KeyHasher(seed)) {}

void BanTable::countLength(const PrefixKey& p, int delta) {
  uint32_t& n = perLength_[p.bits];
  const bool wasUsed = n > 0;
  n = static_cast<uint32_t>(static_cast<int64_t>(n) + delta);
  if (wasUsed == (n > 0)) return;
  auto& lengths = p.isV4() ? lengths4_ : lengths6_;
  if (n > 0) {
    lengths.push_back(p.bits);
    std::sort(lengths.begin(), lengths.end(), std::greater<>());
  } else {
    lengths.erase(std::remove(lengths.begin(), lengths.end(), p.bits), lengths.end());
  }
}

BanRecord* BanTable::lookup(const IpKey& ip, int64_t nowMs, PrefixKey* matched) {
  const auto& lengths = ip.isV4() ? lengths4_ : lengths6_;
  for (uint8_t bits : lengths) {
    const PrefixKey p{maskKey(ip, bits), bits};
    BanRecord* r = table_.find(p);
    if (r == nullptr || !r->active) continue;
    if (r->expiresMs <= nowMs) {
      r->active = false;
      ++expired_;
      continue;
    }
    if (matched) *matched = p;
    return r;
  }
  return nullptr;
}

BanRecord* BanTable::find(const PrefixKey& p) {
  return table_.find(p);
}

BanRecord* BanTable::upsert(const PrefixKey& p, int64_t nowMs, bool* inserted) {
  PrefixKey evicted;
  bool didEvict = false;
  BanRecord* r = table_.touchWith(
      p, inserted, [nowMs](const BanRecord& b) { return b.liveAt(nowMs); },
      /*evictPinned=*/false, &evicted, &didEvict);
  if (didEvict) countLength(evicted, -1);
  if (r != nullptr && *inserted) countLength(p, +1);
  return r;
}

bool BanTable::erase(const PrefixKey& p) {
  if (!table_.erase(p)) return false;
  countLength(p, -1);
  return true;
}

size_t BanTable::activeCount(int64_t nowMs) {
  size_t n = 0;
  table_.forEach([&](const PrefixKey&, const BanRecord& b) { n += b.liveAt(nowMs) ? 1 : 0; });
  return n;
}

size_t BanTable::memoryBytes() const {
  return table_.memoryBytes() + table_.capacity() * kMaxBanDetail;
}

}  // namespace tollgate::shield
