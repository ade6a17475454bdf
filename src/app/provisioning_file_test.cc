// Tests of provisioning files: structure, types, unknown keys, and the
// validator's findings mapped back to the line of the entry, key or element.
#include "app/provisioning_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace tollgate::app {
namespace {

using ::testing::HasSubstr;

admission::Provisioning parseOk(std::string_view text) {
  auto r = parseProvisioning(text, "p.toml");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().format());
  return r.ok() ? r.value() : admission::Provisioning{};
}

ConfigError parseError(std::string_view text) {
  auto r = parseProvisioning(text, "p.toml");
  EXPECT_FALSE(r.ok()) << "parsed although it should not:\n" << text;
  return r.ok() ? ConfigError{} : r.error();
}

constexpr std::string_view kCustomer =
    "[[mapping_gateway]]\n"          // 1
    "name = \"cust-a\"\n"            // 2
    "auth = \"ip\"\n"                // 3
    "addresses = [\"10.0.0.1\"]\n";  // 4

constexpr std::string_view kCarrier =
    "[[routing_gateway]]\n"           // 1
    "name = \"carrier-1\"\n"          // 2
    "address = \"127.0.0.1:5090\"\n"  // 3
    "prefixes = [\"\"]\n"             // 4
    "priority = 10\n";                // 5

TEST(ProvisioningFileTest, ParsesTheShippedDemo) {
  auto r = loadProvisioningFile(TOLLGATE_SOURCE_DIR "/examples/demo-provisioning.toml");
  ASSERT_TRUE(r.ok()) << r.error().format();
  const admission::Provisioning& p = r.value();
  ASSERT_EQ(p.mappingGateways.size(), 1u);
  const auto& m = p.mappingGateways[0];
  EXPECT_EQ(m.name, "demo-customer");
  EXPECT_EQ(m.auth, admission::AuthMode::Ip);
  EXPECT_EQ(m.addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_TRUE(m.enabled);

  ASSERT_EQ(p.routingGateways.size(), 2u);
  const auto& a = p.routingGateways[0];
  EXPECT_EQ(a.name, "demo-carrier-a");
  EXPECT_EQ(a.address, "127.0.0.1:5090");
  EXPECT_EQ(a.transport, "udp");
  EXPECT_EQ(a.prefixes, std::vector<std::string>{""});
  EXPECT_EQ(a.priority, 10);
  EXPECT_TRUE(a.enabled);
  const auto& b = p.routingGateways[1];
  EXPECT_EQ(b.name, "demo-carrier-b");
  EXPECT_EQ(b.address, "127.0.0.1:5092");
  EXPECT_EQ(b.prefixes, std::vector<std::string>{"44"});
  EXPECT_EQ(b.priority, 20);
  EXPECT_EQ(b.stripDigits, 0);
  EXPECT_EQ(b.addPrefix, "");
}

TEST(ProvisioningFileTest, ReferenceShowsEveryKey) {
  std::ifstream in(TOLLGATE_SOURCE_DIR "/docs/configuration.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  for (const char* k : {"name", "auth", "addresses", "enabled", "username", "password", "register",
                        "max_contacts", "challenge", "tls_names", "digest_algorithms"}) {
    EXPECT_THAT(doc, HasSubstr(std::string("`mapping_gateway.") + k + "`"));
  }
  for (const char* k :
       {"name", "address", "transport", "prefixes", "priority", "strip_digits", "add_prefix",
        "enabled", "auth_username", "auth_password", "register", "register_expires"}) {
    EXPECT_THAT(doc, HasSubstr(std::string("`routing_gateway.") + k + "`"));
  }
}

