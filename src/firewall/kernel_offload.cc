// The kernel offload thread. See kernel_offload.h.
#include "firewall/kernel_offload.h"

#include "common/log.h"

namespace tollgate::firewall {

KernelOffload::KernelOffload(NftSetup setup) : setup_(std::move(setup)) {}

KernelOffload::~KernelOffload() {
  stop();
}

void KernelOffload::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void KernelOffload::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void KernelOffload::push(Change&& c) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stats_.unavailable) return;  // user-space-only mode: nothing to do
    if (queue_.size() >= kMaxQueuedChanges) {
      ++stats_.queueDropped;
      return;
    }
    queue_.push_back(std::move(c));
    ++queued_;
  }
  cv_.notify_one();
}

void KernelOffload::ban(const net::Cidr& prefix, int64_t timeoutSeconds) {
  Change c;
  c.kind = Change::Ban;
  c.prefix = prefix;
  c.timeoutSeconds = timeoutSeconds;
  push(std::move(c));
}

void KernelOffload::unban(const net::Cidr& prefix) {
  Change c;
  c.kind = Change::Unban;
  c.prefix = prefix;
  push(std::move(c));
}

void KernelOffload::setTrusted(std::vector<net::Cidr> trusted) {
  Change c;
  c.kind = Change::Trusted;
  c.trusted = std::move(trusted);
  push(std::move(c));
}

bool KernelOffload::flush(Millis timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = queued_;
  return done_.wait_for(lock, timeout,
                        [&] { return applied_ >= target || stats_.unavailable || stop_; });
}

FirewallStats KernelOffload::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void KernelOffload::apply(std::vector<Change>& batch) {
  // Consecutive bans go to the kernel in one transaction; order is kept
  // otherwise (a ban and its lift must not swap).
  std::vector<NftBan> bans;
  uint64_t added = 0, removed = 0, failed = 0;
  std::string lastError;
  auto flushBans = [&] {
    if (bans.empty()) return;
    std::string error;
    const size_t bad = set_.add(bans, &error);
    added += bans.size() - bad;
    failed += bad;
    if (bad > 0) lastError = error;
    bans.clear();
  };
  for (Change& c : batch) {
    switch (c.kind) {
      case Change::Ban:
        bans.push_back(NftBan{c.prefix, c.timeoutSeconds});
        break;
      case Change::Unban:
        flushBans();
        set_.remove({c.prefix});
        ++removed;
        break;
      case Change::Trusted: {
        flushBans();
        auto r = set_.setTrusted(c.trusted);
        if (!r) {
          ++failed;
          lastError = r.error();
        }
        break;
      }
    }
  }
  flushBans();
  if (failed > 0) {
    log::warn("firewall.elements_failed").kv("count", failed).kv("error", lastError);
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.bansAdded += added;
  stats_.bansRemoved += removed;
  stats_.elementsFailed += failed;
}

void KernelOffload::run() {
  auto opened = set_.open(setup_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (opened) {
      stats_.active = true;
    } else {
      stats_.unavailable = true;
      applied_ += queue_.size();
      queue_.clear();
    }
  }
  if (!opened) {
    // Once: the node keeps running with the shield alone.
    log::warn("firewall.offload_unavailable")
        .kv("table", "inet " + setup_.table)
        .kv("error", opened.error())
        .kv("mode", "user-space only")
        .kv("hint", "needs CAP_NET_ADMIN and nf_tables; see `tollgate doctor`");
    done_.notify_all();
    return;
  }
  log::info("firewall.offload_active").kv("table", "inet " + setup_.table);

  auto nextCounter = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait_until(lock, nextCounter, [this] { return stop_ || !queue_.empty(); });
    if (stop_ && queue_.empty()) break;
    std::vector<Change> batch(std::make_move_iterator(queue_.begin()),
                              std::make_move_iterator(queue_.end()));
    queue_.clear();
    lock.unlock();
    apply(batch);
    if (std::chrono::steady_clock::now() >= nextCounter) {
      auto drops = set_.droppedPackets();
      nextCounter = std::chrono::steady_clock::now() + kCounterRefresh;
      lock.lock();
      if (drops) stats_.kernelDrops = *drops;
    } else {
      lock.lock();
    }
    applied_ += batch.size();
    done_.notify_all();
  }
  lock.unlock();
  auto drops = set_.droppedPackets();  // the final count, before the table goes
  set_.close();
  std::lock_guard<std::mutex> l(mu_);
  if (drops) stats_.kernelDrops = *drops;
  stats_.active = false;
  done_.notify_all();
}

}  // namespace tollgate::firewall
