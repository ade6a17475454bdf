// Edits + serialize(), MessageWriter, makeResponse, makeErrorResponse.
#include "sip/serialize.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "sip/grammar.h"
#include "sip/limits.h"
#include "sip/overload_control.h"

namespace tollgate::sip {

namespace {

constexpr size_t kPrepend = SIZE_MAX - 1;
constexpr size_t kAppend = SIZE_MAX;

// Copies text with CR and LF replaced by SP: values handed to the writer
// may come from other messages or from the store, and a line break in one
// would let it smuggle a header field into our output.
// The usual case (no line break) is two vectorised memchr scans and one
// copy; find_first_of would call memchr on the two-byte set once per input
// byte, measurable at tens of thousands of messages a second.
void appendSanitized(std::string& out, std::string_view text) {
  const size_t start = out.size();
  out.append(text);
  if (text.empty() || (std::memchr(text.data(), '\r', text.size()) == nullptr &&
                       std::memchr(text.data(), '\n', text.size()) == nullptr)) {
    return;
  }
  char* p = out.data() + start;
  for (size_t i = 0; i < text.size(); ++i) {
    if (p[i] == '\r' || p[i] == '\n') p[i] = ' ';
  }
}

void appendField(std::string& out, std::string_view name, std::string_view value) {
  appendSanitized(out, name);
  out.append(": ");
  appendSanitized(out, value);
  out.append("\r\n");
}

void appendNumber(std::string& out, uint64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), v);
  (void)ec;
  out.append(digits, static_cast<size_t>(end - digits));
}

void appendContentLength(std::string& out, size_t bodySize) {
  out.append("Content-Length: ");
  appendNumber(out, bodySize);
  out.append("\r\n");
}

}  // namespace

void Edits::setStartLine(std::string line) {
  startLine_ = std::move(line);
  hasStartLine_ = true;
}

void Edits::removeHeader(size_t index) {
  removed_.push_back(index);
}

void Edits::removeAll(const Message& m, HeaderId id) {
  const auto& headers = m.headers();
  for (size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].id == id) removed_.push_back(i);
  }
}

void Edits::replaceValue(size_t index, std::string value) {
  replaced_.emplace_back(index, std::move(value));
}

void Edits::insertBefore(size_t index, std::string name, std::string value) {
  // Indices at or past the end (but not the markers) mean "after the last".
  inserts_.push_back({std::min(index, kPrepend - 1), std::move(name), std::move(value)});
}

void Edits::prepend(std::string name, std::string value) {
  inserts_.push_back({kPrepend, std::move(name), std::move(value)});
}

void Edits::append(std::string name, std::string value) {
  inserts_.push_back({kAppend, std::move(name), std::move(value)});
}

void Edits::setBody(std::string body) {
  body_ = std::move(body);
  hasBody_ = true;
}

void Edits::setBody(std::string body, std::string contentType) {
  setBody(std::move(body));
  contentType_ = std::move(contentType);
  hasContentType_ = true;
}

bool Edits::empty() const {
  return !hasStartLine_ && removed_.empty() && replaced_.empty() && inserts_.empty() && !hasBody_;
}

