// The digest-authentication parts of the store on real files: gateway
// credentials (HA1 only, never the password) and their import semantics, a
// version-1 file migrated to version 2, registrations and suspensions
// (save, list, clear by an operator, take the cleared ones), two processes'
// worth of connections on one file.
#include <gtest/gtest.h>

#include <string>

#include "store/registration_store.h"
#include "store/sqlite_migrations.h"
#include "store/store.h"
#include "store/suspension_store.h"
#include "store/test_raw_sqlite.h"
#include "store/test_temp_dir.h"

namespace tollgate::store {
namespace {

using admission::AuthMode;
using admission::MappingGateway;
using admission::Provisioning;
using admission::RoutingGateway;

Provisioning credentialed() {
  Provisioning p;
  MappingGateway phone;
  phone.name = "phone-100";
  phone.auth = AuthMode::Password;
  phone.username = "100";
  phone.realm = "tollgate.local";
  phone.ha1Md5 = std::string(32, 'a');
  phone.ha1Sha256 = std::string(64, 'b');
  phone.registers = true;
  phone.maxContacts = 3;
  phone.hasChallenge = true;
  phone.challenge = admission::ChallengeMode::Both;
  phone.digestAlgorithms = {auth::Algorithm::Md5};
  phone.addresses = {"198.51.100.0/24"};
  p.mappingGateways.push_back(phone);
  MappingGateway tls;
  tls.name = "tls-cust";
  tls.auth = AuthMode::TlsCert;
  tls.tlsNames = {"gw1.example", "gw2.example"};
  p.mappingGateways.push_back(tls);
  RoutingGateway c;
  c.name = "carrier";
  c.address = "192.0.2.1:5061";
  c.transport = "tls";
  c.prefixes = {""};
  c.authUsername = "trunk";
  c.authPassword = "pw";
  c.registers = true;
  c.registerExpires = 600;
  p.routingGateways.push_back(c);
  return p;
}

class SqliteAuthStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }
  std::string path() const { return dir_.file("store.db"); }
  TestTempDir dir_;
};

TEST_F(SqliteAuthStoreTest, GatewayCredentialsRoundTripAndImportIsIdempotent) {
  auto st = openSqliteStore(path());
  ASSERT_TRUE(st.ok());
  Provisioning p = credentialed();
  auto r = (*st)->importProvisioning(p, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->added, 3u);
  auto loaded = (*st)->loadProvisioning();
  ASSERT_TRUE(loaded.ok());
  const MappingGateway& phone = loaded->mappingGateways.at(0);
  EXPECT_EQ(phone.username, "100");
  EXPECT_EQ(phone.realm, "tollgate.local");
  EXPECT_EQ(phone.ha1Md5, std::string(32, 'a'));
  EXPECT_EQ(phone.ha1Sha256, std::string(64, 'b'));
  EXPECT_TRUE(phone.password.empty());
  EXPECT_TRUE(phone.registers);
  EXPECT_EQ(phone.maxContacts, 3);
  EXPECT_TRUE(phone.hasChallenge);
  EXPECT_EQ(phone.challenge, admission::ChallengeMode::Both);
  EXPECT_EQ(phone.digestAlgorithms, std::vector<auth::Algorithm>{auth::Algorithm::Md5});
  const MappingGateway& tls = loaded->mappingGateways.at(1);
  EXPECT_EQ(tls.auth, AuthMode::TlsCert);
  EXPECT_EQ(tls.tlsNames, (std::vector<std::string>{"gw1.example", "gw2.example"}));
  EXPECT_FALSE(tls.hasChallenge);
  const RoutingGateway& c = loaded->routingGateways.at(0);
  EXPECT_EQ(c.transport, "tls");
  EXPECT_EQ(c.authUsername, "trunk");
  EXPECT_EQ(c.authPassword, "pw");
  EXPECT_TRUE(c.registers);
  EXPECT_EQ(c.registerExpires, 600);

  auto again = (*st)->importProvisioning(p, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unchanged, 3u);
  // A new HA1 (password or domain changed) is an update.
  p.mappingGateways[0].ha1Md5 = std::string(32, 'c');
  auto changed = (*st)->importProvisioning(p, false);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->updated, 1u);
}

