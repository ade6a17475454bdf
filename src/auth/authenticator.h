// The server side of SIP digest authentication for one worker: decides for
// each new request whether it carries valid credentials for an account,
// must be challenged (401/407, possibly stale=true), or gets no useful
// answer because its source is suspended (retry limits). It owns the nonce
// manager, the retry limiter and a reusable hasher. Accounts come from the
// caller (the provisioning snapshot) through AccountDirectory.
//
// Decisions, in order (RFC 3261 §22, RFC 7616):
//   1. credentials = the first Digest Authorization or Proxy-Authorization
//      value whose realm is ours, whatever the challenge mode;
//   2. none: suspended source (or (hinted user, source)) -> Suspended, else
//      Challenge;
//   3. (username, source) or source suspended -> Suspended, unverified;
//   4. nonce not ours / issued to another address, unsupported algorithm
//      or qop, malformed nc -> Challenge (not a password guess, not counted);
//   5. response computed from the account's HA1 (an unknown username uses a
//      dummy HA1, so it costs the same and answers the same as a wrong
//      password: no user enumeration), compared in constant time; the
//      account's address restriction is part of the check; the digest uri=
//      must name the Request-URI's target (digest_uri.h; RFC 3261 §22.4,
//      RFC 7616 §3.4.6), else the credentials are bad whatever the response;
//   6. wrong (or another uri) -> the failure is counted; Challenge, or
//      Suspended when this failure reached the limit;
//   7. right but the nonce expired -> Challenge with stale=true;
//   8. right but nc not increasing (or a qop-less nonce used twice) ->
//      replay: Challenge with stale=true;
//   9. -> Authenticated.
// Nonces, nc and the method in HA2 stop a replay of the same request; the
// uri check of step 5 stops credentials moving to another target
// (docs/authentication.md).
//
// Confined to its worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/digest.h"
#include "auth/digest_uri.h"
#include "auth/nonce.h"
#include "auth/retry_limiter.h"
#include "auth/stats.h"
#include "common/clock.h"
#include "common/net.h"
#include "common/random.h"
#include "sip/message.h"

namespace tollgate::auth {

// A credential the authenticator can check: HA1 digests only, never the
// password (RFC 7616 §5.2: the server needs only HA1).
struct Account {
  std::string username;
  std::string ha1Md5;     // lowercase hex, 32 digits
  std::string ha1Sha256;  // lowercase hex, 64 digits
  // Algorithms this account is challenged with when not the node's (and
  // accepted from it besides the node's); empty = the node's.
  std::vector<Algorithm> algorithms;
};

class AccountDirectory {
 public:
  virtual ~AccountDirectory() = default;
  virtual const Account* findAccount(std::string_view username) const = 0;
  // The second factor: may this account authenticate from `source`
  // (its optional address restriction)?
  virtual bool permits(const Account& account, const net::IpAddress& source) const = 0;
};

struct AuthSettings {
  std::string realm = "tollgate.local";  // sip.domain
  // Challenges offered, in this order (one header per algorithm).
  std::vector<Algorithm> algorithms = {Algorithm::Md5, Algorithm::Sha256};
  Millis nonceLifetime{300'000};
  RetryLimits limits;
  // Accept a digest uri= of the form sip:host[:port] naming the Request-URI's
  // host and port but no user (SIPp's default; digest_uri.h). auth.digest_uri_host_only.
  bool digestUriHostOnly = true;
};

struct AuthResult {
  enum class Kind : uint8_t { Authenticated, Challenge, Suspended };
  Kind kind = Kind::Challenge;
  const Account* account = nullptr;  // Authenticated
  bool stale = false;                // Challenge: send stale=true
  bool failed = false;               // the request carried wrong credentials (counted)
  bool uriMismatch = false;          // failed because uri= names another target
  bool hadCredentials = false;
  std::string_view username;  // from the credentials or the hint; views the request
};

class DigestAuthenticator {
 public:
  DigestAuthenticator(Random& random, const Clock& clock, AuthSettings settings);

  // `hint` names the account the request claims when it has no credentials
  // (To user of a REGISTER, From user otherwise); it only decides whether a
  // suspended pair is answered at all.
  AuthResult check(const sip::Message& request, const net::IpAddress& source, MonoTime now,
                   const AccountDirectory& accounts);

  // The challenge values for a response to `source`, one per algorithm in
  // the configured order (RFC 8760 §2.4: most preferred first), or in
  // `algorithms` when given (an account's own list).
  void challenges(const net::IpAddress& source, MonoTime now, bool stale,
                  std::vector<std::string>& values,
                  const std::vector<Algorithm>* algorithms = nullptr);

  const AuthSettings& settings() const { return settings_; }
  AuthRetryLimiter& limiter() { return limiter_; }
  const AuthRetryLimiter& limiter() const { return limiter_; }
  NonceManager& nonces() { return nonces_; }
  const AuthStats& stats() const { return stats_; }

 private:
  AuthSettings settings_;
  NonceManager nonces_;
  AuthRetryLimiter limiter_;
  DigestHasher hasher_;
  std::string dummyMd5_;
  std::string dummySha256_;
  AuthStats stats_;
};

}  // namespace tollgate::auth
