// OPTIONS keep-alive of routing gateways (VOS3000
// SS_SIP_OPTIONS_CHECK_PERIOD): every period each monitored carrier gets an
// OPTIONS; a carrier that leaves `failureLimit` probes in a row unanswered
// (or fails at the transport) is taken out of routing until it answers one
// again. Any response counts as an answer: a carrier that does not support
// OPTIONS still answers 405 or 501, and that proves it is there. Carriers
// start in rotation. Its status and counters are in call/stats.h.
// Confined to its worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/number_lists.h"
#include "call/route_table.h"
#include "call/stats.h"
#include "common/event_loop.h"
#include "common/random.h"
#include "txn/transaction_layer.h"

namespace tollgate::call {

struct CarrierMonitorSettings {
  Millis period{0};  // 0 = no keep-alive: every carrier is always in rotation
  int failureLimit = 2;
  std::string userAgent;
};

class CarrierMonitor final : public txn::ClientCallbacks {
 public:
  // hostPort(listener) is our host:port as seen on that listener (Via,
  // From; sip.advertised_address rules, call/local_address.h).
  CarrierMonitor(EventLoop& loop, txn::TransactionLayer& txns, Random& random,
                 CarrierMonitorSettings settings,
                 std::function<std::string(transport::ListenerId)> hostPort);
  ~CarrierMonitor() override;
  CarrierMonitor(const CarrierMonitor&) = delete;
  CarrierMonitor& operator=(const CarrierMonitor&) = delete;

  // The carriers of a new snapshot. A carrier that keeps its name and
  // address keeps its state; the rest start in rotation.
  void configure(const RouteTable& routes);
  // False only for a monitored carrier that stopped answering.
  bool available(std::string_view name) const;
  std::vector<CarrierStatus> status() const;
  const CarrierMonitorStats& stats() const { return stats_; }

  // txn::ClientCallbacks
  void onResponse(txn::TxnId id, const sip::Message& response) override;
  void onTimeout(txn::TxnId id) override;
  void onTransportError(txn::TxnId id) override;

 private:
  struct Carrier {
    RouteTarget target;
    bool up = true;
    int misses = 0;
    uint64_t probes = 0;
    txn::TxnId outstanding = 0;
    uint32_t cseq = 0;
    std::string callId;
  };
  void tick();
  void probe(Carrier& c);
  void miss(Carrier& c, std::string_view why);
  Carrier* byTxn(txn::TxnId id);

  EventLoop& loop_;
  txn::TransactionLayer& txns_;
  Random& random_;
  CarrierMonitorSettings settings_;
  std::function<std::string(transport::ListenerId)> hostPort_;
  std::vector<Carrier> carriers_;
  std::unordered_map<std::string, size_t, admission::StringHash, admission::StringEq> byName_;
  std::unordered_map<txn::TxnId, size_t> byTxn_;
  Timer timer_;
  CarrierMonitorStats stats_;
};

}  // namespace tollgate::call