TEST(ProvisioningFileTest, OptionalKeysHaveTheirDefaults) {
  auto p = parseOk(std::string(kCustomer) + std::string(kCarrier));
  ASSERT_EQ(p.mappingGateways.size(), 1u);
  EXPECT_TRUE(p.mappingGateways[0].enabled);
  ASSERT_EQ(p.routingGateways.size(), 1u);
  const auto& g = p.routingGateways[0];
  EXPECT_EQ(g.transport, "udp");
  EXPECT_EQ(g.stripDigits, 0);
  EXPECT_EQ(g.addPrefix, "");
  EXPECT_TRUE(g.enabled);
}

TEST(ProvisioningFileTest, ReadsEveryKey) {
  auto p = parseOk(R"([[mapping_gateway]]
name = "cust-b"
auth = "ip_port"
addresses = ["10.0.0.1:5060", "[2001:db8::1]:5070"]
enabled = false
[[routing_gateway]]
name = "carrier-6"
address = "[::1]:5090"
transport = "tcp"
prefixes = ["44", "+1", "*9#"]
priority = 7
strip_digits = 2
add_prefix = "00"
enabled = false
)");
  const auto& m = p.mappingGateways.at(0);
  EXPECT_EQ(m.auth, admission::AuthMode::IpPort);
  EXPECT_EQ(m.addresses.size(), 2u);
  EXPECT_FALSE(m.enabled);
  const auto& g = p.routingGateways.at(0);
  EXPECT_EQ(g.address, "[::1]:5090");
  EXPECT_EQ(g.transport, "tcp");
  EXPECT_EQ(g.prefixes, (std::vector<std::string>{"44", "+1", "*9#"}));
  EXPECT_EQ(g.priority, 7);
  EXPECT_EQ(g.stripDigits, 2);
  EXPECT_EQ(g.addPrefix, "00");
  EXPECT_FALSE(g.enabled);
}

TEST(ProvisioningFileTest, EmptyFileAndEmptyListsAreNoGateways) {
  auto p = parseOk("");
  EXPECT_TRUE(p.mappingGateways.empty());
  EXPECT_TRUE(p.routingGateways.empty());
  p = parseOk("mapping_gateway = []\nrouting_gateway = []\n");
  EXPECT_TRUE(p.mappingGateways.empty());
}

TEST(ProvisioningFileTest, InlineTablesWork) {
  auto p = parseOk(
      "mapping_gateway = [ { name = \"c\", auth = \"ip\", addresses = [\"10.1.0.0/16\"] } ]\n");
  ASSERT_EQ(p.mappingGateways.size(), 1u);
  EXPECT_EQ(p.mappingGateways[0].addresses[0], "10.1.0.0/16");
}

TEST(ProvisioningFileTest, UnknownKeyInAnEntry) {
  ConfigError e = parseError(std::string(kCustomer) + "adresses = [\"10.0.0.2\"]\n");
  EXPECT_EQ(
      e.format(),
      "p.toml:5: mapping_gateway[cust-a].adresses: unknown key (did you mean \"addresses\"?)");
  e = parseError(std::string(kCarrier) + "weight = 3\n");
  EXPECT_EQ(e.format(), "p.toml:6: routing_gateway[carrier-1].weight: unknown key");
}

TEST(ProvisioningFileTest, UnknownTopLevelTable) {
  ConfigError e = parseError(std::string(kCustomer) + "\n[[routing_gateways]]\nname = \"x\"\n");
  EXPECT_EQ(e.format(),
            "p.toml:6: routing_gateways: unknown key (did you mean \"routing_gateway\"?)");
  e = parseError("[customer]\nname = \"x\"\n");
  EXPECT_EQ(e.format(), "p.toml:1: customer: unknown table");
  // [account] is a list like the gateways: one [table] gets the hint.
  e = parseError("[account]\nname = \"x\"\n");
  EXPECT_THAT(e.format(), HasSubstr("write each entry under a [[account]] header"));
}

TEST(ProvisioningFileTest, NodeSettingsInAProvisioningFileGetAHint) {
  ConfigError e = parseError(std::string(kCustomer) + "[sip]\nlisten = []\n");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.key, "sip");
  EXPECT_THAT(e.message, HasSubstr("examples/tollgate.toml"));
}

