// HMAC nonces with a replay ring. See nonce.h.
#include "auth/nonce.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdlib>
#include <cstring>

namespace tollgate::auth {

namespace {

constexpr size_t kKeyBytes = 32;
constexpr size_t kMacBytes = 16;  // 128 bits of HMAC-SHA-256: ample against forgery
constexpr size_t kRawBytes = 8 + 8 + kMacBytes;
constexpr size_t kEncodedBytes = (kRawBytes * 4 + 2) / 3;  // base64url, no padding: 43

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void putBe64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

uint64_t getBe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

std::string encode(const uint8_t* raw, size_t n) {
  std::string out;
  out.reserve(kEncodedBytes);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{raw[i]} << 16) | (uint32_t{raw[i + 1]} << 8) | raw[i + 2];
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{raw[i]} << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{raw[i]} << 16) | (uint32_t{raw[i + 1]} << 8);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
  }
  return out;
}

int decodeChar(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Decodes exactly kRawBytes from kEncodedBytes characters.
bool decode(std::string_view text, uint8_t* raw) {
  if (text.size() != kEncodedBytes) return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (char c : text) {
    int d = decodeChar(c);
    if (d < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n < kRawBytes) raw[n++] = static_cast<uint8_t>((acc >> bits) & 0xff);
    }
  }
  // Canonical form only: the bits of the last character beyond the data
  // must be zero, so that one nonce has exactly one spelling.
  return n == kRawBytes && (acc & ((1u << bits) - 1)) == 0;
}

}  // namespace

NonceManager::NonceManager(Random& random, Millis lifetime, size_t replaySlots)
    : lifetime_(lifetime), slots_(replaySlots == 0 ? 1 : replaySlots) {
  uint8_t key[kKeyBytes];
  random.fill(key, sizeof key);
  // The sequence starts at a random point so that a nonce does not tell how
  // many challenges this node has issued since it started.
  nextSeq_ = (random.next64() >> 33) + 1;
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  mac_ = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
  EVP_MAC_free(hmac);  // the context keeps its own reference
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  // Start-up: without a MAC no nonce can be trusted, so refuse to run.
  if (mac_ == nullptr || EVP_MAC_init(mac_, key, sizeof key, params) != 1) std::abort();
  OPENSSL_cleanse(key, sizeof key);
}

NonceManager::~NonceManager() {
  EVP_MAC_CTX_free(mac_);
}

uint64_t NonceManager::msSinceStart(MonoTime t) const {
  if (t <= epoch_) return 0;
  return static_cast<uint64_t>(std::chrono::duration_cast<Millis>(t - epoch_).count());
}

void NonceManager::mac(uint64_t seq, uint64_t issuedMs, const net::IpAddress& client,
                       uint8_t out[kMacBytes]) {
  uint8_t data[8 + 8 + 1 + 16];
  putBe64(data, seq);
  putBe64(data + 8, issuedMs);
  data[16] = static_cast<uint8_t>(client.isV4() ? 4 : 6);
  std::memcpy(data + 17, client.bytes(), client.size());
  // Re-initialising with a null key keeps the key: no allocation per nonce.
  uint8_t full[32];
  size_t len = 0;
  EVP_MAC_init(mac_, nullptr, 0, nullptr);
  EVP_MAC_update(mac_, data, 17 + client.size());
  EVP_MAC_final(mac_, full, &len, sizeof full);
  std::memcpy(out, full, kMacBytes);
}

std::string NonceManager::issue(const net::IpAddress& client, MonoTime now) {
  if (!epochSet_) {
    epoch_ = now;
    epochSet_ = true;
  }
  const uint64_t seq = nextSeq_++;
  const uint64_t issued = msSinceStart(now);
  uint8_t raw[kRawBytes];
  putBe64(raw, seq);
  putBe64(raw + 8, issued);
  mac(seq, issued, client, raw + 16);
  Slot& s = slots_[seq % slots_.size()];
  s.seq = seq;
  s.lastNc = 0;
  s.used = false;
  return encode(raw, sizeof raw);
}

NonceManager::Check NonceManager::check(std::string_view nonce, const net::IpAddress& client,
                                        MonoTime now) {
  Check c;
  uint8_t raw[kRawBytes];
  if (!epochSet_ || !decode(nonce, raw)) return c;
  const uint64_t seq = getBe64(raw);
  const uint64_t issued = getBe64(raw + 8);
  uint8_t expect[kMacBytes];
  mac(seq, issued, client, expect);
  if (CRYPTO_memcmp(expect, raw + 16, kMacBytes) != 0) return c;
  c.seq = seq;
  const uint64_t nowMs = msSinceStart(now);
  const auto lifetimeMs = static_cast<uint64_t>(lifetime_.count());
  c.status = (issued > nowMs || nowMs - issued > lifetimeMs) ? Status::Stale : Status::Valid;
  return c;
}

bool NonceManager::commit(uint64_t seq, uint32_t nc, bool qop) {
  Slot& s = slots_[seq % slots_.size()];
  if (s.seq != seq) return false;  // evicted by a newer nonce: cannot tell, so refuse
  if (qop) {
    if (nc <= s.lastNc) return false;
    s.lastNc = nc;
    return true;
  }
  if (s.used) return false;
  s.used = true;
  return true;
}

}  // namespace tollgate::auth
