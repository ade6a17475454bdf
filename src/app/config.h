// Node settings: the one TOML file a tollgate node starts from (listen
// addresses, SIP timers, failover rules, store path, CDR and log settings),
// read into the settings structs the layers own (call::CallSettings,
// auth::AuthSettings, ...) and the app's own (store, log, node, firewall,
// api). Policy (gateways, limits, lists) is not here: it lives in the store,
// see provisioning_file.h. Every key is documented in docs/configuration.md and
// shown with its default in examples/tollgate.toml. Loading checks every key's
// type and range, rejects unknown keys and tables (a typo must never silently
// fall back to a default), and names file, line and dotted key in the error.
// Plain values, externally synchronized: read-only once loaded.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "admission/call_policy.h"
#include "admission/number_form.h"
#include "auth/authenticator.h"
#include "call/carrier_monitor.h"
#include "call/settings.h"
#include "cluster/cluster_settings.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/net.h"
#include "common/result.h"
#include "media/media_settings.h"
#include "mgmt/api_limits.h"
#include "mgmt/hep.h"
#include "registrar/registrar.h"
#include "shield/overload.h"
#include "shield/shield_config.h"
#include "store/pg_target.h"
#include "transport/tls.h"
#include "transport/transport.h"
#include "txn/transaction_layer.h"

namespace tollgate::app {

using Seconds = std::chrono::seconds;

// The node-wide part of [sip]: where the node listens and its SIP domain
// (the provisioning snapshot's domain; the reader also makes it the digest
// realm, auth::AuthSettings::realm). The other [sip] keys fill the settings
// of the layer that uses them (see Config).
struct SipConfig {
  std::vector<transport::ListenSpec> listen;  // required, >= 1, no duplicates
  std::string domain = "tollgate.local";      // our SIP domain; the digest realm
};

struct StoreConfig {
  std::string path;                 // required; SQLite file, relative to the cwd
  Millis provisioningPollMs{1000};  // how often the node looks for store changes
  // backend = "postgresql": url (libpq URI, no password), the password read
  // from password_file at load. path then holds only the node's local state
  // (lock, API token) and the CDR spool is spool_dir (default <path>.spool).
  store::Backend backend = store::Backend::Sqlite;
  std::string url;
  std::string passwordFile;
  std::string password;
  std::string spoolDir;
  std::string nodeId;        // this node in CDR uids; default the host name
  int cdrRetentionDays = 0;  // [cdr] retention_days; 0 = keep every CDR

  store::StoreTarget target() const {
    store::StoreTarget t;
    t.backend = backend;
    t.path = path;
    t.pg.url = url;
    t.pg.password = password;
    return t;
  }
};

// Where log lines go: the journal (native protocol, log.h) or stderr. Auto
// picks the journal when stderr is systemd's stream to it (JOURNAL_STREAM).
enum class LogTarget { Auto, Journal, Stderr };
struct LogConfig {
  log::Level level = log::Level::Info;
  log::Format format = log::Format::Logfmt;  // stderr only; the journal has fields
  LogTarget target = LogTarget::Auto;
  std::string journalSocket = log::kJournalSocket;  // tests point it at their own socket
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
  bool console = true;               // serve the web console under /console/
  // max_connections, max_connections_per_source, request_head_timeout,
  // tls_handshake_timeout: the intake's limits (mgmt/api_limits.h).
  mgmt::ApiConnectionLimits limits;
};

// Each section fills the settings struct of the layer that uses it; the
// TOML units (seconds, milliseconds) are converted where a layer keeps
// another unit. Values two layers share are set once by the reader after
// every section is read: sip.domain -> auth.realm; sip.user_agent ->
// call, registrar, carrierMonitor; sip.tcp_close -> call, transport;
// [numbers] -> call.numbers. src/app/README.md says where a new key goes.
struct Config {
  SipConfig sip;  // [sip] listen, domain
  // [sip] unknown_source, user_agent, advertised_address, ring_timeout,
  // challenge, tcp_close; [routing] switch_limit, stop_after_busy,
  // setup_timeout, no_route_code, switch_until_connect; [cdr].
  call::CallSettings call;
  call::CarrierMonitorSettings
      carrierMonitor;         // [routing] options_check_period, options_failure_limit
  txn::TimerSettings timers;  // [sip] t1_ms, t2_ms, t4_ms
  // [sip] tcp_idle_timeout, tcp_max_connections, tcp_max_connections_per_ip,
  // tcp_reserved_percent, tcp_message_timeout, tls_handshake_timeout,
  // tcp_close; the other limits keep the transport's defaults.
  transport::TransportLimits transport;
  transport::TlsSettings tls;              // [tls]
  auth::AuthSettings auth;                 // [auth]
  registrar::RegistrarSettings registrar;  // [registrar]
  admission::PolicySettings policy;        // [policy]; policy.blacklist: [blacklist]
  // [numbers]: the canonical form of calling and called numbers, see
  // admission/number_form.h.
  admission::NumberSettings numbers;
  shield::ShieldConfig shield;      // [shield]: see shield/shield_config.h
  shield::OverloadConfig overload;  // [overload]: see shield/overload.h, docs/overload.md
  StoreConfig store;
  LogConfig log;
  NodeConfig node;
  FirewallConfig firewall;
  ApiConfig api;
  mgmt::HepSettings hep;             // [hep]: HEPv3 capture to a Homer collector
  media::MediaSettings media;        // [media]: media anchoring through rtpengine (docs/media.md)
  cluster::ClusterSettings cluster;  // [cluster]: shared live state on Redis (docs/cluster.md)
  std::string sourcePath;            // file (or source name) it was parsed from
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
// store.password_file: the password on its first line; an error names the
// file (missing, empty, or readable by group or others).
Result<std::string, std::string> readPasswordFile(const std::string& path);

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
