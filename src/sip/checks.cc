// checkRequest: the stateless request checks of RFC 3261 §8.2.1-§8.2.3 and
// §16.3, in the order a UAS applies them: method (405/501), Request-URI
// scheme (416), Max-Forwards (483), extensions (420), body type (415),
// Accept (406).
#include "sip/checks.h"

#include "sip/grammar.h"

namespace tollgate::sip {

using ascii::iequals;
using detail::trim;

namespace {

CheckFailure failure(int status, const char* detail) {
  CheckFailure f;
  f.status = status;
  f.reason = reasonPhrase(status);
  f.detail = detail;
  return f;
}

bool allowListed(std::string_view allow, std::string_view method) {
  size_t i = 0;
  while (i <= allow.size()) {
    size_t comma = allow.find(',', i);
    if (comma == std::string_view::npos) comma = allow.size();
    if (trim(allow.substr(i, comma - i)) == method) return true;  // methods are case-sensitive
    i = comma + 1;
  }
  return false;
}

bool supportedTag(const CheckPolicy& policy, std::string_view tag) {
  for (std::string_view s : policy.supported) {
    if (iequals(s, tag)) return true;
  }
  return false;
}

bool acceptedBody(const CheckPolicy& policy, std::string_view type) {
  for (std::string_view a : policy.acceptedBodies) {
    if (detail::mediaTypeEquals(a, type)) return true;
  }
  return false;
}

std::string joined(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::string_view s : items) {
    if (!out.empty()) out.append(", ");
    out.append(s);
  }
  return out;
}

// Whether one media-range of an Accept header ("application/*;q=0.5")
// admits `type`. A q of 0 means "not acceptable" (RFC 3261 §20.1 via
// RFC 2616 §14.1).
bool rangeAdmits(std::string_view range, std::string_view type) {
  std::string_view r = trim(range);
  size_t semi = r.find(';');
  std::string_view media = trim(r.substr(0, semi));
  if (semi != std::string_view::npos) {
    if (auto q = findParam(r.substr(semi), "q")) {
      std::string_view qv = *q;
      bool zero = !qv.empty();
      for (char c : qv) zero = zero && (c == '0' || c == '.');
      if (zero) return false;
    }
  }
  size_t slash = media.find('/');
  size_t typeSlash = type.find('/');
  if (slash == std::string_view::npos || typeSlash == std::string_view::npos) return false;
  std::string_view major = trim(media.substr(0, slash));
  std::string_view minor = trim(media.substr(slash + 1));
  if (major == "*" && minor == "*") return true;
  if (!iequals(major, trim(type.substr(0, typeSlash)))) return false;
  return minor == "*" || iequals(minor, trim(type.substr(typeSlash + 1)));
}

}  // namespace

CheckFailure checkRequest(const Message& request, const CheckPolicy& policy) {
  if (!request.isRequest()) return {};
  const Method method = request.method();

  // RFC 3261 §8.2.1: a method we do not implement at all is 501; one we
  // know but do not offer here (REGISTER, SUBSCRIBE, ...) is 405. Both list
  // what we do allow.
  if (!allowListed(policy.allow, request.methodName())) {
    CheckFailure f = method == Method::Unknown ? failure(501, "unknown method")
                                               : failure(405, "method not allowed here");
    f.headers.emplace_back("Allow", std::string(policy.allow));
    return f;
  }

  // RFC 3261 §8.2.2.1 (RFC 4475 §3.3.2-3.3.3 unkscm, novelsc).
  if (request.requestUri().scheme == UriScheme::Other) {
    return failure(416, "Request-URI scheme is not sip, sips or tel");
  }

  // RFC 4475 §3.2.1 badbranch: a branch that is only the RFC 3261 magic
  // cookie cannot identify a transaction; answer 400 statelessly rather
  // than guess with RFC 2543 matching.
  if (request.topVia().branch == "z9hG4bK") {
    return failure(400, "Via branch is only the magic cookie");
  }

  // RFC 3261 §16.3 step 3 (RFC 4475 §3.3.11 zeromf).
  if (policy.forwarding && request.maxForwards() && *request.maxForwards() == 0) {
    return failure(483, "Max-Forwards is 0");
  }

  // RFC 3261 §8.2.2.3: Require is not checked for ACK and CANCEL. We relay
  // calls, so Proxy-Require is ours to honour too (§16.3 step 5).
  if (method != Method::Ack && method != Method::Cancel) {
    std::vector<std::string_view> unsupported;
    for (const Header& h : request.headers()) {
      if (h.id != HeaderId::Require && h.id != HeaderId::ProxyRequire) continue;
      for (std::string_view tag : splitTokens(h.value)) {
        if (!supportedTag(policy, tag)) unsupported.push_back(tag);
      }
    }
    if (!unsupported.empty()) {
      CheckFailure f = failure(420, "unsupported extension required");
      f.headers.emplace_back("Unsupported", joined(unsupported));
      return f;
    }
  }

  const bool offerCarrier =
      method == Method::Invite || method == Method::Update || method == Method::Prack;
  // RFC 3261 §8.2.3 (RFC 4475 §3.3.6 invut): a body we cannot read.
  if (offerCarrier && !request.body().empty()) {
    std::string_view type = detail::mediaType(request.contentType());
    if (type.empty() || !acceptedBody(policy, type)) {
      CheckFailure f = failure(415, "body type not supported");
      f.headers.emplace_back("Accept", joined(policy.acceptedBodies));
      return f;
    }
  }

  // RFC 3261 §21.4.7 (RFC 4475 §3.3.15 sdp01): the answer we would send
  // carries one of acceptedBodies; an Accept that admits none of them gets
  // 406. An empty Accept is treated as absent.
  if (method == Method::Invite) {
    bool sawRange = false;
    bool admitted = false;
    for (const Header& h : request.headers()) {
      if (h.id != HeaderId::Accept) continue;
      detail::ListSplitter ranges(h.value);
      std::string_view range;
      while (ranges.next(range)) {
        sawRange = true;
        for (std::string_view ours : policy.acceptedBodies) {
          admitted = admitted || rangeAdmits(range, ours);
        }
      }
    }
    if (sawRange && !admitted) return failure(406, "Accept admits none of our body types");
  }
  return {};
}

}  // namespace tollgate::sip
