// Requests to carriers nobody waits for. See carrier_requests.h.
#include "call/carrier_requests.h"

#include "txn/resubmission.h"

namespace tollgate::call {

class CarrierRequests::Request final : public txn::ClientCallbacks {
 public:
  Request(CarrierRequests& owner, const txn::OutgoingRequest& sent, const transport::Flow& flow,
          std::string username, std::string password)
      : owner_(owner),
        sent_(sent),
        flow_(flow),
        username_(std::move(username)),
        password_(std::move(password)) {}

  void onResponse(txn::TxnId id, const sip::Message& resp) override {
    const int st = resp.status();
    if (st < 200) return;
    if (st == 401 || st == 407) {
      auto a = owner_.digest_.answer(resp, answers_, sip::methodName(sent_.method),
                                     sent_.requestUri, username_, password_);
      if (a.ok()) {
        ++owner_.stats_.carrierChallenges;
        txn::OutgoingRequest out = txn::resubmission(sent_, owner_.txns_.newBranch(),
                                                     sent_.cseq + 1, a->header(), a->value);
        if (!out.bytes.empty()) {
          sent_ = out;
          txn::TxnId next = owner_.txns_.sendRequest(std::move(out), flow_, this);
          owner_.moved(id, next);
          return;
        }
      }
    }
    owner_.retire(id);
  }
  void onTimeout(txn::TxnId id) override { owner_.retire(id); }
  void onTransportError(txn::TxnId id) override { owner_.retire(id); }

 private:
  CarrierRequests& owner_;
  txn::OutgoingRequest sent_;
  transport::Flow flow_;
  std::string username_;
  std::string password_;
  auth::DigestAnswers answers_;
};

CarrierRequests::CarrierRequests(EventLoop& loop, txn::TransactionLayer& txns,
                                 auth::DigestClient& digest, CallStats& stats)
    : loop_(loop), txns_(txns), digest_(digest), stats_(stats) {
  loop_.addFlushHook([this] { dead_.clear(); });
}

CarrierRequests::~CarrierRequests() {
  for (auto& [id, r] : pending_) txns_.detach(id);
}

void CarrierRequests::send(txn::OutgoingRequest&& out, const transport::Flow& flow,
                           const std::string& username, const std::string& password) {
  auto request = std::make_unique<Request>(*this, out, flow, username, password);
  Request* raw = request.get();
  txn::TxnId id = txns_.sendRequest(std::move(out), flow, raw);
  pending_.emplace(id, std::move(request));
}

void CarrierRequests::moved(txn::TxnId from, txn::TxnId to) {
  auto it = pending_.find(from);
  if (it == pending_.end()) return;
  auto owned = std::move(it->second);
  pending_.erase(it);
  pending_.emplace(to, std::move(owned));
}

void CarrierRequests::retire(txn::TxnId id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  // Freed after this event: we are inside its callback.
  dead_.push_back(std::move(it->second));
  pending_.erase(it);
}

}  // namespace tollgate::call
