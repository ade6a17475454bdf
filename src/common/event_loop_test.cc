// Timer wheel tests on fake MonoTime values (no sleeping) and event loop tests
// with real pipes, eventfd and threads.
#include "common/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <thread>

namespace tollgate {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

const MonoTime kT0 = MonoTime{} + hours(5);

// --------------------------------------------------------------- TimerWheel

TEST(TimerWheel, FiresInDeadlineOrder) {
  TimerWheel w(kT0);
  std::vector<int> fired;
  Timer a([&] { fired.push_back(1); });
  Timer b([&] { fired.push_back(2); });
  Timer c([&] { fired.push_back(3); });
  Timer d([&] { fired.push_back(4); });
  c.start(w, milliseconds(30));
  a.start(w, milliseconds(10));
  d.start(w, milliseconds(31));  // same 2 ms tick as c
  b.start(w, milliseconds(20));
  EXPECT_EQ(w.size(), 4u);
  w.advance(kT0 + seconds(1));  // one call covering all of them
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(w.size(), 0u);
  EXPECT_FALSE(a.active());
}

TEST(TimerWheel, EqualDeadlinesFireInStartOrder) {
  TimerWheel w(kT0);
  std::vector<int> fired;
  std::vector<std::unique_ptr<Timer>> timers;
  for (int i = 0; i < 10; ++i) {
    timers.push_back(std::make_unique<Timer>([&fired, i] { fired.push_back(i); }));
    timers.back()->start(w, milliseconds(5));
  }
  w.advance(kT0 + milliseconds(5));
  EXPECT_EQ(fired, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(TimerWheel, NeverFiresEarlyEvenOffTickBoundary) {
  TimerWheel w(kT0);
  w.advance(kT0 + microseconds(1300));  // wheel time in the middle of a tick
  int fired = 0;
  Timer t([&] { ++fired; });
  t.start(w, milliseconds(10));
  EXPECT_EQ(t.deadline(), kT0 + microseconds(11300));
  w.advance(kT0 + microseconds(11299));
  EXPECT_EQ(fired, 0);
  w.advance(kT0 + microseconds(11300));  // deadline <= now: fires, same tick or not
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, FiresAtMostOneTickLateWhenAdvancedEveryTick) {
  TimerWheel w(kT0);
  MonoTime firedAt{};
  Timer t([&] { firedAt = w.now(); });
  t.start(w, milliseconds(7));
  for (MonoTime now = kT0; firedAt == MonoTime{}; now += TimerWheel::kTick) w.advance(now);
  EXPECT_GE(firedAt, t.deadline());
  EXPECT_LE(firedAt - t.deadline(), TimerWheel::kTick);
}

TEST(TimerWheel, CancelPreventsFiring) {
  TimerWheel w(kT0);
  int fired = 0;
  Timer t([&] { ++fired; });
  t.start(w, milliseconds(10));
  EXPECT_TRUE(t.active());
  t.cancel();
  EXPECT_FALSE(t.active());
  EXPECT_EQ(w.size(), 0u);
  t.cancel();  // idempotent
  w.advance(kT0 + seconds(1));
  EXPECT_EQ(fired, 0);
}

TEST(TimerWheel, RestartMovesDeadlineAndFiresOnce) {
  TimerWheel w(kT0);
  int fired = 0;
  Timer t([&] { ++fired; });
  t.start(w, milliseconds(10));
  t.start(w, milliseconds(50));
  EXPECT_EQ(w.size(), 1u);
  w.advance(kT0 + milliseconds(20));
  EXPECT_EQ(fired, 0);
  w.advance(kT0 + milliseconds(60));
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, CallbackCancelsAnotherDueTimer) {
  TimerWheel w(kT0);
  int firedB = 0;
  Timer b([&] { ++firedB; });
  Timer a([&] { b.cancel(); });
  a.start(w, milliseconds(10));
  b.start(w, milliseconds(12));
  w.advance(kT0 + milliseconds(100));  // both due in this advance; a runs first
  EXPECT_EQ(firedB, 0);
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, CallbackRestartsItself) {
  TimerWheel w(kT0);
  std::vector<MonoTime> at;
  Timer t;
  t.setCallback([&] {
    at.push_back(w.now());
    if (at.size() < 5) t.start(w, milliseconds(100));
  });
  t.start(w, milliseconds(100));
  for (int ms = 0; ms <= 1000; ++ms) w.advance(kT0 + milliseconds(ms));
  ASSERT_EQ(at.size(), 5u);
  for (size_t i = 0; i < at.size(); ++i) EXPECT_EQ(at[i], kT0 + milliseconds(100 * (i + 1)));
}

TEST(TimerWheel, ZeroDelayRestartFiresOnNextAdvanceNotInALoop) {
  TimerWheel w(kT0);
  int fired = 0;
  Timer t;
  t.setCallback([&] {
    ++fired;
    t.start(w, milliseconds(0));
  });
  t.start(w, milliseconds(0));
  w.advance(kT0);
  EXPECT_EQ(fired, 1);
  w.advance(kT0);
  EXPECT_EQ(fired, 2);
  t.cancel();
}

TEST(TimerWheel, CallbackStartsOtherTimers) {
  TimerWheel w(kT0);
  std::vector<int> fired;
  Timer later([&] { fired.push_back(2); });
  Timer first([&] {
    fired.push_back(1);
    later.start(w, milliseconds(5));
  });
  first.start(w, milliseconds(5));
  w.advance(kT0 + milliseconds(5));
  EXPECT_EQ(fired, (std::vector<int>{1}));
  w.advance(kT0 + milliseconds(9));
  EXPECT_EQ(fired, (std::vector<int>{1}));
  w.advance(kT0 + milliseconds(10));
  EXPECT_EQ(fired, (std::vector<int>{1, 2}));
}

// An owner that embeds its timer, like a transaction does.
struct Owner {
  Timer timer;
  int* counter = nullptr;
};

TEST(TimerWheel, CallbackMayDestroyItsOwnTimer) {
  TimerWheel w(kT0);
  int fired = 0;
  auto* o = new Owner;
  o->counter = &fired;
  o->timer.setCallback([o] {
    ++*o->counter;
    delete o;  // destroys the Timer whose callback is running; touch nothing after
  });
  o->timer.start(w, milliseconds(10));
  w.advance(kT0 + milliseconds(10));
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, CallbackMayDestroyOtherDueTimers) {
  TimerWheel w(kT0);
  int fired = 0;
  std::vector<std::unique_ptr<Owner>> owners;
  for (int i = 0; i < 10; ++i) {
    owners.push_back(std::make_unique<Owner>());
    owners.back()->timer.setCallback([&, i] {
      ++fired;
      // The first one to fire destroys every other owner, due or not.
      for (int j = 0; j < 10; ++j) {
        if (j != i) owners[j].reset();
      }
    });
    owners.back()->timer.start(w, milliseconds(10 + i % 3));
  }
  w.advance(kT0 + milliseconds(50));
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, DestroyedTimerCancelsItself) {
  TimerWheel w(kT0);
  int fired = 0;
  {
    Timer t([&] { ++fired; });
    t.start(w, milliseconds(10));
    EXPECT_EQ(w.size(), 1u);
  }
  EXPECT_EQ(w.size(), 0u);
  w.advance(kT0 + seconds(1));
  EXPECT_EQ(fired, 0);
}

TEST(TimerWheel, HundredThousandTimersFireInOrderAndNeverEarly) {
  TimerWheel w(kT0);
  constexpr int kCount = 100000;
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> delay(0, 20000);  // up to 20 s: several revolutions
  std::vector<std::unique_ptr<Timer>> timers;
  timers.reserve(kCount);
  int fired = 0;
  int early = 0;
  MonoTime lastDeadline{};
  int outOfOrder = 0;
  for (int i = 0; i < kCount; ++i) {
    timers.push_back(std::make_unique<Timer>());
    Timer* t = timers.back().get();
    t->setCallback([&, t] {
      ++fired;
      if (t->deadline() > w.now()) ++early;
      if (t->deadline() < lastDeadline) ++outOfOrder;
      lastDeadline = t->deadline();
    });
    t->start(w, milliseconds(delay(rng)));
  }
  EXPECT_EQ(w.size(), static_cast<size_t>(kCount));
  // Cancel every tenth one.
  for (int i = 0; i < kCount; i += 10) timers[i]->cancel();
  for (int ms = 0; ms <= 20000; ms += 3) w.advance(kT0 + milliseconds(ms));
  w.advance(kT0 + milliseconds(20001));
  EXPECT_EQ(fired, kCount - kCount / 10);
  EXPECT_EQ(early, 0);
  EXPECT_EQ(outOfOrder, 0);
  EXPECT_EQ(w.size(), 0u);
}

TEST(TimerWheel, LongTimerWaitsManyRevolutions) {
  TimerWheel w(kT0);
  int fired = 0;
  Timer t([&] { ++fired; });
  t.start(w, seconds(7200));  // ~879 revolutions of 8.192 s
  for (int s = 0; s < 7200; ++s) w.advance(kT0 + seconds(s));
  w.advance(kT0 + seconds(7200) - microseconds(1));
  EXPECT_EQ(fired, 0);
  EXPECT_TRUE(t.active());
  w.advance(kT0 + seconds(7200));
  EXPECT_EQ(fired, 1);
}

TEST(TimerWheel, LongIdleGapFiresEverythingInOrderInOnePass) {
  TimerWheel w(kT0);
  std::vector<int> fired;
  Timer a([&] { fired.push_back(1); });
  Timer b([&] { fired.push_back(2); });
  Timer c([&] { fired.push_back(3); });
  Timer d([&] { fired.push_back(4); });
  Timer e([&] { fired.push_back(5); });
  // Same slot, different revolutions, in scrambled start order.
  d.start(w, milliseconds(8192 * 3));
  a.start(w, milliseconds(1));
  c.start(w, milliseconds(8192 * 2 + 1));
  b.start(w, milliseconds(8192 + 1));
  e.start(w, hours(100));
  auto begin = std::chrono::steady_clock::now();
  w.advance(kT0 + hours(10));  // 18 million ticks later
  auto spent = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_TRUE(e.active());
  EXPECT_LT(spent, milliseconds(50));  // one pass over 4096 slots, not 18M ticks
  w.advance(kT0 + hours(100));
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST(TimerWheel, NextTimeout) {
  TimerWheel w(kT0);
  EXPECT_FALSE(w.nextTimeout().has_value());
  Timer a([] {});
  Timer b([] {});
  a.start(w, milliseconds(100));
  EXPECT_EQ(w.nextTimeout(), milliseconds(100));
  b.start(w, milliseconds(40));
  EXPECT_EQ(w.nextTimeout(), milliseconds(40));
  w.advance(kT0 + milliseconds(30));
  EXPECT_EQ(w.nextTimeout(), milliseconds(10));
  w.advance(kT0 + microseconds(30500));  // rounds up: waking early would spin
  EXPECT_EQ(w.nextTimeout(), milliseconds(10));
  b.cancel();
  // A cancelled earlier timer may still cause one early wake; never a late one.
  ASSERT_TRUE(w.nextTimeout().has_value());
  EXPECT_LE(*w.nextTimeout(), milliseconds(70));
  w.advance(kT0 + milliseconds(40));
  EXPECT_EQ(w.nextTimeout(), milliseconds(60));
  a.cancel();
  EXPECT_FALSE(w.nextTimeout().has_value());
}

TEST(TimerWheel, NextTimeoutIsZeroWhenDue) {
  TimerWheel w(kT0);
  Timer a([] {});
  a.start(w, milliseconds(0));
  EXPECT_EQ(w.nextTimeout(), milliseconds(0));
}

TEST(TimerWheel, NextTimeoutForLongTimerWakesNoLaterThanDeadline) {
  TimerWheel w(kT0);
  int fired = 0;
  Timer t([&] { ++fired; });
  t.start(w, seconds(7200));
  // Follow nextTimeout like the event loop does; it may wake early (once per
  // revolution) but must reach the deadline exactly.
  MonoTime now = kT0;
  int wakes = 0;
  while (fired == 0 && wakes < 10000) {
    auto next = w.nextTimeout();
    ASSERT_TRUE(next.has_value());
    ASSERT_GT(*next, milliseconds(0));
    now += *next;
    w.advance(now);
    ++wakes;
  }
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(now, kT0 + seconds(7200));
  EXPECT_LT(wakes, 1000);
}

TEST(TimerWheel, DestroyingWheelDetachesTimers) {
  Timer t([] {});
  {
    TimerWheel w(kT0);
    t.start(w, milliseconds(10));
  }
  EXPECT_FALSE(t.active());
}

// ---------------------------------------------------------------- EventLoop

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
  void put() const { EXPECT_EQ(::write(w, "x", 1), 1); }
};

TEST(EventLoop, CallsBackOnPipeReadiness) {
  SystemClock clock;
  EventLoop loop(clock);
  Pipe p;
  uint32_t seen = 0;
  int calls = 0;
  loop.add(p.r, EPOLLIN, [&](uint32_t ev) {
    seen = ev;
    ++calls;
    char c;
    EXPECT_EQ(::read(p.r, &c, 1), 1);
  });
  loop.runOnce(milliseconds(0));
  EXPECT_EQ(calls, 0);
  p.put();
  loop.runOnce(milliseconds(1000));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(seen & EPOLLIN);
  loop.remove(p.r);
  p.put();
  loop.runOnce(milliseconds(0));
  EXPECT_EQ(calls, 1);
}

TEST(EventLoop, ModifySwitchesInterest) {
  SystemClock clock;
  EventLoop loop(clock);
  Pipe p;
  int writable = 0;
  loop.add(p.w, 0, [&](uint32_t ev) {
    if (ev & EPOLLOUT) ++writable;
  });
  loop.runOnce(milliseconds(0));
  EXPECT_EQ(writable, 0);
  loop.modify(p.w, EPOLLOUT);
  loop.runOnce(milliseconds(1000));
  EXPECT_EQ(writable, 1);
  loop.remove(p.w);
}

TEST(EventLoop, CallbackMayRemoveItselfAndOthers) {
  SystemClock clock;
  EventLoop loop(clock);
  Pipe a, b;
  int calls = 0;
  auto cb = [&](uint32_t) {
    ++calls;
    loop.remove(a.r);
    loop.remove(b.r);
  };
  loop.add(a.r, EPOLLIN, cb);
  loop.add(b.r, EPOLLIN, cb);
  a.put();
  b.put();
  loop.runOnce(milliseconds(1000));
  EXPECT_EQ(calls, 1);  // whichever ran first removed the other
  loop.runOnce(milliseconds(0));
  EXPECT_EQ(calls, 1);
}

TEST(EventLoop, StaleEventForReusedFdIsNotDelivered) {
  SystemClock clock;
  EventLoop loop(clock);
  Pipe a, b;
  int callsA = 0;
  int callsNew = 0;
  Pipe* fresh = nullptr;
  std::unique_ptr<Pipe> replacement;
  loop.add(a.r, EPOLLIN, [&](uint32_t) {
    ++callsA;
    // Close b and reuse its fd number for a new pipe, within the batch that
    // still carries b's old event.
    loop.remove(b.r);
    ::close(b.r);
    ::close(b.w);
    b.r = b.w = -1;
    replacement = std::make_unique<Pipe>();
    fresh = replacement.get();
    loop.add(fresh->r, EPOLLIN, [&](uint32_t) { ++callsNew; });
  });
  loop.add(b.r, EPOLLIN, [&](uint32_t) {
    loop.remove(a.r);  // b first: a's callback never runs, the test is moot
  });
  a.put();
  b.put();
  loop.runOnce(milliseconds(1000));
  if (callsA == 1) {
    EXPECT_EQ(callsNew, 0);  // fresh pipe is empty: no event may reach it
  }
  if (fresh) loop.remove(fresh->r);
  loop.remove(a.r);
}

TEST(EventLoop, PostFromAnotherThreadRunsOnLoopThread) {
  SystemClock clock;
  EventLoop loop(clock);
  std::atomic<int> ran{0};
  std::thread::id ranOn;
  std::thread poster([&] {
    for (int i = 0; i < 1000; ++i) loop.post([&] { ++ran; });
    loop.post([&] {
      ranOn = std::this_thread::get_id();
      loop.stop();
    });
  });
  auto begin = std::chrono::steady_clock::now();
  loop.run();
  poster.join();
  EXPECT_EQ(ran.load(), 1000);
  EXPECT_EQ(ranOn, std::this_thread::get_id());
  EXPECT_LT(std::chrono::steady_clock::now() - begin, seconds(2));
}

TEST(EventLoop, StopFromAnotherThreadWakesABlockedLoop) {
  SystemClock clock;
  EventLoop loop(clock);
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(50));
    loop.stop();
  });
  auto begin = std::chrono::steady_clock::now();
  loop.run();  // no fds, no timers: blocks in epoll_wait until woken
  stopper.join();
  EXPECT_TRUE(loop.stopping());
  EXPECT_LT(std::chrono::steady_clock::now() - begin, seconds(1));
}

