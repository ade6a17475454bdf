// RFC 3261 §17 transactions for one worker: INVITE and non-INVITE, client
// and server, timers A-K (plus RFC 6026 L and M), retransmission
// absorption, CANCEL matching (§9.2), 100 Trying sent at once for every new
// INVITE server transaction, ACK for non-2xx final responses, 2xx
// retransmission until the ACK arrives (§13.3.1.4), and RFC 3581
// received/rport on responses. It is the transport's MessageSink: it parses
// each message, absorbs what belongs to a live transaction, and hands the
// rest (new requests, ACKs for 2xx, stray responses, malformed input) to the
// TransactionUser, which decides whether a server transaction is created at
// all, so that traffic from unknown sources never costs transaction state.
//
// Transactions are addressed by TxnId handles; a handle whose transaction has
// ended is simply not found. Confined to its worker.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/event_loop.h"
#include "common/occupancy.h"
#include "common/random.h"
#include "sip/message.h"
#include "sip/serialize.h"
#include "transport/transport.h"
#include "txn/key_index.h"
#include "txn/stats.h"

namespace tollgate::txn {

using TxnId = uint64_t;  // 0 = none

struct TimerSettings {
  Millis t1{500};   // RTT estimate
  Millis t2{4000};  // cap on non-INVITE / 2xx retransmission interval
  Millis t4{5000};  // how long a message may stay in the network
};

// RFC 7339 overload control feedback: parameters (";oc=...") for the top
// Via of responses to a client whose request's Via carried `oc`. The node's
// overload control supplies them ("" = nothing to say).
class ViaFeedback {
 public:
  virtual ~ViaFeedback() = default;
  virtual std::string viaParams(const net::IpAddress& client) = 0;
};

class TransactionUser {
 public:
  virtual ~TransactionUser() = default;
  // A request that belongs to no live transaction: a new request (the TU
  // calls createServer() to answer it statefully, or answers statelessly,
  // or drops it), an ACK for a 2xx (passed on after stopping our 2xx
  // retransmissions), or a stray ACK/CANCEL.
  virtual void onRequest(sip::MessagePtr request, const transport::Flow& from) = 0;
  // A response that matched no client transaction (e.g. a 2xx retransmitted
  // after our INVITE transaction ended), or a 2xx for an INVITE transaction
  // whose callbacks were detached.
  virtual void onStrayResponse(sip::MessagePtr response, const transport::Flow& from) = 0;
  // Bytes that did not parse. `raw` is valid only during the call.
  virtual void onMalformed(const transport::Flow& from, std::string_view raw,
                           const sip::ParseError& error) = 0;
  // A CANCEL from the INVITE's source IP matched INVITE server transaction
  // `invite` that has not sent a final response yet. The CANCEL itself was
  // already answered with 200. (A CANCEL or ACK from another IP is dropped
  // and counted in TxnStats: only the INVITE's sender may end or confirm it.)
  virtual void onCancel(TxnId invite) = 0;
  // INVITE server transaction `invite` sent a 2xx and no ACK came within
  // 64*T1 (§13.3.1.4: the TU should end the session).
  virtual void onAckTimeout(TxnId invite) = 0;
  // A TCP/TLS connection closed (a registered phone on it is now unreachable).
  virtual void onConnectionClosed(transport::ConnectionId id) {}
};

// Per client transaction. Must stay valid until the transaction ends or
// detach() is called.
class ClientCallbacks {
 public:
  virtual ~ClientCallbacks() = default;
  // Every response: provisional, final, and (INVITE) 2xx retransmissions.
  // `response` is valid only during the call.
  virtual void onResponse(TxnId id, const sip::Message& response) = 0;
  // Timer B/F: no final response in time; or a transport failure.
  virtual void onTimeout(TxnId id) = 0;
  virtual void onTransportError(TxnId id) = 0;
};

// A request we originate, with the fields the transaction needs to build the
// ACK for a non-2xx final response and the CANCEL (§17.1.1.3, §9.1).
struct OutgoingRequest {
  sip::Method method = sip::Method::Unknown;
  std::string bytes;   // the serialized request
  std::string branch;  // branch of the top Via in `bytes`
  std::string requestUri;
  std::string via;  // top Via value as sent
  std::string from;
  std::string to;
  std::string callId;
  uint32_t cseq = 0;
  std::vector<std::string> routes;  // Route values in order
};

class TransactionLayer final : public transport::MessageSink {
 public:
  TransactionLayer(EventLoop& loop, transport::Transport& transport, Random& random,
                   TimerSettings timers = {});
  ~TransactionLayer() override;
  TransactionLayer(const TransactionLayer&) = delete;
  TransactionLayer& operator=(const TransactionLayer&) = delete;

  void setUser(TransactionUser* user) { user_ = user; }
  // Told of every server transaction's creation and end, by source IP (the
  // shield's per-source concurrency limit). Null = nobody.
  void setOccupancyObserver(OccupancyObserver* observer) { occupancy_ = observer; }
  void setViaFeedback(ViaFeedback* feedback) { viaFeedback_ = feedback; }
  const TimerSettings& timers() const { return timers_; }

