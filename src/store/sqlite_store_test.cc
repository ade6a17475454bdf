// Tests of the SQLite store on real files in a temporary directory: schema
// creation and migration, provisioning import semantics, CDR round trips and
// queries, and two connections sharing one file.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_migrations.h"
#include "store/store.h"
#include "store/test_raw_sqlite.h"
#include "store/test_temp_dir.h"

namespace tollgate::store {
namespace {

using admission::AuthMode;
using admission::MappingGateway;
using admission::Provisioning;
using admission::RoutingGateway;
using call::Cdr;
using call::HangupSide;
using call::TerminationReason;

std::unique_ptr<Store> mustOpen(const std::string& path) {
  auto r = openSqliteStore(path);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r.value()) : nullptr;
}

MappingGateway mapping(std::string name, AuthMode auth, std::vector<std::string> addresses,
                       bool enabled = true) {
  MappingGateway g;
  g.name = std::move(name);
  g.auth = auth;
  g.addresses = std::move(addresses);
  g.enabled = enabled;
  return g;
}

RoutingGateway routing(std::string name, std::string address, std::vector<std::string> prefixes,
                       int priority = 0) {
  RoutingGateway g;
  g.name = std::move(name);
  g.address = std::move(address);
  g.prefixes = std::move(prefixes);
  g.priority = priority;
  return g;
}

Provisioning sampleProvisioning() {
  Provisioning p;
  p.mappingGateways.push_back(mapping("zeta", AuthMode::Ip, {"203.0.113.0/24", "198.51.100.7"}));
  p.mappingGateways.push_back(mapping("alpha", AuthMode::IpPort, {"192.0.2.1:5060"}));
  p.mappingGateways.push_back(mapping("pw", AuthMode::Password, {}, false));
  RoutingGateway r = routing("carrier-b", "192.0.2.50:5060", {"44", "4420", ""}, 5);
  r.transport = "tcp";
  r.stripDigits = 2;
  r.addPrefix = "00";
  r.enabled = false;
  p.routingGateways.push_back(r);
  p.routingGateways.push_back(routing("carrier-a", "[2001:db8::1]:5060", {"1"}));
  return p;
}

bool sameMapping(const MappingGateway& a, const MappingGateway& b) {
  return a.name == b.name && a.auth == b.auth && a.addresses == b.addresses &&
         a.enabled == b.enabled;
}

bool sameRouting(const RoutingGateway& a, const RoutingGateway& b) {
  return a.name == b.name && a.address == b.address && a.transport == b.transport &&
         a.prefixes == b.prefixes && a.priority == b.priority && a.stripDigits == b.stripDigits &&
         a.addPrefix == b.addPrefix && a.enabled == b.enabled;
}

Cdr sampleCdr(int n, TerminationReason reason = TerminationReason::CallerBye,
              std::string mappingGw = "alpha") {
  Cdr c;
  c.callId = "call-" + std::to_string(n) + "@192.0.2.1";
  c.startUs = 1'795'710'000'000'000 + n * 1'000'000LL;
  c.answerUs = c.startUs + 2'500'000;
  c.endUs = c.answerUs + 61'250'000;
  c.caller = "4420" + std::to_string(n);
  c.callee = "1555" + std::to_string(n);
  c.sourceAddress = "192.0.2.1:5060";
  c.transport = "udp";
  c.mappingGateway = std::move(mappingGw);
  c.routingGateway = "carrier-a";
  c.gatewaysTried = "carrier-b,carrier-a";
  c.finalCode = 200;
  c.durationMs = 61'250;
  c.hangup = HangupSide::Caller;
  c.reason = reason;
  return c;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(dir_.ok()); }
  std::string dbPath() const { return dir_.file("store.db"); }
  TestTempDir dir_;
};

TEST_F(SqliteStoreTest, CreatesParentDirectoriesSchemaAndWal) {
  std::string path = dir_.file("a/b/c/tollgate.db");
  auto store = mustOpen(path);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_TRUE(store->capabilities().provisioning);
  EXPECT_TRUE(store->capabilities().cdrs);
  EXPECT_FALSE(store->capabilities().sharedAcrossNodes);

  EXPECT_EQ(rawInt(path, "PRAGMA user_version"), sqliteSchemaVersion());
  EXPECT_EQ(rawText(path, "PRAGMA journal_mode"), "wal");
  for (const char* table : {"meta", "mapping_gateway", "mapping_gateway_address", "routing_gateway",
                            "routing_gateway_prefix", "cdr"}) {
    EXPECT_EQ(rawInt(path, std::string("SELECT count(*) FROM sqlite_schema WHERE type='table' "
                                       "AND name='") +
                               table + "'"),
              1)
        << table;
  }
  for (const char* index : {"cdr_start_us", "cdr_reason", "cdr_mapping_gateway"}) {
    EXPECT_EQ(rawInt(path, std::string("SELECT count(*) FROM sqlite_schema WHERE type='index' "
                                       "AND name='") +
                               index + "'"),
              1)
        << index;
  }
  auto v = store->provisioningVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0u);
}

