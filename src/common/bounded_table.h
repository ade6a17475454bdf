// BoundedTable: a hash table with a hard capacity fixed at construction and
// least-recently-used eviction, the one implementation for state keyed by
// something an attacker controls: the shield's sources, prefixes and bans,
// the auth retry limiter's (user, source) pairs, the dynamic blacklist's
// per-number counters. Every operation is O(1): open addressing with linear
// probing over an index of at least twice the capacity (load factor
// <= 0.5), slots in one array, and an intrusive least-recently-used list
// through the slots. When the table is full, inserting evicts from the LRU
// end: the first of the kEvictionProbes oldest slots whose value is not
// pinned (it holds open transactions or connections, or an active ban), or,
// if all of those are pinned and the caller allows it, the oldest one
// regardless. Memory is allocated once, uninitialised (slots) or calloc'ed
// (index), so pages the table never uses cost no resident memory;
// memoryBytes() is the bound by construction (plus what keys such as
// std::string hold on the heap). Nothing allocates after construction
// except such keys.
//
// V is value-initialised on insert and assigned over when its slot is
// reused (destroyed only with the table); touch() asks `bool pinned() const`
// of values that have it (others are never pinned), touchWith() asks the
// caller's predicate. Lookups take the key or any type K the hasher hashes
// the same way and that compares equal to the key with == (a string_view
// for a std::string key), so a lookup allocates nothing.
// Confined to its worker (externally synchronized).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace tollgate {

// Oldest slots looked at for an unpinned victim before giving up (or
// evicting the oldest anyway): bounds the work of one insert.
inline constexpr int kEvictionProbes = 8;

template <typename Key, typename V, typename Hasher>
class BoundedTable {
 public:
  static constexpr uint32_t kNone = 0xffffffffu;

  BoundedTable(size_t capacity, Hasher hasher)
      : capacity_(capacity == 0 ? 1 : capacity), hasher_(hasher) {
    size_t idx = 1;
    while (idx < capacity_ * 2) idx <<= 1;
    mask_ = idx - 1;
    // calloc: zero pages are mapped lazily, so a large idle index is free.
    index_.reset(static_cast<uint32_t*>(std::calloc(idx, sizeof(uint32_t))));
    if (!index_) throw std::bad_alloc();  // start-up only
    slots_ = std::allocator<Slot>().allocate(capacity_);
  }
  ~BoundedTable() {
    for (size_t i = 0; i < used_; ++i) slots_[i].~Slot();
    std::allocator<Slot>().deallocate(slots_, capacity_);
  }
  BoundedTable(const BoundedTable&) = delete;
  BoundedTable& operator=(const BoundedTable&) = delete;

  // The value for key, or null. Does not change the LRU order.
  template <typename K = Key>
  V* find(const K& key) {
    uint32_t s = lookup(key, hasher_(key));
    return s == kNone ? nullptr : &slots_[s].value;
  }
  template <typename K = Key>
  const V* find(const K& key) const {
    return const_cast<BoundedTable*>(this)->find(key);
  }

  // Finds key and makes it the most recently used; inserts a value-
  // initialised V when absent (evicting when full, see above). Returns null
  // only when the table is full, every probed slot is pinned and
  // evictPinned is false (never for values without pinned()). *inserted
  // (when given) tells whether the value is new; *evicted (when given)
  // receives the key that was pushed out, *didEvict whether one was.
  template <typename K = Key>
  V* touch(const K& key, bool* inserted = nullptr, bool evictPinned = true, Key* evicted = nullptr,
           bool* didEvict = nullptr) {
    return touchWith(
        key, inserted,
        [](const V& v) {
          if constexpr (requires { v.pinned(); }) {
            return v.pinned();
          } else {
            return false;
          }
        },
        evictPinned, evicted, didEvict);
  }
  // touch() with the pinned test given by the caller (for values whose
  // pinning depends on the time).
  template <typename K, typename Pinned>
  V* touchWith(const K& key, bool* inserted, Pinned&& pinned, bool evictPinned,
               Key* evicted = nullptr, bool* didEvict = nullptr) {
    const uint64_t h = hasher_(key);
    if (didEvict) *didEvict = false;
    uint32_t s = lookup(key, h);
    if (s != kNone) {
      if (inserted) *inserted = false;
      moveToFront(s);
      return &slots_[s].value;
    }
    if (size_ == capacity_) {
      uint32_t victim = pickVictim(pinned, evictPinned);
      if (victim == kNone) {
        if (inserted) *inserted = false;
        return nullptr;
      }
      if (evicted) *evicted = slots_[victim].key;
      if (didEvict) *didEvict = true;
      ++evictions_;
      removeSlot(victim);
    }
    s = allocSlot();
    Slot& slot = slots_[s];
    if constexpr (std::is_assignable_v<Key&, const K&>) {
      slot.key = key;
    } else {
      slot.key = Key(key);
    }
    slot.hash = static_cast<uint32_t>(h);
    slot.value = V{};
    insertIndex(s, h);
    linkFront(s);
    ++size_;
    if (inserted) *inserted = true;
    return &slot.value;
  }

  template <typename K = Key>
  bool erase(const K& key) {
    uint32_t s = lookup(key, hasher_(key));
    if (s == kNone) return false;
    removeSlot(s);
    return true;
  }

