// The shield: the decision every received message passes before the SIP
// parser sees it, and the one ban list. It sits between the transport and
// the transaction layer as a MessageSink decorator (Transport -> Shield ->
// TransactionLayer) and decides on the raw bytes, in the transport's receive
// buffer before they are even copied (MessageSink::filter), cheapest checks
// first:
//
//   1. trusted source (every mapping and routing gateway address plus
//      shield.trusted): skips the checks below; only requests that open
//      something (INVITE, REGISTER, OPTIONS, ...) pass a generous token
//      bucket per source, and the excess is answered 503 (stateless, built
//      from the raw bytes), never banned;
//   2. banned source (host or prefix): dropped; then a source the auth layer
//      vouched for (TrustSink) is treated as trusted;
//   3. scanner User-Agent (request): dropped, source banned;
//   4. rates per source and per prefix (/24, /64): a sliding window
//      (`recent`, N in S seconds) and a token bucket (`hashlimit`); a trip
//      drops and bans (the prefix for a prefix trip). Everything an
//      untrusted source sends is counted here, including what the method
//      policy below drops anyway, so a prober ends up banned (and dropped
//      in the kernel) rather than costing a scan per packet forever;
//   5. not SIP at all (no start line we recognise): dropped;
//   6. method policy (default: OPTIONS from untrusted sources dropped);
//   7. concurrency per source and prefix (open transactions, dialogs, TCP
//      connections; each kind on its own): new requests over the limit are
//      dropped, new connections refused. At accept (acceptConnection) the
//      shield also tells the transport who is trusted (gateways,
//      shield.trusted, vouched sources), so it can keep its reserved share
//      of the connection table for them.
//   8. (every source, the checks on or off) overload control: a request
//      that opens something (not ACK, CANCEL, BYE ..., not one with a To
//      tag) is admitted or shed by OverloadControl (shield/overload.h),
//      answered 503 with Retry-After built from the raw bytes, or dropped;
//      the ACKs of those 503s are absorbed here, unparsed.
//
// Each check is enforced or only counted (ShieldConfig modes). Trusted
// sources are still authenticated after this; the shield only decides what
// the parser may spend time on. Work per message is O(1) table operations
// plus one pass over the header section for User-Agent; memory is bounded
// by the table capacities (memoryBytes()). One log line per new ban, never
// per packet; everything else is counted in ShieldStats.
//
// Confined to its worker (the one that runs the transport feeding it).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/bounded_table.h"
#include "common/clock.h"
#include "common/event_loop.h"
#include "common/occupancy.h"
#include "common/random.h"
#include "common/token_bucket.h"
#include "shield/ban.h"
#include "shield/ban_sink.h"
#include "shield/ban_table.h"
#include "shield/overload.h"
#include "shield/prefix_set.h"
#include "shield/raw_scan.h"
#include "shield/shield_config.h"
#include "shield/trust_sink.h"
#include "transport/transport.h"

namespace tollgate::shield {

// Why a message was dropped (or would have been, in count-only mode).
enum class ShieldReason : uint8_t {
  Banned,         // the source or its prefix is banned
  Signature,      // scanner User-Agent
  Rate,           // per-source window or bucket
  PrefixRate,     // per-prefix window or bucket
  Concurrency,    // too many open transactions/dialogs/connections
  UnknownSource,  // method policy: e.g. OPTIONS from an untrusted source
  Malformed,      // not a SIP start line (untrusted source)
  TrustedExcess,  // trusted source over its bucket: answered 503, not dropped
  Overload,       // new work shed by overload control (503, or dropped; docs/overload.md)
};
inline constexpr size_t kShieldReasonCount = 9;
// "banned", "signature", "rate", "prefix_rate", "concurrency",
// "unknown_source", "malformed", "trusted_excess", "overload"
std::string_view shieldReasonName(ShieldReason r);

// The shield's counters and table sizes, for the node.stats log line, and
// for `tollgate stats` and /metrics (management layer), which read this
// struct as it is. Counters only grow; sizes are as of the last stats()
// call. Reasons index the arrays by ShieldReason.
struct ShieldStats {
  uint64_t received = 0;  // messages inspected
  uint64_t trusted = 0;   // ... of which from trusted sources
  uint64_t passed = 0;    // handed on to the parser (trusted or not)
  // Enforced: dropped for this reason (TrustedExcess: answered 503).
  std::array<uint64_t, kShieldReasonCount> dropped{};
  // Count-only: matched, counted, passed on to the next check.
  std::array<uint64_t, kShieldReasonCount> wouldDrop{};
  // ACKs of our own stateless 503s (overload, trusted excess), absorbed here
  // instead of being parsed.
  uint64_t shedAcksAbsorbed = 0;
  uint64_t connectionsRefused = 0;  // TCP accepts refused (banned, concurrency)
  uint64_t connectionsClosed = 0;   // open connections closed because their source got banned

