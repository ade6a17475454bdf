// SQLite implementation of Store (store.h): only its queries; connection,
// statements, transactions and errors come from sqlite_connection.h. One
// SqliteStore is one connection: externally synchronized, like every Store.
//
// Durability and sharing (docs/store.md): journal_mode=WAL lets readers run
// beside one writer, in several processes at once; synchronous=NORMAL makes a
// commit durable against a process crash (kill -9: the commit is in the WAL
// file, in the OS page cache) but not against power loss, where the last
// transactions before the loss may vanish (synchronous=FULL would fsync the
// WAL on every commit). Every write transaction is BEGIN IMMEDIATE: it takes
// the write lock up front, where busy_timeout applies, instead of upgrading a
// read snapshot later, which fails at once with SQLITE_BUSY when another
// process committed in between. The connection, its settings and the file
// modes come from the one opener (sqlite_open.h).
#include "store/store.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "common/clock.h"
#include "store/cdr_columns.h"
#include "store/pg_backend.h"
#include "store/pg_migrations.h"
#include "store/sqlite_columns.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_migrations.h"
#include "store/sqlite_policy_tables.h"

namespace tollgate::store {
namespace {

using admission::MappingGateway;
using admission::Provisioning;
using admission::RoutingGateway;

bool sameMapping(const MappingGateway& a, const MappingGateway& b) {
  return a.name == b.name && a.auth == b.auth && a.addresses == b.addresses &&
         a.enabled == b.enabled && a.username == b.username && a.realm == b.realm &&
         a.ha1Md5 == b.ha1Md5 && a.ha1Sha256 == b.ha1Sha256 && a.registers == b.registers &&
         a.maxContacts == b.maxContacts && a.hasChallenge == b.hasChallenge &&
         (!a.hasChallenge || a.challenge == b.challenge) && a.tlsNames == b.tlsNames &&
         a.digestAlgorithms == b.digestAlgorithms && a.policy == b.policy;
}

bool sameRouting(const RoutingGateway& a, const RoutingGateway& b) {
  return a.name == b.name && a.address == b.address && a.transport == b.transport &&
         a.prefixes == b.prefixes && a.priority == b.priority && a.stripDigits == b.stripDigits &&
         a.addPrefix == b.addPrefix && a.enabled == b.enabled && a.authUsername == b.authUsername &&
         a.authPassword == b.authPassword && a.registers == b.registers &&
         a.registerExpires == b.registerExpires && a.policy == b.policy;
}

// tls_names and digest_algorithms are lists in one TEXT column
// (sqlite_columns.h); a name is never empty, so neither is an element read
// back (a hand-edited ",," yields nothing).
std::vector<std::string> splitNames(const std::string& text) {
  auto out = splitList(text, false);
  std::erase(out, std::string());
  return out;
}

std::string joinAlgorithms(const std::vector<auth::Algorithm>& algs) {
  std::string out;
  for (auth::Algorithm a : algs) {
    if (!out.empty()) out += ',';
    out += auth::algorithmName(a);
  }
  return out;
}

std::vector<auth::Algorithm> splitAlgorithms(const std::string& text) {
  std::vector<auth::Algorithm> out;
  for (const std::string& n : splitNames(text)) {
    if (auto a = auth::algorithmFromName(n)) out.push_back(*a);
  }
  return out;
}

template <class Db>
class SqlStore final : public Store {
 public:
  explicit SqlStore(std::unique_ptr<Db> c) : c_(std::move(c)) {}

  Capabilities capabilities() const override {
    Capabilities c;
    c.provisioning = true;
    c.cdrs = true;
    // One SQLite file lives on one machine; a PostgreSQL database is shared.
    c.sharedAcrossNodes = std::is_same_v<Db, detail::PgConnection>;
    return c;
  }

  Result<ImportSummary, StoreError> importProvisioning(const Provisioning& p, bool prune) override;
  Result<Provisioning, StoreError> loadProvisioning() override;
  Result<uint64_t, StoreError> provisioningVersion() override;
  Result<EditOutcome, StoreError> modifyProvisioning(const ProvisioningEdit& edit) override;
  Result<Ok, StoreError> writeCdrs(std::vector<call::Cdr>& cdrs) override;
  Result<Ok, StoreError> writeCdrsOnce(std::vector<call::Cdr>& cdrs,
                                       const std::vector<std::string>& uids) override;
  Result<size_t, StoreError> purgeCdrs(int64_t beforeUs, size_t batch) override;
  Result<std::vector<call::Cdr>, StoreError> listCdrs(const CdrQuery& q) override;

