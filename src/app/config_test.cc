// Tests of the node settings file: defaults, every range and enum, unknown
// keys and tables, types, syntax errors, and the shipped example.
#include "app/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tollgate::app {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr std::string_view kMinimal =
    "[sip]\n"
    "listen = [\"udp:127.0.0.1:5060\"]\n"
    "[store]\n"
    "path = \"x.db\"\n";

// A minimal valid file plus one `key = value` line in `section`; returns the
// text and the line the extra line is on.
struct Doc {
  std::string text;
  int line;
};
Doc withLine(std::string_view section, std::string_view kv) {
  std::string k(kv);
  if (section == "sip") {
    return {"[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\n" + k + "\n[store]\npath = \"x.db\"\n", 3};
  }
  if (section == "store") {
    // The line under test may be the required path itself.
    std::string path = k.rfind("path ", 0) == 0 ? "" : "path = \"x.db\"\n";
    return {"[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\n[store]\n" + k + "\n" + path, 4};
  }
  return {std::string(kMinimal) + "[" + std::string(section) + "]\n" + k + "\n", 6};
}

Config parseOk(std::string_view text) {
  auto r = parseConfig(text, "t.toml");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().format());
  return r.ok() ? r.value() : Config{};
}

ConfigError parseError(std::string_view text) {
  auto r = parseConfig(text, "t.toml");
  EXPECT_FALSE(r.ok()) << "parsed although it should not:\n" << text;
  return r.ok() ? ConfigError{} : r.error();
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ConfigTest, EveryOptionalKeyHasItsDefault) {
  Config c = parseOk(kMinimal);
  ASSERT_EQ(c.sip.listen.size(), 1u);
  EXPECT_EQ(c.sip.listen[0].protocol, transport::Protocol::Udp);
  EXPECT_EQ(c.sip.listen[0].address.toString(), "127.0.0.1:5060");
  EXPECT_EQ(c.sip.domain, "tollgate.local");
  EXPECT_EQ(c.call.unknownSource, call::UnknownSourcePolicy::Drop);
  EXPECT_EQ(c.call.userAgent, "tollgate");
  EXPECT_EQ(c.call.advertisedAddress, "");
  EXPECT_EQ(c.timers.t1, 500ms);
  EXPECT_EQ(c.timers.t2, 4000ms);
  EXPECT_EQ(c.timers.t4, 5000ms);
  EXPECT_EQ(c.call.ringTimeout, 120s);
  EXPECT_EQ(c.transport.tcpIdleTimeout, 300s);
  EXPECT_EQ(c.transport.tcpMaxConnections, 4096u);
  EXPECT_EQ(c.transport.tcpMaxConnectionsPerIp, 64u);
  EXPECT_EQ(c.transport.tcpReservedPercent, 25u);
  EXPECT_EQ(c.transport.tcpMessageTimeout, 5s);
  EXPECT_EQ(c.transport.tlsHandshakeTimeout, 5s);
  EXPECT_EQ(c.call.switchLimit, 3);
  EXPECT_TRUE(c.call.stopAfterBusy);
  EXPECT_EQ(c.call.setupTimeout, 5s);
  EXPECT_EQ(c.call.noRouteCode, 404);
  EXPECT_EQ(c.store.path, "x.db");
  EXPECT_EQ(c.store.provisioningPollMs, 1000ms);
  EXPECT_TRUE(c.call.illegalCallCdrs);
  EXPECT_DOUBLE_EQ(c.call.illegalCdrRate, 20.0);
  EXPECT_EQ(c.call.illegalCdrBurst, 100);
  EXPECT_EQ(c.log.level, log::Level::Info);
  EXPECT_EQ(c.log.format, log::Format::Logfmt);
  EXPECT_EQ(c.node.drainTimeout, 30s);
  EXPECT_EQ(c.sourcePath, "t.toml");
  EXPECT_EQ(c.call.challenge, admission::ChallengeMode::Proxy407);
  EXPECT_FALSE(c.transport.tcpCloseReset);  // "fin"
  EXPECT_EQ(c.auth.algorithms,
            (std::vector<auth::Algorithm>{auth::Algorithm::Md5, auth::Algorithm::Sha256}));
  EXPECT_EQ(c.auth.nonceLifetime, 300s);
  EXPECT_TRUE(c.auth.limits.enabled);
  EXPECT_TRUE(c.auth.digestUriHostOnly);
  EXPECT_EQ(c.auth.limits.maxRetry, 6u);
  EXPECT_EQ(c.auth.limits.sourceMaxRetry, 30u);
  EXPECT_EQ(c.auth.limits.suspendTime, 180s);
  EXPECT_EQ(c.auth.limits.maxSuspendTime, 3600s);
  EXPECT_EQ(c.auth.limits.failureWindow, 600s);
  EXPECT_TRUE(c.registrar.replace);
  EXPECT_EQ(c.registrar.defaultExpires, 3600s);
  EXPECT_EQ(c.registrar.minExpires, 60s);
  EXPECT_EQ(c.registrar.maxExpires, 7200s);
  EXPECT_EQ(c.registrar.keepaliveInterval, 60s);
  EXPECT_EQ(c.tls.certificate, "");
  EXPECT_EQ(c.tls.privateKey, "");
  EXPECT_EQ(c.tls.clientCa, "");
  EXPECT_EQ(c.tls.minVersion, "1.2");
  EXPECT_EQ(c.tls.carrierCa, "");
  EXPECT_TRUE(c.tls.verifyCarriers);
  EXPECT_EQ(c.numbers.form, admission::NumberSettings::Form::Digits);
  EXPECT_EQ(c.numbers.internationalPrefix, "00");
  EXPECT_EQ(c.numbers.invalidCode, 484);
}

TEST(ConfigTest, ReadsEveryKey) {
  Config c = parseOk(R"([sip]
listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5061"]
domain = "sip.example.net"
unknown_source = "403"
user_agent = ""
advertised_address = "203.0.113.7:5062"
t1_ms = 250
t2_ms = 2000
t4_ms = 3000
ring_timeout = 60
tcp_idle_timeout = 30
tcp_max_connections = 100
tcp_max_connections_per_ip = 10
tcp_reserved_percent = 40
tcp_message_timeout = 8
tls_handshake_timeout = 3
[routing]
switch_limit = 5
stop_after_busy = false
setup_timeout = 8
no_route_code = 503
[store]
path = "/var/lib/tollgate/t.db"
provisioning_poll_ms = 250
[cdr]
illegal_calls = false
illegal_rate = 0.5
illegal_burst = 7
[log]
level = "debug"
format = "json"
[node]
drain_timeout = 0
)");
  ASSERT_EQ(c.sip.listen.size(), 2u);
  EXPECT_EQ(c.sip.listen[1].protocol, transport::Protocol::Tcp);
  EXPECT_EQ(c.sip.listen[1].address.port(), 5061);
  EXPECT_EQ(c.sip.domain, "sip.example.net");
  EXPECT_EQ(c.call.unknownSource, call::UnknownSourcePolicy::Reject403);
  EXPECT_EQ(c.call.userAgent, "");
  EXPECT_EQ(c.call.advertisedAddress, "203.0.113.7:5062");
  EXPECT_EQ(c.timers.t1, 250ms);
  EXPECT_EQ(c.timers.t2, 2000ms);
  EXPECT_EQ(c.timers.t4, 3000ms);
  EXPECT_EQ(c.call.ringTimeout, 60s);
  EXPECT_EQ(c.transport.tcpIdleTimeout, 30s);
  EXPECT_EQ(c.transport.tcpMaxConnections, 100u);
  EXPECT_EQ(c.transport.tcpMaxConnectionsPerIp, 10u);
  EXPECT_EQ(c.transport.tcpReservedPercent, 40u);
  EXPECT_EQ(c.transport.tcpMessageTimeout, 8s);
  EXPECT_EQ(c.transport.tlsHandshakeTimeout, 3s);
  EXPECT_EQ(c.call.switchLimit, 5);
  EXPECT_FALSE(c.call.stopAfterBusy);
  EXPECT_EQ(c.call.setupTimeout, 8s);
  EXPECT_EQ(c.call.noRouteCode, 503);
  EXPECT_EQ(c.store.path, "/var/lib/tollgate/t.db");
  EXPECT_EQ(c.store.provisioningPollMs, 250ms);
  EXPECT_FALSE(c.call.illegalCallCdrs);
  EXPECT_DOUBLE_EQ(c.call.illegalCdrRate, 0.5);
  EXPECT_EQ(c.call.illegalCdrBurst, 7);
  EXPECT_EQ(c.log.level, log::Level::Debug);
  EXPECT_EQ(c.log.format, log::Format::Json);
  EXPECT_EQ(c.node.drainTimeout, 0s);
}

