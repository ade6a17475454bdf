// Clocks passed into every component that reads time, so tests can drive a
// ManualClock. MonoTime is for timers and intervals; wall time (microseconds
// since the Unix epoch) is for CDRs and logs. SystemClock is thread-safe;
// ManualClock is externally synchronized.
#pragma once

#include <chrono>
#include <cstdint>

namespace tollgate {

using MonoTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;
using Micros = std::chrono::microseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime now() const = 0;
  virtual int64_t wallMicros() const = 0;
};

class SystemClock final : public Clock {
 public:
  MonoTime now() const override { return std::chrono::steady_clock::now(); }
  int64_t wallMicros() const override {
    return std::chrono::duration_cast<Micros>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock final : public Clock {
 public:
  ManualClock() : mono_(MonoTime{} + std::chrono::hours(1)), wall_(1'700'000'000'000'000) {}
  MonoTime now() const override { return mono_; }
  int64_t wallMicros() const override { return wall_; }
  void advance(Micros d) {
    mono_ += d;
    wall_ += d.count();
  }

 private:
  MonoTime mono_;
  int64_t wall_;
};

}  // namespace tollgate
