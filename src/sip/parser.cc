// Message::parse: one pass over the owned buffer. The start line and the
// headers a transaction needs are validated eagerly; every other value stays
// text. Folding is undone in place so each field is one contiguous view.
// No allocation beyond the Message itself and its headers_/vias_ vectors.
#include <cstring>

#include "sip/grammar.h"
#include "sip/limits.h"
#include "sip/message.h"

namespace tollgate::sip {

using ascii::iequals;
using ascii::istartsWith;
using detail::trim;

namespace {

// Typical INVITEs carry 15-40 fields and 1-3 Vias: one allocation each.
constexpr size_t kHeaderReserve = 32;
constexpr size_t kViaReserve = 4;

enum class StartKind { Request, Response, NotSip };

// What the first line claims to be. A request line must end in a
// "SIP/..." token (possibly followed by stray whitespace, RFC 4475 trws);
// anything else does not even look like SIP and is dropped silently.
StartKind classify(std::string_view line) {
  if (istartsWith(line, "SIP/")) return StartKind::Response;
  std::string_view t = line;
  while (!t.empty() && isWsp(t.back())) t.remove_suffix(1);
  size_t sp = t.rfind(' ');
  if (sp == std::string_view::npos || sp == 0) return StartKind::NotSip;
  return istartsWith(t.substr(sp + 1), "SIP/") ? StartKind::Request : StartKind::NotSip;
}

int defaultStatus(ParseErrorCode code) {
  switch (code) {
    case ParseErrorCode::Empty:
      return 0;
    case ParseErrorCode::TooLarge:
    case ParseErrorCode::TooManyHeaders:
      return 513;  // RFC 3261 §21.5.14
    case ParseErrorCode::BadVersion:
      return 505;  // RFC 3261 §21.5.6
    case ParseErrorCode::TooManyVias:
      return 483;  // RFC 3261 §21.4.22
    default:
      return 400;
  }
}

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT, case-insensitive (§7.1).
bool looksLikeVersion(std::string_view v) {
  if (!istartsWith(v, "SIP/")) return false;
  std::string_view rest = v.substr(4);
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= rest.size()) return false;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (i != dot && !isDigit(rest[i])) return false;
  }
  return true;
}

// Headers that may appear once (RFC 3261 §7.3.1: only list headers may repeat).
enum SeenBit : uint32_t {
  kSeenFrom = 1 << 0,
  kSeenTo = 1 << 1,
  kSeenCallId = 1 << 2,
  kSeenCSeq = 1 << 3,
  kSeenMaxForwards = 1 << 4,
  kSeenContentLength = 1 << 5,
  kSeenContentType = 1 << 6,
};

}  // namespace

class Parser {
 public:
  static Result<MessagePtr, ParseError> parse(std::string&& bytes);

 private:
  explicit Parser(Message& m) : m_(m) {}

  bool fail(ParseErrorCode code, const char* detail, int status = -1) {
    code_ = code;
    detail_ = detail;
    status_ = status;
    return false;
  }
  bool once(SeenBit bit, const char* detail) {
    if ((seen_ & bit) != 0) return fail(ParseErrorCode::DuplicateHeader, detail);
    seen_ |= bit;
    return true;
  }
  bool parseRequestLine(std::string_view line);
  bool parseStatusLine(std::string_view line);
  bool parseHeaders(size_t pos);
  bool parseHeaderLine(std::string_view line);
  bool processHeader(const Header& h);
  bool finish();

  Message& m_;
  ParseErrorCode code_ = ParseErrorCode::Empty;
  const char* detail_ = "";
  int status_ = -1;
  uint32_t seen_ = 0;
  size_t bodyStart_ = 0;
  size_t messageStart_ = 0;
};

Result<MessagePtr, ParseError> Message::parse(std::string&& bytes) {
  return Parser::parse(std::move(bytes));
}

