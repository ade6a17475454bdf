// Building blocks of the policy counters: a sliding-window event counter
// with fixed memory, a hash table with a hard size bound and least-recently-
// used eviction (for tables keyed by numbers an attacker chooses), and a
// small binary codec used to save counters across restarts. Values and
// tables are externally synchronized (each owner is confined to its worker).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/number_lists.h"

namespace tollgate::admission {

// Counts events over a sliding window of `interval`, in kSlices slices of
// interval/32 each: an event is counted for at least `interval` and at most
// 1/32 longer (the slice it fell in ages out whole). Times are wall-clock
// microseconds, so a saved window means the same after a restart.
class WindowCounter {
 public:
  static constexpr size_t kSlices = 33;

  // Adds one event at `nowUs`; returns the count in the window, it included.
  uint32_t add(int64_t nowUs, int64_t sliceUs);
  uint32_t count(int64_t nowUs, int64_t sliceUs);
  bool empty(int64_t nowUs, int64_t sliceUs) { return count(nowUs, sliceUs) == 0; }
  void clear() { *this = WindowCounter{}; }

  // For the codec.
  int64_t newestSlice() const { return newest_; }
  const std::array<uint16_t, kSlices>& slices() const { return counts_; }
  void restore(int64_t newest, const std::array<uint16_t, kSlices>& counts) {
    newest_ = newest;
    counts_ = counts;
  }

 private:
  void advance(int64_t slice);
  int64_t newest_ = INT64_MIN;  // slice number of counts_[newest_ % kSlices]
  std::array<uint16_t, kSlices> counts_{};
};

// Slice length for an interval: interval/32, at least one millisecond.
inline int64_t sliceLengthUs(int64_t intervalUs) {
  int64_t s = intervalUs / 32;
  return s < 1000 ? 1000 : s;
}

// A map from string keys to values with at most `capacity` entries: adding
// to a full table evicts the entry touched longest ago. find() does not
// allocate; touch() moves an entry to the most-recent end.
template <typename Value>
class BoundedLru {
 public:
  explicit BoundedLru(size_t capacity) : capacity_(capacity ? capacity : 1) {}

  Value* find(std::string_view key) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &nodes_[it->second].value;
  }
  // The entry for key, created (default value) when absent; `evicted` tells
  // whether an old entry made room.
  Value& touch(std::string_view key, bool* evicted = nullptr) {
    if (evicted) *evicted = false;
    auto it = index_.find(key);
    if (it != index_.end()) {
      moveToFront(it->second);
      return nodes_[it->second].value;
    }
    uint32_t n;
    if (index_.size() >= capacity_) {
      n = tail_;
      unlink(n);
      index_.erase(nodes_[n].key);
      if (evicted) *evicted = true;
      ++evictions_;
    } else if (!free_.empty()) {
      n = free_.back();
      free_.pop_back();
    } else {
      n = static_cast<uint32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    nodes_[n].key.assign(key.data(), key.size());
    nodes_[n].value = Value{};
    index_.emplace(nodes_[n].key, n);
    pushFront(n);
    return nodes_[n].value;
  }
  void erase(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return;
    uint32_t n = it->second;
    index_.erase(it);
    unlink(n);
    nodes_[n].key.clear();
    nodes_[n].value = Value{};
    free_.push_back(n);
  }
  // Visits entries from most to least recently touched; fn(key, value)
  // returns false to erase the entry.
  template <typename Fn>
  void sweep(Fn fn) {
    uint32_t n = head_;
    while (n != kNil) {
      uint32_t next = nodes_[n].next;
      if (!fn(std::string_view(nodes_[n].key), nodes_[n].value)) erase(nodes_[n].key);
      n = next;
    }
  }
  // Visits at most `limit` entries, most recently touched first;
  // fn(key, value) returns false to stop early.
  template <typename Fn>
  void forEachRecent(size_t limit, Fn fn) {
    for (uint32_t n = head_; n != kNil && limit > 0; n = nodes_[n].next, --limit) {
      if (!fn(std::string_view(nodes_[n].key), nodes_[n].value)) return;
    }
  }
  size_t size() const { return index_.size(); }
  size_t capacity() const { return capacity_; }
  uint64_t evictions() const { return evictions_; }

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  struct Node {
    std::string key;
    Value value{};
    uint32_t prev = kNil;
    uint32_t next = kNil;
  };
  void unlink(uint32_t n) {
    Node& x = nodes_[n];
    if (x.prev != kNil) nodes_[x.prev].next = x.next;
    if (x.next != kNil) nodes_[x.next].prev = x.prev;
    if (head_ == n) head_ = x.next;
    if (tail_ == n) tail_ = x.prev;
    x.prev = x.next = kNil;
  }
  void pushFront(uint32_t n) {
    nodes_[n].prev = kNil;
    nodes_[n].next = head_;
    if (head_ != kNil) nodes_[head_].prev = n;
    head_ = n;
    if (tail_ == kNil) tail_ = n;
  }
  void moveToFront(uint32_t n) {
    if (head_ == n) return;
    unlink(n);
    pushFront(n);
  }

  size_t capacity_;
  // A deque: growing it never moves a node, so index_ may hold views of the
  // keys (std::string's short-string buffer lives inside the object).
  std::deque<Node> nodes_;
  std::vector<uint32_t> free_;
  std::unordered_map<std::string_view, uint32_t, StringHash, StringEq> index_;  // views into nodes_
  uint32_t head_ = kNil;
  uint32_t tail_ = kNil;
  uint64_t evictions_ = 0;
};

// Little-endian fixed-width integers and length-prefixed strings.
class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { raw(&v, 2); }
  void u32(uint32_t v) { raw(&v, 4); }
  void i64(int64_t v) { raw(&v, 8); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  std::string take() { return std::move(out_); }
  size_t size() const { return out_.size(); }
  void reserve(size_t n) { out_.reserve(n); }

 private:
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

// Reads what ByteWriter wrote; every read is bounds-checked and a short or
// corrupt input turns ok() false (then every value reads as 0 / "").
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}
  uint8_t u8() {
    uint8_t v = 0;
    raw(&v, 1);
    return v;
  }
  uint16_t u16() {
    uint16_t v = 0;
    raw(&v, 2);
    return v;
  }
  uint32_t u32() {
    uint32_t v = 0;
    raw(&v, 4);
    return v;
  }
  int64_t i64() {
    int64_t v = 0;
    raw(&v, 8);
    return v;
  }
  std::string_view str(size_t maxLen) {
    uint32_t n = u32();
    if (!ok_ || n > maxLen || n > in_.size()) {
      ok_ = false;
      return {};
    }
    std::string_view s = in_.substr(0, n);
    in_.remove_prefix(n);
    return s;
  }
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  void fail() { ok_ = false; }

 private:
  void raw(void* p, size_t n) {
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      std::memset(p, 0, n);
      return;
    }
    std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
  }
  std::string_view in_;
  bool ok_ = true;
};

void writeWindow(ByteWriter& w, const WindowCounter& c);
WindowCounter readWindow(ByteReader& r);

}  // namespace tollgate::admission
