// The peer header's MAC. See peer_token.h.
#include "cluster/peer_token.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <charconv>
#include <cstdlib>

namespace tollgate::cluster {

namespace {

constexpr size_t kMacBytes = 16;  // 128 bits of HMAC-SHA-256: ample against forgery
constexpr char kHex[] = "0123456789abcdef";

}  // namespace

PeerToken::PeerToken() {
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  ctx_ = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
  EVP_MAC_free(hmac);  // the context keeps its own reference
  // Start-up: without a MAC no peer request can be trusted, so refuse to run.
  if (ctx_ == nullptr) std::abort();
}

PeerToken::~PeerToken() {
  EVP_MAC_CTX_free(ctx_);
}

bool PeerToken::setKey(std::string_view key) {
  if (key.size() != kPeerKeyBytes) return false;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  hasKey_ = EVP_MAC_init(ctx_, reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                         params) == 1;
  return hasKey_;
}

std::string PeerToken::mac(std::string_view node, int64_t wallMs, std::string_view callId,
                           std::string_view fromTag, std::string_view username) {
  // Re-initialising with a null key keeps the key: no allocation per MAC.
  EVP_MAC_init(ctx_, nullptr, 0, nullptr);
  const std::string ms = std::to_string(wallMs);
  const unsigned char nl = '\n';
  for (std::string_view part : {node, std::string_view(ms), callId, fromTag, username}) {
    EVP_MAC_update(ctx_, reinterpret_cast<const unsigned char*>(part.data()), part.size());
    EVP_MAC_update(ctx_, &nl, 1);
  }
  unsigned char full[32];
  size_t len = 0;
  EVP_MAC_final(ctx_, full, &len, sizeof full);
  std::string hex(2 * kMacBytes, '0');
  for (size_t i = 0; i < kMacBytes; ++i) {
    hex[2 * i] = kHex[full[i] >> 4];
    hex[2 * i + 1] = kHex[full[i] & 0xf];
  }
  OPENSSL_cleanse(full, sizeof full);
  return hex;
}

std::string PeerToken::sign(std::string_view node, int64_t wallMs, std::string_view callId,
                            std::string_view fromTag, std::string_view username) {
  if (!hasKey_) return {};
  return std::string(node) + ";" + std::to_string(wallMs) + ";" +
         mac(node, wallMs, callId, fromTag, username);
}

bool PeerToken::parse(std::string_view value, PeerTokenFields* out) {
  // The node id may not contain ';' (config.cc refuses it); split from the
  // right so a malformed id cannot shift the other fields.
  const size_t macAt = value.rfind(';');
  if (macAt == std::string_view::npos || macAt == 0) return false;
  const size_t msAt = value.rfind(';', macAt - 1);
  if (msAt == std::string_view::npos || msAt == 0) return false;
  const std::string_view node = value.substr(0, msAt);
  const std::string_view ms = value.substr(msAt + 1, macAt - msAt - 1);
  const std::string_view mac = value.substr(macAt + 1);
  if (node.size() > kMaxPeerNodeId || node.find(';') != std::string_view::npos) return false;
  if (mac.size() != 2 * kMacBytes) return false;
  for (char c : mac) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  int64_t v = 0;
  auto [end, ec] = std::from_chars(ms.data(), ms.data() + ms.size(), v);
  if (ec != std::errc{} || end != ms.data() + ms.size() || ms.empty() || v < 0) return false;
  out->node = node;
  out->wallMs = v;
  out->mac = mac;
  return true;
}

registrar::PeerVerdict PeerToken::check(std::string_view value, int64_t nowWallMs,
                                        std::string_view callId, std::string_view fromTag,
                                        std::string_view username, PeerTokenFields* fields) {
  using registrar::PeerVerdict;
  if (!hasKey_) return PeerVerdict::NoKey;
  if (!parse(value, fields)) return PeerVerdict::Malformed;
  const int64_t skew = nowWallMs - fields->wallMs;
  if (skew > kPeerTokenWindow.count() || -skew > kPeerTokenWindow.count()) {
    return PeerVerdict::Stale;
  }
  const std::string expect = mac(fields->node, fields->wallMs, callId, fromTag, username);
  if (CRYPTO_memcmp(expect.data(), fields->mac.data(), expect.size()) != 0) {
    return PeerVerdict::BadMac;
  }
  return PeerVerdict::Authentic;
}

}  // namespace tollgate::cluster
