// NftBanSet: the kernel side of the shield's ban list, through libnftables,
// in a table tollgate owns (`inet <table>`, replaced whole at open() and
// deleted at close()). Its one base chain runs before the usual filter
// chains and only looks at the SIP ports: sources in the trusted sets
// return, sources in a ban set are counted (named counter banned_drops and
// per-element counters) and dropped before the packet reaches a socket.
//
//   ban4/ban6          hosts, with per-element timeouts
//   ban4_pfx/ban6_pfx  auto-ban prefixes (/24, /64 by default): matched as
//                      `ip saddr & mask`, so they never overlap the hosts
//   ban4_net/ban6_net  other prefixes (operators' CIDRs): interval sets
//   trusted4/trusted6  gateway addresses and shield.trusted (auto-merge)
//
// Externally synchronized: one thread (KernelOffload's) drives it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/net.h"
#include "common/result.h"

struct nft_ctx;

namespace tollgate::firewall {

struct NftSetup {
  std::string table = "tollgate";
  std::vector<uint16_t> ports;  // SIP listen ports (UDP and TCP alike)
  int prefixV4 = 24;            // auto-ban prefix lengths (the _pfx sets)
  int prefixV6 = 64;
  size_t maxElements = 131072;  // per set (the shield's ban table bound)
};

// One ban as the kernel sees it.
struct NftBan {
  net::Cidr prefix;
  int64_t timeoutSeconds = 0;  // 0 = no timeout (permanent)
};

class NftBanSet {
 public:
  NftBanSet();
  ~NftBanSet();
  NftBanSet(const NftBanSet&) = delete;
  NftBanSet& operator=(const NftBanSet&) = delete;

  // Creates (replacing) the table. Fails without CAP_NET_ADMIN, or when the
  // kernel has no nf_tables; the message says which.
  Result<Ok, std::string> open(const NftSetup& setup);
  bool isOpen() const { return open_; }
  // Deletes the table (best effort).
  void close();

  // Adds (or refreshes) bans in one transaction; on failure (an operator's
  // CIDR overlapping another in an interval set) retries one by one and
  // returns how many failed, with the last error in *error.
  size_t add(const std::vector<NftBan>& bans, std::string* error);
  // Removes bans; ones the kernel already expired are not an error.
  void remove(const std::vector<net::Cidr>& prefixes);
  // Replaces the trusted sets.
  Result<Ok, std::string> setTrusted(const std::vector<net::Cidr>& trusted);
  // Packets the ban rules dropped so far (the banned_drops counter).
  Result<uint64_t, std::string> droppedPackets();

  // Runs one nft command buffer (one transaction). Output in *out.
  Result<Ok, std::string> run(const std::string& commands, std::string* out = nullptr);

  // The set an element of this prefix goes to ("ban4", "ban4_pfx", ...).
  std::string setFor(const net::Cidr& prefix) const;
  // Its element text: "192.0.2.7", "198.51.100.0" (a _pfx set holds the
  // masked address), "10.0.0.0/8".
  static std::string elementFor(const net::Cidr& prefix, const std::string& set);

 private:
  nft_ctx* ctx_ = nullptr;
  NftSetup setup_;
  bool open_ = false;
};

// Longest element timeout given to the kernel: a longer ban's element
// expires first and the shield goes on dropping in user space. Permanent
// bans (0) get no timeout; they are removed when lifted, or at close.
inline constexpr int64_t kMaxNftTimeoutSeconds = 30LL * 86400;

}  // namespace tollgate::firewall
