// Rate limit of one kind of log line that an attacker can trigger (a
// refused connection, a refused privilege): at most one line per interval;
// the line that is written says how many events it stands for. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace tollgate::mgmt {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogLimiter(Clock::duration interval = std::chrono::seconds(1)) : interval_(interval) {}

  // Counts one event. Returns the number of events this line stands for
  // (this one included) when a line may be written now, nullopt otherwise.
  std::optional<uint64_t> tick(Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mu_);
    ++pending_;
    if (now - last_ < interval_ && last_ != Clock::time_point{}) return std::nullopt;
    last_ = now;
    uint64_t n = pending_;
    pending_ = 0;
    return n;
  }

 private:
  std::mutex mu_;
  Clock::duration interval_;
  Clock::time_point last_{};
  uint64_t pending_ = 0;
};

}  // namespace tollgate::mgmt
