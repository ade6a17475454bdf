// IP address, socket address and CIDR parsing and printing.
#include "common/net.h"

#include <arpa/inet.h>

#include <charconv>

namespace tollgate::net {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes_.data()) == 1) {
    a.family_ = AF_INET;
    return a;
  }
  if (text.find(':') != std::string_view::npos && inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
    a.family_ = AF_INET6;
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a.bytes_.data(), kMapped, 12) == 0) {
      std::memmove(a.bytes_.data(), a.bytes_.data() + 12, 4);
      std::memset(a.bytes_.data() + 4, 0, 12);
      a.family_ = AF_INET;
    }
    return a;
  }
  return std::nullopt;
}

IpAddress IpAddress::fromV4(uint32_t hostOrder) {
  IpAddress a;
  a.family_ = AF_INET;
  uint32_t n = htonl(hostOrder);
  std::memcpy(a.bytes_.data(), &n, 4);
  return a;
}

uint32_t IpAddress::v4HostOrder() const {
  uint32_t n;
  std::memcpy(&n, bytes_.data(), 4);
  return ntohl(n);
}

std::string IpAddress::toString() const {
  if (!valid()) return "-";
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family_, bytes_.data(), buf, sizeof buf);
  return buf;
}

size_t IpAddress::hash() const {
  // FNV-1a over the address bytes; good enough for hash tables keyed by peers.
  uint64_t h = 1469598103934665603ull ^ static_cast<uint64_t>(family_);
  for (size_t i = 0; i < size(); ++i) {
    h ^= bytes_[i];
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

std::optional<SockAddr> SockAddr::parse(std::string_view text,
                                        std::optional<uint16_t> defaultPort) {
  std::string_view host = text;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') == colon) {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    // More than one colon without brackets: a bare IPv6 address, no port.
  }
  auto ip = IpAddress::parse(host);
  if (!ip) return std::nullopt;
  uint16_t p = 0;
  if (!port.empty()) {
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || ptr != port.data() + port.size() || v > 65535) return std::nullopt;
    p = static_cast<uint16_t>(v);
  } else if (defaultPort) {
    p = *defaultPort;
  } else {
    return std::nullopt;
  }
  return SockAddr(*ip, p);
}

SockAddr SockAddr::fromSockaddr(const sockaddr* sa) {
  SockAddr s;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    s.ip_.family_ = AF_INET;
    std::memcpy(s.ip_.bytes_.data(), &in->sin_addr, 4);
    s.port_ = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(&in6->sin6_addr, kMapped, 12) == 0) {
      s.ip_.family_ = AF_INET;
      std::memcpy(s.ip_.bytes_.data(), reinterpret_cast<const uint8_t*>(&in6->sin6_addr) + 12, 4);
    } else {
      s.ip_.family_ = AF_INET6;
      std::memcpy(s.ip_.bytes_.data(), &in6->sin6_addr, 16);
    }
    s.port_ = ntohs(in6->sin6_port);
  }
  return s;
}

socklen_t SockAddr::toSockaddr(sockaddr_storage* out) const {
  std::memset(out, 0, sizeof *out);
  if (ip_.isV4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port_);
    std::memcpy(&in->sin_addr, ip_.bytes(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port_);
  std::memcpy(&in6->sin6_addr, ip_.bytes(), 16);
  return sizeof(sockaddr_in6);
}

std::string SockAddr::hostForUri() const {
  return ip_.isV6() ? "[" + ip_.toString() + "]" : ip_.toString();
}

std::string SockAddr::toString() const {
  return hostForUri() + ":" + std::to_string(port_);
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  size_t slash = text.find('/');
  auto ip = IpAddress::parse(text.substr(0, slash));
  if (!ip) return std::nullopt;
  int maxLen = ip->isV4() ? 32 : 128;
  int len = maxLen;
  if (slash != std::string_view::npos) {
    std::string_view l = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(l.data(), l.data() + l.size(), len);
    if (l.empty() || ec != std::errc() || ptr != l.data() + l.size() || len < 0 || len > maxLen) {
      return std::nullopt;
    }
  }
  Cidr c;
  c.net_ = *ip;
  c.prefix_ = len;
  // Clear host bits so that 10.1.2.3/8 and 10.0.0.0/8 are the same prefix.
  for (int i = 0; i < static_cast<int>(ip->size()); ++i) {
    int bitsHere = std::min(8, std::max(0, len - i * 8));
    uint8_t mask = bitsHere == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bitsHere));
    c.net_.bytes_[i] &= mask;
  }
  return c;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.family() != net_.family()) return false;
  int full = prefix_ / 8;
  if (std::memcmp(ip.bytes(), net_.bytes(), full) != 0) return false;
  int rem = prefix_ % 8;
  if (rem == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rem));
  return (ip.bytes()[full] & mask) == net_.bytes()[full];
}

std::string Cidr::toString() const {
  return net_.toString() + "/" + std::to_string(prefix_);
}

}  // namespace tollgate::net
