// For unit tests of the call layer: the cast of a basic call around a
// CallHarness — a customer (mapping gateway "cust", identified by IP and
// port) and up to kCarriers carriers ("carrier1", "carrier2", ... routed
// for every number and tried in that order), all LoopbackPeers on
// 127.0.0.1 — and the SIP each side sends: the customer's INVITE, ACK,
// CANCEL and in-dialog requests, a carrier's responses and in-dialog
// requests, each built from what the other side really received.
// Confined to its worker: the test's thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "admission/provisioning.h"
#include "test_support/call_harness.h"
#include "test_support/loopback_peer.h"

namespace tollgate::test_support {

// Whether the request `msg` carries in `header` (Authorization or
// Proxy-Authorization) a correct digest answer (RFC 7616 §3.4) to `nonce`
// in `realm` for `username` / `password` and its own method and
// Request-URI: "" when it does, else what is wrong.
std::string digestProblem(std::string_view msg, std::string_view header, std::string_view username,
                          std::string_view realm, std::string_view password,
                          std::string_view nonce);

class CallScenario {
 public:
  static constexpr size_t kCarriers = 3;
  static constexpr std::string_view kCallee = "15551234567";
  static constexpr std::string_view kCaller = "1001";
  static constexpr std::string_view kCarrierTag = "carrier-tag";

  CallScenario();

  // "cust" and carriers 1..n (priority in that order, prefix "": every number).
  admission::Provisioning provisioning(size_t carriers = 1) const;
  // The layer's defaults without a User-Agent (fewer lines on the wire).
  static CallLayerSettings settings();
  void start(size_t carriers = 1, CallLayerSettings s = settings());
  void start(const admission::Provisioning& p, CallLayerSettings s = settings());
  TestCallLayer& layer() { return h.layer(); }
  LoopbackPeer& carrier(size_t i) { return carriers_[i - 1]; }  // 1-based, like the names

  // The customer's INVITE of call `n` (Call-ID "call-<n>", From tag "f<n>").
  std::string invite(int n, const std::string& extraHeaders = "",
                     const std::string& body = "") const;
  // Sends it from the customer and settles; returns it.
  std::string sendInvite(int n, const std::string& extraHeaders = "", const std::string& body = "");
  // What `peer` received: responses with `status` in the dialog `callId`,
  // requests of `method` in it; one per transaction (retransmissions left
  // out), oldest first.
  std::vector<std::string> responses(const LoopbackPeer& peer, std::string_view callId,
                                     int status) const;
  std::vector<std::string> requests(const LoopbackPeer& peer, std::string_view method) const;
  // A carrier's answer to the raw `invite` it received (To tag kCarrierTag,
  // a Contact on 1xx/2xx); sent and settled.
  void answer(LoopbackPeer& carrier, const std::string& request, int status,
              std::string_view reason, const std::string& extraHeaders = "",
              const std::string& body = "");

  // A call carrier1 answered 200 and the customer ACKed.
  struct Answered {
    std::string aInvite;  // the customer's INVITE
    std::string bInvite;  // as carrier1 received it
    std::string a200;     // the 200 the customer received
  };
  Answered establish(int n, const std::string& extraHeaders = "", const std::string& body = "");
  // The customer's ACK of the 2xx `ok` to its `invite` (CSeq `cseq`).
  std::string callerAck(const std::string& invite, const std::string& ok, uint32_t cseq = 1,
                        const std::string& body = "") const;
  // In-dialog requests of the answered call, from the customer and from
  // the carrier (carrier1 unless given).
  std::string callerRequest(const Answered& c, std::string_view method, uint32_t cseq,
                            const std::string& extraHeaders = "",
                            const std::string& body = "") const;
  std::string carrierRequest(const Answered& c, std::string_view method, uint32_t cseq,
                             const std::string& extraHeaders = "",
                             const std::string& body = "") const;

  CallHarness h;
  LoopbackPeer customer;

 private:
  std::array<LoopbackPeer, kCarriers> carriers_;
  mutable int nextBranch_ = 0;
  std::string branch(std::string_view who) const;  // a new branch of `who`
};

}  // namespace tollgate::test_support