Result<MessagePtr, ParseError> Parser::parse(std::string&& bytes) {
  const size_t n = bytes.size();
  bool isRequest = false;
  auto error = [&isRequest](ParseErrorCode code, const char* detail, int status = -1) {
    ParseError e;
    e.code = code;
    e.detail = detail;
    e.isRequest = isRequest;
    e.status = isRequest ? (status >= 0 ? status : defaultStatus(code)) : 0;
    return Result<MessagePtr, ParseError>(Err{e});
  };

  // RFC 3261 §7.5: CRLFs before the start line are ignored (keep-alives,
  // stray line ends of a previous message).
  size_t p = 0;
  while (p < n && (bytes[p] == '\r' || bytes[p] == '\n')) ++p;
  if (p == n) return error(ParseErrorCode::Empty, "empty message");

  const char* firstNl = static_cast<const char*>(std::memchr(bytes.data() + p, '\n', n - p));
  size_t lineEnd = firstNl != nullptr ? static_cast<size_t>(firstNl - bytes.data()) : n;
  size_t contentEnd = lineEnd;
  if (contentEnd > p && bytes[contentEnd - 1] == '\r') --contentEnd;
  std::string_view firstLine(bytes.data() + p, contentEnd - p);
  StartKind kind = classify(firstLine);
  if (kind == StartKind::NotSip) {
    return error(ParseErrorCode::BadStartLine, "start line is not SIP");
  }
  isRequest = kind == StartKind::Request;

  if (n > kMaxMessageSize) return error(ParseErrorCode::TooLarge, "message too large");
  if (p > kMaxLeadingCrlf) return error(ParseErrorCode::BadStartLine, "too many leading CRLFs");
  if (firstNl == nullptr) return error(ParseErrorCode::Incomplete, "no header section");
  if (firstLine.size() > kMaxHeaderLineLength) {
    return error(ParseErrorCode::TooLarge, "start line too long");
  }
  if (firstLine.find('\r') != std::string_view::npos) {
    return error(ParseErrorCode::BadStartLine, "bare CR in the start line");
  }

  // Message is neither copyable nor movable, so views into buffer_ stay
  // valid even when the string is short enough to live inline (SSO).
  MessagePtr m(new Message());
  m->buffer_ = std::move(bytes);
  m->isRequest_ = isRequest;
  m->headers_.reserve(kHeaderReserve);
  m->vias_.reserve(kViaReserve);
  std::string_view buf(m->buffer_);
  m->startLine_ = buf.substr(p, contentEnd - p);

  Parser parser(*m);
  parser.messageStart_ = p;
  bool ok =
      isRequest ? parser.parseRequestLine(m->startLine_) : parser.parseStatusLine(m->startLine_);
  ok = ok && parser.parseHeaders(lineEnd + 1) && parser.finish();
  if (!ok) {
    // Hand the bytes back: the caller may still answer with 400 built from them.
    bytes = std::move(m->buffer_);
    return error(parser.code_, parser.detail_, parser.status_);
  }
  return m;
}

