// Tests of the call policy part of the SQLite store on real files:
// the migration from a version-1 database, gateway policy / accounts /
// fraud rules through import and load, number lists, the dynamic blacklist
// and its change log, saved counters, and PolicySync's background thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "store/policy_store.h"
#include "store/policy_sync.h"
#include "store/sqlite_migrations.h"
#include "store/store.h"
#include "store/test_raw_sqlite.h"
#include "store/test_temp_dir.h"

namespace tollgate::store {
namespace {

using admission::Account;
using admission::BlacklistEntry;
using admission::BlacklistRule;
using admission::FraudRule;
using admission::ListKind;
using admission::MappingGateway;
using admission::NumberSide;
using admission::Provisioning;
using admission::RoutingGateway;

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Provisioning policyProvisioning() {
  Provisioning p;
  MappingGateway a;
  a.name = "cust-a";
  a.addresses = {"10.0.0.1"};
  a.policy.account = "acme";
  a.policy.limits = {12.5, 20, 30};
  a.policy.maxDuration = 3600;
  a.policy.lists.caller = {"clis"};
  a.policy.lists.callee = {"premium", "intl"};
  a.policy.dynamicBlacklist = true;
  MappingGateway plain;
  plain.name = "plain";
  plain.addresses = {"10.0.0.2"};
  p.mappingGateways = {a, plain};
  RoutingGateway r;
  r.name = "carrier";
  r.address = "127.0.0.1:5090";
  r.prefixes = {""};
  r.policy.limits = {0, 0, 200};
  r.policy.lists.callee = {"premium"};
  r.policy.optionsCheck = false;
  p.routingGateways = {r};
  Account acme;
  acme.name = "acme";
  acme.limits = {50, 0, 100};
  acme.maxDuration = 7200;
  acme.lists.callee = {"premium"};
  acme.dynamicBlacklist = true;
  p.accounts = {acme};
  FraudRule f;
  f.name = "premium-night";
  f.account = "acme";
  f.prefixes = {"", "1900"};
  f.window = "22:00-06:00";
  f.callsPerMinute = {5, 10};
  f.concurrent = {2, 4};
  f.sequentialSameNumber = {3, 6};
  f.minutesPerDay = {60, 120};
  p.fraudRules = {f};
  return p;
}

class PolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }
  std::string dbPath() const { return dir_.file("store.db"); }
  std::unique_ptr<Store> store() {
    auto r = openSqliteStore(dbPath());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : nullptr;
  }
  std::unique_ptr<PolicyStore> policy() {
    auto r = openSqlitePolicyStore(dbPath());
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r.value()) : nullptr;
  }
  TestTempDir dir_;
};

TEST_F(PolicyStoreTest, MigratesAVersion1DatabaseAndKeepsItsGateways) {
  // A database as version 1 left it: only the first migration, one gateway.
  rawExec(dbPath(), std::string(sqliteMigrations()[0].sql) +
                        "INSERT INTO mapping_gateway VALUES ('old', 'ip', 1, 1, 1);"
                        "INSERT INTO mapping_gateway_address VALUES ('old', 0, '10.9.9.9');"
                        "PRAGMA user_version=1;");
  auto st = store();
  ASSERT_NE(st, nullptr);
  EXPECT_EQ(rawInt(dbPath(), "PRAGMA user_version"), sqliteSchemaVersion());
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM sqlite_schema WHERE name='dynamic_blacklist'"),
            1);
  auto p = st->loadProvisioning();
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->mappingGateways.size(), 1u);
  EXPECT_EQ(p->mappingGateways[0].policy, admission::GatewayPolicy{});  // defaults
  // Reopening is a no-op.
  st.reset();
  st = store();
  EXPECT_EQ(rawInt(dbPath(), "PRAGMA user_version"), sqliteSchemaVersion());
}

TEST_F(PolicyStoreTest, PolicyRoundTripsThroughImportAndLoad) {
  auto st = store();
  ASSERT_NE(st, nullptr);
  Provisioning in = policyProvisioning();
  auto sum = st->importProvisioning(in, false);
  ASSERT_TRUE(sum.ok()) << sum.error().message;
  EXPECT_EQ(sum->added, 5u);  // 2 mapping, 1 routing, 1 account, 1 fraud rule
  auto out = st->loadProvisioning();
  ASSERT_TRUE(out.ok()) << out.error().message;
  // Mapping gateways come back sorted by name: cust-a, plain.
  EXPECT_EQ(out->mappingGateways[0].policy, in.mappingGateways[0].policy);
  EXPECT_EQ(out->mappingGateways[1].policy, in.mappingGateways[1].policy);
  EXPECT_EQ(out->routingGateways[0].policy, in.routingGateways[0].policy);
  EXPECT_EQ(out->accounts, in.accounts);
  EXPECT_EQ(out->fraudRules, in.fraudRules);

  auto again = st->importProvisioning(in, false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unchanged, 5u);
  EXPECT_EQ(again->updated + again->added, 0u);
  auto v = st->provisioningVersion();
  EXPECT_EQ(*v, 1u);
}