  // The least recently used entry (for expiry sweeps), or null.
  const Key* oldestKey() const { return tail_ == kNone ? nullptr : &slots_[tail_].key; }
  V* oldestValue() { return tail_ == kNone ? nullptr : &slots_[tail_].value; }

  // Calls f(key, value) for every entry, most recent first. f must not
  // insert or erase.
  template <typename F>
  void forEach(F&& f) {
    for (uint32_t s = head_; s != kNone; s = slots_[s].next) f(slots_[s].key, slots_[s].value);
  }
  template <typename F>
  void forEach(F&& f) const {
    for (uint32_t s = head_; s != kNone; s = slots_[s].next) {
      f(slots_[s].key, static_cast<const V&>(slots_[s].value));
    }
  }
  // Calls f(key, value) for at most `limit` entries, most recent first,
  // until f returns false. f must not insert or erase.
  template <typename F>
  void forEachRecent(size_t limit, F&& f) {
    for (uint32_t s = head_; s != kNone && limit > 0; s = slots_[s].next, --limit) {
      if (!f(slots_[s].key, slots_[s].value)) return;
    }
  }
  // Calls f(key, value) for every entry, most recent first, and erases
  // those for which f returns false. f must not insert or erase.
  template <typename F>
  void sweep(F&& f) {
    uint32_t s = head_;
    while (s != kNone) {
      const uint32_t next = slots_[s].next;
      if (!f(slots_[s].key, slots_[s].value)) removeSlot(s);
      s = next;
    }
  }

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  uint64_t evictions() const { return evictions_; }
  // Bytes this table can ever hold (slots + index), whatever is inserted.
  size_t memoryBytes() const { return capacity_ * sizeof(Slot) + (mask_ + 1) * sizeof(uint32_t); }
  static constexpr size_t slotBytes() { return sizeof(Slot); }

 private:
  struct Slot {
    Key key;
    uint32_t hash;  // low bits of the hash: the home bucket without rehashing
    uint32_t prev;
    uint32_t next;
    V value;
  };
  struct FreeDeleter {
    void operator()(uint32_t* p) const { std::free(p); }
  };

  template <typename K>
  uint32_t lookup(const K& key, uint64_t h) const {
    const uint32_t h32 = static_cast<uint32_t>(h);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      uint32_t e = index_[i];
      if (e == 0) return kNone;
      const Slot& s = slots_[e - 1];
      if (s.hash == h32 && s.key == key) return e - 1;
    }
  }

  void insertIndex(uint32_t s, uint64_t h) {
    size_t i = h & mask_;
    while (index_[i] != 0) i = (i + 1) & mask_;
    index_[i] = s + 1;
  }

  // Backward-shift deletion (Knuth 6.4, algorithm R): no tombstones, so
  // probe chains never grow with churn.
  void eraseIndex(uint32_t s) {
    size_t i = slots_[s].hash & mask_;
    while (index_[i] != s + 1) i = (i + 1) & mask_;
    size_t j = i;
    for (;;) {
      j = (j + 1) & mask_;
      uint32_t e = index_[j];
      if (e == 0) break;
      size_t home = slots_[e - 1].hash & mask_;
      // Move e back to the hole at i unless its home lies cyclically in (i, j].
      bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!stays) {
        index_[i] = e;
        i = j;
      }
    }
    index_[i] = 0;
  }

  uint32_t allocSlot() {
    if (free_ != kNone) {
      uint32_t s = free_;
      free_ = slots_[s].next;
      return s;
    }
    uint32_t s = static_cast<uint32_t>(used_++);
    new (&slots_[s]) Slot();
    return s;
  }

  void removeSlot(uint32_t s) {
    eraseIndex(s);
    unlink(s);
    slots_[s].next = free_;
    free_ = s;
    --size_;
  }

  template <typename Pinned>
  uint32_t pickVictim(Pinned& pinned, bool evictPinned) const {
    uint32_t s = tail_;
    for (int i = 0; i < kEvictionProbes && s != kNone; ++i, s = slots_[s].prev) {
      if (!pinned(slots_[s].value)) return s;
    }
    return evictPinned ? tail_ : kNone;
  }

  void linkFront(uint32_t s) {
    slots_[s].prev = kNone;
    slots_[s].next = head_;
    if (head_ != kNone) slots_[head_].prev = s;
    head_ = s;
    if (tail_ == kNone) tail_ = s;
  }
  void unlink(uint32_t s) {
    Slot& x = slots_[s];
    if (x.prev != kNone) {
      slots_[x.prev].next = x.next;
    } else {
      head_ = x.next;
    }
    if (x.next != kNone) {
      slots_[x.next].prev = x.prev;
    } else {
      tail_ = x.prev;
    }
  }
  void moveToFront(uint32_t s) {
    if (head_ == s) return;
    unlink(s);
    linkFront(s);
  }

  size_t capacity_;
  Hasher hasher_;
  size_t mask_ = 0;
  std::unique_ptr<uint32_t[], FreeDeleter> index_;  // slot + 1; 0 = empty
  Slot* slots_ = nullptr;
  size_t used_ = 0;  // slots ever constructed (a prefix of slots_)
  size_t size_ = 0;
  uint32_t free_ = kNone;
  uint32_t head_ = kNone;  // most recently used
  uint32_t tail_ = kNone;  // least recently used
  uint64_t evictions_ = 0;
};

}  // namespace tollgate