  // transport::MessageSink
  void onMessage(const transport::Flow& from, std::string&& bytes) override;
  void onConnectionClosed(transport::ConnectionId id) override {
    if (user_) user_->onConnectionClosed(id);
  }

  // ---- Server transactions ----
  // Creates the server transaction for a new request (not ACK). INVITE:
  // 100 Trying is sent immediately.
  TxnId createServer(sip::MessagePtr request, const transport::Flow& from);
  const sip::Message* serverRequest(TxnId id) const;
  // Where responses of this transaction go (after rport/received rules).
  const transport::Flow* serverFlow(TxnId id) const;
  // Sends a response on the transaction; false when it is gone or already
  // final. reason "" = standard phrase.
  bool respond(TxnId id, int status, std::string_view reason, std::string_view toTag,
               const std::vector<sip::ExtraHeader>& extra = {}, std::string_view body = {});
  bool serverHasFinal(TxnId id) const;

  // ---- Stateless ----
  // Response to a request without creating state (unknown-source 403,
  // answers to ACK-less methods, 481 for stray CANCEL).
  void respondStateless(const sip::Message& request, const transport::Flow& from, int status,
                        std::string_view reason, std::string_view toTag,
                        const std::vector<sip::ExtraHeader>& extra = {});
  // Sends bytes outside any transaction (ACK for 2xx, error responses to
  // unparseable requests).
  void sendRaw(const transport::Flow& to, std::string_view bytes);

  // ---- Client transactions ----
  TxnId sendRequest(OutgoingRequest&& request, const transport::Flow& to, ClientCallbacks* cb);
  // CANCELs a pending INVITE client transaction (§9.1): sent now if a
  // provisional response arrived, else as soon as one does. If no final
  // response follows within 64*T1, the INVITE transaction times out.
  void cancelClient(TxnId invite);
  // Stops callbacks for this transaction; it still runs to completion
  // (absorbs retransmissions, ACKs non-2xx).
  void detach(TxnId client);
  // The flow a client transaction sends on (connection filled in once known).
  const transport::Flow* clientFlow(TxnId id) const;

  // A new RFC 3261 branch: "z9hG4bK" + random.
  std::string newBranch();

  const TxnStats& stats() const { return stats_; }
  transport::Transport& transport() { return transport_; }

 private:
  struct ServerTxn;
  struct ClientTxn;

  void onRequestMessage(sip::MessagePtr msg, const transport::Flow& from);
  void onResponseMessage(sip::MessagePtr msg, const transport::Flow& from);
  std::string serverKey(const sip::Message& m, bool forCancelTarget) const;
  std::string acceptedKey(std::string_view callId, uint32_t cseq, std::string_view fromTag) const;
  bool fromSource(const ServerTxn& t, const transport::Flow& from) const;
  transport::Flow responseFlow(const sip::Message& request, const transport::Flow& from) const;
  std::string viaWithReceived(const sip::Message& request, const transport::Flow& from) const;

  void serverSend(ServerTxn& t, std::string&& bytes);
  // The top Via of a response on t: with RFC 7339 feedback when it asked.
  std::string responseVia(const ServerTxn& t) const;
  void startFinalRetransmission(ServerTxn& t);
  void serverTerminate(ServerTxn& t);
  void clientSend(ClientTxn& t, std::string_view bytes);
  void clientTerminate(ClientTxn& t);
  void sendCancelNow(ClientTxn& invite);
  void sendAckForNon2xx(ClientTxn& t, const sip::Message& response);
  void reap();

  bool reliable(const transport::Flow& f) const { return transport::isStream(f.protocol); }

  EventLoop& loop_;
  transport::Transport& transport_;
  Random& random_;
  TimerSettings timers_;
  TransactionUser* user_ = nullptr;
  OccupancyObserver* occupancy_ = nullptr;
  ViaFeedback* viaFeedback_ = nullptr;

  TxnId nextId_ = 1;
  std::unordered_map<TxnId, std::unique_ptr<ServerTxn>> servers_;
  KeyIndex<ServerTxn> serverByKey_;
  KeyIndex<ServerTxn> acceptedByDialog_;  // 2xx sent, awaiting ACK
  std::unordered_map<TxnId, std::unique_ptr<ClientTxn>> clients_;
  KeyIndex<ClientTxn> clientByKey_;  // branch + method
  // Ended transactions are destroyed after the current event, never inside
  // a callback that may still reference them.
  std::vector<std::unique_ptr<ServerTxn>> deadServers_;
  std::vector<std::unique_ptr<ClientTxn>> deadClients_;
  // Transactions that reached a final response this loop turn. A finished
  // transaction lingers (Timers J, L, M, D: up to 32 s over UDP) only to
  // match retransmissions, which needs its key and last response, not the
  // request: reap() frees the request then, once nobody in this turn can
  // still hold a reference to it (serverRequest()).
  std::vector<TxnId> finishedServers_;
  std::vector<TxnId> finishedClients_;
  TxnStats stats_;
};

}  // namespace tollgate::txn
