// PolicySync's thread. See policy_sync.h.
#include "store/policy_sync.h"

#include <chrono>

#include "common/clock.h"
#include "common/log.h"

namespace tollgate::store {

namespace {
// Change-log rows older than this are pruned: every node polls far more
// often, so all have applied them.
constexpr int64_t kChangeLogKeepUs = 86'400'000'000;  // one day
constexpr auto kPruneEvery = std::chrono::minutes(10);

std::string keyOf(std::string_view number, admission::NumberSide side) {
  std::string k(admission::sideName(side));
  k += ':';
  k.append(number);
  return k;
}
}  // namespace

PolicySync::PolicySync(Factory factory, Millis pollInterval, int64_t lastChangeId,
                       ChangeHandler onChanges)
    : factory_(std::move(factory)),
      pollInterval_(pollInterval),
      lastChangeId_(lastChangeId),
      onChanges_(std::move(onChanges)) {
  thread_ = std::thread([this] { run(); });
}

PolicySync::~PolicySync() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PolicySync::saveEntry(const admission::BlacklistEntry& e) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string k = keyOf(e.number, e.side);
  auto it = pending_.find(k);
  if (it == pending_.end() && pending_.size() >= kMaxPending) {
    ++stats_.droppedFull;
    return;
  }
  BlacklistWrite w;
  w.entry = e;
  pending_[std::move(k)] = std::move(w);
  ++submitted_;
  cv_.notify_one();
}

void PolicySync::eraseEntry(std::string_view number, admission::NumberSide side) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string k = keyOf(number, side);
  auto it = pending_.find(k);
  if (it == pending_.end() && pending_.size() >= kMaxPending) {
    ++stats_.droppedFull;
    return;
  }
  BlacklistWrite w;
  w.erase = true;
  w.entry.number = std::string(number);
  w.entry.side = side;
  pending_[std::move(k)] = std::move(w);
  ++submitted_;
  cv_.notify_one();
}

void PolicySync::saveCounters(std::string_view name, std::string blob) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_[std::string(name)] = std::move(blob);
  ++submitted_;
  cv_.notify_one();
}

void PolicySync::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = submitted_;
  cv_.notify_one();
  flushed_.wait(lock, [&] { return done_ >= target || thread_.get_id() == std::thread::id(); });
}

PolicySyncStats PolicySync::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void PolicySync::writeBatch(PolicyStore* st, std::map<std::string, BlacklistWrite>&& entries,
                            std::map<std::string, std::string>&& counters) {
  if (!entries.empty()) {
    std::vector<BlacklistWrite> ws;
    ws.reserve(entries.size());
    for (auto& [k, w] : entries) ws.push_back(std::move(w));
    auto r =
        st ? st->writeBlacklist(ws) : Result<Ok, StoreError>(Err{StoreError{"store not open"}});
    std::lock_guard<std::mutex> lock(mu_);
    if (r.ok()) {
      stats_.entriesWritten += ws.size();
    } else {
      ++stats_.writeErrors;
      log::error("blacklist.write_failed").kv("entries", ws.size()).kv("error", r.error().message);
    }
  }
  if (!counters.empty()) {
    std::vector<std::pair<std::string, std::string>> blobs(counters.begin(), counters.end());
    auto r =
        st ? st->saveCounters(blobs) : Result<Ok, StoreError>(Err{StoreError{"store not open"}});
    std::lock_guard<std::mutex> lock(mu_);
    if (r.ok()) {
      stats_.countersWritten += blobs.size();
    } else {
      ++stats_.writeErrors;
      log::error("policy.counters_write_failed").kv("error", r.error().message);
    }
  }
}

void PolicySync::run() {
  std::unique_ptr<PolicyStore> st;
  auto lastPoll = std::chrono::steady_clock::now();
  auto lastPrune = std::chrono::steady_clock::time_point{};
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait_for(lock, pollInterval_, [this] {
      return stop_ || !pending_.empty() || !counters_.empty() || done_ < submitted_;
    });
    const bool stopping = stop_;
    std::map<std::string, BlacklistWrite> entries;
    entries.swap(pending_);
    std::map<std::string, std::string> counters;
    counters.swap(counters_);
    const uint64_t target = submitted_;
    lock.unlock();

    if (!st) {
      auto opened = factory_();
      if (opened.ok()) {
        st = std::move(opened).value();
      } else if (!entries.empty() || !counters.empty()) {
        log::error("policy.store_open_failed").kv("error", opened.error().message);
      }
    }
    writeBatch(st.get(), std::move(entries), std::move(counters));

    const auto now = std::chrono::steady_clock::now();
    if (st && !stopping && now - lastPoll >= pollInterval_) {
      lastPoll = now;
      auto changes = st->blacklistChangesSince(lastChangeId_, kChangesPerPoll);
      if (changes.ok() && !changes->empty()) {
        lastChangeId_ = changes->back().id;
        {
          std::lock_guard<std::mutex> g(mu_);
          stats_.changesSeen += changes->size();
        }
        if (onChanges_) onChanges_(std::move(changes).value());
      }
      if (now - lastPrune >= kPruneEvery) {
        lastPrune = now;
        const int64_t wall = SystemClock().wallMicros();
        if (auto r = st->pruneBlacklist(wall, wall - kChangeLogKeepUs); !r) {
          log::warn("blacklist.prune_failed").kv("error", r.error().message);
        }
      }
    }

    lock.lock();
    done_ = std::max(done_, target);
    flushed_.notify_all();
    if (stopping && pending_.empty() && counters_.empty()) break;
  }
  done_ = submitted_;
  flushed_.notify_all();
}

}  // namespace tollgate::store