TEST(ConfigTest, ParsesTheShippedExample) {
  auto r = loadConfig(TOLLGATE_SOURCE_DIR "/examples/tollgate.toml");
  ASSERT_TRUE(r.ok()) << r.error().format();
  const Config& c = r.value();
  ASSERT_EQ(c.sip.listen.size(), 2u);
  EXPECT_EQ(c.sip.listen[0].protocol, transport::Protocol::Udp);
  EXPECT_EQ(c.sip.listen[0].address.toString(), "127.0.0.1:5060");
  EXPECT_EQ(c.sip.listen[1].protocol, transport::Protocol::Tcp);
  EXPECT_EQ(c.sip.listen[1].address.toString(), "127.0.0.1:5060");
  EXPECT_EQ(c.store.path, "var/tollgate.db");
  // The example shows the defaults: it must agree with the code.
  Config d = parseOk(kMinimal);
  EXPECT_EQ(c.sip.domain, d.sip.domain);
  EXPECT_EQ(c.call.unknownSource, d.call.unknownSource);
  EXPECT_EQ(c.call.userAgent, d.call.userAgent);
  EXPECT_EQ(c.call.advertisedAddress, d.call.advertisedAddress);
  EXPECT_EQ(c.timers.t1, d.timers.t1);
  EXPECT_EQ(c.timers.t2, d.timers.t2);
  EXPECT_EQ(c.timers.t4, d.timers.t4);
  EXPECT_EQ(c.call.ringTimeout, d.call.ringTimeout);
  EXPECT_EQ(c.transport.tcpIdleTimeout, d.transport.tcpIdleTimeout);
  EXPECT_EQ(c.transport.tcpMaxConnections, d.transport.tcpMaxConnections);
  EXPECT_EQ(c.transport.tcpMaxConnectionsPerIp, d.transport.tcpMaxConnectionsPerIp);
  EXPECT_EQ(c.transport.tcpReservedPercent, d.transport.tcpReservedPercent);
  EXPECT_EQ(c.transport.tcpMessageTimeout, d.transport.tcpMessageTimeout);
  EXPECT_EQ(c.transport.tlsHandshakeTimeout, d.transport.tlsHandshakeTimeout);
  EXPECT_EQ(c.call.switchLimit, d.call.switchLimit);
  EXPECT_EQ(c.call.stopAfterBusy, d.call.stopAfterBusy);
  EXPECT_EQ(c.call.setupTimeout, d.call.setupTimeout);
  EXPECT_EQ(c.call.noRouteCode, d.call.noRouteCode);
  EXPECT_EQ(c.store.provisioningPollMs, d.store.provisioningPollMs);
  EXPECT_EQ(c.call.illegalCallCdrs, d.call.illegalCallCdrs);
  EXPECT_EQ(c.call.illegalCdrRate, d.call.illegalCdrRate);
  EXPECT_EQ(c.call.illegalCdrBurst, d.call.illegalCdrBurst);
  EXPECT_EQ(c.log.level, d.log.level);
  EXPECT_EQ(c.log.format, d.log.format);
  EXPECT_EQ(c.node.drainTimeout, d.node.drainTimeout);
  EXPECT_EQ(c.call.challenge, d.call.challenge);
  EXPECT_EQ(c.transport.tcpCloseReset, d.transport.tcpCloseReset);
  EXPECT_EQ(c.auth.algorithms, d.auth.algorithms);
  EXPECT_EQ(c.auth.nonceLifetime, d.auth.nonceLifetime);
  EXPECT_EQ(c.auth.limits.enabled, d.auth.limits.enabled);
  EXPECT_EQ(c.auth.digestUriHostOnly, d.auth.digestUriHostOnly);
  EXPECT_EQ(c.auth.limits.maxRetry, d.auth.limits.maxRetry);
  EXPECT_EQ(c.auth.limits.sourceMaxRetry, d.auth.limits.sourceMaxRetry);
  EXPECT_EQ(c.auth.limits.suspendTime, d.auth.limits.suspendTime);
  EXPECT_EQ(c.auth.limits.maxSuspendTime, d.auth.limits.maxSuspendTime);
  EXPECT_EQ(c.auth.limits.failureWindow, d.auth.limits.failureWindow);
  EXPECT_EQ(c.registrar.replace, d.registrar.replace);
  EXPECT_EQ(c.registrar.defaultExpires, d.registrar.defaultExpires);
  EXPECT_EQ(c.registrar.minExpires, d.registrar.minExpires);
  EXPECT_EQ(c.registrar.maxExpires, d.registrar.maxExpires);
  EXPECT_EQ(c.registrar.keepaliveInterval, d.registrar.keepaliveInterval);
  EXPECT_EQ(c.tls.certificate, d.tls.certificate);
  EXPECT_EQ(c.tls.privateKey, d.tls.privateKey);
  EXPECT_EQ(c.tls.clientCa, d.tls.clientCa);
  EXPECT_EQ(c.tls.minVersion, d.tls.minVersion);
  EXPECT_EQ(c.tls.carrierCa, d.tls.carrierCa);
  EXPECT_EQ(c.tls.verifyCarriers, d.tls.verifyCarriers);
  EXPECT_EQ(c.call.switchUntilConnect, d.call.switchUntilConnect);
  EXPECT_EQ(c.carrierMonitor.period, d.carrierMonitor.period);
  EXPECT_EQ(c.carrierMonitor.failureLimit, d.carrierMonitor.failureLimit);
  EXPECT_EQ(c.policy.maxDurationS, d.policy.maxDurationS);
  EXPECT_EQ(c.policy.durationWarningS, d.policy.durationWarningS);
  EXPECT_EQ(c.policy.concurrentLimitCode, d.policy.concurrentLimitCode);
  EXPECT_EQ(c.policy.blockedCode, d.policy.blockedCode);
  EXPECT_EQ(c.policy.fraudCode, d.policy.fraudCode);
  EXPECT_EQ(c.policy.counterSaveInterval, d.policy.counterSaveInterval);
  EXPECT_EQ(c.policy.blacklist.perGateway, d.policy.blacklist.perGateway);
  EXPECT_EQ(c.policy.blacklist.maxEntries, d.policy.blacklist.maxEntries);
  EXPECT_EQ(c.policy.blacklist.maxTrackedNumbers, d.policy.blacklist.maxTrackedNumbers);
  EXPECT_EQ(c.numbers.form, d.numbers.form);
  EXPECT_EQ(c.numbers.internationalPrefix, d.numbers.internationalPrefix);
  EXPECT_EQ(c.numbers.invalidCode, d.numbers.invalidCode);
  for (auto [a, b] :
       {std::pair{&c.policy.blacklist.maliciousCaller, &d.policy.blacklist.maliciousCaller},
        std::pair{&c.policy.blacklist.maliciousCallee, &d.policy.blacklist.maliciousCallee},
        std::pair{&c.policy.blacklist.noAnswer, &d.policy.blacklist.noAnswer},
        std::pair{&c.policy.blacklist.callerConcurrent, &d.policy.blacklist.callerConcurrent}}) {
    EXPECT_EQ(a->limit, b->limit);
    EXPECT_EQ(a->intervalUs, b->intervalUs);
    EXPECT_EQ(a->expireUs, b->expireUs);
    EXPECT_EQ(a->enforce, b->enforce);
    EXPECT_EQ(a->cutCalls, b->cutCalls);
  }
  const shield::ShieldConfig& s = c.shield;
  const shield::ShieldConfig& ds = d.shield;
  EXPECT_EQ(s.enabled, ds.enabled);
  EXPECT_EQ(s.trusted.size(), ds.trusted.size());
  EXPECT_EQ(s.trustedRate, ds.trustedRate);
  EXPECT_EQ(s.trustedBurst, ds.trustedBurst);
  EXPECT_EQ(s.trustedRateMode, ds.trustedRateMode);
  EXPECT_EQ(s.userAgents, ds.userAgents);
  EXPECT_EQ(s.signatureMode, ds.signatureMode);
  EXPECT_EQ(s.dropMethods, ds.dropMethods);
  EXPECT_EQ(s.methodMode, ds.methodMode);
  EXPECT_EQ(s.malformedMode, ds.malformedMode);
  EXPECT_EQ(s.recentHits, ds.recentHits);
  EXPECT_EQ(s.recentWindow, ds.recentWindow);
  EXPECT_EQ(s.rate, ds.rate);
  EXPECT_EQ(s.burst, ds.burst);
  EXPECT_EQ(s.rateIdleExpiry, ds.rateIdleExpiry);
  EXPECT_EQ(s.rateMode, ds.rateMode);
  EXPECT_EQ(s.prefixV4, ds.prefixV4);
  EXPECT_EQ(s.prefixV6, ds.prefixV6);
  EXPECT_EQ(s.prefixRecentHits, ds.prefixRecentHits);
  EXPECT_EQ(s.prefixRate, ds.prefixRate);
  EXPECT_EQ(s.prefixBurst, ds.prefixBurst);
  EXPECT_EQ(s.prefixRateMode, ds.prefixRateMode);
  EXPECT_EQ(s.maxConcurrent, ds.maxConcurrent);
  EXPECT_EQ(s.prefixMaxConcurrent, ds.prefixMaxConcurrent);
  EXPECT_EQ(s.concurrencyMode, ds.concurrencyMode);
  EXPECT_EQ(s.autoBan, ds.autoBan);
  EXPECT_EQ(s.banTime, ds.banTime);
  EXPECT_EQ(s.banMaxTime, ds.banMaxTime);
  EXPECT_EQ(s.banEscalation, ds.banEscalation);
  EXPECT_EQ(s.banMemory, ds.banMemory);
  EXPECT_EQ(s.banMode, ds.banMode);
  EXPECT_EQ(s.maxSources, ds.maxSources);
  EXPECT_EQ(s.maxPrefixes, ds.maxPrefixes);
  EXPECT_EQ(s.maxBans, ds.maxBans);
  EXPECT_EQ(c.firewall.kernelOffload, d.firewall.kernelOffload);
  EXPECT_EQ(c.firewall.table, d.firewall.table);
  EXPECT_EQ(c.firewall.rtpPortMin, d.firewall.rtpPortMin);
  EXPECT_EQ(c.firewall.rtpPortMax, d.firewall.rtpPortMax);
  EXPECT_EQ(c.firewall.managementPorts, d.firewall.managementPorts);
  EXPECT_EQ(c.firewall.managementAllow.size(), d.firewall.managementAllow.size());
}

