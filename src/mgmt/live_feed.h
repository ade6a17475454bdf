// The figures of the web console's dashboard over the last hour: a sampler
// thread copies the node's counters (NodeControl::stats) every
// kLiveSampleSeconds into a ring of kLiveSamples samples, and adds up the
// answered CDRs written since the previous sample (for the average call
// duration), so a console opened now shows the hour behind it. Costs one
// stats copy and one bounded CDR read per sample.
//
// Thread-safe: start() and stop() from the API server's owning thread;
// history() from any thread (a mutex guards the ring).
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mgmt/node_control.h"
#include "store/pg_target.h"
#include "store/store.h"

namespace tollgate::mgmt {

// One sample every 10 s, an hour of them: 360 points is what a small chart
// draws, and what the console sends when it opens.
inline constexpr int kLiveSampleSeconds = 10;
inline constexpr size_t kLiveSamples = 360;
// CDRs read per sample to find the new answered ones: above what 10 s of
// calls at the node's rated call rate produce; beyond it the average is
// taken over the newest ones.
inline constexpr size_t kLiveCdrsPerSample = 2000;

struct LiveSample {
  int64_t timeUs = 0;
  uint64_t invites = 0;   // cumulative (CallStats::invitesReceived)
  uint64_t answered = 0;  // cumulative
  uint64_t failed = 0;    // cumulative
  size_t activeCalls = 0;
  std::array<uint64_t, shield::kShieldReasonCount> shieldDropped{};  // cumulative, by reason
  uint64_t bansPlaced = 0;                                           // cumulative
  size_t bansActive = 0;
  // Answered CDRs written since the previous sample and their talk time.
  uint64_t cdrsAnswered = 0;
  int64_t talkMs = 0;
};

class LiveFeed {
 public:
  LiveFeed(NodeControl& node, store::StoreTarget store);
  ~LiveFeed();
  LiveFeed(const LiveFeed&) = delete;
  LiveFeed& operator=(const LiveFeed&) = delete;

  void start();
  void stop();  // idempotent
  // Oldest first; at most kLiveSamples.
  std::vector<LiveSample> history() const;

 private:
  void run();
  bool sample(LiveSample& s);

  NodeControl& node_;
  store::StoreTarget store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<LiveSample> ring_;       // guarded by mu_
  int64_t lastCdrId_ = -1;            // sampler thread only; -1 = not read yet
  std::unique_ptr<store::Store> db_;  // sampler thread only, opened on first use
  std::thread thread_;
};

}  // namespace tollgate::mgmt