TEST_F(SqliteStoreTest, ReopenKeepsDataAndDoesNotRerunMigrations) {
  {
    auto store = mustOpen(dbPath());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->importProvisioning(sampleProvisioning(), false).ok());
    std::vector<Cdr> cdrs{sampleCdr(1)};
    ASSERT_TRUE(store->writeCdrs(cdrs).ok());
  }
  for (int i = 0; i < 3; ++i) {
    auto store = mustOpen(dbPath());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(rawInt(dbPath(), "PRAGMA user_version"), sqliteSchemaVersion());
    auto v = store->provisioningVersion();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, 1u);
    auto p = store->loadProvisioning();
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->mappingGateways.size(), 3u);
    auto cdrs = store->listCdrs({});
    ASSERT_TRUE(cdrs.ok());
    EXPECT_EQ(cdrs->size(), 1u);
  }
}

TEST_F(SqliteStoreTest, RefusesDatabaseFromNewerSchema) {
  { ASSERT_NE(mustOpen(dbPath()), nullptr); }
  rawExec(dbPath(), "PRAGMA user_version=" + std::to_string(sqliteSchemaVersion() + 1));
  auto r = openSqliteStore(dbPath());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("newer"), std::string::npos) << r.error().message;
}

TEST_F(SqliteStoreTest, ManyConnectionsCreatingTheSameFileAtOnceAllSucceed) {
  // Several processes (switch, import, cdr list) may start together on a
  // fresh path: the journal mode switch and the migration must not race.
  constexpr int kOpeners = 6;
  std::atomic<int> ok{0};
  std::vector<std::string> errors(kOpeners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] {
      auto r = openSqliteStore(dbPath());
      if (r.ok()) {
        ++ok;
      } else {
        errors[i] = r.error().message;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(ok.load(), kOpeners);
  EXPECT_EQ(rawInt(dbPath(), "PRAGMA user_version"), sqliteSchemaVersion());
  // Each migration ran once: one provisioning_version row, one auth_version row.
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM meta"), 2);
}

TEST_F(SqliteStoreTest, InMemoryStoreWorksForTests) {
  auto store = mustOpen(":memory:");
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->importProvisioning(sampleProvisioning(), false).ok());
  std::vector<Cdr> batch{sampleCdr(1)};
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  auto cdrs = store->listCdrs({});
  ASSERT_TRUE(cdrs.ok());
  EXPECT_EQ(cdrs->size(), 1u);
}

TEST_F(SqliteStoreTest, EmptyPathIsAnError) {
  EXPECT_FALSE(openSqliteStore("").ok());
}

TEST_F(SqliteStoreTest, ImportThenLoadSortsByNameAndKeepsListOrder) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  Provisioning in = sampleProvisioning();
  auto sum = store->importProvisioning(in, false);
  ASSERT_TRUE(sum.ok()) << sum.error().message;
  EXPECT_EQ(sum->added, 5u);
  EXPECT_EQ(sum->updated, 0u);
  EXPECT_EQ(sum->unchanged, 0u);
  EXPECT_EQ(sum->removed, 0u);

  auto out = store->loadProvisioning();
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->mappingGateways.size(), 3u);
  EXPECT_EQ(out->mappingGateways[0].name, "alpha");
  EXPECT_EQ(out->mappingGateways[1].name, "pw");
  EXPECT_EQ(out->mappingGateways[2].name, "zeta");
  EXPECT_TRUE(sameMapping(out->mappingGateways[0], in.mappingGateways[1]));
  EXPECT_TRUE(sameMapping(out->mappingGateways[1], in.mappingGateways[2]));
  EXPECT_TRUE(sameMapping(out->mappingGateways[2], in.mappingGateways[0]));
  ASSERT_EQ(out->routingGateways.size(), 2u);
  EXPECT_EQ(out->routingGateways[0].name, "carrier-a");
  EXPECT_TRUE(sameRouting(out->routingGateways[0], in.routingGateways[1]));
  EXPECT_TRUE(sameRouting(out->routingGateways[1], in.routingGateways[0]));
  // The "" default-route prefix survives, in its position.
  EXPECT_EQ(out->routingGateways[1].prefixes, (std::vector<std::string>{"44", "4420", ""}));
}

TEST_F(SqliteStoreTest, SecondImportOfSameDataChangesNothing) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->importProvisioning(sampleProvisioning(), false).ok());
  auto v1 = store->provisioningVersion();
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(*v1, 1u);
  int64_t updatedBefore = rawInt(dbPath(), "SELECT max(updated_us) FROM mapping_gateway");

  for (bool prune : {false, true}) {
    auto sum = store->importProvisioning(sampleProvisioning(), prune);
    ASSERT_TRUE(sum.ok());
    EXPECT_EQ(sum->added, 0u);
    EXPECT_EQ(sum->updated, 0u);
    EXPECT_EQ(sum->unchanged, 5u);
    EXPECT_EQ(sum->removed, 0u);
  }
  auto v2 = store->provisioningVersion();
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(*v2, 1u);
  EXPECT_EQ(rawInt(dbPath(), "SELECT max(updated_us) FROM mapping_gateway"), updatedBefore);
}

