// Bindings and suspensions between the worker and the store. See
// auth_state.h.
#include "app/auth_state.h"

#include <chrono>
#include <memory>

#include "common/log.h"
#include "store/registration_store.h"
#include "store/store_factory.h"
#include "store/suspension_store.h"

namespace tollgate::app {

namespace {

int64_t wallNowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---------------------------------------------------------------------------
// StateWriter

StateWriter::StateWriter(store::StoreTarget storeTarget, std::string node)
    : target_(std::move(storeTarget)), node_(std::move(node)) {
  thread_ = std::thread([this] { run(); });
}

StateWriter::~StateWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StateWriter::push(Job&& job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= kMaxPendingStateWrites) {
      ++stats_.dropped;
      const int64_t now = wallNowUs();
      if (now - lastDropLogUs_ > 1'000'000) {
        lastDropLogUs_ = now;
        log::warn("state.queue_full").kv("dropped", stats_.dropped);
      }
      return;
    }
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void StateWriter::bindingSaved(const registrar::Binding& b) {
  Job j{Job::Kind::SaveBinding, b, {}};
  j.binding.node = node_;
  push(std::move(j));
}

void StateWriter::bindingRemoved(const registrar::Binding& b) {
  Job j{Job::Kind::RemoveBinding, b, {}};
  push(std::move(j));
}

void StateWriter::onSuspended(const auth::Suspension& s) {
  log::warn("auth.suspended")
      .kv("kind", auth::suspensionKindName(s.kind))
      .kv("username", s.username)
      .kv("source", s.source.toString())
      .kv("seconds", (s.untilUs - s.sinceUs) / 1'000'000)
      .kv("offenses", s.offenses)
      .kv("failures", s.failures);
  Job j{Job::Kind::SaveSuspension, {}, s};
  push(std::move(j));
}

void StateWriter::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

StateWriter::Stats StateWriter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void StateWriter::run() {
  std::unique_ptr<store::RegistrationStore> regs;
  std::unique_ptr<store::SuspensionStore> susp;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (stop_) break;
      continue;
    }
    std::deque<Job> batch;
    batch.swap(queue_);
    busy_ = true;
    lock.unlock();
    uint64_t written = 0, errors = 0;
    if (!regs || !susp) {
      auto r = store::openRegistrationStore(target_);
      auto s = store::openSuspensionStore(target_);
      if (r.ok() && s.ok()) {
        regs = std::move(r).value();
        susp = std::move(s).value();
      } else {
        log::error("state.store_open_failed")
            .kv("error", !r.ok() ? r.error().message : s.error().message);
      }
    }
    for (const Job& j : batch) {
      if (!regs || !susp) {
        ++errors;
        continue;
      }
      Result<Ok, store::StoreError> r = Ok{};
      switch (j.kind) {
        case Job::Kind::SaveBinding:
          r = regs->saveBinding(j.binding);
          break;
        case Job::Kind::RemoveBinding:
          r = regs->removeBinding(j.binding.username, j.binding.contact);
          break;
        case Job::Kind::SaveSuspension:
          r = susp->saveSuspension(j.suspension);
          break;
      }
      if (r.ok()) {
        ++written;
      } else {
        ++errors;
        log::error("state.write_failed").kv("error", r.error().message);
      }
    }
    lock.lock();
    stats_.written += written;
    stats_.errors += errors;
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
  busy_ = false;
  idle_.notify_all();
}

// ---------------------------------------------------------------------------
// SuspensionClearWatcher

SuspensionClearWatcher::SuspensionClearWatcher(store::StoreTarget storeTarget, Millis poll,
                                               EventLoop& loop, auth::AuthRetryLimiter& limiter)
    : target_(std::move(storeTarget)), poll_(poll), loop_(loop), limiter_(limiter) {}

SuspensionClearWatcher::~SuspensionClearWatcher() {
  stop();
}

void SuspensionClearWatcher::start() {
  thread_ = std::thread([this] { run(); });
}

void SuspensionClearWatcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SuspensionClearWatcher::pollNow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pollNow_ = true;
  }
  cv_.notify_all();
}

