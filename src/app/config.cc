// Node settings: the readers of the [sip] [routing] [store] [cdr] [log]
// [node] [auth] [registrar] [tls] [policy] [blacklist] [numbers] [shield]
// [firewall] [api] tables, each filling the settings struct of the layer
// that uses it (config.h), with the TOML helpers of toml_reader.h. See
// docs/configuration.md for what each key means, src/app/README.md for
// where a new key goes. About 800 lines: each table's reader sits beside the
// named limits it checks, so ranges and messages read alike.
#include "app/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

#include "app/toml_reader.h"
#include "common/json_string.h"
#include "common/net.h"
#include "store/pg_backend.h"

namespace tollgate::app {

// --- Limits of the settings file ---------------------------------------------
// Ranges are wide enough for any sane deployment and narrow enough that a
// slipped digit (t1_ms = 50000) is caught at start-up, not in production.
namespace {
constexpr size_t kMaxListeners = 64;  // sockets per node; more is a config mistake
constexpr int64_t kMinT1Ms = 100;     // below this, retransmissions flood peers
constexpr int64_t kMaxT1Ms = 5000;
constexpr int64_t kMaxT2Ms = 60000;
constexpr int64_t kMinT4Ms = 1000;
constexpr int64_t kMaxT4Ms = 60000;
constexpr int64_t kMinRingTimeoutS = 1;
constexpr int64_t kMaxRingTimeoutS = 3600;
constexpr int64_t kMinTcpIdleS = 5;
constexpr int64_t kMaxTcpIdleS = 86400;
constexpr int64_t kMaxTcpConnections = 1'000'000;  // file descriptors run out first
// Above this untrusted sources could hardly connect at all; 0 reserves nothing.
constexpr int64_t kMaxTcpReservedPercent = 90;
// A SIP message is at most 64 KiB: even a slow link delivers one in seconds,
// and a deadline much longer lets a trickle hold a slot (RFC 3261 §18.3).
constexpr int64_t kMaxTcpMessageTimeoutS = 300;
constexpr int64_t kMaxTlsHandshakeTimeoutS = 60;  // a handshake is a few round trips
constexpr int64_t kMinSwitchLimit = 1;
constexpr int64_t kMaxSwitchLimit = 32;  // each try costs the caller post-dial delay
constexpr int64_t kMinSetupTimeoutS = 1;
constexpr int64_t kMaxSetupTimeoutS = 60;
constexpr int64_t kMinFinalCode = 400;
constexpr int64_t kMaxFinalCode = 699;
constexpr int64_t kMinPollMs = 100;  // the poll is a SQLite read; keep it cheap
constexpr int64_t kMaxPollMs = 60000;
constexpr int64_t kMaxCdrRetentionDays = 36500;  // a century: "keep" is 0
constexpr double kMaxIllegalRate = 100000;       // CDRs/s; beyond this the disk is the limit
constexpr int64_t kMaxIllegalBurst = 1'000'000;
constexpr int64_t kMaxDrainTimeoutS = 3600;
constexpr size_t kMaxUnixSocketPath = 107;  // sockaddr_un's sun_path, less the NUL
// [media]
constexpr int64_t kMaxEngineWeight = 1000;
constexpr int64_t kMinRetransmitMs = 20;  // below a LAN round trip is a storm
constexpr int64_t kMaxRetransmitMs = 5000;
constexpr int64_t kMaxNgTries = 10;
constexpr int64_t kMaxPingIntervalS = 3600;
constexpr int64_t kMaxMediaTimeoutS = 86400;
// [hep]
constexpr uint16_t kHepDefaultPort = 9060;     // Homer's HEP port
constexpr int64_t kMaxCaptureId = 0xffffffff;  // a 32-bit chunk
constexpr size_t kMaxHepPassword = 255;        // goes into every packet
constexpr int64_t kMinHepQueue = 16;           // less drops at every burst
constexpr int64_t kMaxHepQueue = 1'000'000;    // kHepMaxQueuedBytes binds first anyway
constexpr size_t kMaxUserAgentBytes = 128;     // goes into every response we send
constexpr size_t kMaxHostBytes = 253;          // RFC 1035 §2.3.4 name length
constexpr int64_t kMinNonceLifetimeS = 10;     // shorter and slow clients never make it
constexpr int64_t kMaxNonceLifetimeS = 3600;
constexpr int64_t kMaxRetryLimit = 100;
constexpr int64_t kMaxSourceRetryLimit = 10000;
constexpr int64_t kMinSuspendS = 60;  // VOS3000's range for SS_AUTHENTICATION_FAILED_SUSPEND
constexpr int64_t kMaxSuspendS = 3600;
constexpr int64_t kMaxEscalatedSuspendS = 86400;
constexpr int64_t kMinFailureWindowS = 10;
constexpr int64_t kMaxFailureWindowS = 86400;
constexpr int64_t kMinExpiresS = 10;     // a binding shorter than this is a refresh storm
constexpr int64_t kMaxExpiresS = 86400;  // a day: longer hides dead phones
constexpr int64_t kMaxKeepaliveS = 3600;
constexpr int64_t kMaxOptionsPeriodS = 3600;
constexpr int64_t kMaxOptionsFailures = 100;
constexpr int64_t kMaxCallDurationS = 7 * 86400;  // a week; typical is 1800-7200
constexpr int64_t kMaxCounterSaveS = 3600;
constexpr int64_t kMaxBlacklistEntries = 10'000'000;  // ~200 bytes each in memory
constexpr int64_t kMaxRuleLimit = 1000;               // VOS3000: 1-1000
constexpr int64_t kMaxConcurrentRuleLimit = 100'000;
constexpr int64_t kMaxRuleIntervalS = 86400;  // VOS3000: 60-86400 (tests use less)
constexpr int64_t kMaxRuleExpireS = 30 * 86400;
constexpr int64_t kMicrosPerSecond = 1'000'000;
// [shield]
constexpr size_t kMaxTrusted = 100'000;    // CIDRs; gateways come on top
constexpr size_t kMaxSignatures = 256;     // each costs a substring search per request
constexpr size_t kMaxSignatureBytes = 64;  // longer is not a product name
constexpr size_t kMaxDropMethods = 32;
constexpr int64_t kMaxRecentHits = 255;  // xt_recent keeps at most 255 stamps per source
constexpr int64_t kMaxRecentSeconds = 3600;
constexpr double kMaxShieldRate = 1e6;  // messages per second per source
constexpr int64_t kMaxRateIdleS = 3600;
constexpr int64_t kMaxConcurrent = 65535;         // a 16-bit counter per source
constexpr int64_t kMaxBanSeconds = 30LL * 86400;  // the kernel element timeout's cap too
constexpr int64_t kMaxBanMemoryS = 365LL * 86400;
constexpr double kMaxBanEscalation = 100;
constexpr int64_t kMinTableSize = 16;
constexpr int64_t kMaxSourcesTable = 16'777'216;  // ~1.2 GB at the bound: more is a typo
constexpr int64_t kMaxBansTable = 4'194'304;
// [firewall]
constexpr size_t kMaxTableName = 32;  // nftables identifiers are short
constexpr size_t kMaxManagementPorts = 32;
constexpr size_t kMaxManagementAllow = 10'000;
constexpr size_t kMaxApiListeners = 16;
constexpr size_t kMaxApiAllow = 4096;  // CIDRs; checked per accepted connection
constexpr int64_t kMaxLockoutAttempts = 100;
constexpr int64_t kMaxLockoutSeconds = 7 * 86400;
constexpr int64_t kMinPasswordLength = 8;  // NIST SP 800-63B §5.1.1.2 floor
constexpr int64_t kMaxPasswordMinLength = 64;
constexpr int64_t kMinSessionSeconds = 60;
constexpr int64_t kMaxSessionSeconds = 30 * 86400;
// Each open API connection costs at most ~150 KiB before it is served
// (docs/api.md): 65536 is ~10 GiB, beyond any sane setting.
constexpr int64_t kMinApiConnections = 16;
constexpr int64_t kMaxApiConnections = 65'536;
// Request head and TLS handshake deadlines: a second is ample on any
// network; a minute is already generous to a slow client.
constexpr int64_t kMaxApiHeadSeconds = 60;
}  // namespace

std::string ConfigError::format() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line);
  s += ": ";
  if (!key.empty()) s += key + ": ";
  s += message;
  return s;
}