TEST_F(SqliteStoreTest, ImportDetectsEachKindOfChange) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->importProvisioning(sampleProvisioning(), false).ok());
  int64_t created =
      rawInt(dbPath(), "SELECT created_us FROM routing_gateway WHERE name='carrier-a'");

  // Each mutation alone must count as exactly one update and bump the version.
  std::vector<std::function<void(Provisioning&)>> mutations = {
      [](Provisioning& p) {
        p.mappingGateways[0].addresses = {"198.51.100.7", "203.0.113.0/24"};
      },
      [](Provisioning& p) { p.mappingGateways[1].auth = AuthMode::Ip; },
      [](Provisioning& p) { p.mappingGateways[2].enabled = true; },
      [](Provisioning& p) { p.mappingGateways[0].addresses.push_back("198.51.100.8"); },
      [](Provisioning& p) { p.routingGateways[1].address = "192.0.2.99:5060"; },
      [](Provisioning& p) { p.routingGateways[1].transport = "tcp"; },
      [](Provisioning& p) {
        p.routingGateways[1].prefixes = {"1", "2"};
      },
      [](Provisioning& p) { p.routingGateways[1].priority = 9; },
      [](Provisioning& p) { p.routingGateways[1].stripDigits = 1; },
      [](Provisioning& p) { p.routingGateways[1].addPrefix = "+"; },
      [](Provisioning& p) { p.routingGateways[1].enabled = false; },
  };
  uint64_t version = 1;
  for (size_t i = 0; i < mutations.size(); ++i) {
    SCOPED_TRACE("mutation " + std::to_string(i));
    Provisioning p = sampleProvisioning();
    mutations[i](p);
    auto sum = store->importProvisioning(p, false);
    ASSERT_TRUE(sum.ok());
    EXPECT_EQ(sum->added, 0u);
    EXPECT_EQ(sum->updated, 1u);
    EXPECT_EQ(sum->unchanged, 4u);
    auto v = store->provisioningVersion();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, ++version);
    auto loaded = store->loadProvisioning();
    ASSERT_TRUE(loaded.ok());
    // What was stored is what was imported.
    for (const auto& g : p.mappingGateways) {
      bool found = false;
      for (const auto& s : loaded->mappingGateways) found = found || sameMapping(s, g);
      EXPECT_TRUE(found) << g.name;
    }
    for (const auto& g : p.routingGateways) {
      bool found = false;
      for (const auto& s : loaded->routingGateways) found = found || sameRouting(s, g);
      EXPECT_TRUE(found) << g.name;
    }
    // Back to the sample, which is an update again.
    ASSERT_TRUE(store->importProvisioning(sampleProvisioning(), false).ok());
    ++version;
  }
  // An update keeps the creation time.
  EXPECT_EQ(rawInt(dbPath(), "SELECT created_us FROM routing_gateway WHERE name='carrier-a'"),
            created);
}

TEST_F(SqliteStoreTest, ImportWithoutPruneKeepsAbsentGatewaysWithPruneRemovesThem) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->importProvisioning(sampleProvisioning(), false).ok());

  Provisioning smaller;
  smaller.mappingGateways.push_back(sampleProvisioning().mappingGateways[1]);  // alpha
  smaller.routingGateways.push_back(routing("carrier-c", "192.0.2.77:5060", {"33"}));

  auto keep = store->importProvisioning(smaller, false);
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(keep->added, 1u);
  EXPECT_EQ(keep->unchanged, 1u);
  EXPECT_EQ(keep->removed, 0u);
  auto all = store->loadProvisioning();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->mappingGateways.size(), 3u);
  EXPECT_EQ(all->routingGateways.size(), 3u);

  auto prune = store->importProvisioning(smaller, true);
  ASSERT_TRUE(prune.ok());
  EXPECT_EQ(prune->added, 0u);
  EXPECT_EQ(prune->updated, 0u);
  EXPECT_EQ(prune->unchanged, 2u);
  EXPECT_EQ(prune->removed, 4u);  // zeta, pw, carrier-a, carrier-b
  auto left = store->loadProvisioning();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->mappingGateways.size(), 1u);
  EXPECT_EQ(left->mappingGateways[0].name, "alpha");
  ASSERT_EQ(left->routingGateways.size(), 1u);
  EXPECT_EQ(left->routingGateways[0].name, "carrier-c");
  // Child rows went with their gateways.
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM mapping_gateway_address"), 1);
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM routing_gateway_prefix"), 1);
  auto v = store->provisioningVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 3u);

  // Pruning to nothing is allowed and empties the tables.
  auto empty = store->importProvisioning({}, true);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->removed, 2u);
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM mapping_gateway"), 0);
}

