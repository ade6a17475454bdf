// Ban list persistence and polling for the running node. See ban_sync.h.
#include "app/ban_sync.h"

#include <chrono>

#include "common/log.h"
#include "shield/shield.h"
#include "store/store_factory.h"

namespace tollgate::app {

namespace {

int64_t wallUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Store errors are retried by reopening at most this often.
constexpr Millis kReopenBackoff{1000};

}  // namespace

store::BanRow rowOf(const shield::BanInfo& ban) {
  store::BanRow r;
  r.address = shield::toString(ban.prefix);
  r.reason = std::string(shield::banReasonName(ban.reason));
  r.detail = ban.detail;
  r.origin = ban.manual ? "manual" : "auto";
  r.createdUs = ban.createdUs;
  r.expiresUs = ban.expiresUs;
  r.hits = static_cast<int64_t>(ban.hits);
  r.level = ban.level;
  return r;
}

std::optional<shield::BanInfo> infoOf(const store::BanRow& row) {
  auto p = shield::parsePrefix(row.address);
  if (!p) return std::nullopt;
  shield::BanInfo b;
  b.prefix = *p;
  b.reason = shield::banReasonFromName(row.reason);
  b.detail = row.detail;
  b.createdUs = row.createdUs;
  b.expiresUs = row.expiresUs;
  b.hits = row.hits > 0 ? static_cast<uint64_t>(row.hits) : 0;
  b.level = row.level;
  b.manual = row.origin == "manual";
  b.active = !row.deleted;
  return b;
}

BanSync::BanSync(store::StoreTarget storeTarget, Millis pollInterval,
                 std::chrono::seconds banMemory, EventLoop& loop, shield::Shield& shield)
    : target_(std::move(storeTarget)),
      pollInterval_(pollInterval),
      banMemory_(banMemory),
      loop_(loop),
      shield_(shield) {}

BanSync::~BanSync() {
  stop();
}

store::BanStore* BanSync::storeOrNull() {
  if (store_) return store_.get();
  const auto now = std::chrono::steady_clock::now();
  if (now < nextOpen_) return nullptr;
  auto opened = store::openBanStore(target_);
  if (!opened) {
    nextOpen_ = now + kReopenBackoff;
    log::error("shield.ban_store_failed").kv("error", opened.error().message);
    return nullptr;
  }
  store_ = std::move(opened).value();
  return store_.get();
}

void BanSync::loadInitial() {
  store::BanStore* st = storeOrNull();
  if (st == nullptr) return;
  const int64_t now = wallUs();
  const int64_t memoryUs =
      std::chrono::duration_cast<std::chrono::microseconds>(banMemory_).count();
  if (auto purged = st->purgeBans(
          now - memoryUs,
          now -
              std::chrono::duration_cast<std::chrono::microseconds>(kTombstoneRetention).count())) {
    stats_.purged += *purged;
  }
  nextPurge_ = std::chrono::steady_clock::now() + kBanPurgeInterval;
  size_t active = 0, history = 0;
  for (;;) {
    auto page = st->bansChangedSince(cursor_, kBanPollPage);
    if (!page) {
      log::error("shield.ban_load_failed").kv("error", page.error().message);
      store_.reset();
      return;
    }
    if (page->empty()) break;
    cursor_ = {page->back().seq, page->back().address};
    for (const store::BanRow& row : *page) {
      if (row.deleted) continue;
      auto info = infoOf(row);
      if (!info) {
        log::warn("shield.ban_row_invalid").kv("address", row.address);
        continue;
      }
      shield_.applyStoredBan(*info);
      (row.activeAt(now) ? active : history) += 1;
    }
  }
  log::info("shield.bans_loaded").kv("active", active).kv("history", history);
}

void BanSync::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void BanSync::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BanSync::put(const shield::BanInfo& ban) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rows_.size() >= kMaxPendingBanWrites) {
      ++stats_.droppedFull;
      return;
    }
    rows_.push_back(rowOf(ban));
  }
  cv_.notify_one();
}

void BanSync::remove(const shield::PrefixKey& prefix) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rows_.size() >= kMaxPendingBanWrites) {
      ++stats_.droppedFull;
      return;
    }
    store::BanRow row;
    row.address = shield::toString(prefix);
    row.deleted = true;  // a delete, not a row to write
    rows_.push_back(std::move(row));
  }
  cv_.notify_one();
}

void BanSync::hits(const std::vector<shield::BanHits>& hits) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const shield::BanHits& h : hits) {
    if (hits_.size() >= kMaxPendingBanWrites) break;  // the next report carries them
    hits_.emplace_back(shield::toString(h.prefix), static_cast<int64_t>(h.hits));
  }
}