Result<std::string, ConfigError> readTomlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Err{ConfigError{path, 0, "", std::string("cannot read: ") + std::strerror(errno)}};
  std::string text;
  char buf[64 * 1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxTomlFileBytes) {
      return Err{ConfigError{path, 0, "",
                             "file is larger than " + std::to_string(kMaxTomlFileBytes >> 20) +
                                 " MiB; is this the right file?"}};
    }
  }
  if (in.bad()) return Err{ConfigError{path, 0, "", "read error"}};
  return text;
}

// --- The node settings -------------------------------------------------------
namespace {

using toml_reader::ErrorList;
using toml_reader::TableReader;

bool isHostnameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

// A host as it may appear in a SIP URI: a DNS name (RFC 3261 §25.1
// hostname), an IPv4 address, or an IPv6 reference in brackets.
bool validHost(std::string_view host) {
  if (host.empty() || host.size() > kMaxHostBytes) return false;
  if (host.front() == '[') {
    auto ip = net::IpAddress::parse(host);
    return host.back() == ']' && ip && ip->isV6();
  }
  if (!std::all_of(host.begin(), host.end(), isHostnameChar)) return false;
  // No empty labels ("a..b", ".a"); a trailing dot (FQDN) is fine.
  if (host.front() == '.' || host.find("..") != std::string_view::npos) return false;
  return true;
}

bool validPort(std::string_view text) {
  unsigned port = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && p == text.data() + text.size() && port >= 1 && port <= 65535;
}

// host[:port] where host is as in validHost().
bool validHostPort(std::string_view text) {
  if (text.empty()) return false;
  size_t hostEnd;
  if (text.front() == '[') {
    hostEnd = text.find(']');
    if (hostEnd == std::string_view::npos) return false;
    ++hostEnd;
  } else {
    hostEnd = text.find(':');
    if (hostEnd == std::string_view::npos) hostEnd = text.size();
  }
  if (!validHost(text.substr(0, hostEnd))) return false;
  std::string_view rest = text.substr(hostEnd);
  if (rest.empty()) return true;
  return rest.front() == ':' && validPort(rest.substr(1));
}

bool sameListen(const transport::ListenSpec& a, const transport::ListenSpec& b) {
  return a.protocol == b.protocol && a.address == b.address;
}

// [sip]: the node's listeners and domain, and the keys of the call layer,
// the transaction timers and the transport it configures.
void readSip(TableReader& r, Config& c) {
  SipConfig& sip = c.sip;
  call::CallSettings& call = c.call;
  transport::TransportLimits& tcp = c.transport;
  std::vector<TableReader::Item> listen;
  if (r.stringArray("listen", kMaxListeners, &listen, /*required=*/true)) {
    if (listen.empty()) {
      r.error("listen", "must name at least one socket, e.g. [\"udp:127.0.0.1:5060\"]");
    }
    for (size_t i = 0; i < listen.size(); ++i) {
      std::string key = "listen[" + std::to_string(i) + "]";
      auto spec = transport::parseListenSpec(listen[i].value);
      if (!spec) {
        r.error(key, listen[i].line,
                "must be protocol:address:port, e.g. \"udp:127.0.0.1:5060\" or "
                "\"tcp:[::1]:5060\" (got " +
                    toml_reader::quoted(listen[i].value) + ")");
        continue;
      }
      // Port 0 asks the kernel for a free port (tests), so two of those differ.
      bool duplicate = false;
      for (size_t j = 0; j < sip.listen.size() && spec->address.port() != 0; ++j) {
        if (sameListen(sip.listen[j], *spec)) duplicate = true;
      }
      if (duplicate) {
        r.error(key, listen[i].line,
                "duplicate listen address " + toml_reader::quoted(listen[i].value));
        continue;
      }
      sip.listen.push_back(*spec);
    }
  }

  if (r.string("domain", &sip.domain) && !validHost(sip.domain)) {
    r.error("domain",
            "must be a host name or IP address (got " + toml_reader::quoted(sip.domain) + ")");
  }
  size_t policy = 0;
  if (r.choice("unknown_source", {"drop", "403"}, &policy)) {
    call.unknownSource =
        policy == 0 ? call::UnknownSourcePolicy::Drop : call::UnknownSourcePolicy::Reject403;
  }
  if (r.string("user_agent", &call.userAgent)) {
    // It is copied into a header line of every message: no CR/LF/controls
    // (header injection), and short.
    bool clean = std::none_of(call.userAgent.begin(), call.userAgent.end(), [](char ch) {
      auto u = static_cast<unsigned char>(ch);
      return u < 0x20 || u == 0x7f;
    });
    if (!clean) {
      r.error("user_agent", "must not contain control characters");
    } else if (call.userAgent.size() > kMaxUserAgentBytes) {
      r.error("user_agent", "must be at most " + std::to_string(kMaxUserAgentBytes) + " bytes");
    }
  }
  if (r.string("advertised_address", &call.advertisedAddress) && !call.advertisedAddress.empty() &&
      !validHostPort(call.advertisedAddress)) {
    r.error("advertised_address",
            "must be host or host:port, e.g. \"203.0.113.7:5060\" or \"[2001:db8::7]\" (got " +
                toml_reader::quoted(call.advertisedAddress) + ")");
  }

  txn::TimerSettings& timers = c.timers;
  r.duration("t1_ms", kMinT1Ms, kMaxT1Ms, &timers.t1);
  // RFC 3261 §17.1.2.2: T2 caps the doubling interval that starts at T1.
  if (const toml::node* t2 = r.take("t2_ms");
      t2 && t2->as_integer() && t2->as_integer()->get() < timers.t1.count()) {
    r.error("t2_ms", "must be at least sip.t1_ms (" + std::to_string(timers.t1.count()) +
                         ") (got " + std::to_string(t2->as_integer()->get()) + ")");
  } else {
    r.duration("t2_ms", timers.t1.count(), kMaxT2Ms, &timers.t2);
  }
  r.duration("t4_ms", kMinT4Ms, kMaxT4Ms, &timers.t4);
  r.durationIn<Seconds>("ring_timeout", kMinRingTimeoutS, kMaxRingTimeoutS, &call.ringTimeout);
  r.durationIn<Seconds>("tcp_idle_timeout", kMinTcpIdleS, kMaxTcpIdleS, &tcp.tcpIdleTimeout);
  r.integerAs("tcp_max_connections", 1, kMaxTcpConnections, &tcp.tcpMaxConnections);
  r.integerAs("tcp_max_connections_per_ip", 1, static_cast<int64_t>(tcp.tcpMaxConnections),
              &tcp.tcpMaxConnectionsPerIp);
  r.integerAs("tcp_reserved_percent", 0, kMaxTcpReservedPercent, &tcp.tcpReservedPercent);
  r.durationIn<Seconds>("tcp_message_timeout", 1, kMaxTcpMessageTimeoutS, &tcp.tcpMessageTimeout);
  r.durationIn<Seconds>("tls_handshake_timeout", 1, kMaxTlsHandshakeTimeoutS,
                        &tcp.tlsHandshakeTimeout);
  size_t idx = 0;
  if (r.choice("challenge", {"401", "407", "both"}, &idx)) {
    static constexpr admission::ChallengeMode kModes[] = {admission::ChallengeMode::Www401,
                                                          admission::ChallengeMode::Proxy407,
                                                          admission::ChallengeMode::Both};
    call.challenge = kModes[idx];
  }
  // SS_TCP_CLOSE_RESET: FIN (orderly; TIME_WAIT on our side) or RST
  // (SO_LINGER 0; no TIME_WAIT). Both the transport's deadline closes and
  // the router's unwanted peers use it (parseConfig sets call's).
  if (r.choice("tcp_close", {"fin", "reset"}, &idx)) tcp.tcpCloseReset = idx == 1;
  r.finish();
}

void readAuth(TableReader& r, auth::AuthSettings& a) {
  std::vector<TableReader::Item> algorithms;
  int line = r.lineOfKey("digest_algorithms");
  if (r.stringArray("digest_algorithms", 2, &algorithms)) {
    std::vector<auth::Algorithm> list;
    bool ok = !algorithms.empty();
    for (const auto& item : algorithms) {
      auto alg = item.value == "MD5"       ? std::optional(auth::Algorithm::Md5)
                 : item.value == "SHA-256" ? std::optional(auth::Algorithm::Sha256)
                                           : std::nullopt;
      if (!alg || std::find(list.begin(), list.end(), *alg) != list.end()) {
        ok = false;
        break;
      }
      list.push_back(*alg);
    }
    if (ok) {
      a.algorithms = list;
    } else {
      r.error("digest_algorithms", line,
              "must list \"MD5\" and/or \"SHA-256\", each once, in order of preference");
    }
  }
  r.durationIn<Seconds>("nonce_lifetime", kMinNonceLifetimeS, kMaxNonceLifetimeS, &a.nonceLifetime);
  r.boolean("digest_uri_host_only", &a.digestUriHostOnly);
  auth::RetryLimits& l = a.limits;
  r.boolean("retry_limits", &l.enabled);
  r.integerAs("max_retry", 1, kMaxRetryLimit, &l.maxRetry);
  r.integerAs("source_max_retry", 1, kMaxSourceRetryLimit, &l.sourceMaxRetry);
  r.duration("suspend_time", kMinSuspendS, kMaxSuspendS, &l.suspendTime);
  r.duration("max_suspend_time", l.suspendTime.count(), kMaxEscalatedSuspendS, &l.maxSuspendTime);
  r.duration("failure_window", kMinFailureWindowS, kMaxFailureWindowS, &l.failureWindow);
  r.finish();
}

void readRegistrar(TableReader& r, registrar::RegistrarSettings& g) {
  r.boolean("replace", &g.replace);
  r.duration("min_expires", kMinExpiresS, kMaxExpiresS, &g.minExpires);
  r.duration("default_expires", g.minExpires.count(), kMaxExpiresS, &g.defaultExpires);
  r.duration("max_expires", g.defaultExpires.count(), kMaxExpiresS, &g.maxExpires);
  r.duration("keepalive_interval", 0, kMaxKeepaliveS, &g.keepaliveInterval);
  r.finish();
}

// A PEM file the node will need: checked for readability now, so a typo is
// a config error naming the key rather than a start-up failure later.
void readPemPath(TableReader& r, std::string_view key, std::string* out) {
  if (!r.string(key, out) || out->empty()) return;
  std::ifstream f(*out);
  if (!f) r.error(key, "cannot read " + toml_reader::quoted(*out) + ": " + std::strerror(errno));
}

void readTls(TableReader& r, transport::TlsSettings& t) {
  readPemPath(r, "certificate", &t.certificate);
  readPemPath(r, "private_key", &t.privateKey);
  readPemPath(r, "client_ca", &t.clientCa);
  size_t idx = 0;
  if (r.choice("min_version", {"1.2", "1.3"}, &idx)) t.minVersion = idx == 0 ? "1.2" : "1.3";
  readPemPath(r, "carrier_ca", &t.carrierCa);
  r.boolean("verify_carriers", &t.verifyCarriers);
  if (t.certificate.empty() != t.privateKey.empty()) {
    // Named after the missing key, at the line of the one given.
    const bool noCert = t.certificate.empty();
    r.error(noCert ? "certificate" : "private_key",
            r.lineOfKey(noCert ? "private_key" : "certificate"),
            "tls.certificate and tls.private_key go together");
  }
  r.finish();
}

// [routing]: failover (the call layer) and the carriers' keep-alive.
void readRouting(TableReader& r, Config& c) {
  call::CallSettings& routing = c.call;
  r.integerAs("switch_limit", kMinSwitchLimit, kMaxSwitchLimit, &routing.switchLimit);
  r.boolean("stop_after_busy", &routing.stopAfterBusy);
  r.durationIn<Seconds>("setup_timeout", kMinSetupTimeoutS, kMaxSetupTimeoutS,
                        &routing.setupTimeout);
  r.integerAs("no_route_code", kMinFinalCode, kMaxFinalCode, &routing.noRouteCode);
  r.boolean("switch_until_connect", &routing.switchUntilConnect);
  r.durationIn<Seconds>("options_check_period", 0, kMaxOptionsPeriodS, &c.carrierMonitor.period);
  r.integerAs("options_failure_limit", 1, kMaxOptionsFailures, &c.carrierMonitor.failureLimit);
  r.finish();
}

void readPolicy(TableReader& r, admission::PolicySettings& p) {
  r.integerAs("max_duration", 0, kMaxCallDurationS, &p.maxDurationS);
  r.integerAs("duration_warning", 0, kMaxCallDurationS, &p.durationWarningS);
  if (p.maxDurationS > 0 && p.durationWarningS >= p.maxDurationS) {
    r.error("duration_warning",
            "must be shorter than policy.max_duration (" + std::to_string(p.maxDurationS) + ")");
  }
  r.integerAs("concurrent_limit_code", kMinFinalCode, kMaxFinalCode, &p.concurrentLimitCode);
  r.integerAs("blocked_code", kMinFinalCode, kMaxFinalCode, &p.blockedCode);
  r.integerAs("fraud_code", kMinFinalCode, kMaxFinalCode, &p.fraudCode);
  r.duration("counter_save_interval", 1, kMaxCounterSaveS, &p.counterSaveInterval);
  r.finish();
}

void readNumbers(TableReader& r, admission::NumberSettings& n) {
  size_t idx = 0;
  if (r.choice("form", {"digits", "e164"}, &idx)) {
    n.form =
        idx == 0 ? admission::NumberSettings::Form::Digits : admission::NumberSettings::Form::E164;
  }
  if (r.string("international_prefix", &n.internationalPrefix)) {
    if (std::string problem = admission::internationalPrefixProblem(n.internationalPrefix);
        !problem.empty()) {
      r.error("international_prefix",
              problem + " (got " + toml_reader::quoted(n.internationalPrefix) + ")");
    }
  }
  r.integerAs("invalid_code", kMinFinalCode, kMaxFinalCode, &n.invalidCode);
  r.finish();
}

void readBlacklist(TableReader& r, admission::DynamicBlacklistSettings& b) {
  size_t mode = 0;
  if (r.choice("run_mode", {"global", "per_gateway"}, &mode)) b.perGateway = mode == 1;
  r.integerAs("max_entries", 1, kMaxBlacklistEntries, &b.maxEntries);
  r.integerAs("max_tracked_numbers", 1, kMaxBlacklistEntries, &b.maxTrackedNumbers);
  // The rules keep wall-clock microseconds (dynamic_blacklist.h).
  auto rule = [&](const std::string& prefix, admission::BlacklistRuleSettings& c, bool windowed,
                  const char* windowKey, int64_t maxLimit) {
    r.integerAs(prefix + "_limit", 0, maxLimit, &c.limit);
    int64_t seconds = 0;
    if (windowed && r.integer(prefix + "_" + windowKey, 1, kMaxRuleIntervalS, &seconds)) {
      c.intervalUs = seconds * kMicrosPerSecond;
    }
    if (r.integer(prefix + "_expire", 1, kMaxRuleExpireS, &seconds)) {
      c.expireUs = seconds * kMicrosPerSecond;
    }
    size_t m = 0;
    if (r.choice(prefix + "_mode", {"enforce", "count-only"}, &m)) c.enforce = m == 0;
    r.boolean(prefix + "_cut_calls", &c.cutCalls);
  };
  rule("caller_malicious", b.maliciousCaller, true, "interval", kMaxRuleLimit);
  rule("callee_malicious", b.maliciousCallee, true, "interval", kMaxRuleLimit);
  rule("no_answer", b.noAnswer, true, "period", kMaxRuleLimit);
  rule("caller_concurrent", b.callerConcurrent, false, "", kMaxConcurrentRuleLimit);
  r.finish();
}

void readStore(TableReader& r, StoreConfig& store) {
  if (r.string("path", &store.path, /*required=*/true)) {
    if (store.path.empty()) {
      r.error("path", "must not be empty");
    } else if (store.path.find('\0') != std::string::npos) {
      r.error("path", "must not contain NUL characters");
    }
  }
  r.duration("provisioning_poll_ms", kMinPollMs, kMaxPollMs, &store.provisioningPollMs);
  size_t backend = 0;
  if (r.choice("backend", {"sqlite", "postgresql"}, &backend)) {
    store.backend = backend == 1 ? store::Backend::Postgresql : store::Backend::Sqlite;
  }
  // "" = not set (the example file lists every key with its default).
  if (r.string("url", &store.url) && !store.url.empty()) {
    if (auto problem = store::pgUrlProblem(store.url)) r.error("url", *problem);
  }
  if (r.string("password_file", &store.passwordFile) && !store.passwordFile.empty()) {
    if (auto pw = readPasswordFile(store.passwordFile); pw.ok()) {
      store.password = std::move(pw).value();
    } else {
      r.error("password_file", pw.error());
    }
  }
  r.string("spool_dir", &store.spoolDir);
  r.string("node_id", &store.nodeId);
  if (store.backend == store::Backend::Postgresql && store.url.empty()) {
    r.error("url", "required with backend = \"postgresql\" (postgresql://user@host:port/db)");
  }
  r.finish();
}

// [cdr]: the call layer's CDRs of refused strangers.
void readCdr(TableReader& r, call::CallSettings& cdr, StoreConfig& store) {
  r.integerAs("retention_days", 0, kMaxCdrRetentionDays, &store.cdrRetentionDays);
  r.boolean("illegal_calls", &cdr.illegalCallCdrs);
  r.number("illegal_rate", 0, kMaxIllegalRate, &cdr.illegalCdrRate);
  r.integerAs("illegal_burst", 1, kMaxIllegalBurst, &cdr.illegalCdrBurst);
  r.finish();
}

void readLog(TableReader& r, LogConfig& lc) {
  size_t idx = 0;
  if (r.choice("level", {"debug", "info", "warn", "error"}, &idx)) {
    static constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};
    log::parseLevel(kNames[idx], &lc.level);
  }
  if (r.choice("format", {"logfmt", "json"}, &idx)) {
    lc.format = idx == 0 ? log::Format::Logfmt : log::Format::Json;
  }
  if (r.choice("target", {"auto", "journal", "stderr"}, &idx)) {
    lc.target = idx == 0 ? LogTarget::Auto : idx == 1 ? LogTarget::Journal : LogTarget::Stderr;
  }
  if (r.string("journal_socket", &lc.journalSocket)) {
    // sockaddr_un's path holds 107 bytes and a NUL.
    if (lc.journalSocket.empty() || lc.journalSocket.size() > kMaxUnixSocketPath ||
        lc.journalSocket.find('\0') != std::string::npos) {
      r.error("journal_socket",
              "must be a socket path of 1 to " + std::to_string(kMaxUnixSocketPath) + " bytes");
    }
  }
  r.finish();
}

