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

// Sparse: the newest slice, a bit mask of the non-zero slices, then their
// counts. A window usually has a few busy slices, so this is ~20 bytes.
static_assert(WindowCounter::kSlices <= 64, "the slice mask is 64 bits");

void writeWindow(ByteWriter& w, const WindowCounter& c) {
  w.i64(c.newestSlice());
  uint64_t mask = 0;
  const auto& slices = c.slices();
  for (size_t i = 0; i < slices.size(); ++i) {
    if (slices[i] != 0) mask |= uint64_t{1} << i;
  }
  w.i64(static_cast<int64_t>(mask));
  for (size_t i = 0; i < slices.size(); ++i) {
    if (slices[i] != 0) w.u16(slices[i]);
  }
}

WindowCounter readWindow(ByteReader& r) {
  WindowCounter c;
  int64_t newest = r.i64();
  const auto mask = static_cast<uint64_t>(r.i64());
  std::array<uint16_t, WindowCounter::kSlices> counts{};
  if (mask >> WindowCounter::kSlices) {
    r.fail();  // bits beyond the slices: not our blob
    return c;
  }
  for (size_t i = 0; i < counts.size(); ++i) {
    if (mask & (uint64_t{1} << i)) counts[i] = r.u16();
  }
  if (r.ok()) c.restore(newest, counts);
  return c;
}

}  // namespace tollgate::admission
