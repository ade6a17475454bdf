// SharedFraud: the fraud thresholds' counters shared by every node of the
// cluster through Redis (docs/cluster-security.md), so that a customer
// spreading its calls over the nodes meets each critical level once in
// total, not once per node. It is the thresholds' FraudCounterSink: each
// call they count is one script (EVALSHA, fire-and-forget, pipelined with
// the call's other commands: never waited for) that adds the call to this
// node's fields and replies with what the OTHER nodes hold for that (rule,
// subject); the reply is handed back to the thresholds (absorbShared) and
// used for the verdicts of the following calls. The call whose verdict
// would need a reply still in flight is judged on what is known: the call
// that crosses a critical level on the cluster may be admitted, the next
// ones are refused on every node.
//
// Keys (after cluster.key_prefix; <r> = rule name, <s> = subject, both
// provisioning names):
//   fraud:cpm:<r>:<s>:<minute>  hash node -> calls in that minute (wall
//                               clock minute number); PEXPIRE 3 minutes
//   fraud:cc:<r>:<s>            hash node -> calls in progress; only live
//                               nodes are summed; PEXPIRE kFraudLiveTtl,
//                               refreshed every kFraudAnnounce
//   fraud:min:<r>:<s>:<day>     hash node -> talk time (ms) of that local day;
//                               PEXPIRE 2 days
//   fraud:seq:<r>:<s>           hash n = last number, r = its run; PEXPIRE 1 day
// A rule and subject longer than kMaxFraudKey together are counted locally
// only.
//
// While Redis is down each node counts alone (the shared views are
// dropped at once); when the link comes up each node re-announces its own
// holdings (calls in progress, talk time today, calls in the last minute)
// and the views converge with the next calls' replies.
//
// Confined to its worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "admission/fraud_thresholds.h"
#include "cluster/cluster.h"
#include "common/event_loop.h"

namespace tollgate::cluster {

// The calls-in-progress hashes live this long after their last refresh;
// every node with calls in progress refreshes them every kFraudAnnounce.
inline constexpr Millis kFraudLiveTtl{60'000};
inline constexpr Millis kFraudAnnounce{10'000};
// Longest rule name + subject shared (both are provisioning names).
inline constexpr size_t kMaxFraudKey = 192;
// Counters re-announced per round at most (one command each; the link
// holds kMaxPendingCommands).
inline constexpr size_t kMaxFraudAnnounce = 20'000;

struct SharedFraudStats {
  uint64_t counted = 0;     // calls added to the shared counters
  uint64_t refreshed = 0;   // views re-read after a refusal the other nodes decided
  uint64_t ended = 0;       // call ends sent
  uint64_t absorbed = 0;    // replies applied to the local view
  uint64_t unanswered = 0;  // scripts without a reply (link down, timeout)
  uint64_t announced = 0;   // holdings re-announced
  uint64_t localOnly = 0;   // calls counted here only (link down, key too long)
  uint64_t resyncs = 0;
};

class SharedFraud final : public admission::FraudCounterSink {
 public:
  SharedFraud(EventLoop& loop, Cluster& cluster, admission::FraudThresholds& fraud);
  SharedFraud(const SharedFraud&) = delete;
  SharedFraud& operator=(const SharedFraud&) = delete;

  void start();

  void counted(std::string_view rule, std::string_view subject, std::string_view number,
               int64_t nowUs, int64_t day, bool count) override;
  void ended(std::string_view rule, std::string_view subject, int64_t answeredMs,
             int64_t day) override;

  const SharedFraudStats& stats() const { return stats_; }

 private:
  std::string base(std::string_view kind, std::string_view rule, std::string_view subject) const;
  void announce(bool withRates);

  EventLoop& loop_;
  Cluster& cluster_;
  admission::FraudThresholds& fraud_;
  Timer announceTimer_;
  SharedFraudStats stats_;
};

}  // namespace tollgate::cluster