TEST_F(SqliteStoreTest, DuplicateNamesAreRefusedAndNothingIsWritten) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->importProvisioning(sampleProvisioning(), false).ok());

  Provisioning dupMapping = sampleProvisioning();
  dupMapping.mappingGateways[0].addresses = {"10.0.0.1"};  // a change that must not land
  dupMapping.mappingGateways.push_back(mapping("alpha", AuthMode::Ip, {"10.0.0.2"}));
  auto r1 = store->importProvisioning(dupMapping, true);
  ASSERT_FALSE(r1.ok());
  EXPECT_NE(r1.error().message.find("alpha"), std::string::npos) << r1.error().message;

  Provisioning dupRouting = sampleProvisioning();
  dupRouting.routingGateways.push_back(routing("carrier-a", "192.0.2.9:5060", {}));
  EXPECT_FALSE(store->importProvisioning(dupRouting, true).ok());

  Provisioning emptyName;
  emptyName.mappingGateways.push_back(mapping("", AuthMode::Ip, {"10.0.0.1"}));
  EXPECT_FALSE(store->importProvisioning(emptyName, true).ok());

  auto v = store->provisioningVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 1u);
  auto again = store->importProvisioning(sampleProvisioning(), false);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unchanged, 5u);
}

TEST_F(SqliteStoreTest, VersionChangeIsSeenByAnotherConnection) {
  auto a = mustOpen(dbPath());
  auto b = mustOpen(dbPath());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto v0 = b->provisioningVersion();
  ASSERT_TRUE(v0.ok());
  ASSERT_TRUE(a->importProvisioning(sampleProvisioning(), false).ok());
  auto v1 = b->provisioningVersion();
  ASSERT_TRUE(v1.ok());
  EXPECT_GT(*v1, *v0);
  auto p = b->loadProvisioning();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->mappingGateways.size(), 3u);
}

TEST_F(SqliteStoreTest, CdrRoundTripsEveryField) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  Cdr in;
  in.callId = "a84b4c76e66710@pc33.example.com";
  in.startUs = 1'795'710'000'123'456;
  in.answerUs = 1'795'710'003'000'001;
  in.endUs = 1'795'710'064'999'999;
  in.caller = "Ünïcode \"quoted\" caller";
  in.callee = std::string("0049\0301", 7);  // embedded NUL must survive
  in.sourceAddress = "[2001:db8::7]:5070";
  in.transport = "tcp";
  in.mappingGateway = "cust.one";
  in.routingGateway = "carrier_2";
  in.gatewaysTried = "carrier_1,carrier_2";
  in.finalCode = 200;
  in.durationMs = 61'999;
  in.hangup = HangupSide::Callee;
  in.reason = TerminationReason::CalleeBye;
  in.callerRaw = "%2B44-20;isub=1";
  in.calleeRaw = "+1 (900) 555?";
  in.media.present = true;
  in.media.caller = {.packets = 250, .bytes = 43000, .lossPct = 1.5, .jitterMs = 12};
  in.media.callee = {.packets = 248, .bytes = 42656};  // no RTCP figures: unknown

  std::vector<Cdr> batch{in};
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  ASSERT_GT(batch[0].id, 0);

  auto out = store->listCdrs({});
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 1u);
  const Cdr& c = (*out)[0];
  EXPECT_EQ(c.id, batch[0].id);
  EXPECT_EQ(c.callId, in.callId);
  EXPECT_EQ(c.startUs, in.startUs);
  EXPECT_EQ(c.answerUs, in.answerUs);
  EXPECT_EQ(c.endUs, in.endUs);
  EXPECT_EQ(c.caller, in.caller);
  EXPECT_EQ(c.callee, in.callee);
  EXPECT_EQ(c.sourceAddress, in.sourceAddress);
  EXPECT_EQ(c.transport, in.transport);
  EXPECT_EQ(c.mappingGateway, in.mappingGateway);
  EXPECT_EQ(c.routingGateway, in.routingGateway);
  EXPECT_EQ(c.gatewaysTried, in.gatewaysTried);
  EXPECT_EQ(c.finalCode, in.finalCode);
  EXPECT_EQ(c.durationMs, in.durationMs);
  EXPECT_EQ(c.hangup, in.hangup);
  EXPECT_EQ(c.reason, in.reason);
  EXPECT_EQ(c.callerRaw, in.callerRaw);
  EXPECT_EQ(c.calleeRaw, in.calleeRaw);
  EXPECT_TRUE(c.media.present);
  EXPECT_EQ(c.media.caller.packets, 250u);
  EXPECT_EQ(c.media.caller.lossPct, 1.5);
  EXPECT_EQ(c.media.caller.jitterMs, 12u);
  EXPECT_EQ(c.media.callee.bytes, 42656u);
  EXPECT_FALSE(c.media.callee.lossPct.has_value());
  EXPECT_FALSE(c.media.callee.jitterMs.has_value());
  EXPECT_EQ(
      rawInt(dbPath(), "SELECT callee_loss_pct IS NULL AND callee_jitter_ms IS NULL FROM cdr"),
      1);  // unknown is NULL, not 0
  EXPECT_EQ(rawText(dbPath(), "SELECT caller_raw FROM cdr"), in.callerRaw);
  // Stored as operator-readable names, not enum numbers.
  EXPECT_EQ(rawText(dbPath(), "SELECT reason FROM cdr"), "callee_bye");
  EXPECT_EQ(rawText(dbPath(), "SELECT hangup FROM cdr"), "callee");
}

