// The digest check of a new request. See authenticator.h for the order of
// decisions.
#include "auth/authenticator.h"

#include <algorithm>

namespace tollgate::auth {

using sip::HeaderId;

DigestAuthenticator::DigestAuthenticator(Random& random, const Clock& clock, AuthSettings settings)
    : settings_(std::move(settings)),
      nonces_(random, settings_.nonceLifetime),
      limiter_(clock, settings_.limits) {
  if (settings_.algorithms.empty()) settings_.algorithms = {Algorithm::Md5, Algorithm::Sha256};
  // HA1 of an account nobody has: an unknown username is checked against it
  // so that it takes the same work as a known one, and always fails.
  std::string secret = random.token(32);
  dummyMd5_ = hasher_.ha1(Algorithm::Md5, "-", settings_.realm, secret);
  dummySha256_ = hasher_.ha1(Algorithm::Sha256, "-", settings_.realm, secret);
}

void DigestAuthenticator::challenges(const net::IpAddress& source, MonoTime now, bool stale,
                                     std::vector<std::string>& values,
                                     const std::vector<Algorithm>* algorithms) {
  ++stats_.challenges;
  if (stale) ++stats_.stale;
  const auto& list = algorithms && !algorithms->empty() ? *algorithms : settings_.algorithms;
  for (Algorithm a : list) {
    values.push_back(challengeValue(a, settings_.realm, nonces_.issue(source, now), stale));
  }
}

AuthResult DigestAuthenticator::check(const sip::Message& request, const net::IpAddress& source,
                                      MonoTime now, const AccountDirectory& accounts) {
  AuthResult r;
  // 1. Our credentials, from either header whatever the challenge mode.
  Credentials creds;
  bool found = false;
  for (const sip::Header& h : request.headers()) {
    if (h.id != HeaderId::Authorization && h.id != HeaderId::ProxyAuthorization) continue;
    Credentials c;
    auto parsed = parseCredentials(h.value, c);
    if (!parsed) {
      if (parsed.error() != CredentialsError::NotDigest) ++stats_.malformed;
      continue;
    }
    if (c.realm != settings_.realm) continue;  // for another hop
    // Credentials are not copyable (views into themselves); parse again
    // into the one we keep. Only on the rare path of several headers.
    (void)parseCredentials(h.value, creds);
    found = true;
    break;
  }

  if (!found) {
    // 2. No credentials: the hinted account decides whether a suspended pair
    // hears from us at all.
    r.username =
        request.method() == sip::Method::Register ? request.to().uri.user : request.from().uri.user;
    if (limiter_.suspended(r.username, source)) {
      ++stats_.suspendedDrops;
      r.kind = AuthResult::Kind::Suspended;
      return r;
    }
    r.kind = AuthResult::Kind::Challenge;
    return r;
  }
  r.hadCredentials = true;
  r.username = creds.username;

  // 3. Suspended: not even verified, so a suspended guesser learns nothing.
  if (limiter_.suspended(creds.username, source)) {
    ++stats_.suspendedDrops;
    r.kind = AuthResult::Kind::Suspended;
    return r;
  }

  // 4. Things that are not password guesses.
  r.kind = AuthResult::Kind::Challenge;
  NonceManager::Check nonce = nonces_.check(creds.nonce, source, now);
  if (nonce.status == NonceManager::Status::Invalid) {
    ++stats_.invalidNonces;
    return r;
  }
  const Account* account = accounts.findAccount(creds.username);
  auto alg = algorithmFromName(creds.algorithm);
  auto listed = [&alg](const std::vector<Algorithm>& l) {
    return std::find(l.begin(), l.end(), *alg) != l.end();
  };
  const bool offered =
      alg && (listed(settings_.algorithms) || (account && listed(account->algorithms)));
  const bool qop = !creds.qop.empty();
  std::optional<uint32_t> nc;
  if (qop) nc = parseNonceCount(creds.nc);
  if (!offered || (qop && creds.qop != "auth") || (qop && (!nc || creds.cnonce.empty()))) {
    ++stats_.unsupported;
    return r;
  }

  // 5. The response, against a dummy HA1 for unknown usernames.
  std::string_view ha1 = *alg == Algorithm::Md5 ? std::string_view(dummyMd5_) : dummySha256_;
  if (account) {
    std::string_view own = *alg == Algorithm::Md5 ? account->ha1Md5 : account->ha1Sha256;
    if (own.size() == hexLength(*alg)) ha1 = own;
  }
  HexDigest expected;
  size_t n = hasher_.response(*alg, ha1, creds.nonce, creds.nc, creds.cnonce, creds.qop,
                              request.methodName(), creds.uri, expected);
  const bool match = hexEquals(std::string_view(expected.data(), n), creds.response);
  // RFC 3261 §22.4, RFC 7616 §3.4.6: credentials for another Request-URI
  // (a call to another number) are bad credentials, even with the right
  // response: a rewritten or replayed request.
  const bool sameTarget = matchDigestUri(creds.uri, request.requestUri(),
                                         settings_.digestUriHostOnly) != DigestUriMatch::Mismatch;
  const bool ok = match && sameTarget && account != nullptr && ha1.data() != dummyMd5_.data() &&
                  ha1.data() != dummySha256_.data() && accounts.permits(*account, source);

  // 6. A wrong password (or unknown user, wrong address, another uri) is
  // counted.
  if (!ok) {
    ++(sameTarget ? stats_.failures : stats_.uriMismatches);
    r.failed = true;
    r.uriMismatch = !sameTarget;
    if (limiter_.recordFailure(creds.username, source)) {
      ++stats_.suspendedDrops;
      r.kind = AuthResult::Kind::Suspended;
    }
    return r;
  }
  // 7. Right, but late.
  if (nonce.status == NonceManager::Status::Stale) {
    r.stale = true;
    return r;
  }
  // 8. Right, but seen before.
  if (!nonces_.commit(nonce.seq, nc.value_or(0), qop)) {
    ++stats_.replays;
    r.stale = true;
    return r;
  }
  // 9.
  limiter_.recordSuccess(creds.username, source);
  ++stats_.authenticated;
  r.kind = AuthResult::Kind::Authenticated;
  r.account = account;
  return r;
}

}  // namespace tollgate::auth
