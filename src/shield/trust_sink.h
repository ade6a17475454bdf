// TrustSink: the door other layers use to vouch for a source the shield
// cannot know from provisioning. A customer authenticated by password
// (digest) rather than by address sends from wherever it is; once the auth
// layer has verified it (a REGISTER or INVITE with good credentials), it
// calls
//
//   trustSink.vouch(from.remote.ip(), std::chrono::seconds(expires));
//
// and for that long the source is treated like a gateway address: it skips
// the per-source and per-prefix limits meant for strangers (20 messages a
// minute would stop any real customer) and only passes the trusted
// sources' 503 bucket. A ban still wins over a vouch, and a suspension
// (BanSink) ends it. At most kMaxVouched sources are vouched for at once
// (the least recently vouched go first). Confined to its worker: call on the worker that owns the
// shield.
#pragma once

#include <chrono>
#include <cstddef>

#include "common/net.h"

namespace tollgate::shield {

// Bound of the vouched-for table (sources authenticated by credentials).
inline constexpr size_t kMaxVouched = 1u << 16;

class TrustSink {
 public:
  virtual ~TrustSink() = default;
  // Trusts `source` for `ttl` from now (a later call extends or shortens it).
  virtual void vouch(const net::IpAddress& source, std::chrono::seconds ttl) = 0;
  // Ends it (e.g. the registration was removed).
  virtual void unvouch(const net::IpAddress& source) = 0;
};

}  // namespace tollgate::shield
