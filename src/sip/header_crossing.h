// Which header fields a back-to-back user agent copies from one leg to the
// other. A B2BUA is two user agents: nothing the peer of one leg wrote
// reaches the peer of the other unless it is let through on purpose, so the
// fields cross by an allow list, never a deny list (a deny list lets every
// new extension, every X- header and every field naming the sender's hosts
// through).
//
//  - End-to-end fields a relayed request or response needs to work
//    (RFC 3261 §20 Content-*, Accept*, Allow, Supported/Require, session
//    timers, 100rel, events, Reason, Privacy ...) cross.
//  - Identity fields (RFC 3325 P-Asserted/P-Preferred-Identity, the older
//    Remote-Party-ID, RFC 5806 Diversion, RFC 7044 History-Info, RFC 8224
//    Identity, P-Charge-Info) cross only from a peer trusted to assert
//    identity (RFC 3325 §2.3's "trust domain"), with their URIs rewritten.
//  - Everything else stays on its leg: hop-by-hop and dialog fields (Via,
//    Route, Contact, tags, CSeq ...), credentials and challenges, software
//    names, Warning (its agent names a host), Call-Info, Organization,
//    unknown extensions and X- headers, unless the operator lets a name
//    through for one gateway (HeaderAllowList).
//
// Pure functions and an immutable value type: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sip/message.h"

namespace tollgate::sip {

enum class Crossing : uint8_t {
  Stay,      // leg-local, hop-by-hop, or not on the allow list
  Cross,     // end-to-end: copied (RAck is rewritten by the caller)
  Identity,  // crosses only from a trusted peer
};

// The built-in rule for one received field.
Crossing builtinCrossing(const Header& h);

// True for the identity fields whose URI user is a number the next hop may
// bill or screen on (PAI, PPI, Remote-Party-ID, P-Charge-Info, Diversion):
// every such number must pass the caller's number checks before it crosses.
bool isBillingIdentity(const Header& h);

// Names an operator lets cross for one gateway, on top of the built-in
// rule (e.g. "X-Account-Code", "User-to-User"). Compared case-insensitively
// by the name as received; compact forms are not extension names.
class HeaderAllowList {
 public:
  HeaderAllowList() = default;
  explicit HeaderAllowList(const std::vector<std::string>& names);

  // "" when `name` may be put on a gateway's list, else why not: it must be
  // a token of at most kMaxNameLength, and not a field the B2BUA owns
  // (dialog, routing, framing, credentials, the identity fields, which
  // cross only with trust) -- letting one of those through would undo the
  // leg separation.
  static std::string problem(std::string_view name);
  static constexpr size_t kMaxNameLength = 64;  // longer names are not real extensions
  static constexpr size_t kMaxNames = 64;       // per gateway

  bool allows(std::string_view name) const;
  bool empty() const { return names_.empty(); }

 private:
  std::vector<std::string> names_;  // lower case
};

// What happens to one field from a peer with this allow list and identity
// trust: Cross, Identity (only when trusted: rewrite it), or Stay.
Crossing crossingOf(const Header& h, const HeaderAllowList& extra, bool trusted);

// The fields of `m` that cross, in order, given the sending peer's allow
// list and identity trust. Identity fields are returned too when `trusted`;
// the caller rewrites them (rewriteIdentity) before sending.
std::vector<const Header*> crossingHeaders(const Message& m, const HeaderAllowList& extra,
                                           bool trusted);

// An identity field's value with every URI rebuilt so that no host of the
// sending side crosses: each name-addr keeps its display name and header
// parameters (;party=calling, ;reason=..., ;index=...), its URI (sip,
// sips or tel) becomes "sip:USER@host", where USER is mapUser(the user
// part as written, still escaped) -- an unescaped user, escaped again here
// (the caller canonicalises the number: decoding twice would let "%2531"
// become "1"); URI parameters and embedded headers are dropped.
// "" when the value does not parse as a name-addr list (the field is then
// dropped). The RFC 8224 Identity field is not a name-addr list and is
// passed unchanged by the caller.
template <typename MapUser>
std::string rewriteIdentity(std::string_view value, std::string_view host, MapUser&& mapUser);

// The user parts of a name-addr list as written (still escaped), for number
// checks; empty when it does not parse.
std::vector<std::string_view> identityUsers(std::string_view value);

// Internal: the non-template part of rewriteIdentity.
struct IdentityPart {
  std::string_view display;  // as written, quotes removed
  std::string user;          // as written (escaped); mapUser's result once rewritten
  std::string_view params;   // header parameters after the URI, with leading ';'
};
bool splitIdentity(std::string_view value, std::vector<IdentityPart>& out);
std::string joinIdentity(const std::vector<IdentityPart>& parts, std::string_view host);

template <typename MapUser>
std::string rewriteIdentity(std::string_view value, std::string_view host, MapUser&& mapUser) {
  std::vector<IdentityPart> parts;
  if (!splitIdentity(value, parts)) return {};
  for (IdentityPart& p : parts) p.user = mapUser(std::string_view(p.user));
  return joinIdentity(parts, host);
}

}  // namespace tollgate::sip