TEST(ProvisioningFileTest, ListThatIsNotAnArrayOfTables) {
  ConfigError e = parseError("[mapping_gateway]\nname = \"x\"\n");
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.key, "mapping_gateway");
  EXPECT_THAT(e.message, HasSubstr("[[mapping_gateway]]"));
  e = parseError("routing_gateway = [1, 2]\n");
  EXPECT_EQ(e.key, "routing_gateway");
}

TEST(ProvisioningFileTest, MissingRequiredKeysPointAtTheEntry) {
  ConfigError e = parseError(std::string(kCustomer) +
                             "\n[[mapping_gateway]]\nauth = \"ip\"\naddresses = [\"10.0.0.2\"]\n");
  EXPECT_EQ(e.format(), "p.toml:6: mapping_gateway[#2].name: missing required key");
  e = parseError(
      "[[routing_gateway]]\nname = \"c\"\naddress = \"127.0.0.1:5090\"\nprefixes = [\"\"]\n");
  EXPECT_EQ(e.format(), "p.toml:1: routing_gateway[c].priority: missing required key");
  e = parseError("[[mapping_gateway]]\nname = \"c\"\nauth = \"ip\"\n");
  EXPECT_EQ(e.format(), "p.toml:1: mapping_gateway[c].addresses: missing required key");
}

TEST(ProvisioningFileTest, WrongTypesPointAtTheKey) {
  ConfigError e = parseError(std::string(kCarrier) + "strip_digits = \"2\"\n");
  EXPECT_EQ(e.format(),
            "p.toml:6: routing_gateway[carrier-1].strip_digits: must be an integer (got string)");
  e = parseError(std::string(kCustomer) + "enabled = \"yes\"\n");
  EXPECT_EQ(e.format(),
            "p.toml:5: mapping_gateway[cust-a].enabled: must be true or false (got string)");
  e = parseError(
      "[[mapping_gateway]]\nname = \"c\"\nauth = \"ip\"\naddresses = [\"10.0.0.1\", 7]\n");
  EXPECT_EQ(e.format(),
            "p.toml:4: mapping_gateway[c].addresses[1]: must be a string (got integer)");
}

TEST(ProvisioningFileTest, PriorityOutsideIntIsRejected) {
  ConfigError e = parseError(
      "[[routing_gateway]]\nname = \"c\"\naddress = \"127.0.0.1:5090\"\nprefixes = [\"\"]\n"
      "priority = 99999999999\n");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.key, "routing_gateway[c].priority");
  EXPECT_THAT(e.message, HasSubstr("must be between"));
}

TEST(ProvisioningFileTest, EnumValues) {
  ConfigError e = parseError(
      "[[mapping_gateway]]\nname = \"c\"\nauth = \"digest\"\naddresses = [\"10.0.0.1\"]\n");
  EXPECT_EQ(e.format(),
            "p.toml:3: mapping_gateway[c].auth: must be one of \"ip\", \"ip_port\", \"password\", "
            "\"tls_cert\" (got \"digest\")");
  e = parseError(std::string(kCarrier) + "transport = \"sctp\"\n");
  EXPECT_EQ(
      e.format(),
      "p.toml:6: routing_gateway[carrier-1].transport: must be one of \"udp\", \"tcp\", \"tls\" "
      "(got \"sctp\")");
}

// --- The validator's findings, mapped back to lines --------------------------

