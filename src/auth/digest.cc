// Digest algorithms, parsing and formatting. See digest.h.
#include "auth/digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>

#include "common/ascii.h"
#include "common/percent.h"
#include "sip/grammar.h"

namespace tollgate::auth {

namespace {

using ascii::iequals;
using ascii::toLower;
using sip::isToken;
using sip::isWsp;

// One auth-param: name = ( token / quoted-string ). Unquoted values are
// taken liberally up to the next comma or white space (some clients send
// uri= or algorithm= unquoted against the grammar, harmlessly).
struct Param {
  std::string_view name;
  std::string_view value;
  bool quoted = false;
  bool escaped = false;  // the quoted value contains backslash escapes
};

// 1: a parameter; 0: end of input; -1: malformed.
int nextParam(std::string_view s, size_t& i, Param& p) {
  while (i < s.size() && (isWsp(s[i]) || s[i] == ',')) ++i;
  if (i >= s.size()) return 0;
  size_t start = i;
  while (i < s.size() && isToken(s[i])) ++i;
  if (i == start) return -1;
  p.name = s.substr(start, i - start);
  while (i < s.size() && isWsp(s[i])) ++i;
  if (i >= s.size() || s[i] != '=') return -1;
  ++i;
  while (i < s.size() && isWsp(s[i])) ++i;
  p.quoted = false;
  p.escaped = false;
  if (i < s.size() && s[i] == '"') {
    size_t v = ++i;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\') {
        p.escaped = true;
        ++i;
        if (i >= s.size()) return -1;
      } else if (static_cast<unsigned char>(s[i]) < 0x20 && s[i] != '\t') {
        return -1;
      }
      ++i;
    }
    if (i >= s.size()) return -1;  // unterminated
    p.value = s.substr(v, i - v);
    p.quoted = true;
    ++i;
  } else {
    size_t v = i;
    while (i < s.size() && s[i] != ',' && !isWsp(s[i])) ++i;
    if (i == v) return -1;
    p.value = s.substr(v, i - v);
  }
  while (i < s.size() && isWsp(s[i])) ++i;
  if (i < s.size() && s[i] != ',') return -1;
  return 1;
}

std::string unescapeQuoted(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

// Strips the "Digest" scheme; false for another scheme.
bool stripScheme(std::string_view& value) {
  size_t i = 0;
  while (i < value.size() && isWsp(value[i])) ++i;
  size_t start = i;
  while (i < value.size() && isToken(value[i])) ++i;
  if (!iequals(value.substr(start, i - start), "Digest")) return false;
  value = value.substr(i);
  return true;
}

// Appends value as a quoted-string (RFC 3261 §25.1), escaping '"' and '\'.
void appendQuoted(std::string& out, std::string_view v) {
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void toHex(const unsigned char* d, size_t n, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[d[i] >> 4];
    out[2 * i + 1] = kHex[d[i] & 15];
  }
}

}  // namespace

std::string_view algorithmName(Algorithm a) {
  return a == Algorithm::Md5 ? "MD5" : "SHA-256";
}

std::optional<Algorithm> algorithmFromName(std::string_view name) {
  if (name.empty() || iequals(name, "MD5")) return Algorithm::Md5;
  if (iequals(name, "SHA-256")) return Algorithm::Sha256;
  return std::nullopt;
}

size_t hexLength(Algorithm a) {
  return a == Algorithm::Md5 ? 32 : 64;
}

