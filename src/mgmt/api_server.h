// The management HTTP(S) API server (docs/api.md): JSON under /api/v1,
// the OpenAPI document at /api/v1/openapi.json, Prometheus /metrics and the
// SIP trace stream. Connections come in through the intake (api_intake.h):
// web access control before any byte is read (a connection from outside
// api.allow is reset and counted, with no HTTP response), connection limits
// per source and for the whole API, deadlines for the TLS handshake and the
// request head, all on one event-driven thread. Only complete request heads
// reach the small pool of connection threads, which parse and route them
// with cpp-httplib, authenticate, authorize and run the handler.
//
// Externally synchronized: start() and stop() are called from one thread
// (the node's main thread). Internally the intake thread and the connection
// threads share only thread-safe state; each connection thread opens its
// own store connections and reaches the worker through NodeControl.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "admission/number_form.h"
#include "call/services.h"
#include "common/net.h"
#include "common/result.h"
#include "mgmt/api_limits.h"
#include "mgmt/logins.h"
#include "mgmt/node_control.h"
#include "store/pg_target.h"

namespace tollgate::mgmt {

struct ApiSettings {
  std::vector<net::SockAddr> listen;
  std::vector<net::Cidr> allow;
  std::string certificate;  // PEM files; both set = HTTPS
  std::string privateKey;
  LoginSettings login;
  bool metricsAuth = true;
  bool console = true;         // api.console: serve the web console (docs/console.md)
  store::StoreTarget store;    // the store (provisioning, CDRs, management)
  std::string localTokenHash;  // sha256Hex of the CLI token file's token
  // Digest realm (sip.domain): passwords given to the API are stored as
  // HA1 digests for it, like `tollgate import` does.
  std::string realm = "tollgate.local";
  // shield.trusted: with every gateway address, the sources a ban can never
  // drop (POST /api/v1/bans refuses a wholly trusted address).
  std::vector<net::Cidr> shieldTrusted;
  // [numbers]: numbers given to the API (blacklist entries, the CDR number
  // filter) are put in the canonical form the node uses for calls.
  admission::NumberSettings numbers;
  // api.max_connections, api.max_connections_per_source,
  // api.request_head_timeout, api.tls_handshake_timeout.
  ApiConnectionLimits limits;
};

// Connection threads, and requests (complete heads) waiting for one; when
// the queue is full the intake answers 503.
// (Four more since the console's live feeds may each hold one.)
inline constexpr size_t kApiWorkerThreads = 12;
inline constexpr size_t kApiMaxQueuedConnections = 64;
// Request bodies larger than this get 413 (the largest legitimate body is a
// gateway with 4096 addresses).
inline constexpr size_t kApiMaxBodyBytes = 1u << 20;
// A body the intake did not read (over 64 KiB, or chunked; only after the
// request's credentials were accepted) must arrive within this.
inline constexpr int kApiRequestDeadlineSeconds = 10;
// Concurrent trace streams (each holds a connection thread).
inline constexpr size_t kApiMaxTraceStreams = 2;
// Web console live feeds (GET /api/v1/live; each holds a connection thread
// for at most kApiLiveStreamSeconds, then the browser reconnects): in all,
// and per user (two tabs), so live feeds and traces together leave at
// least half the threads to requests.
inline constexpr size_t kApiMaxLiveStreams = 4;
inline constexpr size_t kApiMaxLiveStreamsPerUser = 2;
inline constexpr int kApiLiveStreamSeconds = 300;

class ApiServer {
 public:
  ApiServer(ApiSettings settings, NodeControl& node);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds every listener and starts the threads. Errors name the address.
  Result<Ok, std::string> start();
  // Stops accepting, ends trace streams, joins the threads. Idempotent.
  void stop();
  const std::vector<net::SockAddr>& boundAddresses() const;
  // The SIP trace's leg table (its records name a carrier leg's caller
  // Call-ID): install as (one of) the call layer's leg observers before the
  // worker runs; called on the worker. Lives as long as this server.
  call::LegObserver* legObserver();

  // The OpenAPI document of this build (docs/openapi.json is a copy).
  static std::string openApiDocument();
  // (method, path template) of every route, for the sync test.
  static std::vector<std::pair<std::string, std::string>> routeList();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::mgmt