TEST_F(PolicyStoreTest, APolicyChangeIsAnUpdateOfItsEntry) {
  auto st = store();
  ASSERT_NE(st, nullptr);
  Provisioning in = policyProvisioning();
  ASSERT_TRUE(st->importProvisioning(in, false).ok());
  in.mappingGateways[1].policy.limits.cps = 3;
  in.routingGateways[0].policy.optionsCheck = true;
  in.accounts[0].limits.maxConcurrent = 99;
  in.fraudRules[0].window = "";
  auto sum = st->importProvisioning(in, false);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->updated, 4u);
  EXPECT_EQ(sum->unchanged, 1u);
  auto out = st->loadProvisioning();
  EXPECT_EQ(out->mappingGateways[1].policy.limits.cps, 3);
  EXPECT_TRUE(out->routingGateways[0].policy.optionsCheck);
  EXPECT_EQ(out->accounts[0].limits.maxConcurrent, 99);
  EXPECT_EQ(out->fraudRules[0].window, "");
  EXPECT_EQ(*st->provisioningVersion(), 2u);
}

TEST_F(PolicyStoreTest, PruneRemovesAccountsAndRulesAndCascadesGatewayPolicy) {
  auto st = store();
  ASSERT_NE(st, nullptr);
  ASSERT_TRUE(st->importProvisioning(policyProvisioning(), false).ok());
  Provisioning only;
  only.mappingGateways.push_back(policyProvisioning().mappingGateways[1]);  // "plain"
  auto sum = st->importProvisioning(only, true);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->removed, 4u);
  auto out = st->loadProvisioning();
  EXPECT_TRUE(out->accounts.empty());
  EXPECT_TRUE(out->fraudRules.empty());
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM mapping_gateway_policy WHERE gateway='cust-a'"),
            0);
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM routing_gateway_policy"), 0);
}

TEST_F(PolicyStoreTest, DuplicateAccountNamesWriteNothing) {
  auto st = store();
  ASSERT_NE(st, nullptr);
  Provisioning in = policyProvisioning();
  in.accounts.push_back(in.accounts[0]);
  auto r = st->importProvisioning(in, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("duplicate account"), std::string::npos);
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM mapping_gateway"), 0);
}

TEST_F(PolicyStoreTest, NumberListsBumpTheProvisioningVersion) {
  auto ps = policy();
  auto st = store();
  ASSERT_NE(ps, nullptr);
  ASSERT_TRUE(ps->createNumberList("premium", ListKind::Black, "premium-rate").ok());
  EXPECT_EQ(*st->provisioningVersion(), 1u);
  auto dup = ps->createNumberList("premium", ListKind::White, "");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("exists already"), std::string::npos);

  auto added = ps->addNumbers("premium", {"1900*", "44909*", "1900*"});
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 2u);
  EXPECT_EQ(*st->provisioningVersion(), 2u);
  auto removed = ps->removeNumbers("premium", {"44909*", "nope"});
  EXPECT_EQ(*removed, 1u);
  auto replaced = ps->replaceNumbers("premium", {"a", "b", "c"});
  EXPECT_EQ(*replaced, 3u);
  auto l = ps->numberList("premium");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->kind, ListKind::Black);
  EXPECT_EQ(l->description, "premium-rate");
  EXPECT_EQ(l->patterns, (std::vector<std::string>{"a", "b", "c"}));
  auto all = ps->numberLists();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].entries, 3u);

  auto missing = ps->addNumbers("ghost", {"1"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no number list named 'ghost'"), std::string::npos);
  EXPECT_EQ(*st->provisioningVersion(), 4u) << "a failed edit changes nothing";
}

TEST_F(PolicyStoreTest, AListInUseCannotBeDeleted) {
  auto ps = policy();
  auto st = store();
  for (const char* n : {"clis", "premium", "intl"}) {
    ASSERT_TRUE(ps->createNumberList(n, ListKind::Black, "").ok());
  }
  ASSERT_TRUE(st->importProvisioning(policyProvisioning(), false).ok());
  auto r = ps->deleteNumberList("premium");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("mapping gateway cust-a"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("account acme"), std::string::npos);
  EXPECT_NE(r.error().message.find("routing gateway carrier"), std::string::npos);
  // "intl" is used by cust-a only; a name that merely contains it is not.
  ASSERT_TRUE(ps->createNumberList("int", ListKind::Black, "").ok());
  EXPECT_TRUE(ps->deleteNumberList("int").ok());
  EXPECT_FALSE(ps->deleteNumberList("intl").ok());
  auto lists = ps->loadNumberLists();
  EXPECT_EQ(lists->size(), 3u);
}

TEST_F(PolicyStoreTest, OperatorBlacklistChangesAreLoggedNodeWritesAreNot) {
  auto ps = policy();
  ASSERT_NE(ps, nullptr);
  EXPECT_EQ(*ps->lastBlacklistChange(), 0);
  BlacklistEntry e;
  e.number = "1001";
  e.side = NumberSide::Caller;
  e.rule = BlacklistRule::MaliciousCaller;
  e.gateway = "gw";
  e.createdUs = e.lastHitUs = nowUs();
  e.expiresUs = nowUs() + 60'000'000;
  e.hits = 3;
  ASSERT_TRUE(ps->writeBlacklist({BlacklistWrite{false, e}}).ok());
  EXPECT_EQ(*ps->lastBlacklistChange(), 0);
  auto loaded = ps->loadBlacklist(nowUs());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0], e);

  BlacklistEntry manual = e;
  manual.number = "2002";
  manual.side = NumberSide::Callee;
  manual.rule = BlacklistRule::Manual;
  manual.gateway = "";
  manual.hits = 0;
  ASSERT_TRUE(ps->addBlacklistEntry(manual, /*cutCalls=*/true).ok());
  auto removed = ps->removeBlacklistEntries("1001", std::nullopt);
  EXPECT_EQ(*removed, 1u);
  auto cleared = ps->clearBlacklist();
  EXPECT_EQ(*cleared, 1u);

  auto changes = ps->blacklistChangesSince(0, 100);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 3u);
  EXPECT_EQ((*changes)[0].action, BlacklistChange::Action::Add);
  EXPECT_EQ((*changes)[0].entry.number, "2002");
  EXPECT_EQ((*changes)[0].entry.side, NumberSide::Callee);
  EXPECT_TRUE((*changes)[0].cutCalls);
  EXPECT_EQ((*changes)[1].action, BlacklistChange::Action::Remove);
  EXPECT_TRUE((*changes)[1].bothSides);
  EXPECT_EQ((*changes)[2].action, BlacklistChange::Action::Clear);
  auto since = ps->blacklistChangesSince((*changes)[1].id, 100);
  EXPECT_EQ(since->size(), 1u);
  EXPECT_EQ(*ps->lastBlacklistChange(), (*changes)[2].id);
}

