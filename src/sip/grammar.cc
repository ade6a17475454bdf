// Scanners shared by the parser, the value parsers, the framer and the
// checks (see grammar.h). No allocation, no exceptions.
#include "sip/grammar.h"

#include <cstring>

#include "sip/limits.h"

namespace tollgate::sip::detail {

using ascii::iequals;

bool parseDecimal(std::string_view s, uint64_t max, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!isDigit(c)) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > max) return false;  // checked every digit, so v*10 never overflows
  }
  out = v;
  return true;
}

size_t scanQuoted(std::string_view s, size_t i) {
  // s[i] == '"'. qdtext excludes CTLs other than LWS (RFC 3261 §25.1);
  // quoted-pair may escape any octet except CR and LF.
  for (++i; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') return i + 1;
    if (c == '\\') {
      if (i + 1 >= s.size()) return std::string_view::npos;
      unsigned char n = static_cast<unsigned char>(s[i + 1]);
      if (n == '\r' || n == '\n') return std::string_view::npos;
      ++i;
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f) return std::string_view::npos;
  }
  return std::string_view::npos;
}

bool ListSplitter::next(std::string_view& element) {
  if (done_ || failed_) return false;
  bool inQuote = false;
  bool inAngle = false;
  size_t i = pos_;
  for (; i < s_.size(); ++i) {
    char c = s_[i];
    if (inQuote) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inQuote = false;
      }
    } else if (inAngle) {
      if (c == '>') inAngle = false;
    } else if (c == '"') {
      inQuote = true;
    } else if (c == '<') {
      inAngle = true;
    } else if (c == ',') {
      break;
    }
  }
  if (inQuote || inAngle) {
    failed_ = true;
    return false;
  }
  element = trim(s_.substr(pos_, (i < s_.size() ? i : s_.size()) - pos_));
  if (i >= s_.size()) {
    done_ = true;
  } else {
    pos_ = i + 1;
  }
  if (element.empty()) {
    failed_ = true;
    return false;
  }
  return true;
}

int ParamCursor::next(std::string_view& name, std::string_view& value, bool& hasValue) {
  size_t i = skipWsp(s_, pos_);
  if (i >= s_.size()) return 0;
  if (s_[i] != ';') return -1;
  i = skipWsp(s_, i + 1);
  size_t nameEnd = scanTokens(s_, i);
  if (nameEnd == i) return -1;  // ";;" or ";=" : a separator with no parameter
  name = s_.substr(i, nameEnd - i);
  i = skipWsp(s_, nameEnd);
  hasValue = false;
  value = {};
  if (i < s_.size() && s_[i] == '=') {
    i = skipWsp(s_, i + 1);
    if (i >= s_.size()) return -1;
    size_t valueEnd;
    if (s_[i] == '"') {
      valueEnd = scanQuoted(s_, i);
      if (valueEnd == std::string_view::npos) return -1;
    } else {
      // gen-value = token / host / quoted-string; host adds ':' and the
      // brackets of an IPv6 reference (RFC 5118 §4.5: received with or
      // without them).
      valueEnd = i;
      while (valueEnd < s_.size() && (isToken(s_[valueEnd]) || s_[valueEnd] == ':' ||
                                      s_[valueEnd] == '[' || s_[valueEnd] == ']')) {
        ++valueEnd;
      }
      if (valueEnd == i) return -1;
    }
    value = s_.substr(i, valueEnd - i);
    hasValue = true;
    i = valueEnd;
  }
  i = skipWsp(s_, i);
  if (i < s_.size() && s_[i] != ';') return -1;
  pos_ = i;
  return 1;
}

bool validParams(std::string_view s) {
  ParamCursor cursor(s);
  std::string_view name, value;
  bool hasValue;
  int r;
  while ((r = cursor.next(name, value, hasValue)) == 1) {
  }
  return r == 0;
}

