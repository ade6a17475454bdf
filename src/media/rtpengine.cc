#include "media/rtpengine.h"

#include <algorithm>

namespace tollgate::media {
namespace {

void addOptions(Bencode& cmd, const OfferOptions& o) {
  Bencode flags(Bencode::List{});
  // Our own addresses are what the far side may reach: rtpengine learns the
  // peers' real media addresses from the packets (symmetric RTP, RFC 4961),
  // which also covers peers behind NAT.
  Bencode replace(Bencode::List{});
  replace.push("origin");
  replace.push("session-connection");
  cmd.set("replace", std::move(replace));
  if (o.removeIce) cmd.set("ICE", "remove");
  if (o.stripExtmap) flags.push("strip-extmap");
  if (!o.codecs.empty()) {
    Bencode codec;
    codec.set("strip", Bencode::List{"all"});
    Bencode except(Bencode::List{});
    for (const std::string& c : o.codecs) except.push(c);
    codec.set("except", std::move(except));
    cmd.set("codec", std::move(codec));
  }
  if (!flags.list().empty()) cmd.set("flags", std::move(flags));
}

Bencode base(std::string_view command, std::string_view callId) {
  Bencode cmd;
  cmd.set("command", command);
  cmd.set("call-id", callId);
  return cmd;
}

const Bencode* tagOf(const Bencode& query, std::string_view tag) {
  const Bencode* tags = query.get("tags");
  return tags ? tags->get(tag) : nullptr;
}

template <typename Fn>
void eachRtpStream(const Bencode& mono, Fn&& fn) {
  const Bencode* medias = mono.get("medias");
  if (!medias) return;
  for (const Bencode& m : medias->list()) {
    const Bencode* streams = m.get("streams");
    if (!streams) continue;
    for (const Bencode& s : streams->list()) {
      bool rtcp = false;
      if (const Bencode* f = s.get("flags")) {
        for (const Bencode& x : f->list()) rtcp = rtcp || x.str() == "RTCP";
      }
      if (!rtcp) fn(s);
    }
  }
}

DirectionFigures direction(const Bencode& query, std::string_view tag) {
  DirectionFigures d;
  const Bencode* mono = tagOf(query, tag);
  if (!mono) return d;
  const Bencode* ssrcs = query.get("SSRC");
  int reports = 0;
  double loss = 0;
  int64_t jitter = 0;
  eachRtpStream(*mono, [&](const Bencode& s) {
    if (const Bencode* st = s.get("stats")) {
      d.packets += static_cast<uint64_t>(std::max<int64_t>(0, st->intAt("packets")));
      d.bytes += static_cast<uint64_t>(std::max<int64_t>(0, st->intAt("bytes")));
    }
    // The stream's SSRC names its RTCP-derived quality figures.
    const Bencode* ssrc = s.get("SSRC");
    if (!ssrc || !ssrcs) return;
    const Bencode* q = ssrcs->get(std::to_string(ssrc->integer()));
    const Bencode* avg = q ? q->get("average MOS") : nullptr;
    if (!avg) return;
    ++reports;
    loss += static_cast<double>(avg->intAt("packet loss"));
    jitter += avg->intAt("jitter");
  });
  // No figure is not a perfect figure: without a report both stay unknown.
  if (reports > 0) {
    d.lossPct = loss / reports;
    d.jitterMs = static_cast<uint32_t>(std::max<int64_t>(0, jitter / reports));
  }
  return d;
}

}  // namespace

Bencode offerCommand(std::string_view callId, std::string_view fromTag, std::string_view toTag,
                     std::string_view sdp, const OfferOptions& o) {
  Bencode cmd = base("offer", callId);
  cmd.set("from-tag", fromTag);
  if (!toTag.empty()) cmd.set("to-tag", toTag);
  cmd.set("sdp", sdp);
  addOptions(cmd, o);
  return cmd;
}

Bencode answerCommand(std::string_view callId, std::string_view fromTag, std::string_view toTag,
                      std::string_view sdp, const OfferOptions& o) {
  Bencode cmd = base("answer", callId);
  cmd.set("from-tag", fromTag);
  cmd.set("to-tag", toTag);
  cmd.set("sdp", sdp);
  addOptions(cmd, o);
  cmd.erase("codec");  // codec filtering applies to the offer
  return cmd;
}

Bencode queryCommand(std::string_view callId) {
  return base("query", callId);
}

Bencode deleteCommand(std::string_view callId) {
  Bencode cmd = base("delete", callId);
  // Gone at once, not after rtpengine's default delete delay: the ports go
  // back to the pool and the session count is honest.
  cmd.set("delete delay", 0);
  return cmd;
}

std::string_view replySdp(const Bencode& reply) {
  return reply.strAt("sdp");
}

LegActivity legActivity(const Bencode& query, std::string_view tag) {
  LegActivity a;
  const Bencode* mono = tagOf(query, tag);
  if (!mono) return a;
  a.known = true;
  eachRtpStream(*mono, [&](const Bencode& s) {
    const Bencode* st = s.get("stats");
    const int64_t packets = st ? st->intAt("packets") : 0;
    if (packets <= 0) return;
    a.packets += static_cast<uint64_t>(packets);
    a.lastPacket = std::max(a.lastPacket, s.intAt("last packet"));
  });
  return a;
}

MediaFigures figures(const Bencode& query, std::string_view callerTag, std::string_view calleeTag) {
  MediaFigures f;
  f.present = true;
  f.caller = direction(query, callerTag);
  f.callee = direction(query, calleeTag);
  return f;
}

}  // namespace tollgate::media