TEST(ConfigTest, PolicyAndBlacklistKeys) {
  auto r = parseConfig(std::string(kMinimal) + R"(
[routing]
switch_until_connect = true
options_check_period = 5
options_failure_limit = 1
[policy]
max_duration = 3600
duration_warning = 60
concurrent_limit_code = 486
blocked_code = 603
fraud_code = 403
counter_save_interval = 30
[blacklist]
run_mode = "per_gateway"
caller_malicious_limit = 10
caller_malicious_interval = 5
caller_malicious_mode = "count-only"
no_answer_limit = 3
no_answer_period = 20
no_answer_cut_calls = true
caller_concurrent_limit = 4
caller_concurrent_expire = 30
)",
                       "t.toml");
  ASSERT_TRUE(r.ok()) << r.error().format();
  const Config& c = r.value();
  EXPECT_TRUE(c.call.switchUntilConnect);
  EXPECT_EQ(c.carrierMonitor.period, 5s);
  EXPECT_EQ(c.carrierMonitor.failureLimit, 1);
  EXPECT_EQ(c.policy.maxDurationS, 3600);  // seconds
  EXPECT_EQ(c.policy.durationWarningS, 60);
  EXPECT_EQ(c.policy.concurrentLimitCode, 486);
  EXPECT_EQ(c.policy.blockedCode, 603);
  EXPECT_EQ(c.policy.counterSaveInterval, 30s);
  EXPECT_TRUE(c.policy.blacklist.perGateway);
  EXPECT_EQ(c.policy.blacklist.maliciousCaller.limit, 10u);
  EXPECT_EQ(std::chrono::microseconds(c.policy.blacklist.maliciousCaller.intervalUs), 5s);
  EXPECT_FALSE(c.policy.blacklist.maliciousCaller.enforce);
  EXPECT_EQ(c.policy.blacklist.noAnswer.limit, 3u);
  EXPECT_EQ(std::chrono::microseconds(c.policy.blacklist.noAnswer.intervalUs), 20s);
  EXPECT_TRUE(c.policy.blacklist.noAnswer.cutCalls);
  EXPECT_EQ(c.policy.blacklist.callerConcurrent.limit, 4u);
  EXPECT_EQ(std::chrono::microseconds(c.policy.blacklist.callerConcurrent.expireUs), 30s);
}

TEST(ConfigTest, PolicyKeysAreChecked) {
  auto bad = [](const std::string& extra) {
    auto r = parseConfig(std::string(kMinimal) + extra, "t.toml");
    EXPECT_FALSE(r.ok()) << extra;
    return r.ok() ? std::string() : r.error().format();
  };
  EXPECT_THAT(bad("[policy]\nmax_duration = 60\nduration_warning = 60\n"),
              HasSubstr("policy.duration_warning: must be shorter than policy.max_duration"));
  EXPECT_THAT(bad("[blacklist]\ncaller_malicious_mode = \"count_only\"\n"),
              HasSubstr("must be \"enforce\" or \"count-only\""));
  EXPECT_THAT(bad("[blacklist]\nrun_mode = \"local\"\n"), HasSubstr("blacklist.run_mode"));
  EXPECT_THAT(bad("[blacklist]\ncaller_malicious_limit = 1001\n"),
              HasSubstr("must be between 0 and 1000"));
  EXPECT_THAT(bad("[blacklist]\nno_answer_interval = 5\n"), HasSubstr("unknown key"));
  EXPECT_THAT(bad("[routing]\noptions_failure_limit = 0\n"),
              HasSubstr("routing.options_failure_limit"));
  EXPECT_THAT(bad("[[account]]\nname = \"x\"\n"), HasSubstr("provisioning file"));
}

TEST(ConfigTest, ShieldAndFirewallKeysParse) {
  Config c = parseOk(std::string(kMinimal) +
                     "[shield]\n"
                     "trusted = [\"192.0.2.0/24\", \"2001:db8::1\"]\n"
                     "user_agents = [\"BadBot\"]\n"
                     "drop_methods = [\"OPTIONS\", \"SUBSCRIBE\"]\n"
                     "signature_mode = \"count-only\"\n"
                     "recent_hits = 5\nrecent_seconds = 10\nrate = 0.5\nburst = 2\n"
                     "prefix_v4 = 16\nprefix_v6 = 48\nban_time = 60\nban_max_time = 60\n"
                     "ban_escalation = 1\nban_memory = 0\nmax_sources = 1000\n"
                     "[firewall]\nkernel_offload = true\ntable = \"tg_edge-1\"\n"
                     "rtp_port_min = 16000\nrtp_port_max = 32000\nmanagement_ports = [22, 8080]\n"
                     "management_allow = [\"10.0.0.0/8\"]\n");
  ASSERT_EQ(c.shield.trusted.size(), 2u);
  EXPECT_EQ(c.shield.trusted[0].toString(), "192.0.2.0/24");
  EXPECT_EQ(c.shield.userAgents, std::vector<std::string>{"BadBot"});
  EXPECT_EQ(c.shield.dropMethods, (std::vector<std::string>{"OPTIONS", "SUBSCRIBE"}));
  EXPECT_EQ(c.shield.signatureMode, shield::Mode::CountOnly);
  EXPECT_EQ(c.shield.rateMode, shield::Mode::Enforce);
  EXPECT_EQ(c.shield.recentHits, 5u);
  EXPECT_EQ(c.shield.recentWindow, 10s);
  EXPECT_DOUBLE_EQ(c.shield.rate, 0.5);
  EXPECT_EQ(c.shield.prefixV4, 16);
  EXPECT_EQ(c.shield.prefixV6, 48);
  EXPECT_EQ(c.shield.banTime, 60s);
  EXPECT_EQ(c.shield.banMaxTime, 60s);
  EXPECT_EQ(c.shield.banMemory, 0s);
  EXPECT_EQ(c.shield.maxSources, 1000u);
  EXPECT_TRUE(c.firewall.kernelOffload);
  EXPECT_EQ(c.firewall.table, "tg_edge-1");
  EXPECT_EQ(c.firewall.rtpPortMin, 16000);
  EXPECT_EQ(c.firewall.managementPorts, (std::vector<uint16_t>{22, 8080}));
  ASSERT_EQ(c.firewall.managementAllow.size(), 1u);
}

// Every key the loader knows appears in the example and in the reference:
// adding a key without documenting it fails here.
TEST(ConfigTest, NumbersKeys) {
  Config c = parseOk(std::string(kMinimal) +
                     "[numbers]\nform = \"e164\"\ninternational_prefix = \"011\"\n"
                     "invalid_code = 404\n");
  EXPECT_EQ(c.numbers.form, admission::NumberSettings::Form::E164);
  EXPECT_EQ(c.numbers.internationalPrefix, "011");
  EXPECT_EQ(c.numbers.invalidCode, 404);
  c = parseOk(std::string(kMinimal) + "[numbers]\ninternational_prefix = \"\"\n");
  EXPECT_EQ(c.numbers.internationalPrefix, "");
}

TEST(ConfigTest, NumbersKeysAreCheckedNamingFileLineAndKey) {
  auto bad = [](std::string_view kv) {
    Doc d = withLine("numbers", kv);
    ConfigError e = parseError(d.text);
    EXPECT_EQ(e.file, "t.toml") << kv;
    EXPECT_EQ(e.line, d.line) << kv;
    EXPECT_EQ(e.key.rfind("numbers.", 0), 0u) << kv << ": " << e.key;
    return e.format();
  };
  EXPECT_THAT(bad("form = \"E.164\""),
              HasSubstr("numbers.form: must be \"digits\" or \"e164\" (got \"E.164\")"));
  EXPECT_THAT(bad("international_prefix = \"+\""), HasSubstr("numbers.international_prefix"));
  EXPECT_THAT(bad("international_prefix = \"810\""), HasSubstr("starting with 0"));
  EXPECT_THAT(bad("international_prefix = \"0\""), HasSubstr("(got \"0\")"));
  EXPECT_THAT(bad("international_prefix = \"0000000\""), HasSubstr("international_prefix"));
  EXPECT_THAT(bad("international_prefix = 0"), HasSubstr("must be a string"));
  EXPECT_THAT(bad("invalid_code = 200"), HasSubstr("numbers.invalid_code: must be between 400"));
  EXPECT_THAT(bad("invalid_code = 700"), HasSubstr("and 699"));
  EXPECT_THAT(bad("invalid_cod = 484"), HasSubstr("did you mean \"invalid_code\""));
}

