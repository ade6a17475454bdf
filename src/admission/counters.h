// Building blocks of the policy counters: a sliding-window event counter
// with fixed memory and a small binary codec used to save counters across
// restarts (the tables that hold them per number are BoundedTables,
// common/bounded_table.h). Values are externally synchronized (each owner
// is confined to its worker).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

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