TEST_F(SqliteStoreTest, EveryReasonAndHangupSurvivesTheStore) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  std::vector<Cdr> batch;
  const int kReasons = static_cast<int>(call::kTerminationReasonCount);
  for (int r = 0; r < kReasons; ++r) {
    Cdr c = sampleCdr(r, static_cast<TerminationReason>(r));
    c.hangup = static_cast<HangupSide>(r % 4);
    batch.push_back(c);
  }
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  auto out = store->listCdrs({});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), static_cast<size_t>(kReasons));
  for (const Cdr& c : *out) {
    int n = static_cast<int>(c.id - batch[0].id);
    EXPECT_EQ(c.reason, static_cast<TerminationReason>(n));
    EXPECT_EQ(c.hangup, static_cast<HangupSide>(n % 4));
  }
}

TEST_F(SqliteStoreTest, InvalidNumberReasonIsStoredByName) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  Cdr c = sampleCdr(1, TerminationReason::InvalidNumber);
  c.callee = "1-800-FLOWERS";
  c.calleeRaw = "1-800-FLOWERS;phone-context=+1";
  std::vector<Cdr> batch{c};
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  EXPECT_EQ(rawText(dbPath(), "SELECT reason FROM cdr"), "invalid_number");
  CdrQuery q;
  q.reason = "invalid_number";
  auto out = store->listCdrs(q);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].calleeRaw, c.calleeRaw);
}

TEST_F(SqliteStoreTest, MigratesAVersion5FileKeepingItsCdrs) {
  // A file as version 5 left it, with one CDR.
  for (int v = 0; v < 5; ++v) rawExec(dbPath(), sqliteMigrations()[v].sql);
  rawExec(dbPath(),
          "INSERT INTO cdr(call_id, start_us, answer_us, end_us, caller, callee, source_address, "
          "transport, mapping_gateway, routing_gateway, gateways_tried, final_code, duration_ms, "
          "hangup, reason) VALUES ('old', 1, 0, 2, '+4420', '1-900', '192.0.2.1:5060', 'udp', "
          "'gw', '', '', 403, 0, '', 'callee_blacklisted');"
          "PRAGMA user_version=5;");
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(rawInt(dbPath(), "PRAGMA user_version"), sqliteSchemaVersion());
  std::vector<Cdr> batch{sampleCdr(2)};
  batch[0].callerRaw = "%2B44202";
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  auto out = store->listCdrs({});
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0].callerRaw, "%2B44202");
  EXPECT_EQ((*out)[1].callId, "old");
  EXPECT_EQ((*out)[1].caller, "+4420");
  EXPECT_EQ((*out)[1].callerRaw, "");  // not recorded before version 6
  EXPECT_EQ((*out)[1].calleeRaw, "");
}

TEST_F(SqliteStoreTest, MigratesAVersion9FileMakingUnreportedLossAndJitterUnknown) {
  // Version 9 stored 0/0 for "rtpengine had no RTCP figures".
  for (int v = 0; v < 9; ++v) rawExec(dbPath(), sqliteMigrations()[v].sql);
  const std::string cols =
      "INSERT INTO cdr(call_id, start_us, answer_us, end_us, caller, callee, source_address, "
      "transport, mapping_gateway, routing_gateway, gateways_tried, final_code, duration_ms, "
      "hangup, reason, media_relayed, caller_packets, caller_loss_pct, caller_jitter_ms, "
      "callee_packets, callee_loss_pct, callee_jitter_ms) VALUES ";
  rawExec(dbPath(), cols +
                        "('seen', 1, 1, 2, '1', '2', 'a', 'udp', 'g', 'r', 'r', 200, 1, 'caller', "
                        "'caller_bye', 1, 50, 2.5, 7, 49, 0, 0);" +
                        cols +
                        "('passed', 3, 3, 4, '1', '2', 'a', 'udp', 'g', 'r', 'r', 200, 1, "
                        "'caller', 'caller_bye', 0, 0, 0, 0, 0, 0, 0);"
                        "PRAGMA user_version=9;");
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(rawInt(dbPath(), "PRAGMA user_version"), sqliteSchemaVersion());
  auto out = store->listCdrs({});
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 2u);
  const Cdr& seen = (*out)[1];
  EXPECT_EQ(seen.callId, "seen");
  EXPECT_EQ(seen.media.caller.packets, 50u);
  EXPECT_EQ(seen.media.caller.lossPct, 2.5);
  EXPECT_EQ(seen.media.caller.jitterMs, 7u);
  EXPECT_EQ(seen.media.callee.packets, 49u);
  EXPECT_FALSE(seen.media.callee.lossPct.has_value());
  EXPECT_FALSE(seen.media.callee.jitterMs.has_value());
  EXPECT_FALSE((*out)[0].media.present);
  EXPECT_FALSE((*out)[0].media.caller.lossPct.has_value());
}

