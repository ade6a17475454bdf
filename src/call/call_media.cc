// Media anchoring through rtpengine (docs/media.md): every SDP of a relayed
// call crosses through the engine, one step at a time in arrival order; the
// session is deleted when an attempt fails or the call ends, and an answered
// call whose legs send no RTP is ended. See call.h.
//
// One rtpengine call per attempt: its ng call-id is the carrier leg's
// Call-ID (unique per attempt), the caller's side is the monologue tagged
// with our caller-leg tag, the carrier's side the one tagged with our
// carrier-leg tag. Failover deletes the failed attempt's whole session, so
// nothing of a refused branch lingers on the engine.
#include <algorithm>

#include "call/call.h"
#include "call/call_registry.h"
#include "call/cdr_recorder.h"
#include "common/log.h"
#include "common/token_bucket.h"
#include "media/rtpengine.h"
#include "sip/sdp.h"

namespace tollgate::call {

using sip::Message;

namespace {

// Floor of the dead-media poll: rtpengine reports the last packet in whole
// seconds, so asking more often buys nothing.
constexpr Millis kMinPoll{1'000};
// Slack on rtpengine's whole-second `last packet`: a call is ended no
// earlier than media.timeout after its last packet.
constexpr int64_t kLastPacketSlackUs = 1'000'000;

// `call.media_rejected` lines per second (and burst) per worker: a customer
// sending SDP rtpengine refuses must not flood the log (every refusal still
// has its counter, and the initial ones their CDR).
constexpr double kRejectLogsPerSecond = 10;
constexpr double kRejectLogBurst = 50;

// Calls live on their worker's loop: one log bucket per worker thread.
struct RejectLog {
  TokenBucket bucket;
  bool configured = false;
  uint64_t suppressed = 0;
};
thread_local RejectLog tRejectLog;

bool hasSdp(const Message& m) {
  return !m.body().empty() && sip::isSdp(m.contentType());
}

// RFC 3264 §8.4: a stream put on hold is sendonly or inactive (or, the
// RFC 2543 way, has c=0.0.0.0); its peer sends no RTP while held.
bool holds(std::string_view sdp) {
  return sdp.find("a=sendonly") != std::string_view::npos ||
         sdp.find("a=inactive") != std::string_view::npos ||
         sdp.find("c=IN IP4 0.0.0.0") != std::string_view::npos;
}

std::vector<std::string> codecsOf(const PeerSignalling& a, const PeerSignalling& b) {
  if (a.codecs.empty()) return b.codecs;
  if (b.codecs.empty()) return a.codecs;
  // Both gateways restrict: what both allow.
  std::vector<std::string> both;
  for (const std::string& c : a.codecs) {
    if (std::find(b.codecs.begin(), b.codecs.end(), c) != b.codecs.end()) both.push_back(c);
  }
  return both.empty() ? a.codecs : both;
}

}  // namespace

std::string Call::mediaTag(Side s) const {
  return s == Side::A ? a_.localTag : b_.localTag;
}

media::OfferOptions Call::mediaOptions() const {
  media::OfferOptions o;
  o.removeIce = s_.mediaSettings->removeIce;
  o.stripExtmap = s_.mediaSettings->stripExtmap;
  o.codecs = codecsOf(*a_.signalling, *b_.signalling);
  return o;
}

void Call::mediaStartAttempt() {
  mediaRelease();
  if (s_.media == nullptr) return;
  auto relays = [this](const PeerSignalling& p) {
    if (p.media == "relay") return true;
    if (p.media == "passthrough") return false;
    return s_.mediaSettings->mode == media::MediaMode::Relay;
  };
  // Either side asking for anchoring is enough: the customer's topology
  // stays hidden from the carrier and the carrier's from the customer.
  if (!relays(*a_.signalling) && !relays(*b_.signalling)) return;
  mediaKey_ = b_.callId;
  ++s_.stats.mediaRelayed;
  ++s_.stats.mediaActive;
}

void Call::mediaSerial(std::function<void()> step) {
  if (mediaRequest_ == 0 && mediaQueue_.empty()) {
    step();
    return;
  }
  mediaQueue_.push_back(std::move(step));
}

void Call::mediaDrain() {
  while (mediaRequest_ == 0 && !mediaQueue_.empty() && state_ != State::Ended) {
    std::function<void()> step = std::move(mediaQueue_.front());
    mediaQueue_.pop_front();
    step();
  }
}

void Call::mediaThrough(const Message& m, Side from, bool offer,
                        std::function<void(const Message&)> then, std::function<void()> refused) {
  if (mediaRequest_ == 0 && mediaQueue_.empty()) {
    mediaExchange(m, from, offer, std::move(then), std::move(refused));
    return;
  }
  // It waits: keep a copy (the original's buffer belongs to the transaction
  // layer and may go before our turn comes).
  auto copy = Message::parse(std::string(m.raw()));
  if (!copy.ok()) return;
  mediaThrough(std::move(copy).value(), from, offer, std::move(then), std::move(refused));
}

void Call::mediaThrough(sip::MessagePtr m, Side from, bool offer,
                        std::function<void(const Message&)> then, std::function<void()> refused) {
  std::shared_ptr<Message> held(std::move(m));
  mediaSerial(
      [this, held, from, offer, then = std::move(then), refused = std::move(refused)]() mutable {
        mediaExchange(
            *held, from, offer, [held, then = std::move(then)](const Message& x) { then(x); },
            std::move(refused));
      });
}

void Call::mediaExchange(const Message& m, Side from, bool offer,
                         std::function<void(const Message&)> then, std::function<void()> refused) {
  if (!mediaActive() || !hasSdp(m)) {
    then(m);
    return;
  }
  const std::string key = mediaKey_;
  const Side to = from == Side::A ? Side::B : Side::A;
  const bool heldBefore = mediaHeld_;
  media::Bencode cmd;
  if (offer) {
    mediaHeld_ = holds(m.body());
    // The caller's first offer creates the session; later ones name both sides.
    const bool first = !s_.media->hasSession(key) && from == Side::A;
    cmd = media::offerCommand(key, mediaTag(from), first ? "" : mediaTag(to), m.body(),
                              mediaOptions());
  } else {
    cmd = media::answerCommand(key, mediaTag(to), mediaTag(from), m.body(), mediaOptions());
  }
  // The message waits for the engine: keep our own copy if it is not ours.
  auto copy = Message::parse(std::string(m.raw()));
  if (!copy.ok()) return;
  std::shared_ptr<Message> held(std::move(copy).value());
  const bool initialOffer = offer && from == Side::A && held->isRequest() &&
                            held->method() == sip::Method::Invite && state_ == State::Routing;
  mediaRequest_ = s_.media->send(
      key, std::move(cmd),
      [this, held, heldBefore, offer, initialOffer, then = std::move(then),
       refused = std::move(refused)](media::NgReply&& r) {
        mediaRequest_ = 0;
        // The engine answered and refused the offer (its SDP is malformed or
        // asks for what rtpengine cannot relay): the offerer's fault, not the
        // engine's. Refusing leaves rtpengine's session as it was.
        if (!r.ok && r.error == media::NgError::Rejected && offer && (initialOffer || refused)) {
          mediaHeld_ = heldBefore;
          mediaRejected(r.reason, initialOffer ? nullptr : std::move(refused));
          return;
        }
        if (!r.ok || media::replySdp(r.body).empty()) {
          mediaFailed(r.ok ? "no sdp in reply" : r.reason);
          return;
        }
        const std::string sdp(media::replySdp(r.body));
        mediaBody_ = &sdp;
        then(*held);
        mediaBody_ = nullptr;
        mediaDrain();
      });
}

void Call::mediaRejected(std::string_view why, std::function<void()> refused) {
  ++s_.stats.mediaRejected;
  RejectLog& rl = tRejectLog;
  if (!rl.configured) {
    rl.bucket.configure(kRejectLogsPerSecond, kRejectLogBurst, s_.loop.now());
    rl.configured = true;
  }
  if (rl.bucket.tryTake(s_.loop.now())) {
    log::warn("call.media_rejected")
        .kv("call_id", cdr_.callId)
        .kv("mapping_gateway", cdr_.mappingGateway)
        .kv("mid_call", refused != nullptr)
        .kv("why", why)
        .kv("not_logged_before", rl.suppressed);
    rl.suppressed = 0;
  } else {
    ++rl.suppressed;
  }
  if (refused) {
    // RFC 3261 §14.2 / RFC 3311 §5.2: the offer is refused with 488, the
    // session stays as the last accepted offer/answer left it.
    refused();
    mediaDrain();
    return;
  }
  // The caller's initial offer: the call cannot be set up (RFC 3261 §21.4.26).
  mediaQueue_.clear();
  hangup(TerminationReason::MediaRejected, 488);
}

void Call::mediaFailed(std::string_view why) {
  ++s_.stats.mediaFailures;
  log::warn("call.media_failed")
      .kv("call_id", cdr_.callId)
      .kv("gateway", cdr_.routingGateway)
      .kv("why", why);
  mediaQueue_.clear();
  if (state_ == State::Routing || state_ == State::Early) {
    hangup(TerminationReason::MediaUnavailable, 503);
  } else if (state_ == State::Answered || state_ == State::Confirmed) {
    hangup(TerminationReason::MediaUnavailable);
  }
}

void Call::mediaStop() {
  mediaQueue_.clear();
  mediaTimer_.cancel();
  if (mediaRequest_ != 0) s_.media->cancel(mediaRequest_);
  if (mediaQuery_ != 0) s_.media->cancel(mediaQuery_);
  mediaRequest_ = 0;
  mediaQuery_ = 0;
  mediaHeld_ = false;
}

void Call::mediaRelease() {
  mediaStop();
  if (mediaKey_.empty()) return;
  --s_.stats.mediaActive;
  s_.media->send(mediaKey_, media::deleteCommand(mediaKey_), nullptr, /*endsSession=*/true);
  mediaKey_.clear();
}

bool Call::mediaFinish(const Cdr& cdr) {
  if (!mediaActive()) return false;
  mediaStop();
  --s_.stats.mediaActive;
  // The figures come from a query just before the delete (rtpengine's
  // delete reply carries none); the CDR waits for them, bounded by the
  // client's retransmission timeout. Nothing here may touch the call: it
  // is gone by then.
  media::NgClient* ng = s_.media;
  CdrRecorder* cdrs = &s_.cdrs;
  const std::string key = mediaKey_;
  const std::string tagA = mediaTag(Side::A);
  const std::string tagB = mediaTag(Side::B);
  mediaKey_.clear();
  ng->send(key, media::queryCommand(key),
           [ng, cdrs, key, tagA, tagB, cdr = Cdr(cdr)](media::NgReply&& r) mutable {
             if (r.ok) cdr.media = media::figures(r.body, tagA, tagB);
             cdrs->submit(std::move(cdr));
             ng->send(key, media::deleteCommand(key), nullptr, /*endsSession=*/true);
           });
  return true;
}

void Call::mediaPoll() {
  if (!mediaActive() || (state_ != State::Answered && state_ != State::Confirmed)) return;
  const media::MediaSettings& ms = *s_.mediaSettings;
  if (mediaHeld_) {
    // On hold the held side sends nothing: look again later.
    mediaTimer_.start(s_.loop.timers(), std::max(kMinPoll, ms.timeout));
    return;
  }
  if (mediaQuery_ != 0) return;
  mediaQuery_ =
      s_.media->send(mediaKey_, media::queryCommand(mediaKey_), [this](media::NgReply&& r) {
        mediaQuery_ = 0;
        if (!r.ok) {
          mediaTimer_.start(s_.loop.timers(), kMinPoll);  // the engine's trouble, not the call's
          return;
        }
        mediaOnQuery(r.body);
      });
}

void Call::mediaOnQuery(const media::Bencode& reply) {
  const media::MediaSettings& ms = *s_.mediaSettings;
  const int64_t nowUs = s_.clock.wallMicros();
  const Millis sinceAnswer = std::chrono::duration_cast<Millis>(s_.loop.now() - mediaAnsweredAt_);
  std::optional<Millis> next;
  bool dead = false;
  bool neverStarted = false;
  for (Side side : {Side::A, Side::B}) {
    media::LegActivity act = media::legActivity(reply, mediaTag(side));
    if (!act.known) continue;
    Millis left{0};
    if (act.packets == 0) {
      if (ms.setupTimeout.count() <= 0) continue;
      left = ms.setupTimeout - sinceAnswer;
      if (left.count() <= 0) neverStarted = true;
    } else {
      if (ms.timeout.count() <= 0) continue;
      const int64_t silentUs = nowUs - act.lastPacket * 1'000'000 - kLastPacketSlackUs;
      left = ms.timeout - Millis(silentUs / 1000);
    }
    if (left.count() <= 0) dead = true;
    if (!next || left < *next) next = left;
  }
  if (dead) {
    ++s_.stats.mediaTimeouts;
    if (neverStarted) ++s_.stats.mediaSetupTimeouts;
    log::info("call.media_timeout")
        .kv("call_id", cdr_.callId)
        .kv("gateway", cdr_.routingGateway)
        .kv("never_started", neverStarted);
    hangup(TerminationReason::MediaTimeout);  // BYE to both legs
    return;
  }
  if (next) mediaTimer_.start(s_.loop.timers(), std::max(kMinPoll, *next));
}

}  // namespace tollgate::call
