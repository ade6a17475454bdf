// IP addresses, socket addresses and CIDR prefixes for IPv4 and IPv6: parse,
// print, compare and hash. Plain value types: externally synchronized.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate::net {

// An IPv4 or IPv6 address. IPv4 is kept as IPv4 (not v4-mapped) so that
// "127.0.0.1" in config matches packets from an AF_INET socket; a v4-mapped
// IPv6 address received on a dual-stack socket is normalised to IPv4.
class IpAddress {
 public:
  IpAddress() = default;
  static std::optional<IpAddress> parse(std::string_view text);  // "1.2.3.4", "::1", "[::1]"
  static IpAddress fromV4(uint32_t hostOrder);

  bool isV4() const { return family_ == AF_INET; }
  bool isV6() const { return family_ == AF_INET6; }
  bool valid() const { return family_ != 0; }
  int family() const { return family_; }
  const uint8_t* bytes() const { return bytes_.data(); }  // 4 or 16 bytes, network order
  size_t size() const { return isV4() ? 4 : 16; }
  uint32_t v4HostOrder() const;

  std::string toString() const;  // no brackets
  bool operator==(const IpAddress& o) const {
    return family_ == o.family_ && std::memcmp(bytes_.data(), o.bytes_.data(), size()) == 0;
  }
  size_t hash() const;

 private:
  int family_ = 0;
  std::array<uint8_t, 16> bytes_{};
  friend class SockAddr;
  friend class Cidr;
};

// An IP address and port, convertible to and from sockaddr.
class SockAddr {
 public:
  SockAddr() = default;
  SockAddr(IpAddress ip, uint16_t port) : ip_(ip), port_(port) {}
  // "1.2.3.4:5060", "[::1]:5060"; with defaultPort, the port may be omitted
  // ("1.2.3.4", "[::1]", "::1").
  static std::optional<SockAddr> parse(std::string_view text,
                                       std::optional<uint16_t> defaultPort = std::nullopt);
  static SockAddr fromSockaddr(const sockaddr* sa);

  const IpAddress& ip() const { return ip_; }
  uint16_t port() const { return port_; }
  bool valid() const { return ip_.valid(); }

  // Fills storage for bind/sendto/connect; returns the length to pass.
  socklen_t toSockaddr(sockaddr_storage* out) const;
  std::string toString() const;  // "1.2.3.4:5060", "[::1]:5060"
  // Host part as it appears in a SIP URI or Via: "1.2.3.4" or "[::1]".
  std::string hostForUri() const;

  bool operator==(const SockAddr& o) const { return port_ == o.port_ && ip_ == o.ip_; }
  size_t hash() const { return ip_.hash() * 31 + port_; }

 private:
  IpAddress ip_;
  uint16_t port_ = 0;
};

// A prefix such as 10.0.0.0/8 or 2001:db8::/32. A bare address is a host prefix.
class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;
  int prefixLength() const { return prefix_; }
  const IpAddress& network() const { return net_; }
  bool isHost() const { return prefix_ == (net_.isV4() ? 32 : 128); }
  std::string toString() const;
  bool operator==(const Cidr& o) const { return prefix_ == o.prefix_ && net_ == o.net_; }

 private:
  IpAddress net_;
  int prefix_ = 0;
};

struct IpAddressHash {
  size_t operator()(const IpAddress& a) const { return a.hash(); }
};
struct SockAddrHash {
  size_t operator()(const SockAddr& a) const { return a.hash(); }
};

}  // namespace tollgate::net
