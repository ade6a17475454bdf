// The client side of SIP digest (RFC 3261 §22.2, RFC 7616, RFC 8760): how
// we answer a server's 401/407 to a request we sent — a carrier challenging
// our INVITE, a relayed in-dialog request, the BYE of a call that ended on
// our side, or our REGISTER. One rule for all of them, per request (the
// request and the resubmissions that answer its challenges):
//   1. the first challenge is answered, with the first one in the response
//      that we support (RFC 8760 §2.4: the order of the headers is the
//      server's preference; MD5 or SHA-256, qop=auth or none, RFC 2069);
//   2. a later one only when it says stale=true with a nonce we have not
//      answered yet (RFC 7616 §3.3: stale means the credentials were right
//      and the nonce had expired), at most kMaxStaleAnswers times;
//   3. any other later challenge means the server refused the credentials.
// Every answer uses a nonce we have not used before, so its nc is always
// 00000001 (RFC 7616 §3.4).
//
// Pure: it computes the Authorization / Proxy-Authorization value and keeps
// the per-request memory (DigestAnswers); sending the request again is the
// caller's (txn/resubmission.h builds it). DigestClient holds a reusable
// hash context: confined to its worker, like the DigestAnswers it updates.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/digest.h"
#include "common/random.h"
#include "common/result.h"
#include "sip/message.h"

namespace tollgate::auth {

// Stale challenges answered per request after the first answer: a server
// that calls a nonce it just issued stale again has a clock or nonce
// lifetime problem that another round trip does not fix (and a bound keeps
// a misbehaving server from holding us in a loop).
inline constexpr int kMaxStaleAnswers = 1;

// Cnonce length: 16 characters of [0-9a-z] carry about 82 bits.
inline constexpr size_t kCnonceLength = 16;

// The first challenge of a 401 (WWW-Authenticate) or 407
// (Proxy-Authenticate) that we can answer; views into `response`.
std::optional<Challenge> pickChallenge(const sip::Message& response);

// What one request has answered so far. Lives as long as the request (and
// its resubmissions); restart() when the same object starts a new request.
class DigestAnswers {
 public:
  int count() const { return count_; }
  void restart() {
    count_ = 0;
    nonce_.clear();
  }

 private:
  friend class DigestClient;
  uint8_t count_ = 0;  // answers given: the first one, then stale ones
  std::string nonce_;  // the nonce last answered
};

// The value that answers a challenge and the field it goes in.
struct Authorization {
  bool proxy = false;  // Proxy-Authorization (a 407) or Authorization (a 401)
  std::string value;
  std::string_view header() const { return proxy ? "Proxy-Authorization" : "Authorization"; }
};

enum class DigestRefusal : uint8_t {
  NotAChallenge,  // not a 401/407
  NoCredentials,  // we have no username for this server
  Unsupported,    // no challenge we can answer (algorithm, qop=auth-int only, malformed)
  Refused,        // challenged again without stale=true (or reusing the nonce we
                  // answered, or stale too often): the credentials are wrong
};
std::string_view digestRefusalName(DigestRefusal r);  // "refused", ...

class DigestClient {
 public:
  explicit DigestClient(Random& random) : random_(random) {}
  DigestClient(const DigestClient&) = delete;
  DigestClient& operator=(const DigestClient&) = delete;

  // The answer to `response` (a 401/407 to our `method` request for `uri`,
  // the digest-uri being the Request-URI, RFC 3261 §22.4) under the rule
  // above; `answers` is updated only when it answers.
  [[nodiscard]] Result<Authorization, DigestRefusal> answer(
      const sip::Message& response, DigestAnswers& answers, std::string_view method,
      std::string_view uri, std::string_view username, std::string_view password);

 private:
  DigestHasher hasher_;
  Random& random_;
};

}  // namespace tollgate::auth
