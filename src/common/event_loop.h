// The per-worker event loop: epoll readiness callbacks, a hashed timer wheel
// for the many short protocol timers (RFC 3261 timers A-K, call limits), a
// thread-safe post() queue woken through an eventfd, and end-of-iteration
// flush hooks (used to send batched datagrams). Written for this project
// rather than taken from Asio because the hot path wants recvmmsg/sendmmsg
// batching and O(1) intrusive timers without a heap allocation per timer.
//
// Threading: confined to its worker, except post() and stop(), which are
// thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/clock.h"

namespace tollgate {

class TimerWheel;

// An intrusive one-shot timer. Embed it in the object that owns the timeout
// (a transaction, a call); it cancels itself when destroyed. Not copyable or
// movable: the wheel links to it by address. The callback may destroy the
// timer's owner (and so the timer) or restart the timer.
class Timer {
 public:
  Timer() = default;
  explicit Timer(std::function<void()> onFire) : onFire_(std::move(onFire)) {}
  ~Timer() { cancel(); }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void setCallback(std::function<void()> onFire) { onFire_ = std::move(onFire); }
  // (Re)arms the timer to fire `after` from the wheel's current time. A
  // running timer is re-armed, never fired twice.
  void start(TimerWheel& wheel, Millis after);
  void cancel();
  bool active() const { return wheel_ != nullptr; }
  MonoTime deadline() const { return deadline_; }

 private:
  friend class TimerWheel;
  std::function<void()> onFire_;
  TimerWheel* wheel_ = nullptr;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  MonoTime deadline_{};
  uint64_t expiryTick_ = 0;  // absolute tick; slot = expiryTick_ % kSlots, rounds implied
  uint64_t seq_ = 0;         // start order: equal deadlines fire first-started first
};

// Hashed wheel of kSlots slots, kTick apart. start/cancel are O(1); advance()
// costs the slots passed plus the timers fired. A timer fires no earlier than
// its deadline and at most one tick (plus loop latency) after it.
class TimerWheel {
 public:
  static constexpr Millis kTick{2};
  static constexpr size_t kSlots = 4096;  // one revolution = 8.192 s

  explicit TimerWheel(MonoTime start);
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Fires every timer whose deadline is <= now, in deadline order (ties in
  // start order). Timers started by a callback with a deadline <= now fire on
  // the next advance(), never in the same one, so a callback that re-arms
  // itself with 0 delay cannot spin. Work is bounded by one pass over the
  // slots however long the gap since the previous advance().
  void advance(MonoTime now);
  MonoTime now() const { return now_; }
  // Time until the earliest pending timer may be due; nullopt when none.
  std::optional<Millis> nextTimeout() const;
  size_t size() const { return size_; }

 private:
  friend class Timer;
  void link(Timer* t);
  void unlink(Timer* t);
  uint64_t tickOf(MonoTime t) const;
  MonoTime tickStart(uint64_t tick) const;
  void recomputeEarliest() const;

  MonoTime start_;
  MonoTime now_;
  uint64_t currentTick_ = 0;
  size_t size_ = 0;
  uint64_t nextSeq_ = 0;
  std::vector<Timer*> slots_;  // heads of doubly linked lists
  // Timers taken out of their slots by advance() and not fired yet, in firing
  // order. A callback may cancel (or destroy) any of them: unlink() knows
  // this list, so nothing dangles.
  Timer* dueHead_ = nullptr;
  std::vector<Timer*> dueScratch_;  // reused for sorting; no allocation once warm
  // A lower bound on every pending deadline (MonoTime::max() when none
  // known). Lets advance() return in O(1) when nothing can be due and spares
  // nextTimeout() a slot scan per loop iteration. start() lowers it; cancel
  // leaves it (an early bound only costs one extra wake-up).
  mutable MonoTime earliest_;
  mutable bool earliestValid_ = true;
};

class EventLoop {
 public:
  using IoCallback = std::function<void(uint32_t epollEvents)>;

  explicit EventLoop(const Clock& clock);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Registers fd for EPOLLIN/EPOLLOUT/... readiness. The callback runs on this
  // worker. remove() before closing the fd.
  void add(int fd, uint32_t events, IoCallback cb);
  void modify(int fd, uint32_t events);
  void remove(int fd);

  // Thread-safe: runs fn on this worker soon.
  void post(std::function<void()> fn);
  // Called at the end of every loop iteration, after I/O and timers.
  void addFlushHook(std::function<void()> fn);

  TimerWheel& timers() { return wheel_; }
  // Time as of the start of this loop iteration (cheap; no syscall).
  MonoTime now() const { return wheel_.now(); }
  const Clock& clock() const { return clock_; }

  // One iteration: wait for readiness (no longer than maxWait or the next
  // timer; not at all when posts are queued), advance the timers to
  // clock().now(), run the readiness callbacks, then the posted functions,
  // then the flush hooks. A callback may remove any fd, its own included: an
  // event already fetched for a removed fd is not delivered, even if the fd
  // number is reused at once.
  //
  // Runs until stop(). Thread-safe stop().
  void run();
  // Runs one iteration waiting at most `maxWait`; for tests and shutdown drains.
  void runOnce(Millis maxWait);
  void stop();
  bool stopping() const;

 private:
  struct Impl;
  const Clock& clock_;
  TimerWheel wheel_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate
