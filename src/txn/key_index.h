// KeyIndex: the transaction layer's lookup from a matching key (RFC 3261
// §17.2.3 branch + sent-by + method, §17.1.3 branch + method, or the RFC 6026
// Call-ID + CSeq + From-tag of a 2xx awaiting its ACK) to the transaction.
//
// Finished transactions linger for up to 32 s over UDP, so at load these
// indexes hold hundreds of thousands of keys and every SIP message looks one
// up. A node-based std::unordered_map<std::string, ...> costs several cache
// misses per lookup there (bucket, node, the key's heap bytes, then the
// transaction itself). This is one flat array of (64-bit hash, pointer)
// slots with linear probing: one miss for the slot, and the transaction the
// caller needs anyway confirms the key. The key strings are not copied: each
// transaction owns its key and `keyOf` reads it.
//
// The hash is seeded per process so a peer cannot choose keys that pile
// into one probe run. Deletion shifts the following run back (no
// tombstones), so lookups stay short however many keys come and go.
// Confined to its worker (the transaction layer's); not thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace tollgate::txn {

template <class T>
class KeyIndex {
 public:
  explicit KeyIndex(uint64_t seed, size_t capacity = 1024) : seed_(seed | 1) {
    size_t n = 16;
    while (n < capacity * 2) n <<= 1;
    slots_.assign(n, Slot{});
    mask_ = n - 1;
  }

  // The value stored under a key equal to `key` (keyOf(*value) == key), or null.
  template <class KeyOf>
  T* find(std::string_view key, KeyOf keyOf) const {
    const uint64_t h = hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value == nullptr) return nullptr;
      if (s.hash == h && keyOf(*s.value) == key) return s.value;
    }
  }

  // Stores value under key, replacing whatever was stored under an equal key.
  template <class KeyOf>
  void assign(std::string_view key, T* value, KeyOf keyOf) {
    const uint64_t h = hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.value == nullptr) break;
      if (s.hash == h && keyOf(*s.value) == key) {
        s.value = value;
        return;
      }
    }
    if ((size_ + 1) * 2 > slots_.size()) grow();
    place(Slot{h, value});
    ++size_;
  }

  // Removes `value` if it is what is stored under key. True when removed.
  bool erase(std::string_view key, const T* value) {
    const uint64_t h = hash(key);
    size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.value == nullptr) return false;
      if (s.value == value && s.hash == h) break;
    }
    // Backward shift: move each following entry of the run into the hole
    // when its home slot is not between the hole and where it sits.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
      Slot& s = slots_[j];
      if (s.value == nullptr) break;
      const size_t home = s.hash & mask_;
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!stays) {
        slots_[hole] = s;
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size() / 2; }

 private:
  struct Slot {
    uint64_t hash = 0;
    T* value = nullptr;  // null = empty
  };

  // Seeded multiply-xor over 8-byte words with a final avalanche
  // (MurmurHash3's fmix64). Not cryptographic; unpredictable without the seed.
  uint64_t hash(std::string_view key) const {
    uint64_t h = seed_ ^ (key.size() * 0x9e3779b97f4a7c15ull);
    const char* p = key.data();
    size_t n = key.size();
    while (n >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      h = (h ^ w) * 0xff51afd7ed558ccdull;
      h ^= h >> 29;
      p += 8;
      n -= 8;
    }
    if (n > 0) {
      uint64_t w = 0;
      std::memcpy(&w, p, n);
      h = (h ^ w) * 0xff51afd7ed558ccdull;
      h ^= h >> 29;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
  }

  void place(Slot slot) {
    size_t i = slot.hash & mask_;
    while (slots_[i].value != nullptr) i = (i + 1) & mask_;
    slots_[i] = slot;
  }

  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.value != nullptr) place(s);
    }
  }

  uint64_t seed_;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace tollgate::txn
