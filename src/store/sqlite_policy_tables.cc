// Gateway policy, accounts and fraud rules in SQLite. See
// sqlite_policy_tables.h; the schema is migrations 3 and 7 in sqlite_migrations.cc.
#include "store/sqlite_policy_tables.h"

#include <map>
#include <set>
#include <string_view>

#include "common/clock.h"
#include "store/sqlite_columns.h"

namespace tollgate::store {

using admission::Account;
using admission::FraudRule;
using admission::MappingGateway;
using admission::Provisioning;
using admission::RoutingGateway;

Result<Ok, StoreError> importPolicyTables(detail::SqliteConnection& c, const Provisioning& p,
                                          const Provisioning& stored, bool prune,
                                          ImportSummary* sum) {
  if (auto r = checkImportNames(p.accounts, "account"); !r) return r;
  if (auto r = checkImportNames(p.fraudRules, "fraud rule"); !r) return r;
  const int64_t now = SystemClock().wallMicros();

  const auto oldMapping = storedByName(stored.mappingGateways);
  for (const MappingGateway& g : p.mappingGateways) {
    auto it = oldMapping.find(g.name);
    if (it != oldMapping.end() && it->second->policy == g.policy) continue;
    auto st = c.prepare(
        "INSERT OR REPLACE INTO mapping_gateway_policy(gateway, account, cps, cps_burst, "
        "max_concurrent, max_duration, caller_lists, callee_lists, dynamic_blacklist, "
        "trust_identity, pass_headers, asserted_identity) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    if (!st) return Err{st.error()};
    const auto& pol = g.policy;
    st->bind(1, g.name)
        .bind(2, pol.account)
        .bind(3, pol.limits.cps)
        .bind(4, pol.limits.cpsBurst)
        .bind(5, pol.limits.maxConcurrent)
        .bind(6, pol.maxDuration)
        .bind(7, joinList(pol.lists.caller))
        .bind(8, joinList(pol.lists.callee))
        .bind(9, pol.dynamicBlacklist)
        .bind(10, pol.trustIdentity)
        .bind(11, joinList(pol.passHeaders))
        .bind(12, pol.assertedIdentity);
    if (auto r = st->run("write mapping_gateway_policy"); !r) return r;
  }

  const auto oldRouting = storedByName(stored.routingGateways);
  for (const RoutingGateway& g : p.routingGateways) {
    auto it = oldRouting.find(g.name);
    if (it != oldRouting.end() && it->second->policy == g.policy) continue;
    auto st = c.prepare(
        "INSERT OR REPLACE INTO routing_gateway_policy(gateway, cps, cps_burst, "
        "max_concurrent, caller_lists, callee_lists, options_check, trust_identity, "
        "pass_headers) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!st) return Err{st.error()};
    const auto& pol = g.policy;
    st->bind(1, g.name)
        .bind(2, pol.limits.cps)
        .bind(3, pol.limits.cpsBurst)
        .bind(4, pol.limits.maxConcurrent)
        .bind(5, joinList(pol.lists.caller))
        .bind(6, joinList(pol.lists.callee))
        .bind(7, pol.optionsCheck)
        .bind(8, pol.trustIdentity)
        .bind(9, joinList(pol.passHeaders));
    if (auto r = st->run("write routing_gateway_policy"); !r) return r;
  }

  const auto equal = [](const auto& a, const auto& b) { return a == b; };
  auto oldAccounts = storedByName(stored.accounts);
  for (const Account& a : p.accounts) {
    if (importStep(oldAccounts, a, equal, sum) == ImportStep::Unchanged) continue;
    auto st = c.prepare(
        "INSERT INTO account(name, cps, cps_burst, max_concurrent, max_duration, "
        "caller_lists, callee_lists, dynamic_blacklist, created_us, updated_us) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) "
        "ON CONFLICT(name) DO UPDATE SET cps = ?2, cps_burst = ?3, max_concurrent = ?4, "
        "max_duration = ?5, caller_lists = ?6, callee_lists = ?7, dynamic_blacklist = ?8, "
        "updated_us = ?9");
    if (!st) return Err{st.error()};
    st->bind(1, a.name)
        .bind(2, a.limits.cps)
        .bind(3, a.limits.cpsBurst)
        .bind(4, a.limits.maxConcurrent)
        .bind(5, a.maxDuration)
        .bind(6, joinList(a.lists.caller))
        .bind(7, joinList(a.lists.callee))
        .bind(8, a.dynamicBlacklist)
        .bind(9, now);
    if (auto r = st->run("write account"); !r) return r;
  }

  auto oldRules = storedByName(stored.fraudRules);
  for (const FraudRule& f : p.fraudRules) {
    if (importStep(oldRules, f, equal, sum) == ImportStep::Unchanged) continue;
    auto st = c.prepare(
        "INSERT INTO fraud_rule(name, account, prefixes, time_window, "
        "calls_per_minute_warning, calls_per_minute_critical, concurrent_warning, "
        "concurrent_critical, sequential_same_number_warning, "
        "sequential_same_number_critical, minutes_per_day_warning, "
        "minutes_per_day_critical, created_us, updated_us) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13) "
        "ON CONFLICT(name) DO UPDATE SET account = ?2, prefixes = ?3, time_window = ?4, "
        "calls_per_minute_warning = ?5, calls_per_minute_critical = ?6, "
        "concurrent_warning = ?7, concurrent_critical = ?8, "
        "sequential_same_number_warning = ?9, sequential_same_number_critical = ?10, "
        "minutes_per_day_warning = ?11, minutes_per_day_critical = ?12, updated_us = ?13");
    if (!st) return Err{st.error()};
    st->bind(1, f.name)
        .bind(2, f.account)
        .bind(3, joinList(f.prefixes))
        .bind(4, f.window)
        .bind(5, f.callsPerMinute.warning)
        .bind(6, f.callsPerMinute.critical)
        .bind(7, f.concurrent.warning)
        .bind(8, f.concurrent.critical)
        .bind(9, f.sequentialSameNumber.warning)
        .bind(10, f.sequentialSameNumber.critical)
        .bind(11, f.minutesPerDay.warning)
        .bind(12, f.minutesPerDay.critical)
        .bind(13, now);
    if (auto r = st->run("write fraud_rule"); !r) return r;
  }

  if (!prune) return Ok{};
  if (auto r =
          deleteLeft(c, "DELETE FROM account WHERE name = ?1", "delete account", oldAccounts, sum);
      !r) {
    return r;
  }
  return deleteLeft(c, "DELETE FROM fraud_rule WHERE name = ?1", "delete fraud_rule", oldRules,
                    sum);
}

Result<Ok, StoreError> loadPolicyTables(detail::SqliteConnection& c, Provisioning* p) {
  std::map<std::string, MappingGateway*, std::less<>> mapping;
  for (auto& g : p->mappingGateways) mapping.emplace(g.name, &g);
  std::map<std::string, RoutingGateway*, std::less<>> routing;
  for (auto& g : p->routingGateways) routing.emplace(g.name, &g);
  {
    auto st = c.prepare(
        "SELECT gateway, account, cps, cps_burst, max_concurrent, max_duration, "
        "caller_lists, callee_lists, dynamic_blacklist, trust_identity, pass_headers, "
        "asserted_identity FROM mapping_gateway_policy");
    if (!st) return Err{st.error()};
    while (st->next()) {
      auto it = mapping.find(st->text(0));
      if (it == mapping.end()) continue;
      auto& pol = it->second->policy;
      pol.account = st->text(1);
      pol.limits.cps = st->real(2);
      pol.limits.cpsBurst = static_cast<int>(st->int64(3));
      pol.limits.maxConcurrent = static_cast<int>(st->int64(4));
      pol.maxDuration = static_cast<int>(st->int64(5));
      pol.lists.caller = splitList(st->text(6), false);
      pol.lists.callee = splitList(st->text(7), false);
      pol.dynamicBlacklist = st->int64(8) != 0;
      pol.trustIdentity = st->int64(9) != 0;
      pol.passHeaders = splitList(st->text(10), false);
      pol.assertedIdentity = st->text(11);
    }
    if (st->failed()) return Err{st->error("read mapping_gateway_policy")};
  }
  {
    auto st = c.prepare(
        "SELECT gateway, cps, cps_burst, max_concurrent, caller_lists, callee_lists, "
        "options_check, trust_identity, pass_headers FROM routing_gateway_policy");
    if (!st) return Err{st.error()};
    while (st->next()) {
      auto it = routing.find(st->text(0));
      if (it == routing.end()) continue;
      auto& pol = it->second->policy;
      pol.limits.cps = st->real(1);
      pol.limits.cpsBurst = static_cast<int>(st->int64(2));
      pol.limits.maxConcurrent = static_cast<int>(st->int64(3));
      pol.lists.caller = splitList(st->text(4), false);
      pol.lists.callee = splitList(st->text(5), false);
      pol.optionsCheck = st->int64(6) != 0;
      pol.trustIdentity = st->int64(7) != 0;
      pol.passHeaders = splitList(st->text(8), false);
    }
    if (st->failed()) return Err{st->error("read routing_gateway_policy")};
  }
  {
    auto st = c.prepare(
        "SELECT name, cps, cps_burst, max_concurrent, max_duration, caller_lists, "
        "callee_lists, dynamic_blacklist FROM account ORDER BY name");
    if (!st) return Err{st.error()};
    while (st->next()) {
      Account a;
      a.name = st->text(0);
      a.limits.cps = st->real(1);
      a.limits.cpsBurst = static_cast<int>(st->int64(2));
      a.limits.maxConcurrent = static_cast<int>(st->int64(3));
      a.maxDuration = static_cast<int>(st->int64(4));
      a.lists.caller = splitList(st->text(5), false);
      a.lists.callee = splitList(st->text(6), false);
      a.dynamicBlacklist = st->int64(7) != 0;
      p->accounts.push_back(std::move(a));
    }
    if (st->failed()) return Err{st->error("read account")};
  }
  {
    auto st = c.prepare(
        "SELECT name, account, prefixes, time_window, calls_per_minute_warning, "
        "calls_per_minute_critical, concurrent_warning, concurrent_critical, "
        "sequential_same_number_warning, sequential_same_number_critical, "
        "minutes_per_day_warning, minutes_per_day_critical FROM fraud_rule ORDER BY name");
    if (!st) return Err{st.error()};
    while (st->next()) {
      FraudRule f;
      f.name = st->text(0);
      f.account = st->text(1);
      f.prefixes = splitList(st->text(2), true);
      f.window = st->text(3);
      auto i = [&](int col) { return static_cast<int>(st->int64(col)); };
      f.callsPerMinute = {i(4), i(5)};
      f.concurrent = {i(6), i(7)};
      f.sequentialSameNumber = {i(8), i(9)};
      f.minutesPerDay = {i(10), i(11)};
      p->fraudRules.push_back(std::move(f));
    }
    if (st->failed()) return Err{st->error("read fraud_rule")};
  }
  return Ok{};
}

}  // namespace tollgate::store
