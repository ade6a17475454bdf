// The runtime state of digest authentication and the registrar, between the
// worker and the store:
//  - StateWriter persists registrar bindings and retry-limiter suspensions
//    on its own thread (the worker only queues; it never waits on disk).
//    The queue is bounded (kMaxPendingStateWrites); when full, new writes
//    are dropped, counted and logged once a second. Its listener methods
//    are thread-safe.
//  - SuspensionClearWatcher polls the store for suspensions an operator
//    cleared (`tollgate auth suspensions clear`) and lifts them in the
//    worker's limiter (posted to its loop). Thread-safe start/stop.
//  - restoreAuthState() reads bindings and suspensions back at start-up,
//    before the worker runs (called on the worker thread).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "auth/authenticator.h"
#include "common/event_loop.h"
#include "registrar/registrar.h"
#include "store/pg_target.h"
#include "transport/transport.h"

namespace tollgate::app {

// Writes waiting for the disk; beyond this the store is hopelessly behind
// (a flood of registrations), and dropping beats growing without bound.
inline constexpr size_t kMaxPendingStateWrites = 100'000;
// How long recently ended suspensions are kept for their offense count
// (escalation across restarts).
inline constexpr std::chrono::hours kSuspensionHistory{24};

class StateWriter final : public registrar::BindingListener, public auth::SuspensionListener {
 public:
  // node: stamped on every binding it writes (Binding::node).
  StateWriter(store::StoreTarget storeTarget, std::string node);
  ~StateWriter() override;  // writes what is queued, then stops
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  void bindingSaved(const registrar::Binding& b) override;
  void bindingRemoved(const registrar::Binding& b) override;
  void onSuspended(const auth::Suspension& s) override;
  // Blocks until everything queued before the call is written (or failed).
  void flush();

  struct Stats {
    uint64_t written = 0;
    uint64_t dropped = 0;  // queue full
    uint64_t errors = 0;
  };
  Stats stats() const;

 private:
  struct Job {
    enum class Kind : uint8_t { SaveBinding, RemoveBinding, SaveSuspension } kind;
    registrar::Binding binding;
    auth::Suspension suspension;
  };
  void push(Job&& job);
  void run();

  store::StoreTarget target_;
  std::string node_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_;
  std::deque<Job> queue_;
  bool busy_ = false;
  bool stop_ = false;
  Stats stats_;
  int64_t lastDropLogUs_ = 0;
  std::thread thread_;
};

class SuspensionClearWatcher {
 public:
  // `limiter` belongs to the worker that runs `loop`; it is only touched
  // there, through loop.post().
  SuspensionClearWatcher(store::StoreTarget storeTarget, Millis poll, EventLoop& loop,
                         auth::AuthRetryLimiter& limiter);
  ~SuspensionClearWatcher();
  void start();
  void stop();
  // Told (on the worker) of each clear after it is applied here: a
  // cluster clears it on every node (cluster/shared_auth.h). Before start().
  void setOnCleared(std::function<void(const auth::Suspension&)> fn) { onCleared_ = std::move(fn); }
  // Polls the store now (the API cleared a suspension): from any thread.
  void pollNow();

 private:
  void run();

  store::StoreTarget target_;
  Millis poll_;
  EventLoop& loop_;
  auth::AuthRetryLimiter& limiter_;
  std::function<void(const auth::Suspension&)> onCleared_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool pollNow_ = false;
  std::thread thread_;
};

// Start-up: bindings that have not expired go back into the registrar (on
// the listener now bound at their local address), suspensions (and, for
// escalation, those ended within kSuspensionHistory) into the limiter;
// rows an operator cleared while the node was down are dropped. Returns
// false when the store cannot be read (logged).
// onlyNode: restore only the bindings this node owns (and those written
// before owners were recorded); nullopt restores every binding (a SQLite
// store is one node's own).
bool restoreAuthState(const store::StoreTarget& storeTarget, const Clock& clock,
                      registrar::Registrar& registrar, auth::AuthRetryLimiter& limiter,
                      const transport::Transport& transport,
                      const std::optional<std::string>& onlyNode);

}  // namespace tollgate::app
