// The rtpengine ng control client: bencode dictionaries over UDP, each
// request prefixed by a unique cookie that its reply repeats. Requests are
// asynchronous on the worker's event loop (one UDP socket per address family,
// timers for retransmission): nothing here blocks. Several engines share new
// sessions by weight; a session stays on the engine that created it (call-id
// affinity), since only that engine knows it. Every engine is pinged every
// media.ping_interval; one that lets a request or ping time out is down (new
// sessions go to the healthy ones; the down ones only when none is healthy)
// until it answers again. A new session whose engine times out is sent to
// the next engine it has not tried. Confined to its worker.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/event_loop.h"
#include "common/random.h"
#include "common/result.h"
#include "media/bencode.h"
#include "media/media_settings.h"

namespace tollgate::media {

// Counters of the ng client (mgmt/metrics.cc: tollgate_media_*). Read on
// the worker or via a snapshot the node copies.
struct NgEngineStats {
  std::string address;
  bool up = true;
  uint64_t requests = 0;  // requests sent (not counting retransmissions)
  uint64_t retransmits = 0;
  uint64_t timeouts = 0;  // requests that got no reply after every try
  uint64_t errors = 0;    // replies with result "error"
  uint64_t downs = 0;     // times it went down
  uint64_t sessions = 0;  // sessions it holds for us now
};

struct NgStats {
  std::vector<NgEngineStats> engines;
  uint64_t noEngine = 0;    // new sessions refused: no engine answered
  uint64_t badReplies = 0;  // undecodable or unmatched replies
};

enum class NgError : uint8_t {
  NoEngine,  // no healthy engine, or none answered a new session
  Timeout,   // the session's engine did not answer
  Rejected,  // the engine answered result=error (reason in Reply::error)
};

struct NgReply {
  bool ok = false;
  NgError error = NgError::NoEngine;
  std::string reason;  // rtpengine's error-reason, or ours
  Bencode body;        // the reply dictionary when ok
};

class NgClient {
 public:
  using Callback = std::function<void(NgReply&&)>;
  using RequestId = uint64_t;

  NgClient(const MediaSettings& settings, EventLoop& loop, Random& random);
  ~NgClient();
  NgClient(const NgClient&) = delete;
  NgClient& operator=(const NgClient&) = delete;

  // Opens the sockets and starts the health checks; error text on failure.
  Result<Ok, std::string> start();
  bool enabled() const { return !engines_.empty(); }

  // Sends `command` for the session `key` (the ng call-id; "" = none, e.g.
  // ping). `cb` runs once, on the worker, later (never inside send()) —
  // unless cancel() comes first; at the latest when the client is destroyed
  // (with a failure). Returns 0 (and never calls `cb`) while being destroyed. `endsSession` forgets
  // the affinity once the reply (or its failure) is in.
  RequestId send(std::string_view key, Bencode command, Callback cb, bool endsSession = false);
  // `cb` of `id` will not run; the request itself may still reach the engine.
  void cancel(RequestId id);
  // True when `key` already lives on an engine.
  bool hasSession(std::string_view key) const { return affinity_.count(std::string(key)) != 0; }

  NgStats stats() const;
  size_t pending() const { return requests_.size(); }

 private:
  struct Engine {
    EngineSettings settings;
    NgEngineStats stats;
    bool pingInFlight = false;
  };
  struct Request {
    RequestId id = 0;
    std::string key;
    std::string cookie;
    std::string payload;  // the encoded dictionary (cookie prepended on send)
    int engine = -1;
    int tries = 0;
    bool endsSession = false;
    bool ping = false;
    std::vector<int> tried;  // engines this new session already timed out on
    Callback cb;
    Timer timer;
  };

  int pickEngine(const Request& r) const;
  void transmit(Request& r);
  void onTimer(RequestId id);
  void onReadable(int fd);
  void complete(RequestId id, NgReply&& reply);
  void ping();
  void setUp(int engine, bool up);
  int socketFor(int engine) const;

  const MediaSettings& settings_;
  EventLoop& loop_;
  Random& random_;
  std::vector<Engine> engines_;
  int fd4_ = -1;
  int fd6_ = -1;
  RequestId nextId_ = 1;
  std::unordered_map<RequestId, std::unique_ptr<Request>> requests_;
  std::unordered_map<std::string, RequestId> byCookie_;
  std::unordered_map<std::string, int> affinity_;  // ng call-id -> engine
  Timer pingTimer_;
  uint64_t noEngine_ = 0;
  uint64_t badReplies_ = 0;
  bool closing_ = false;
  std::vector<char> recvBuffer_;  // one datagram at a time, reused
};

}  // namespace tollgate::media