TEST(ConfigTest, ExampleAndReferenceShowEveryKey) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> kKeys = {
      {"sip",
       {"listen", "domain", "unknown_source", "user_agent", "advertised_address", "t1_ms", "t2_ms",
        "t4_ms", "ring_timeout", "tcp_idle_timeout", "tcp_max_connections",
        "tcp_max_connections_per_ip", "tcp_reserved_percent", "tcp_message_timeout",
        "tls_handshake_timeout", "challenge", "tcp_close"}},
      {"routing",
       {"switch_limit", "stop_after_busy", "setup_timeout", "no_route_code", "switch_until_connect",
        "options_check_period", "options_failure_limit"}},
      {"store",
       {"path", "provisioning_poll_ms", "backend", "url", "password_file", "spool_dir", "node_id"}},
      {"cdr", {"illegal_calls", "illegal_rate", "illegal_burst", "retention_days"}},
      {"log", {"level", "format", "target", "journal_socket"}},
      {"node", {"drain_timeout"}},
      {"auth",
       {"digest_algorithms", "nonce_lifetime", "digest_uri_host_only", "retry_limits", "max_retry",
        "source_max_retry", "suspend_time", "max_suspend_time", "failure_window"}},
      {"registrar",
       {"replace", "default_expires", "min_expires", "max_expires", "keepalive_interval"}},
      {"tls",
       {"certificate", "private_key", "client_ca", "min_version", "carrier_ca", "verify_carriers"}},
      {"policy",
       {"max_duration", "duration_warning", "concurrent_limit_code", "blocked_code", "fraud_code",
        "counter_save_interval"}},
      {"blacklist",
       {"run_mode",
        "max_entries",
        "max_tracked_numbers",
        "caller_malicious_limit",
        "caller_malicious_interval",
        "caller_malicious_expire",
        "caller_malicious_mode",
        "caller_malicious_cut_calls",
        "callee_malicious_limit",
        "callee_malicious_interval",
        "callee_malicious_expire",
        "callee_malicious_mode",
        "callee_malicious_cut_calls",
        "no_answer_limit",
        "no_answer_period",
        "no_answer_expire",
        "no_answer_mode",
        "no_answer_cut_calls",
        "caller_concurrent_limit",
        "caller_concurrent_expire",
        "caller_concurrent_mode",
        "caller_concurrent_cut_calls"}},
      {"shield",
       {"enabled",
        "trusted",
        "trusted_rate",
        "trusted_burst",
        "trusted_rate_mode",
        "user_agents",
        "signature_mode",
        "drop_methods",
        "method_mode",
        "malformed_mode",
        "recent_hits",
        "recent_seconds",
        "rate",
        "burst",
        "rate_idle_expiry",
        "rate_mode",
        "prefix_v4",
        "prefix_v6",
        "prefix_recent_hits",
        "prefix_rate",
        "prefix_burst",
        "prefix_rate_mode",
        "max_concurrent",
        "prefix_max_concurrent",
        "concurrency_mode",
        "auto_ban",
        "ban_time",
        "ban_max_time",
        "ban_escalation",
        "ban_memory",
        "ban_mode",
        "max_sources",
        "max_prefixes",
        "max_bans"}},
      {"overload",
       {"enabled", "queue_delay_target_ms", "max_queue_delay_ms", "drop_delay_ms",
        "loop_lag_target_ms", "max_transactions", "max_calls", "retry_after", "refusal_cost",
        "rfc7339", "oc_validity_ms"}},
      {"firewall",
       {"kernel_offload", "table", "rtp_port_min", "rtp_port_max", "management_ports",
        "management_allow"}},
      {"numbers", {"form", "international_prefix", "invalid_code"}},
      {"api",
       {"listen", "allow", "certificate", "private_key", "lockout_scope", "lockout_attempts",
        "lockout_window", "lockout_duration", "password_min_length", "session_lifetime",
        "session_idle_timeout", "metrics_auth", "max_connections", "max_connections_per_source",
        "request_head_timeout", "tls_handshake_timeout", "console"}},
      {"hep", {"address", "capture_id", "password", "legs", "mask_credentials", "queue_size"}},
      {"media",
       {"engines", "mode", "retransmit_ms", "tries", "ping_interval", "timeout", "setup_timeout",
        "remove_ice", "strip_extmap"}},
      {"cluster", {"node_id",
                   "redis",
                   "sentinels",
                   "master_name",
                   "password_file",
                   "database",
                   "key_prefix",
                   "tls",
                   "tls_ca_file",
                   "tls_cert_file",
                   "tls_key_file",
                   "tls_server_name",
                   "timeout_ms",
                   "connect_timeout_ms",
                   "reconnect_interval_ms",
                   "heartbeat_ms",
                   "node_ttl_ms",
                   "down_rule",
                   "advertise",
                   "peer_networks"}},
  };
  toml::table example = toml::parse_file(TOLLGATE_SOURCE_DIR "/examples/tollgate.toml");
  std::string doc = readFile(TOLLGATE_SOURCE_DIR "/docs/configuration.md");
  size_t total = 0;
  for (const auto& [section, keys] : kKeys) {
    const toml::table* t = example[section].as_table();
    ASSERT_NE(t, nullptr) << section;
    EXPECT_EQ(t->size(), keys.size()) << section;
    for (const std::string& k : keys) {
      EXPECT_TRUE(t->contains(k)) << section << "." << k << " missing from the example";
      EXPECT_THAT(doc, HasSubstr("`" + section + "." + k + "`")) << "missing from the reference";
      // The key list above must match the loader: an unknown key errors.
      auto d = withLine(section, k + " = nan");
      if (section == "sip" && k == "listen") continue;
      if (section == "store" && k == "path") continue;
      auto r = parseConfig(d.text, "t.toml");
      ASSERT_FALSE(r.ok()) << section << "." << k;
      EXPECT_THAT(r.error().message, ::testing::Not(HasSubstr("unknown key")))
          << section << "." << k;
      ++total;
    }
  }
  EXPECT_EQ(example.size(), kKeys.size());
  EXPECT_EQ(total, 192u);  // 194 keys; sip.listen and store.path are required, so already present
}

TEST(ConfigTest, ClusterKeys) {
  Config c = parseOk(kMinimal);
  EXPECT_FALSE(c.cluster.enabled);
  c = parseOk(std::string(kMinimal) +
              "[cluster]\nnode_id = \"a-1\"\nredis = [\"127.0.0.1:6379\", \"[::1]:6380\"]\n"
              "database = 2\nkey_prefix = \"x:\"\ntimeout_ms = 100\nheartbeat_ms = 200\n"
              "node_ttl_ms = 400\ndown_rule = \"refuse\"\nadvertise = \"127.0.0.2:5060\"\n");
  EXPECT_TRUE(c.cluster.enabled);
  EXPECT_EQ(c.cluster.nodeId, "a-1");
  ASSERT_EQ(c.cluster.redis.size(), 2u);
  EXPECT_EQ(c.cluster.redis[1].host, "::1");
  EXPECT_EQ(c.cluster.redis[1].port, 6380);
  EXPECT_EQ(c.cluster.database, 2);
  EXPECT_EQ(c.cluster.keyPrefix, "x:");
  EXPECT_EQ(c.cluster.timeout, Millis(100));
  EXPECT_EQ(c.cluster.nodeTtl, Millis(400));
  EXPECT_EQ(c.cluster.downRule, cluster::DownRule::Refuse);
  EXPECT_EQ(c.cluster.advertise, "127.0.0.2:5060");
  c = parseOk(std::string(kMinimal) + "[cluster]\nsentinels = [\"127.0.0.1:26379\"]\n");
  EXPECT_TRUE(c.cluster.enabled);
  EXPECT_EQ(c.cluster.masterName, "tollgate");
  EXPECT_FALSE(c.cluster.nodeId.empty()) << "defaults to the host name";

  auto err = [](std::string_view body) {
    auto r = parseConfig(std::string(kMinimal) + "[cluster]\n" + std::string(body), "t.toml");
    return r.ok() ? std::string() : r.error().format();
  };
  EXPECT_THAT(err("redis = [\"redis.local:6379\"]\n"), HasSubstr("cluster.redis[0]: must be"));
  EXPECT_THAT(err("redis = [\"127.0.0.1:1\"]\nsentinels = [\"127.0.0.1:2\"]\n"),
              HasSubstr("not both"));
  EXPECT_THAT(err("heartbeat_ms = 1000\nnode_ttl_ms = 1500\n"),
              HasSubstr("cluster.node_ttl_ms: must be at least twice"));
  EXPECT_THAT(err("down_rule = \"share\"\n"), HasSubstr("cluster.down_rule"));
  EXPECT_THAT(err("peer_networks = [\"10.0.0.0/33\"]\n"), HasSubstr("cluster.peer_networks[0]"));
  EXPECT_THAT(err("node_id = \"a b\"\n"), HasSubstr("cluster.node_id"));
  EXPECT_THAT(err("tls_cert_file = \"/etc/hostname\"\n"), HasSubstr("go together"));
  EXPECT_THAT(err("password_file = \"/nonexistent/pw\"\n"), HasSubstr("cluster.password_file"));
}