TEST(EventLoop, RunOnceAfterStopStillServesADrain) {
  SystemClock clock;
  EventLoop loop(clock);
  loop.stop();
  loop.run();  // returns at once
  int fired = 0;
  Timer t([&] { ++fired; });
  t.start(loop.timers(), milliseconds(20));
  auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 5 && fired == 0; ++i) loop.runOnce(milliseconds(100));
  EXPECT_EQ(fired, 1);
  EXPECT_GE(std::chrono::steady_clock::now() - begin, milliseconds(20));
}

TEST(EventLoop, RunsTimersWithTheClock) {
  ManualClock clock;
  EventLoop loop(clock);
  int fired = 0;
  Timer t([&] { ++fired; });
  t.start(loop.timers(), milliseconds(100));
  clock.advance(milliseconds(99));
  loop.runOnce(milliseconds(0));
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(loop.now(), clock.now());
  clock.advance(milliseconds(1));
  loop.runOnce(milliseconds(0));
  EXPECT_EQ(fired, 1);
}

TEST(EventLoop, WaitsForTheNextTimerOnly) {
  SystemClock clock;
  EventLoop loop(clock);
  int fired = 0;
  Timer t([&] { ++fired; });
  t.start(loop.timers(), milliseconds(30));
  auto begin = std::chrono::steady_clock::now();
  while (fired == 0 && std::chrono::steady_clock::now() - begin < seconds(2)) {
    loop.runOnce(seconds(10));
  }
  auto spent = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(fired, 1);
  EXPECT_GE(spent, milliseconds(30));
  EXPECT_LT(spent, milliseconds(500));
}

TEST(EventLoop, FlushHooksRunAfterEachIteration) {
  SystemClock clock;
  EventLoop loop(clock);
  std::vector<std::string> order;
  loop.addFlushHook([&] { order.push_back("flush"); });
  loop.post([&] { order.push_back("post"); });
  loop.runOnce(milliseconds(0));
  loop.runOnce(milliseconds(0));
  EXPECT_EQ(order, (std::vector<std::string>{"post", "flush", "flush"}));
}

TEST(EventLoop, PostedTaskMayPostAnother) {
  SystemClock clock;
  EventLoop loop(clock);
  int n = 0;
  loop.post([&] {
    ++n;
    loop.post([&] { ++n; });
  });
  loop.runOnce(milliseconds(0));
  EXPECT_EQ(n, 1);
  auto begin = std::chrono::steady_clock::now();
  loop.runOnce(milliseconds(1000));  // must not wait: work is queued
  EXPECT_EQ(n, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, milliseconds(500));
}

}  // namespace
}  // namespace tollgate
