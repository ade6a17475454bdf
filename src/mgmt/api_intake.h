// The management API's connection intake: one event-driven thread (epoll)
// that owns every API connection while it waits on the client, so that a
// connection thread only ever runs a request whose head (and small body) is
// already here, and a slow or silent client costs memory, never a thread.
//
// Per connection, in order:
//   accept    web access control (api.allow: RST, counted), then the
//             connection limits: per source (an IPv4 address, an IPv6 /64;
//             RST) and for the whole API (at the cap the oldest unfinished
//             connection of the source holding the most unfinished ones is
//             closed to make room; RST when there is none)
//   handshake TLS, non-blocking, complete within tls_handshake_timeout
//   head      the request head, complete within request_head_timeout of
//             the handshake (or of the first byte of a keep-alive
//             connection's next request) however the bytes trickle in; at
//             most kApiMaxHeadBytes (431 otherwise)
//   body      a Content-Length body of at most kApiIntakeBodyBytes is read
//             here too, within the same deadline; a larger or chunked one
//             is left for the connection thread, which reads it only after
//             the request's credentials are checked
//   dispatch  to the connection threads' queue (bounded: 503 when full)
//   flush     the response a connection thread left in the connection's
//             output, written here without blocking, within
//             kApiWriteTimeoutSeconds; then the next request (keep-alive,
//             idle at most kApiKeepAliveSeconds) or close
// Every refusal and every deadline closure is counted by reason
// (ApiCounters) and logged at most once a second.
//
// This is the shape of nginx's or HAProxy's front end; cpp-httplib's own
// server reads the head on the thread that will serve the request (a
// per-read timeout, thread-per-connection), which cannot bound the head as a
// whole nor keep a slow client off the threads, so tollgate keeps httplib
// only for parsing and routing complete requests (api_server.cc).
//
// Threading: the intake's state is confined to its thread. dispatch runs on
// it; handBack() is thread-safe (connection threads return connections
// through it). An ApiConn belongs to exactly one thread at a time: the
// intake, the queue, or the connection thread serving it.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/net.h"
#include "mgmt/access_list.h"
#include "mgmt/api_counters.h"
#include "mgmt/api_limits.h"
#include "mgmt/log_limiter.h"

namespace tollgate::mgmt {

// A request head larger than this gets 431 (bearer tokens are short; the
// API sets no cookies).
inline constexpr size_t kApiMaxHeadBytes = 32 * 1024;
// Bodies up to this are read by the intake; every body a request without
// credentials may send (a login) is far smaller.
inline constexpr size_t kApiIntakeBodyBytes = 64 * 1024;
// A response is kept in memory (and written by the intake) up to this; a
// larger one (CSV export, trace) is written by its connection thread. The
// largest unauthenticated answer, the OpenAPI document, is ~140 KiB.
inline constexpr size_t kApiMaxBufferedResponseBytes = 1u << 20;
// A buffered response must be read by the client within this.
inline constexpr int kApiWriteTimeoutSeconds = 10;
// Idle keep-alive connections are closed after this.
inline constexpr int kApiKeepAliveSeconds = 5;
// Requests served on one connection before it is closed.
inline constexpr size_t kApiMaxRequestsPerConnection = 100;

// One client connection of the API.
struct ApiConn {
  using Clock = std::chrono::steady_clock;
  enum class Stage : uint8_t { Handshake, Head, Body, Served, Flush };

  int fd = -1;
  SSL* ssl = nullptr;
  net::SockAddr peer;
  net::SockAddr local;
  std::string source;  // the limit key: IPv4 address or IPv6 /64
  // Bytes read and not yet consumed by a request (the head, maybe its body,
  // maybe the start of the next request).
  std::string in;
  // Response bytes still to be written.
  std::string out;
  size_t requests = 0;   // requests served on this connection
  bool bodyRead = true;  // the current request's body, if any, is in `in`
  size_t bodyEnd = 0;    // Stage::Body: where the body ends in `in`
  bool close = false;    // close once `out` is written
  // Intake only.
  Stage stage = Stage::Head;
  bool idle = false;           // waiting for the next request's first byte
  Clock::time_point since;     // when this stage (or the head) started
  Clock::time_point deadline;  // of this stage
  uint32_t events = 0;         // epoll interest now registered (0 = none)
};

class ApiIntake {
 public:
  // Hands a connection with a complete head to the connection threads;
  // returns false (leaving `c` with the caller) when their queue is full.
  using Dispatch = std::function<bool(std::unique_ptr<ApiConn>& c)>;

  // Takes ownership of the listening sockets (non-blocking) and uses `tls`
  // (may be null) for every connection.
  ApiIntake(ApiConnectionLimits limits, const AccessList& access, ApiCounters& counters,
            SSL_CTX* tls, std::vector<int> listenFds, Dispatch dispatch);
  ~ApiIntake();
  ApiIntake(const ApiIntake&) = delete;
  ApiIntake& operator=(const ApiIntake&) = delete;

  // False when the event loop cannot be set up (no descriptors left).
  bool start();
  // Stops the thread and closes the listeners and the connections it holds.
  // Connections handed back later are closed by closeReturned().
  void stop();
  void closeReturned();

  // A connection thread is done with `c` (thread-safe): its output is
  // flushed, then it is closed (c->close) or waits for its next request.
  void handBack(std::unique_ptr<ApiConn> c);

 private:
  using Clock = ApiConn::Clock;
  enum class Progress : uint8_t { Wait, Dispatched, Closed };
  // Outcome of one non-blocking read or write step.
  enum class Io : uint8_t { Done, WantRead, WantWrite, Eof, Error };

  void run();
  void acceptFrom(int listenFd);
  bool makeRoom();
  void adopt(std::unique_ptr<ApiConn> c);
  // Moves `c` on as far as it goes without blocking. `c` is gone (closed
  // or dispatched) unless the result is Wait.
  Progress advance(ApiConn& c);
  Progress dispatch(ApiConn& c);
  Io readSome(ApiConn& c);
  Io flush(ApiConn& c);
  void startHead(ApiConn& c, bool keepAlive);
  void answerAndClose(ApiConn& c, int status, const char* reason, const char* code,
                      const char* message);
  void watch(ApiConn& c, Io wait);
  void closeConn(ApiConn& c, bool reset);
  void sweep(Clock::time_point now);
  void logRefused(const net::SockAddr& peer, std::string_view reason);
  void logClose(const ApiConn& c, std::string_view reason);

  ApiConnectionLimits limits_;
  const AccessList& access_;
  ApiCounters& counters_;
  SSL_CTX* tls_;
  std::vector<int> listenFds_;
  Dispatch dispatch_;
  int epollFd_ = -1;
  int wakeFd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  // Intake thread only: connections it holds, by descriptor, and open
  // connections per source (including those with a connection thread).
  std::unordered_map<int, std::unique_ptr<ApiConn>> conns_;
  std::unordered_map<std::string, size_t> perSource_;
  size_t open_ = 0;
  bool emfile_ = false;  // accept() ran out of descriptors

  std::mutex returnedMu_;
  std::vector<std::unique_ptr<ApiConn>> returned_;

  LogLimiter refusedLog_;
  LogLimiter closedLog_;
};

}  // namespace tollgate::mgmt