size_t scanHost(std::string_view s, size_t i) {
  if (i >= s.size()) return std::string_view::npos;
  if (s[i] == '[') {
    // IPv6reference. Checked loosely on purpose: RFC 5118 §4.10 asks us to
    // tolerate the three-colon form the RFC 3261 ABNF admits.
    size_t j = i + 1;
    bool colon = false;
    while (j < s.size() && (isHex(s[j]) || s[j] == ':' || s[j] == '.')) {
      colon = colon || s[j] == ':';
      ++j;
    }
    if (j >= s.size() || s[j] != ']' || !colon || j - i > 64) return std::string_view::npos;
    return j + 1;
  }
  size_t j = i;
  while (j < s.size() && isHostChar(s[j])) ++j;
  return j == i ? std::string_view::npos : j;
}

namespace {

// port = 1*DIGIT, at most 65535.
bool parsePort(std::string_view s, uint16_t& out) {
  uint64_t v = 0;
  if (s.size() > 5 || !parseDecimal(s, 65535, v)) return false;
  out = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

const char* parseUriInto(std::string_view text, Uri& out) {
  out = Uri{};
  out.text = text;
  if (text.size() > kMaxUriLength) return "URI too long";
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3261 §25.1)
  if (text.empty() || !isAlpha(text[0])) return "URI without a scheme";
  size_t i = 1;
  while (i < text.size() && (isAlpha(text[i]) || isDigit(text[i]) || text[i] == '+' ||
                             text[i] == '-' || text[i] == '.')) {
    ++i;
  }
  if (i >= text.size() || text[i] != ':') return "URI without a scheme";
  out.schemeName = text.substr(0, i);
  std::string_view rest = text.substr(i + 1);
  if (rest.empty()) return "empty URI after the scheme";
  for (char c : rest) {
    if (!isUriChar(c)) return "invalid character in URI";
  }
  if (iequals(out.schemeName, "sip")) {
    out.scheme = UriScheme::Sip;
  } else if (iequals(out.schemeName, "sips")) {
    out.scheme = UriScheme::Sips;
  } else if (iequals(out.schemeName, "tel")) {
    out.scheme = UriScheme::Tel;
  } else {
    // absoluteURI of another scheme: kept as text (RFC 3261 §19.1: a
    // Request-URI of an unknown scheme is answered 416, not rejected as
    // malformed; To/From/Contact may carry any URI, RFC 4475 §3.3.4).
    out.scheme = UriScheme::Other;
    return nullptr;
  }

  if (out.scheme == UriScheme::Tel) {
    // RFC 3966: telephone-subscriber *par. The number runs to the first ';'.
    size_t semi = rest.find(';');
    out.user = rest.substr(0, semi);
    if (out.user.empty()) return "tel URI without a number";
    if (semi != std::string_view::npos) out.params = rest.substr(semi);
    return nullptr;
  }

  // SIP/SIPS URI (RFC 3261 §19.1.1): [userinfo "@"] hostport params [headers].
  // '@' cannot appear unescaped after the userinfo, so the first one ends it;
  // the user part may hold ';', '?', '/' and ',' (RFC 4475 semiuri, intmeth).
  size_t hostStart = 0;
  size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    size_t colon = userinfo.find(':');
    out.user = userinfo.substr(0, colon);
    if (colon != std::string_view::npos) out.password = userinfo.substr(colon + 1);
    if (out.user.empty()) return "empty user part in URI";
    hostStart = at + 1;
  }
  size_t hostEnd = scanHost(rest, hostStart);
  if (hostEnd == std::string_view::npos) return "missing or invalid host in URI";
  out.host = rest.substr(hostStart, hostEnd - hostStart);
  size_t j = hostEnd;
  if (j < rest.size() && rest[j] == ':') {
    size_t portEnd = j + 1;
    while (portEnd < rest.size() && isDigit(rest[portEnd])) ++portEnd;
    if (!parsePort(rest.substr(j + 1, portEnd - j - 1), out.port)) return "invalid port in URI";
    j = portEnd;
  }
  if (j < rest.size() && rest[j] != ';' && rest[j] != '?') return "invalid host or port in URI";
  size_t q = rest.find('?', j);
  if (j < rest.size() && rest[j] == ';')
    out.params = rest.substr(j, q == std::string_view::npos ? std::string_view::npos : q - j);
  if (q != std::string_view::npos) out.headers = rest.substr(q + 1);
  return nullptr;
}

