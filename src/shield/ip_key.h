// IpKey: a 16-byte, trivially copyable form of an IPv4 or IPv6 address or
// prefix, the key of every shield table. IPv4 is held as the IPv4-mapped IPv6
// address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) so one table and one hash serve
// both families, and prefix lengths are counted in IPv6 bits (an IPv4 /24 is
// a /120). Hashing is seeded per process (KeyHasher): source addresses are
// attacker-chosen, and a predictable hash would let spoofed sources pile onto
// one probe chain. Plain value types: externally synchronized.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.h"

namespace tollgate::shield {

struct IpKey {
  uint64_t hi = 0;  // address bytes 0..7, big-endian
  uint64_t lo = 0;  // address bytes 8..15, big-endian

  bool operator==(const IpKey& o) const { return hi == o.hi && lo == o.lo; }
  bool isV4() const { return hi == 0 && (lo >> 32) == 0xffff; }
};

// Bits of the IPv4-mapped prefix in front of an IPv4 address.
inline constexpr int kV4MappedBits = 96;

IpKey keyOf(const net::IpAddress& ip);
net::IpAddress addressOf(const IpKey& k);

// The first `bits` bits of k (IPv6 bit count, 0..128), the rest zero.
IpKey maskKey(const IpKey& k, int bits);

// The prefix length in IPv6 bits of a prefix written in its own family's bits
// (IPv4 /24 -> 120; IPv6 /64 -> 64).
inline int v6Bits(bool v4, int familyBits) {
  return v4 ? kV4MappedBits + familyBits : familyBits;
}

// A prefix: key (host bits zero) plus its length in IPv6 bits. A host is a
// prefix of length 128.
struct PrefixKey {
  IpKey key;
  uint8_t bits = 128;

  bool operator==(const PrefixKey& o) const { return bits == o.bits && key == o.key; }
  bool isHost() const { return bits == 128; }
  bool isV4() const { return key.isV4() && bits >= kV4MappedBits; }
  // Length in the family's own bits (IPv4 /24 -> 24).
  int familyBits() const { return isV4() ? bits - kV4MappedBits : bits; }
  bool contains(const IpKey& ip) const { return maskKey(ip, bits) == key; }
};

PrefixKey prefixOf(const net::Cidr& cidr);
PrefixKey hostPrefix(const IpKey& k);
// "192.0.2.7" for a host, "198.51.100.0/24" or "2001:db8::/64" for a prefix:
// the canonical text of a ban or trusted entry (store rows, logs, nft).
std::string toString(const PrefixKey& p);
// Parses "192.0.2.7", "198.51.100.9/24" (host bits are cleared), "[::1]",
// "2001:db8::/32".
std::optional<PrefixKey> parsePrefix(std::string_view text);

// Seeded hash for IpKey and PrefixKey. The seed comes from the process's
// CSPRNG; SplitMix64-style finalizers give every input bit an effect on
// every output bit.
class KeyHasher {
 public:
  explicit KeyHasher(uint64_t seed = 0) : s0_(seed), s1_(seed * 0x9e3779b97f4a7c15ull + 1) {}
  uint64_t operator()(const IpKey& k) const { return mix(mix(k.hi ^ s0_) ^ k.lo ^ s1_); }
  uint64_t operator()(const PrefixKey& p) const {
    return mix(mix(p.key.hi ^ s0_) ^ p.key.lo ^ (s1_ + p.bits));
  }

 private:
  static uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
  }
  uint64_t s0_;
  uint64_t s1_;
};

}  // namespace tollgate::shield
