// Credential-identified gateways: lookup by username and certificate name,
// the address restriction, realm mismatches, and validation of the keys.
#include "admission/accounts.h"

#include <gtest/gtest.h>

namespace tollgate::admission {
namespace {

net::IpAddress ip(const char* s) {
  return *net::IpAddress::parse(s);
}

MappingGateway passwordGateway(std::string name, std::string user, std::string realm = "r.local") {
  MappingGateway g;
  g.name = std::move(name);
  g.auth = AuthMode::Password;
  g.username = std::move(user);
  g.realm = std::move(realm);
  g.ha1Md5 = std::string(32, 'a');
  g.ha1Sha256 = std::string(64, 'b');
  return g;
}

TEST(AccountTable, FindsPasswordGatewaysByUsername) {
  Provisioning p;
  p.mappingGateways.push_back(passwordGateway("phone-100", "100"));
  auto pbx = passwordGateway("pbx", "pbx-trunk");
  pbx.addresses = {"198.51.100.0/24"};
  pbx.hasChallenge = true;
  pbx.challenge = ChallengeMode::Www401;
  p.mappingGateways.push_back(pbx);
  auto off = passwordGateway("off", "off");
  off.enabled = false;
  p.mappingGateways.push_back(off);
  AccountTable t(p, "r.local");
  EXPECT_TRUE(t.hasPasswordGateways());
  EXPECT_EQ(t.size(), 2u);

  const auth::Account* a = t.findAccount("100");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->ha1Md5, std::string(32, 'a'));
  EXPECT_EQ(t.gatewayOf(*a).name, "phone-100");
  EXPECT_TRUE(t.permits(*a, ip("203.0.113.1"))) << "no restriction: anywhere";

  const auth::Account* b = t.findAccount("pbx-trunk");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(t.permits(*b, ip("198.51.100.77")));
  EXPECT_FALSE(t.permits(*b, ip("203.0.113.1")));
  ASSERT_NE(t.byUsername("pbx-trunk"), nullptr);
  EXPECT_TRUE(t.byUsername("pbx-trunk")->hasChallenge);
  EXPECT_EQ(t.byUsername("pbx-trunk")->challenge, ChallengeMode::Www401);

  EXPECT_EQ(t.findAccount("off"), nullptr) << "disabled gateways do not authenticate";
  EXPECT_EQ(t.findAccount("nobody"), nullptr);
}

TEST(AccountTable, RealmMismatchIsLeftOutAndNamed) {
  Provisioning p;
  p.mappingGateways.push_back(passwordGateway("old", "100", "old.domain"));
  p.mappingGateways.push_back(passwordGateway("new", "101", "r.local"));
  AccountTable t(p, "r.local");
  EXPECT_EQ(t.findAccount("100"), nullptr);
  EXPECT_NE(t.findAccount("101"), nullptr);
  EXPECT_EQ(t.realmMismatches(), std::vector<std::string>{"old"});
}

TEST(AccountTable, FindsCertificateGatewaysByName) {
  Provisioning p;
  MappingGateway g;
  g.name = "tls-cust";
  g.auth = AuthMode::TlsCert;
  g.tlsNames = {"gw1.customer.example", "gw2.customer.example"};
  g.addresses = {"127.0.0.0/8"};
  p.mappingGateways.push_back(g);
  AccountTable t(p, "r.local");
  EXPECT_FALSE(t.hasPasswordGateways());
  EXPECT_TRUE(t.hasCertificateGateways());
  const GatewayInfo* gi =
      t.byCertificate({"other.example", "gw2.customer.example"}, ip("127.0.0.1"));
  ASSERT_NE(gi, nullptr);
  EXPECT_EQ(gi->name, "tls-cust");
  EXPECT_EQ(t.byCertificate({"gw1.customer.example"}, ip("192.0.2.1")), nullptr);
  EXPECT_EQ(t.byCertificate({"evil.example"}, ip("127.0.0.1")), nullptr);
}

std::vector<std::string> keysOf(const std::vector<ProvisioningError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.key + ": " + e.message);
  return out;
}

TEST(ValidateProvisioning, PasswordGatewayRules) {
  Provisioning p;
  MappingGateway a;
  a.name = "a";
  a.auth = AuthMode::Password;
  a.username = "100";
  a.password = "secret";
  p.mappingGateways.push_back(a);
  EXPECT_TRUE(validateProvisioning(p).empty()) << "addresses are optional for password";

  MappingGateway b = a;
  b.name = "b";
  p.mappingGateways.push_back(b);
  auto errors = validateProvisioning(p);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].key, "username");
  EXPECT_EQ(errors[0].gateway, "b");

  p.mappingGateways.pop_back();
  MappingGateway c = a;
  c.name = "c";
  c.username = "bad user";
  c.password = "";
  c.maxContacts = 5;
  p.mappingGateways.push_back(c);
  errors = validateProvisioning(p);
  EXPECT_EQ(keysOf(errors),
            (std::vector<std::string>{
                "username: must be 1-64 of A-Z a-z 0-9 and - _ . ! ~ * ' ( ) & = + $ ,",
                "password: a password is required for auth = \"password\"",
                "max_contacts: only applies with register = true"}));
}

TEST(ValidateProvisioning, HashedPasswordFromTheStoreIsEnough) {
  Provisioning p;
  p.mappingGateways.push_back(passwordGateway("a", "100"));
  EXPECT_TRUE(validateProvisioning(p).empty());
  p.mappingGateways[0].ha1Sha256 = "short";
  EXPECT_EQ(validateProvisioning(p).size(), 1u);
}

TEST(ValidateProvisioning, ModeKeysOnlyWhereTheyApply) {
  Provisioning p;
  MappingGateway g;
  g.name = "ipgw";
  g.auth = AuthMode::Ip;
  g.addresses = {"10.0.0.1"};
  g.registers = true;
  p.mappingGateways.push_back(g);
  MappingGateway t;
  t.name = "tls";
  t.auth = AuthMode::TlsCert;
  p.mappingGateways.push_back(t);
  EXPECT_EQ(keysOf(validateProvisioning(p)),
            (std::vector<std::string>{
                "register: only applies to auth = \"password\"",
                "tls_names: at least one certificate name is required for auth = \"tls_cert\""}));
}

TEST(ValidateProvisioning, RoutingGatewayCredentials) {
  Provisioning p;
  RoutingGateway r;
  r.name = "c";
  r.address = "192.0.2.1";
  r.prefixes = {""};
  r.authUsername = "trunk";
  p.routingGateways.push_back(r);
  EXPECT_EQ(
      keysOf(validateProvisioning(p)),
      (std::vector<std::string>{"auth_password: auth_username and auth_password go together"}));
  p.routingGateways[0].authPassword = "pw";
  p.routingGateways[0].registers = true;
  p.routingGateways[0].transport = "tls";
  EXPECT_TRUE(validateProvisioning(p).empty());
  p.routingGateways[0].registerExpires = 10;
  EXPECT_EQ(validateProvisioning(p).size(), 1u);
}

}  // namespace
}  // namespace tollgate::admission