void readHep(TableReader& r, mgmt::HepSettings& h) {
  std::string address;
  if (r.string("address", &address) && !address.empty()) {
    auto a = net::SockAddr::parse(address, kHepDefaultPort);
    if (!a || a->port() == 0) {
      r.error("address", "must be the collector's address[:port], e.g. \"192.0.2.10:9060\" (got " +
                             toml_reader::quoted(address) + ")");
    } else {
      h.collector = *a;
    }
  }
  r.integerAs("capture_id", 0, kMaxCaptureId, &h.captureId);
  if (r.string("password", &h.password) && h.password.size() > kMaxHepPassword) {
    r.error("password", "must be at most " + std::to_string(kMaxHepPassword) + " bytes");
  }
  std::vector<TableReader::Item> items;
  if (r.stringArray("legs", 2, &items)) {
    h.legA = h.legB = false;
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].value == "a") {
        h.legA = true;
      } else if (items[i].value == "b") {
        h.legB = true;
      } else {
        r.error("legs[" + std::to_string(i) + "]", items[i].line,
                "must be \"a\" (caller side) or \"b\" (carrier side) (got " +
                    toml_reader::quoted(items[i].value) + ")");
      }
    }
    if (items.empty()) r.error("legs", "must name at least one leg: [\"a\"], [\"b\"] or both");
  }
  r.boolean("mask_credentials", &h.maskCredentials);
  r.integerAs("queue_size", kMinHepQueue, kMaxHepQueue, &h.queueSize);
  r.finish();
}

