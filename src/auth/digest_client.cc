// Our answers to servers' digest challenges. See digest_client.h.
#include "auth/digest_client.h"

namespace tollgate::auth {

std::optional<Challenge> pickChallenge(const sip::Message& response) {
  const sip::HeaderId id =
      response.status() == 407 ? sip::HeaderId::ProxyAuthenticate : sip::HeaderId::WwwAuthenticate;
  for (const sip::Header& h : response.headers()) {
    if (h.id != id) continue;
    auto c = parseChallenge(h.value);
    if (c && c->supported) return *c;
  }
  return std::nullopt;
}

std::string_view digestRefusalName(DigestRefusal r) {
  switch (r) {
    case DigestRefusal::NotAChallenge:
      return "not_a_challenge";
    case DigestRefusal::NoCredentials:
      return "no_credentials";
    case DigestRefusal::Unsupported:
      return "unsupported";
    case DigestRefusal::Refused:
      return "refused";
  }
  return "refused";
}

Result<Authorization, DigestRefusal> DigestClient::answer(
    const sip::Message& response, DigestAnswers& answers, std::string_view method,
    std::string_view uri, std::string_view username, std::string_view password) {
  const int status = response.status();
  if (status != 401 && status != 407) return Err{DigestRefusal::NotAChallenge};
  if (username.empty()) return Err{DigestRefusal::NoCredentials};
  std::optional<Challenge> c = pickChallenge(response);
  if (!c) return Err{DigestRefusal::Unsupported};
  if (answers.count_ > 0 &&
      (!c->stale || c->nonce == answers.nonce_ || answers.count_ > kMaxStaleAnswers)) {
    return Err{DigestRefusal::Refused};
  }
  ++answers.count_;
  answers.nonce_.assign(c->nonce);
  Authorization a;
  a.proxy = status == 407;
  a.value = answerChallenge(hasher_, *c, method, uri, username, password,
                            random_.token(kCnonceLength), 1);
  return a;
}

}  // namespace tollgate::auth
