// Names of methods and header fields, parameter lookup, the Message
// accessors and the public value parsers (thin wrappers over grammar.h).
#include "sip/message.h"

#include <array>

#include "common/percent.h"
#include "sip/grammar.h"

namespace tollgate::sip {

using ascii::iequals;
using ascii::toLower;
using detail::trim;

namespace {

constexpr std::array<std::string_view, 15> kMethodNames = {
    "",       "INVITE", "ACK",       "BYE",    "CANCEL", "OPTIONS", "REGISTER", "PRACK",
    "UPDATE", "INFO",   "SUBSCRIBE", "NOTIFY", "REFER",  "MESSAGE", "PUBLISH",
};

constexpr size_t kHeaderIdCount = static_cast<size_t>(HeaderId::SubscriptionState) + 1;

constexpr std::array<std::string_view, kHeaderIdCount> kHeaderNames = {
    "",                      // Other
    "Accept",                // Accept
    "Accept-Encoding",       // AcceptEncoding
    "Accept-Language",       // AcceptLanguage
    "Allow",                 // Allow
    "Authorization",         // Authorization
    "Call-ID",               // CallId
    "Contact",               // Contact
    "Content-Disposition",   // ContentDisposition
    "Content-Encoding",      // ContentEncoding
    "Content-Language",      // ContentLanguage
    "Content-Length",        // ContentLength
    "Content-Type",          // ContentType
    "CSeq",                  // CSeq
    "Date",                  // Date
    "Diversion",             // Diversion
    "Event",                 // Event
    "Expires",               // Expires
    "From",                  // From
    "Max-Forwards",          // MaxForwards
    "Min-Expires",           // MinExpires
    "Min-SE",                // MinSE
    "P-Asserted-Identity",   // PAssertedIdentity
    "P-Preferred-Identity",  // PPreferredIdentity
    "Privacy",               // Privacy
    "Proxy-Authenticate",    // ProxyAuthenticate
    "Proxy-Authorization",   // ProxyAuthorization
    "Proxy-Require",         // ProxyRequire
    "RAck",                  // RAck
    "Record-Route",          // RecordRoute
    "Refer-To",              // ReferTo
    "Remote-Party-ID",       // RemotePartyId
    "Require",               // Require
    "Retry-After",           // RetryAfter
    "Route",                 // Route
    "RSeq",                  // RSeq
    "Server",                // Server
    "Session-Expires",       // SessionExpires
    "Subject",               // Subject
    "Supported",             // Supported
    "Timestamp",             // Timestamp
    "To",                    // To
    "Unsupported",           // Unsupported
    "User-Agent",            // UserAgent
    "Via",                   // Via
    "Warning",               // Warning
    "WWW-Authenticate",      // WwwAuthenticate
    "Allow-Events",          // AllowEvents
    "Referred-By",           // ReferredBy
    "Accept-Contact",        // AcceptContact
    "Reject-Contact",        // RejectContact
    "Request-Disposition",   // RequestDisposition
    "Identity",              // Identity
    "Reason",                // Reason
    "Path",                  // Path
    "Subscription-State",    // SubscriptionState
};

HeaderId matchAmong(std::string_view name, std::initializer_list<HeaderId> candidates) {
  for (HeaderId id : candidates) {
    if (iequals(name, kHeaderNames[static_cast<size_t>(id)])) return id;
  }
  return HeaderId::Other;
}

}  // namespace

Method methodFromName(std::string_view name) {
  // Case-sensitive (RFC 3261 §7.1): "invite" and "RE%47IST%45R" (RFC 4475
  // esc02) are extension methods, not INVITE and REGISTER.
  for (size_t i = 1; i < kMethodNames.size(); ++i) {
    if (name == kMethodNames[i]) return static_cast<Method>(i);
  }
  return Method::Unknown;
}

std::string_view methodName(Method m) {
  size_t i = static_cast<size_t>(m);
  return i < kMethodNames.size() ? kMethodNames[i] : std::string_view{};
}

HeaderId headerIdFromName(std::string_view name) {
  using H = HeaderId;
  if (name.empty()) return H::Other;
  if (name.size() == 1) {
    // Compact forms: RFC 3261 §7.3.3 and the extension RFCs named in message.h.
    switch (toLower(name[0])) {
      case 'i':
        return H::CallId;
      case 'm':
        return H::Contact;
      case 'e':
        return H::ContentEncoding;
      case 'l':
        return H::ContentLength;
      case 'c':
        return H::ContentType;
      case 'f':
        return H::From;
      case 's':
        return H::Subject;
      case 'k':
        return H::Supported;
      case 't':
        return H::To;
      case 'v':
        return H::Via;
      case 'o':
        return H::Event;
      case 'r':
        return H::ReferTo;
      case 'x':
        return H::SessionExpires;
      case 'u':
        return H::AllowEvents;
      case 'b':
        return H::ReferredBy;
      case 'a':
        return H::AcceptContact;
      case 'j':
        return H::RejectContact;
      case 'd':
        return H::RequestDisposition;
      case 'y':
        return H::Identity;
      default:
        return H::Other;
    }
  }
  switch (toLower(name[0])) {
    case 'a':
      return matchAmong(name, {H::Accept, H::Allow, H::Authorization, H::AcceptEncoding,
                               H::AcceptLanguage, H::AllowEvents, H::AcceptContact});
    case 'c':
      return matchAmong(name, {H::CallId, H::CSeq, H::Contact, H::ContentLength, H::ContentType,
                               H::ContentDisposition, H::ContentEncoding, H::ContentLanguage});
    case 'd':
      return matchAmong(name, {H::Date, H::Diversion});
    case 'e':
      return matchAmong(name, {H::Expires, H::Event});
    case 'f':
      return matchAmong(name, {H::From});
    case 'i':
      return matchAmong(name, {H::Identity});
    case 'm':
      return matchAmong(name, {H::MaxForwards, H::MinExpires, H::MinSE});
    case 'p':
      return matchAmong(
          name, {H::PAssertedIdentity, H::PPreferredIdentity, H::Privacy, H::ProxyAuthenticate,
                 H::ProxyAuthorization, H::ProxyRequire, H::Path});
    case 'r':
      return matchAmong(name, {H::Route, H::RecordRoute, H::Require, H::RAck, H::RSeq, H::ReferTo,
                               H::RemotePartyId, H::RetryAfter, H::ReferredBy, H::RejectContact,
                               H::RequestDisposition, H::Reason});
    case 's':
      return matchAmong(
          name, {H::Supported, H::Server, H::SessionExpires, H::Subject, H::SubscriptionState});
    case 't':
      return matchAmong(name, {H::To, H::Timestamp});
    case 'u':
      return matchAmong(name, {H::UserAgent, H::Unsupported});
    case 'v':
      return matchAmong(name, {H::Via});
    case 'w':
      return matchAmong(name, {H::WwwAuthenticate, H::Warning});
    default:
      return H::Other;
  }
}

std::string_view headerName(HeaderId id) {
  size_t i = static_cast<size_t>(id);
  return i < kHeaderNames.size() ? kHeaderNames[i] : std::string_view{};
}

size_t paramEnd(std::string_view params, size_t from) {
  bool quoted = false;
  size_t j = from;
  for (; j < params.size(); ++j) {
    const char c = params[j];
    if (quoted) {
      if (c == '\\') {
        ++j;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ';') {
      break;
    }
  }
  return j > params.size() ? params.size() : j;
}

std::optional<std::string_view> findParam(std::string_view params, std::string_view name) {
  // Lenient on purpose: used on URI params (where ";;" is tolerated) as well
  // as on header params already validated by the parser. Splits on ';'
  // outside quoted strings; LWS around ';' and '=' is allowed (RFC 3261 §7.3.1).
  size_t i = 0;
  const size_t n = params.size();
  while (i <= n) {
    const size_t j = paramEnd(params, i);
    std::string_view segment = trim(params.substr(i, j - i));
    if (!segment.empty()) {
      size_t eq = segment.find('=');
      if (iequals(trim(segment.substr(0, eq)), name)) {
        return eq == std::string_view::npos ? std::string_view{} : trim(segment.substr(eq + 1));
      }
    }
    i = j + 1;
  }
  return std::nullopt;
}

const Header* Message::header(HeaderId id) const {
  for (const Header& h : headers_) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

const Header* Message::header(std::string_view name) const {
  HeaderId id = headerIdFromName(name);
  if (id != HeaderId::Other) return header(id);
  for (const Header& h : headers_) {
    if (h.id == HeaderId::Other && iequals(h.name, name)) return &h;
  }
  return nullptr;
}

size_t Message::headerCount(HeaderId id) const {
  size_t n = 0;
  for (const Header& h : headers_) n += h.id == id ? 1 : 0;
  return n;
}

std::string_view Message::contentType() const {
  const Header* h = header(HeaderId::ContentType);
  return h != nullptr ? h->value : std::string_view{};
}

namespace {

ParseError valueError(ParseErrorCode code, const char* detail) {
  ParseError e;
  e.code = code;
  e.detail = detail;
  e.status = 400;
  return e;
}

}  // namespace

Result<Uri, ParseError> parseUri(std::string_view text) {
  Uri uri;
  if (const char* err = detail::parseUriInto(trim(text), uri)) {
    return Err{valueError(ParseErrorCode::BadHeaderValue, err)};
  }
  return uri;
}

Result<NameAddr, ParseError> parseNameAddr(std::string_view text) {
  NameAddr na;
  if (const char* err = detail::parseNameAddrInto(text, na, false)) {
    return Err{valueError(ParseErrorCode::BadHeaderValue, err)};
  }
  return na;
}

Result<std::vector<NameAddr>, ParseError> parseNameAddrList(std::string_view text) {
  std::vector<NameAddr> out;
  std::string_view t = trim(text);
  if (t == "*") {
    // RFC 3261 §10.2.2: "Contact: *" removes every binding; it stands alone.
    NameAddr star;
    star.text = t;
    out.push_back(star);
    return out;
  }
  detail::ListSplitter list(t);
  std::string_view element;
  while (list.next(element)) {
    NameAddr na;
    if (const char* err = detail::parseNameAddrInto(element, na, false)) {
      return Err{valueError(ParseErrorCode::BadHeaderValue, err)};
    }
    out.push_back(na);
  }
  if (list.failed()) {
    return Err{valueError(ParseErrorCode::BadHeaderValue, "malformed address list")};
  }
  return out;
}

Result<std::vector<Via>, ParseError> parseViaList(std::string_view text) {
  std::vector<Via> out;
  detail::ListSplitter list(trim(text));
  std::string_view element;
  while (list.next(element)) {
    Via via;
    if (const char* err = detail::parseViaInto(element, via)) {
      return Err{valueError(ParseErrorCode::BadVia, err)};
    }
    out.push_back(via);
  }
  if (list.failed()) return Err{valueError(ParseErrorCode::BadVia, "malformed Via list")};
  return out;
}

std::vector<std::string_view> splitTokens(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= text.size()) {
    size_t comma = text.find(',', i);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view token = trim(text.substr(i, comma - i));
    if (!token.empty()) out.push_back(token);
    i = comma + 1;
  }
  return out;
}

std::string unescape(std::string_view text) {
  return percentDecode(text);
}

std::string escapeUser(std::string_view text) {
  // RFC 3261 §25.1 unreserved marks and the user-unreserved "& = + $ ,"
  // (';', '?' and '/' are escaped: see message.h).
  constexpr std::string_view kUserMarks = "-_.!~*'()&=+$,";
  return percentEncode(text, kUserMarks);
}

}  // namespace tollgate::sip
