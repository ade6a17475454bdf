// PrefixSet: an immutable set of IPv4/IPv6 prefixes (hosts and CIDRs) with
// an O(1) "is this address inside any of them" test: one hash probe per
// distinct prefix length present (a trusted set of gateway hosts plus a few
// CIDRs has two or three). Used for the trusted sources (every mapping and
// routing gateway address plus shield.trusted), built off the worker per
// provisioning snapshot and swapped in whole. Immutable once built:
// thread-safe to read.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "shield/ip_key.h"

namespace tollgate::shield {

class PrefixSet {
 public:
  PrefixSet() = default;
  // Duplicates are fine; a prefix inside another stays (both match).
  explicit PrefixSet(const std::vector<PrefixKey>& prefixes, uint64_t seed = 0);

  bool contains(const IpKey& ip) const;
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  const std::vector<PrefixKey>& prefixes() const { return list_; }

 private:
  bool has(const PrefixKey& p) const;

  KeyHasher hasher_;
  std::vector<PrefixKey> list_;  // as given, deduplicated
  // Distinct lengths present, longest first, per family: an IPv6 ::/0 must
  // not match IPv4 sources through their mapped form.
  std::vector<uint8_t> lengths4_;
  std::vector<uint8_t> lengths6_;
  std::vector<PrefixKey> table_;  // open addressing; bits == 0 marks empty
  std::vector<uint8_t> used_;     // 1 where table_ holds an entry
  size_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace tollgate::shield