TEST(ConfigTest, MediaEnginesWeightsAndTimers) {
  Config c = parseOk(std::string(kMinimal) +
                     "[media]\nengines = [\"127.0.0.1:22222\", \"[::1]:2223 weight=3\"]\n"
                     "mode = \"passthrough\"\nretransmit_ms = 100\ntries = 2\ntimeout = 30\n"
                     "setup_timeout = 0\nremove_ice = false\n");
  ASSERT_EQ(c.media.engines.size(), 2u);
  EXPECT_EQ(c.media.engines[0].address.toString(), "127.0.0.1:22222");
  EXPECT_EQ(c.media.engines[0].weight, 1);
  EXPECT_EQ(c.media.engines[1].address.toString(), "[::1]:2223");
  EXPECT_EQ(c.media.engines[1].weight, 3);
  EXPECT_EQ(c.media.mode, media::MediaMode::Passthrough);
  EXPECT_EQ(c.media.retransmit, Millis(100));
  EXPECT_EQ(c.media.tries, 2);
  EXPECT_EQ(c.media.timeout, Millis(30'000));
  EXPECT_EQ(c.media.setupTimeout, Millis(0));
  EXPECT_FALSE(c.media.removeIce);
  for (const char* bad : {"\"127.0.0.1\"", "\"127.0.0.1:2222 weight=x\"",
                          "\"127.0.0.1:2222 weight=1001\"", "\"host:2222\""}) {
    auto r = parseConfig(std::string(kMinimal) + "[media]\nengines = [" + bad + "]\n", "t.toml");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("rtpengine ng address")) << bad;
  }
}

TEST(ConfigTest, AuthRegistrarAndTlsKeys) {
  Config c = parseOk(
      std::string(kMinimal) +
      "[auth]\ndigest_algorithms = [\"SHA-256\", \"MD5\"]\nretry_limits = false\n"
      "digest_uri_host_only = false\nmax_retry = 3\nsuspend_time = 60\nmax_suspend_time = 60\n"
      "[registrar]\nreplace = false\nmin_expires = 30\ndefault_expires = 30\n"
      "max_expires = 40\nkeepalive_interval = 0\n");
  EXPECT_EQ(c.auth.algorithms,
            (std::vector<auth::Algorithm>{auth::Algorithm::Sha256, auth::Algorithm::Md5}));
  EXPECT_FALSE(c.auth.limits.enabled);
  EXPECT_FALSE(c.auth.digestUriHostOnly);
  EXPECT_EQ(c.auth.limits.maxRetry, 3u);
  EXPECT_FALSE(c.registrar.replace);
  EXPECT_EQ(c.registrar.keepaliveInterval, 0s);

  ConfigError e = parseError(withLine("auth", "digest_algorithms = [\"MD5\", \"MD5\"]").text);
  EXPECT_EQ(e.key, "auth.digest_algorithms");
  e = parseError(withLine("auth", "suspend_time = 30").text);
  EXPECT_EQ(e.format(), "t.toml:6: auth.suspend_time: must be between 60 and 3600 (got 30)");
  e = parseError(withLine("auth", "suspend_time = 600\nmax_suspend_time = 300").text);
  EXPECT_EQ(e.key, "auth.max_suspend_time");
  e = parseError(withLine("registrar", "default_expires = 100\nmax_expires = 50").text);
  EXPECT_EQ(e.key, "registrar.max_expires");
  e = parseError(withLine("sip", "challenge = \"402\"").text);
  EXPECT_EQ(e.format(),
            "t.toml:3: sip.challenge: must be one of \"401\", \"407\", \"both\" (got \"402\")");
  e = parseError(withLine("sip", "tcp_close = \"rst\"").text);
  EXPECT_EQ(e.format(), "t.toml:3: sip.tcp_close: must be \"fin\" or \"reset\" (got \"rst\")");
  e = parseError(withLine("tls", "certificate = \"/nonexistent/cert.pem\"").text);
  EXPECT_EQ(e.key, "tls.certificate");
  EXPECT_THAT(e.message, HasSubstr("cannot read"));
  e = parseError(withLine("tls", "min_version = \"1.1\"").text);
  EXPECT_EQ(e.format(), "t.toml:6: tls.min_version: must be \"1.2\" or \"1.3\" (got \"1.1\")");
}

TEST(ConfigTest, ErrorFormatNamesFileLineAndKey) {
  auto d = withLine("sip", "unknown_source = \"reject\"");
  ConfigError e = parseError(d.text);
  EXPECT_EQ(e.format(),
            "t.toml:3: sip.unknown_source: must be \"drop\" or \"403\" (got \"reject\")");
  EXPECT_EQ(e.file, "t.toml");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.key, "sip.unknown_source");
}

TEST(ConfigTest, ErrorFormatWithoutLineOrKey) {
  EXPECT_EQ((ConfigError{"a.toml", 0, "", "cannot read"}).format(), "a.toml: cannot read");
  EXPECT_EQ((ConfigError{"a.toml", 2, "", "bad"}).format(), "a.toml:2: bad");
}

struct BadValue {
  std::string section;
  std::string kv;
  std::string key;      // dotted key expected in the error
  std::string message;  // expected (substring of the) message
};

void PrintTo(const BadValue& b, std::ostream* os) {
  *os << "[" << b.section << "] " << b.kv;
}

class ConfigRejects : public ::testing::TestWithParam<BadValue> {};

TEST_P(ConfigRejects, WithLineAndKey) {
  const BadValue& b = GetParam();
  auto d = withLine(b.section, b.kv);
  ConfigError e = parseError(d.text);
  EXPECT_EQ(e.line, d.line) << e.format();
  EXPECT_EQ(e.key, b.key) << e.format();
  EXPECT_THAT(e.message, HasSubstr(b.message)) << e.format();
  EXPECT_THAT(e.format(), StartsWith("t.toml:" + std::to_string(d.line) + ": " + b.key + ": "));
}

INSTANTIATE_TEST_SUITE_P(
    Ranges, ConfigRejects,
    ::testing::Values(
        BadValue{"sip", "t1_ms = 99", "sip.t1_ms", "must be between 100 and 5000 (got 99)"},
        BadValue{"sip", "t1_ms = 5001", "sip.t1_ms", "must be between 100 and 5000 (got 5001)"},
        BadValue{"sip", "t2_ms = 499", "sip.t2_ms", "must be at least sip.t1_ms (500) (got 499)"},
        BadValue{"sip", "t2_ms = 60001", "sip.t2_ms", "must be between 500 and 60000"},
        BadValue{"sip", "t4_ms = 999", "sip.t4_ms", "must be between 1000 and 60000"},
        BadValue{"sip", "t4_ms = 60001", "sip.t4_ms", "must be between 1000 and 60000"},
        BadValue{"sip", "ring_timeout = 0", "sip.ring_timeout", "must be between 1 and 3600"},
        BadValue{"sip", "ring_timeout = 3601", "sip.ring_timeout", "must be between 1 and 3600"},
        BadValue{"sip", "tcp_idle_timeout = 4", "sip.tcp_idle_timeout",
                 "must be between 5 and 86400"},
        BadValue{"sip", "tcp_idle_timeout = 86401", "sip.tcp_idle_timeout",
                 "must be between 5 and 86400"},
        BadValue{"sip", "tcp_max_connections = 0", "sip.tcp_max_connections",
                 "must be between 1 and 1000000"},
        BadValue{"sip", "tcp_max_connections = 1000001", "sip.tcp_max_connections",
                 "must be between 1 and 1000000"},
        BadValue{"sip", "tcp_max_connections_per_ip = 0", "sip.tcp_max_connections_per_ip",
                 "must be between 1 and 4096"},
        BadValue{"sip", "tcp_max_connections_per_ip = 4097", "sip.tcp_max_connections_per_ip",
                 "must be between 1 and 4096"},
        BadValue{"sip", "tcp_reserved_percent = -1", "sip.tcp_reserved_percent",
                 "must be between 0 and 90"},
        BadValue{"sip", "tcp_reserved_percent = 91", "sip.tcp_reserved_percent",
                 "must be between 0 and 90"},
        BadValue{"sip", "tcp_message_timeout = 0", "sip.tcp_message_timeout",
                 "must be between 1 and 300"},
        BadValue{"sip", "tcp_message_timeout = 301", "sip.tcp_message_timeout",
                 "must be between 1 and 300"},
        BadValue{"sip", "tls_handshake_timeout = 0", "sip.tls_handshake_timeout",
                 "must be between 1 and 60"},
        BadValue{"sip", "tls_handshake_timeout = 61", "sip.tls_handshake_timeout",
                 "must be between 1 and 60"},
        BadValue{"routing", "switch_limit = 0", "routing.switch_limit", "must be between 1 and 32"},
        BadValue{"routing", "switch_limit = 33", "routing.switch_limit",
                 "must be between 1 and 32"},
        BadValue{"routing", "setup_timeout = 0", "routing.setup_timeout",
                 "must be between 1 and 60"},
        BadValue{"routing", "setup_timeout = 61", "routing.setup_timeout",
                 "must be between 1 and 60"},
        BadValue{"routing", "no_route_code = 399", "routing.no_route_code",
                 "must be between 400 and 699"},
        BadValue{"routing", "no_route_code = 700", "routing.no_route_code",
                 "must be between 400 and 699"},
        BadValue{"store", "provisioning_poll_ms = 99", "store.provisioning_poll_ms",
                 "must be between 100 and 60000"},
        BadValue{"store", "provisioning_poll_ms = 60001", "store.provisioning_poll_ms",
                 "must be between 100 and 60000"},
        BadValue{"cdr", "illegal_rate = 0", "cdr.illegal_rate",
                 "must be greater than 0 and at most 100000 (got 0)"},
        BadValue{"cdr", "illegal_rate = -1.5", "cdr.illegal_rate", "must be greater than 0"},
        BadValue{"cdr", "illegal_rate = 100001", "cdr.illegal_rate", "at most 100000"},
        BadValue{"cdr", "illegal_rate = nan", "cdr.illegal_rate", "must be greater than 0"},
        BadValue{"cdr", "illegal_rate = inf", "cdr.illegal_rate", "must be greater than 0"},
        BadValue{"cdr", "illegal_burst = 0", "cdr.illegal_burst", "must be between 1 and 1000000"},
        BadValue{"cdr", "illegal_burst = 1000001", "cdr.illegal_burst",
                 "must be between 1 and 1000000"},
        BadValue{"node", "drain_timeout = -1", "node.drain_timeout", "must be between 0 and 3600"},
        BadValue{"node", "drain_timeout = 3601", "node.drain_timeout",
                 "must be between 0 and 3600"},
        BadValue{"shield", "recent_hits = 256", "shield.recent_hits",
                 "must be between 1 and 255 (got 256)"},
        BadValue{"shield", "prefix_v4 = 33", "shield.prefix_v4", "must be between 8 and 32"},
        BadValue{"shield", "burst = 0.5", "shield.burst", "must be at least 1"},
        BadValue{"shield", "ban_time = 0", "shield.ban_time", "must be between 1 and 2592000"},
        BadValue{"shield", "ban_max_time = 10", "shield.ban_max_time",
                 "must be at least shield.ban_time (600) (got 10)"},
        BadValue{"shield", "ban_escalation = 0.5", "shield.ban_escalation", "must be at least 1"},
        BadValue{"shield", "max_bans = 1", "shield.max_bans", "must be between 16 and"},
        BadValue{"shield", "trusted = [\"10.0.0.300\"]", "shield.trusted[0]",
                 "\"10.0.0.300\" is not an IP address or CIDR"},
        BadValue{"shield", "user_agents = [\"a\\\"b\"]", "shield.user_agents[0]",
                 "without quotes or backslashes"},
        BadValue{"shield", "drop_methods = [\"options\"]", "shield.drop_methods[0]",
                 "must be a SIP method in upper case"},
        BadValue{"shield", "drop_methods = [\"BYE\"]", "shield.drop_methods[0]",
                 "cannot be dropped by method"},
        BadValue{"firewall", "table = \"1x\"", "firewall.table", "not starting with a digit"},
        BadValue{"firewall", "rtp_port_min = 100", "firewall.rtp_port_min", "must both be 0"},
        BadValue{"firewall", "management_ports = [0]", "firewall.management_ports[0]",
                 "must be a port number 1..65535"},
        BadValue{"firewall", "management_allow = [\"x\"]", "firewall.management_allow[0]",
                 "is not an IP address or CIDR"}));

