// PgChangeListener: one dedicated PostgreSQL connection that LISTENs on a
// channel (kPgProvisioningChannel) and calls back on every NOTIFY, so a
// provisioning change made through any node reaches every node within
// milliseconds instead of at its next poll. The poll stays as the fallback:
// while the listener is disconnected (server down, restarting) the node
// still sees changes every store.provisioning_poll_ms; the callback also
// runs on every reconnect (a change may have been missed meanwhile).
//
// Threading: thread-safe; the callback runs on the listener's own thread
// and must not block (the node's watcher just sets a flag).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "store/pg_target.h"

namespace tollgate::store {

class PgChangeListener {
 public:
  PgChangeListener(PgTarget target, std::string channel, std::function<void()> onChange);
  ~PgChangeListener();  // stops and joins
  PgChangeListener(const PgChangeListener&) = delete;
  PgChangeListener& operator=(const PgChangeListener&) = delete;

  bool connected() const { return connected_.load(); }
  uint64_t notifications() const { return notifications_.load(); }

 private:
  void run();
  PgTarget target_;
  std::string channel_;
  std::function<void()> onChange_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> notifications_{0};
  int wakeFd_[2] = {-1, -1};  // the destructor writes here to end a wait at once
  std::thread thread_;
};

}  // namespace tollgate::store
