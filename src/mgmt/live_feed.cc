#include "mgmt/live_feed.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "store/store.h"
#include "store/store_factory.h"

namespace tollgate::mgmt {

LiveFeed::LiveFeed(NodeControl& node, store::StoreTarget store)
    : node_(node), store_(std::move(store)) {}

LiveFeed::~LiveFeed() {
  stop();
}

void LiveFeed::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { run(); });
}

void LiveFeed::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<LiveSample> LiveFeed::history() const {
  std::lock_guard lock(mu_);
  return {ring_.begin(), ring_.end()};
}

bool LiveFeed::sample(LiveSample& s) {
  auto st = node_.stats();
  if (!st) return false;
  s.timeUs = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  s.invites = st->calls.invitesReceived;
  s.answered = st->calls.callsAnswered;
  s.failed = st->calls.callsFailed;
  s.activeCalls = st->activeCalls;
  s.shieldDropped = st->shield.dropped;
  s.bansPlaced = st->shield.bansPlaced;
  s.bansActive = st->shield.bansActive;
  // Talk time of the answered CDRs written since the last sample: only
  // those are read (ids above the newest seen); the first sample reads the
  // newest id only, so the hour starts at the node's start.
  if (!db_) {
    auto db = store::openStore(store_);
    if (db) db_ = std::move(db).value();
  }
  if (db_) {
    store::CdrQuery q;
    q.limit = lastCdrId_ < 0 ? 1 : kLiveCdrsPerSample;
    q.afterId = std::max<int64_t>(lastCdrId_, 0);
    auto rows = db_->listCdrs(q);
    if (rows) {
      for (const auto& c : *rows) {
        if (lastCdrId_ >= 0 && c.answerUs != 0) {
          ++s.cdrsAnswered;
          s.talkMs += c.durationMs;
        }
      }
      if (!rows->empty()) lastCdrId_ = rows->front().id;  // newest first
      if (lastCdrId_ < 0) lastCdrId_ = 0;
    }
  }
  return true;
}

void LiveFeed::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    LiveSample s;
    const bool ok = sample(s);
    lock.lock();
    if (ok) {
      ring_.push_back(s);
      while (ring_.size() > kLiveSamples) ring_.pop_front();
    }
    cv_.wait_for(lock, std::chrono::seconds(kLiveSampleSeconds), [this] { return stop_; });
  }
}

}  // namespace tollgate::mgmt
