// Prometheus text: structure of every line, HELP/TYPE once per family,
// escaping, histogram buckets.
#include "mgmt/metrics.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>

namespace tollgate::mgmt {
namespace {

TEST(MetricsTest, EscapesLabelValues) {
  EXPECT_EQ(escapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsTest, EveryLineIsWellFormed) {
  NodeStats s;
  s.activeCalls = 2;
  s.calls.byReason[0] = 7;
  s.gateways.mapping["cust \"a\""].attempts = 3;
  s.gateways.routing["carrier-b"].failed = 1;
  LatencyHistogram h;
  h.record(std::chrono::microseconds(300));
  h.record(std::chrono::seconds(3));
  s.cdrWriteLatency = h.snapshot();
  s.transport.tcpRefused[static_cast<size_t>(transport::ConnectionRefusal::Reserved)] = 5;
  s.transport.tcpClosedMessageTimeout = 6;
  ApiCounters api;
  api.loginFailed = 4;
  MetricsInput in{&s, &api, 1, 0};
  const std::string text = renderMetrics(in);

  const std::regex sample(
      R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? (-?[0-9.e+]+|\+Inf|NaN)$)");
  std::set<std::string> help, type;
  std::istringstream lines(text);
  std::string line;
  size_t samples = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      EXPECT_TRUE(help.insert(line.substr(7, line.find(' ', 7) - 7)).second) << line;
    } else if (line.rfind("# TYPE ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(type.insert(name).second) << line;
      if (line.find(" counter") != std::string::npos) {
        EXPECT_EQ(name.substr(name.size() - 6), "_total") << name;
      }
    } else {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
      ++samples;
    }
  }
  EXPECT_EQ(help, type);
  EXPECT_GT(samples, 50u);
  EXPECT_NE(text.find("tollgate_calls_active 2\n"), std::string::npos);
  EXPECT_NE(text.find("tollgate_calls_ended_total{reason=\"caller_bye\"} 7\n"), std::string::npos);
  EXPECT_NE(
      text.find(
          "tollgate_gateway_call_attempts_total{kind=\"mapping\",gateway=\"cust \\\"a\\\"\"} 3\n"),
      std::string::npos);
  EXPECT_NE(text.find("tollgate_api_auth_failures_total{reason=\"bad_credentials\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("tollgate_tcp_connections_refused_total{reason=\"reserved\"} 5\n"),
            std::string::npos);
  EXPECT_NE(text.find("tollgate_tcp_connections_refused_total{reason=\"untrusted_prefix\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("tollgate_tcp_connections_closed_total{reason=\"message_timeout\"} 6\n"),
            std::string::npos);
  EXPECT_NE(text.find("tollgate_store_operation_duration_seconds_bucket{operation=\"cdr_write\","
                      "le=\"0.0005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("tollgate_store_operation_duration_seconds_bucket{operation=\"cdr_write\","
                      "le=\"+Inf\"} 2\n"),
            std::string::npos);
}

TEST(MetricsTest, WorkerSilentStillRenders) {
  ApiCounters api;
  MetricsInput in{nullptr, &api, 0, 0};
  const std::string text = renderMetrics(in);
  EXPECT_NE(text.find("tollgate_up 0\n"), std::string::npos);
  EXPECT_EQ(text.find("tollgate_calls_active"), std::string::npos);
}

}  // namespace
}  // namespace tollgate::mgmt