INSTANTIATE_TEST_SUITE_P(
    Enums, ConfigRejects,
    ::testing::Values(
        BadValue{"sip", "unknown_source = \"Drop\"", "sip.unknown_source",
                 "must be \"drop\" or \"403\" (got \"Drop\")"},
        BadValue{"sip", "unknown_source = 403", "sip.unknown_source",
                 "must be a string (got integer)"},
        BadValue{"log", "level = \"verbose\"", "log.level",
                 "must be one of \"debug\", \"info\", \"warn\", \"error\" (got \"verbose\")"},
        BadValue{"log", "format = \"text\"", "log.format",
                 "must be \"logfmt\" or \"json\" (got \"text\")"}));

INSTANTIATE_TEST_SUITE_P(
    Types, ConfigRejects,
    ::testing::Values(
        BadValue{"sip", "t1_ms = \"500\"", "sip.t1_ms", "must be an integer (got string)"},
        BadValue{"sip", "t1_ms = 500.0", "sip.t1_ms", "must be an integer (got float)"},
        BadValue{"sip", "domain = 5", "sip.domain", "must be a string (got integer)"},
        BadValue{"sip", "user_agent = [\"a\"]", "sip.user_agent", "must be a string (got array)"},
        BadValue{"routing", "stop_after_busy = \"yes\"", "routing.stop_after_busy",
                 "must be true or false (got string)"},
        BadValue{"routing", "stop_after_busy = 1", "routing.stop_after_busy",
                 "must be true or false (got integer)"},
        BadValue{"cdr", "illegal_calls = 1979-05-27", "cdr.illegal_calls",
                 "must be true or false (got date)"},
        BadValue{"cdr", "illegal_rate = \"20\"", "cdr.illegal_rate",
                 "must be a number (got string)"},
        BadValue{"store", "provisioning_poll_ms = { a = 1 }", "store.provisioning_poll_ms",
                 "must be an integer (got table)"},
        BadValue{"sip", "ring_timeout = true", "sip.ring_timeout",
                 "must be an integer (got boolean)"}));

INSTANTIATE_TEST_SUITE_P(
    Strings, ConfigRejects,
    ::testing::Values(
        BadValue{"sip", "domain = \"\"", "sip.domain", "must be a host name or IP address"},
        BadValue{"sip", "domain = \"bad domain\"", "sip.domain", "must be a host name or IP"},
        BadValue{"sip", "domain = \"a..b\"", "sip.domain", "must be a host name or IP"},
        BadValue{"sip", "domain = \"::1\"", "sip.domain", "must be a host name or IP"},
        BadValue{"sip", "user_agent = \"x\\r\\nVia: evil\"", "sip.user_agent",
                 "must not contain control characters"},
        BadValue{"sip", "user_agent = \"" + std::string(129, 'a') + "\"", "sip.user_agent",
                 "at most 128 bytes"},
        BadValue{"sip", "advertised_address = \"1.2.3.4:0\"", "sip.advertised_address",
                 "must be host or host:port"},
        BadValue{"sip", "advertised_address = \"1.2.3.4:70000\"", "sip.advertised_address",
                 "must be host or host:port"},
        BadValue{"sip", "advertised_address = \"[::1\"", "sip.advertised_address",
                 "must be host or host:port"},
        BadValue{"sip", "advertised_address = \"::1\"", "sip.advertised_address",
                 "must be host or host:port"},
        BadValue{"sip", "advertised_address = \"host:\"", "sip.advertised_address",
                 "must be host or host:port"},
        BadValue{"store", "path = \"\"", "store.path", "must not be empty"},
        BadValue{"store", "path = 7", "store.path", "must be a string (got integer)"},
        BadValue{"store", "url = \"sqlite:x\"", "store.url", "must be a postgresql:// URL"},
        BadValue{"store", "url = \"postgresql://u:pw@h/db\"", "store.url",
                 "must not contain a password: put it in store.password_file"},
        BadValue{"store", "backend = \"mysql\"", "store.backend", "sqlite"},
        BadValue{"store", "password_file = \"/nonexistent/pw\"", "store.password_file",
                 "cannot read /nonexistent/pw"},
        BadValue{"cdr", "retention_days = -1", "cdr.retention_days", "between 0 and 36500"}));

INSTANTIATE_TEST_SUITE_P(
    UnknownKeys, ConfigRejects,
    ::testing::Values(BadValue{"sip", "unknown_sorce = \"drop\"", "sip.unknown_sorce",
                               "unknown key (did you mean \"unknown_source\"?)"},
                      BadValue{"sip", "tls = { cert = \"x\" }", "sip.tls", "unknown table"},
                      BadValue{"routing", "switchlimit = 3", "routing.switchlimit",
                               "unknown key (did you mean \"switch_limit\"?)"},
                      BadValue{"store", "database = \"sqlite:x\"", "store.database", "unknown key"},
                      BadValue{"cdr", "illegal = true", "cdr.illegal", "unknown key"},
                      BadValue{"log", "levle = \"info\"", "log.levle",
                               "unknown key (did you mean \"level\"?)"},
                      BadValue{"node", "id = 1", "node.id", "unknown key"},
                      BadValue{"shield", "signature_mode = \"dry-run\"", "shield.signature_mode",
                               "must be \"enforce\" or \"count-only\" (got \"dry-run\")"}));

TEST(ConfigTest, UnknownKeyHasNoHintWhenNothingIsClose) {
  ConfigError e = parseError(withLine("sip", "completely_different = 1").text);
  EXPECT_EQ(e.message, "unknown key");
}

TEST(ConfigTest, UnknownTopLevelKeyAndTable) {
  ConfigError e = parseError(std::string("verbose = true\n") + std::string(kMinimal));
  EXPECT_EQ(e.format(), "t.toml:1: verbose: unknown key");
  e = parseError(std::string(kMinimal) + "\n[sipp]\nx = 1\n");
  EXPECT_EQ(e.format(), "t.toml:6: sipp: unknown table (did you mean \"sip\"?)");
  e = parseError(std::string(kMinimal) + "[sip.tls]\ncert = \"x\"\n");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.key, "sip.tls");
  EXPECT_EQ(e.message, "unknown table");
}

TEST(ConfigTest, GatewaysInTheSettingsFileGetAHint) {
  ConfigError e = parseError(std::string(kMinimal) + "[[mapping_gateway]]\nname = \"a\"\n");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.key, "mapping_gateway");
  EXPECT_THAT(e.message, HasSubstr("provisioning file"));
}

TEST(ConfigTest, SectionThatIsNotATable) {
  ConfigError e = parseError(std::string(kMinimal) + "log = \"debug\"\n");
  // A top-level key after [store] belongs to [store] in TOML.
  EXPECT_EQ(e.key, "store.log");
  e = parseError(std::string("log = \"debug\"\n") + std::string(kMinimal));
  EXPECT_EQ(e.format(), "t.toml:1: log: must be a table (got string)");
}

TEST(ConfigTest, MissingRequiredKeys) {
  // No [sip] table at all: line 1.
  ConfigError e = parseError("[store]\npath = \"x.db\"\n");
  EXPECT_EQ(e.format(), "t.toml:1: sip.listen: missing required key");
  // The table is there: its header line.
  e = parseError("[store]\npath = \"x.db\"\n\n[sip]\ndomain = \"a\"\n");
  EXPECT_EQ(e.format(), "t.toml:4: sip.listen: missing required key");
  e = parseError("[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\n[store]\nprovisioning_poll_ms = 500\n");
  EXPECT_EQ(e.format(), "t.toml:3: store.path: missing required key");
  e = parseError("[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\n");
  EXPECT_EQ(e.format(), "t.toml:1: store.path: missing required key");
  e = parseError("");
  EXPECT_EQ(e.line, 1);
}

