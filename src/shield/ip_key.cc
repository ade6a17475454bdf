// IpKey conversions and prefix text. See ip_key.h.
#include "shield/ip_key.h"

namespace tollgate::shield {

namespace {
uint64_t load64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}
void store64(uint64_t v, uint8_t* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}
}  // namespace

IpKey keyOf(const net::IpAddress& ip) {
  IpKey k;
  if (ip.isV4()) {
    k.hi = 0;
    k.lo = (uint64_t{0xffff} << 32) | ip.v4HostOrder();
  } else if (ip.isV6()) {
    k.hi = load64(ip.bytes());
    k.lo = load64(ip.bytes() + 8);
  }
  return k;
}

net::IpAddress addressOf(const IpKey& k) {
  if (k.isV4()) return net::IpAddress::fromV4(static_cast<uint32_t>(k.lo & 0xffffffffu));
  uint8_t b[16];
  store64(k.hi, b);
  store64(k.lo, b + 8);
  // IpAddress has no byte constructor; going through text keeps net.h as it is
  // and is only used off the hot path (logs, store rows, nft commands).
  char text[64];
  static const char* kHex = "0123456789abcdef";
  size_t n = 0;
  for (int i = 0; i < 16; i += 2) {
    if (i) text[n++] = ':';
    for (int j = 0; j < 2; ++j) {
      text[n++] = kHex[b[i + j] >> 4];
      text[n++] = kHex[b[i + j] & 0xf];
    }
  }
  auto ip = net::IpAddress::parse(std::string_view(text, n));
  return ip ? *ip : net::IpAddress();
}

IpKey maskKey(const IpKey& k, int bits) {
  IpKey m;
  if (bits <= 0) return m;
  if (bits >= 128) return k;
  if (bits >= 64) {
    m.hi = k.hi;
    m.lo = bits == 64 ? 0 : k.lo & (~uint64_t{0} << (128 - bits));
  } else {
    m.hi = k.hi & (~uint64_t{0} << (64 - bits));
    m.lo = 0;
  }
  return m;
}

PrefixKey prefixOf(const net::Cidr& cidr) {
  const bool v4 = cidr.network().isV4();
  PrefixKey p;
  p.bits = static_cast<uint8_t>(v6Bits(v4, cidr.prefixLength()));
  p.key = maskKey(keyOf(cidr.network()), p.bits);
  return p;
}

PrefixKey hostPrefix(const IpKey& k) {
  return PrefixKey{k, 128};
}

std::string toString(const PrefixKey& p) {
  std::string s = addressOf(p.key).toString();
  if (!p.isHost()) s += "/" + std::to_string(p.familyBits());
  return s;
}

std::optional<PrefixKey> parsePrefix(std::string_view text) {
  auto cidr = net::Cidr::parse(text);
  if (!cidr) return std::nullopt;
  return prefixOf(*cidr);
}

}  // namespace tollgate::shield