void readMedia(TableReader& r, media::MediaSettings& m) {
  std::vector<TableReader::Item> items;
  if (r.stringArray("engines", media::kMaxEngines, &items)) {
    m.engines.clear();
    for (size_t i = 0; i < items.size(); ++i) {
      // "address:port" or "address:port weight=N"
      std::string_view v = items[i].value;
      media::EngineSettings e;
      size_t sp = v.find(' ');
      std::string_view addr = v.substr(0, sp);
      bool ok = true;
      if (sp != std::string_view::npos) {
        std::string_view w = v.substr(sp + 1);
        while (!w.empty() && w.front() == ' ') w.remove_prefix(1);
        ok = w.substr(0, 7) == "weight=";
        int64_t n = 0;
        if (ok) {
          std::string digits(w.substr(7));
          ok = !digits.empty() && digits.size() < 6 &&
               digits.find_first_not_of("0123456789") == std::string::npos;
          if (ok) n = std::stoll(digits);
        }
        ok = ok && n >= 0 && n <= kMaxEngineWeight;
        e.weight = static_cast<int>(n);
      }
      auto a = net::SockAddr::parse(addr);
      if (!ok || !a || a->port() == 0) {
        r.error("engines[" + std::to_string(i) + "]", items[i].line,
                "must be an rtpengine ng address \"ip:port\", optionally followed by "
                "\" weight=N\" (0-" +
                    std::to_string(kMaxEngineWeight) + ") (got " +
                    toml_reader::quoted(items[i].value) + ")");
        continue;
      }
      e.address = *a;
      m.engines.push_back(e);
    }
  }
  size_t mode = 0;
  if (r.choice("mode", {"relay", "passthrough"}, &mode)) {
    m.mode = mode == 0 ? media::MediaMode::Relay : media::MediaMode::Passthrough;
  }
  r.durationIn<std::chrono::milliseconds>("retransmit_ms", kMinRetransmitMs, kMaxRetransmitMs,
                                          &m.retransmit);
  r.integerAs("tries", 1, kMaxNgTries, &m.tries);
  r.durationIn<Seconds>("ping_interval", 1, kMaxPingIntervalS, &m.pingInterval);
  r.durationIn<Seconds>("timeout", 0, kMaxMediaTimeoutS, &m.timeout);
  r.durationIn<Seconds>("setup_timeout", 0, kMaxMediaTimeoutS, &m.setupTimeout);
  r.boolean("remove_ice", &m.removeIce);
  r.boolean("strip_extmap", &m.stripExtmap);
  r.finish();
}