TEST(ProvisioningFileTest, PasswordGatewayKeys) {
  auto p = parseOk(R"([[mapping_gateway]]
name = "phone-100"
auth = "password"
username = "100"
password = "s3cret pass"
register = true
max_contacts = 2
challenge = "both"
digest_algorithms = ["SHA-256", "MD5"]
[[mapping_gateway]]
name = "pbx"
auth = "password"
username = "pbx1"
password = "x"
addresses = ["198.51.100.0/24"]
[[mapping_gateway]]
name = "tls-cust"
auth = "tls_cert"
tls_names = ["gw1.customer.example"]
[[routing_gateway]]
name = "carrier"
address = "192.0.2.1"
transport = "tls"
prefixes = [""]
priority = 1
auth_username = "trunk7"
auth_password = "pw"
register = true
register_expires = 600
)");
  const auto& phone = p.mappingGateways.at(0);
  EXPECT_EQ(phone.auth, admission::AuthMode::Password);
  EXPECT_EQ(phone.username, "100");
  EXPECT_EQ(phone.password, "s3cret pass");
  EXPECT_TRUE(phone.registers);
  EXPECT_EQ(phone.maxContacts, 2);
  EXPECT_TRUE(phone.hasChallenge);
  EXPECT_EQ(phone.challenge, admission::ChallengeMode::Both);
  EXPECT_EQ(phone.digestAlgorithms,
            (std::vector<auth::Algorithm>{auth::Algorithm::Sha256, auth::Algorithm::Md5}));
  EXPECT_TRUE(phone.addresses.empty());
  EXPECT_EQ(p.mappingGateways.at(1).addresses, std::vector<std::string>{"198.51.100.0/24"});
  EXPECT_FALSE(p.mappingGateways.at(1).hasChallenge);
  EXPECT_EQ(p.mappingGateways.at(2).tlsNames, std::vector<std::string>{"gw1.customer.example"});
  const auto& c = p.routingGateways.at(0);
  EXPECT_EQ(c.transport, "tls");
  EXPECT_EQ(c.authUsername, "trunk7");
  EXPECT_EQ(c.authPassword, "pw");
  EXPECT_TRUE(c.registers);
  EXPECT_EQ(c.registerExpires, 600);
}

TEST(ProvisioningFileTest, HashPasswordsKeepsOnlyHa1) {
  auto p = parseOk(
      "[[mapping_gateway]]\nname = \"m\"\nauth = \"password\"\nusername = \"Mufasa\"\n"
      "password = \"Circle of Life\"\n");
  hashPasswords(p, "http-auth@example.org");
  const auto& g = p.mappingGateways.at(0);
  EXPECT_TRUE(g.password.empty());
  EXPECT_EQ(g.realm, "http-auth@example.org");
  // RFC 7616 §3.9.1: HA1 of Mufasa / http-auth@example.org / Circle of Life.
  EXPECT_EQ(g.ha1Md5, "3d78807defe7de2157e2b0b6573a855f");
  EXPECT_EQ(g.ha1Sha256.size(), 64u);
  EXPECT_TRUE(admission::validateProvisioning(p).empty()) << "HA1s are enough once hashed";
}

TEST(ProvisioningFileTest, PasswordGatewayFindings) {
  ConfigError e =
      parseError("[[mapping_gateway]]\nname = \"a\"\nauth = \"password\"\nusername = \"100\"\n");
  EXPECT_EQ(e.format(),
            "p.toml:1: mapping_gateway[a].password: a password is required for auth = "
            "\"password\"");
  e = parseError(
      "[[mapping_gateway]]\nname = \"a\"\nauth = \"password\"\nusername = \"100\"\n"
      "password = \"x\"\n[[mapping_gateway]]\nname = \"b\"\nauth = \"password\"\n"
      "username = \"100\"\npassword = \"y\"\n");
  EXPECT_EQ(e.format(),
            "p.toml:9: mapping_gateway[b].username: \"100\" is also the username of mapping "
            "gateway \"a\"");
  e = parseError(std::string(kCustomer) + "username = \"100\"\n");
  EXPECT_EQ(e.format(),
            "p.toml:5: mapping_gateway[cust-a].username: only applies to auth = \"password\"");
  e = parseError(
      "[[mapping_gateway]]\nname = \"a\"\nauth = \"password\"\nusername = \"100\"\n"
      "password = \"x\"\nchallenge = \"402\"\n");
  EXPECT_EQ(e.format(),
            "p.toml:6: mapping_gateway[a].challenge: must be one of \"401\", \"407\", \"both\" "
            "(got \"402\")");
  e = parseError(
      "[[mapping_gateway]]\nname = \"t\"\nauth = \"tls_cert\"\ntls_names = [\"bad name\"]\n");
  EXPECT_EQ(e.format(), "p.toml:4: mapping_gateway[t].tls_names: \"bad name\" is not a DNS name");
}

