// The live calls of one worker: owns every Call from its INVITE until it
// has finished (CDR written, its outbound INVITE over), finds them by our
// local tag (either leg: in-dialog requests, ACKs, stray 2xx) and by the
// caller's INVITE transaction (CANCEL, ACK timeout), and acts on them from
// outside: list (liveCalls), end one (endCall, the management API), end a
// number's calls (cutCalls, the dynamic blacklist), end all (hangupAll, the
// drain deadline). Calls report their end here, which returns their
// channels and counters to the call policy. A finished call is freed after
// the current event (it may be inside its own callback). Confined to its
// worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission/call_policy.h"
#include "call/call.h"
#include "call/services.h"
#include "call/stats.h"
#include "common/occupancy.h"

namespace tollgate::call {

class CallRegistry {
 public:
  explicit CallRegistry(CallServices& services);
  ~CallRegistry();
  CallRegistry(const CallRegistry&) = delete;
  CallRegistry& operator=(const CallRegistry&) = delete;

  // Told of every call (dialog) opening and ending, by the caller's source
  // IP (the shield's per-source concurrency limit). Null = nobody.
  void setOccupancyObserver(OccupancyObserver* observer) { occupancy_ = observer; }

  // A new call from `source`, holding what admission granted it; start()
  // it next (it may end inside start(): no route).
  Call& open(admission::CallTicket&& ticket, const net::IpAddress& source);

  struct TagMatch {
    Call* call = nullptr;  // null: no call has this tag
    Side side = Side::A;   // the leg whose local tag it is
  };
  TagMatch byTag(std::string_view tag) const;
  Call* byInvite(txn::TxnId invite) const;

  size_t activeCalls() const { return calls_.size(); }
  // At most `limit` calls in progress (not yet ended), oldest first.
  std::vector<LiveCall> liveCalls(size_t limit = SIZE_MAX) const;
  // Ends one call: BYE both legs when answered, else `code` (503) to the
  // caller and CANCEL to the carrier; the CDR says `reason`, hangup
  // "system". False when no such call is up.
  bool endCall(uint64_t id, TerminationReason reason = TerminationReason::AdminHangup);
  // Ends every live call whose caller (or callee) is `number`, with reason
  // caller_blacklisted (callee_blacklisted). Returns how many.
  size_t cutCalls(std::string_view number, admission::NumberSide side);
  // Cuts the calls of the numbers the call policy just listed with cut_calls.
  void applyListings(const std::vector<admission::Listing>& listings);
  // Ends every call still up (BYE/CANCEL both legs, CDR reason "draining").
  void hangupAll();
  // The CDR recorder's per-gateway counters with `active` filled in.
  GatewayStats gatewayStats() const;

  // From the calls themselves.
  void registerTag(const std::string& tag, Call* call);
  void unregisterTag(const std::string& tag);
  void registerInvite(txn::TxnId invite, Call* call);
  void forgetInvite(txn::TxnId invite);
  // Its CDR is written: the call policy hears of the end (channels, no-answer
  // rule, fraud counters) and numbers it lists may cut other calls.
  void onEnded(Call& call, bool answered, TerminationReason reason);
  // Nothing more to wait for: unregistered now, destroyed after this event.
  void finish(Call* call);

 private:
  CallServices& s_;
  OccupancyObserver* occupancy_ = nullptr;
  uint64_t nextCallId_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Call>> calls_;
  std::unordered_map<std::string, Call*> byTag_;     // our local tags, both legs
  std::unordered_map<txn::TxnId, Call*> byAInvite_;  // caller INVITE server txn
  std::vector<std::unique_ptr<Call>> deadCalls_;
};

}  // namespace tollgate::call