// [cluster] bounds: each a value no sane deployment passes (a typo guard).
constexpr int64_t kMaxRedisDatabase = 65'535;
constexpr size_t kMaxKeyPrefix = 64;        // every key carries it: keep it short
constexpr int64_t kMinRedisTimeoutMs = 10;  // below a loaded Redis's normal answer time
constexpr int64_t kMaxRedisTimeoutMs = 60'000;
constexpr int64_t kMinHeartbeatMs = 100;  // more often only loads Redis
constexpr int64_t kMaxHeartbeatMs = 60'000;
constexpr int64_t kMaxNodeTtlMs = 600'000;

// "ip:port" of a Redis or Sentinel (a name would need a blocking lookup on
// the worker at every reconnection).
std::optional<cluster::RedisAddress> redisAddress(std::string_view text) {
  auto a = net::SockAddr::parse(text);
  if (!a || a->port() == 0) return std::nullopt;
  return cluster::RedisAddress{a->ip().toString(), a->port()};
}

// The node's host name (the default node id).
std::string defaultNodeName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "node";
  return buf;
}

void readCluster(TableReader& r, cluster::ClusterSettings& c, const StoreConfig& store) {
  if (r.string("node_id", &c.nodeId) && !c.nodeId.empty()) {
    bool ok = c.nodeId.size() <= 64;
    for (char ch : c.nodeId) {
      ok = ok &&
           (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.');
    }
    if (!ok) r.error("node_id", "must be 1-64 characters of [A-Za-z0-9._-]");
  }
  if (c.nodeId.empty()) c.nodeId = store.nodeId.empty() ? defaultNodeName() : store.nodeId;
  auto addresses = [&](std::string_view key, std::vector<cluster::RedisAddress>* out) {
    std::vector<TableReader::Item> items;
    if (!r.stringArray(key, cluster::kMaxRedisAddresses, &items)) return;
    out->clear();
    for (size_t i = 0; i < items.size(); ++i) {
      auto a = redisAddress(items[i].value);
      if (!a) {
        r.error(std::string(key) + "[" + std::to_string(i) + "]", items[i].line,
                "must be \"ip:port\" (got " + toml_reader::quoted(items[i].value) + ")");
        continue;
      }
      out->push_back(*a);
    }
  };
  addresses("redis", &c.redis);
  addresses("sentinels", &c.sentinels);
  if (!c.redis.empty() && !c.sentinels.empty()) {
    r.error("sentinels", "set either redis (a master) or sentinels (with master_name), not both");
  }
  if (r.string("master_name", &c.masterName)) {
    bool ok = !c.masterName.empty() && c.masterName.size() <= 64;
    for (char ch : c.masterName) ok = ok && ch > ' ' && ch < 0x7f;
    if (!ok) r.error("master_name", "must be 1-64 printable characters without spaces");
  }
  if (r.string("password_file", &c.passwordFile) && !c.passwordFile.empty()) {
    if (auto pw = readPasswordFile(c.passwordFile); pw.ok()) {
      c.password = std::move(pw).value();
    } else {
      r.error("password_file", pw.error());
    }
  }
  r.integerAs("database", 0, kMaxRedisDatabase, &c.database);
  if (r.string("key_prefix", &c.keyPrefix)) {
    bool ok = c.keyPrefix.size() <= kMaxKeyPrefix;
    for (char ch : c.keyPrefix) ok = ok && ch > ' ' && ch < 0x7f;
    if (!ok) {
      r.error("key_prefix", "must be at most " + std::to_string(kMaxKeyPrefix) +
                                " printable characters without spaces");
    }
  }
  r.boolean("tls", &c.tls);
  r.string("tls_ca_file", &c.tlsCaFile);
  r.string("tls_cert_file", &c.tlsCertFile);
  r.string("tls_key_file", &c.tlsKeyFile);
  r.string("tls_server_name", &c.tlsServerName);
  if (c.tlsCertFile.empty() != c.tlsKeyFile.empty()) {
    r.error(c.tlsCertFile.empty() ? "tls_cert_file" : "tls_key_file",
            "tls_cert_file and tls_key_file go together (a client certificate and its key)");
  }
  for (auto [key, path] :
       {std::pair{"tls_ca_file", &c.tlsCaFile}, std::pair{"tls_cert_file", &c.tlsCertFile},
        std::pair{"tls_key_file", &c.tlsKeyFile}}) {
    if (!path->empty() && ::access(path->c_str(), R_OK) != 0) {
      r.error(key, "cannot read " + *path);
    }
  }
  r.duration("timeout_ms", kMinRedisTimeoutMs, kMaxRedisTimeoutMs, &c.timeout);
  r.duration("connect_timeout_ms", kMinRedisTimeoutMs, kMaxRedisTimeoutMs, &c.connectTimeout);
  r.duration("reconnect_interval_ms", kMinRedisTimeoutMs, kMaxRedisTimeoutMs, &c.reconnectInterval);
  r.duration("heartbeat_ms", kMinHeartbeatMs, kMaxHeartbeatMs, &c.heartbeat);
  r.duration("node_ttl_ms", kMinHeartbeatMs, kMaxNodeTtlMs, &c.nodeTtl);
  if (c.nodeTtl < 2 * c.heartbeat) {
    // One late heartbeat must not make a node dead for the others.
    r.error("node_ttl_ms", "must be at least twice heartbeat_ms (" +
                               std::to_string(2 * c.heartbeat.count()) + ")");
  }
  size_t rule = 0;
  if (r.choice("down_rule", {"local_share", "refuse"}, &rule)) {
    c.downRule = rule == 1 ? cluster::DownRule::Refuse : cluster::DownRule::LocalShare;
  }
  if (r.string("advertise", &c.advertise) && !c.advertise.empty()) {
    auto a = net::SockAddr::parse(c.advertise);
    if (!a || a->port() == 0) {
      r.error("advertise", "must be \"ip:port\" (got " + toml_reader::quoted(c.advertise) + ")");
    }
  }
  std::vector<TableReader::Item> nets;
  if (r.stringArray("peer_networks", cluster::kMaxPeerNetworks, &nets)) {
    c.peerNetworks.clear();
    for (size_t i = 0; i < nets.size(); ++i) {
      auto cidr = net::Cidr::parse(nets[i].value);
      if (!cidr) {
        r.error("peer_networks[" + std::to_string(i) + "]", nets[i].line,
                "must be an IP address or CIDR prefix (got " + toml_reader::quoted(nets[i].value) +
                    ")");
        continue;
      }
      c.peerNetworks.push_back(*cidr);
    }
  }
  c.enabled = !c.redis.empty() || !c.sentinels.empty();
  r.finish();
}

void readNode(TableReader& r, NodeConfig& node) {
  r.duration("drain_timeout", 0, kMaxDrainTimeoutS, &node.drainTimeout);
  r.finish();
}

void readMode(TableReader& r, std::string_view key, shield::Mode* out) {
  size_t idx = 0;
  if (r.choice(key, {"enforce", "count-only"}, &idx)) {
    *out = idx == 0 ? shield::Mode::Enforce : shield::Mode::CountOnly;
  }
}

// An array of CIDR (or address) strings.
bool readCidrs(TableReader& r, std::string_view key, size_t max, std::vector<net::Cidr>* out) {
  std::vector<TableReader::Item> items;
  if (!r.stringArray(key, max, &items)) return false;
  std::vector<net::Cidr> cidrs;
  bool ok = true;
  for (size_t i = 0; i < items.size(); ++i) {
    auto c = net::Cidr::parse(items[i].value);
    if (!c) {
      r.error(std::string(key) + "[" + std::to_string(i) + "]", items[i].line,
              toml_reader::quoted(items[i].value) + " is not an IP address or CIDR");
      ok = false;
      continue;
    }
    cidrs.push_back(*c);
  }
  if (ok) *out = std::move(cidrs);
  return ok;
}

bool printableNoQuotes(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f && c != '"' && c != '\\' && c != '\'';
  });
}

