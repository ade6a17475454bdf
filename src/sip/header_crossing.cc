// The allow list of fields that cross a B2BUA. See header_crossing.h.
#include "sip/header_crossing.h"

#include <algorithm>

#include "sip/grammar.h"

namespace tollgate::sip {

using ascii::iequals;
using ascii::toLower;

namespace {

// Extension fields known only by name (HeaderId::Other).
struct NamedRule {
  std::string_view name;
  Crossing crossing;
};
constexpr NamedRule kNamed[] = {
    // Identity (RFC 3325 §9.1 trust domain; P-Charge-Info: RFC 8496).
    {"P-Charge-Info", Crossing::Identity},
    {"History-Info", Crossing::Identity},
    // RFC 3261 §20.26: the urgency of the request, end to end.
    {"Priority", Crossing::Cross},
    // End-to-end body framing of multipart bodies (RFC 2045/2046).
    {"MIME-Version", Crossing::Cross},
    {"Content-ID", Crossing::Cross},
};

bool isIdentity(const Header& h) {
  switch (h.id) {
    case HeaderId::PAssertedIdentity:
    case HeaderId::PPreferredIdentity:
    case HeaderId::RemotePartyId:
    case HeaderId::Diversion:
    case HeaderId::Identity:
      return true;
    case HeaderId::Other:
      return iequals(h.name, "P-Charge-Info") || iequals(h.name, "History-Info");
    default:
      return false;
  }
}

}  // namespace

Crossing builtinCrossing(const Header& h) {
  switch (h.id) {
    // RFC 3261 §20 end-to-end fields and the extensions a relayed dialog
    // needs: body description, capabilities, 100rel (RAck is rewritten per
    // leg by the caller), session timers, events, Reason, Privacy.
    case HeaderId::Accept:
    case HeaderId::AcceptEncoding:
    case HeaderId::AcceptLanguage:
    case HeaderId::Allow:
    case HeaderId::ContentDisposition:
    case HeaderId::ContentEncoding:
    case HeaderId::ContentLanguage:
    case HeaderId::ContentType:
    case HeaderId::Date:
    case HeaderId::Event:
    case HeaderId::Expires:
    case HeaderId::MinExpires:
    case HeaderId::MinSE:
    case HeaderId::Privacy:
    case HeaderId::RAck:
    case HeaderId::Require:
    case HeaderId::RetryAfter:
    case HeaderId::RSeq:
    case HeaderId::SessionExpires:
    case HeaderId::Subject:
    case HeaderId::Supported:
    case HeaderId::Timestamp:
    case HeaderId::Unsupported:
    case HeaderId::AllowEvents:
    case HeaderId::AcceptContact:
    case HeaderId::RejectContact:
    case HeaderId::RequestDisposition:
    case HeaderId::Reason:
    case HeaderId::SubscriptionState:
      return Crossing::Cross;
    case HeaderId::PAssertedIdentity:
    case HeaderId::PPreferredIdentity:
    case HeaderId::RemotePartyId:
    case HeaderId::Diversion:
    case HeaderId::Identity:
      return Crossing::Identity;
    case HeaderId::Other:
      for (const NamedRule& r : kNamed) {
        if (iequals(h.name, r.name)) return r.crossing;
      }
      return Crossing::Stay;
    default:
      // Via, Route, Record-Route, Contact, From, To, Call-ID, CSeq,
      // Max-Forwards, Content-Length, credentials and challenges,
      // Proxy-Require, User-Agent, Server, Warning, Path, Refer-To,
      // Referred-By: leg-local, hop-by-hop, or naming the sender.
      return Crossing::Stay;
  }
}

bool isBillingIdentity(const Header& h) {
  switch (h.id) {
    case HeaderId::PAssertedIdentity:
    case HeaderId::PPreferredIdentity:
    case HeaderId::RemotePartyId:
    case HeaderId::Diversion:
      return true;
    case HeaderId::Other:
      return iequals(h.name, "P-Charge-Info");
    default:
      return false;
  }
}

HeaderAllowList::HeaderAllowList(const std::vector<std::string>& names) {
  names_.reserve(names.size());
  for (const std::string& n : names) names_.push_back(ascii::lowered(n));
  std::sort(names_.begin(), names_.end());
  names_.erase(std::unique(names_.begin(), names_.end()), names_.end());
}

std::string HeaderAllowList::problem(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return "a header name is 1-" + std::to_string(kMaxNameLength) + " characters";
  }
  if (!std::all_of(name.begin(), name.end(), [](char c) { return isToken(c); })) {
    return "a header name is a token (RFC 3261 §25.1)";
  }
  const HeaderId id = headerIdFromName(name);
  Header h{id, name, {}, {}};
  if (isIdentity(h)) return "identity headers cross with trust_identity, not pass_headers";
  if (id != HeaderId::Other && builtinCrossing(h) == Crossing::Stay) {
    return "the B2BUA owns this header on each leg";
  }
  if (name.size() == 1) return "compact header names are not extension names";
  // The header that authenticates requests between the nodes of a cluster
  // (registrar/peer_bindings.h): it is consumed by the node it reaches and
  // must never cross to a phone or a carrier.
  std::string lower(name);
  for (char& c : lower) c = toLower(c);
  if (lower == "x-tollgate-peer") return "the cluster's peer header never crosses";
  return {};
}

