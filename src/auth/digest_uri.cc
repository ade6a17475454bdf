// The digest uri= check. See digest_uri.h for the rule.
#include "auth/digest_uri.h"

#include <array>
#include <string>

#include "sip/grammar.h"

namespace tollgate::auth {

namespace {

using ascii::iequals;

// RFC 3261 §19.1.4: escaped characters equal their unescaped form. Without
// a '%' in either (the common case) no copy is made.
bool equalUnescaped(std::string_view a, std::string_view b, bool caseInsensitive) {
  if (a.find('%') == std::string_view::npos && b.find('%') == std::string_view::npos) {
    return caseInsensitive ? iequals(a, b) : a == b;
  }
  const std::string ua = sip::unescape(a);
  const std::string ub = sip::unescape(b);
  return caseInsensitive ? iequals(ua, ub) : ua == ub;
}

uint16_t effectivePort(const sip::Uri& u) {
  if (u.port != 0) return u.port;
  return u.scheme == sip::UriScheme::Sips ? 5061 : 5060;
}

// RFC 3261 §19.1.4: these parameters, present in one URI only, make the
// URIs differ (each changes where or how the request is sent, or, for
// `user=phone`, what the user part means).
constexpr std::array<std::string_view, 5> kMustMatchParams = {"user", "ttl", "method", "maddr",
                                                              "transport"};

bool mustMatch(std::string_view name) {
  for (std::string_view p : kMustMatchParams) {
    if (iequals(p, name)) return true;
  }
  return false;
}

// Every parameter of `a` is compatible with `b` (called both ways).
bool paramsCompatible(std::string_view a, std::string_view b) {
  size_t i = 0;
  while (i < a.size()) {
    size_t end = a.find(';', i);
    if (end == std::string_view::npos) end = a.size();
    std::string_view seg = a.substr(i, end - i);
    i = end + 1;
    if (seg.empty()) continue;
    const size_t eq = seg.find('=');
    std::string_view name = seg.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : seg.substr(eq + 1);
    auto other = sip::findParam(b, name);
    if (!other) {
      if (mustMatch(name)) return false;
      continue;
    }
    if (!equalUnescaped(value, *other, true)) return false;
  }
  return true;
}

bool sameHostPort(const sip::Uri& a, const sip::Uri& b) {
  return a.scheme == b.scheme && iequals(a.host, b.host) && effectivePort(a) == effectivePort(b);
}

// The opaque part of a tel: or other URI: everything after "scheme:".
std::string_view afterScheme(const sip::Uri& u) {
  return u.text.substr(std::min(u.text.size(), u.schemeName.size() + 1));
}

}  // namespace

DigestUriMatch matchDigestUri(std::string_view digestUri, const sip::Uri& requestUri,
                              bool hostOnly) {
  auto parsed = sip::parseUri(digestUri);
  if (!parsed) return DigestUriMatch::Mismatch;
  const sip::Uri& d = *parsed;
  if (d.scheme != requestUri.scheme) return DigestUriMatch::Mismatch;

  if (!d.isSipLike()) {
    if (d.scheme == sip::UriScheme::Other && !iequals(d.schemeName, requestUri.schemeName)) {
      return DigestUriMatch::Mismatch;
    }
    return equalUnescaped(afterScheme(d), afterScheme(requestUri), false)
               ? DigestUriMatch::Exact
               : DigestUriMatch::Mismatch;
  }

  if (!sameHostPort(d, requestUri) || !d.headers.empty()) return DigestUriMatch::Mismatch;
  if (equalUnescaped(d.user, requestUri.user, false) &&
      equalUnescaped(d.password, requestUri.password, false) &&
      paramsCompatible(d.params, requestUri.params) &&
      paramsCompatible(requestUri.params, d.params)) {
    return DigestUriMatch::Exact;
  }
  // SIPp's form: nothing but scheme, host and port.
  if (hostOnly && d.user.empty() && d.password.empty() && d.params.empty()) {
    return DigestUriMatch::HostOnly;
  }
  return DigestUriMatch::Mismatch;
}

}  // namespace tollgate::auth
