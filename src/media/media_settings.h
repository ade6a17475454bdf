// The [media] settings (docs/media.md, docs/configuration.md): which
// rtpengines anchor media and how they are asked, watched and judged. A
// value, externally synchronized: read-only once the call layer is built.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/net.h"

namespace tollgate::media {

// A gateway's `media` field, and media.mode for gateways that leave it "".
enum class MediaMode : uint8_t { Relay, Passthrough };

struct EngineSettings {
  net::SockAddr address;  // the engine's ng control socket (UDP)
  int weight = 1;         // share of new sessions among the healthy engines
};

// Engines one node may list: more is a configuration mistake, not a pool.
inline constexpr size_t kMaxEngines = 16;

struct MediaSettings {
  std::vector<EngineSettings> engines;  // empty = no relay: every call passes media through
  MediaMode mode = MediaMode::Relay;    // gateways whose `media` is ""
  // ng over UDP: a request is sent again after `retransmit` with the same
  // cookie (rtpengine answers a repeated cookie from its cache, so a retry
  // never acts twice), `tries` times in all; then the engine counts as down
  // and a new session tries the next engine.
  Millis retransmit{250};
  int tries = 3;
  Millis pingInterval{2'000};  // health check of every engine (ng ping)
  // Dead media: no RTP from a leg for `timeout` once media flowed, or none
  // at all for `setupTimeout` after the answer, ends the call (media_timeout).
  // 0 = off.
  Millis timeout{60'000};
  Millis setupTimeout{30'000};
  // SDP treatment (docs/media.md): ICE candidates and attributes removed
  // (rtpengine's ICE=remove; the far side cannot reach the other's candidates
  // anyway), and rtpengine's flags for a call.
  bool removeIce = true;
  bool stripExtmap = false;  // RTP header extensions (a=extmap) removed
  bool enabled() const { return !engines.empty(); }
};

}  // namespace tollgate::media