std::string serialize(const Message& m, const Edits& e) {
  const std::vector<Header>& headers = m.headers();
  const std::string_view body = e.hasBody_ ? std::string_view(e.body_) : m.body();

  size_t reserve =
      m.raw().size() + e.body_.size() + e.startLine_.size() + e.contentType_.size() + 64;
  for (const auto& ins : e.inserts_) reserve += ins.name.size() + ins.value.size() + 4;
  for (const auto& rep : e.replaced_) reserve += rep.second.size();
  std::string out;
  out.reserve(reserve);

  if (e.hasStartLine_) {
    appendSanitized(out, e.startLine_);
  } else {
    out.append(m.startLine());
  }
  out.append("\r\n");

  auto emitInserts = [&](auto matches) {
    for (const auto& ins : e.inserts_) {
      if (!matches(ins.before)) continue;
      if (headerIdFromName(detail::trim(ins.name)) == HeaderId::ContentLength) continue;
      appendField(out, ins.name, ins.value);
    }
  };
  auto isRemoved = [&](size_t i) {
    return std::find(e.removed_.begin(), e.removed_.end(), i) != e.removed_.end();
  };
  auto replacement = [&](size_t i) -> const std::string* {
    const std::string* found = nullptr;
    for (const auto& rep : e.replaced_) {
      if (rep.first == i) found = &rep.second;  // the last replacement wins
    }
    return found;
  };

  bool wroteLength = false;
  bool wroteType = false;
  emitInserts([](size_t before) { return before == kPrepend; });
  for (size_t i = 0; i < headers.size(); ++i) {
    emitInserts([i](size_t before) { return before == i; });
    if (isRemoved(i)) continue;
    const Header& h = headers[i];
    if (h.id == HeaderId::ContentLength) {
      // Rewritten in place, long form, with the size of the final body.
      if (!wroteLength) appendContentLength(out, body.size());
      wroteLength = true;
      continue;
    }
    if (h.id == HeaderId::ContentType && e.hasContentType_) {
      if (!wroteType && !e.contentType_.empty()) appendField(out, "Content-Type", e.contentType_);
      wroteType = true;
      continue;
    }
    if (const std::string* value = replacement(i)) {
      appendField(out, h.name, *value);
    } else {
      out.append(h.raw);
      out.append("\r\n");
    }
  }
  const size_t count = headers.size();
  emitInserts([count](size_t before) { return before >= count && before != kPrepend; });
  if (e.hasContentType_ && !wroteType && !e.contentType_.empty()) {
    appendField(out, "Content-Type", e.contentType_);
  }
  if (!wroteLength) appendContentLength(out, body.size());
  out.append("\r\n");
  out.append(body);
  return out;
}

MessageWriter::MessageWriter(size_t reserve) {
  out_.reserve(reserve);
}

MessageWriter& MessageWriter::requestLine(std::string_view method, std::string_view uri) {
  appendSanitized(out_, method);
  out_.push_back(' ');
  appendSanitized(out_, uri);
  out_.append(" SIP/2.0\r\n");
  return *this;
}

MessageWriter& MessageWriter::statusLine(int status, std::string_view reason) {
  out_.append("SIP/2.0 ");
  appendNumber(out_, static_cast<uint64_t>(status < 0 ? 0 : status));
  out_.push_back(' ');
  appendSanitized(out_, reason.empty() ? reasonPhrase(status) : reason);
  out_.append("\r\n");
  return *this;
}

MessageWriter& MessageWriter::header(std::string_view name, std::string_view value) {
  appendField(out_, name, value);
  return *this;
}

std::string MessageWriter::finish(std::string_view body) {
  appendContentLength(out_, body.size());
  out_.append("\r\n");
  out_.append(body);
  return std::move(out_);
}

namespace {

bool createsDialog(Method m) {
  return m == Method::Invite || m == Method::Subscribe || m == Method::Refer || m == Method::Notify;
}

// The To value with ";tag=toTag" appended when it carries no tag yet.
void appendTo(MessageWriter& w, std::string_view value, bool hasTag, std::string_view toTag,
              int status) {
  if (hasTag || toTag.empty() || status == 100) {
    w.header("To", value);
    return;
  }
  std::string tagged;
  tagged.reserve(value.size() + toTag.size() + 5);
  tagged.append(value);
  tagged.append(";tag=");
  tagged.append(toTag);
  w.header("To", tagged);
}

}  // namespace

std::string makeResponse(const Message& request, int status, std::string_view reason,
                         std::string_view toTag, const std::vector<ExtraHeader>& extra,
                         std::string_view body, std::string_view topVia) {
  MessageWriter w(512 + body.size() + request.raw().size() / 2);
  w.statusLine(status, reason);
  const auto& vias = request.vias();
  for (size_t i = 0; i < vias.size(); ++i) {
    w.header("Via", i == 0 && !topVia.empty() ? topVia : vias[i].text);
  }
  if (const Header* h = request.header(HeaderId::From)) w.header("From", h->value);
  if (const Header* h = request.header(HeaderId::To)) {
    appendTo(w, h->value, !request.to().tag().empty(), toTag, status);
  }
  w.header("Call-ID", request.callId());
  if (const Header* h = request.header(HeaderId::CSeq)) w.header("CSeq", h->value);
  if (status > 100 && status < 300 && createsDialog(request.method())) {
    for (const Header& h : request.headers()) {
      if (h.id == HeaderId::RecordRoute) w.header("Record-Route", h.value);
    }
  }
  for (const ExtraHeader& x : extra) w.header(x.name, x.value);
  return w.finish(body);
}

