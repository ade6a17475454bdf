// SharedPolicy: the dynamic blacklist's entries shared by every node of the
// cluster through Redis (docs/cluster-security.md). A number this node
// lists (an automatic rule, or an operator's `tollgate blacklist add` read
// from its store) is written to the hash <prefix>bl:entries (field =
// side|number, value = the entry with its expiry and the listing node) and
// published on <prefix>ch:bl; an operator's removal or clear is published on
// <prefix>ch:unbl. Every node applies the other nodes' entries to its own
// blacklist (not persisted in its store, never published again), keeping
// its own entry when that one runs longer. When the link comes up the node
// reads the hash and publishes its own live entries again. While Redis is
// down each node lists alone, as a single node does.
//
// It sits between the blacklist and the node's persistence
// (admission::BlacklistPersistence): every save passes through to the
// store, and a new entry, a rule upgrade to enforcing, or an expiry moved
// later by more than kBlacklistRepublishSlack is published (a listed number
// that keeps calling extends its entry on every call; publishing each
// extension would be one Redis command per refused call).
//
// Bounds: the hash holds at most [blacklist] max_entries fields (beyond
// that an entry is published but not stored), expired fields are removed
// every kSharedBlacklistSweep and at every link up; the record of what was
// published is bounded the same. Payloads are decoded defensively.
//
// The malicious-call rules' counts (calls from / to a number within the
// rule's INTERVAL) are shared too: each call a node counts is added to
// <prefix>bl:cnt:<rule>:<number>:<window> (INCR, PEXPIRE two windows;
// fire-and-forget, pipelined with the call's other commands), and when
// the cluster's sliding estimate (this window plus the previous one
// weighted by what is left of it) reaches the rule's limit the number is
// listed (and so published). The call that crosses the limit on the
// cluster is not refused (the verdict comes after it was admitted); the
// next ones are, on every node. The no-answer rule's unanswered calls are
// counted the same way (bl:cnt:no_answer:<number>:<window>, windows of the
// rule's PERIOD), and an answered call to the number deletes them (the
// streak ends on the cluster). The caller-concurrency rule's calls in
// progress are a hash per caller, <prefix>bl:cc:<number> (field = node id,
// HINCRBY at the call's start and end, PEXPIRE kCallerLiveTtl refreshed
// every kCallerAnnounce while the node has calls of that caller, live nodes
// only summed); when the cluster's sum is over the limit the caller is
// listed (the call that crossed it is not refused). The fraud thresholds'
// counters are shared by cluster/shared_fraud.h.
//
// Confined to its worker.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/dynamic_blacklist.h"
#include "cluster/cluster.h"
#include "common/bounded_table.h"
#include "common/event_loop.h"

namespace tollgate::cluster {

inline constexpr Millis kSharedBlacklistSweep{60'000};
// An extension of an entry's expiry shorter than this is not published.
inline constexpr int64_t kBlacklistRepublishSlackUs = 60'000'000;
// The callers' calls-in-progress hashes live this long after their last
// refresh; a node refreshes those of its live callers every kCallerAnnounce.
inline constexpr Millis kCallerLiveTtl{60'000};
inline constexpr Millis kCallerAnnounce{10'000};

struct SharedPolicyStats {
  uint64_t published = 0;        // entries of this node published
  uint64_t removals = 0;         // operator removals/clears published
  uint64_t applied = 0;          // other nodes' entries applied
  uint64_t removed = 0;          // other nodes' removals applied
  uint64_t counted = 0;          // malicious-call rule counts added to the shared counters
  uint64_t listed = 0;           // numbers listed because the shared count reached a limit
  uint64_t streaksEnded = 0;     // answered calls that ended a shared no-answer streak
  uint64_t callerCalls = 0;      // calls in progress per caller added to the shared counts
  uint64_t callerAnnounced = 0;  // callers' counts re-announced
  uint64_t rejected = 0;         // payloads that did not decode
  uint64_t notStored = 0;        // published but not stored: hash full
  uint64_t resyncs = 0;
};

std::string encodeEntry(std::string_view nodeId, const admission::BlacklistEntry& e);
struct SharedEntry {
  std::string node;
  admission::BlacklistEntry entry;
};
std::optional<SharedEntry> decodeEntry(std::string_view payload);

class SharedPolicy final : public admission::BlacklistPersistence,
                           public admission::BlacklistCounterSink {
 public:
  // `next`: the node's own persistence (may be null).
  SharedPolicy(EventLoop& loop, Cluster& cluster, admission::DynamicBlacklist& blacklist,
               admission::BlacklistPersistence* next);
  SharedPolicy(const SharedPolicy&) = delete;
  SharedPolicy& operator=(const SharedPolicy&) = delete;

  void start();

  // admission::BlacklistPersistence (from the blacklist, on the worker).
  void saveEntry(const admission::BlacklistEntry& e) override;
  void eraseEntry(std::string_view number, admission::NumberSide side) override;
  void saveCounters(std::string_view name, std::string blob) override;
  // admission::BlacklistCounterSink
  void counted(admission::BlacklistRule rule, std::string_view number, admission::NumberSide side,
               std::string_view gateway, int64_t nowUs) override;
  void answered(std::string_view callee) override;
  void callStarted(std::string_view caller, std::string_view gateway, int64_t nowUs) override;
  void callEnded(std::string_view caller) override;

  // An operator's entry (read from this node's store), already applied
  // here: listed on every node.
  void publish(const admission::BlacklistEntry& e);
  // An operator's removal (side nullopt: both sides) or clear (number
  // empty), already applied here: removed on every node.
  void publishRemoval(std::string_view number, std::optional<admission::NumberSide> side);

  const SharedPolicyStats& stats() const { return stats_; }

 private:
  struct Published {
    int64_t expiresUs = 0;
    bool enforced = false;
    bool pinned() const { return false; }
  };
  struct StringHasher {
    size_t operator()(const std::string& s) const { return std::hash<std::string>()(s); }
  };
  using PublishedTable = BoundedTable<std::string, Published, StringHasher>;

  static std::string field(std::string_view number, admission::NumberSide side);
  void applyRemote(std::string_view payload);
  void applyRemoteRemoval(std::string_view payload);
  void resync();
  void sweep();
  void forgetPublished();
  void announceCallers();
  std::string windowBase(admission::BlacklistRule rule, std::string_view number) const;

  EventLoop& loop_;
  Cluster& cluster_;
  admission::DynamicBlacklist& blacklist_;
  admission::BlacklistPersistence* next_;
  std::string hashKey_;
  std::string channel_;
  std::string removalChannel_;
  PublishedTable published_;
  bool applying_ = false;
  Timer sweepTimer_;
  Timer callerTimer_;
  SharedPolicyStats stats_;
};

}  // namespace tollgate::cluster
