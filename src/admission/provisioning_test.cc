// Validation of the call policy part of provisioning (issue 5): limits,
// accounts, number list references and fraud rules.
#include <gtest/gtest.h>

#include "admission/provisioning.h"

namespace tollgate::admission {
namespace {

std::vector<std::string> keys(const std::vector<ProvisioningError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.gateway + "." + e.key);
  return out;
}

MappingGateway gw(std::string name) {
  MappingGateway g;
  g.name = std::move(name);
  g.addresses = {"10.0.0.1"};
  return g;
}

TEST(PolicyValidation, LimitsOutOfRange) {
  Provisioning p;
  p.mappingGateways.push_back(gw("a"));
  p.mappingGateways[0].policy.limits.cps = -1;
  p.mappingGateways[0].policy.limits.cpsBurst = 100'001;
  p.mappingGateways[0].policy.limits.maxConcurrent = -5;
  p.mappingGateways[0].policy.maxDuration = 7 * 86'400 + 1;
  EXPECT_EQ(
      keys(validateProvisioning(p)),
      (std::vector<std::string>{"a.cps", "a.cps_burst", "a.max_concurrent", "a.max_duration"}));
}

TEST(PolicyValidation, SignallingKeys) {
  Provisioning p;
  p.mappingGateways.push_back(gw("a"));
  p.mappingGateways[0].policy.passHeaders = {"X-Account-Code", "User-to-User"};
  p.mappingGateways[0].policy.trustIdentity = true;
  p.mappingGateways[0].policy.assertedIdentity = "+442071234567";
  EXPECT_TRUE(validateProvisioning(p).empty());
  // Fields the B2BUA owns, identity fields and non-tokens are refused.
  for (const char* bad : {"Via", "Contact", "P-Asserted-Identity", "x y", "", "X-A:"}) {
    Provisioning q = p;
    q.mappingGateways[0].policy.passHeaders = {bad};
    EXPECT_EQ(keys(validateProvisioning(q)), (std::vector<std::string>{"a.pass_headers"})) << bad;
  }
  Provisioning twice = p;
  twice.mappingGateways[0].policy.passHeaders = {"X-A", "x-a"};
  EXPECT_EQ(keys(validateProvisioning(twice)), (std::vector<std::string>{"a.pass_headers"}));
  const std::string tooLong(33, '1');
  for (const std::string& bad :
       {std::string("abc"), std::string("+"), std::string("1-900"), tooLong}) {
    Provisioning q = p;
    q.mappingGateways[0].policy.assertedIdentity = bad;
    EXPECT_EQ(keys(validateProvisioning(q)), (std::vector<std::string>{"a.asserted_identity"}))
        << bad;
  }
  // A carrier asserts nobody's identity for us.
  RoutingGateway r;
  r.name = "c";
  r.address = "192.0.2.1:5060";
  r.prefixes = {""};
  r.policy.assertedIdentity = "4420";
  p.routingGateways.push_back(r);
  EXPECT_EQ(keys(validateProvisioning(p)), (std::vector<std::string>{"c.asserted_identity"}));
}

TEST(PolicyValidation, AccountReferences) {
  Provisioning p;
  p.mappingGateways.push_back(gw("a"));
  p.mappingGateways[0].policy.account = "acme";
  auto errors = validateProvisioning(p);
  ASSERT_EQ(keys(errors), (std::vector<std::string>{"a.account"}));
  EXPECT_EQ(errors[0].message, "\"acme\" is not an account");
  // Defined in the same file, or already in the store: fine.
  Provisioning q = p;
  q.accounts.push_back(Account{"acme", {}, 0, {}, false});
  EXPECT_TRUE(validateProvisioning(q).empty());
  KnownNames known;
  known.accounts = {"acme"};
  EXPECT_TRUE(validateProvisioning(p, &known).empty());
}

TEST(PolicyValidation, NumberListReferences) {
  Provisioning p;
  p.mappingGateways.push_back(gw("a"));
  p.mappingGateways[0].policy.lists.caller = {"vip", "vip"};
  p.mappingGateways[0].policy.lists.callee = {"staff", "nope", "bad name"};
  // Without the lists at hand only the syntax is checked.
  EXPECT_EQ(keys(validateProvisioning(p)),
            (std::vector<std::string>{"a.caller_lists", "a.callee_lists"}));
  KnownNames known;
  known.numberLists = {{"vip", ListKind::White}, {"staff", ListKind::SystemWhite}};
  auto errors = validateProvisioning(p, &known);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_NE(errors[0].message.find("listed twice"), std::string::npos);
  EXPECT_NE(errors[1].message.find("system white list"), std::string::npos);
  EXPECT_NE(errors[2].message.find("is not a number list"), std::string::npos);
  EXPECT_NE(errors[3].message.find("not a list name"), std::string::npos);
}

TEST(PolicyValidation, AccountsAndFraudRules) {
  Provisioning p;
  p.accounts.push_back(Account{"acme", {}, 0, {}, false});
  p.accounts.push_back(Account{"acme", {}, 0, {}, false});
  FraudRule ok;
  ok.name = "premium";
  ok.account = "acme";
  ok.prefixes = {"1900", ""};
  ok.window = "22:00-06:00";
  ok.callsPerMinute = {5, 10};
  p.fraudRules.push_back(ok);
  FraudRule bad;
  bad.name = "bad";
  bad.account = "ghost";
  bad.prefixes = {"19x", "1900", "1900"};
  bad.window = "25:00-06:00";
  bad.concurrent = {10, 5};
  p.fraudRules.push_back(bad);
  FraudRule empty;
  empty.name = "empty";
  empty.prefixes = {"1"};
  p.fraudRules.push_back(empty);
  auto errors = validateProvisioning(p);
  EXPECT_EQ(keys(errors),
            (std::vector<std::string>{"acme.name", "bad.account", "bad.prefixes", "bad.prefixes",
                                      "bad.window", "bad.concurrent_warning", "empty."}));
  for (const auto& e : errors) {
    if (e.gateway == "acme") {
      EXPECT_EQ(e.entry, ProvisioningError::Entry::Account);
    }
    if (e.gateway == "bad") {
      EXPECT_EQ(e.entry, ProvisioningError::Entry::FraudRule);
    }
  }
}

TEST(PolicyValidation, TimeWindows) {
  int a = 0, b = 0;
  ASSERT_TRUE(parseTimeWindow("22:00-06:30", &a, &b));
  EXPECT_EQ(a, 22 * 60);
  EXPECT_EQ(b, 6 * 60 + 30);
  EXPECT_TRUE(parseTimeWindow("00:00-23:59", &a, &b));
  EXPECT_FALSE(parseTimeWindow("08:00-08:00", &a, &b));
  EXPECT_FALSE(parseTimeWindow("8:00-09:00", &a, &b));
  EXPECT_FALSE(parseTimeWindow("24:00-09:00", &a, &b));
  EXPECT_FALSE(parseTimeWindow("08:60-09:00", &a, &b));
  EXPECT_FALSE(parseTimeWindow("08:00 09:00", &a, &b));
}

TEST(PolicyValidation, ListKindNames) {
  for (ListKind k : {ListKind::Black, ListKind::White, ListKind::SystemWhite}) {
    ListKind back;
    ASSERT_TRUE(parseListKind(listKindName(k), &back));
    EXPECT_EQ(back, k);
  }
  ListKind k;
  EXPECT_FALSE(parseListKind("grey", &k));
}

}  // namespace
}  // namespace tollgate::admission
