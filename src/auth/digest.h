// SIP digest authentication primitives (RFC 3261 §22, RFC 2617, RFC 7616,
// RFC 8760): the MD5 and SHA-256 algorithms, HA1/response computation,
// parsing of credentials (Authorization / Proxy-Authorization) and of
// challenges (WWW-Authenticate / Proxy-Authenticate), writing challenges, and
// answering a challenge as a client (towards carriers). Comparisons of
// secrets use CRYPTO_memcmp (constant time).
//
// Parsed structures are views into the header value they came from (plus a
// small owned buffer when a quoted value had escapes); keep the value alive
// while using them. DigestHasher keeps one reusable EVP context so a check
// costs no heap allocation: confined to its worker. The free functions are
// pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;

namespace tollgate::auth {

enum class Algorithm : uint8_t { Md5, Sha256 };
// "MD5", "SHA-256" (as written in challenges, RFC 7616 §3.3).
std::string_view algorithmName(Algorithm a);
// Case-insensitive; an absent algorithm (empty text) means MD5 (RFC 2617
// §3.2.1). "-sess" variants and anything else: nullopt (not supported).
std::optional<Algorithm> algorithmFromName(std::string_view name);
// Hex digits of one hash value: 32 (MD5) or 64 (SHA-256).
size_t hexLength(Algorithm a);

// Longest hex digest we produce (SHA-256), plus room for a terminator.
inline constexpr size_t kMaxHexDigest = 64;
using HexDigest = std::array<char, kMaxHexDigest>;

// Bounds on untrusted credentials: a digest header with more parameters
// than any real client sends, or a value longer than any real nonce/URI,
// is not worth parsing (the SIP parser already caps the line at 8 KiB).
inline constexpr size_t kMaxDigestParams = 24;
inline constexpr size_t kMaxDigestValue = 2048;

// Digest credentials (RFC 7616 §3.4, RFC 3261 §25.1 digest-response).
struct Credentials {
  std::string_view username;
  std::string_view realm;
  std::string_view nonce;
  std::string_view uri;
  std::string_view response;
  std::string_view algorithm;  // as written; "" when absent
  std::string_view cnonce;
  std::string_view nc;   // 8 hex digits when qop is present
  std::string_view qop;  // "auth", "auth-int" or "" (RFC 2069 compatibility)
  std::string_view opaque;
  // username and realm are quoted strings; when one had backslash escapes
  // its unescaped form lives here and the view above points into it.
  std::string unescapedUsername;
  std::string unescapedRealm;

  Credentials() = default;
  Credentials(const Credentials&) = delete;  // views may point into this object
  Credentials& operator=(const Credentials&) = delete;
};

enum class CredentialsError : uint8_t {
  NotDigest,  // another scheme (Basic, Bearer...)
  Malformed,  // syntax, a duplicate or an over-long parameter
  Missing,    // username, realm, nonce, uri or response absent
};
// Parses one Authorization / Proxy-Authorization value into `out`.
Result<Ok, CredentialsError> parseCredentials(std::string_view value, Credentials& out);
// The nc value as a number (RFC 7616 §3.4: 8 hex digits); nullopt when bad.
std::optional<uint32_t> parseNonceCount(std::string_view nc);

// A challenge (RFC 7616 §3.3), as a carrier sends it to us.
struct Challenge {
  std::string_view realm;
  std::string_view nonce;
  std::string_view opaque;
  std::string_view algorithmText;
  Algorithm algorithm = Algorithm::Md5;
  bool supported = false;  // algorithm known and qop (if any) includes "auth"
  bool qopAuth = false;    // qop offered and includes "auth"
  bool stale = false;
};
Result<Challenge, CredentialsError> parseChallenge(std::string_view value);

// One or more hash computations with a reusable context.
class DigestHasher {
 public:
  DigestHasher();
  ~DigestHasher();
  DigestHasher(const DigestHasher&) = delete;
  DigestHasher& operator=(const DigestHasher&) = delete;

  // Lowercase hex of H(part0 ":" part1 ":" ...). Returns the hex length.
  size_t hashHex(Algorithm a, std::initializer_list<std::string_view> parts, HexDigest& out);
  // HA1 = H(username ":" realm ":" password) (RFC 7616 §3.4.2).
  std::string ha1(Algorithm a, std::string_view username, std::string_view realm,
                  std::string_view password);
  // The request-digest for a given HA1 (hex) (RFC 7616 §3.4.1, RFC 2617
  // §3.2.2.1): with qop "auth" H(HA1:nonce:nc:cnonce:qop:HA2), without qop
  // H(HA1:nonce:HA2), where HA2 = H(method:uri).
  size_t response(Algorithm a, std::string_view ha1Hex, std::string_view nonce, std::string_view nc,
                  std::string_view cnonce, std::string_view qop, std::string_view method,
                  std::string_view uri, HexDigest& out);

 private:
  const EVP_MD* md(Algorithm a) const { return a == Algorithm::Md5 ? md5_ : sha256_; }
  EVP_MD_CTX* ctx_;
  EVP_MD* md5_;
  EVP_MD* sha256_;
};

// Constant-time equality of two hex digests (case-insensitive: RFC 7616
// hex is lowercase, but some clients send uppercase). Different lengths
// compare unequal, still in time independent of the content.
bool hexEquals(std::string_view expected, std::string_view given);

// A challenge value: Digest realm="r", nonce="n", algorithm=A, qop="auth"
// [, stale=true]. algorithm comes right after nonce and is followed by a
// comma: some deployed scanners and clients find it with a regex that needs
// that (harmless; the order of parameters is free, RFC 7616 §3.3).
std::string challengeValue(Algorithm a, std::string_view realm, std::string_view nonce, bool stale);

// Our answer to a challenge (client side): the Authorization /
// Proxy-Authorization value for `method` `uri`. With qop=auth it uses
// `cnonce` and `nc`; without, the RFC 2069 form.
std::string answerChallenge(DigestHasher& hasher, const Challenge& c, std::string_view method,
                            std::string_view uri, std::string_view username,
                            std::string_view password, std::string_view cnonce, uint32_t nc);

}  // namespace tollgate::auth
