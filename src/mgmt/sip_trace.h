// SIP trace (VOS3000 "Debug Trace"): copies of the SIP messages a node
// receives and sends, filtered by gateway, peer address, number or Call-ID,
// for operators debugging a gateway. SipTrace is the transport's PacketTap;
// it is installed on the worker only while at least one TraceSession is
// open, so a node that is not tracing pays one null-pointer test per
// message. Each session is bounded: a token bucket on messages per second
// and a queue of at most kTraceMaxQueuedMessages / kTraceMaxQueuedBytes;
// what does not fit is counted as dropped, never queued. Challenge/response
// cycles are marked per Call-ID (401/407 = "challenge #n", a request with
// credentials = "credentials #n"), so an authentication loop shows as a
// rising n. Digest responses are masked before a record is queued
// (maskCredentials), so no rendering (text, ndjson, pcap) carries them.
// A carrier leg's messages carry the caller leg's Call-ID (callerCallId),
// told by the call layer as each leg opens (call::LegObserver), so a reader
// pairs the legs of one call by it, as HEP capture correlates them.
//
// Threading: onPacket() and onCarrierLeg() run on the worker; open()/close() and the
// TraceSession reader methods are called from API threads. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "admission/number_lists.h"
#include "call/services.h"
#include "common/bounded_table.h"
#include "common/net.h"
#include "common/token_bucket.h"
#include "transport/transport.h"

namespace tollgate::mgmt {

inline constexpr size_t kTraceMaxSessions = 4;
inline constexpr size_t kTraceMaxQueuedMessages = 2048;
inline constexpr size_t kTraceMaxQueuedBytes = 4u << 20;
inline constexpr double kTraceDefaultRate = 100;  // messages/s per session
inline constexpr double kTraceMaxRate = 2000;
// Call-IDs whose challenge count one session remembers (then it restarts).
inline constexpr size_t kTraceMaxCallIds = 4096;
// Carrier legs remembered (carrier Call-ID -> caller Call-ID), least
// recently seen evicted: as for HEP capture (kHepMaxCarrierLegs), well above
// the calls a node carries at once; a forgotten leg's messages are shown
// without callerCallId, which a reader pairs by order instead.
inline constexpr size_t kTraceMaxCarrierLegs = 65536;
// Longest Call-ID kept in the leg table (longer ones are cut, as in HEP).
inline constexpr size_t kTraceMaxLegCallId = 256;

// Every criterion that is set must match. The gateway criterion is resolved
// from provisioning when the session starts: a message matches when its
// peer (source of what we receive, destination of what we send) is one of
// the gateway's addresses.
struct TraceFilter {
  std::string gateway;  // name, for display
  bool byGateway = false;
  std::vector<net::Cidr> gatewayCidrs;      // mapping gateway, auth ip
  std::vector<net::SockAddr> gatewayAddrs;  // mapping ip_port, routing gateway
  std::optional<net::Cidr> peerCidr;        // --source: IP or CIDR
  std::optional<net::SockAddr> peerAddr;    // --source: IP:port
  std::string number;                       // contained in From/To/Request-URI user
  std::string callId;                       // exact Call-ID

  bool matchesPeer(const net::SockAddr& peer) const;
};

struct TraceRecord {
  uint64_t seq = 0;
  int64_t timeUs = 0;
  transport::TapDirection dir = transport::TapDirection::In;
  transport::Protocol protocol = transport::Protocol::Udp;
  net::SockAddr local;
  net::SockAddr remote;
  std::string summary;  // start line
  std::string callId;
  std::string callerCallId;  // carrier leg: the caller leg's Call-ID; else ""
  std::string mark;          // "challenge #1", "credentials #1", "malformed", ""
  std::string bytes;
};

struct TraceCounts {
  uint64_t matched = 0;
  uint64_t delivered = 0;    // queued for the reader
  uint64_t droppedRate = 0;  // over the session's rate
  uint64_t droppedFull = 0;  // queue full (reader too slow)
};

class TraceSession {
 public:
  TraceSession(TraceFilter filter, double ratePerSecond);
  const TraceFilter& filter() const { return filter_; }

  // Reader: waits up to `timeout` for records, then moves all queued ones
  // to `out`. False when none came.
  bool take(std::vector<TraceRecord>& out, std::chrono::milliseconds timeout);
  TraceCounts counts() const;

  // Worker side (SipTrace::onPacket).
  void offer(TraceRecord&& r, std::chrono::steady_clock::time_point now);
  // Per-session challenge counter for a Call-ID (worker only).
  int& challenges(const std::string& callId);

 private:
  TraceFilter filter_;
  double rate_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TraceRecord> queue_;
  size_t queuedBytes_ = 0;
  BasicTokenBucket<double, MonoTime> bucket_;  // burst: one second's worth
  TraceCounts counts_;
  uint64_t nextSeq_ = 1;
  // Worker only. Cleared when kTraceMaxCallIds are held rather than a
  // BoundedTable: a count restarting at #1 is harmless in a debugging aid,
  // and a session lives minutes, so the simplest bound is enough.
  std::unordered_map<std::string, int> challenges_;
};

class SipTrace final : public transport::PacketTap, public call::LegObserver {
 public:
  SipTrace();

  // nullptr when kTraceMaxSessions are open. `installed` tells whether the
  // caller must install the tap (first session).
  std::shared_ptr<TraceSession> open(TraceFilter filter, double ratePerSecond, bool* first);
  // True when this was the last session (the tap can be removed).
  bool close(const std::shared_ptr<TraceSession>& s);
  size_t sessions() const;

  void onPacket(transport::TapDirection dir, const transport::Flow& flow,
                const net::SockAddr& local, std::string_view bytes) override;
  // Every carrier leg, traced or not: a trace started mid-call still pairs
  // that call's legs.
  void onCarrierLeg(std::string_view callerCallId, std::string_view carrierCallId) override;

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<TraceSession>> sessions_;
  // Worker only.
  BoundedTable<std::string, std::string, admission::StringHash> carrierLegs_;
};

// The message as a trace shows it: the value of every `response` parameter
// of an Authorization or Proxy-Authorization header replaced by "***". A
// digest response (RFC 7616 §3.4) lets whoever reads it test password
// guesses offline, so no trace reader, whatever its role, gets it. The rest
// of the credentials (username, realm, nonce, uri) stay, for debugging.
std::string maskCredentials(std::string_view message);

// Renderings for the API stream and `tollgate trace`.
// Text: a header line (seq, UTC time, direction, protocol, addresses,
// start line, Call-ID, mark), the message with CRLF as LF and control
// characters other than TAB shown as '?', then an empty line.
std::string traceRecordText(const TraceRecord& r);
// One JSON object and '\n'.
std::string traceRecordJson(const TraceRecord& r);

}  // namespace tollgate::mgmt
