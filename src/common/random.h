// Sources of randomness for SIP identifiers (Call-ID, tags, branches) and,
// later, nonces. CryptoRandom draws from OpenSSL's CSPRNG in blocks so that an
// identifier costs a memcpy, not a syscall; it is confined to its worker (one
// instance per thread). SeededRandom is deterministic, for tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tollgate {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(void* out, size_t n) = 0;

  uint64_t next64() {
    uint64_t v;
    fill(&v, sizeof v);
    return v;
  }
  // n characters from [0-9a-z]: ~5.2 bits each; 16 chars ≈ 82 bits.
  std::string token(size_t n);
};

class CryptoRandom final : public Random {
 public:
  void fill(void* out, size_t n) override;

 private:
  static constexpr size_t kBlock = 4096;
  unsigned char buf_[kBlock];
  size_t pos_ = kBlock;
};

class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  void fill(void* out, size_t n) override;

 private:
  uint64_t state_;
};

}  // namespace tollgate
