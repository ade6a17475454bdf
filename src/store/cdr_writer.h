// AsyncCdrWriter: the CdrSink the data plane uses. submit() appends to a
// bounded in-memory queue and returns; a dedicated thread drains the queue
// into the store in batches (one transaction per batch, committed as soon as
// records are waiting, so a finished call's CDR is on disk within
// milliseconds: commitDelay() measures that window per CDR). When the queue is full, records are
// dropped and counted rather than blocking calls.
//
// With a spool (CdrSpoolSettings::dir, the PostgreSQL backend), every CDR
// gets a uid unique across nodes and restarts, and a batch the database
// does not take (down, or no answer within the connection's query
// timeout) is appended to the local spool (cdr_spool.h, fsync'd) instead of
// being lost; while the spool holds anything, new batches go behind it, and
// the writer replays it in order, a chunk at a time, as soon as the
// database answers again (docs/store.md, "Outage behaviour"). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "call/cdr.h"
#include "common/latency_histogram.h"
#include "store/cdr_spool.h"
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
  // With a spool: CDRs appended to it, replayed from it into the store
  // (written counts only direct writes), and what it holds now.
  uint64_t spooled = 0;
  uint64_t replayed = 0;
  uint64_t spoolRecords = 0;
  uint64_t spoolBytes = 0;
  int64_t spoolOldestUs = 0;  // wall µs the oldest spooled CDR waits since; 0 = empty
  bool storeUp = true;        // the last write or replay reached the store
};

struct CdrSpoolSettings {
  std::string dir;   // "" = no spool
  std::string node;  // first part of every uid (the node id)
  uint64_t maxBytes = kDefaultSpoolMaxBytes;
};

class AsyncCdrWriter final : public call::CdrSink {
 public:
  static constexpr size_t kDefaultQueueLimit = 100'000;

  // `open` is called on the writer thread to get its own store connection.
  // With spool.dir set, the spool is opened here (an error is logged and the
  // writer runs without it: spoolReady() tells).
  AsyncCdrWriter(std::function<Result<std::unique_ptr<Store>, StoreError>()> open,
                 size_t queueLimit = kDefaultQueueLimit, CdrSpoolSettings spool = {});
  ~AsyncCdrWriter() override;  // flushes and joins

  void submit(call::Cdr&& cdr) override;
  // Blocks until everything submitted so far is written, spooled (or failed).
  void flush();
  // Blocks until the spool is empty or `timeout` passes; true when empty.
  bool waitSpoolEmpty(std::chrono::milliseconds timeout);
  bool spoolReady() const { return spool_ != nullptr; }
  CdrWriterStats stats() const;
  // Time of each batch's write transaction (metrics: store latency).
  LatencyHistogram::Snapshot writeLatency() const { return latency_.snapshot(); }
  // Per CDR, submit() to commit: how long a finished call's CDR is only in
  // memory (docs/store.md, "The window").
  LatencyHistogram::Snapshot commitDelay() const { return commitDelay_.snapshot(); }

 private:
  void run();
  // Writes the batch to the store (one attempt with a spool, else a few),
  // else spools it; returns what became of it.
  enum class Fate { Written, Spooled, Lost };
  Fate writeOrSpool(Store* store, std::vector<call::Cdr>& batch,
                    const std::vector<std::string>& uids, std::string* error);
  // One chunk of the spool into the store; false when the store refused.
  bool replayChunk(Store& store, std::string* error);
  void publishSpool();  // spool figures into stats_ (mu_ held)
  std::function<Result<std::unique_ptr<Store>, StoreError>()> open_;
  std::unique_ptr<CdrSpool> spool_;
  std::string uidPrefix_;
  uint64_t uidSeq_ = 0;
  size_t queueLimit_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::condition_variable spoolDrained_;
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