bool HeaderAllowList::allows(std::string_view name) const {
  if (names_.empty() || name.size() > kMaxNameLength) return false;
  char buf[kMaxNameLength];
  for (size_t i = 0; i < name.size(); ++i) buf[i] = toLower(name[i]);
  return std::binary_search(names_.begin(), names_.end(), std::string_view(buf, name.size()));
}

Crossing crossingOf(const Header& h, const HeaderAllowList& extra, bool trusted) {
  switch (builtinCrossing(h)) {
    case Crossing::Cross:
      return Crossing::Cross;
    case Crossing::Identity:
      return trusted ? Crossing::Identity : Crossing::Stay;
    case Crossing::Stay:
      break;
  }
  // Only extension fields can be let through by name: the fields the B2BUA
  // owns never (HeaderAllowList::problem refuses them too).
  return h.id == HeaderId::Other && extra.allows(h.name) ? Crossing::Cross : Crossing::Stay;
}

std::vector<const Header*> crossingHeaders(const Message& m, const HeaderAllowList& extra,
                                           bool trusted) {
  std::vector<const Header*> out;
  out.reserve(m.headers().size());
  for (const Header& h : m.headers()) {
    if (crossingOf(h, extra, trusted) != Crossing::Stay) out.push_back(&h);
  }
  return out;
}

bool splitIdentity(std::string_view value, std::vector<IdentityPart>& out) {
  auto list = parseNameAddrList(value);
  if (!list.ok() || list->empty()) return false;
  out.clear();
  out.reserve(list->size());
  for (const NameAddr& na : *list) {
    if (na.text == "*") return false;
    IdentityPart p;
    p.display = na.displayName;
    if (na.uri.scheme != UriScheme::Tel && !na.uri.isSipLike()) {
      return false;  // urn:, http: ... are no identities we can rewrite
    }
    p.user = std::string(na.uri.user);
    p.params = na.params;
    out.push_back(std::move(p));
  }
  return true;
}

std::string joinIdentity(const std::vector<IdentityPart>& parts, std::string_view host) {
  std::string out;
  for (const IdentityPart& p : parts) {
    if (!out.empty()) out += ", ";
    if (!p.display.empty()) {
      // As received: the inside of a quoted-string (quoted-pairs kept as
      // written) or tokens, which need no escaping once quoted. Controls
      // never cross.
      out += '"';
      for (char c : p.display) {
        const bool control = static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
        out += control ? ' ' : c;
      }
      out += "\" ";
    }
    // A tel URI becomes a SIP URI at our host too: the number is rewritten
    // to our canonical form, which is no valid tel URI in every form (a
    // local number would need a phone-context we cannot vouch for).
    out += "<sip:";
    if (!p.user.empty()) {
      out += escapeUser(p.user);
      out += '@';
    }
    out += host;
    out += '>';
    out += p.params;
  }
  return out;
}

std::vector<std::string_view> identityUsers(std::string_view value) {
  std::vector<std::string_view> out;
  auto list = parseNameAddrList(value);
  if (!list.ok()) return out;
  for (const NameAddr& na : *list) {
    if (na.uri.scheme == UriScheme::Tel || na.uri.isSipLike()) out.push_back(na.uri.user);
  }
  return out;
}

}  // namespace tollgate::sip