void SuspensionClearWatcher::run() {
  std::unique_ptr<store::SuspensionStore> st;
  uint64_t version = 0;
  bool haveVersion = false;
  int64_t lastPurgeUs = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, poll_, [this] { return stop_ || pollNow_; });
    if (stop_) break;
    pollNow_ = false;
    lock.unlock();
    if (!st) {
      auto opened = store::openSuspensionStore(target_);
      if (opened.ok()) st = std::move(opened).value();
    }
    if (st) {
      auto v = st->authVersion();
      if (v.ok() && (!haveVersion || *v != version)) {
        haveVersion = true;
        version = *v;
        auto cleared = st->takeCleared();
        if (cleared.ok() && !cleared->empty()) {
          auth::AuthRetryLimiter* limiter = &limiter_;
          auto onCleared = onCleared_;
          loop_.post([limiter, onCleared, list = std::move(cleared).value()] {
            for (const auth::Suspension& s : list) {
              const bool lifted = limiter->lift(s.kind, s.username, s.source, s.untilUs);
              log::info("auth.suspension_cleared")
                  .kv("kind", auth::suspensionKindName(s.kind))
                  .kv("username", s.username)
                  .kv("source", s.source.toString())
                  .kv("lifted", lifted);
              if (onCleared) onCleared(s);
            }
          });
        }
      }
      // Rows past any use (escalation memory) go, about once a minute.
      const int64_t now = wallNowUs();
      if (now - lastPurgeUs > 60'000'000) {
        lastPurgeUs = now;
        (void)st->purgeSuspensions(
            now -
            std::chrono::duration_cast<std::chrono::microseconds>(kSuspensionHistory).count());
      }
    }
    lock.lock();
  }
}

// ---------------------------------------------------------------------------
// Start-up

bool restoreAuthState(const store::StoreTarget& storeTarget, const Clock& clock,
                      registrar::Registrar& registrar, auth::AuthRetryLimiter& limiter,
                      const transport::Transport& transport,
                      const std::optional<std::string>& onlyNode) {
  auto regs = store::openRegistrationStore(storeTarget);
  auto susp = store::openSuspensionStore(storeTarget);
  if (!regs.ok() || !susp.ok()) {
    log::error("state.restore_failed")
        .kv("error", !regs.ok() ? regs.error().message : susp.error().message);
    return false;
  }
  const int64_t now = clock.wallMicros();
  (void)(*regs)->purgeExpiredBindings(now);
  auto bindings = (*regs)->listBindings();
  if (!bindings.ok()) {
    log::error("state.restore_failed").kv("error", bindings.error().message);
    return false;
  }
  // Other nodes' bindings in a shared store are theirs: restoring them here
  // would answer for phones registered elsewhere (and, in a cluster,
  // announce them as this node's).
  size_t otherNodes = 0;
  if (onlyNode) {
    otherNodes = std::erase_if(*bindings, [&onlyNode](const registrar::Binding& b) {
      return !b.node.empty() && b.node != *onlyNode;
    });
  }
  const size_t nBindings = bindings->size();
  registrar.restore(std::move(bindings).value(),
                    [&transport](transport::Protocol p, const net::SockAddr& local) {
                      for (const transport::Listener& l : transport.listeners()) {
                        if (l.protocol == p && l.address == local) return l.id;
                      }
                      return transport::kNoListener;
                    });
  (void)(*susp)->takeCleared();  // cleared while we were down: already forgiven
  const int64_t history =
      std::chrono::duration_cast<std::chrono::microseconds>(kSuspensionHistory).count();
  auto suspensions = (*susp)->listSuspensions(now - history);
  if (!suspensions.ok()) {
    log::error("state.restore_failed").kv("error", suspensions.error().message);
    return false;
  }
  size_t active = 0;
  for (const auth::Suspension& s : *suspensions) {
    limiter.restore(s);
    if (s.untilUs > now) ++active;
  }
  log::info("state.restored")
      .kv("bindings", nBindings)
      .kv("suspensions", active)
      .kv("bindings_of_other_nodes", otherNodes);
  return true;
}

}  // namespace tollgate::app
