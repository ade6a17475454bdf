// libFuzzer harness for the SIP message layer: parse, every accessor, the
// value parsers, serialize with and without edits (and re-parse of the
// result), makeResponse, makeErrorResponse, nextFrame, checkRequest, lint.
// Besides memory errors (ASan) and UB (UBSan) it checks invariants the
// layer promises; a broken one aborts with a message.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "sip/checks.h"
#include "sip/framing.h"
#include "sip/limits.h"
#include "sip/lint.h"
#include "sip/message.h"
#include "sip/serialize.h"

using namespace tollgate::sip;

namespace {

// Sinks every view so the compiler cannot drop the accesses.
volatile size_t gSink = 0;
void touch(std::string_view s) {
  if (!s.empty())
    gSink = gSink + static_cast<unsigned char>(s.front()) + static_cast<unsigned char>(s.back()) +
            s.size();
}

bool within(std::string_view inner, std::string_view outer) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

void touchUri(const Uri& u) {
  touch(u.text);
  touch(u.schemeName);
  touch(u.user);
  touch(u.password);
  touch(u.host);
  touch(u.params);
  touch(u.headers);
  gSink = gSink + u.port + static_cast<size_t>(u.scheme) + (u.isSipLike() ? 1 : 0);
  if (auto t = u.param("transport")) touch(*t);
  touch(unescape(u.user));
}

void touchNameAddr(const NameAddr& na) {
  touch(na.text);
  touch(na.displayName);
  touch(na.params);
  touch(na.tag());
  touchUri(na.uri);
  if (auto e = na.param("expires")) touch(*e);
}

void checkFrame(std::string_view input) {
  Frame f = nextFrame(input);
  switch (f.kind) {
    case Frame::NeedMore:
      break;
    case Frame::Message:
    case Frame::KeepAlive:
      FUZZ_CHECK(f.length > 0 && f.length <= input.size());
      break;
    case Frame::Error:
      FUZZ_CHECK(f.error != nullptr && *f.error != '\0');
      break;
  }
  if (f.kind == Frame::Message) {
    FUZZ_CHECK(f.length <= kMaxMessageSize);
    auto framed = Message::parse(std::string(input.substr(0, f.length)));
    if (framed) FUZZ_CHECK((*framed)->raw().size() == f.length);
  }
}

void exerciseMessage(const Message& m) {
  const std::string_view raw = m.raw();
  touch(m.startLine());
  touch(m.methodName());
  touch(m.reason());
  touchUri(m.requestUri());
  gSink = gSink + static_cast<size_t>(m.status()) + static_cast<size_t>(m.method());
  if (m.isRequest()) {
    FUZZ_CHECK(parseUri(m.requestUri().text).ok());
    FUZZ_CHECK(methodFromName(m.methodName()) == m.method());
  } else {
    FUZZ_CHECK(m.status() >= 100 && m.status() <= 699);
  }
  FUZZ_CHECK(!m.vias().empty());
  FUZZ_CHECK(m.vias().size() <= kMaxViaCount);
  FUZZ_CHECK(m.headers().size() <= kMaxHeaderCount);
  FUZZ_CHECK(within(m.body(), raw));
  for (const Header& h : m.headers()) {
    touch(h.name);
    touch(h.value);
    FUZZ_CHECK(within(h.value, raw) && within(h.name, raw) && within(h.raw, raw));
    FUZZ_CHECK(h.raw.find_first_of("\r\n") == std::string_view::npos);
    FUZZ_CHECK(headerIdFromName(h.name) == h.id);
    touch(headerName(h.id));
    FUZZ_CHECK(m.header(h.id) != nullptr);
    FUZZ_CHECK(m.headerCount(h.id) >= 1);
    switch (h.id) {
      case HeaderId::Contact:
      case HeaderId::Route:
      case HeaderId::RecordRoute: {
        auto list = parseNameAddrList(h.value);
        FUZZ_CHECK(list.ok());  // the parser validated these
        for (const NameAddr& na : *list) touchNameAddr(na);
        break;
      }
      case HeaderId::Via: {
        auto list = parseViaList(h.value);
        FUZZ_CHECK(list.ok());
        break;
      }
      case HeaderId::Require:
      case HeaderId::ProxyRequire:
      case HeaderId::Supported:
      case HeaderId::Allow:
        for (std::string_view t : splitTokens(h.value)) touch(t);
        break;
      default: {
        // Arbitrary text through the value parsers.
        if (auto na = parseNameAddr(h.value)) touchNameAddr(*na);
        if (auto vias = parseViaList(h.value)) gSink = gSink + vias->size();
        if (auto u = parseUri(h.value)) touchUri(*u);
        if (auto p = findParam(h.value, "tag")) touch(*p);
        break;
      }
    }
  }
  for (const Via& v : m.vias()) {
    touch(v.text);
    touch(v.transport);
    touch(v.host);
    touch(v.params);
    touch(v.branch);
    touch(v.received);
    gSink = gSink + v.port + v.rport + (v.hasRport ? 1 : 0);
    if (auto b = v.param("branch")) FUZZ_CHECK(*b == v.branch);
  }
  touchNameAddr(m.from());
  touchNameAddr(m.to());
  touch(m.callId());
  touch(m.cseq().methodName);
  gSink = gSink + m.cseq().number + m.maxForwards().value_or(0);
  touch(m.contentType());
  touch(m.topVia().branch);
  if (m.contentLength()) FUZZ_CHECK(*m.contentLength() == m.body().size());
}

void exerciseSerialize(const Message& m) {
  // Round trip: no edits reproduces a message that parses to the same thing
  // (unless adding the missing Content-Length pushes it over a limit).
  std::string plain = serialize(m, Edits{});
  auto again = Message::parse(std::string(plain));
  if (!again) {
    FUZZ_CHECK(!m.contentLength());
    FUZZ_CHECK(again.error().code == ParseErrorCode::TooManyHeaders ||
               again.error().code == ParseErrorCode::TooLarge);
    return;
  }
  FUZZ_CHECK((*again)->callId() == m.callId());
  FUZZ_CHECK((*again)->vias().size() == m.vias().size());
  FUZZ_CHECK((*again)->body() == m.body());
  FUZZ_CHECK((*again)->raw().size() == plain.size());
  Frame f = nextFrame(plain);
  FUZZ_CHECK(f.kind == Frame::Message && f.length == plain.size());

  // A few edits: drop the first extension field, rewrite another, add one,
  // replace the body. None touches a mandatory field, so it still parses.
  Edits e;
  size_t removed = SIZE_MAX;
  for (size_t i = 0; i < m.headers().size(); ++i) {
    if (m.headers()[i].id != HeaderId::Other) continue;
    if (removed == SIZE_MAX) {
      e.removeHeader(i);
      removed = i;
    } else {
      e.replaceValue(i, "rewritten\r\nInjected: yes");
      break;
    }
  }
  e.insertBefore(0, "X-Fuzz-First", "1");
  e.append("X-Fuzz", "2");
  e.setBody("hello", "text/plain");
  std::string edited = serialize(m, e);
  auto reparsed = Message::parse(std::string(edited));
  if (m.headers().size() + 4 > kMaxHeaderCount || edited.size() > kMaxMessageSize) {
    // The edits may push it over a limit; then only that may go wrong.
    FUZZ_CHECK(reparsed.ok() || reparsed.error().code == ParseErrorCode::TooManyHeaders ||
               reparsed.error().code == ParseErrorCode::TooLarge);
    if (!reparsed) return;
  }
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK((*reparsed)->body() == "hello");
  FUZZ_CHECK((*reparsed)->header("Injected") == nullptr);
  FUZZ_CHECK((*reparsed)->header("X-Fuzz") != nullptr);
}

void exerciseResponses(const Message& m) {
  if (m.isRequest()) {
    for (int status : {100, 180, 200, 404}) {
      std::string resp =
          makeResponse(m, status, "", "fuzztag", {{"Server", "fuzz"}}, "",
                       status == 180 ? "SIP/2.0/UDP 192.0.2.1;rport=5060;branch=z9hG4bKx" : "");
      auto r = Message::parse(std::string(resp));
      if (!r) {
        // Copied Record-Routes or a long To plus its new tag may exceed a limit.
        FUZZ_CHECK(r.error().code == ParseErrorCode::TooManyHeaders ||
                   r.error().code == ParseErrorCode::TooLarge);
        continue;
      }
      FUZZ_CHECK((*r)->status() == status);
      FUZZ_CHECK((*r)->callId() == m.callId());
      FUZZ_CHECK((*r)->vias().size() == m.vias().size());
      if (status != 100) FUZZ_CHECK(!(*r)->to().tag().empty());
    }
    CheckFailure c = checkRequest(m, CheckPolicy{});
    touch(c.reason);
    CheckPolicy local;
    local.forwarding = false;
    local.allow = "INVITE, REGISTER";
    local.acceptedBodies = {"application/sdp"};
    c = checkRequest(m, local);
    for (const auto& [name, value] : c.headers) touch(name), touch(value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  checkFrame(input);
  LintResult l = lint(input);
  FUZZ_CHECK(!l.line.empty());

  std::string err = makeErrorResponse(input, 400, "", "errtag");
  if (!err.empty()) {
    FUZZ_CHECK(err.rfind("SIP/2.0 400 Bad Request\r\n", 0) == 0);
    Frame f = nextFrame(err);
    FUZZ_CHECK(f.kind == Frame::Message && f.length == err.size());
  }

  auto parsed = Message::parse(std::string(input));
  if (!parsed) {
    const ParseError& e = parsed.error();
    FUZZ_CHECK(e.detail != nullptr && *e.detail != '\0');
    FUZZ_CHECK(e.status == 0 || (e.status >= 400 && e.status <= 599));
    FUZZ_CHECK(e.isRequest || e.status == 0);
    FUZZ_CHECK(!l.ok);
    return 0;
  }
  FUZZ_CHECK(l.ok);
  exerciseMessage(**parsed);
  exerciseSerialize(**parsed);
  exerciseResponses(**parsed);
  return 0;
}
