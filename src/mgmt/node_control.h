// What the management plane needs from a running node, and nothing more:
// counters and table sizes, live calls (list, end one), registrations (list,
// force-unregister), digest suspensions and the dynamic blacklist as the
// worker holds them, live provisioning pickup and the SIP trace tap. The node (src/app) implements
// it by posting closures to the SIP worker and waiting for the answer with a timeout, so worker
// state is never touched from an API thread. Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "admission/dynamic_blacklist.h"
#include "admission/policy_stats.h"
#include "auth/retry_limiter.h"
#include "auth/stats.h"
#include "call/stats.h"
#include "cluster/cluster.h"
#include "cluster/shared_auth.h"
#include "cluster/shared_bans.h"
#include "cluster/shared_fraud.h"
#include "cluster/shared_limits.h"
#include "cluster/shared_policy.h"
#include "cluster/shared_registrations.h"
#include "common/latency_histogram.h"
#include "common/log.h"
#include "firewall/kernel_offload.h"
#include "media/ng_client.h"
#include "mgmt/hep.h"
#include "registrar/binding.h"
#include "registrar/stats.h"
#include "shield/shield.h"
#include "store/cdr_writer.h"
#include "transport/transport.h"
#include "txn/stats.h"

namespace tollgate::mgmt {

// One consistent copy of the node's counters, taken on the worker. New
// components (shield, registrar, ...) add a member here and a few lines to
// the renderers in metrics.cc and api_node.cc.
struct NodeStats {
  call::CallStats calls;
  size_t activeCalls = 0;
  call::GatewayStats gateways;
  txn::TxnStats txn;
  transport::TransportStats transport;
  uint64_t provisioningVersion = 0;
  bool draining = false;
  // Digest authentication and the registrar.
  auth::AuthStats auth;
  auth::RetryLimiterStats authLimiter;
  size_t suspensionsActive = 0;
  registrar::RegistrarStats registrar;
  size_t bindingsOnline = 0;
  size_t bindingsOffline = 0;
  // Call policy.
  admission::PolicyStats policy;
  admission::BlacklistStats blacklist;
  size_t blacklistEntries = 0;
  admission::FraudStats fraud;
  call::CarrierMonitorStats carrierMonitor;
  std::vector<call::CarrierStatus> carriers;
  media::NgStats media;  // rtpengine engines (docs/media.md); none when no [media] engines
  // The shield; shieldEnabled false = shield.enabled = false.
  bool shieldEnabled = true;
  shield::ShieldStats shield;
  shield::OverloadStats overload;  // overload control (docs/overload.md)
  bool kernelOffload = false;      // firewall.kernel_offload configured
  firewall::FirewallStats firewall;
  // Off the worker (thread-safe sources), filled by the node as well.
  store::CdrWriterStats cdrWriter;
  LatencyHistogram::Snapshot cdrWriteLatency;
  LatencyHistogram::Snapshot cdrCommitDelay;  // per CDR: call ended -> committed
  LatencyHistogram::Snapshot provisioningPollLatency;
  bool hepEnabled = false;  // hep.address set
  HepStats hep;
  log::Stats log;  // journal entries sent and fallen back to stderr
  // [cluster] (docs/cluster.md); cluster.enabled false on a single node.
  cluster::ClusterStatus cluster;
  // Channel and rate limits shared across a cluster (docs/cluster.md);
  // clusterLimits false = no [cluster].
  bool clusterLimits = false;
  cluster::SharedLimitStats clusterLimitStats;
  // A cluster's shared security state (docs/cluster-security.md);
  // clusterSecurity false = no [cluster].
  bool clusterSecurity = false;
  cluster::SharedBanStats sharedBans;
  cluster::SharedAuthStats sharedAuth;
  cluster::SharedPolicyStats sharedPolicy;
  cluster::SharedFraudStats sharedFraud;
  // Registrations shared through Redis (docs/cluster-registrations.md).
  cluster::SharedRegistrationStats clusterRegistrations;
};

// How long an API thread waits for the worker before answering 503.
inline constexpr std::chrono::milliseconds kWorkerTimeout{2000};

class NodeControl {
 public:
  virtual ~NodeControl() = default;
  // nullopt when the worker did not answer in time (overload, shutdown).
  virtual std::optional<NodeStats> stats() = 0;
  virtual std::optional<std::vector<call::LiveCall>> liveCalls(size_t limit) = 0;
  virtual std::optional<bool> endCall(uint64_t id) = 0;
  // The registrar's bindings (every account's contacts, online or not).
  virtual std::optional<std::vector<registrar::Binding>> registrations() = 0;
  // Removes the account's bindings (one contact, or all when contact is
  // ""); returns how many went.
  virtual std::optional<size_t> unregister(const std::string& username,
                                           const std::string& contact) = 0;
  // Digest retry-limit suspensions in force.
  virtual std::optional<std::vector<auth::Suspension>> suspensions() = 0;
  // Dynamic blacklist entries (at most `limit`, by number then side).
  virtual std::optional<std::vector<admission::BlacklistEntry>> blacklist(size_t limit) = 0;
  // Asks for a provisioning reload now and waits until the worker runs
  // `version` or newer. False on timeout (the change still applies at the
  // next poll).
  virtual bool applyProvisioning(uint64_t version, std::chrono::milliseconds timeout) = 0;
  // Installs or removes the trace tap on the worker's transport.
  virtual bool setTap(transport::PacketTap* tap) = 0;
  // The API just changed bans or suspensions in the store: the node reads
  // them now rather than at its next store poll (so a cluster spreads
  // them within its propagation time). Returns at once.
  virtual void securityChanged() {}
};

}  // namespace tollgate::mgmt
