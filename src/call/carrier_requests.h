// Requests we send to a carrier that no call waits for — the BYE of a call
// that ended on our side — with the carrier's 401/407 answered by its
// routing gateway's credentials (auth/digest_client.h; a sent request is
// sent again with txn/resubmission.h). Each request lives until its
// transaction ends. Confined to its worker.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/digest_client.h"
#include "call/stats.h"
#include "common/event_loop.h"
#include "txn/transaction_layer.h"

namespace tollgate::call {

class CarrierRequests {
 public:
  CarrierRequests(EventLoop& loop, txn::TransactionLayer& txns, auth::DigestClient& digest,
                  CallStats& stats);
  ~CarrierRequests();
  CarrierRequests(const CarrierRequests&) = delete;
  CarrierRequests& operator=(const CarrierRequests&) = delete;

  // Sends `out` to `flow`; a challenge is answered with these credentials.
  void send(txn::OutgoingRequest&& out, const transport::Flow& flow, const std::string& username,
            const std::string& password);

 private:
  class Request;
  void moved(txn::TxnId from, txn::TxnId to);
  void retire(txn::TxnId id);

  EventLoop& loop_;
  txn::TransactionLayer& txns_;
  auth::DigestClient& digest_;
  CallStats& stats_;
  std::unordered_map<txn::TxnId, std::unique_ptr<Request>> pending_;
  std::vector<std::unique_ptr<Request>> dead_;  // freed after the current event
};

}  // namespace tollgate::call