const char* parseNameAddrInto(std::string_view text, NameAddr& out, bool requireAngle) {
  out = NameAddr{};
  std::string_view t = trim(text);
  out.text = t;
  if (t.empty()) return "empty address";
  size_t i = 0;
  bool angle = false;
  if (t[0] == '"') {
    size_t end = scanQuoted(t, 0);
    if (end == std::string_view::npos) return "unterminated quoted display name";
    out.displayName = t.substr(1, end - 2);
    i = skipWsp(t, end);
    if (i >= t.size() || t[i] != '<') return "display name not followed by <URI>";
    angle = true;
  } else if (t[0] == '<') {
    angle = true;
  } else {
    // *(token LWS) "<" — RFC 4475 §3.1.1.6 lwsdisp: also without LWS before
    // '<'. UTF-8 octets are tolerated too: gateways send unquoted non-ASCII
    // names, and nothing in them can be mistaken for a delimiter.
    size_t j = 0;
    while (j < t.size() &&
           (isToken(t[j]) || isWsp(t[j]) || static_cast<unsigned char>(t[j]) >= 0x80))
      ++j;
    if (j < t.size() && t[j] == '<') {
      out.displayName = trim(t.substr(0, j));
      i = j;
      angle = true;
    }
  }

  size_t paramsFrom;
  if (angle) {
    size_t close = t.find('>', i + 1);
    if (close == std::string_view::npos) return "missing '>' after the URI";
    std::string_view uriText = t.substr(i + 1, close - i - 1);
    // RFC 4475 §3.1.2.14 badaspec: no LWS inside the brackets.
    if (uriText.empty() || isWsp(uriText.front()) || isWsp(uriText.back())) {
      return "whitespace inside <>";
    }
    if (const char* err = parseUriInto(uriText, out.uri)) return err;
    out.angleBrackets = true;
    paramsFrom = close + 1;
  } else {
    if (requireAngle) return "URI must be in <>";
    // RFC 4475 §3.1.2.15 baddn: "Bell, Alexander <sip:...>".
    if (t.find('<') != std::string_view::npos)
      return "unquoted display name with non-token characters";
    // addr-spec: the URI ends at the first ';' (header params follow) or
    // LWS. A URI holding ',', '?' or ';' must be in <> (RFC 3261 §20.10;
    // RFC 4475 §3.1.2.13 regbadct).
    size_t e = 0;
    while (e < t.size() && t[e] != ';' && !isWsp(t[e])) ++e;
    std::string_view uriText = t.substr(0, e);
    if (uriText.find_first_of(",?") != std::string_view::npos) {
      return "URI with '?' or ',' must be in <>";
    }
    if (const char* err = parseUriInto(uriText, out.uri)) return err;
    paramsFrom = e;
  }
  size_t p = skipWsp(t, paramsFrom);
  if (p < t.size()) {
    if (t[p] != ';') return "unexpected text after the address";
    out.params = t.substr(p);
    if (!validParams(out.params)) return "malformed header parameters";
  }
  return nullptr;
}

