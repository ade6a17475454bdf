// The ng commands the call layer sends (offer, answer, query, delete) and
// what it reads from the replies: the rewritten SDP, when a leg last sent
// media, and the figures of each direction for the CDR. rtpengine's ng
// protocol: a call is `call-id`; each side of it a monologue named by its
// tag (`from-tag` of the offerer, `to-tag` of the answerer). Plain
// functions: thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "media/bencode.h"
#include "media/media_settings.h"

namespace tollgate::media {

// One direction of a call's media as rtpengine counted it.
struct DirectionFigures {
  uint64_t packets = 0;
  uint64_t bytes = 0;
  // From RTCP receiver reports (RFC 3550 §6.4) as rtpengine averages them.
  // Unset when rtpengine has no such figure for the direction (the endpoints
  // sent no RTCP, or none rtpengine parsed): unknown, which is not 0.
  std::optional<double> lossPct;     // fraction lost, percent
  std::optional<uint32_t> jitterMs;  // interarrival jitter
};

// Both directions: `caller` is what the caller sent (towards the carrier),
// `callee` what the carrier sent back.
struct MediaFigures {
  bool present = false;  // the call was relayed and its figures read
  DirectionFigures caller;
  DirectionFigures callee;
};

struct OfferOptions {
  bool removeIce = true;
  bool stripExtmap = false;
  std::vector<std::string>
      codecs;  // allowed codec names (rtpengine codec-strip-all + codec-except)
};

Bencode offerCommand(std::string_view callId, std::string_view fromTag, std::string_view toTag,
                     std::string_view sdp, const OfferOptions& o);
Bencode answerCommand(std::string_view callId, std::string_view fromTag, std::string_view toTag,
                      std::string_view sdp, const OfferOptions& o);
Bencode queryCommand(std::string_view callId);
Bencode deleteCommand(std::string_view callId);

// The reply's SDP; "" when it has none.
std::string_view replySdp(const Bencode& reply);
// What a `query` says of the media received from the monologue `tag`.
struct LegActivity {
  bool known = false;      // the tag is in the reply
  uint64_t packets = 0;    // RTP packets received from it
  int64_t lastPacket = 0;  // unix seconds of the last one (rtpengine's clock)
};
LegActivity legActivity(const Bencode& query, std::string_view tag);
// The figures of a `query` reply, `callerTag` being the caller's monologue.
MediaFigures figures(const Bencode& query, std::string_view callerTag, std::string_view calleeTag);

}  // namespace tollgate::media