TEST_F(PolicyStoreTest, ExpiredEntriesAreNotLoadedAndArePruned) {
  auto ps = policy();
  BlacklistEntry e;
  e.number = "old";
  e.expiresUs = nowUs() - 1;
  BlacklistEntry live = e;
  live.number = "live";
  live.expiresUs = nowUs() + 60'000'000;
  ASSERT_TRUE(ps->writeBlacklist({{false, e}, {false, live}}).ok());
  EXPECT_EQ(ps->loadBlacklist(nowUs())->size(), 1u);
  ASSERT_TRUE(ps->addBlacklistEntry(live, false).ok());
  ASSERT_TRUE(ps->addBlacklistEntry(live, false).ok());
  ASSERT_TRUE(ps->pruneBlacklist(nowUs(), nowUs() + 1).ok());
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM dynamic_blacklist"), 1);
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM blacklist_change"), 1);  // the newest stays
}

TEST_F(PolicyStoreTest, CountersRoundTrip) {
  auto ps = policy();
  std::string blob("\x01\x00\xff\x10", 4);
  ASSERT_TRUE(ps->saveCounters({{"a", blob}, {"b", "x"}}).ok());
  ASSERT_TRUE(ps->saveCounters({{"b", "y"}}).ok());
  auto a = ps->loadCounters("a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ(**a, blob);
  EXPECT_EQ(**ps->loadCounters("b"), "y");
  EXPECT_FALSE(ps->loadCounters("c")->has_value());
}

TEST_F(PolicyStoreTest, PolicySyncCoalescesWritesAndFollowsOperatorChanges) {
  { ASSERT_NE(policy(), nullptr); }
  std::mutex mu;
  std::vector<BlacklistChange> seen;
  std::atomic<int> batches{0};
  PolicySync sync([this] { return openSqlitePolicyStore(dbPath()); }, Millis(50), 0,
                  [&](std::vector<BlacklistChange>&& changes) {
                    std::lock_guard<std::mutex> lock(mu);
                    for (auto& c : changes) seen.push_back(std::move(c));
                    ++batches;
                  });
  BlacklistEntry e;
  e.number = "1001";
  e.expiresUs = nowUs() + 60'000'000;
  for (int i = 0; i < 1000; ++i) {
    e.hits = static_cast<uint64_t>(i);
    sync.saveEntry(e);
  }
  BlacklistEntry gone = e;
  gone.number = "2002";
  sync.saveEntry(gone);
  sync.eraseEntry("2002", NumberSide::Caller);  // the later erase wins
  sync.saveCounters("c", "blob");
  sync.flush();
  EXPECT_EQ(rawInt(dbPath(), "SELECT hits FROM dynamic_blacklist WHERE number='1001'"), 999);
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM dynamic_blacklist"), 1);
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM policy_counters"), 1);
  EXPECT_LT(sync.stats().entriesWritten, 1001u) << "writes of one number are coalesced";

  // Another process lists a number: the change arrives within a poll or two.
  auto other = policy();
  BlacklistEntry manual;
  manual.number = "3003";
  manual.expiresUs = nowUs() + 60'000'000;
  ASSERT_TRUE(other->addBlacklistEntry(manual, false).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!seen.empty()) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "change not seen";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].entry.number, "3003");
}

}  // namespace
}  // namespace tollgate::store