  uint64_t bansPlaced = 0;  // new bans (auto, auth, manual from the store)
  std::array<uint64_t, kBanReasonCount> bansByReason{};
  uint64_t bansEscalated = 0;       // ... of which repeat offenders (level > 1)
  uint64_t bansRefusedFull = 0;     // auto-bans not placed: table full of active bans
  uint64_t bansRefusedTrusted = 0;  // BanSink::suspend() on a trusted source
  uint64_t bansLifted = 0;          // removed before expiry (store delete)
  uint64_t bansExpired = 0;         // noticed expired

  uint64_t sourcesEvicted = 0;   // per-source entries pushed out by the bound
  uint64_t prefixesEvicted = 0;  // per-prefix entries pushed out by the bound

  size_t sources = 0;          // per-source entries now
  size_t prefixes = 0;         // per-prefix entries now
  size_t bansActive = 0;       // active bans now
  size_t banRecords = 0;       // active bans plus history kept for escalation
  size_t trustedPrefixes = 0;  // entries in the trusted set
  size_t trustedBuckets = 0;   // trusted sources with a 503 bucket
  size_t vouched = 0;          // sources vouched for by authentication (TrustSink)
  size_t openConnections = 0;  // tracked inbound TCP connections
  size_t memoryBytes = 0;      // bound on the tables' memory (by construction)
};

enum class Verdict : uint8_t { Pass, Drop, Reject503 };

struct Decision {
  Verdict verdict = Verdict::Pass;
  ShieldReason reason = ShieldReason::Banned;  // meaningful unless Pass
  bool newCall = false;                        // Overload: a new INVITE was shed
};

class Shield final : public transport::MessageSink,
                     public OccupancyObserver,
                     public BanSink,
                     public TrustSink {
 public:
  // next: where passed messages go (the transaction layer). The loop gives
  // the time of each message and runs the periodic ban bookkeeping.
  Shield(EventLoop& loop, const Clock& clock, Random& random, ShieldConfig config,
         transport::MessageSink& next, OverloadConfig overload = {});
  ~Shield() override;
  Shield(const Shield&) = delete;
  Shield& operator=(const Shield&) = delete;

  // For stateless 503s and for closing connections of banned sources.
  void setTransport(transport::Transport* transport) { transport_ = transport; }
  // The gateway addresses of the current provisioning snapshot; combined
  // with shield.trusted into the trusted set. Build it off the worker with
  // buildTrusted() and swap it in here.
  void setTrusted(std::shared_ptr<const PrefixSet> trusted);
  std::shared_ptr<const PrefixSet> buildTrusted(const std::vector<net::Cidr>& gateways) const;
  void setBanListener(BanListener* listener) { listener_ = listener; }
  // Told of shed calls (their CDRs).
  void setShedListener(ShedListener* listener) { shedListener_ = listener; }

  // The decision for one message at `now`, with every table update and
  // counter it implies, but no I/O: onMessage() acts on it. Public for the
  // benchmark and tests.
  Decision inspect(const transport::Flow& from, std::string_view bytes, MonoTime now);

  // transport::MessageSink. filter() is the decision, on the transport's
  // receive buffer (dropped messages are never copied); onMessage() hands
  // what passed to the next sink.
  bool filter(const transport::Flow& from, std::string_view bytes) override;
  // With overload control on: Later for a request that opens something (as
  // overload control counts them), InOrder for a CANCEL, Now for the rest; a
  // raw scan of the start line and To. Off: Now, arrival order as ever.
  transport::Turn turnOf(const transport::Flow& from, std::string_view bytes) override;
  void onMessage(const transport::Flow& from, std::string&& bytes) override;
  void onConnectionClosed(transport::ConnectionId id) override;
  transport::Admission acceptConnection(const net::SockAddr& remote) override;
  void onConnectionOpened(transport::ConnectionId id, const net::SockAddr& remote,
                          transport::Admission admission) override;

  // OccupancyObserver (transactions from txn, dialogs from call)
  void opened(OccupancyKind kind, const net::IpAddress& source) override;
  void closed(OccupancyKind kind, const net::IpAddress& source) override;

  // BanSink (auth suspensions)
  bool suspend(const net::IpAddress& source, BanReason reason, std::string_view detail,
               std::optional<std::chrono::seconds> duration = std::nullopt) override;

  // TrustSink (sources authenticated by credentials)
  void vouch(const net::IpAddress& source, std::chrono::seconds ttl) override;
  void unvouch(const net::IpAddress& source) override;

  // Bans from the store (an operator's `tollgate ban add`, or rows written
  // earlier, at start-up). Placed as given (no escalation), never echoed
  // back to the store. An expired or inactive one is kept as history.
  void applyStoredBan(const BanInfo& ban);
  // A ban deleted in the store (`tollgate ban del`): lifted now.
  void liftBan(const PrefixKey& prefix);

  // The active ban covering ip, if any.
  std::optional<BanInfo> banFor(const net::IpAddress& ip);
  // Every ban in force now (at most shield.max_bans), for the cluster's
  // re-announcement when its shared store comes back.
  std::vector<BanInfo> activeBans();
  bool isTrusted(const net::IpAddress& ip) const;

  const ShieldStats& stats();
  // Overload control (docs/overload.md): its classes come from provisioning,
  // its stats go to /metrics, its RFC 7339 feedback into responses.
  OverloadControl& overload() { return overload_; }
  // Bound on the memory of every table together, by construction.
  size_t memoryBytes() const;
  const ShieldConfig& config() const { return config_; }

  // Reports changed hit counts to the listener now (also runs every
  // kHitsReportInterval on the loop).
  void reportHits();

 private:
  // 32 bytes: a new entry is all zeros, which reads as an empty window and
  // a bucket not started (full on its first message).
  struct RateState {
    int64_t windowStartMs = 0;  // start of the current fixed window
    uint32_t windowCount = 0;
    uint32_t prevCount = 0;  // previous window, weighted down as this one ages
    // Time of the last message in ms (bucket refill and idle expiry).
    BasicTokenBucket<float, int64_t> bucket;
    int64_t lastMs() const { return bucket.last(); }
  };
  static_assert(sizeof(RateState) == 32, "kept small: one per source and prefix");
  struct SourceState {
    RateState rate;
    uint16_t open[2] = {0, 0};  // by OccupancyKind
    bool pinned() const { return open[0] != 0 || open[1] != 0; }
  };
  struct Bucket {
    RateState rate;
    bool pinned() const { return false; }
  };
  struct Vouch {
    int64_t untilMs = 0;
    bool pinned() const { return false; }
  };
  using VouchTable = BoundedTable<IpKey, Vouch, KeyHasher>;
  using SourceTable = BoundedTable<IpKey, SourceState, KeyHasher>;
  using BucketTable = BoundedTable<IpKey, Bucket, KeyHasher>;
  // Open connections of untrusted sources, by source and by prefix. Exact
  // (never evicted: an entry exists only while it counts a connection the
  // transport holds, so the transport's table bounds them), so a flood of
  // new sources cannot make the shield forget what a source holds.
  using ConnectionCounts = std::unordered_map<IpKey, uint32_t, KeyHasher>;

  // A check matched: true when it acts (enforce), false when only counted.
  bool enforce(Mode mode, ShieldReason reason);
  // Sliding-window estimate (RFC-less; see docs/shield.md) and token bucket.
  static bool windowTrips(RateState& s, int64_t nowMs, uint32_t hits, int64_t windowMs);
  static bool bucketTrips(RateState& s, int64_t nowMs, double rate, double burst, int64_t idleMs);
  bool trustedPath(const StartLine& sl, const IpKey& ip, int64_t nowMs);
  // Steps 1-7 (security); inspect() adds step 8 (overload) to what passes.
  Decision inspectSecurity(const transport::Flow& from, std::string_view bytes, const StartLine& sl,
                           MonoTime now);
  Decision inspectLoad(const transport::Flow& from, std::string_view bytes, const StartLine& sl,
                       MonoTime now);
  uint64_t requestKey(std::string_view bytes) const;
  SourceState* sourceEntry(const IpKey& ip, bool create);
  SourceState* prefixEntry(const IpKey& ip, bool create);
  IpKey prefixKeyOf(const IpKey& ip) const;
  int prefixBits(const IpKey& ip) const;
  void adjust(const IpKey& ip, int kind, int delta);
  // Every source's open transactions and dialogs, for overload control.
  void noteTotal(OccupancyKind kind, int delta);
  // Stops counting an untrusted connection (closed, or promoted).
  void forgetConnection(transport::ConnectionId id);
  // Tells the transport that tracked connections now count as trusted:
  // those from `only`, or (null) every one whose source is in trusted_.
  void promoteConnections(const IpKey* only);

  // Places (or escalates) a ban. base: the first ban's length. Returns the
  // record, or null when none was placed.
  BanRecord* placeBan(const PrefixKey& p, BanReason reason, std::string detail,
                      std::chrono::seconds base, int64_t nowMs);
  BanInfo infoOf(const PrefixKey& p, const BanRecord& r) const;
  void noteHit(const PrefixKey& p, BanRecord& r);
  void sweep(int64_t nowMs);
  int64_t msOf(MonoTime t) const;
  int64_t wallUsAt(int64_t nowMs) const;

  EventLoop& loop_;
  const Clock& clock_;
  Random& random_;
  ShieldConfig config_;
  transport::MessageSink& next_;
  transport::Transport* transport_ = nullptr;
  BanListener* listener_ = nullptr;
  ShedListener* shedListener_ = nullptr;

  uint64_t seed_;
  std::shared_ptr<const PrefixSet> trusted_;
  std::shared_ptr<const PrefixSet> configTrusted_;  // shield.trusted alone
  std::vector<std::string> signatures_;             // lower-cased
  std::vector<std::string> dropMethods_;
  SourceTable sources_;
  SourceTable prefixes_;
  BucketTable trustedBuckets_;
  VouchTable vouched_;
  BanTable bans_;
  std::unordered_map<transport::ConnectionId, IpKey> connections_;
  ConnectionCounts connectionsBySource_;
  ConnectionCounts connectionsByPrefix_;
  std::vector<PrefixKey> hitsQueue_;  // bans whose hit count changed since the last report
  Timer tick_;
  uint64_t sweptExpired_ = 0;  // active bans found expired by the sweep (not by a lookup)
  ShieldStats stats_;
  OverloadControl overload_;
  bool sent503_ = false;  // a stateless 503 was decided (its ACK may come), last at last503_
  MonoTime last503_{};
  RecentKeys admittedInvites_;      // new INVITEs let through (their retransmissions pass)
  uint64_t openTotal_[2] = {0, 0};  // open transactions and dialogs, every source
};

// How often changed ban hit counts go to the listener (and so the store),
// and expired records are swept.
inline constexpr Millis kHitsReportInterval{2000};
// Ban records looked at per sweep tick, from the least recently used end.
inline constexpr int kSweepPerTick = 64;
// Most hit counts reported per tick; the rest wait for the next one.
inline constexpr size_t kMaxHitsPerReport = 4096;
// Retry-After (seconds) on the 503 a trusted source gets over its bucket.
inline constexpr int kTrustedRetryAfter = 5;
// The To tag of every stateless 503 the shield sends starts with this: '-'
// is outside Random::token's alphabet, so no tag of a real dialog does, and
// an ACK carrying it acknowledges one of those 503s (absorbed, unparsed).
inline constexpr std::string_view kShedTagPrefix = "sh-";
// Admitted new INVITEs remembered (per generation) and for how long: Timer
// B's 64*T1, the longest a client retransmits an INVITE.
inline constexpr size_t kAdmittedInvitesRemembered = 1u << 17;
inline constexpr Millis kAdmittedInviteMemory{32'000};
// How long after the last stateless 503 its ACK may still come: the client
// retransmits the INVITE, and so gets the 503 again, for Timer B (64*T1).
inline constexpr Millis kShedAckWindow{32'000};

}  // namespace tollgate::shield
