// The running node as the management API sees it (mgmt::NodeControl):
// every read or change of worker state is a closure posted to the SIP
// worker's event loop, answered through a future the API thread waits on
// with a timeout. Also the local CLI token file. Thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "app/config.h"
#include "call/call_layer.h"
#include "common/event_loop.h"
#include "common/latency_histogram.h"
#include "firewall/kernel_offload.h"
#include "mgmt/hep.h"
#include "mgmt/node_control.h"
#include "shield/shield.h"
#include "store/cdr_writer.h"
#include "transport/tap_fanout.h"
#include "transport/transport.h"
#include "txn/transaction_layer.h"

namespace tollgate::app {

class WorkerControl final : public mgmt::NodeControl {
 public:
  // shield: null when shield.enabled = false; offload: null without
  // firewall.kernel_offload.
  WorkerControl(EventLoop& loop, call::CallLayer& layer, txn::TransactionLayer& txns,
                transport::Transport& transport, store::AsyncCdrWriter& cdrs,
                const LatencyHistogram& pollLatency, std::function<void()> wakeWatcher,
                shield::Shield* shield, firewall::KernelOffload* offload);

  std::optional<mgmt::NodeStats> stats() override;
  std::optional<std::vector<call::LiveCall>> liveCalls(size_t limit) override;
  std::optional<bool> endCall(uint64_t id) override;
  std::optional<std::vector<registrar::Binding>> registrations() override;
  std::optional<size_t> unregister(const std::string& username,
                                   const std::string& contact) override;
  std::optional<std::vector<auth::Suspension>> suspensions() override;
  std::optional<std::vector<admission::BlacklistEntry>> blacklist(size_t limit) override;
  bool applyProvisioning(uint64_t version, std::chrono::milliseconds timeout) override;
  bool setTap(transport::PacketTap* tap) override;
  void securityChanged() override {
    if (securityChanged_) securityChanged_();
  }
  // What securityChanged() runs (thread-safe; wakes the ban and suspension
  // pollers). Before the API starts.
  void setSecurityChanged(std::function<void()> fn) { securityChanged_ = std::move(fn); }
  // Fills the cluster's shared-security counters into stats(), on the
  // worker. Before the API starts.
  void setClusterSecurityStats(std::function<void(mgmt::NodeStats&)> fn) {
    clusterSecurityStats_ = std::move(fn);
  }
  // Overload control runs with the shield's checks off too.
  void setOverload(shield::OverloadControl* overload) { overload_ = overload; }
  // On the worker, before the API starts: the HEP capture (null = none),
  // tapped for the node's life beside any trace session.
  void setCapture(mgmt::HepCapture* capture);
  // On the worker, when the API has stopped: removes the trace tap and
  // keeps the capture's.
  void clearTraceTap();

 private:
  template <typename T>
  std::optional<T> onWorker(std::function<T()> fn, std::chrono::milliseconds timeout);

  EventLoop& loop_;
  call::CallLayer& layer_;
  txn::TransactionLayer& txns_;
  transport::Transport& transport_;
  store::AsyncCdrWriter& cdrs_;
  const LatencyHistogram& pollLatency_;
  std::function<void()> wakeWatcher_;
  shield::Shield* shield_;
  firewall::KernelOffload* offload_;
  shield::OverloadControl* overload_ = nullptr;
  mgmt::HepCapture* capture_ = nullptr;
  transport::TapFanout taps_;  // worker only
  std::function<void()> securityChanged_;
  std::function<void(mgmt::NodeStats&)> clusterSecurityStats_;
};

// The file the node writes its local API token to (mode 0600, next to the
// store: "<store.path>.api-token") and `tollgate` CLI commands read.
std::string apiTokenPath(const Config& config);
// Writes a fresh token there atomically (temp file, fsync, rename);
// returns the token, or an error naming the file.
Result<std::string, std::string> writeApiToken(const std::string& path);

}  // namespace tollgate::app