TEST_F(SqliteStoreTest, UnknownNamesInOldRowsFallBackInsteadOfFailing) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  std::vector<Cdr> batch{sampleCdr(1)};
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  rawExec(dbPath(), "UPDATE cdr SET reason='from_the_future', hangup='someone'");
  auto out = store->listCdrs({});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].reason, TerminationReason::InternalError);
  EXPECT_EQ((*out)[0].hangup, HangupSide::None);
}

TEST_F(SqliteStoreTest, WriteAssignsIncreasingIdsAndEmptyBatchIsFine) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  std::vector<Cdr> none;
  EXPECT_TRUE(store->writeCdrs(none).ok());
  std::vector<Cdr> batch{sampleCdr(1), sampleCdr(2), sampleCdr(3)};
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  EXPECT_GT(batch[0].id, 0);
  EXPECT_EQ(batch[1].id, batch[0].id + 1);
  EXPECT_EQ(batch[2].id, batch[1].id + 1);
  std::vector<Cdr> more{sampleCdr(4)};
  ASSERT_TRUE(store->writeCdrs(more).ok());
  EXPECT_EQ(more[0].id, batch[2].id + 1);
}

TEST_F(SqliteStoreTest, IdsAreNotReusedAfterTheNewestRowsAreDeleted) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  std::vector<Cdr> batch{sampleCdr(1), sampleCdr(2)};
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  rawExec(dbPath(), "DELETE FROM cdr");
  std::vector<Cdr> next{sampleCdr(3)};
  ASSERT_TRUE(store->writeCdrs(next).ok());
  EXPECT_GT(next[0].id, batch[1].id);
}

TEST_F(SqliteStoreTest, ListPagesNewestFirst) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  std::vector<Cdr> batch;
  for (int i = 0; i < 25; ++i) batch.push_back(sampleCdr(i));
  ASSERT_TRUE(store->writeCdrs(batch).ok());

  std::vector<int64_t> seen;
  CdrQuery q;
  q.limit = 10;
  for (int page = 0; page < 5; ++page) {
    auto r = store->listCdrs(q);
    ASSERT_TRUE(r.ok());
    if (r->empty()) break;
    EXPECT_LE(r->size(), 10u);
    for (const Cdr& c : *r) seen.push_back(c.id);
    q.beforeId = r->back().id;
  }
  ASSERT_EQ(seen.size(), 25u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], batch[24 - i].id);
}

TEST_F(SqliteStoreTest, ListLimitZeroReturnsNothingAndHugeLimitIsClamped) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  std::vector<Cdr> batch{sampleCdr(1), sampleCdr(2)};
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  CdrQuery q;
  q.limit = 0;
  auto none = store->listCdrs(q);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  q.limit = static_cast<size_t>(-1);
  auto all = store->listCdrs(q);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
}