bool Parser::parseRequestLine(std::string_view line) {
  // Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP
  // each. Extra or trailing whitespace is answered 400 (RFC 4475 §3.1.2.8-10
  // lwsruri, lwsstart, trws: cheap to detect, so we take the strict option).
  size_t lastSp = line.rfind(' ');
  std::string_view version = line.substr(lastSp + 1);
  if (version.empty() || isWsp(line.back())) {
    return fail(ParseErrorCode::BadStartLine, "trailing whitespace in the Request-Line");
  }
  if (!iequals(version, "SIP/2.0")) {
    if (looksLikeVersion(version))
      return fail(ParseErrorCode::BadVersion, "unsupported SIP version");
    return fail(ParseErrorCode::BadStartLine, "malformed SIP version");
  }
  size_t firstSp = line.find(' ');
  std::string_view method = line.substr(0, firstSp);
  if (method.empty() || method.size() > kMaxTokenLength ||
      detail::scanTokens(method, 0) != method.size()) {
    return fail(ParseErrorCode::BadMethod, "malformed method");
  }
  if (firstSp == lastSp)
    return fail(ParseErrorCode::BadStartLine, "Request-Line without a Request-URI");
  std::string_view uri = line.substr(firstSp + 1, lastSp - firstSp - 1);
  if (uri.empty() || uri.find_first_of(" \t") != std::string_view::npos) {
    return fail(ParseErrorCode::BadRequestUri, "whitespace in the Request-URI");
  }
  if (uri.size() > kMaxUriLength) {
    return fail(ParseErrorCode::BadRequestUri, "Request-URI too long", 414);  // RFC 3261 §21.4.12
  }
  if (uri.front() == '<') {
    return fail(ParseErrorCode::BadRequestUri, "Request-URI in <>");  // RFC 4475 ltgtruri
  }
  if (const char* err = detail::parseUriInto(uri, m_.requestUri_)) {
    return fail(ParseErrorCode::BadRequestUri, err);
  }
  // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI
  // (RFC 4475 §3.1.2.11 escruri).
  if (m_.requestUri_.isSipLike() && !m_.requestUri_.headers.empty()) {
    return fail(ParseErrorCode::BadRequestUri, "headers in the Request-URI");
  }
  m_.methodName_ = method;
  m_.method_ = methodFromName(method);
  return true;
}

bool Parser::parseStatusLine(std::string_view line) {
  // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase. The reason
  // may be empty (RFC 4475 noreason) and hold UTF-8 (unreason).
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos || !iequals(line.substr(0, sp), "SIP/2.0")) {
    return fail(ParseErrorCode::BadVersion, "unsupported SIP version in the Status-Line");
  }
  std::string_view rest = line.substr(sp + 1);
  if (rest.size() < 3 || !isDigit(rest[0]) || !isDigit(rest[1]) || !isDigit(rest[2]) ||
      (rest.size() > 3 && rest[3] != ' ')) {
    return fail(ParseErrorCode::BadStatusCode, "malformed status code");  // RFC 4475 bigcode
  }
  int status = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
  if (status < 100 || status > 699)
    return fail(ParseErrorCode::BadStatusCode, "status code out of range");
  m_.status_ = status;
  m_.reason_ = rest.size() > 4 ? rest.substr(4) : std::string_view{};
  return true;
}

bool Parser::parseHeaders(size_t pos) {
  char* b = m_.buffer_.data();
  const size_t n = m_.buffer_.size();
  for (;;) {
    if (pos >= n)
      return fail(ParseErrorCode::Incomplete, "header section not terminated by an empty line");
    size_t lineStart = pos;
    if (isWsp(b[lineStart]))
      return fail(ParseErrorCode::BadHeaderLine, "continuation line after the start line");
    size_t contentEnd;
    for (;;) {
      const char* nl = static_cast<const char*>(std::memchr(b + pos, '\n', n - pos));
      if (nl == nullptr) {
        return fail(ParseErrorCode::Incomplete, "header section not terminated by an empty line");
      }
      size_t e = static_cast<size_t>(nl - b);
      bool cr = e > pos && b[e - 1] == '\r';
      contentEnd = cr ? e - 1 : e;
      size_t next = e + 1;
      if (contentEnd == lineStart) {  // the empty line
        bodyStart_ = next;
        return true;
      }
      if (next < n && isWsp(b[next])) {
        // RFC 3261 §7.3.1: a line starting with LWS continues the field;
        // undo the fold in place so the value is one view.
        b[e] = ' ';
        if (cr) b[e - 1] = ' ';
        pos = next;
        continue;
      }
      pos = next;
      break;
    }
    if (contentEnd - lineStart > kMaxHeaderLineLength) {
      return fail(ParseErrorCode::TooLarge, "header line too long");
    }
    if (!parseHeaderLine(std::string_view(b + lineStart, contentEnd - lineStart))) return false;
  }
}

