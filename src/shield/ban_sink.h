// BanSink: the door other layers use to ban a source through the shield.
// The auth layer's retry limiter (VOS3000 SS_AUTHENTICATION_MAX_RETRY /
// SS_AUTHENTICATION_FAILED_SUSPEND) calls
//
//   banSink.suspend(from.remote.ip(), BanReason::Auth,
//                   "6 failed digest attempts for user 100", std::chrono::seconds(180));
//
// and the ban then behaves like every other: one ban list, escalation for
// repeat offenders, persisted in the store, pushed to the kernel set, shown
// by `tollgate ban why`. Trusted sources (gateway addresses and
// shield.trusted) are never banned this way. Confined to its worker: call on the worker that owns
// the shield (the one that delivered the request).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "common/net.h"
#include "shield/ban.h"

namespace tollgate::shield {

class BanSink {
 public:
  virtual ~BanSink() = default;
  // Bans the host `source`. `duration` is the first ban's length (the
  // shield's escalation multiplies it for repeat offenders, up to
  // shield.ban_max_time); nullopt uses shield.ban_time. Returns false when
  // no ban was placed: the source is trusted, auto-ban is off, or the ban
  // table is full of active bans. Re-reporting an active ban is a no-op
  // that returns true.
  virtual bool suspend(const net::IpAddress& source, BanReason reason, std::string_view detail,
                       std::optional<std::chrono::seconds> duration = std::nullopt) = 0;
};

}  // namespace tollgate::shield
