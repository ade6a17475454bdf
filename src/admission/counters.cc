// Sliding-window counter and codec helpers. See counters.h.
#include "admission/counters.h"

#include <limits>

namespace tollgate::admission {

namespace {
int64_t sliceOf(int64_t us, int64_t sliceUs) {
  // Floor division (times before 1970 do not occur, but stay correct).
  return us >= 0 ? us / sliceUs : -((-us + sliceUs - 1) / sliceUs);
}
size_t index(int64_t slice) {
  int64_t m = slice % static_cast<int64_t>(WindowCounter::kSlices);
  return static_cast<size_t>(m < 0 ? m + WindowCounter::kSlices : m);
}
}  // namespace

void WindowCounter::advance(int64_t slice) {
  if (newest_ == INT64_MIN || slice - newest_ >= static_cast<int64_t>(kSlices)) {
    counts_.fill(0);
    newest_ = slice;
    return;
  }
  // A clock that stepped back: keep counting into the newest slice.
  while (newest_ < slice) {
    ++newest_;
    counts_[index(newest_)] = 0;
  }
}

uint32_t WindowCounter::add(int64_t nowUs, int64_t sliceUs) {
  advance(sliceOf(nowUs, sliceUs));
  uint16_t& c = counts_[index(newest_)];
  if (c < std::numeric_limits<uint16_t>::max()) ++c;
  return count(nowUs, sliceUs);
}

uint32_t WindowCounter::count(int64_t nowUs, int64_t sliceUs) {
  if (newest_ == INT64_MIN) return 0;
  advance(sliceOf(nowUs, sliceUs));
  uint32_t total = 0;
  for (uint16_t c : counts_) total += c;
  return total;
}

void writeWindow(ByteWriter& w, const WindowCounter& c) {
  w.i64(c.newestSlice());
  for (uint16_t v : c.slices()) w.u16(v);
}

WindowCounter readWindow(ByteReader& r) {
  WindowCounter c;
  int64_t newest = r.i64();
  std::array<uint16_t, WindowCounter::kSlices> counts{};
  for (auto& v : counts) v = r.u16();
  if (r.ok()) c.restore(newest, counts);
  return c;
}

}  // namespace tollgate::admission