TEST(ProvisioningFileTest, BadAddressPointsAtItsArrayElement) {
  ConfigError e = parseError(
      "[[mapping_gateway]]\n"
      "name = \"cust-a\"\n"
      "auth = \"ip\"\n"
      "addresses = [\n"
      "  \"10.0.0.1\",\n"
      "  \"10.0.0.300\",\n"  // line 6
      "]\n");
  EXPECT_EQ(e.line, 6);
  EXPECT_EQ(e.key, "mapping_gateway[cust-a].addresses");
  EXPECT_THAT(e.message, HasSubstr("\"10.0.0.300\""));
  EXPECT_THAT(e.format(), ::testing::StartsWith("p.toml:6: mapping_gateway[cust-a].addresses: "));
}

TEST(ProvisioningFileTest, IpPortNeedsAPort) {
  ConfigError e = parseError(
      "[[mapping_gateway]]\nname = \"cust-a\"\nauth = \"ip_port\"\naddresses = [\"10.0.0.1\"]\n");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.key, "mapping_gateway[cust-a].addresses");
}

TEST(ProvisioningFileTest, EmptyAddressListPointsAtTheKey) {
  ConfigError e =
      parseError("[[mapping_gateway]]\nname = \"cust-a\"\nauth = \"ip\"\n\naddresses = []\n");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.key, "mapping_gateway[cust-a].addresses");
}

TEST(ProvisioningFileTest, DuplicateNamePointsAtTheSecondEntry) {
  ConfigError e = parseError(std::string(kCustomer) +
                             "[[mapping_gateway]]\n"
                             "auth = \"ip\"\n"
                             "name = \"cust-a\"\n"  // line 7
                             "addresses = [\"10.0.0.2\"]\n");
  EXPECT_EQ(e.line, 7);
  EXPECT_EQ(e.key, "mapping_gateway[cust-a].name");
  EXPECT_THAT(e.message, HasSubstr("duplicate"));
}

TEST(ProvisioningFileTest, AmbiguousSourcePointsAtTheLaterClaim) {
  ConfigError e = parseError(std::string(kCustomer) +
                             "[[mapping_gateway]]\n"
                             "name = \"cust-b\"\n"
                             "auth = \"ip\"\n"
                             "addresses = [\"10.9.0.0/16\",\n"
                             "  \"10.0.0.1/32\"]\n");  // line 9: same source as cust-a
  EXPECT_EQ(e.line, 9);
  EXPECT_EQ(e.key, "mapping_gateway[cust-b].addresses");
  EXPECT_THAT(e.message, HasSubstr("cust-a"));
}

TEST(ProvisioningFileTest, InvalidNameIsReported) {
  ConfigError e = parseError(
      "[[mapping_gateway]]\nauth = \"ip\"\nname = \"cust a\"\naddresses = [\"10.0.0.1\"]\n");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.key, "mapping_gateway[cust a].name");
}