std::string makeErrorResponse(std::string_view raw, int status, std::string_view reason,
                              std::string_view toTag, const std::vector<ExtraHeader>& extra,
                              std::string_view topViaParams) {
  size_t p = 0;
  while (p < raw.size() && (raw[p] == '\r' || raw[p] == '\n')) ++p;
  if (ascii::istartsWith(raw.substr(p), "SIP/")) return "";  // never answer a response
  std::string_view text = raw.substr(p, kMaxMessageSize);

  // Physical lines, CRLF or LF; the first is the start line, which we skip.
  size_t pos = text.find('\n');
  if (pos == std::string_view::npos) return "";
  ++pos;
  auto lineAt = [&text](size_t at, size_t& next) {
    size_t nl = text.find('\n', at);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    next = nl == std::string_view::npos ? text.size() : nl + 1;
    std::string_view line = text.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };

  std::vector<std::string> vias;
  std::string from, to, callId, cseq;
  bool haveFrom = false, haveTo = false, haveCallId = false, haveCSeq = false;
  while (pos < text.size()) {
    size_t next;
    std::string_view line = lineAt(pos, next);
    if (line.empty()) break;  // end of the header section
    pos = next;
    size_t nameEnd = detail::scanTokens(line, 0);
    size_t colon = detail::skipWsp(line, nameEnd);
    if (nameEnd == 0 || colon >= line.size() || line[colon] != ':') continue;
    HeaderId id = headerIdFromName(line.substr(0, nameEnd));
    std::string* target = nullptr;
    switch (id) {
      case HeaderId::Via:
        if (vias.size() < kMaxViaCount) target = &vias.emplace_back();
        break;
      case HeaderId::From:
        if (!haveFrom) target = &from;
        haveFrom = true;
        break;
      case HeaderId::To:
        if (!haveTo) target = &to;
        haveTo = true;
        break;
      case HeaderId::CallId:
        if (!haveCallId) target = &callId;
        haveCallId = true;
        break;
      case HeaderId::CSeq:
        if (!haveCSeq) target = &cseq;
        haveCSeq = true;
        break;
      default:
        break;
    }
    if (target == nullptr) continue;
    target->append(line.substr(colon + 1));
    // Folded continuation lines (RFC 3261 §7.3.1) become one SP-joined value.
    while (pos < text.size() && isWsp(text[pos])) {
      std::string_view cont = lineAt(pos, next);
      pos = next;
      target->push_back(' ');
      target->append(cont);
    }
    std::string_view trimmed = detail::trim(*target);
    *target = std::string(trimmed);
  }
  if (vias.empty()) return "";
  if (!topViaParams.empty()) vias.front() = withTopViaParams(vias.front(), topViaParams);

  MessageWriter w(256 + text.size() / 2);
  w.statusLine(status, reason);
  for (const std::string& v : vias) w.header("Via", v);
  if (haveFrom) w.header("From", from);
  if (haveTo) {
    bool hasTag = false;
    NameAddr na;
    if (detail::parseNameAddrInto(to, na, false) == nullptr) {
      hasTag = !na.tag().empty();
    } else {
      size_t semi = to.find(';');
      hasTag = semi != std::string::npos &&
               findParam(std::string_view(to).substr(semi), "tag").has_value();
    }
    appendTo(w, to, hasTag, toTag, status);
  }
  if (haveCallId) w.header("Call-ID", callId);
  if (haveCSeq) w.header("CSeq", cseq);
  for (const ExtraHeader& h : extra) w.header(h.name, h.value);
  return w.finish();
}

}  // namespace tollgate::sip
