// What the management plane needs from a running node, and nothing more:
// counters and table sizes, live calls (list, end one), live provisioning
// pickup and the SIP trace tap. The node (src/app) implements it by posting
// closures to the SIP worker and waiting for the answer with a timeout, so
// worker state is never touched from an API thread. Implementations are
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "call/switch.h"
#include "common/latency_histogram.h"
#include "store/cdr_writer.h"
#include "transport/transport.h"
#include "txn/transaction_layer.h"

namespace tollgate::mgmt {

// One consistent copy of the node's counters, taken on the worker. New
// components (shield, registrar, ...) add a member here and a few lines to
// the renderers in metrics.cc and api_stats.cc.
struct NodeStats {
  call::SwitchStats calls;
  size_t activeCalls = 0;
  call::GatewayStats gateways;
  txn::TxnStats txn;
  transport::TransportStats transport;
  uint64_t provisioningVersion = 0;
  bool draining = false;
  // Off the worker (thread-safe sources), filled by the node as well.
  store::CdrWriterStats cdrWriter;
  LatencyHistogram::Snapshot cdrWriteLatency;
  LatencyHistogram::Snapshot provisioningPollLatency;
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
  // Asks for a provisioning reload now and waits until the worker runs
  // `version` or newer. False on timeout (the change still applies at the
  // next poll).
  virtual bool applyProvisioning(uint64_t version, std::chrono::milliseconds timeout) = 0;
  // Installs or removes the trace tap on the worker's transport.
  virtual bool setTap(transport::PacketTap* tap) = 0;
};

}  // namespace tollgate::mgmt
