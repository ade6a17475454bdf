// AsyncCdrWriter: the CdrSink the data plane uses. submit() appends to a
// bounded in-memory queue and returns; a dedicated thread drains the queue
// into the store in batches (one transaction per batch, committed as soon as
// records are waiting, so a finished call's CDR is on disk within
// milliseconds: commitDelay() measures that window per CDR). When the queue is full, records are
// dropped and counted rather than blocking calls. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "call/cdr.h"
#include "common/latency_histogram.h"
#include "store/store.h"

namespace tollgate::store {

struct CdrWriterStats {
  uint64_t submitted = 0;
  uint64_t written = 0;
  uint64_t droppedQueueFull = 0;
  uint64_t writeErrors = 0;
  // Longest time from submit() (the call ended) to the commit of its CDR:
  // the window in which a kill -9 loses a finished call's CDR.
  int64_t commitDelayMaxUs = 0;
};

class AsyncCdrWriter final : public call::CdrSink {
 public:
  static constexpr size_t kDefaultQueueLimit = 100'000;

  // `open` is called on the writer thread to get its own store connection.
  AsyncCdrWriter(std::function<Result<std::unique_ptr<Store>, StoreError>()> open,
                 size_t queueLimit = kDefaultQueueLimit);
  ~AsyncCdrWriter() override;  // flushes and joins

  void submit(call::Cdr&& cdr) override;
  // Blocks until everything submitted so far is written (or failed).
  void flush();
  CdrWriterStats stats() const;
  // Time of each batch's write transaction (metrics: store latency).
  LatencyHistogram::Snapshot writeLatency() const { return latency_.snapshot(); }
  // Per CDR, submit() to commit: how long a finished call's CDR is only in
  // memory (docs/store.md, "The window").
  LatencyHistogram::Snapshot commitDelay() const { return commitDelay_.snapshot(); }

 private:
  void run();
  std::function<Result<std::unique_ptr<Store>, StoreError>()> open_;
  size_t queueLimit_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  struct Queued {
    call::Cdr cdr;
    std::chrono::steady_clock::time_point at;  // when submit() took it
  };
  std::deque<Queued> queue_;
  bool stop_ = false;
  uint64_t inFlight_ = 0;
  CdrWriterStats stats_;
  LatencyHistogram latency_;
  LatencyHistogram commitDelay_;
  std::thread thread_;
};

}  // namespace tollgate::store