TEST_F(SqliteAuthStoreTest, StoreNeverHoldsAClearPassword) {
  auto st = openSqliteStore(path());
  ASSERT_TRUE(st.ok());
  Provisioning p = credentialed();
  p.mappingGateways[0].password = "hunter2-very-secret";  // the importer drops it; even if not
  ASSERT_TRUE((*st)->importProvisioning(p, false).ok());
  EXPECT_EQ(rawInt(path(),
                   "SELECT count(*) FROM mapping_gateway WHERE username || realm || "
                   "ha1_md5 || ha1_sha256 || tls_names LIKE '%hunter2%'"),
            0);
  EXPECT_EQ(rawInt(path(),
                   "SELECT count(*) FROM pragma_table_info('mapping_gateway') "
                   "WHERE name LIKE '%password%'"),
            0);
}

TEST_F(SqliteAuthStoreTest, MigratesAVersion1File) {
  // A file as version 1 left it, with one gateway.
  rawExec(path(), sqliteMigrations()[0].sql);
  rawExec(path(),
          "INSERT INTO mapping_gateway VALUES ('old', 'ip', 1, 1, 1);"
          "INSERT INTO mapping_gateway_address VALUES ('old', 0, '10.0.0.1');"
          "PRAGMA user_version=1;");
  auto st = openSqliteStore(path());
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(rawInt(path(), "PRAGMA user_version"), sqliteSchemaVersion());
  auto loaded = (*st)->loadProvisioning();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->mappingGateways.size(), 1u);
  const MappingGateway& g = loaded->mappingGateways[0];
  EXPECT_EQ(g.username, "");
  EXPECT_FALSE(g.registers);
  EXPECT_EQ(g.maxContacts, 1);
  EXPECT_FALSE(g.hasChallenge);
  EXPECT_EQ(rawInt(path(), "SELECT value FROM meta WHERE key = 'auth_version'"), 0);
}

registrar::Binding binding(std::string user, std::string contact, int64_t expiresUs) {
  registrar::Binding b;
  b.username = std::move(user);
  b.contact = std::move(contact);
  b.gateway = "phone-" + b.username;
  b.protocol = transport::Protocol::Tcp;
  b.source = *net::SockAddr::parse("198.51.100.7:40312");
  b.local = *net::SockAddr::parse("127.0.0.1:5060");
  b.callId = "reg-1";
  b.cseq = 42;
  b.userAgent = "baresip";
  b.registeredUs = 1'000;
  b.expiresUs = expiresUs;
  b.online = false;
  b.stateUs = 2'000;
  b.connection = 77;  // runtime only
  return b;
}

TEST_F(SqliteAuthStoreTest, RegistrationsRoundTrip) {
  auto st = openSqliteRegistrationStore(path());
  ASSERT_TRUE(st.ok()) << st.error().message;
  RegistrationStore& rs = **st;
  ASSERT_TRUE(rs.saveBinding(binding("100", "sip:100@10.0.0.5:5060", 5'000'000)).ok());
  ASSERT_TRUE(rs.saveBinding(binding("100", "sip:100@10.0.0.6:5060", 100)).ok());
  ASSERT_TRUE(rs.saveBinding(binding("101", "sip:101@10.0.0.7", 5'000'000)).ok());
  // Replacing by key keeps one row.
  auto refreshed = binding("101", "sip:101@10.0.0.7", 6'000'000);
  refreshed.cseq = 43;
  refreshed.online = true;
  refreshed.node = "node-b";  // re-registered through another node: it owns it now
  ASSERT_TRUE(rs.saveBinding(refreshed).ok());

  auto all = rs.listBindings();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  const registrar::Binding& b = all->at(2);
  EXPECT_EQ(b.username, "101");
  EXPECT_EQ(b.cseq, 43u);
  EXPECT_TRUE(b.online);
  EXPECT_EQ(b.expiresUs, 6'000'000);
  EXPECT_EQ(b.protocol, transport::Protocol::Tcp);
  EXPECT_EQ(b.source.toString(), "198.51.100.7:40312");
  EXPECT_EQ(b.local.toString(), "127.0.0.1:5060");
  EXPECT_EQ(b.userAgent, "baresip");
  EXPECT_EQ(b.gateway, "phone-101");
  EXPECT_EQ(b.node, "node-b");
  EXPECT_EQ(all->at(0).node, "") << "no owner given";
  EXPECT_EQ(b.connection, 0u) << "connection ids do not outlive the process";

  auto purged = rs.purgeExpiredBindings(1'000'000);
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 1u);
  ASSERT_TRUE(rs.removeBinding("100", "sip:100@10.0.0.5:5060").ok());
  all = rs.listBindings();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->at(0).username, "101");
}