Result<Ok, CredentialsError> parseCredentials(std::string_view value, Credentials& out) {
  if (!stripScheme(value)) return Err{CredentialsError::NotDigest};
  size_t i = 0;
  size_t count = 0;
  Param p;
  bool usernameEscaped = false;
  bool realmEscaped = false;
  for (;;) {
    int r = nextParam(value, i, p);
    if (r == 0) break;
    if (r < 0 || ++count > kMaxDigestParams || p.value.size() > kMaxDigestValue) {
      return Err{CredentialsError::Malformed};
    }
    std::string_view* slot = nullptr;
    if (iequals(p.name, "username")) {
      slot = &out.username;
      usernameEscaped = p.escaped;
    } else if (iequals(p.name, "realm")) {
      slot = &out.realm;
      realmEscaped = p.escaped;
    } else if (iequals(p.name, "nonce")) {
      slot = &out.nonce;
    } else if (iequals(p.name, "uri")) {
      slot = &out.uri;
    } else if (iequals(p.name, "response")) {
      slot = &out.response;
    } else if (iequals(p.name, "algorithm")) {
      slot = &out.algorithm;
    } else if (iequals(p.name, "cnonce")) {
      slot = &out.cnonce;
    } else if (iequals(p.name, "nc")) {
      slot = &out.nc;
    } else if (iequals(p.name, "qop")) {
      slot = &out.qop;
    } else if (iequals(p.name, "opaque")) {
      slot = &out.opaque;
    } else {
      continue;  // userhash, auth-params of extensions: ignored
    }
    // A parameter given twice is ambiguous: which one was hashed?
    if (slot->data() != nullptr) return Err{CredentialsError::Malformed};
    *slot = p.value;
  }
  if (usernameEscaped) {
    out.unescapedUsername = unescapeQuoted(out.username);
    out.username = out.unescapedUsername;
  }
  if (realmEscaped) {
    out.unescapedRealm = unescapeQuoted(out.realm);
    out.realm = out.unescapedRealm;
  }
  if (out.username.empty() || out.realm.data() == nullptr || out.nonce.empty() || out.uri.empty() ||
      out.response.empty()) {
    return Err{CredentialsError::Missing};
  }
  return Ok{};
}

std::optional<uint32_t> parseNonceCount(std::string_view nc) {
  if (nc.size() != 8) return std::nullopt;
  uint32_t v = 0;
  for (char c : nc) {
    const int d = hexDigitValue(c);
    if (d < 0) return std::nullopt;
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  return v;
}

Result<Challenge, CredentialsError> parseChallenge(std::string_view value) {
  if (!stripScheme(value)) return Err{CredentialsError::NotDigest};
  Challenge c;
  size_t i = 0;
  size_t count = 0;
  Param p;
  bool hasQop = false;
  for (;;) {
    int r = nextParam(value, i, p);
    if (r == 0) break;
    if (r < 0 || ++count > kMaxDigestParams || p.value.size() > kMaxDigestValue) {
      return Err{CredentialsError::Malformed};
    }
    if (iequals(p.name, "realm")) {
      c.realm = p.value;
    } else if (iequals(p.name, "nonce")) {
      c.nonce = p.value;
    } else if (iequals(p.name, "opaque")) {
      c.opaque = p.value;
    } else if (iequals(p.name, "algorithm")) {
      c.algorithmText = p.value;
    } else if (iequals(p.name, "stale")) {
      c.stale = iequals(p.value, "true");
    } else if (iequals(p.name, "qop")) {
      hasQop = true;
      // qop-options = "auth,auth-int" (a quoted comma-separated list).
      std::string_view list = p.value;
      size_t j = 0;
      while (j <= list.size()) {
        size_t comma = list.find(',', j);
        if (comma == std::string_view::npos) comma = list.size();
        std::string_view opt = list.substr(j, comma - j);
        while (!opt.empty() && isWsp(opt.front())) opt.remove_prefix(1);
        while (!opt.empty() && isWsp(opt.back())) opt.remove_suffix(1);
        if (iequals(opt, "auth")) c.qopAuth = true;
        j = comma + 1;
      }
    }
  }
  if (c.nonce.empty()) return Err{CredentialsError::Missing};
  auto alg = algorithmFromName(c.algorithmText);
  c.supported = alg.has_value() && (!hasQop || c.qopAuth);
  if (alg) c.algorithm = *alg;
  return c;
}

// ---------------------------------------------------------------------------
// Hashing

DigestHasher::DigestHasher()
    : ctx_(EVP_MD_CTX_new()),
      // Fetched once: an implicit fetch per EVP_DigestInit would look the
      // algorithm up in the provider tables on every call.
      md5_(EVP_MD_fetch(nullptr, "MD5", nullptr)),
      sha256_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
  // Start-up, not the data plane: without these nothing can be verified.
  if (ctx_ == nullptr || md5_ == nullptr || sha256_ == nullptr) std::abort();
}