TEST_F(SqliteStoreTest, ListFiltersByReasonAndMappingGateway) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  std::vector<Cdr> batch;
  for (int i = 0; i < 30; ++i) {
    TerminationReason r = i % 3 == 0 ? TerminationReason::Busy : TerminationReason::CallerBye;
    batch.push_back(sampleCdr(i, r, i % 2 == 0 ? "alpha" : "zeta"));
  }
  ASSERT_TRUE(store->writeCdrs(batch).ok());

  auto count = [&](std::string reason, std::string gw, size_t limit = 100) {
    CdrQuery q;
    q.reason = std::move(reason);
    q.mappingGateway = std::move(gw);
    q.limit = limit;
    auto r = store->listCdrs(q);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return size_t{0};
    for (const Cdr& c : *r) {
      if (!q.reason.empty()) {
        EXPECT_EQ(call::reasonName(c.reason), q.reason);
      }
      if (!q.mappingGateway.empty()) {
        EXPECT_EQ(c.mappingGateway, q.mappingGateway);
      }
    }
    for (size_t i = 1; i < r->size(); ++i) EXPECT_GT((*r)[i - 1].id, (*r)[i].id);
    return r->size();
  };
  EXPECT_EQ(count("", ""), 30u);
  EXPECT_EQ(count("busy", ""), 10u);
  EXPECT_EQ(count("caller_bye", ""), 20u);
  EXPECT_EQ(count("", "alpha"), 15u);
  EXPECT_EQ(count("busy", "alpha"), 5u);  // i = 0, 6, 12, 18, 24
  EXPECT_EQ(count("busy", "zeta"), 5u);
  EXPECT_EQ(count("no_route", ""), 0u);
  EXPECT_EQ(count("", "nobody"), 0u);
  EXPECT_EQ(count("busy", "", 3), 3u);

  // Filters combine with paging.
  CdrQuery q;
  q.reason = "busy";
  q.beforeId = batch[12].id;
  auto older = store->listCdrs(q);
  ASSERT_TRUE(older.ok());
  ASSERT_EQ(older->size(), 4u);  // i = 9, 6, 3, 0
  EXPECT_EQ((*older)[0].id, batch[9].id);

  // Only rows newer than an id (a poller), filters still apply.
  CdrQuery newer;
  newer.afterId = batch[24].id;
  auto fresh = store->listCdrs(newer);
  ASSERT_TRUE(fresh.ok());
  ASSERT_EQ(fresh->size(), 5u);  // i = 29 .. 25
  EXPECT_EQ(fresh->front().id, batch[29].id);
  EXPECT_EQ(fresh->back().id, batch[25].id);
  newer.reason = "busy";
  fresh = store->listCdrs(newer);
  ASSERT_TRUE(fresh.ok());
  ASSERT_EQ(fresh->size(), 1u);  // i = 27
  EXPECT_EQ(fresh->front().id, batch[27].id);

  CdrQuery bad;
  bad.reason = "bussy";
  auto err = store->listCdrs(bad);
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().message.find("bussy"), std::string::npos);
}

TEST_F(SqliteStoreTest, ListFiltersByTimeNumberAndGateways) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  std::vector<Cdr> batch;
  for (int i = 0; i < 20; ++i) {
    Cdr c = sampleCdr(i, TerminationReason::CallerBye, i % 2 ? "alpha" : "zeta");
    c.routingGateway = i % 4 == 0 ? "carrier-x" : "carrier-a";
    c.callee = i % 5 == 0 ? "999" : c.callee;
    batch.push_back(c);
  }
  ASSERT_TRUE(store->writeCdrs(batch).ok());
  auto ids = [&](const CdrQuery& q) {
    std::vector<int64_t> out;
    auto rows = store->listCdrs(q);  // keep the Result alive while iterating
    for (const Cdr& c : rows.value()) out.push_back(c.id);
    return out;
  };
  CdrQuery q;
  q.startFromUs = batch[5].startUs;
  q.startBeforeUs = batch[8].startUs;
  EXPECT_EQ(ids(q), (std::vector<int64_t>{batch[7].id, batch[6].id, batch[5].id}));
  q = CdrQuery{};
  q.number = "999";
  EXPECT_EQ(ids(q).size(), 4u);
  q.number = "44203";  // a caller
  EXPECT_EQ(ids(q), (std::vector<int64_t>{batch[3].id}));
  q = CdrQuery{};
  q.routingGateway = "carrier-x";
  EXPECT_EQ(ids(q).size(), 5u);
  q = CdrQuery{};
  q.gateway = "zeta";  // mapping side
  EXPECT_EQ(ids(q).size(), 10u);
  q.gateway = "carrier-x";  // routing side
  EXPECT_EQ(ids(q).size(), 5u);
  q.mappingGateway = "alpha";  // combined: none of carrier-x's are alpha (i % 4 == 0 is even)
  EXPECT_EQ(ids(q).size(), 0u);
}

TEST_F(SqliteStoreTest, ModifyProvisioningIsAtomicAndRefusalWritesNothing) {
  auto store = mustOpen(dbPath());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->importProvisioning(sampleProvisioning(), false).ok());
  const uint64_t v0 = store->provisioningVersion().value();
  auto added = store->modifyProvisioning([](Provisioning& p) -> Result<Ok, EditRefused> {
    p.routingGateways.push_back(routing("carrier-c", "192.0.2.60", {"33"}));
    return Ok{};
  });
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(added->refused);
  EXPECT_EQ(added->summary.added, 1u);
  EXPECT_EQ(added->version, v0 + 1);
  EXPECT_EQ(added->before.routingGateways.size(), 2u);
  // A refused edit (after changing its copy) leaves store and version alone.
  auto refused = store->modifyProvisioning([](Provisioning& p) -> Result<Ok, EditRefused> {
    p.routingGateways.clear();
    return Err{EditRefused{400, "address", "no"}};
  });
  ASSERT_TRUE(refused.ok());
  EXPECT_TRUE(refused->refused);
  EXPECT_EQ(refused->refusal.field, "address");
  EXPECT_EQ(store->provisioningVersion().value(), v0 + 1);
  EXPECT_EQ(store->loadProvisioning().value().routingGateways.size(), 3u);
  // A duplicate name created by an edit is refused, not half-written.
  auto dup = store->modifyProvisioning([](Provisioning& p) -> Result<Ok, EditRefused> {
    p.mappingGateways.push_back(p.mappingGateways.front());
    return Ok{};
  });
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->refused);
  EXPECT_EQ(dup->refusal.status, 409);
  // Deleting goes through the same path (prune).
  auto del = store->modifyProvisioning([](Provisioning& p) -> Result<Ok, EditRefused> {
    p.mappingGateways.erase(p.mappingGateways.begin());
    return Ok{};
  });
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->summary.removed, 1u);
  EXPECT_EQ(store->loadProvisioning().value().mappingGateways.size(), 2u);
}

