// KernelOffload: pushes the shield's bans into the kernel (NftBanSet) from
// its own thread, so a netlink round trip never stalls the SIP worker.
// The worker hands over ban/unban/trusted changes through a bounded queue
// and returns at once. When the table cannot be created (no CAP_NET_ADMIN,
// no nf_tables) it says so in one log line and the node stays in
// user-space-only mode: the shield still drops everything itself.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/net.h"
#include "firewall/nft_ban_set.h"

namespace tollgate::firewall {

struct FirewallStats {
  bool active = false;       // the kernel table is in place
  bool unavailable = false;  // tried and failed: user-space-only mode
  uint64_t bansAdded = 0;    // elements added (or refreshed)
  uint64_t bansRemoved = 0;
  uint64_t elementsFailed = 0;  // elements the kernel refused (e.g. overlapping CIDRs)
  uint64_t queueDropped = 0;    // changes dropped: queue full
  uint64_t kernelDrops = 0;  // packets the kernel ban rules dropped (refreshed every few seconds)
};

// Changes queued at most; beyond this they are dropped and counted (the
// shield still enforces them in user space).
inline constexpr size_t kMaxQueuedChanges = 65536;
// How often the kernel's drop counter is read.
inline constexpr Millis kCounterRefresh{5000};

class KernelOffload {
 public:
  explicit KernelOffload(NftSetup setup);
  ~KernelOffload();  // stop()
  KernelOffload(const KernelOffload&) = delete;
  KernelOffload& operator=(const KernelOffload&) = delete;

  // Starts the thread, which creates the table.
  void start();
  // Deletes the table and stops the thread.
  void stop();

  void ban(const net::Cidr& prefix, int64_t timeoutSeconds);
  void unban(const net::Cidr& prefix);
  void setTrusted(std::vector<net::Cidr> trusted);

  // Waits (at most `timeout`) until every change queued before the call
  // is applied; false on timeout.
  bool flush(Millis timeout);
  FirewallStats stats() const;

 private:
  struct Change {
    enum Kind : uint8_t { Ban, Unban, Trusted } kind = Ban;
    net::Cidr prefix;
    int64_t timeoutSeconds = 0;
    std::vector<net::Cidr> trusted;
  };
  void push(Change&& c);
  void run();
  void apply(std::vector<Change>& batch);

  NftSetup setup_;
  NftBanSet set_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_;
  std::deque<Change> queue_;
  uint64_t queued_ = 0;   // changes ever accepted
  uint64_t applied_ = 0;  // changes ever taken and applied (or skipped)
  bool stop_ = false;
  bool started_ = false;
  FirewallStats stats_;
  std::thread thread_;
};

}  // namespace tollgate::firewall