void BanSync::flush(Millis timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  flushNow_ = true;
  cv_.notify_all();
  idle_.wait_for(lock, timeout, [this] {
    return (rows_.empty() && hits_.empty() && !busy_) || !thread_.joinable();
  });
}

void BanSync::pollNow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pollNow_ = true;
  }
  cv_.notify_all();
}

BanSyncStats BanSync::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void BanSync::writePending() {
  std::vector<store::BanRow> rows;
  std::vector<std::pair<std::string, int64_t>> hits;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rows.assign(std::make_move_iterator(rows_.begin()), std::make_move_iterator(rows_.end()));
    rows_.clear();
    hits.swap(hits_);
  }
  if (rows.empty() && hits.empty()) return;
  store::BanStore* st = storeOrNull();
  if (st == nullptr) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.writeErrors += rows.size();
    return;
  }
  // Deletes (rows marked deleted) go one by one, in order with the writes
  // around them.
  std::vector<store::BanRow> puts;
  for (store::BanRow& row : rows) {
    if (!row.deleted) {
      puts.push_back(std::move(row));
      continue;
    }
    if (!puts.empty()) {
      auto r = st->putBans(puts);
      std::lock_guard<std::mutex> lock(mu_);
      (r ? stats_.written : stats_.writeErrors) += puts.size();
      puts.clear();
    }
    if (auto r = st->deleteBan(row.address); !r) {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.writeErrors;
      log::error("shield.ban_write_failed").kv("rows", 1).kv("error", r.error().message);
    }
  }
  rows = std::move(puts);
  if (!rows.empty()) {
    auto r = st->putBans(rows);
    std::lock_guard<std::mutex> lock(mu_);
    if (r) {
      stats_.written += rows.size();
    } else {
      stats_.writeErrors += rows.size();
      log::error("shield.ban_write_failed").kv("rows", rows.size()).kv("error", r.error().message);
    }
  }
  if (!hits.empty()) {
    if (auto r = st->setHits(hits); !r) {
      log::warn("shield.ban_hits_write_failed").kv("error", r.error().message);
    }
  }
}

void BanSync::poll() {
  store::BanStore* st = storeOrNull();
  if (st == nullptr) return;
  auto seq = st->banSequence();
  if (!seq) {
    log::warn("shield.ban_poll_failed").kv("error", seq.error().message);
    store_.reset();
    return;
  }
  if (*seq <= cursor_.seq) return;
  for (;;) {
    auto page = st->bansChangedSince(cursor_, kBanPollPage);
    if (!page) {
      log::warn("shield.ban_poll_failed").kv("error", page.error().message);
      store_.reset();
      return;
    }
    if (page->empty()) return;
    cursor_ = {page->back().seq, page->back().address};
    std::vector<shield::BanInfo> changes;
    changes.reserve(page->size());
    for (const store::BanRow& row : *page) {
      if (auto info = infoOf(row)) changes.push_back(std::move(*info));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.applied += changes.size();
    }
    shield::Shield* sh = &shield_;
    loop_.post([sh, changes = std::move(changes)] {
      for (const shield::BanInfo& b : changes) {
        if (b.active) {
          sh->applyStoredBan(b);
        } else {
          sh->liftBan(b.prefix);
        }
      }
    });
    if (page->size() < kBanPollPage) return;
  }
}

void BanSync::run() {
  auto nextPoll = std::chrono::steady_clock::now() + pollInterval_;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_until(lock, nextPoll,
                   [this] { return stop_ || flushNow_ || pollNow_ || !rows_.empty(); });
    const bool stopping = stop_;
    const bool pollNow = pollNow_;
    flushNow_ = false;
    pollNow_ = false;
    busy_ = true;
    lock.unlock();
    writePending();
    const auto now = std::chrono::steady_clock::now();
    if (!stopping && (now >= nextPoll || pollNow)) {
      poll();
      nextPoll = now + pollInterval_;
    }
    if (!stopping && now >= nextPurge_ && storeOrNull() != nullptr) {
      const int64_t wall = wallUs();
      auto n = store_->purgeBans(
          wall - std::chrono::duration_cast<std::chrono::microseconds>(banMemory_).count(),
          wall -
              std::chrono::duration_cast<std::chrono::microseconds>(kTombstoneRetention).count());
      nextPurge_ = now + kBanPurgeInterval;
      lock.lock();
      if (n) stats_.purged += *n;
      lock.unlock();
    }
    lock.lock();
    busy_ = false;
    idle_.notify_all();
  }
  busy_ = false;
  idle_.notify_all();
}

}  // namespace tollgate::app