TEST_F(SqliteStoreTest, ConcurrentEditsFromTwoConnectionsLoseNothing) {
  auto a = mustOpen(dbPath());
  auto b = mustOpen(dbPath());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto edit = [](Store* st, int base) {
    for (int i = 0; i < 25; ++i) {
      auto r = st->modifyProvisioning([&](Provisioning& p) -> Result<Ok, EditRefused> {
        p.routingGateways.push_back(
            routing("g" + std::to_string(base + i), "192.0.2.1", {std::to_string(base + i)}));
        return Ok{};
      });
      ASSERT_TRUE(r.ok() && !r->refused);
    }
  };
  std::thread t1(edit, a.get(), 0);
  std::thread t2(edit, b.get(), 100);
  t1.join();
  t2.join();
  EXPECT_EQ(a->loadProvisioning().value().routingGateways.size(), 50u);
  EXPECT_EQ(a->provisioningVersion().value(), 50u);
}

TEST_F(SqliteStoreTest, OneConnectionWritesCdrsWhileAnotherImports) {
  // The running switch writes CDRs while `tollgate import` runs in another
  // process: busy_timeout must turn lock contention into waiting, not errors.
  auto writer = mustOpen(dbPath());
  auto importer = mustOpen(dbPath());
  ASSERT_NE(writer, nullptr);
  ASSERT_NE(importer, nullptr);

  constexpr int kCdrBatches = 300;
  constexpr int kImports = 60;
  std::atomic<int> cdrErrors{0};
  std::atomic<int> importErrors{0};
  std::string lastError;
  std::thread cdrThread([&] {
    for (int i = 0; i < kCdrBatches; ++i) {
      std::vector<Cdr> b{sampleCdr(2 * i), sampleCdr(2 * i + 1)};
      if (!writer->writeCdrs(b).ok()) ++cdrErrors;
    }
  });
  std::thread importThread([&] {
    for (int i = 0; i < kImports; ++i) {
      Provisioning p = sampleProvisioning();
      // Alternate between two contents so every import really writes.
      if (i % 2 == 1) p.routingGateways[1].priority = 7;
      for (int k = 0; k < 20; ++k) {
        p.mappingGateways.push_back(
            mapping("bulk" + std::to_string(k), AuthMode::Ip, {"10.0.0." + std::to_string(k)}));
      }
      auto r = importer->importProvisioning(p, true);
      if (!r.ok()) {
        ++importErrors;
        lastError = r.error().message;
      }
    }
  });
  cdrThread.join();
  importThread.join();
  EXPECT_EQ(cdrErrors.load(), 0);
  EXPECT_EQ(importErrors.load(), 0) << lastError;
  EXPECT_EQ(rawInt(dbPath(), "SELECT count(*) FROM cdr"), 2 * kCdrBatches);
  auto v = importer->provisioningVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, static_cast<uint64_t>(kImports));
}

TEST(CdrNamesTest, EveryReasonHasAUniqueNameThatParsesBack) {
  const char* expected[] = {"caller_bye",     "callee_bye",    "busy",          "no_answer",
                            "cancelled",      "rejected",      "no_route",      "route_failed",
                            "unknown_source", "port_mismatch", "bad_request",   "too_many_hops",
                            "ack_timeout",    "draining",      "internal_error"};
  for (int i = 0; i < 15; ++i) {
    auto r = static_cast<TerminationReason>(i);
    EXPECT_EQ(call::reasonName(r), expected[i]);
    auto back = call::reasonFromName(expected[i]);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, r);
  }
  EXPECT_FALSE(call::reasonFromName("").has_value());
  EXPECT_FALSE(call::reasonFromName("Busy").has_value());
}

TEST(CdrNamesTest, HangupNamesParseBack) {
  EXPECT_EQ(call::hangupName(HangupSide::None), "");
  EXPECT_EQ(call::hangupName(HangupSide::Caller), "caller");
  EXPECT_EQ(call::hangupName(HangupSide::Callee), "callee");
  EXPECT_EQ(call::hangupName(HangupSide::System), "system");
  for (auto s : {HangupSide::None, HangupSide::Caller, HangupSide::Callee, HangupSide::System}) {
    EXPECT_EQ(call::hangupFromName(call::hangupName(s)), s);
  }
  EXPECT_FALSE(call::hangupFromName("nobody").has_value());
}

}  // namespace
}  // namespace tollgate::store
