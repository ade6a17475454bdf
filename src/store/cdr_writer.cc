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

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
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
// Records per replay transaction: large enough that a backlog of an hour at
// 100 calls/s replays in a minute or two, small enough that one replay
// transaction never holds the writer (and new batches) for long.
constexpr size_t kReplayChunk = 1000;
// After the store refused a write or a replay, the next replay attempt waits
// this long (new batches go to the spool meanwhile).
constexpr auto kReplayRetryInterval = std::chrono::seconds(1);

std::unique_ptr<CdrSpool> openSpool(const CdrSpoolSettings& s) {
  if (s.dir.empty()) return nullptr;
  auto opened = CdrSpool::open(s.dir, s.maxBytes);
  if (!opened) {
    log::error("cdr.spool_open_failed").kv("error", opened.error().message);
    return nullptr;
  }
  auto spool = std::move(opened).value();
  if (spool->pendingRecords() > 0) {
    log::warn("cdr.spool_found")
        .kv("records", spool->pendingRecords())
        .kv("bytes", spool->pendingBytes())
        .kv("dir", s.dir);
  }
  return spool;
}

// "<node>/<16 hex random>/": the random part tells this process's CDRs
// from those of every earlier run and of another node given the same name.
std::string uidPrefixFor(const std::string& node) {
  uint64_t r = 0;
  if (FILE* f = std::fopen("/dev/urandom", "rb")) {
    if (std::fread(&r, sizeof r, 1, f) != 1) r = 0;
    std::fclose(f);
  }
  if (r == 0) {
    r = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
        static_cast<uint64_t>(::getpid());
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
  return (node.empty() ? std::string("node") : node) + "/" + hex + "/";
}

int64_t wallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

AsyncCdrWriter::AsyncCdrWriter(std::function<Result<std::unique_ptr<Store>, StoreError>()> open,
                               size_t queueLimit, CdrSpoolSettings spool)
    : open_(std::move(open)),
      spool_(openSpool(spool)),
      uidPrefix_(spool_ ? uidPrefixFor(spool.node) : std::string()),
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
  drained_.wait(lock,
                [&] { return stats_.written + stats_.spooled + stats_.writeErrors >= accepted; });
}

bool AsyncCdrWriter::waitSpoolEmpty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return spoolDrained_.wait_for(lock, timeout, [&] { return stats_.spoolRecords == 0; });
}

void AsyncCdrWriter::publishSpool() {
  if (!spool_) return;
  stats_.spoolRecords = spool_->pendingRecords();
  stats_.spoolBytes = spool_->pendingBytes();
  stats_.spoolOldestUs = spool_->oldestSpooledUs();
  if (stats_.spoolRecords == 0) spoolDrained_.notify_all();
}

AsyncCdrWriter::Fate AsyncCdrWriter::writeOrSpool(Store* store, std::vector<call::Cdr>& batch,
                                                  const std::vector<std::string>& uids,
                                                  std::string* error) {
  // Behind a backlog, a batch goes to the spool: CDRs reach the store in
  // the order the calls ended.
  const bool behind = spool_ && spool_->pendingRecords() > 0;
  if (store != nullptr && !behind) {
    const int attempts = spool_ ? 1 : kWriteAttempts;  // the spool is the retry
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      const auto t0 = SteadyClock::now();
      auto r = spool_ ? store->writeCdrsOnce(batch, uids) : store->writeCdrs(batch);
      latency_.record(SteadyClock::now() - t0);
      if (r) return Fate::Written;
      *error = r.error().message;
      if (attempt < attempts) std::this_thread::sleep_for(kWriteRetryPause);
    }
  }
  if (!spool_) return Fate::Lost;
  std::vector<SpooledCdr> records;
  records.reserve(batch.size());
  const int64_t now = wallMicros();
  for (size_t i = 0; i < batch.size(); ++i) {
    records.push_back(SpooledCdr{uids[i], now, batch[i]});
  }
  if (auto r = spool_->append(records); !r) {
    *error = r.error().message;
    return Fate::Lost;
  }
  return Fate::Spooled;
}