bool Parser::parseHeaderLine(std::string_view line) {
  if (line.find('\r') != std::string_view::npos)
    return fail(ParseErrorCode::BadHeaderLine, "bare CR in a header");
  size_t nameEnd = detail::scanTokens(line, 0);
  if (nameEnd == 0) return fail(ParseErrorCode::BadHeaderLine, "malformed header name");
  if (nameEnd > kMaxTokenLength) return fail(ParseErrorCode::BadHeaderLine, "header name too long");
  size_t colon = detail::skipWsp(line, nameEnd);  // "Via  :" (RFC 4475 longreq)
  if (colon >= line.size() || line[colon] != ':')
    return fail(ParseErrorCode::BadHeaderLine, "header line without ':'");
  if (m_.headers_.size() >= kMaxHeaderCount)
    return fail(ParseErrorCode::TooManyHeaders, "too many header fields");
  Header h;
  h.name = line.substr(0, nameEnd);
  h.id = headerIdFromName(h.name);
  h.value = trim(line.substr(colon + 1));
  h.raw = line;
  m_.headers_.push_back(h);
  return processHeader(h);
}

bool Parser::processHeader(const Header& h) {
  switch (h.id) {
    case HeaderId::Via: {
      detail::ListSplitter list(h.value);
      std::string_view element;
      while (list.next(element)) {
        if (m_.vias_.size() >= kMaxViaCount)
          return fail(ParseErrorCode::TooManyVias, "too many Via entries");
        Via via;
        if (const char* err = detail::parseViaInto(element, via))
          return fail(ParseErrorCode::BadVia, err);
        m_.vias_.push_back(via);
      }
      if (list.failed()) return fail(ParseErrorCode::BadVia, "malformed Via list");
      return true;
    }
    case HeaderId::From:
      if (!once(kSeenFrom, "duplicate From")) return false;
      if (const char* err = detail::parseNameAddrInto(h.value, m_.from_, false))
        return fail(ParseErrorCode::BadFrom, err);
      // tag-param = "tag" EQUAL token: a bare ";tag" would read as no tag.
      if (auto tag = m_.from_.param("tag"); tag && tag->empty())
        return fail(ParseErrorCode::BadFrom, "tag without a value");
      return true;
    case HeaderId::To:
      if (!once(kSeenTo, "duplicate To")) return false;
      if (const char* err = detail::parseNameAddrInto(h.value, m_.to_, false))
        return fail(ParseErrorCode::BadTo, err);
      if (auto tag = m_.to_.param("tag"); tag && tag->empty())
        return fail(ParseErrorCode::BadTo, "tag without a value");
      return true;
    case HeaderId::CallId:
      if (!once(kSeenCallId, "duplicate Call-ID")) return false;
      if (!detail::validCallId(h.value))
        return fail(ParseErrorCode::BadCallId, "malformed Call-ID");
      m_.callId_ = h.value;
      return true;
    case HeaderId::CSeq: {
      if (!once(kSeenCSeq, "duplicate CSeq")) return false;
      // CSeq = 1*DIGIT LWS Method; the number fits 32 bits (RFC 3261 §8.1.1.5,
      // RFC 4475 §3.1.2.4 scalar02).
      size_t digitsEnd = 0;
      while (digitsEnd < h.value.size() && isDigit(h.value[digitsEnd])) ++digitsEnd;
      uint64_t number = 0;
      if (!detail::parseDecimal(h.value.substr(0, digitsEnd), 0xffffffffULL, number)) {
        return fail(ParseErrorCode::BadCSeq, "malformed CSeq number");
      }
      size_t methodStart = detail::skipWsp(h.value, digitsEnd);
      std::string_view method = h.value.substr(methodStart);
      if (methodStart == digitsEnd || method.empty() || method.size() > kMaxTokenLength ||
          detail::scanTokens(method, 0) != method.size()) {
        return fail(ParseErrorCode::BadCSeq, "malformed CSeq method");
      }
      m_.cseq_.number = static_cast<uint32_t>(number);
      m_.cseq_.methodName = method;
      m_.cseq_.method = methodFromName(method);
      return true;
    }
    case HeaderId::MaxForwards: {
      if (!once(kSeenMaxForwards, "duplicate Max-Forwards")) return false;
      uint64_t v = 0;
      if (!detail::parseDecimal(h.value, 255, v))
        return fail(ParseErrorCode::BadMaxForwards, "Max-Forwards not in 0..255");
      m_.maxForwards_ = static_cast<uint32_t>(v);
      return true;
    }
    case HeaderId::ContentLength: {
      // RFC 4475 §3.3.9 mcl01: two Content-Lengths leave the framing unknown.
      if (!once(kSeenContentLength, "duplicate Content-Length")) return false;
      uint64_t v = 0;
      if (!detail::parseDecimal(h.value, 0xffffffffULL, v)) {
        return fail(ParseErrorCode::BadContentLength, "malformed Content-Length");  // ncl: -999
      }
      m_.contentLength_ = static_cast<uint32_t>(v);
      return true;
    }
    case HeaderId::ContentType:
      if (!once(kSeenContentType, "duplicate Content-Type")) return false;
      if (detail::mediaType(h.value).empty())
        return fail(ParseErrorCode::BadHeaderValue, "malformed Content-Type");
      return true;
    case HeaderId::Contact: {
      if (h.value == "*") return true;  // RFC 3261 §10.2.2
      detail::ListSplitter list(h.value);
      std::string_view element;
      NameAddr scratch;
      while (list.next(element)) {
        if (const char* err = detail::parseNameAddrInto(element, scratch, false))
          return fail(ParseErrorCode::BadContact, err);
      }
      if (list.failed()) return fail(ParseErrorCode::BadContact, "malformed Contact list");
      return true;
    }
    case HeaderId::Route:
    case HeaderId::RecordRoute: {
      detail::ListSplitter list(h.value);
      std::string_view element;
      NameAddr scratch;
      while (list.next(element)) {
        if (const char* err = detail::parseNameAddrInto(element, scratch, true))
          return fail(ParseErrorCode::BadRoute, err);
      }
      if (list.failed()) return fail(ParseErrorCode::BadRoute, "malformed Route list");
      return true;
    }
    default:
      return true;
  }
}

