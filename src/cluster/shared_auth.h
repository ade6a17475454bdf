// SharedAuth: digest retry counters and suspensions shared by every node of
// the cluster through Redis (docs/cluster-security.md), so a password
// guesser spreading its tries over N nodes gets auth.max_retry wrong
// answers in total, not N times that, and a suspension placed by any node
// holds on every node.
//
// Each failure (already counted by this node's AuthRetryLimiter) runs one
// script in Redis that, atomically: answers "suspended" when the pair or
// the source is suspended there already; else increments the window
// counters <prefix>auth:try:<source>|<user> and <prefix>auth:try:<source>
// (PEXPIRE = auth.failure_window, refreshed by each failure, as the local
// count forgets), and when one reaches its limit (auth.max_retry,
// auth.source_max_retry) stores the suspension in the hash
// <prefix>auth:susp and publishes it on <prefix>ch:auth. The request router
// holds its answer for that verdict. Other nodes install published
// suspensions in their limiter (auth.suspension_shared); an operator's clear
// on one node (`tollgate auth suspensions clear`) is published on
// <prefix>ch:unauth and lifts the suspension on every node. When the link
// comes up the node reads the hash and publishes its own suspensions again.
// While Redis is down each node counts and suspends alone (as a single node).
//
// Keys are named by what an attacker sends (username, source): usernames
// longer than kMaxSharedUsername are named by a hash of their first
// auth::kMaxTrackedUsername bytes, sources are the limiter's keys (IPv4, or
// an IPv6 /64). Counters expire after the failure window; the hash holds
// at most kMaxSharedSuspensions fields and expires auth.max_suspend_time
// after its last write.
//
// Confined to its worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/retry_limiter.h"
#include "auth/shared_retry.h"
#include "cluster/cluster.h"
#include "common/event_loop.h"

namespace tollgate::cluster {

// Usernames up to this length name their keys as they are; longer ones
// by a hash (no account name is that long: provisioning caps it at 64).
inline constexpr size_t kMaxSharedUsername = 64;
// Suspensions the shared hash holds at most: the local limiter's two
// table bounds.
inline constexpr size_t kMaxSharedSuspensions = auth::kMaxTrackedPairs + auth::kMaxTrackedSources;

struct SharedAuthStats {
  uint64_t counted = 0;     // failures counted in Redis
  uint64_t suspended = 0;   // ... that suspended (this node's failure reached the limit)
  uint64_t unanswered = 0;  // failures Redis did not answer: the local verdict stood
  uint64_t applied = 0;     // other nodes' suspensions installed here
  uint64_t lifted = 0;      // operator clears from other nodes applied
  uint64_t published = 0;   // this node's suspensions and clears published
  uint64_t rejected = 0;    // payloads that did not decode (dropped)
  uint64_t resyncs = 0;
};

// A suspension in its shared form, and back. Exposed for tests.
std::string encodeSuspension(std::string_view nodeId, const auth::Suspension& s);
struct SharedSuspension {
  std::string node;
  auth::Suspension suspension;
};
std::optional<SharedSuspension> decodeSuspension(std::string_view payload);
// The name a username gets in keys and hash fields.
std::string sharedUserKey(std::string_view username);

class SharedAuth final : public auth::SharedRetryCounter, public auth::SuspensionListener {
 public:
  SharedAuth(EventLoop& loop, Cluster& cluster, auth::AuthRetryLimiter& limiter);
  SharedAuth(const SharedAuth&) = delete;
  SharedAuth& operator=(const SharedAuth&) = delete;

  // Where the limiter's suspensions go after this (the node's store
  // writer); SharedAuth sits between them as the limiter's listener.
  void setNext(auth::SuspensionListener* next) { next_ = next; }
  // Subscribes and hooks the link's up event; before Cluster::start().
  void start();

  // auth::SharedRetryCounter
  bool available() const override;
  void countFailure(std::string_view username, const net::IpAddress& source,
                    std::function<void(Verdict)> done) override;
  void onSuccess(std::string_view username, const net::IpAddress& source) override;

  // auth::SuspensionListener: a suspension this node's limiter placed.
  void onSuspended(const auth::Suspension& s) override;
  // An operator cleared a suspension on this node: cleared everywhere.
  void onCleared(const auth::Suspension& s);

  const SharedAuthStats& stats() const { return stats_; }

 private:
  std::string field(const auth::Suspension& s) const;
  void publish(const auth::Suspension& s);
  void applyRemote(std::string_view payload, bool announce);
  void applyRemoteClear(std::string_view payload);
  void resync();

  EventLoop& loop_;
  Cluster& cluster_;
  auth::AuthRetryLimiter& limiter_;
  auth::SuspensionListener* next_ = nullptr;
  std::string hashKey_;
  std::string channel_;
  std::string clearChannel_;
  bool installing_ = false;  // limiter_.install() of a suspension already in Redis
  SharedAuthStats stats_;
};

}  // namespace tollgate::cluster
