// CSPRNG-backed and seeded random sources.
#include "common/random.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>

namespace tollgate {

std::string Random::token(size_t n) {
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out(n, '0');
  unsigned char raw[64];
  size_t done = 0;
  while (done < n) {
    size_t chunk = std::min(n - done, sizeof raw);
    fill(raw, chunk);
    // 252 = 7 * 36: reject the top values so every character is equally likely.
    for (size_t i = 0; i < chunk && done < n; ++i) {
      if (raw[i] < 252) out[done++] = kAlphabet[raw[i] % 36];
    }
  }
  return out;
}

void CryptoRandom::fill(void* out, size_t n) {
  auto* dst = static_cast<unsigned char*>(out);
  while (n > 0) {
    if (pos_ == kBlock) {
      if (RAND_bytes(buf_, kBlock) != 1) std::abort();  // no entropy: cannot run safely
      pos_ = 0;
    }
    size_t take = std::min(n, kBlock - pos_);
    std::memcpy(dst, buf_ + pos_, take);
    // Wipe what we hand out so the buffer never holds values already in use.
    std::memset(buf_ + pos_, 0, take);
    pos_ += take;
    dst += take;
    n -= take;
  }
}

void SeededRandom::fill(void* out, size_t n) {
  auto* dst = static_cast<unsigned char*>(out);
  for (size_t i = 0; i < n; ++i) {
    // xorshift64*: deterministic, fast, not for security.
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    dst[i] = static_cast<unsigned char>((state_ * 0x2545F4914F6CDD1Dull) >> 56);
  }
}

}  // namespace tollgate