bool Parser::finish() {
  // RFC 3261 §8.1.1: the mandatory fields (Max-Forwards stays optional for
  // RFC 2543 peers, RFC 4475 §3.4.1 inv2543). RFC 4475 §3.3.1 insuf.
  if (m_.vias_.empty()) return fail(ParseErrorCode::MissingHeader, "missing Via");
  if ((seen_ & kSeenFrom) == 0) return fail(ParseErrorCode::MissingHeader, "missing From");
  if ((seen_ & kSeenTo) == 0) return fail(ParseErrorCode::MissingHeader, "missing To");
  if ((seen_ & kSeenCallId) == 0) return fail(ParseErrorCode::MissingHeader, "missing Call-ID");
  if ((seen_ & kSeenCSeq) == 0) return fail(ParseErrorCode::MissingHeader, "missing CSeq");
  // RFC 3261 §8.1.1.5: the CSeq method matches the request method
  // (RFC 4475 §3.1.2.17-18 mismatch01/02).
  if (m_.isRequest_ && m_.cseq_.methodName != m_.methodName_) {
    return fail(ParseErrorCode::CSeqMethodMismatch,
                "CSeq method does not match the request method");
  }
  const size_t n = m_.buffer_.size();
  std::string_view buf(m_.buffer_);
  size_t end = n;
  if (m_.contentLength_) {
    // RFC 3261 §18.3: bytes past Content-Length are ignored (RFC 4475
    // dblreq); fewer bytes than it announces is an error (clerr).
    if (*m_.contentLength_ > n - bodyStart_)
      return fail(ParseErrorCode::BodyTooShort, "Content-Length larger than body");
    end = bodyStart_ + *m_.contentLength_;
  }
  m_.body_ = buf.substr(bodyStart_, end - bodyStart_);
  m_.raw_ = buf.substr(messageStart_, end - messageStart_);
  return true;
}

}  // namespace tollgate::sip
