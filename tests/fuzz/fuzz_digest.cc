// libFuzzer harness for the digest header parsers, the digest uri= rule
// and the server-side check: the input is an Authorization value (and,
// split at the first newline, a challenge value, also tried as a
// Request-URI). Invariants: parsed views lie inside the input (or the owned
// unescaped copies), a uri= that names another user never matches, a
// check never authenticates without a valid nonce, and nothing crashes
// (ASan/UBSan).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/authenticator.h"
#include "auth/digest.h"
#include "auth/digest_uri.h"
#include "fuzz_check.h"

using namespace tollgate;

namespace {

bool inside(std::string_view v, std::string_view outer, const auth::Credentials& c) {
  if (v.data() == nullptr || v.empty()) return true;
  auto in = [&](std::string_view o) {
    return v.data() >= o.data() && v.data() + v.size() <= o.data() + o.size();
  };
  return in(outer) || in(c.unescapedUsername) || in(c.unescapedRealm);
}

class NoAccounts : public auth::AccountDirectory {
 public:
  const auth::Account* findAccount(std::string_view) const override { return nullptr; }
  bool permits(const auth::Account&, const net::IpAddress&) const override { return true; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  std::string_view all(input);
  size_t nl = all.find('\n');
  std::string_view creds = all.substr(0, nl);
  std::string_view chal = nl == std::string_view::npos ? all : all.substr(nl + 1);

  auth::Credentials c;
  if (auth::parseCredentials(creds, c)) {
    for (std::string_view v : {c.username, c.realm, c.nonce, c.uri, c.response, c.algorithm,
                               c.cnonce, c.nc, c.qop, c.opaque}) {
      FUZZ_CHECK(inside(v, creds, c));
    }
    FUZZ_CHECK(!c.username.empty() && !c.nonce.empty() && !c.uri.empty() && !c.response.empty());
    (void)auth::parseNonceCount(c.nc);
    // The uri= against the second line as a Request-URI: whatever matches
    // names the same user (or, host-only, none), never another one.
    if (auto ruri = sip::parseUri(chal)) {
      for (bool hostOnly : {false, true}) {
        const auth::DigestUriMatch m = auth::matchDigestUri(c.uri, *ruri, hostOnly);
        FUZZ_CHECK(hostOnly || m != auth::DigestUriMatch::HostOnly);
        auto d = sip::parseUri(c.uri);
        if (m != auth::DigestUriMatch::Mismatch) {
          FUZZ_CHECK(d.ok() && d->scheme == ruri->scheme);
          if (d->isSipLike()) {
            FUZZ_CHECK(d->user.empty() || sip::unescape(d->user) == sip::unescape(ruri->user));
          }
        }
      }
    }
  }
  if (auto ch = auth::parseChallenge(chal)) {
    FUZZ_CHECK(!ch->nonce.empty());
    auth::DigestHasher h;
    std::string answer = auth::answerChallenge(h, *ch, "INVITE", "sip:x@y", "user", "pw", "cn", 1);
    auth::Credentials back;
    // Our own answer must parse (unless the challenge's values break quoting rules).
    (void)auth::parseCredentials(answer, back);
  }

  // The whole check on a message carrying the input as credentials: with no
  // nonce of ours in it, it can never authenticate.
  static SeededRandom random(1);
  static ManualClock clock;
  static auth::DigestAuthenticator authn(random, clock, auth::AuthSettings{});
  std::string value(creds);
  for (char& ch : value) {
    if (ch == '\r' || ch == '\n') ch = ' ';
  }
  std::string msg =
      "INVITE sip:1@a SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
      "From: <sip:u@a>;tag=1\r\nTo: <sip:1@a>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
      "Max-Forwards: 70\r\nProxy-Authorization: " +
      value + "\r\nContent-Length: 0\r\n\r\n";
  auto parsed = sip::Message::parse(std::move(msg));
  if (parsed.ok()) {
    static NoAccounts none;
    auth::AuthResult r =
        authn.check(**parsed, *net::IpAddress::parse("192.0.2.1"), clock.now(), none);
    FUZZ_CHECK(r.kind != auth::AuthResult::Kind::Authenticated);
  }
  return 0;
}