// Bounds of [overload]: delays up to a minute, bounds up to 10 million,
// Retry-After up to an hour (RFC 3261 §20.33 allows more; nobody waits
// that long for a softswitch).
constexpr int64_t kMaxOverloadDelayMs = 60'000;
constexpr int64_t kMaxOverloadBound = 10'000'000;
constexpr int64_t kMaxRetryAfterS = 3600;

void readOverload(TableReader& r, shield::OverloadConfig& c) {
  r.boolean("enabled", &c.enabled);
  r.durationIn<Millis>("queue_delay_target_ms", 1, kMaxOverloadDelayMs, &c.queueDelayTarget);
  r.durationIn<Millis>("max_queue_delay_ms", 1, kMaxOverloadDelayMs, &c.maxQueueDelay);
  r.durationIn<Millis>("drop_delay_ms", 1, kMaxOverloadDelayMs, &c.dropDelay);
  r.durationIn<Millis>("loop_lag_target_ms", 1, kMaxOverloadDelayMs, &c.loopLagTarget);
  r.integerAs("max_transactions", 0, kMaxOverloadBound, &c.maxTransactions);
  r.integerAs("max_calls", 0, kMaxOverloadBound, &c.maxCalls);
  r.integerAs("retry_after", 1, kMaxRetryAfterS, &c.retryAfter);
  r.number("refusal_cost", 0, 0.9, &c.refusalCost);
  r.boolean("rfc7339", &c.rfc7339);
  r.durationIn<Millis>("oc_validity_ms", 0, kMaxOverloadDelayMs, &c.ocValidity);
  if (c.maxQueueDelay < c.queueDelayTarget) {
    r.error("max_queue_delay_ms", "must be at least overload.queue_delay_target_ms (" +
                                      std::to_string(c.queueDelayTarget.count()) + ")");
  } else if (c.dropDelay < c.maxQueueDelay) {
    r.error("drop_delay_ms", "must be at least overload.max_queue_delay_ms (" +
                                 std::to_string(c.maxQueueDelay.count()) + ")");
  }
}

