// The shield's settings, in the shield's own terms (the node maps the
// [shield] table of its settings file onto this; see docs/configuration.md
// for each key and docs/shield.md for how the checks combine). Defaults are
// the iptables values operators use today (recent 20/60 s, hashlimit 10/s
// burst 20 with 30 s expiry, connlimit 10 per IP and 30 per /24). Plain values: externally
// synchronized.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/net.h"

namespace tollgate::shield {

// Each check either acts (drops, bans, answers 503) or only counts what it
// would have done (a dry run to size limits against real traffic).
enum class Mode : uint8_t { Enforce, CountOnly };

// The scanners operators see most (the VOS3000 guide's list plus the
// classic SIPVicious, sipcli and iWar family). Compared case-insensitively
// as substrings of User-Agent.
inline const std::vector<std::string> kDefaultUserAgentSignatures = {
    "friendly-scanner", "sipvicious", "VaxSIPUserAgent", "SIPScan", "sipcli",
    "sundayddr",        "iWar",       "pplsip",
};

// Table bounds: the state the shield may hold, whatever the traffic. At the
// defaults the tables take at most about 153 MB (see Shield::memoryBytes()
// and docs/shield.md), inside the 256 MB budget for 1,000,000 sources.
inline constexpr size_t kDefaultMaxSources = 1u << 20;   // per-IP rate/concurrency state
inline constexpr size_t kDefaultMaxPrefixes = 1u << 18;  // per-/24 (/64) state
inline constexpr size_t kDefaultMaxBans = 1u << 17;      // active bans plus recent history
// Per-source buckets of trusted sources (their 503 limit). A trusted CIDR
// can cover millions of addresses, so this is bounded too.
inline constexpr size_t kMaxTrustedBuckets = 1u << 16;

struct ShieldConfig {
  bool enabled = true;
  // Extra trusted sources beside every mapping and routing gateway address.
  std::vector<net::Cidr> trusted;
  // Per trusted source: requests that open something (INVITE, REGISTER,
  // OPTIONS, SUBSCRIBE, ...) over this token bucket get 503, never a ban.
  double trustedRate = 1000;
  double trustedBurst = 2000;
  Mode trustedRateMode = Mode::Enforce;

  std::vector<std::string> userAgents = kDefaultUserAgentSignatures;
  Mode signatureMode = Mode::Enforce;

  // Requests with these methods from untrusted sources are dropped unparsed.
  std::vector<std::string> dropMethods = {"OPTIONS"};
  Mode methodMode = Mode::Enforce;
  // Bytes from untrusted sources that are not a SIP start line.
  Mode malformedMode = Mode::Enforce;

  // Per untrusted source: sliding window (`recent`) and token bucket
  // (`hashlimit`).
  uint32_t recentHits = 20;
  Millis recentWindow{60'000};
  double rate = 10;
  double burst = 20;
  Millis rateIdleExpiry{30'000};
  Mode rateMode = Mode::Enforce;

  // The same per aggregate prefix.
  int prefixV4 = 24;
  int prefixV6 = 64;
  uint32_t prefixRecentHits = 100;
  double prefixRate = 30;
  double prefixBurst = 60;
  Mode prefixRateMode = Mode::Enforce;

  // Open transactions, dialogs and TCP connections (each kind on its own)
  // per untrusted source and per prefix (`connlimit`).
  uint32_t maxConcurrent = 10;
  uint32_t prefixMaxConcurrent = 30;
  Mode concurrencyMode = Mode::Enforce;

  // Auto-ban: signature hits and rate trips (and auth suspensions reported
  // through BanSink) ban the source (prefix for a prefix trip) for banTime,
  // times banEscalation for each earlier ban within banMemory, at most
  // banMaxTime.
  bool autoBan = true;
  std::chrono::seconds banTime{600};
  std::chrono::seconds banMaxTime{86'400};
  double banEscalation = 4;
  std::chrono::seconds banMemory{86'400};
  Mode banMode = Mode::Enforce;

  size_t maxSources = kDefaultMaxSources;
  size_t maxPrefixes = kDefaultMaxPrefixes;
  size_t maxBans = kDefaultMaxBans;
};

}  // namespace tollgate::shield