 private:
  // Reads provisioning inside the caller's transaction.
  Result<Provisioning, StoreError> loadLocked();
  // The body of importProvisioning, inside the caller's write transaction.
  Result<ImportSummary, StoreError> importLocked(const Provisioning& stored, const Provisioning& p,
                                                 bool prune);
  Result<Ok, StoreError> insertMappingChildren(const MappingGateway& g);
  Result<Ok, StoreError> insertRoutingChildren(const RoutingGateway& g);
  Result<Ok, StoreError> writeCdrRows(std::vector<call::Cdr>& cdrs,
                                      const std::vector<std::string>* uids);

  std::unique_ptr<Db> c_;
};

template <class Db>
Result<Provisioning, StoreError> SqlStore<Db>::loadLocked() {
  Provisioning p;
  std::map<std::string, size_t> mappingIndex;
  std::map<std::string, size_t> routingIndex;
  {
    auto st = c_->prepare(
        "SELECT name, auth, enabled, username, realm, ha1_md5, ha1_sha256, register, "
        "max_contacts, challenge, tls_names, digest_algorithms FROM mapping_gateway ORDER BY name");
    if (!st) return Err{st.error()};
    while (st->next()) {
      MappingGateway g;
      g.name = st->text(0);
      if (!admission::parseAuthMode(st->text(1), &g.auth)) {
        return Err{StoreError{"mapping gateway '" + g.name + "' has unknown auth mode '" +
                              st->text(1) + "' (" + c_->path() + ")"}};
      }
      g.enabled = st->int64(2) != 0;
      g.username = st->text(3);
      g.realm = st->text(4);
      g.ha1Md5 = st->text(5);
      g.ha1Sha256 = st->text(6);
      g.registers = st->int64(7) != 0;
      g.maxContacts = static_cast<int>(st->int64(8));
      g.hasChallenge = admission::parseChallengeMode(st->text(9), &g.challenge);
      g.tlsNames = splitNames(st->text(10));
      g.digestAlgorithms = splitAlgorithms(st->text(11));
      mappingIndex.emplace(g.name, p.mappingGateways.size());
      p.mappingGateways.push_back(std::move(g));
    }
    if (st->failed()) return Err{st->error("read mapping_gateway")};
  }
  {
    auto st = c_->prepare(
        "SELECT gateway, address FROM mapping_gateway_address ORDER BY gateway, position");
    if (!st) return Err{st.error()};
    while (st->next()) {
      auto it = mappingIndex.find(st->text(0));
      if (it != mappingIndex.end()) p.mappingGateways[it->second].addresses.push_back(st->text(1));
    }
    if (st->failed()) return Err{st->error("read mapping_gateway_address")};
  }
  {
    auto st = c_->prepare(
        "SELECT name, address, transport, priority, strip_digits, add_prefix, enabled, "
        "auth_username, auth_password, register, register_expires "
        "FROM routing_gateway ORDER BY name");
    if (!st) return Err{st.error()};
    while (st->next()) {
      RoutingGateway g;
      g.name = st->text(0);
      g.address = st->text(1);
      g.transport = st->text(2);
      g.priority = static_cast<int>(st->int64(3));
      g.stripDigits = static_cast<int>(st->int64(4));
      g.addPrefix = st->text(5);
      g.enabled = st->int64(6) != 0;
      g.authUsername = st->text(7);
      g.authPassword = st->text(8);
      g.registers = st->int64(9) != 0;
      g.registerExpires = static_cast<int>(st->int64(10));
      routingIndex.emplace(g.name, p.routingGateways.size());
      p.routingGateways.push_back(std::move(g));
    }
    if (st->failed()) return Err{st->error("read routing_gateway")};
  }
  {
    auto st = c_->prepare(
        "SELECT gateway, prefix FROM routing_gateway_prefix ORDER BY gateway, position");
    if (!st) return Err{st.error()};
    while (st->next()) {
      auto it = routingIndex.find(st->text(0));
      if (it != routingIndex.end()) p.routingGateways[it->second].prefixes.push_back(st->text(1));
    }
    if (st->failed()) return Err{st->error("read routing_gateway_prefix")};
  }
  // Call policy: gateway limits and lists, accounts, fraud rules.
  if (auto r = loadPolicyTables(*c_, &p); !r) return Err{r.error()};
  return p;
}

template <class Db>
Result<Provisioning, StoreError> SqlStore<Db>::loadProvisioning() {
  // One read transaction: the four SELECTs see one snapshot even while
  // another process imports.
  auto txn = c_->beginRead();
  if (!txn) return Err{txn.error()};
  auto p = loadLocked();
  if (!p) return p;
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return p;
}

template <class Db>
Result<uint64_t, StoreError> SqlStore<Db>::provisioningVersion() {
  auto st = c_->prepare("SELECT value FROM meta WHERE key = 'provisioning_version'");
  if (!st) return Err{st.error()};
  if (!st->next()) {
    if (st->failed()) return Err{st->error("read provisioning_version")};
    return uint64_t{0};
  }
  return static_cast<uint64_t>(st->int64(0));
}

template <class Db>
Result<Ok, StoreError> SqlStore<Db>::insertMappingChildren(const MappingGateway& g) {
  auto del = c_->prepare("DELETE FROM mapping_gateway_address WHERE gateway = ?1");
  if (!del) return Err{del.error()};
  del->bind(1, g.name);
  if (auto r = del->run("delete mapping_gateway_address"); !r) return r;
  auto ins = c_->prepare(
      "INSERT INTO mapping_gateway_address(gateway, position, address) VALUES (?1, ?2, ?3)");
  if (!ins) return Err{ins.error()};
  for (size_t i = 0; i < g.addresses.size(); ++i) {
    ins->reset();
    ins->bind(1, g.name).bind(2, static_cast<int64_t>(i)).bind(3, g.addresses[i]);
    if (auto r = ins->run("insert mapping_gateway_address"); !r) return r;
  }
  return Ok{};
}

template <class Db>
Result<Ok, StoreError> SqlStore<Db>::insertRoutingChildren(const RoutingGateway& g) {
  auto del = c_->prepare("DELETE FROM routing_gateway_prefix WHERE gateway = ?1");
  if (!del) return Err{del.error()};
  del->bind(1, g.name);
  if (auto r = del->run("delete routing_gateway_prefix"); !r) return r;
  auto ins = c_->prepare(
      "INSERT INTO routing_gateway_prefix(gateway, position, prefix) VALUES (?1, ?2, ?3)");
  if (!ins) return Err{ins.error()};
  for (size_t i = 0; i < g.prefixes.size(); ++i) {
    ins->reset();
    ins->bind(1, g.name).bind(2, static_cast<int64_t>(i)).bind(3, g.prefixes[i]);
    if (auto r = ins->run("insert routing_gateway_prefix"); !r) return r;
  }
  return Ok{};
}

// Refuses duplicate and empty gateway names (sqlite_policy_tables.h).
Result<Ok, StoreError> checkNames(const Provisioning& p) {
  if (auto r = checkImportNames(p.mappingGateways, "mapping gateway"); !r) return r;
  return checkImportNames(p.routingGateways, "routing gateway");
}

template <class Db>
Result<ImportSummary, StoreError> SqlStore<Db>::importProvisioning(const Provisioning& p,
                                                                   bool prune) {
  if (auto r = checkNames(p); !r) return Err{r.error()};

  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  auto stored = loadLocked();
  if (!stored) return Err{stored.error()};
  auto sum = importLocked(*stored, p, prune);
  if (!sum) return sum;
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return sum;
}

template <class Db>
Result<EditOutcome, StoreError> SqlStore<Db>::modifyProvisioning(const ProvisioningEdit& edit) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  auto stored = loadLocked();
  if (!stored) return Err{stored.error()};
  EditOutcome out;
  out.before = *stored;
  Provisioning next = *stored;
  if (auto r = edit(next); !r) {
    out.refused = true;
    out.refusal = r.error();
    return out;  // the transaction rolls back: nothing was written
  }
  if (auto r = checkNames(next); !r) {
    out.refused = true;
    out.refusal = EditRefused{409, "name", r.error().message};
    return out;
  }
  auto sum = importLocked(*stored, next, /*prune=*/true);
  if (!sum) return Err{sum.error()};
  out.summary = *sum;
  auto v = provisioningVersion();
  if (!v) return Err{v.error()};
  out.version = *v;
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return out;
}

template <class Db>
Result<ImportSummary, StoreError> SqlStore<Db>::importLocked(const Provisioning& storedSet,
                                                             const Provisioning& p, bool prune) {
  const Provisioning* stored = &storedSet;
  auto oldMapping = storedByName(stored->mappingGateways);
  auto oldRouting = storedByName(stored->routingGateways);

  ImportSummary sum;
  const int64_t now = SystemClock().wallMicros();

  for (const auto& g : p.mappingGateways) {
    const ImportStep step = importStep(oldMapping, g, sameMapping, &sum);
    if (step == ImportStep::Unchanged) continue;
    const bool isNew = step == ImportStep::Added;
    auto st = isNew ? c_->prepare(
                          "INSERT INTO mapping_gateway(name, auth, enabled, created_us, "
                          "updated_us, username, realm, ha1_md5, ha1_sha256, register, "
                          "max_contacts, challenge, tls_names, digest_algorithms) "
                          "VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")
                    : c_->prepare(
                          "UPDATE mapping_gateway SET auth = ?2, enabled = ?3, updated_us = ?4, "
                          "username = ?5, realm = ?6, ha1_md5 = ?7, ha1_sha256 = ?8, "
                          "register = ?9, max_contacts = ?10, challenge = ?11, tls_names = ?12, "
                          "digest_algorithms = ?13 WHERE name = ?1");
    if (!st) return Err{st.error()};
    // Never the clear password: only its HA1s (hashPasswords() ran before).
    st->bind(1, g.name)
        .bind(2, admission::authModeName(g.auth))
        .bind(3, g.enabled)
        .bind(4, now)
        .bind(5, g.username)
        .bind(6, g.realm)
        .bind(7, g.ha1Md5)
        .bind(8, g.ha1Sha256)
        .bind(9, g.registers)
        .bind(10, g.maxContacts)
        .bind(11, g.hasChallenge ? admission::challengeModeName(g.challenge) : "")
        .bind(12, joinList(g.tlsNames))
        .bind(13, joinAlgorithms(g.digestAlgorithms));
    if (auto r = st->run("write mapping_gateway"); !r) return Err{r.error()};
    if (auto r = insertMappingChildren(g); !r) return Err{r.error()};
  }

  for (const auto& g : p.routingGateways) {
    const ImportStep step = importStep(oldRouting, g, sameRouting, &sum);
    if (step == ImportStep::Unchanged) continue;
    const bool isNew = step == ImportStep::Added;
    auto st = isNew ? c_->prepare(
                          "INSERT INTO routing_gateway(name, address, transport, priority, "
                          "strip_digits, add_prefix, enabled, created_us, updated_us, "
                          "auth_username, auth_password, register, register_expires) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12)")
                    : c_->prepare(
                          "UPDATE routing_gateway SET address = ?2, transport = ?3, "
                          "priority = ?4, strip_digits = ?5, add_prefix = ?6, enabled = ?7, "
                          "updated_us = ?8, auth_username = ?9, auth_password = ?10, "
                          "register = ?11, register_expires = ?12 WHERE name = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, g.name)
        .bind(2, g.address)
        .bind(3, g.transport)
        .bind(4, g.priority)
        .bind(5, g.stripDigits)
        .bind(6, g.addPrefix)
        .bind(7, g.enabled)
        .bind(8, now)
        .bind(9, g.authUsername)
        .bind(10, g.authPassword)
        .bind(11, g.registers)
        .bind(12, g.registerExpires);
    if (auto r = st->run("write routing_gateway"); !r) return Err{r.error()};
    if (auto r = insertRoutingChildren(g); !r) return Err{r.error()};
  }

  // What is left in oldMapping/oldRouting was stored but is absent from `p`.
  if (prune) {
    // Deleting a gateway cascades to its addresses or prefixes.
    if (auto r = deleteLeft(*c_, "DELETE FROM mapping_gateway WHERE name = ?1",
                            "delete mapping_gateway", oldMapping, &sum);
        !r) {
      return Err{r.error()};
    }
    if (auto r = deleteLeft(*c_, "DELETE FROM routing_gateway WHERE name = ?1",
                            "delete routing_gateway", oldRouting, &sum);
        !r) {
      return Err{r.error()};
    }
  }

  // Call policy: gateway policy rows, accounts, fraud rules.
  if (auto r = importPolicyTables(*c_, p, *stored, prune, &sum); !r) {
    return Err{r.error()};
  }

  // The version moves only on a real change, so pollers reload only then.
  if (sum.added + sum.updated + sum.removed > 0) {
    auto st = c_->prepare("UPDATE meta SET value = value + 1 WHERE key = 'provisioning_version'");
    if (!st) return Err{st.error()};
    if (auto r = st->run("bump provisioning_version"); !r) return Err{r.error()};
  }
  return sum;
}

// INSERT of one CDR returning its id; with a uid (bound last), one that
// skips a uid already stored (and returns no row then).
std::string cdrInsertSql(bool withUid) {
  std::string sql =
      std::string("INSERT INTO cdr(") + kCdrColumns + (withUid ? ", uid" : "") + ") VALUES (";
  const int n = kCdrColumnCount + (withUid ? 1 : 0);
  for (int i = 1; i <= n; ++i) sql += (i > 1 ? ", ?" : "?") + std::to_string(i);
  sql += withUid ? ") ON CONFLICT (uid) DO NOTHING RETURNING id" : ") RETURNING id";
  return sql;
}

// PostgreSQL, CDRs with uids: the whole batch in one statement (unnest of
// one array per column), skipping uids already stored; ids come back by uid.
Result<Ok, StoreError> writePgCdrBatch(detail::PgConnection& c, std::vector<call::Cdr>& cdrs,
                                       const std::vector<std::string>& uids) {
  CdrArrays arrays;
  std::string uidArray;
  for (size_t i = 0; i < cdrs.size(); ++i) {
    bindCdr(arrays, cdrs[i]);
    uidArray += (i ? "," : "") + CdrArrays::quote(uids[i]);
  }
  std::string sql = std::string("INSERT INTO cdr(") + kCdrColumns + ", uid) SELECT * FROM unnest(";
  for (int i = 1; i <= kCdrColumnCount; ++i) {
    sql += "?" + std::to_string(i) + "::" + arrays.type(i) + "[], ";
  }
  sql += "?" + std::to_string(kCdrColumnCount + 1) +
         "::text[]) ON CONFLICT (uid) DO NOTHING RETURNING id, uid";
  auto st = c.prepare(sql);
  if (!st) return Err{st.error()};
  for (int i = 1; i <= kCdrColumnCount; ++i) st->bind(i, arrays.literal(i));
  st->bind(kCdrColumnCount + 1, "{" + uidArray + "}");
  std::map<std::string, int64_t> ids;
  while (st->next()) ids.emplace(st->text(1), st->int64(0));
  if (st->failed()) return Err{st->error("insert cdr")};
  for (size_t i = 0; i < cdrs.size(); ++i) {
    auto it = ids.find(uids[i]);
    cdrs[i].id = it == ids.end() ? 0 : it->second;
  }
  return Ok{};
}

template <class Db>
Result<Ok, StoreError> SqlStore<Db>::writeCdrRows(std::vector<call::Cdr>& cdrs,
                                                  const std::vector<std::string>* uids) {
  if (cdrs.empty()) return Ok{};
  if constexpr (std::is_same_v<Db, detail::PgConnection>) {
    if (uids != nullptr) {
      // One statement is one transaction: nothing or all of the batch.
      auto r = writePgCdrBatch(*c_, cdrs, *uids);
      if (!r) {
        for (auto& d : cdrs) d.id = 0;
      }
      return r;
    }
  }
  auto txn = c_->beginAppend();
  if (!txn) return Err{txn.error()};
  static const std::string plain = cdrInsertSql(false);
  static const std::string once = cdrInsertSql(true);
  auto st = c_->prepare(uids != nullptr ? once : plain);
  if (!st) return Err{st.error()};
  for (size_t i = 0; i < cdrs.size(); ++i) {
    call::Cdr& c = cdrs[i];
    st->reset();
    bindCdr(*st, c);
    if (uids != nullptr) st->bind(kCdrColumnCount + 1, (*uids)[i]);
    c.id = st->next() ? st->int64(0) : 0;
    if (st->failed()) {
      for (auto& d : cdrs) d.id = 0;  // nothing was written
      return Err{st->error("insert cdr")};
    }
  }
  st->reset();  // SQLite: finish the statement before the commit
  if (auto r = txn->commit(); !r) {
    for (auto& d : cdrs) d.id = 0;
    return r;
  }
  return Ok{};
}

template <class Db>
Result<Ok, StoreError> SqlStore<Db>::writeCdrs(std::vector<call::Cdr>& cdrs) {
  return writeCdrRows(cdrs, nullptr);
}

template <class Db>
Result<Ok, StoreError> SqlStore<Db>::writeCdrsOnce(std::vector<call::Cdr>& cdrs,
                                                   const std::vector<std::string>& uids) {
  if (uids.size() != cdrs.size()) return Err{StoreError{"writeCdrsOnce: one uid per CDR"}};
  if constexpr (std::is_same_v<Db, detail::PgConnection>) {
    return writeCdrRows(cdrs, &uids);
  } else {
    return writeCdrRows(cdrs, nullptr);  // no uid column in the one-node file
  }
}

template <class Db>
Result<size_t, StoreError> SqlStore<Db>::purgeCdrs(int64_t beforeUs, size_t batch) {
  auto st = c_->prepare(
      "DELETE FROM cdr WHERE id IN (SELECT id FROM cdr WHERE start_us < ?1 ORDER BY start_us "
      "LIMIT ?2)");
  if (!st) return Err{st.error()};
  st->bind(1, beforeUs).bind(2, static_cast<int64_t>(batch));
  if (auto r = st->run("purge cdr"); !r) return Err{r.error()};
  return c_->changes();
}

template <class Db>
Result<std::vector<call::Cdr>, StoreError> SqlStore<Db>::listCdrs(const CdrQuery& q) {
  std::vector<call::Cdr> out;
  const size_t limit = std::min(q.limit, kMaxCdrListLimit);
  if (limit == 0) return out;
  if (!q.reason.empty() && !call::reasonFromName(q.reason)) {
    return Err{StoreError{"unknown termination reason '" + q.reason + "'"}};
  }

  // Only the conditions in use are in the SQL (rather than
  // "(?2 = '' OR reason = ?2)"), so SQLite can use the indexes on reason,
  // mapping_gateway, caller/callee and start_us. Each combination is one
  // cached statement (at most 2^7).
  std::string sql = std::string("SELECT id, ") + kCdrColumns + " FROM cdr WHERE id < ?1";
  if (!q.reason.empty()) sql += " AND reason = ?2";
  if (!q.mappingGateway.empty()) sql += " AND mapping_gateway = ?3";
  if (q.startFromUs > 0) sql += " AND start_us >= ?5";
  if (q.startBeforeUs > 0) sql += " AND start_us < ?6";
  if (!q.routingGateway.empty()) sql += " AND routing_gateway = ?7";
  if (!q.gateway.empty()) sql += " AND (mapping_gateway = ?8 OR routing_gateway = ?8)";
  if (!q.number.empty()) sql += " AND (caller = ?9 OR callee = ?9)";
  if (q.afterId > 0) sql += " AND id > ?10";
  sql += " ORDER BY id DESC LIMIT ?4";

  auto st = c_->prepare(sql);
  if (!st) return Err{st.error()};
  st->bind(1, q.beforeId > 0 ? q.beforeId : std::numeric_limits<int64_t>::max());
  if (!q.reason.empty()) st->bind(2, q.reason);
  if (!q.mappingGateway.empty()) st->bind(3, q.mappingGateway);
  st->bind(4, static_cast<int64_t>(limit));
  if (q.startFromUs > 0) st->bind(5, q.startFromUs);
  if (q.startBeforeUs > 0) st->bind(6, q.startBeforeUs);
  if (!q.routingGateway.empty()) st->bind(7, q.routingGateway);
  if (!q.gateway.empty()) st->bind(8, q.gateway);
  if (!q.number.empty()) st->bind(9, q.number);
  if (q.afterId > 0) st->bind(10, q.afterId);

  while (st->next()) {
    call::Cdr c;
    c.id = st->int64(0);
    readCdr(*st, 1, c);
    out.push_back(std::move(c));
  }
  if (st->failed()) return Err{st->error("read cdr")};
  return out;
}

}  // namespace

Result<std::unique_ptr<Store>, StoreError> openSqliteStore(const std::string& path) {
  auto c = detail::openMigratedSqlite(path);
  if (!c) return Err{c.error()};
  return std::unique_ptr<Store>(
      std::make_unique<SqlStore<detail::SqliteConnection>>(std::move(c).value()));
}

Result<std::unique_ptr<Store>, StoreError> openPgStore(const PgTarget& target) {
  auto c = detail::openMigratedPg(target);
  if (!c) return Err{c.error()};
  return std::unique_ptr<Store>(
      std::make_unique<SqlStore<detail::PgConnection>>(std::move(c).value()));
}

}  // namespace tollgate::store