auth::Suspension suspension(auth::SuspensionKind kind, std::string user, const char* ip,
                            int64_t until) {
  auth::Suspension s;
  s.kind = kind;
  s.username = std::move(user);
  s.source = *net::IpAddress::parse(ip);
  s.sinceUs = until - 180'000'000;
  s.untilUs = until;
  s.offenses = 2;
  s.failures = 6;
  return s;
}

TEST_F(SqliteAuthStoreTest, SuspensionsListClearAndTake) {
  auto opened = openSqliteSuspensionStore(path());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  SuspensionStore& ss = **opened;
  const int64_t now = 1'000'000'000;
  using K = auth::SuspensionKind;
  ASSERT_TRUE(ss.saveSuspension(suspension(K::Pair, "100", "203.0.113.9", now + 100)).ok());
  ASSERT_TRUE(ss.saveSuspension(suspension(K::Pair, "101", "203.0.113.9", now + 200)).ok());
  ASSERT_TRUE(ss.saveSuspension(suspension(K::Source, "", "203.0.113.10", now + 300)).ok());
  ASSERT_TRUE(ss.saveSuspension(suspension(K::Pair, "100", "198.51.100.1", now - 5)).ok());

  auto active = ss.listSuspensions(now);
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 3u);
  EXPECT_EQ(active->at(0).kind, K::Source);  // latest until first
  EXPECT_EQ(active->at(0).source.toString(), "203.0.113.10");
  EXPECT_EQ(active->at(2).username, "100");
  EXPECT_EQ(active->at(2).offenses, 2u);
  EXPECT_EQ(active->at(2).failures, 6u);
  auto withExpired = ss.listSuspensions(now - 10);
  ASSERT_TRUE(withExpired.ok());
  EXPECT_EQ(withExpired->size(), 4u);

  auto v0 = ss.authVersion();
  ASSERT_TRUE(v0.ok());
  SuspensionFilter one;
  one.source = *net::IpAddress::parse("203.0.113.9");
  one.username = "101";
  auto n = ss.clearSuspensions(one, now);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  auto v1 = ss.authVersion();
  ASSERT_TRUE(v1.ok());
  EXPECT_GT(*v1, *v0);
  active = ss.listSuspensions(now);
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->size(), 2u) << "a cleared row is no longer listed";

  auto none = ss.clearSuspensions(one, now);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
  EXPECT_EQ(*ss.authVersion(), *v1) << "nothing cleared: the version stays";

  auto taken = ss.takeCleared();
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->at(0).username, "101");
  EXPECT_EQ(taken->at(0).untilUs, now + 200);
  EXPECT_TRUE(ss.takeCleared()->empty());

  SuspensionFilter all;
  all.all = true;
  EXPECT_EQ(*ss.clearSuspensions(all, now), 2u);
  EXPECT_TRUE(ss.listSuspensions(now)->empty());
  EXPECT_EQ(*ss.purgeSuspensions(now), 1u) << "the expired row";
}

TEST_F(SqliteAuthStoreTest, ClearBySourceCoversEveryKindAndIpv6Slash64) {
  auto opened = openSqliteSuspensionStore(path());
  ASSERT_TRUE(opened.ok());
  SuspensionStore& ss = **opened;
  const int64_t now = 1'000'000'000;
  using K = auth::SuspensionKind;
  ASSERT_TRUE(ss.saveSuspension(suspension(K::Pair, "100", "2001:db8:1:2::", now + 100)).ok());
  ASSERT_TRUE(ss.saveSuspension(suspension(K::Source, "", "2001:db8:1:2::", now + 100)).ok());
  SuspensionFilter f;
  f.source = *net::IpAddress::parse("2001:db8:1:2::99");
  EXPECT_EQ(*ss.clearSuspensions(f, now), 2u);
}

TEST_F(SqliteAuthStoreTest, SideStoresRefuseInMemory) {
  EXPECT_FALSE(openSqliteRegistrationStore(":memory:").ok());
  EXPECT_FALSE(openSqliteSuspensionStore(":memory:").ok());
}

}  // namespace
}  // namespace tollgate::store
