// Overload control: how much new work (new INVITEs, REGISTERs, OPTIONS,
// SUBSCRIBEs ...) the node takes on when offered more than it can carry,
// and who gets that capacity. The shield asks it about every request that
// would open something (after the security checks, before the parser); the
// requests and responses of existing dialogs and transactions never come
// here, so they are never shed (docs/overload.md).
//
// Detection, from the node's own state, never from a fixed rate:
//   - queue delay: how long new requests waited, in the socket and in the
//     UDP transport's wait for new work (SO_TIMESTAMPNS;
//     transport::Flow::queuedUs; see transport::Turn), or how far the
//     oldest still waiting (backlogUs) is past max_queue_delay. The minimum
//     over a control interval is the standing queue: bursts and the stalls
//     of a CPU quota leave it near zero, a node that cannot keep up does
//     not;
//   - event-loop lag: how late the control timer fires;
//   - open server transactions and calls (dialogs) against their bounds.
// And one per-message rule that reacts within the first interval: a new
// request that itself waited more than `maxQueueDelay` is refused.
//
// Control: while overloaded, new requests are admitted at a rate R that
// adapts (multiplicative decrease while the standing queue or the lag is
// over target, additive increase while they are not and demand is being
// refused), starting from the rate the node was admitting when overload
// began. R is shared between classes (a mapping gateway is a class, with
// its overload_weight; any other source is a class of weight 1) by weighted
// max-min fairness over their recent demand, each charged for the refusals
// of its own excess: a class asking for less than its share gets what it
// asks, the rest is split by weight, so an unused share goes to whoever
// needs it, and one customer's storm pays for its own 503s. The excess gets 503 with Retry-After,
// or is dropped unanswered when it waited longer than `dropDelay` (the client has retransmitted by
// then, and answering costs what we lack).
//
// RFC 7339: a client that put `oc` in its Via is told, in the Via of every
// response while overloaded, the share of its new requests to hold back
// (loss algorithm), so it throttles before sending.
//
// Confined to its worker (the shield's). Memory: the class table is bounded
// (kMaxClasses); the rest is fixed size.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/event_loop.h"
#include "common/net.h"
#include "common/token_bucket.h"
#include "shield/ip_key.h"
#include "transport/transport.h"

namespace tollgate::shield {

struct OverloadConfig {
  bool enabled = true;
  // Standing queue above this (the least time a datagram waited in the
  // socket during a control interval) means the node is not keeping up.
  Millis queueDelayTarget{5};
  // Overloaded, a new request that itself waited longer than this is refused
  // at once; not yet overloaded, one that waited 4 x this starts overload.
  Millis maxQueueDelay{20};
  // ... and one that waited longer than this is dropped unanswered.
  Millis dropDelay{500};
  // The control timer firing later than this means the loop is saturated.
  Millis loopLagTarget{50};
  // Open server transactions and calls beyond which new requests are refused
  // whatever the delays say (0 = no bound).
  uint64_t maxTransactions = 200'000;
  uint64_t maxCalls = 100'000;
  // Retry-After of the 503 (seconds).
  uint32_t retryAfter = 1;
  // What refusing one new request (its 503 and the ACK) costs, as a share
  // of carrying one call: a class is charged for the refusals of its own
  // excess, so a storm pays for itself (bench/overload.py measures about
  // 0.15 on loopback, where the kernel's receive path of every datagram
  // tollgate sends is charged to tollgate).
  double refusalCost = 0.15;
  // RFC 7339 feedback to clients that support it, and how long it holds.
  bool rfc7339 = true;
  Millis ocValidity{500};
};

// What to do with one new request.
enum class OverloadVerdict : uint8_t { Admit, Reject, Drop };

// Why a new request was shed (counters and metrics index by this).
enum class ShedReason : uint8_t {
  Rate,          // over the admitted rate (the class's share of it)
  QueueDelay,    // it waited longer than max_queue_delay in the socket
  Dropped,       // it waited longer than drop_delay: dropped unanswered
  Transactions,  // open server transactions at max_transactions
  Calls,         // open calls at max_calls
};
inline constexpr size_t kShedReasonCount = 5;
// "rate", "queue_delay", "dropped", "transactions", "calls"
std::string_view shedReasonName(ShedReason r);

// A class's identity and weight. The node builds the mapping gateway ones
// from provisioning (OverloadClasses); every other source is its own class.
struct OverloadClassSpec {
  std::string name;     // mapping gateway name
  uint32_t weight = 1;  // overload_weight
  std::vector<net::Cidr> addresses;
};

// Source address -> mapping gateway class. Immutable once built: built off
// the worker per provisioning snapshot and swapped in whole.
class OverloadClasses {
 public:
  OverloadClasses() = default;
  explicit OverloadClasses(std::vector<OverloadClassSpec> specs);
  // Index into specs() of the gateway `ip` belongs to, or -1.
  int find(const IpKey& ip) const;
  const std::vector<OverloadClassSpec>& specs() const { return specs_; }

