// Timer wheel and epoll event loop behind event_loop.h.
#include "common/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/log.h"

namespace tollgate {

// ---------------------------------------------------------------- Timer

void Timer::start(TimerWheel& wheel, Millis after) {
  cancel();
  if (after < Millis(0)) after = Millis(0);
  deadline_ = wheel.now() + after;
  wheel.link(this);
}

void Timer::cancel() {
  if (wheel_ != nullptr) wheel_->unlink(this);
}

// ---------------------------------------------------------------- TimerWheel

TimerWheel::TimerWheel(MonoTime start)
    : start_(start), now_(start), slots_(kSlots, nullptr), earliest_(MonoTime::max()) {}

TimerWheel::~TimerWheel() {
  // Detach survivors so their destructors do not reach back into a dead wheel.
  auto detach = [](Timer* t) {
    while (t != nullptr) {
      Timer* next = t->next_;
      t->wheel_ = nullptr;
      t->prev_ = t->next_ = nullptr;
      t = next;
    }
  };
  for (Timer* head : slots_) detach(head);
  detach(dueHead_);
}

uint64_t TimerWheel::tickOf(MonoTime t) const {
  if (t <= start_) return 0;
  return static_cast<uint64_t>((t - start_) / kTick);  // floor: tick k covers [k, k+1) ticks
}

MonoTime TimerWheel::tickStart(uint64_t tick) const {
  return start_ + kTick * static_cast<int64_t>(tick);
}

void TimerWheel::link(Timer* t) {
  t->wheel_ = this;
  // deadline_ >= now_, so the tick is never behind currentTick_: every slotted
  // timer has expiryTick_ >= currentTick_ (advance() and recomputeEarliest()
  // rely on it).
  t->expiryTick_ = std::max(tickOf(t->deadline_), currentTick_);
  t->seq_ = nextSeq_++;
  Timer*& head = slots_[t->expiryTick_ % kSlots];
  t->prev_ = nullptr;
  t->next_ = head;
  if (head != nullptr) head->prev_ = t;
  head = t;
  ++size_;
  if (earliestValid_ && t->deadline_ < earliest_) earliest_ = t->deadline_;
}

void TimerWheel::unlink(Timer* t) {
  if (t->prev_ != nullptr) {
    t->prev_->next_ = t->next_;
  } else if (dueHead_ == t) {
    dueHead_ = t->next_;
  } else {
    slots_[t->expiryTick_ % kSlots] = t->next_;
  }
  if (t->next_ != nullptr) t->next_->prev_ = t->prev_;
  t->prev_ = t->next_ = nullptr;
  t->wheel_ = nullptr;
  --size_;
}

void TimerWheel::advance(MonoTime now) {
  if (now < now_) now = now_;  // a steady clock never goes back; be safe anyway
  now_ = now;
  const uint64_t nowTick = tickOf(now);
  if (size_ == 0 || (earliestValid_ && now < earliest_)) {
    currentTick_ = nowTick;
    return;
  }

  // Collect due timers from the slots of ticks [currentTick_, nowTick]. The
  // current tick's slot is scanned again because it may hold timers whose
  // deadline lies later in that tick. After a long idle gap the span is
  // capped at one revolution: every slot is visited once and any timer,
  // whatever its round, is due exactly when deadline_ <= now.
  uint64_t span = nowTick - currentTick_ + 1;
  if (span > kSlots) span = kSlots;
  dueScratch_.clear();
  for (uint64_t i = 0; i < span; ++i) {
    Timer*& head = slots_[(currentTick_ + i) % kSlots];
    for (Timer* t = head; t != nullptr;) {
      Timer* next = t->next_;
      if (t->deadline_ <= now) {
        if (t->prev_ != nullptr) {
          t->prev_->next_ = next;
        } else {
          head = next;
        }
        if (next != nullptr) next->prev_ = t->prev_;
        dueScratch_.push_back(t);
      }
      t = next;
    }
  }
  currentTick_ = nowTick;
  earliestValid_ = false;
  if (dueScratch_.empty()) return;

  std::sort(dueScratch_.begin(), dueScratch_.end(), [](const Timer* a, const Timer* b) {
    return a->deadline_ != b->deadline_ ? a->deadline_ < b->deadline_ : a->seq_ < b->seq_;
  });
  // Move them to the due list before running any callback: from here on a
  // callback may cancel, restart or destroy any of them and unlink() keeps
  // the list intact. dueScratch_ is not touched again, so it cannot dangle.
  Timer* prev = nullptr;
  for (Timer* t : dueScratch_) {
    t->prev_ = prev;
    t->next_ = nullptr;
    if (prev != nullptr) {
      prev->next_ = t;
    } else {
      dueHead_ = t;
    }
    prev = t;
  }
  dueScratch_.clear();

  while (dueHead_ != nullptr) {
    Timer* t = dueHead_;
    dueHead_ = t->next_;
    if (dueHead_ != nullptr) dueHead_->prev_ = nullptr;
    t->next_ = nullptr;
    t->wheel_ = nullptr;
    --size_;
    // The callback may destroy t (its owner); t is not touched afterwards.
    if (t->onFire_) t->onFire_();
  }
}

void TimerWheel::recomputeEarliest() const {
  earliestValid_ = true;
  if (size_ == 0) {
    earliest_ = MonoTime::max();
    return;
  }
  if (dueHead_ != nullptr) {  // asked from inside a callback: something is due now
    earliest_ = dueHead_->deadline_;
    return;
  }
  // Slots in tick order from the current one; the first slot holding a timer
  // of this revolution holds the earliest deadline (later ticks start later).
  for (uint64_t i = 0; i < kSlots; ++i) {
    const uint64_t tick = currentTick_ + i;
    MonoTime best = MonoTime::max();
    for (const Timer* t = slots_[tick % kSlots]; t != nullptr; t = t->next_) {
      if (t->expiryTick_ == tick && t->deadline_ < best) best = t->deadline_;
    }
    if (best != MonoTime::max()) {
      earliest_ = best;
      return;
    }
  }
  // Only timers of later revolutions: none can be due before the next one.
  earliest_ = tickStart(currentTick_ + kSlots);
}

std::optional<Millis> TimerWheel::nextTimeout() const {
  if (size_ == 0) return std::nullopt;
  if (!earliestValid_) recomputeEarliest();
  if (earliest_ <= now_) return Millis(0);
  // Round up: waking before the deadline would only spin.
  return std::chrono::ceil<Millis>(earliest_ - now_);
}

// ---------------------------------------------------------------- EventLoop

namespace {
// Readiness events taken per epoll_wait; more simply wait for the next turn.
constexpr int kMaxEventsPerWait = 256;
// run() wakes at least this often even with nothing to do.
constexpr Millis kIdleWait{std::chrono::seconds(60)};
// epoll data of the eventfd; fd entries use a nonzero generation.
constexpr uint64_t kWakeToken = ~uint64_t{0};
}  // namespace

struct EventLoop::Impl {
  struct Entry {
    int fd;
    uint32_t gen;
    IoCallback cb;
  };

