// AsyncCdrWriter (cdr_writer.h): group commit of CDRs on one writer thread.
//
// The writer sleeps on a condition variable while the queue is empty. The
// first submit() wakes it; it then takes *every* queued record at once and
// writes them in one transaction. At low load a batch is one record and is on
// disk about a millisecond after the call ended; at high load records pile up
// while a commit runs and the next commit takes them all, so the per-commit
// cost is shared and throughput grows with load instead of collapsing.
//
// Accounting: every accepted record ends either written or as a write error,
// in FIFO order, so
//   submitted == droppedQueueFull + written + writeErrors + (queued or in flight)
// and flush() waits for written + writeErrors to reach the number of records
// accepted before it was called.
#include "store/cdr_writer.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"

namespace tollgate::store {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A transient failure (another process holding the write lock past the
// backend's busy timeout, a full disk being cleaned up) should not cost CDRs
// at once; a permanent one must not stall the queue forever.
constexpr int kWriteAttempts = 3;
constexpr auto kWriteRetryPause = std::chrono::milliseconds(100);
// A store that failed to open is retried at most this often; meanwhile
// batches fail fast (counted as write errors) instead of queueing unbounded.
constexpr auto kReopenInterval = std::chrono::seconds(1);
// Write failures and queue drops are logged at most this often, with totals:
// a broken disk must not also flood the log.
constexpr auto kProblemLogInterval = std::chrono::seconds(1);

}  // namespace

AsyncCdrWriter::AsyncCdrWriter(std::function<Result<std::unique_ptr<Store>, StoreError>()> open,
                               size_t queueLimit)
    : open_(std::move(open)),
      queueLimit_(queueLimit == 0 ? 1 : queueLimit),
      thread_([this] { run(); }) {}

AsyncCdrWriter::~AsyncCdrWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  // run() drains the queue before it returns.
  thread_.join();
}

void AsyncCdrWriter::submit(call::Cdr&& cdr) {
  bool wasEmpty;
  {
    std::lock_guard lock(mu_);
    ++stats_.submitted;
    if (queue_.size() >= queueLimit_) {
      // Never block a call on the disk. The writer thread logs drops.
      ++stats_.droppedQueueFull;
      return;
    }
    wasEmpty = queue_.empty();
    queue_.push_back(Queued{std::move(cdr), SteadyClock::now()});
  }
  // The writer waits only while the queue is empty, and re-checks the queue
  // under the lock after every batch: only the empty -> non-empty transition
  // needs a wake-up.
  if (wasEmpty) wake_.notify_one();
}

void AsyncCdrWriter::flush() {
  std::unique_lock lock(mu_);
  const uint64_t accepted = stats_.submitted - stats_.droppedQueueFull;
  drained_.wait(lock, [&] { return stats_.written + stats_.writeErrors >= accepted; });
}

CdrWriterStats AsyncCdrWriter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void AsyncCdrWriter::run() {
  std::unique_ptr<Store> store;
  SteadyClock::time_point lastOpen;
  std::string openError;
  auto tryOpen = [&] {
    lastOpen = SteadyClock::now();
    auto opened = open_();
    if (opened) {
      store = std::move(opened.value());
      return;
    }
    openError = opened.error().message;
    log::error("cdr.store_open_failed").kv("error", openError);
  };
  tryOpen();

  // Write failures and queue drops since the last report, logged outside the
  // lock with running totals.
  SteadyClock::time_point lastProblemLog = SteadyClock::now() - kProblemLogInterval;
  uint64_t loggedErrors = 0;
  uint64_t loggedDrops = 0;
  std::string lastError;
  auto report = [&](const CdrWriterStats& s) {
    lastProblemLog = SteadyClock::now();
    if (s.writeErrors != loggedErrors) {
      log::error("cdr.write_failed")
          .kv("lost", s.writeErrors - loggedErrors)
          .kv("lost_total", s.writeErrors)
          .kv("error", lastError);
      loggedErrors = s.writeErrors;
    }
    if (s.droppedQueueFull != loggedDrops) {
      log::warn("cdr.queue_full")
          .kv("dropped", s.droppedQueueFull - loggedDrops)
          .kv("dropped_total", s.droppedQueueFull)
          .kv("queue_limit", queueLimit_);
      loggedDrops = s.droppedQueueFull;
    }
  };
  auto hasProblems = [&](const CdrWriterStats& s) {
    return s.writeErrors != loggedErrors || s.droppedQueueFull != loggedDrops;
  };

  std::deque<Queued> taken;
  std::vector<call::Cdr> batch;
  std::vector<SteadyClock::time_point> submittedAt;
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stop_ and nothing left to write
    taken.swap(queue_);         // O(1) under the lock; submit() never waits on the copy below
    inFlight_ = taken.size();
    lock.unlock();

    batch.clear();
    submittedAt.clear();
    batch.reserve(taken.size());
    submittedAt.reserve(taken.size());
    for (auto& q : taken) {
      batch.push_back(std::move(q.cdr));
      submittedAt.push_back(q.at);
    }
    taken.clear();

    bool written = false;
    if (!store && SteadyClock::now() - lastOpen >= kReopenInterval) tryOpen();
    if (store) {
      for (int attempt = 1; attempt <= kWriteAttempts; ++attempt) {
        const auto t0 = SteadyClock::now();
        auto r = store->writeCdrs(batch);
        latency_.record(SteadyClock::now() - t0);
        if (r) {
          written = true;
          break;
        }
        lastError = r.error().message;
        if (attempt < kWriteAttempts) std::this_thread::sleep_for(kWriteRetryPause);
      }
    } else {
      lastError = "store not open: " + openError;
    }

    int64_t maxDelayUs = 0;
    if (written) {
      const auto committed = SteadyClock::now();
      for (const auto& at : submittedAt) {
        const auto d = committed - at;
        commitDelay_.record(d);
        maxDelayUs = std::max<int64_t>(
            maxDelayUs, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
      }
    }
    lock.lock();
    stats_.commitDelayMaxUs = std::max(stats_.commitDelayMaxUs, maxDelayUs);
    if (written) {
      stats_.written += batch.size();
    } else {
      stats_.writeErrors += batch.size();
    }
    inFlight_ = 0;
    const CdrWriterStats now = stats_;
    drained_.notify_all();

    if (hasProblems(now) && SteadyClock::now() - lastProblemLog >= kProblemLogInterval) {
      lock.unlock();
      report(now);
      lock.lock();
    }
  }

  // Shutting down: whatever the rate limit held back is said once now.
  const CdrWriterStats last = stats_;
  lock.unlock();
  if (hasProblems(last)) report(last);
}

}  // namespace tollgate::store