bool AsyncCdrWriter::replayChunk(Store& store, std::string* error) {
  auto chunk = spool_->peek(kReplayChunk);
  if (!chunk) {
    *error = chunk.error().message;
    return false;
  }
  std::vector<call::Cdr> cdrs;
  std::vector<std::string> uids;
  cdrs.reserve(chunk->size());
  uids.reserve(chunk->size());
  for (auto& r : *chunk) {
    if (r.uid.empty()) continue;  // a line this build cannot read (logged by count below)
    cdrs.push_back(std::move(r.cdr));
    uids.push_back(std::move(r.uid));
  }
  const auto t0 = SteadyClock::now();
  auto w = store.writeCdrsOnce(cdrs, uids);
  latency_.record(SteadyClock::now() - t0);
  if (!w) {
    *error = w.error().message;
    return false;
  }
  if (auto c = spool_->consume(chunk->size()); !c) {
    // The rows are in the store; the head did not move, so they will be
    // offered again and skipped by uid.
    *error = c.error().message;
    return false;
  }
  std::lock_guard lock(mu_);
  stats_.replayed += cdrs.size();
  stats_.writeErrors += chunk->size() - cdrs.size();
  return true;
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
  std::vector<std::string> uids;
  std::vector<SteadyClock::time_point> submittedAt;
  SteadyClock::time_point nextReplay = SteadyClock::now();
  bool wasUp = true;
  std::unique_lock lock(mu_);
  publishSpool();
  for (;;) {
    const bool replayDue = spool_ && spool_->pendingRecords() > 0;
    if (replayDue) {
      // Wake for new CDRs, or when the next replay attempt is due.
      wake_.wait_until(lock, std::max(nextReplay, SteadyClock::now()),
                       [&] { return stop_ || !queue_.empty(); });
    } else {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    }
    if (queue_.empty() && stop_) break;  // nothing left to write (a spool stays for next start)
    taken.swap(queue_);  // O(1) under the lock; submit() never waits on the copy below
    inFlight_ = taken.size();
    lock.unlock();

    bool storeOk = true;
    bool attempted = false;  // a write or a replay reached out to the store
    if (!taken.empty()) {
      attempted = true;
      batch.clear();
      uids.clear();
      submittedAt.clear();
      batch.reserve(taken.size());
      submittedAt.reserve(taken.size());
      for (auto& q : taken) {
        batch.push_back(std::move(q.cdr));
        submittedAt.push_back(q.at);
        if (spool_) uids.push_back(uidPrefix_ + std::to_string(++uidSeq_));
      }
      taken.clear();

      // Behind a backlog the batch goes to the spool without trying the
      // store: it says nothing about the store, and must not put off the
      // replay (at 50 calls/s a batch comes every 20 ms).
      const bool behind = spool_ && spool_->pendingRecords() > 0;
      if (!behind && !store && SteadyClock::now() - lastOpen >= kReopenInterval) tryOpen();
      if (!store) lastError = "store not open: " + openError;
      const Fate fate = writeOrSpool(store.get(), batch, uids, &lastError);
      storeOk = fate == Fate::Written;
      if (behind) attempted = false;

      int64_t maxDelayUs = 0;
      if (fate != Fate::Lost) {
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
      if (fate == Fate::Written) {
        stats_.written += batch.size();
      } else if (fate == Fate::Spooled) {
        stats_.spooled += batch.size();
      } else {
        stats_.writeErrors += batch.size();
      }
      inFlight_ = 0;
      publishSpool();
      drained_.notify_all();
      lock.unlock();
      if (!storeOk && !behind && spool_) {
        nextReplay = std::max(nextReplay, SteadyClock::now() + kReplayRetryInterval);
      }
    }

    // The spool, a chunk per turn (new batches in between), once the
    // database answers again.
    if (spool_ && spool_->pendingRecords() > 0 && SteadyClock::now() >= nextReplay) {
      if (!store && SteadyClock::now() - lastOpen >= kReopenInterval) tryOpen();
      std::string replayError;
      attempted = true;
      const bool ok = store && replayChunk(*store, &replayError);
      if (!ok) {
        storeOk = false;
        if (!replayError.empty()) lastError = replayError;
        nextReplay = SteadyClock::now() + kReplayRetryInterval;
      }
      if (ok && spool_->pendingRecords() == 0) {
        log::info("cdr.spool_replayed").kv("replayed_total", stats().replayed);
      }
      if (ok) storeOk = true;
    }
    if (spool_ && attempted && storeOk != wasUp) {
      wasUp = storeOk;
      if (storeOk) {
        log::info("cdr.store_back").kv("spooled_records", spool_->pendingRecords());
      } else {
        log::warn("cdr.spooling")
            .kv("error", lastError)
            .kv("spooled_records", spool_->pendingRecords())
            .kv("dir", spool_->directory());
      }
    }

    lock.lock();
    if (attempted) stats_.storeUp = storeOk;
    publishSpool();
    const CdrWriterStats now = stats_;
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