  int epfd = -1;
  int wakefd = -1;
  // Indexed by fd. The generation, also stored in the epoll data, tells a
  // stale event (fd removed, maybe re-added, earlier in the same batch) from
  // a current one.
  std::vector<std::unique_ptr<Entry>> entries;
  // Removed entries wait here until the iteration ends, so a callback may
  // remove its own fd (destroying the running std::function otherwise).
  std::vector<std::unique_ptr<Entry>> retired;
  uint32_t nextGen = 1;

  std::mutex postMu;
  std::vector<std::function<void()>> posted;  // guarded by postMu
  std::atomic<bool> hasPosted{false};
  std::vector<std::function<void()>> running;  // swapped out of posted

  std::vector<std::function<void()>> flushHooks;
  std::atomic<bool> stop{false};
  epoll_event events[kMaxEventsPerWait];

  void wake() const {
    uint64_t one = 1;
    // EAGAIN means the counter is already nonzero: the loop will wake anyway.
    ssize_t n = ::write(wakefd, &one, sizeof one);
    (void)n;
  }
  void drainWake() const {
    uint64_t v;
    ssize_t n = ::read(wakefd, &v, sizeof v);
    (void)n;
  }
};

EventLoop::EventLoop(const Clock& clock)
    : clock_(clock), wheel_(clock.now()), impl_(std::make_unique<Impl>()) {
  // Start-up: failing here means the process cannot work at all.
  impl_->epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (impl_->epfd < 0)
    throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  impl_->wakefd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->wakefd < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeToken;
  if (::epoll_ctl(impl_->epfd, EPOLL_CTL_ADD, impl_->wakefd, &ev) != 0) {
    throw std::runtime_error(std::string("epoll_ctl(eventfd): ") + std::strerror(errno));
  }
}

EventLoop::~EventLoop() {
  if (impl_->wakefd >= 0) ::close(impl_->wakefd);
  if (impl_->epfd >= 0) ::close(impl_->epfd);
}

void EventLoop::add(int fd, uint32_t events, IoCallback cb) {
  if (fd < 0) return;
  Impl& m = *impl_;
  if (static_cast<size_t>(fd) >= m.entries.size()) m.entries.resize(static_cast<size_t>(fd) + 64);
  auto& slot = m.entries[static_cast<size_t>(fd)];
  const bool existed = slot != nullptr;
  if (existed) m.retired.push_back(std::move(slot));
  uint32_t gen = m.nextGen++;
  if (gen == 0) gen = m.nextGen++;
  slot = std::make_unique<Impl::Entry>(Impl::Entry{fd, gen, std::move(cb)});
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = (static_cast<uint64_t>(gen) << 32) | static_cast<uint32_t>(fd);
  if (::epoll_ctl(m.epfd, existed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) {
    log::error("loop.epoll_add_failed").kv("fd", fd).kv("error", std::strerror(errno));
    m.retired.push_back(std::move(slot));
  }
}

void EventLoop::modify(int fd, uint32_t events) {
  Impl& m = *impl_;
  if (fd < 0 || static_cast<size_t>(fd) >= m.entries.size() || !m.entries[fd]) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = (static_cast<uint64_t>(m.entries[fd]->gen) << 32) | static_cast<uint32_t>(fd);
  if (::epoll_ctl(m.epfd, EPOLL_CTL_MOD, fd, &ev) != 0) {
    log::error("loop.epoll_mod_failed").kv("fd", fd).kv("error", std::strerror(errno));
  }
}

void EventLoop::remove(int fd) {
  Impl& m = *impl_;
  if (fd < 0 || static_cast<size_t>(fd) >= m.entries.size() || !m.entries[fd]) return;
  ::epoll_ctl(m.epfd, EPOLL_CTL_DEL, fd, nullptr);
  m.retired.push_back(std::move(m.entries[fd]));
}

void EventLoop::post(std::function<void()> fn) {
  Impl& m = *impl_;
  bool wasEmpty;
  {
    std::lock_guard<std::mutex> lock(m.postMu);
    wasEmpty = m.posted.empty();
    m.posted.push_back(std::move(fn));
    m.hasPosted.store(true, std::memory_order_release);
  }
  // One wake-up per batch: later posts find the queue non-empty and know the
  // loop has been (or will be) woken.
  if (wasEmpty) m.wake();
}

void EventLoop::addFlushHook(std::function<void()> fn) {
  impl_->flushHooks.push_back(std::move(fn));
}

void EventLoop::run() {
  while (!impl_->stop.load(std::memory_order_acquire)) runOnce(kIdleWait);
}

void EventLoop::runOnce(Millis maxWait) {
  Impl& m = *impl_;

  // Wait no longer than the earliest timer, measured from the real time now
  // (the wheel's time is as of the start of this iteration's work).
  int64_t waitMs = std::max<int64_t>(0, maxWait.count());
  // stop() needs no special case: it wakes the eventfd, and run() checks the
  // flag before each turn. A runOnce() after stop() (a shutdown drain) still
  // waits normally.
  if (m.hasPosted.load(std::memory_order_acquire)) {
    waitMs = 0;
  } else if (auto next = wheel_.nextTimeout()) {
    auto elapsed = std::chrono::floor<Millis>(clock_.now() - wheel_.now());
    waitMs = std::min<int64_t>(waitMs, std::max<int64_t>(0, (*next - elapsed).count()));
  }
  if (waitMs > INT_MAX) waitMs = INT_MAX;

  int n = ::epoll_wait(m.epfd, m.events, kMaxEventsPerWait, static_cast<int>(waitMs));
  if (n < 0) {
    if (errno != EINTR) log::error("loop.epoll_wait_failed").kv("error", std::strerror(errno));
    n = 0;
  }

  wheel_.advance(clock_.now());

  for (int i = 0; i < n; ++i) {
    const uint64_t data = m.events[i].data.u64;
    if (data == kWakeToken) {
      m.drainWake();
      continue;
    }
    const int fd = static_cast<int>(static_cast<uint32_t>(data));
    const uint32_t gen = static_cast<uint32_t>(data >> 32);
    if (static_cast<size_t>(fd) >= m.entries.size()) continue;
    Impl::Entry* e = m.entries[fd].get();
    if (e == nullptr || e->gen != gen) continue;  // removed during this batch
    e->cb(m.events[i].events);
  }

  if (m.hasPosted.load(std::memory_order_acquire)) {
    {
      std::lock_guard<std::mutex> lock(m.postMu);
      m.running.swap(m.posted);
      m.hasPosted.store(false, std::memory_order_relaxed);
    }
    for (auto& fn : m.running) fn();
    m.running.clear();
  }

  // By index: a hook may add another hook.
  for (size_t i = 0; i < m.flushHooks.size(); ++i) m.flushHooks[i]();

  m.retired.clear();
}

void EventLoop::stop() {
  impl_->stop.store(true, std::memory_order_release);
  impl_->wake();
}

bool EventLoop::stopping() const {
  return impl_->stop.load(std::memory_order_acquire);
}

}  // namespace tollgate