void readShield(TableReader& r, shield::ShieldConfig& c) {
  r.boolean("enabled", &c.enabled);
  readCidrs(r, "trusted", kMaxTrusted, &c.trusted);
  r.number("trusted_rate", 0, kMaxShieldRate, &c.trustedRate);
  r.number("trusted_burst", 0, kMaxShieldRate, &c.trustedBurst);
  readMode(r, "trusted_rate_mode", &c.trustedRateMode);

  std::vector<TableReader::Item> items;
  if (r.stringArray("user_agents", kMaxSignatures, &items)) {
    std::vector<std::string> sigs;
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string& v = items[i].value;
      // Also goes into exported iptables rules as a quoted string.
      if (v.empty() || v.size() > kMaxSignatureBytes || !printableNoQuotes(v)) {
        r.error("user_agents[" + std::to_string(i) + "]", items[i].line,
                "must be 1-" + std::to_string(kMaxSignatureBytes) +
                    " printable characters without quotes or backslashes (got " +
                    toml_reader::quoted(v) + ")");
        continue;
      }
      sigs.push_back(v);
    }
    c.userAgents = std::move(sigs);
  }
  readMode(r, "signature_mode", &c.signatureMode);
  if (r.stringArray("drop_methods", kMaxDropMethods, &items)) {
    std::vector<std::string> methods;
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string& v = items[i].value;
      // RFC 3261 §7.1: methods are upper-case tokens by convention; we
      // insist, because the comparison is case-sensitive.
      const bool token =
          !v.empty() && v.size() <= 32 &&
          std::all_of(v.begin(), v.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; });
      if (!token) {
        r.error("drop_methods[" + std::to_string(i) + "]", items[i].line,
                "must be a SIP method in upper case, e.g. \"OPTIONS\" (got " +
                    toml_reader::quoted(v) + ")");
        continue;
      }
      if (v == "ACK" || v == "CANCEL" || v == "BYE") {
        r.error("drop_methods[" + std::to_string(i) + "]", items[i].line,
                v + " belongs to calls already admitted and cannot be dropped by method");
        continue;
      }
      methods.push_back(v);
    }
    c.dropMethods = std::move(methods);
  }
  readMode(r, "method_mode", &c.methodMode);
  readMode(r, "malformed_mode", &c.malformedMode);

  r.integerAs("recent_hits", 1, kMaxRecentHits, &c.recentHits);
  int64_t secs = 0;
  if (r.integer("recent_seconds", 1, kMaxRecentSeconds, &secs))
    c.recentWindow = Millis(secs * 1000);
  r.number("rate", 0, kMaxShieldRate, &c.rate);
  r.number("burst", 0, kMaxShieldRate, &c.burst);
  if (r.integer("rate_idle_expiry", 1, kMaxRateIdleS, &secs))
    c.rateIdleExpiry = Millis(secs * 1000);
  readMode(r, "rate_mode", &c.rateMode);
  r.integerAs("prefix_v4", 8, 32, &c.prefixV4);
  r.integerAs("prefix_v6", 16, 128, &c.prefixV6);
  r.integerAs("prefix_recent_hits", 1, kMaxRecentHits, &c.prefixRecentHits);
  r.number("prefix_rate", 0, kMaxShieldRate, &c.prefixRate);
  r.number("prefix_burst", 0, kMaxShieldRate, &c.prefixBurst);
  readMode(r, "prefix_rate_mode", &c.prefixRateMode);
  r.integerAs("max_concurrent", 1, kMaxConcurrent, &c.maxConcurrent);
  r.integerAs("prefix_max_concurrent", 1, kMaxConcurrent, &c.prefixMaxConcurrent);
  readMode(r, "concurrency_mode", &c.concurrencyMode);

  r.boolean("auto_ban", &c.autoBan);
  r.duration("ban_time", 1, kMaxBanSeconds, &c.banTime);
  if (const toml::node* n = r.take("ban_max_time");
      n && n->as_integer() && n->as_integer()->get() < c.banTime.count()) {
    r.error("ban_max_time", "must be at least shield.ban_time (" +
                                std::to_string(c.banTime.count()) + ") (got " +
                                std::to_string(n->as_integer()->get()) + ")");
  } else {
    r.duration("ban_max_time", c.banTime.count(), kMaxBanSeconds, &c.banMaxTime);
  }
  if (const toml::node* n = r.take("ban_escalation");
      n && (n->as_integer() || n->as_floating_point()) && n->value_or(0.0) < 1.0) {
    r.error("ban_escalation", "must be at least 1 (1 = no escalation)");
  } else {
    r.number("ban_escalation", 0, kMaxBanEscalation, &c.banEscalation);
  }
  r.duration("ban_memory", 0, kMaxBanMemoryS, &c.banMemory);
  readMode(r, "ban_mode", &c.banMode);
  r.integerAs("max_sources", kMinTableSize, kMaxSourcesTable, &c.maxSources);
  r.integerAs("max_prefixes", kMinTableSize, kMaxSourcesTable, &c.maxPrefixes);
  r.integerAs("max_bans", kMinTableSize, kMaxBansTable, &c.maxBans);
  // A bucket that cannot hold one message passes nothing at all.
  for (auto [key, v] : {std::pair<std::string_view, double>{"trusted_burst", c.trustedBurst},
                        {"burst", c.burst},
                        {"prefix_burst", c.prefixBurst}}) {
    if (v < 1) r.error(key, "must be at least 1 (got " + std::to_string(v) + ")");
  }
  r.finish();
}

void readFirewall(TableReader& r, FirewallConfig& f) {
  r.boolean("kernel_offload", &f.kernelOffload);
  if (r.string("table", &f.table)) {
    const bool ok = !f.table.empty() && f.table.size() <= kMaxTableName &&
                    std::all_of(f.table.begin(), f.table.end(),
                                [](char c) {
                                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                         (c >= '0' && c <= '9') || c == '_' || c == '-';
                                }) &&
                    !(f.table[0] >= '0' && f.table[0] <= '9');
    if (!ok) {
      r.error("table", "must be 1-" + std::to_string(kMaxTableName) +
                           " of A-Z a-z 0-9 _ - not starting with a digit (got " +
                           toml_reader::quoted(f.table) + ")");
    }
  }
  r.integerAs("rtp_port_min", 0, 65535, &f.rtpPortMin);
  r.integerAs("rtp_port_max", 0, 65535, &f.rtpPortMax);
  if ((f.rtpPortMin == 0) != (f.rtpPortMax == 0) || f.rtpPortMin > f.rtpPortMax) {
    // Named at the key that is there (the other may be missing).
    const std::string_view key = r.take("rtp_port_max") ? "rtp_port_max" : "rtp_port_min";
    r.error(key,
            "rtp_port_min and rtp_port_max must both be 0 (no RTP rule) or form a range "
            "min <= max");
  }
  if (const toml::node* n = r.take("management_ports")) {
    const auto* arr = n->as_array();
    const int line = toml_reader::lineOf(*n, r.line());
    if (arr == nullptr || arr->size() > kMaxManagementPorts) {
      r.error("management_ports", line,
              "must be an array of at most " + std::to_string(kMaxManagementPorts) +
                  " TCP ports, e.g. [22, 8080]");
    } else {
      std::vector<uint16_t> ports;
      bool ok = true;
      for (size_t i = 0; i < arr->size(); ++i) {
        const auto* v = arr->get(i)->as_integer();
        if (v == nullptr || v->get() < 1 || v->get() > 65535) {
          r.error("management_ports[" + std::to_string(i) + "]", line,
                  "must be a port number 1..65535");
          ok = false;
          continue;
        }
        ports.push_back(static_cast<uint16_t>(v->get()));
      }
      if (ok) f.managementPorts = std::move(ports);
    }
  }
  readCidrs(r, "management_allow", kMaxManagementAllow, &f.managementAllow);
  r.finish();
}