 private:
  std::vector<OverloadClassSpec> specs_;
  KeyHasher hasher_;
  std::unordered_map<uint64_t, std::vector<std::pair<IpKey, int>>> hosts_;  // by hash
  std::vector<std::pair<PrefixKey, int>> prefixes_;  // the non-host ones, checked in order
};

// Told of every new INVITE shed (for its CDR; the listener rate-limits).
class ShedListener {
 public:
  virtual ~ShedListener() = default;
  // code: 503 when answered, 0 when dropped unanswered.
  virtual void onShedCall(const transport::Flow& from, std::string_view raw, int code) = 0;
};

struct OverloadStats {
  bool overloaded = false;
  double admitRate = 0;       // R while overloaded and behind (new requests/s), else 0
  double queueDelayMs = 0;    // standing queue of the last interval
  double loopLagMs = 0;       // control timer lateness of the last interval
  uint64_t transactions = 0;  // open server transactions now
  uint64_t calls = 0;         // open calls now
  uint64_t episodes = 0;      // times the node went into overload
  uint64_t admitted = 0;      // new requests admitted (all states)
  std::array<uint64_t, kShedReasonCount> shed{};
  uint64_t ocResponses = 0;  // responses that carried RFC 7339 feedback
  size_t classes = 0;        // classes tracked now
};

// Keys (hashes) of recent requests, kept between `lifetime` and twice that:
// the new INVITEs the node admitted, so that their retransmissions are
// never shed (they belong to calls in progress). Two generations of flat
// tables, fixed size: O(1), no allocation after construction.
class RecentKeys {
 public:
  RecentKeys(size_t perGeneration, Millis lifetime);
  void insert(uint64_t key, MonoTime now);
  bool contains(uint64_t key) const;

 private:
  static bool has(const std::vector<uint64_t>& t, uint64_t key);
  static void put(std::vector<uint64_t>& t, uint64_t key);
  size_t perGeneration_;
  Millis lifetime_;
  std::vector<uint64_t> current_;
  std::vector<uint64_t> previous_;
  size_t count_ = 0;
  MonoTime started_{};
};

class OverloadControl {
 public:
  OverloadControl(EventLoop& loop, const Clock& clock, OverloadConfig config);
  ~OverloadControl();
  OverloadControl(const OverloadControl&) = delete;
  OverloadControl& operator=(const OverloadControl&) = delete;

  const OverloadConfig& config() const { return config_; }
  void setClasses(std::shared_ptr<const OverloadClasses> classes);
  // The mapping gateway whose class `source` belongs to ("" = none).
  std::string_view gatewayOf(const IpKey& source) const;

  // The wait of new work as each new request is judged (microseconds;
  // 0 = unknown; see Shield::inspectLoad).
  void observeQueueWait(uint32_t queuedUs) {
    if (queuedUs == 0) return;
    ++waitSamples_;
    if (queuedUs < minWaitUs_) minWaitUs_ = queuedUs;
  }
  // Open server transactions and calls (the shield's occupancy totals).
  void setTransactions(uint64_t n) { transactions_ = n; }
  void setCalls(uint64_t n) { calls_ = n; }