TEST(ProvisioningFileTest, RoutingGatewayFindings) {
  const std::string head =
      "[[routing_gateway]]\n"    // 1
      "name = \"carrier-1\"\n";  // 2
  ConfigError e = parseError(
      head + "address = \"carrier.example.com:5060\"\nprefixes = [\"\"]\npriority = 1\n");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.key, "routing_gateway[carrier-1].address");

  e = parseError(
      head + "address = \"127.0.0.1:5090\"\nprefixes = [\n  \"44\",\n  \"4x\"\n]\npriority = 1\n");
  EXPECT_EQ(e.line, 6);
  EXPECT_EQ(e.key, "routing_gateway[carrier-1].prefixes");

  e = parseError(head + "address = \"127.0.0.1:5090\"\nprefixes = []\npriority = 1\n");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.key, "routing_gateway[carrier-1].prefixes");

  e = parseError(head + "address = \"127.0.0.1:5090\"\nprefixes = [\"\"]\npriority = -1\n");
  EXPECT_EQ(e.line, 5);
  EXPECT_EQ(e.key, "routing_gateway[carrier-1].priority");

  e = parseError(std::string(kCarrier) + "strip_digits = 33\n");
  EXPECT_EQ(e.line, 6);
  EXPECT_EQ(e.key, "routing_gateway[carrier-1].strip_digits");

  e = parseError(std::string(kCarrier) + "add_prefix = \"0x\"\n");
  EXPECT_EQ(e.line, 6);
  EXPECT_EQ(e.key, "routing_gateway[carrier-1].add_prefix");
}

TEST(ProvisioningFileTest, ReportsTheEarliestFinding) {
  ConfigError e = parseError(
      "[[routing_gateway]]\n"
      "name = \"r\"\n"
      "address = \"nope\"\n"  // line 3
      "prefixes = [\"x\"]\n"
      "priority = 1\n"
      "[[mapping_gateway]]\n"
      "name = \"m\"\n"
      "auth = \"ip\"\n"
      "addresses = [\"bad\"]\n");
  EXPECT_EQ(e.line, 3);
}

TEST(ProvisioningFileTest, SyntaxErrorReportsTheLine) {
  ConfigError e = parseError("[[mapping_gateway]]\nname = \"a\"\naddresses = [\"10.0.0.1\"\n");
  EXPECT_GE(e.line, 3);
  EXPECT_THAT(e.message, HasSubstr("TOML syntax error"));
  e = parseError("[[mapping_gateway]]\nname = cust-a\n");
  EXPECT_EQ(e.line, 2);
}