TEST(ConfigTest, SyntaxErrorReportsTheLine) {
  ConfigError e = parseError("[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\n\nt1_ms = = 5\n");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.key, "");
  EXPECT_THAT(e.format(), StartsWith("t.toml:4: TOML syntax error: "));
  // A key given twice is a TOML error at the second one.
  e = parseError("[sip]\nt1_ms = 500\nt1_ms = 600\n");
  EXPECT_EQ(e.line, 3);
  // So is a table given twice.
  e = parseError(std::string(kMinimal) + "[sip]\n");
  EXPECT_EQ(e.line, 5);
}

TEST(ConfigTest, ReportsTheEarliestOfSeveralErrors) {
  ConfigError e = parseError(
      "[sip]\n"
      "listen = [\"udp:127.0.0.1:5060\"]\n"
      "t1_ms = 1\n"  // line 3
      "[store]\n"
      "path = \"x.db\"\n"
      "[log]\n"
      "level = \"loud\"\n");
  EXPECT_EQ(e.key, "sip.t1_ms");
  EXPECT_EQ(e.line, 3);
  e = parseError(
      "[log]\n"
      "level = \"loud\"\n"  // line 2
      "[sip]\n"
      "listen = [\"udp:127.0.0.1:5060\"]\n"
      "t1_ms = 1\n"
      "[store]\n"
      "path = \"x.db\"\n");
  EXPECT_EQ(e.key, "log.level");
  EXPECT_EQ(e.line, 2);
}

TEST(ConfigTest, ListenAcceptsIpv6AndTcp) {
  Config c = parseOk(
      "[sip]\nlisten = [\"udp:[::1]:5060\", \"tcp:[::1]:5060\", \"udp:127.0.0.1:5060\"]\n"
      "[store]\npath = \"x.db\"\n");
  ASSERT_EQ(c.sip.listen.size(), 3u);
  EXPECT_TRUE(c.sip.listen[0].address.ip().isV6());
  EXPECT_EQ(c.sip.listen[0].address.port(), 5060);
  EXPECT_EQ(c.sip.listen[0].protocol, transport::Protocol::Udp);
  EXPECT_EQ(c.sip.listen[1].protocol, transport::Protocol::Tcp);
  EXPECT_EQ(transport::toString(c.sip.listen[1]), "tcp:[::1]:5060");
  EXPECT_TRUE(c.sip.listen[2].address.ip().isV4());
}

TEST(ConfigTest, ListenPortZeroMayRepeat) {
  // Port 0 = a free port chosen by the kernel (tests): two such are different sockets.
  Config c = parseOk(
      "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"udp:127.0.0.1:0\"]\n[store]\npath = \"x.db\"\n");
  EXPECT_EQ(c.sip.listen.size(), 2u);
}

TEST(ConfigTest, ListenErrorsPointAtTheElement) {
  const std::string tail = "[store]\npath = \"x.db\"\n";
  ConfigError e = parseError(
      "[sip]\nlisten = [\n  \"udp:127.0.0.1:5060\",\n  \"udp:127.0.0.1:5060\",\n]\n" + tail);
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.key, "sip.listen[1]");
  EXPECT_THAT(e.message, HasSubstr("duplicate"));

  e = parseError("[sip]\nlisten = [\n  \"udp:127.0.0.1:5060\",\n  \"sctp:1.2.3.4:5060\",\n]\n" +
                 tail);
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.key, "sip.listen[1]");
  EXPECT_THAT(e.message, HasSubstr("must be protocol:address:port"));

  e = parseError("[sip]\nlisten = [\"udp:localhost:5060\"]\n" + tail);
  EXPECT_EQ(e.key, "sip.listen[0]");

  e = parseError("[sip]\nlisten = [\"udp:127.0.0.1:5060\", 5060]\n" + tail);
  EXPECT_EQ(e.key, "sip.listen[1]");
  EXPECT_EQ(e.message, "must be a string (got integer)");

  e = parseError("[sip]\nlisten = [\"tls:127.0.0.1:5061\"]\n" + tail);
  EXPECT_EQ(e.key, "sip.listen[0]");
  EXPECT_EQ(e.message, "a tls listener needs tls.certificate and tls.private_key");

  e = parseError("[sip]\nlisten = []\n" + tail);
  EXPECT_EQ(e.format(),
            "t.toml:2: sip.listen: must name at least one socket, e.g. [\"udp:127.0.0.1:5060\"]");

  e = parseError("[sip]\nlisten = \"udp:127.0.0.1:5060\"\n" + tail);
  EXPECT_EQ(e.format(), "t.toml:2: sip.listen: must be an array of strings (got string)");
}

TEST(ConfigTest, ListenHasABound) {
  std::string list;
  for (int i = 0; i < 65; ++i) list += "\"udp:127.0.0.1:" + std::to_string(6000 + i) + "\",";
  ConfigError e = parseError("[sip]\nlisten = [" + list + "]\n[store]\npath = \"x.db\"\n");
  EXPECT_EQ(e.key, "sip.listen");
  EXPECT_THAT(e.message, HasSubstr("at most 64"));
}

TEST(ConfigTest, AcceptsValidHostsAndAddresses) {
  for (const char* a : {"203.0.113.7", "203.0.113.7:5060", "[2001:db8::7]", "[2001:db8::7]:5062",
                        "sbc.example.com", "sbc.example.com:5080"}) {
    Config c = parseOk(withLine("sip", std::string("advertised_address = \"") + a + "\"").text);
    EXPECT_EQ(c.call.advertisedAddress, a);
  }
  for (const char* d : {"example.com", "127.0.0.1", "[::1]", "example.com."}) {
    Config c = parseOk(withLine("sip", std::string("domain = \"") + d + "\"").text);
    EXPECT_EQ(c.sip.domain, d);
  }
}

TEST(ConfigTest, EveryLogLevel) {
  const std::pair<const char*, log::Level> kLevels[] = {{"debug", log::Level::Debug},
                                                        {"info", log::Level::Info},
                                                        {"warn", log::Level::Warn},
                                                        {"error", log::Level::Error}};
  for (const auto& [name, level] : kLevels) {
    Config c = parseOk(withLine("log", std::string("level = \"") + name + "\"").text);
    EXPECT_EQ(c.log.level, level) << name;
  }
}

TEST(ConfigTest, LogTargetAndJournalSocket) {
  Config d = parseOk(kMinimal);
  EXPECT_EQ(d.log.target, LogTarget::Auto);
  EXPECT_EQ(d.log.journalSocket, "/run/systemd/journal/socket");
  Config c =
      parseOk(withLine("log", "target = \"journal\"\njournal_socket = \"/tmp/j.sock\"").text);
  EXPECT_EQ(c.log.target, LogTarget::Journal);
  EXPECT_EQ(c.log.journalSocket, "/tmp/j.sock");
  EXPECT_EQ(parseOk(withLine("log", "target = \"stderr\"").text).log.target, LogTarget::Stderr);
  ConfigError e = parseError(withLine("log", "target = \"syslog\"").text);
  EXPECT_EQ(e.key, "log.target");
  e = parseError(withLine("log", "journal_socket = \"\"").text);
  EXPECT_EQ(e.key, "log.journal_socket");
  e = parseError(withLine("log", "journal_socket = \"/" + std::string(200, 'x') + "\"").text);
  EXPECT_EQ(e.key, "log.journal_socket");
}

TEST(ConfigTest, HepKeys) {
  Config d = parseOk(kMinimal);
  EXPECT_FALSE(d.hep.enabled());
  EXPECT_EQ(d.hep.captureId, 1u);
  EXPECT_TRUE(d.hep.legA);
  EXPECT_TRUE(d.hep.legB);
  EXPECT_TRUE(d.hep.maskCredentials);
  EXPECT_EQ(d.hep.queueSize, 8192u);
  Config c = parseOk(withLine("hep",
                              "address = \"192.0.2.10\"\ncapture_id = 2001\npassword = \"pw\"\n"
                              "legs = [\"b\"]\nmask_credentials = false\nqueue_size = 100")
                         .text);
  EXPECT_TRUE(c.hep.enabled());
  EXPECT_EQ(c.hep.collector.toString(), "192.0.2.10:9060");  // Homer's port by default
  EXPECT_EQ(c.hep.captureId, 2001u);
  EXPECT_EQ(c.hep.password, "pw");
  EXPECT_FALSE(c.hep.legA);
  EXPECT_TRUE(c.hep.legB);
  EXPECT_FALSE(c.hep.maskCredentials);
  EXPECT_EQ(c.hep.queueSize, 100u);
  EXPECT_EQ(parseOk(withLine("hep", "address = \"[::1]:9061\"").text).hep.collector.toString(),
            "[::1]:9061");
  EXPECT_FALSE(parseOk(withLine("hep", "address = \"\"").text).hep.enabled());
  EXPECT_EQ(parseError(withLine("hep", "address = \"collector.example\"").text).key, "hep.address");
  EXPECT_EQ(parseError(withLine("hep", "address = \"1.2.3.4:0\"").text).key, "hep.address");
  EXPECT_EQ(parseError(withLine("hep", "capture_id = 4294967296").text).key, "hep.capture_id");
  EXPECT_EQ(parseError(withLine("hep", "capture_id = -1").text).key, "hep.capture_id");
  EXPECT_EQ(parseError(withLine("hep", "legs = []").text).key, "hep.legs");
  EXPECT_EQ(parseError(withLine("hep", "legs = [\"c\"]").text).key, "hep.legs[0]");
  EXPECT_EQ(parseError(withLine("hep", "queue_size = 1").text).key, "hep.queue_size");
  EXPECT_EQ(parseError(withLine("hep", "password = \"" + std::string(300, 'p') + "\"").text).key,
            "hep.password");
}

