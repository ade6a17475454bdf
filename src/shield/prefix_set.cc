// PrefixSet construction and lookup. See prefix_set.h.
#include "shield/prefix_set.h"

#include <algorithm>

namespace tollgate::shield {

PrefixSet::PrefixSet(const std::vector<PrefixKey>& prefixes, uint64_t seed) : hasher_(seed) {
  size_t n = 1;
  while (n < std::max<size_t>(prefixes.size(), 1) * 2) n <<= 1;
  mask_ = n - 1;
  table_.assign(n, PrefixKey{});
  used_.assign(n, 0);
  for (const PrefixKey& raw : prefixes) {
    PrefixKey p{maskKey(raw.key, raw.bits), raw.bits};
    if (has(p)) continue;
    size_t i = hasher_(p) & mask_;
    while (used_[i]) i = (i + 1) & mask_;
    table_[i] = p;
    used_[i] = 1;
    ++count_;
    list_.push_back(p);
    auto& lengths = p.isV4() ? lengths4_ : lengths6_;
    if (std::find(lengths.begin(), lengths.end(), p.bits) == lengths.end()) {
      lengths.push_back(p.bits);
    }
  }
  std::sort(lengths4_.begin(), lengths4_.end(), std::greater<>());
  std::sort(lengths6_.begin(), lengths6_.end(), std::greater<>());
}

bool PrefixSet::has(const PrefixKey& p) const {
  if (table_.empty()) return false;
  for (size_t i = hasher_(p) & mask_; used_[i]; i = (i + 1) & mask_) {
    if (table_[i] == p) return true;
  }
  return false;
}

bool PrefixSet::contains(const IpKey& ip) const {
  for (uint8_t bits : ip.isV4() ? lengths4_ : lengths6_) {
    if (has(PrefixKey{maskKey(ip, bits), bits})) return true;
  }
  return false;
}

}  // namespace tollgate::shield