void readApi(TableReader& r, ApiConfig& api) {
  api.listen = {*net::SockAddr::parse("127.0.0.1:8080")};
  api.allow = {*net::Cidr::parse("127.0.0.0/8"), *net::Cidr::parse("::1/128")};
  std::vector<TableReader::Item> items;
  if (r.stringArray("listen", kMaxApiListeners, &items)) {
    api.listen.clear();
    for (size_t i = 0; i < items.size(); ++i) {
      auto a = net::SockAddr::parse(items[i].value);
      std::string key = "listen[" + std::to_string(i) + "]";
      if (!a) {
        r.error(key, items[i].line,
                "must be address:port, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\" (got " +
                    toml_reader::quoted(items[i].value) + ")");
        continue;
      }
      for (const auto& prev : api.listen) {
        if (prev == *a && a->port() != 0) {
          r.error(key, items[i].line,
                  "duplicate listen address " + toml_reader::quoted(items[i].value));
        }
      }
      api.listen.push_back(*a);
    }
  }
  if (r.stringArray("allow", kMaxApiAllow, &items)) {
    api.allow.clear();
    for (size_t i = 0; i < items.size(); ++i) {
      auto c = net::Cidr::parse(items[i].value);
      if (!c) {
        r.error("allow[" + std::to_string(i) + "]", items[i].line,
                "must be an IP address or CIDR, e.g. \"192.0.2.0/24\" (got " +
                    toml_reader::quoted(items[i].value) + ")");
        continue;
      }
      api.allow.push_back(*c);
    }
  }
  r.string("certificate", &api.certificate);
  r.string("private_key", &api.privateKey);
  if (api.certificate.empty() != api.privateKey.empty()) {
    r.error(api.certificate.empty() ? "certificate" : "private_key",
            "certificate and private_key go together (both set for HTTPS, both \"\" for HTTP)");
  }
  size_t scope = 0;
  if (r.choice("lockout_scope", {"source", "account"}, &scope)) {
    api.lockoutScope = scope == 0 ? LockoutScope::Source : LockoutScope::Account;
  }
  r.integerAs("lockout_attempts", 1, kMaxLockoutAttempts, &api.lockoutAttempts);
  r.duration("lockout_window", 1, kMaxLockoutSeconds, &api.lockoutWindow);
  r.duration("lockout_duration", 1, kMaxLockoutSeconds, &api.lockoutDuration);
  r.integerAs("password_min_length", kMinPasswordLength, kMaxPasswordMinLength,
              &api.passwordMinLength);
  r.duration("session_lifetime", kMinSessionSeconds, kMaxSessionSeconds, &api.sessionLifetime);
  r.duration("session_idle_timeout", kMinSessionSeconds, kMaxSessionSeconds,
             &api.sessionIdleTimeout);
  r.boolean("metrics_auth", &api.metricsAuth);
  r.boolean("console", &api.console);
  r.integerAs("max_connections", kMinApiConnections, kMaxApiConnections,
              &api.limits.maxConnections);
  const bool perSourceSet = r.integerAs("max_connections_per_source", 1, kMaxApiConnections,
                                        &api.limits.maxConnectionsPerSource);
  int64_t seconds = 0;
  if (r.integer("request_head_timeout", 1, kMaxApiHeadSeconds, &seconds)) {
    api.limits.requestHeadTimeoutMs = static_cast<int>(seconds * 1000);
  }
  if (r.integer("tls_handshake_timeout", 1, kMaxApiHeadSeconds, &seconds)) {
    api.limits.tlsHandshakeTimeoutMs = static_cast<int>(seconds * 1000);
  }
  if (!perSourceSet) {
    api.limits.maxConnectionsPerSource =
        std::min(api.limits.maxConnectionsPerSource, api.limits.maxConnections);
  } else if (api.limits.maxConnectionsPerSource > api.limits.maxConnections) {
    r.error("max_connections_per_source", "must not exceed api.max_connections (" +
                                              std::to_string(api.limits.maxConnections) + ")");
  }
  r.finish();
}

// The values two layers share, read once and handed to each here.
void shareValues(Config& c) {
  c.auth.realm = c.sip.domain;
  c.registrar.userAgent = c.call.userAgent;
  c.carrierMonitor.userAgent = c.call.userAgent;
  c.call.tcpCloseReset = c.transport.tcpCloseReset;
  c.call.numbers = c.numbers;
  // New work waiting as long as overload control calls late is served
  // oldest first (transport::Turn).
  c.transport.udpNewWorkDue = c.overload.maxQueueDelay;
}

}  // namespace

Result<Config, ConfigError> parseConfig(std::string_view text, const std::string& sourceName) {
  auto doc = toml_reader::parseToml(text, sourceName);
  if (!doc) return Err{doc.error()};

  Config config;
  config.sourcePath = sourceName;
  ErrorList errors(sourceName);
  TableReader top(&doc.value(), "", 1, errors);

  // Each section: a table (absent = all defaults, unless it has a required key).
  auto section = [&](std::string_view name, auto&& read) {
    const toml::node* node = top.take(name);
    const toml::table* table = node ? node->as_table() : nullptr;
    if (node && !table) {
      top.error(name, toml_reader::lineOf(*node, 1),
                "must be a table (got " + std::string(toml_reader::typeName(*node)) + ")");
      return;
    }
    TableReader r(table, std::string(name), table ? toml_reader::lineOf(*table, 1) : 1, errors);
    read(r);
  };
  section("sip", [&](TableReader& r) { readSip(r, config); });
  section("routing", [&](TableReader& r) { readRouting(r, config); });
  section("store", [&](TableReader& r) { readStore(r, config.store); });
  section("cdr", [&](TableReader& r) { readCdr(r, config.call, config.store); });
  section("log", [&](TableReader& r) { readLog(r, config.log); });
  section("node", [&](TableReader& r) { readNode(r, config.node); });
  section("auth", [&](TableReader& r) { readAuth(r, config.auth); });
  section("registrar", [&](TableReader& r) { readRegistrar(r, config.registrar); });
  section("tls", [&](TableReader& r) { readTls(r, config.tls); });
  // A TLS listener cannot work without our certificate.
  if (config.tls.certificate.empty()) {
    for (size_t i = 0; i < config.sip.listen.size(); ++i) {
      if (config.sip.listen[i].protocol != transport::Protocol::Tls) continue;
      const toml::node* sip = doc->get("sip");
      int line = sip && sip->as_table() ? toml_reader::lineOf(*sip, 1) : 1;
      if (sip && sip->as_table()) {
        if (const toml::node* l = sip->as_table()->get("listen"))
          line = toml_reader::lineOf(*l, line);
      }
      errors.add(line, "sip.listen[" + std::to_string(i) + "]",
                 "a tls listener needs tls.certificate and tls.private_key");
      break;
    }
  }
  section("policy", [&](TableReader& r) { readPolicy(r, config.policy); });
  section("blacklist", [&](TableReader& r) { readBlacklist(r, config.policy.blacklist); });
  section("numbers", [&](TableReader& r) { readNumbers(r, config.numbers); });
  section("shield", [&](TableReader& r) { readShield(r, config.shield); });
  section("overload", [&](TableReader& r) { readOverload(r, config.overload); });
  section("firewall", [&](TableReader& r) { readFirewall(r, config.firewall); });
  section("api", [&](TableReader& r) { readApi(r, config.api); });
  section("hep", [&](TableReader& r) { readHep(r, config.hep); });
  section("media", [&](TableReader& r) { readMedia(r, config.media); });
  section("cluster", [&](TableReader& r) { readCluster(r, config.cluster, config.store); });
  // A common mix-up, worth a clearer word than "unknown key".
  for (std::string_view list : {"mapping_gateway", "routing_gateway", "account", "fraud_rule"}) {
    if (const toml::node* node = top.take(list)) {
      top.error(list, toml_reader::lineOf(*node, 1),
                "gateways belong in a provisioning file (see examples/demo-provisioning.toml), "
                "not in the node settings");
    }
  }
  top.finish();

  if (!errors.empty()) return Err{errors.first()};
  shareValues(config);
  return config;
}

// The PostgreSQL password: the file's first line. The file must be the
// owner's alone (like ~/.pgpass, which libpq ignores otherwise): the
// password opens every node's provisioning and CDRs.
Result<std::string, std::string> readPasswordFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Err{std::string("cannot read ") + path};
  if ((st.st_mode & 077) != 0) {
    return Err{path + " is readable by group or others (chmod 600 " + path + ")"};
  }
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return Err{std::string("cannot read ") + path};
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return Err{path + " is empty"};
  return line;
}

Result<Config, ConfigError> loadConfig(const std::string& path) {
  auto text = readTomlFile(path);
  if (!text) return Err{text.error()};
  return parseConfig(text.value(), path);
}

}  // namespace tollgate::app