TEST(ConfigTest, T2MayEqualT1AndIsCheckedAgainstTheGivenT1) {
  Config c = parseOk(withLine("sip", "t1_ms = 1000\nt2_ms = 1000").text);
  EXPECT_EQ(c.timers.t2, 1000ms);
  ConfigError e = parseError(withLine("sip", "t1_ms = 1000\nt2_ms = 999").text);
  EXPECT_EQ(e.key, "sip.t2_ms");
  EXPECT_EQ(e.line, 4);
}

TEST(ConfigTest, PerIpLimitIsCheckedAgainstTheTotal) {
  Config c =
      parseOk(withLine("sip", "tcp_max_connections = 10\ntcp_max_connections_per_ip = 10").text);
  EXPECT_EQ(c.transport.tcpMaxConnectionsPerIp, 10u);
  ConfigError e =
      parseError(withLine("sip", "tcp_max_connections = 10\ntcp_max_connections_per_ip = 11").text);
  EXPECT_EQ(e.key, "sip.tcp_max_connections_per_ip");
  EXPECT_EQ(e.message, "must be between 1 and 10 (got 11)");
}

TEST(ConfigTest, InlineTablesAndDottedKeysWork) {
  Config c = parseOk(
      "sip = { listen = [\"udp:127.0.0.1:5070\"], t1_ms = 200 }\n"
      "store.path = \"y.db\"\n"
      "log.level = \"warn\"\n");
  EXPECT_EQ(c.sip.listen[0].address.port(), 5070);
  EXPECT_EQ(c.timers.t1, 200ms);
  EXPECT_EQ(c.store.path, "y.db");
  EXPECT_EQ(c.log.level, log::Level::Warn);
}

TEST(ConfigTest, LoadConfigReportsUnreadableFile) {
  auto r = loadConfig("/nonexistent/tollgate.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().line, 0);
  EXPECT_EQ(r.error().format(),
            "/nonexistent/tollgate.toml: cannot read: No such file or directory");
}

TEST(ConfigTest, LoadConfigNamesTheFileInErrors) {
  std::string path = ::testing::TempDir() + "config_test_bad.toml";
  {
    std::ofstream out(path);
    out << withLine("sip", "unknown_source = \"reject\"").text;
  }
  auto r = loadConfig(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().format(),
            path + ":3: sip.unknown_source: must be \"drop\" or \"403\" (got \"reject\")");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tollgate::app

namespace tollgate::app {
namespace {

TEST(ConfigApiTest, DefaultsAreLoopbackOnlyWithLockout) {
  Config c = parseOk(kMinimal);
  ASSERT_EQ(c.api.listen.size(), 1u);
  EXPECT_EQ(c.api.listen[0].toString(), "127.0.0.1:8080");
  ASSERT_EQ(c.api.allow.size(), 2u);
  EXPECT_EQ(c.api.allow[0].toString(), "127.0.0.0/8");
  EXPECT_EQ(c.api.allow[1].toString(), "::1/128");
  EXPECT_EQ(c.api.lockoutScope, LockoutScope::Source);
  EXPECT_EQ(c.api.lockoutAttempts, 5);
  EXPECT_EQ(c.api.lockoutDuration, Seconds(900));
  EXPECT_EQ(c.api.passwordMinLength, 12u);
  EXPECT_TRUE(c.api.metricsAuth);
  EXPECT_TRUE(c.api.console);
  EXPECT_TRUE(c.api.certificate.empty());
  EXPECT_EQ(c.api.limits.maxConnections, 256u);
  EXPECT_EQ(c.api.limits.maxConnectionsPerSource, 32u);
  EXPECT_EQ(c.api.limits.requestHeadTimeoutMs, 5000);
  EXPECT_EQ(c.api.limits.tlsHandshakeTimeoutMs, 5000);
}

TEST(ConfigApiTest, ReadsEveryKey) {
  Config c = parseOk(
      std::string(kMinimal) +
      "[api]\nlisten = [\"[::1]:9000\", \"127.0.0.1:0\"]\nallow = [\"10.0.0.0/8\"]\n"
      "certificate = \"c.pem\"\nprivate_key = \"k.pem\"\nlockout_scope = \"account\"\n"
      "lockout_attempts = 3\nlockout_window = 60\nlockout_duration = 30\n"
      "password_min_length = 16\nsession_lifetime = 3600\n"
      "session_idle_timeout = 600\nmetrics_auth = false\nconsole = false\nmax_connections = 64\n"
      "max_connections_per_source = 4\nrequest_head_timeout = 2\n"
      "tls_handshake_timeout = 3\n");
  EXPECT_EQ(c.api.listen[0].toString(), "[::1]:9000");
  EXPECT_EQ(c.api.listen[1].port(), 0);
  EXPECT_EQ(c.api.allow[0].toString(), "10.0.0.0/8");
  EXPECT_EQ(c.api.lockoutScope, LockoutScope::Account);
  EXPECT_EQ(c.api.lockoutAttempts, 3);
  EXPECT_EQ(c.api.lockoutWindow, Seconds(60));
  EXPECT_EQ(c.api.lockoutDuration, Seconds(30));
  EXPECT_EQ(c.api.passwordMinLength, 16u);
  EXPECT_EQ(c.api.sessionLifetime, Seconds(3600));
  EXPECT_EQ(c.api.sessionIdleTimeout, Seconds(600));
  EXPECT_FALSE(c.api.metricsAuth);
  EXPECT_FALSE(c.api.console);
  EXPECT_EQ(c.api.limits.maxConnections, 64u);
  EXPECT_EQ(c.api.limits.maxConnectionsPerSource, 4u);
  EXPECT_EQ(c.api.limits.requestHeadTimeoutMs, 2000);
  EXPECT_EQ(c.api.limits.tlsHandshakeTimeoutMs, 3000);
  EXPECT_TRUE(parseOk(std::string(kMinimal) + "[api]\nlisten = []\n").api.listen.empty());
}

TEST(ConfigApiTest, RefusesBadValuesNamingTheKey) {
  auto err = [](const std::string& api) {
    return parseError(std::string(kMinimal) + "[api]\n" + api + "\n").format();
  };
  EXPECT_THAT(err("listen = [\"localhost:8080\"]"),
              HasSubstr("api.listen[0]: must be address:port"));
  EXPECT_THAT(err("listen = [\"127.0.0.1:8080\", \"127.0.0.1:8080\"]"),
              HasSubstr("api.listen[1]: duplicate"));
  EXPECT_THAT(err("allow = [\"10.0.0.0/33\"]"), HasSubstr("api.allow[0]: must be an IP"));
  EXPECT_THAT(err("certificate = \"c.pem\""), HasSubstr("api.private_key"));
  EXPECT_THAT(err("lockout_scope = \"global\""), HasSubstr("api.lockout_scope: must be"));
  EXPECT_THAT(err("lockout_attempts = 0"), HasSubstr("api.lockout_attempts"));
  EXPECT_THAT(err("password_min_length = 6"), HasSubstr("api.password_min_length"));
  EXPECT_THAT(err("session_lifetime = 10"), HasSubstr("api.session_lifetime"));
  EXPECT_THAT(err("metrics_auth = \"no\""), HasSubstr("api.metrics_auth"));
  EXPECT_THAT(err("max_connections = 8"), HasSubstr("api.max_connections"));
  EXPECT_THAT(err("max_connections_per_source = 0"), HasSubstr("api.max_connections_per_source"));
  EXPECT_THAT(err("max_connections = 16\nmax_connections_per_source = 17"),
              HasSubstr("api.max_connections_per_source: must not exceed api.max_connections"));
  EXPECT_EQ(parseOk(std::string(kMinimal) + "[api]\nmax_connections = 16\n")
                .api.limits.maxConnectionsPerSource,
            16u);
  EXPECT_THAT(err("request_head_timeout = 0"), HasSubstr("api.request_head_timeout"));
  EXPECT_THAT(err("tls_handshake_timeout = 61"), HasSubstr("api.tls_handshake_timeout"));
  EXPECT_THAT(err("allow_all = true"), HasSubstr("api.allow_all: unknown key"));
}

// The settings the Debian package installs as /etc/tollgate/tollgate.toml
// (docs/operations.md): valid, loopback only until the operator decides,
// the store where the unit's ReadWritePaths allows writing.
TEST(ConfigTest, ParsesTheDebianProductionSettings) {
  auto loopback = [](const net::IpAddress& ip) {
    static const uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return ip.isV4() ? ip.bytes()[0] == 127 : std::memcmp(ip.bytes(), kV6Loopback, 16) == 0;
  };
  auto r = loadConfig(TOLLGATE_SOURCE_DIR "/debian/tollgate.toml");
  ASSERT_TRUE(r.ok()) << r.error().format();
  const Config& c = r.value();
  ASSERT_FALSE(c.sip.listen.empty());
  for (const auto& l : c.sip.listen) EXPECT_TRUE(loopback(l.address.ip())) << l.address.toString();
  ASSERT_FALSE(c.api.listen.empty());
  for (const auto& a : c.api.listen) EXPECT_TRUE(loopback(a.ip())) << a.toString();
  EXPECT_EQ(c.store.path, "/var/lib/tollgate/tollgate.db");
  EXPECT_EQ(c.call.unknownSource, parseOk(kMinimal).call.unknownSource);
  EXPECT_TRUE(c.shield.enabled);
}

}  // namespace
}  // namespace tollgate::app