const char* parseViaInto(std::string_view text, Via& out) {
  out = Via{};
  std::string_view t = trim(text);
  out.text = t;
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport,
  // SLASH = SWS "/" SWS (RFC 4475 wsinv: "SIP  /   2.0  / UDP").
  size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    size_t e = scanTokens(t, i);
    if (e == i) return "malformed sent-protocol in Via";
    if (part == 2) {
      out.transport = t.substr(i, e - i);
      i = e;
      break;
    }
    i = skipWsp(t, e);
    if (i >= t.size() || t[i] != '/') return "malformed sent-protocol in Via";
    i = skipWsp(t, i + 1);
  }
  size_t hostStart = skipWsp(t, i);
  if (hostStart == i) return "missing sent-by in Via";
  size_t hostEnd = scanHost(t, hostStart);
  if (hostEnd == std::string_view::npos) return "invalid sent-by host in Via";
  out.host = t.substr(hostStart, hostEnd - hostStart);
  i = skipWsp(t, hostEnd);
  if (i < t.size() && t[i] == ':') {
    i = skipWsp(t, i + 1);
    size_t e = i;
    while (e < t.size() && isDigit(t[e])) ++e;
    if (!parsePort(t.substr(i, e - i), out.port)) return "invalid port in Via";
    i = skipWsp(t, e);
  }
  if (i >= t.size()) return nullptr;
  if (t[i] != ';') return "unexpected text after sent-by in Via";
  out.params = t.substr(i);
  ParamCursor cursor(out.params);
  std::string_view name, value;
  bool hasValue;
  int r;
  bool haveBranch = false;
  bool haveReceived = false;
  // A repeated parameter keeps its first value, as findParam() does.
  while ((r = cursor.next(name, value, hasValue)) == 1) {
    if (iequals(name, "branch")) {
      if (!haveBranch) out.branch = value;
      haveBranch = true;
    } else if (iequals(name, "received")) {
      if (!haveReceived) out.received = value;
      haveReceived = true;
    } else if (iequals(name, "rport") && !out.hasRport) {
      // RFC 3581 §4: "rport" alone in requests, "rport=N" once filled in.
      out.hasRport = true;
      if (hasValue && !parsePort(value, out.rport)) return "invalid rport in Via";
    }
  }
  if (r < 0) return "malformed Via parameters";
  return nullptr;
}

bool validCallId(std::string_view s) {
  size_t at = s.find('@');
  std::string_view first = s.substr(0, at);
  if (first.empty()) return false;
  for (char c : first) {
    if (!isWord(c)) return false;
  }
  if (at == std::string_view::npos) return true;
  std::string_view second = s.substr(at + 1);
  if (second.empty()) return false;
  for (char c : second) {
    if (!isWord(c)) return false;
  }
  return true;
}

std::string_view mediaType(std::string_view value) {
  std::string_view t = trim(value);
  size_t e = scanTokens(t, 0);
  if (e == 0) return {};
  size_t i = skipWsp(t, e);
  if (i >= t.size() || t[i] != '/') return {};
  i = skipWsp(t, i + 1);
  size_t e2 = scanTokens(t, i);
  if (e2 == i) return {};
  std::string_view type = t.substr(0, e2);
  size_t p = skipWsp(t, e2);
  if (p < t.size() && (t[p] != ';' || !validParams(t.substr(p)))) return {};
  return type;
}

bool mediaTypeEquals(std::string_view a, std::string_view b) {
  auto split = [](std::string_view s, std::string_view& type, std::string_view& sub) {
    size_t slash = s.find('/');
    if (slash == std::string_view::npos) return false;
    type = trim(s.substr(0, slash));
    sub = trim(s.substr(slash + 1));
    return true;
  };
  std::string_view at, as, bt, bs;
  if (!split(a, at, as) || !split(b, bt, bs)) return false;
  return iequals(at, bt) && iequals(as, bs);
}

HeaderEnd findHeaderEnd(std::string_view buf, size_t from) {
  HeaderEnd r;
  const char* base = buf.data();
  size_t i = from;
  while (i < buf.size()) {
    const void* nl = std::memchr(base + i, '\n', buf.size() - i);
    if (nl == nullptr) return r;
    size_t e = static_cast<size_t>(static_cast<const char*>(nl) - base);
    size_t next = e + 1;
    if (next < buf.size() && buf[next] == '\n') {
      r = {true, next, next + 1};
      return r;
    }
    if (next + 1 < buf.size() && buf[next] == '\r' && buf[next + 1] == '\n') {
      r = {true, next, next + 2};
      return r;
    }
    i = next;
  }
  return r;
}

}  // namespace tollgate::sip::detail
