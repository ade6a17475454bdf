// Node settings: the one TOML file a tollgate node starts from (listen
// addresses, SIP timers, failover rules, store path, CDR and log settings).
// Policy (gateways, limits, lists) is not here: it lives in the store, see
// provisioning_file.h. Every key is documented in docs/configuration.md and
// shown with its default in examples/tollgate.toml. Loading checks every key's
// type and range, rejects unknown keys and tables (a typo must never silently
// fall back to a default), and names file, line and dotted key in the error.
// Plain values: externally synchronized.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "admission/number_form.h"
#include "admission/provisioning.h"
#include "auth/digest.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "common/result.h"
#include "mgmt/api_limits.h"
#include "shield/shield_config.h"
#include "transport/transport.h"

namespace tollgate::app {

using Seconds = std::chrono::seconds;

// What to do with a request from a source that matches no mapping gateway.
// VOS3000 SS_REPLY_UNAUTHORIZED: silence gives scanners nothing to learn.
enum class UnknownSourcePolicy { Drop, Reject403 };
std::string_view unknownSourcePolicyName(UnknownSourcePolicy p);  // "drop", "403"

// How a TCP/TLS connection of an unwanted peer (unknown source, suspended)
// is closed: FIN (orderly; TIME_WAIT on our side) or RST (SO_LINGER 0; no
// TIME_WAIT). VOS3000 SS_TCP_CLOSE_RESET.
enum class TcpClose { Fin, Reset };

struct SipConfig {
  std::vector<transport::ListenSpec> listen;  // required, >= 1, no duplicates
  std::string domain = "tollgate.local";      // our SIP domain; later the digest realm
  UnknownSourcePolicy unknownSource = UnknownSourcePolicy::Drop;
  std::string userAgent = "tollgate";  // Server/User-Agent value; "" = send none
  std::string advertisedAddress;       // host[:port] for Via/Contact (NAT); "" = listen address
  Millis t1Ms{500};                    // RFC 3261 §17.1.1.1 T1
  Millis t2Ms{4000};                   // RFC 3261 §17.1.2.2 T2
  Millis t4Ms{5000};                   // RFC 3261 §17.1.2.2 T4
  Seconds ringTimeout{120};            // no answer this long -> no_answer
  Seconds tcpIdleTimeout{300};         // no bytes either way -> close
  size_t tcpMaxConnections = 4096;
  size_t tcpMaxConnectionsPerIp = 64;
  unsigned tcpReservedPercent = 25;  // of the table, never for untrusted sources
  Seconds tcpMessageTimeout{5};      // first byte of a message -> whole message
  Seconds tlsHandshakeTimeout{5};    // inbound TLS: accept -> handshake done
  // Digest challenge type (SS_AUTHCHALLENGEMODE); a gateway may override it.
  admission::ChallengeMode challenge = admission::ChallengeMode::Proxy407;
  TcpClose tcpClose = TcpClose::Fin;  // SS_TCP_CLOSE_RESET
};

// Digest authentication of password gateways and its retry limits.
struct AuthConfig {
  // Challenges offered, one header each, in this order.
  std::vector<auth::Algorithm> digestAlgorithms = {auth::Algorithm::Md5, auth::Algorithm::Sha256};
  Seconds nonceLifetime{300};
  bool digestUriHostOnly = true;  // accept SIPp's uri=sip:host:port (auth/digest_uri.h)
  bool retryLimits = true;
  int maxRetry = 6;          // SS_AUTHENTICATION_MAX_RETRY, per (username, source)
  int sourceMaxRetry = 30;   // per source, any username
  Seconds suspendTime{180};  // SS_AUTHENTICATION_FAILED_SUSPEND
  Seconds maxSuspendTime{3600};
  Seconds failureWindow{600};
};

// The registrar of dynamic mapping gateways (register = true).
struct RegistrarConfig {
  bool replace = true;            // SS_ENDPOINT_REGISTER_REPLACE
  Seconds defaultExpires{3600};   // SS_ENDPOINT_EXPIRE
  Seconds minExpires{60};         // shorter -> 423 with Min-Expires
  Seconds maxExpires{7200};       // longer -> clamped
  Seconds keepaliveInterval{60};  // SS_ENDPOINTTIMETOLIVE; 0 = no probing
};

// SIP over TLS: our certificate, and client certificates.
struct TlsConfig {
  std::string certificate;  // PEM chain; required for tls: listeners
  std::string privateKey;   // PEM
  std::string clientCa;     // PEM CAs for client certificates; "" = none asked for
  std::string minVersion = "1.2";
  std::string carrierCa;  // PEM CAs for carriers' certificates; "" = the system's
  bool verifyCarriers = true;
};

struct RoutingConfig {
  int switchLimit = 3;        // routing gateways tried per call (SS_GATEWAY_SWITCH_LIMIT)
  bool stopAfterBusy = true;  // 486/600 ends failover (SS_GATEWAY_SWITCH_STOP_AFTER_USER_BUSY)
  Seconds setupTimeout{5};    // no response at all from a carrier -> next gateway
  int noRouteCode = 404;      // final response when no routing gateway matches
  bool switchUntilConnect =
      false;  // failover after a carrier rang (SS_GATEWAY_SWITCH_UNTIL_CONNECT)
  Seconds optionsCheckPeriod{
      0};                       // carrier OPTIONS keep-alive (SS_SIP_OPTIONS_CHECK_PERIOD); 0 = off
  int optionsFailureLimit = 2;  // unanswered keep-alives in a row -> out of routing
};

// Call policy settings (issue 5). Per-gateway limits are provisioning.
struct PolicyConfig {
  Seconds maxDuration{0};      // answered calls end after this (SS_MAXCALLDURATION); 0 = none
  Seconds durationWarning{0};  // warning before that (SS_CALLREMINTIME); 0 = none
  int concurrentLimitCode = 503;
  int blockedCode = 403;  // number lists and dynamic blacklist
  int fraudCode = 403;
  Seconds counterSaveInterval{10};  // policy counters saved to the store this often
};

// One automatic rule of the dynamic blacklist.
struct BlacklistRuleConfig {
  int limit = 0;         // 0 = off
  Seconds interval{60};  // the window (no_answer: period); unused by caller_concurrent
  Seconds expire{3600};
  bool enforce = true;  // mode "enforce" | "count-only"
  bool cutCalls = false;
};

// The dynamic blacklist (SS_BLACK_LIST_*).
struct BlacklistConfig {
  bool perGateway = false;  // run_mode "global" | "per_gateway" (SS_BLACK_LIST_DYNAMIC_RUN_MODE)
  size_t maxEntries = 100'000;
  size_t maxTrackedNumbers = 100'000;
  BlacklistRuleConfig callerMalicious;
  BlacklistRuleConfig calleeMalicious;
  BlacklistRuleConfig noAnswer{0, Seconds{3600}, Seconds{3600}, true, false};
  BlacklistRuleConfig callerConcurrent;
};

struct StoreConfig {
  std::string path;                 // required; SQLite file, relative to the cwd
  Millis provisioningPollMs{1000};  // how often the node looks for store changes
};

struct CdrConfig {
  bool illegalCalls = true;  // CDRs for unknown sources (SERVER_BILLING_RECORD_ILLEGAL_CALL)
  double illegalRate = 20;   // token bucket: CDRs per second for those
  int illegalBurst = 100;    // token bucket depth
};

struct LogConfig {
  log::Level level = log::Level::Info;
  log::Format format = log::Format::Logfmt;
};

struct NodeConfig {
  Seconds drainTimeout{30};  // on SIGTERM: refuse new calls, wait this long for calls to end
};

// The kernel side of the shield and the exported rulesets ([firewall]).
struct FirewallConfig {
  bool kernelOffload = false;      // push bans into an nftables table (needs CAP_NET_ADMIN)
  std::string table = "tollgate";  // name of that table (inet family)
  uint16_t rtpPortMin = 0;         // RTP port range in exports; 0 = none
  uint16_t rtpPortMax = 0;
  std::vector<uint16_t> managementPorts;   // TCP ports of management (exports)
  std::vector<net::Cidr> managementAllow;  // who may reach them (exports)
};

// The management API (docs/api.md): HTTP(S) listeners, web access control,
// login lockout and password policy.
enum class LockoutScope { Source, Account };
struct ApiConfig {
  std::vector<net::SockAddr> listen;  // "127.0.0.1:8080"; empty = no API
  std::vector<net::Cidr> allow;       // web access control; default loopback only
  std::string certificate;            // PEM; with private_key: HTTPS
  std::string privateKey;
  LockoutScope lockoutScope = LockoutScope::Source;
  int lockoutAttempts = 5;           // failed logins within lockout_window that lock
  Seconds lockoutWindow{900};        // failures older than this are forgotten
  Seconds lockoutDuration{900};      // SERVER_LOGIN_FAILED_DISABLE_TIME
  size_t passwordMinLength = 12;     // SERVER_PASSWORD_LENGTH
  Seconds sessionLifetime{28800};    // absolute
  Seconds sessionIdleTimeout{1800};  // no request for this long ends a session
  bool metricsAuth = true;           // /metrics needs a token
  // max_connections, max_connections_per_source, request_head_timeout,
  // tls_handshake_timeout: the intake's limits (mgmt/api_limits.h).
  mgmt::ApiConnectionLimits limits;
};

struct Config {
  SipConfig sip;
  RoutingConfig routing;
  StoreConfig store;
  CdrConfig cdr;
  LogConfig log;
  NodeConfig node;
  PolicyConfig policy;
  BlacklistConfig blacklist;
  shield::ShieldConfig shield;  // [shield]: see shield/shield_config.h
  // [numbers]: the canonical form of calling and called numbers, see
  // admission/number_form.h.
  admission::NumberSettings numbers;
  FirewallConfig firewall;
  ApiConfig api;
  std::string sourcePath;  // file (or source name) it was parsed from
  AuthConfig auth;
  RegistrarConfig registrar;
  TlsConfig tls;
};

// One problem in a TOML file. line is 1-based; 0 when there is no line (the
// file cannot be read). key is dotted ("sip.t1_ms", "sip.listen[1]",
// "mapping_gateway[cust-a].addresses"); empty for whole-file problems.
struct ConfigError {
  std::string file;
  int line = 0;
  std::string key;
  std::string message;
  // "examples/tollgate.toml:12: sip.unknown_source: must be \"drop\" or \"403\" (got \"reject\")"
  std::string format() const;
};

// Reads and checks a node settings file. On error, the reported problem is
// the one nearest the top of the file, so fixing errors top-down converges.
Result<Config, ConfigError> loadConfig(const std::string& path);
// Same, from text already in memory; sourceName is used in errors.
Result<Config, ConfigError> parseConfig(std::string_view text, const std::string& sourceName);

// Files larger than this are refused before parsing: a config or
// provisioning file is operator input, but a wrong path (a log, a database)
// must not be read into memory whole.
inline constexpr size_t kMaxTomlFileBytes = 64u << 20;

// Reads a whole file of at most kMaxTomlFileBytes (used by both loaders).
Result<std::string, ConfigError> readTomlFile(const std::string& path);

}  // namespace tollgate::app
