// libFuzzer harness for what crosses the B2BUA (sip/header_crossing.h,
// sip/sdp.h): the input is a SIP message; its first byte picks the sending
// peer's trust and allow list. The harness applies the same edits the call
// layer makes (remove what stays, rewrite identities, rewrite the SDP
// origin), serializes, and parses the result again. Invariants: the result
// parses whenever the input did; no field the built-in rule keeps on its leg
// survives unless it is an extension on the allow list; identity fields
// survive only from a trusted peer and then name only our host; the SDP
// rewrite is idempotent and never adds a line; nothing crashes
// (ASan/UBSan).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "sip/header_crossing.h"
#include "sip/message.h"
#include "sip/sdp.h"
#include "sip/serialize.h"

using namespace tollgate;

namespace {

constexpr std::string_view kOurHost = "tollgate.invalid:5060";

size_t lines(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool trusted = data[0] & 1;
  sip::HeaderAllowList extra;
  if (data[0] & 2) extra = sip::HeaderAllowList({"X-Account-Code", "User-to-User", "Via"});
  std::string input(reinterpret_cast<const char*>(data + 1), size - 1);

  // The SDP rewrite on arbitrary bytes.
  std::string sdp = sip::rewriteSdpOrigin(input, kOurHost);
  FUZZ_CHECK(sip::rewriteSdpOrigin(sdp, kOurHost) == sdp);
  FUZZ_CHECK(lines(sdp) <= lines(input));

  auto parsed = sip::Message::parse(std::move(input));
  if (!parsed.ok()) return 0;
  const sip::Message& m = *parsed.value();
  std::vector<const sip::Header*> crossing = sip::crossingHeaders(m, extra, trusted);
  sip::Edits e;
  size_t next = 0;
  const auto& headers = m.headers();
  for (size_t i = 0; i < headers.size(); ++i) {
    const sip::Header& h = headers[i];
    const bool crosses = next < crossing.size() && crossing[next] == &h;
    if (crosses) ++next;
    // Fields the message needs to parse again stay (the call layer writes
    // its own); every other one is judged by the rule.
    switch (h.id) {
      case sip::HeaderId::Via:
      case sip::HeaderId::From:
      case sip::HeaderId::To:
      case sip::HeaderId::CallId:
      case sip::HeaderId::CSeq:
      case sip::HeaderId::ContentLength:
        continue;
      default:
        break;
    }
    if (!crosses) {
      e.removeHeader(i);
      continue;
    }
    const sip::Crossing c = sip::builtinCrossing(h);
    FUZZ_CHECK(c != sip::Crossing::Stay || (h.id == sip::HeaderId::Other && extra.allows(h.name)));
    FUZZ_CHECK(c != sip::Crossing::Identity || trusted);
    if (c == sip::Crossing::Identity && h.id != sip::HeaderId::Identity) {
      std::string v = sip::rewriteIdentity(h.value, kOurHost,
                                           [](std::string_view u) { return sip::unescape(u); });
      if (v.empty()) {
        e.removeHeader(i);
        continue;
      }
      for (std::string_view u : sip::identityUsers(v)) (void)u;
      e.replaceValue(i, std::move(v));
    }
  }
  FUZZ_CHECK(next == crossing.size());
  if (sip::isSdp(m.contentType())) e.setBody(sip::rewriteSdpOrigin(m.body(), kOurHost));
  std::string out = sip::serialize(m, e);
  auto again = sip::Message::parse(std::move(out));
  FUZZ_CHECK(again.ok());
  for (const sip::Header& h : again.value()->headers()) {
    const sip::Crossing c = sip::builtinCrossing(h);
    if (c == sip::Crossing::Identity) {
      FUZZ_CHECK(trusted);
      if (h.id == sip::HeaderId::Identity) continue;
      auto list = sip::parseNameAddrList(h.value);
      if (!list.ok())
        std::fprintf(stderr, "rewritten: %.*s\n", int(h.value.size()), h.value.data());
      FUZZ_CHECK(list.ok());
      for (const sip::NameAddr& na : *list) {
        FUZZ_CHECK(na.uri.scheme == sip::UriScheme::Sip &&
                   std::string_view(na.uri.host) == "tollgate.invalid");
      }
    }
  }
  return 0;
}