TEST(ProvisioningFileTest, LoadReportsUnreadableFile) {
  auto r = loadProvisioningFile("/nonexistent/p.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().format(), "/nonexistent/p.toml: cannot read: No such file or directory");
}

TEST(ProvisioningFileTest, LoadNamesTheFileInErrors) {
  std::string path = ::testing::TempDir() + "provisioning_file_test.toml";
  {
    std::ofstream out(path);
    out << kCustomer << "enabled = 1\n";
  }
  auto r = loadProvisioningFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().format(),
            path + ":5: mapping_gateway[cust-a].enabled: must be true or false (got integer)");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tollgate::app

// ---------------------------------------------------------------------------
// Call policy keys (issue 5)

namespace tollgate::app {
namespace {

constexpr std::string_view kPolicy =
    "[[account]]\n"                      // 1
    "name = \"acme\"\n"                  // 2
    "cps = 50\n"                         // 3
    "max_concurrent = 100\n"             // 4
    "callee_lists = [\"premium\"]\n"     // 5
    "dynamic_blacklist = true\n"         // 6
    "[[mapping_gateway]]\n"              // 7
    "name = \"pop1\"\n"                  // 8
    "auth = \"ip\"\n"                    // 9
    "addresses = [\"10.0.0.1\"]\n"       // 10
    "account = \"acme\"\n"               // 11
    "cps = 2.5\n"                        // 12
    "cps_burst = 5\n"                    // 13
    "max_concurrent = 30\n"              // 14
    "max_duration = 3600\n"              // 15
    "caller_lists = [\"clis\"]\n"        // 16
    "[[routing_gateway]]\n"              // 17
    "name = \"carrier\"\n"               // 18
    "address = \"127.0.0.1:5090\"\n"     // 19
    "prefixes = [\"\"]\n"                // 20
    "priority = 1\n"                     // 21
    "max_concurrent = 200\n"             // 22
    "options_check = false\n"            // 23
    "[[fraud_rule]]\n"                   // 24
    "name = \"night\"\n"                 // 25
    "account = \"acme\"\n"               // 26
    "prefixes = [\"1900\"]\n"            // 27
    "window = \"22:00-06:00\"\n"         // 28
    "calls_per_minute_warning = 5\n"     // 29
    "calls_per_minute_critical = 10\n"   // 30
    "minutes_per_day_critical = 120\n";  // 31

TEST(ProvisioningFileTest, PolicyKeys) {
  auto p = parseOk(kPolicy);
  ASSERT_EQ(p.accounts.size(), 1u);
  EXPECT_EQ(p.accounts[0].limits.cps, 50);
  EXPECT_EQ(p.accounts[0].limits.maxConcurrent, 100);
  EXPECT_EQ(p.accounts[0].lists.callee, std::vector<std::string>{"premium"});
  EXPECT_TRUE(p.accounts[0].dynamicBlacklist);
  const auto& g = p.mappingGateways[0].policy;
  EXPECT_EQ(g.account, "acme");
  EXPECT_EQ(g.limits.cps, 2.5);
  EXPECT_EQ(g.limits.cpsBurst, 5);
  EXPECT_EQ(g.limits.maxConcurrent, 30);
  EXPECT_EQ(g.maxDuration, 3600);
  EXPECT_EQ(g.lists.caller, std::vector<std::string>{"clis"});
  EXPECT_EQ(p.routingGateways[0].policy.limits.maxConcurrent, 200);
  EXPECT_FALSE(p.routingGateways[0].policy.optionsCheck);
  ASSERT_EQ(p.fraudRules.size(), 1u);
  EXPECT_EQ(p.fraudRules[0].window, "22:00-06:00");
  EXPECT_EQ(p.fraudRules[0].callsPerMinute.warning, 5);
  EXPECT_EQ(p.fraudRules[0].callsPerMinute.critical, 10);
  EXPECT_EQ(p.fraudRules[0].minutesPerDay.critical, 120);
}

TEST(ProvisioningFileTest, PolicyErrorsPointAtTheirLine) {
  std::string text(kPolicy);
  // A list that does not exist, with the lists known: the element's line.
  admission::KnownNames known;
  known.numberLists = {{"premium", admission::ListKind::Black}};
  auto r = parseProvisioning(text, "p.toml", &known);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().format(),
            "p.toml:16: mapping_gateway[pop1].caller_lists: \"clis\" is not a number list "
            "(create it with `tollgate list create`)");
  // Bounds are the validator's: the key's line.
  ConfigError e = parseError(std::string(kCustomer) + "max_concurrent = -1\n");
  EXPECT_EQ(e.format(), "p.toml:5: mapping_gateway[cust-a].max_concurrent: must be 0..1000000");
  e = parseError(std::string(kCustomer) + "account = \"ghost\"\n");
  EXPECT_EQ(e.format(), "p.toml:5: mapping_gateway[cust-a].account: \"ghost\" is not an account");
  e = parseError(
      "[[fraud_rule]]\nname = \"r\"\nprefixes = [\"1\"]\nwindow = \"7-8\"\n"
      "concurrent_critical = 1\n");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.key, "fraud_rule[r].window");
  e = parseError("[[fraud_rule]]\nname = \"r\"\nprefixes = [\"1\"]\n");
  EXPECT_EQ(e.line, 1);
  EXPECT_THAT(e.message, HasSubstr("sets no threshold"));
  e = parseError("[[account]]\nname = \"a\"\nmax_concurent = 3\n");
  EXPECT_EQ(e.format(),
            "p.toml:3: account[a].max_concurent: unknown key (did you mean \"max_concurrent\"?)");
  e = parseError(std::string(kCustomer) + "cps = \"fast\"\n");
  EXPECT_EQ(e.line, 5);
  EXPECT_THAT(e.message, HasSubstr("must be a number"));
}

}  // namespace
}  // namespace tollgate::app