DigestHasher::~DigestHasher() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_free(md5_);
  EVP_MD_free(sha256_);
}

size_t DigestHasher::hashHex(Algorithm a, std::initializer_list<std::string_view> parts,
                             HexDigest& out) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx_, md(a), nullptr);
  bool first = true;
  for (std::string_view part : parts) {
    if (!first) EVP_DigestUpdate(ctx_, ":", 1);
    first = false;
    EVP_DigestUpdate(ctx_, part.data(), part.size());
  }
  EVP_DigestFinal_ex(ctx_, digest, &len);
  toHex(digest, len, out.data());
  return 2 * len;
}

std::string DigestHasher::ha1(Algorithm a, std::string_view username, std::string_view realm,
                              std::string_view password) {
  HexDigest h;
  size_t n = hashHex(a, {username, realm, password}, h);
  return std::string(h.data(), n);
}

size_t DigestHasher::response(Algorithm a, std::string_view ha1Hex, std::string_view nonce,
                              std::string_view nc, std::string_view cnonce, std::string_view qop,
                              std::string_view method, std::string_view uri, HexDigest& out) {
  HexDigest ha2;
  size_t n2 = hashHex(a, {method, uri}, ha2);
  std::string_view ha2View(ha2.data(), n2);
  if (qop.empty()) return hashHex(a, {ha1Hex, nonce, ha2View}, out);
  return hashHex(a, {ha1Hex, nonce, nc, cnonce, qop, ha2View}, out);
}

bool hexEquals(std::string_view expected, std::string_view given) {
  // Fold the client's case into a fixed buffer; compare the content in
  // constant time. The length is not secret (it follows from the algorithm).
  if (given.size() != expected.size() || expected.size() > kMaxHexDigest) return false;
  HexDigest folded;
  for (size_t i = 0; i < given.size(); ++i) folded[i] = toLower(given[i]);
  return CRYPTO_memcmp(expected.data(), folded.data(), expected.size()) == 0;
}

std::string challengeValue(Algorithm a, std::string_view realm, std::string_view nonce,
                           bool stale) {
  std::string v;
  v.reserve(64 + realm.size() + nonce.size());
  v += "Digest realm=";
  appendQuoted(v, realm);
  v += ", nonce=";
  appendQuoted(v, nonce);
  v += ", algorithm=";
  v += algorithmName(a);
  v += ", qop=\"auth\"";
  if (stale) v += ", stale=true";
  return v;
}

std::string answerChallenge(DigestHasher& hasher, const Challenge& c, std::string_view method,
                            std::string_view uri, std::string_view username,
                            std::string_view password, std::string_view cnonce, uint32_t nc) {
  std::string ha1 = hasher.ha1(c.algorithm, username, c.realm, password);
  char ncText[9];
  std::snprintf(ncText, sizeof ncText, "%08x", nc);
  HexDigest resp;
  size_t n = c.qopAuth ? hasher.response(c.algorithm, ha1, c.nonce, ncText, cnonce, "auth", method,
                                         uri, resp)
                       : hasher.response(c.algorithm, ha1, c.nonce, {}, {}, {}, method, uri, resp);
  std::string v = "Digest username=";
  appendQuoted(v, username);
  v += ", realm=";
  appendQuoted(v, c.realm);
  v += ", nonce=";
  appendQuoted(v, c.nonce);
  v += ", uri=";
  appendQuoted(v, uri);
  v += ", response=\"";
  v.append(resp.data(), n);
  v += "\", algorithm=";
  v += algorithmName(c.algorithm);
  if (c.qopAuth) {
    v += ", qop=auth, nc=";
    v += ncText;
    v += ", cnonce=";
    appendQuoted(v, cnonce);
  }
  if (!c.opaque.empty()) {
    v += ", opaque=";
    appendQuoted(v, c.opaque);
  }
  return v;
}

}  // namespace tollgate::auth
