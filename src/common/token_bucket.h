// Token buckets, the one implementation behind every rate limit: the
// shield's per-source and per-prefix buckets (iptables hashlimit), call
// rate limits of gateways and accounts, trace sessions, refusal logs and
// CDRs of illegal calls. Tokens refill continuously at `rate` per second up
// to `burst`; an event passes when a whole token is there and takes it. A
// bucket never used is full.
//
// BasicTokenBucket is the state alone: rate and burst are passed to each
// call, so a table of a million buckets sharing one limit (the shield's)
// stores 16 bytes per bucket, with the tokens as float and the time as
// integer milliseconds. TokenBucket adds its own rate and burst for a
// bucket that has a limit of its own (a gateway's cps) and keeps its
// tokens when that limit changes.
//
// Values; externally synchronized (each owner confines its buckets to its
// worker or guards them with its own lock). Nothing here allocates.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>

#include "common/clock.h"

namespace tollgate {

// Tokens earned at `rate` per second between two instants: MonoTime, or
// integer milliseconds (a caller that keeps compact times).
inline double tokensEarned(MonoTime from, MonoTime to, double rate) {
  return std::chrono::duration<double>(to - from).count() * rate;
}
inline double tokensEarned(int64_t fromMs, int64_t toMs, double rate) {
  return static_cast<double>(toMs - fromMs) * rate / 1000.0;
}

// Tokens: double, or float where many buckets are stored. Time: MonoTime,
// or int64_t milliseconds.
template <typename Tokens, typename Time>
class BasicTokenBucket {
 public:
  // Adds the tokens earned since the last refill, up to `burst`; a bucket
  // never used (or never started) fills up. Time that does not move
  // forward earns nothing.
  void refill(Time now, double rate, double burst) {
    if (!started_) {
      fill(now, burst);
    } else if (now > last_) {
      tokens_ = static_cast<Tokens>(
          std::min(static_cast<double>(tokens_) + tokensEarned(last_, now, rate), burst));
      last_ = now;
    }
  }
  // Refills, then takes one token when a whole one is there. False (and
  // nothing taken) when the event is over the rate.
  [[nodiscard]] bool tryTake(Time now, double rate, double burst) {
    refill(now, rate, burst);
    if (!hasToken()) return false;
    take();
    return true;
  }
  // For callers that check other things between the check and the take.
  bool hasToken() const { return tokens_ >= static_cast<Tokens>(1); }
  void take() { tokens_ -= static_cast<Tokens>(1); }

  // Full now: a new limit, or an entry that expired while idle.
  void fill(Time now, double burst) {
    tokens_ = static_cast<Tokens>(burst);
    last_ = now;
    started_ = true;
  }
  // Keeps at most `burst` tokens (a limit lowered in place).
  void cap(double burst) {
    tokens_ = static_cast<Tokens>(std::min(static_cast<double>(tokens_), burst));
  }

  // How long until a whole token is there at `rate` (for Retry-After).
  Millis untilNextToken(double rate) const {
    if (tokens_ >= static_cast<Tokens>(1) || rate <= 0) return Millis(0);
    const double seconds = (1.0 - static_cast<double>(tokens_)) / rate;
    return Millis(static_cast<int64_t>(std::ceil(seconds * 1000.0)));
  }

  bool started() const { return started_; }
  // The last refill (Time{} before the first): a caller's idle test.
  Time last() const { return last_; }
  Tokens tokens() const { return tokens_; }

 private:
  Time last_{};
  Tokens tokens_{};
  bool started_ = false;
};

// A bucket with a limit of its own. Unlimited (rate 0) until configured.
class TokenBucket {
 public:
  // A new limit starts with a full bucket; a changed one keeps what is left
  // (capped), so a reload cannot be used to get a fresh burst.
  void configure(double rate, double burst, MonoTime now) {
    const bool wasLimited = limited();
    state_.refill(now, rate_, burst_);
    if (wasLimited) {
      state_.cap(burst);
    } else {
      state_.fill(now, burst);
    }
    rate_ = rate;
    burst_ = burst;
  }
  bool limited() const { return rate_ > 0; }
  // True when a token is there now (nothing taken; see take()). Always
  // true when unlimited.
  bool available(MonoTime now) {
    if (!limited()) return true;
    state_.refill(now, rate_, burst_);
    return state_.hasToken();
  }
  void take() { state_.take(); }
  // available() and take() at once.
  [[nodiscard]] bool tryTake(MonoTime now) {
    if (!available(now)) return false;
    if (limited()) take();
    return true;
  }
  // How long until the next token (for Retry-After); 0 when unlimited.
  Millis untilNextToken() const { return limited() ? state_.untilNextToken(rate_) : Millis(0); }

 private:
  double rate_ = 0;
  double burst_ = 0;
  BasicTokenBucket<double, MonoTime> state_;
};

}  // namespace tollgate