  // The decision for one new request from `source` that waited `queuedUs`
  // while the oldest new work still waiting has waited `backlogUs`
  // (transport::Flow). *reason is set unless Admit.
  OverloadVerdict decide(const IpKey& source, uint32_t queuedUs, uint32_t backlogUs, MonoTime now,
                         ShedReason* reason);

  // RFC 7339 Via parameters for a response to `source` (";oc=..;oc-algo=..
  // ;oc-validity=..;oc-seq=.."), or "" when there is nothing to say (not
  // overloaded, and not recently).
  std::string ocParams(const IpKey& source);
  void countOcResponse() { ++stats_.ocResponses; }

  bool overloaded() const { return overloaded_; }
  const OverloadStats& stats();

  // Runs one control interval now (the timer does this every kInterval);
  // public for tests, which drive it with their own clock.
  void tick(MonoTime now);
  static constexpr Millis kInterval{50};
  // Classes tracked at once; beyond, new sources share one overflow class.
  static constexpr size_t kMaxClasses = 4096;

 private:
  struct Class {
    uint32_t weight = 1;
    int gateway = -1;      // index into the classes' specs, or -1
    double demand = 0;     // new requests/s offered (EWMA over intervals)
    double share = 0;      // admitted rate allotted this interval
    uint64_t offered = 0;  // this interval
    uint64_t idleIntervals = 0;
    double lastOc = 0;  // percent told last (RFC 7339), to undo its effect on demand
    BasicTokenBucket<double, MonoTime> bucket;
  };
  uint64_t classKey(const IpKey& source, int* gateway) const;
  Class& classFor(const IpKey& source);
  // rateLimited: new requests are held to R (the node is behind); false:
  // only the bounds refuse (the node is at a bound but keeps up). runaway:
  // found by a runaway queue (R starts lower).
  void enter(MonoTime now, bool rateLimited, bool runaway);
  // Starts holding new requests to R, from what was carried lately.
  void limit(bool runaway);
  void leave();
  void allot();
  void onTimer();

  EventLoop& loop_;
  const Clock& clock_;
  OverloadConfig config_;
  std::shared_ptr<const OverloadClasses> classes_;
  KeyHasher hasher_;
  std::unordered_map<uint64_t, Class> table_;
  Timer timer_;
  MonoTime lastTick_{};
  MonoTime timerDue_{};

  // Measurements of the current interval.
  uint32_t minWaitUs_ = UINT32_MAX;
  uint64_t waitSamples_ = 0;
  uint64_t admittedNow_ = 0;    // new requests admitted this interval
  uint64_t offeredNow_ = 0;     // new requests seen this interval
  double admittedRate_ = 0;     // EWMA of admitted new requests/s (normal state too)
  double carried_ = 0;          // the highest admitted rate lately, fading
  int congestedIntervals_ = 0;  // congested intervals in a row
  uint64_t transactions_ = 0;
  uint64_t calls_ = 0;

  bool overloaded_ = false;
  bool rateLimited_ = false;
  double lastAdmitted_ = 0;  // new requests admitted and offered in the last interval
  double lastOffered_ = 0;
  double prevDelayMs_ = 0;  // the standing queue of the last interval
  double cutFrom_ = 0;      // R where congestion was last found after an increase
  bool increasedSinceCut_ = false;
  double rate_ = 0;        // R
  int sinceDecrease_ = 0;  // intervals since R was last cut
  int calmIntervals_ = 0;  // intervals in overload with demand under R
  MonoTime endedAt_{};     // when the last episode ended (oc=0 for a while)
  int64_t ocSeqMs_ = 0;    // wall ms of the last change of R (RFC 7339 oc-seq)
  OverloadStats stats_;
};

}  // namespace tollgate::shield
