// SQLite implementation of PolicyStore (policy_store.h): only its queries.
// Its own connection to the same file as the Store, with the same sharing
// rules (WAL, busy timeout, BEGIN IMMEDIATE for writes; docs/store.md), from
// the same foundation (sqlite_connection.h) and migrations.
#include <algorithm>
#include <set>
#include <string_view>

#include "common/clock.h"
#include "store/pg_backend.h"
#include "store/pg_migrations.h"
#include "store/policy_store.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_migrations.h"

namespace tollgate::store {
namespace {

using admission::BlacklistEntry;
using admission::ListKind;
using admission::NumberList;
using admission::NumberSide;

int64_t wallNowUs() {
  return SystemClock().wallMicros();
}

template <class Db>
class SqlPolicyStore final : public PolicyStore {
 public:
  explicit SqlPolicyStore(std::unique_ptr<Db> c) : c_(std::move(c)) {}

  Result<std::vector<NumberListSummary>, StoreError> numberLists() override;
  Result<NumberList, StoreError> numberList(const std::string& name) override;
  Result<std::vector<NumberList>, StoreError> loadNumberLists() override;
  Result<Ok, StoreError> createNumberList(const std::string& name, ListKind kind,
                                          const std::string& description) override;
  Result<Ok, StoreError> deleteNumberList(const std::string& name) override;
  Result<size_t, StoreError> addNumbers(const std::string& name,
                                        const std::vector<std::string>& patterns) override;
  Result<size_t, StoreError> removeNumbers(const std::string& name,
                                           const std::vector<std::string>& patterns) override;
  Result<size_t, StoreError> replaceNumbers(const std::string& name,
                                            const std::vector<std::string>& patterns) override;

  Result<std::vector<BlacklistEntry>, StoreError> loadBlacklist(int64_t nowUs) override;
  Result<Ok, StoreError> writeBlacklist(const std::vector<BlacklistWrite>& writes) override;
  Result<Ok, StoreError> addBlacklistEntry(const BlacklistEntry& e, bool cutCalls) override;
  Result<size_t, StoreError> removeBlacklistEntries(const std::string& number,
                                                    std::optional<NumberSide> side) override;
  Result<size_t, StoreError> clearBlacklist() override;
  Result<std::vector<BlacklistChange>, StoreError> blacklistChangesSince(int64_t id,
                                                                         size_t limit) override;
  Result<int64_t, StoreError> lastBlacklistChange() override;
  Result<Ok, StoreError> pruneBlacklist(int64_t nowUs, int64_t changesBeforeUs) override;

  Result<Ok, StoreError> saveCounters(
      const std::vector<std::pair<std::string, std::string>>& blobs) override;
  Result<std::optional<std::string>, StoreError> loadCounters(const std::string& name) override;

 private:
  // Inside a write transaction: the list must exist; touches updated_us and
  // bumps the provisioning version (running nodes reload).
  Result<Ok, StoreError> touchList(const std::string& name);
  Result<size_t, StoreError> listSize(const std::string& name);
  // Runs `sql` once per pattern (?1 the list, ?2 the pattern) inside the
  // caller's transaction; the rows it changed.
  Result<size_t, StoreError> eachPattern(const std::string& name,
                                         const std::vector<std::string>& patterns,
                                         std::string_view sql, std::string_view what);
  Result<Ok, StoreError> logChange(std::string_view action, const BlacklistEntry& e,
                                   std::string_view side, bool cutCalls);

  std::unique_ptr<Db> c_;
};

template <class Db>
Result<std::vector<NumberListSummary>, StoreError> SqlPolicyStore<Db>::numberLists() {
  auto st = c_->prepare(
      "SELECT l.name, l.kind, l.description, l.created_us, l.updated_us, "
      "(SELECT count(*) FROM number_list_entry e WHERE e.list = l.name) "
      "FROM number_list l ORDER BY l.name");
  if (!st) return Err{st.error()};
  std::vector<NumberListSummary> out;
  while (st->next()) {
    NumberListSummary s;
    s.name = st->text(0);
    if (!admission::parseListKind(st->text(1), &s.kind)) continue;
    s.description = st->text(2);
    s.createdUs = st->int64(3);
    s.updatedUs = st->int64(4);
    s.entries = static_cast<size_t>(st->int64(5));
    out.push_back(std::move(s));
  }
  if (st->failed()) return Err{st->error("read number_list")};
  return out;
}

template <class Db>
Result<NumberList, StoreError> SqlPolicyStore<Db>::numberList(const std::string& name) {
  auto txn = c_->beginRead();
  if (!txn) return Err{txn.error()};
  NumberList l;
  {
    auto st = c_->prepare("SELECT kind, description FROM number_list WHERE name = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, name);
    if (!st->next()) {
      if (st->failed()) return Err{st->error("read number_list")};
      return Err{StoreError{"no number list named '" + name + "'"}};
    }
    if (!admission::parseListKind(st->text(0), &l.kind)) return Err{st->error("read number_list")};
    l.name = name;
    l.description = st->text(1);
  }
  auto st = c_->prepare("SELECT pattern FROM number_list_entry WHERE list = ?1 ORDER BY pattern");
  if (!st) return Err{st.error()};
  st->bind(1, name);
  while (st->next()) l.patterns.push_back(st->text(0));
  if (st->failed()) return Err{st->error("read number_list_entry")};
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return l;
}

template <class Db>
Result<std::vector<NumberList>, StoreError> SqlPolicyStore<Db>::loadNumberLists() {
  auto txn = c_->beginRead();
  if (!txn) return Err{txn.error()};
  std::vector<NumberList> out;
  {
    auto st = c_->prepare("SELECT name, kind, description FROM number_list ORDER BY name");
    if (!st) return Err{st.error()};
    while (st->next()) {
      NumberList l;
      l.name = st->text(0);
      if (!admission::parseListKind(st->text(1), &l.kind)) continue;
      l.description = st->text(2);
      out.push_back(std::move(l));
    }
    if (st->failed()) return Err{st->error("read number_list")};
  }
  auto st = c_->prepare("SELECT list, pattern FROM number_list_entry ORDER BY list, pattern");
  if (!st) return Err{st.error()};
  size_t i = 0;
  while (st->next()) {
    const std::string list = st->text(0);
    while (i < out.size() && out[i].name < list) ++i;
    if (i < out.size() && out[i].name == list) out[i].patterns.push_back(st->text(1));
  }
  if (st->failed()) return Err{st->error("read number_list_entry")};
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return out;
}

template <class Db>
Result<Ok, StoreError> SqlPolicyStore<Db>::touchList(const std::string& name) {
  auto st = c_->prepare("UPDATE number_list SET updated_us = ?2 WHERE name = ?1");
  if (!st) return Err{st.error()};
  st->bind(1, name).bind(2, wallNowUs());
  if (auto r = st->run("update number_list"); !r) return r;
  if (c_->changes() == 0) return Err{StoreError{"no number list named '" + name + "'"}};
  auto v = c_->prepare("UPDATE meta SET value = value + 1 WHERE key = 'provisioning_version'");
  if (!v) return Err{v.error()};
  return v->run("bump provisioning_version");
}

template <class Db>
Result<size_t, StoreError> SqlPolicyStore<Db>::listSize(const std::string& name) {
  auto st = c_->prepare("SELECT count(*) FROM number_list_entry WHERE list = ?1");
  if (!st) return Err{st.error()};
  st->bind(1, name);
  if (!st->next()) return Err{st->error("count number_list_entry")};
  return static_cast<size_t>(st->int64(0));
}

template <class Db>
Result<Ok, StoreError> SqlPolicyStore<Db>::createNumberList(const std::string& name, ListKind kind,
                                                            const std::string& description) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  {
    auto st = c_->prepare("SELECT kind FROM number_list WHERE name = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, name);
    if (st->next()) {
      return Err{StoreError{"a number list named '" + name + "' exists already (" + st->text(0) +
                            " list)"}};
    }
  }
  {
    auto st = c_->prepare("SELECT count(*) FROM number_list");
    if (!st) return Err{st.error()};
    if (!st->next()) return Err{st->error("count number_list")};
    if (static_cast<size_t>(st->int64(0)) >= admission::kMaxNumberLists) {
      return Err{
          StoreError{"at most " + std::to_string(admission::kMaxNumberLists) + " number lists"}};
    }
  }
  const int64_t now = wallNowUs();
  auto st = c_->prepare(
      "INSERT INTO number_list(name, kind, description, created_us, updated_us) "
      "VALUES (?1, ?2, ?3, ?4, ?4)");
  if (!st) return Err{st.error()};
  st->bind(1, name).bind(2, admission::listKindName(kind)).bind(3, description).bind(4, now);
  if (auto r = st->run("insert number_list"); !r) return r;
  if (auto r = touchList(name); !r) return r;
  return txn->commit();
}

template <class Db>
Result<Ok, StoreError> SqlPolicyStore<Db>::deleteNumberList(const std::string& name) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  // A list in use must not vanish under a gateway: the gateway would lose a
  // black list silently, or (a white list) refuse every call.
  std::string users;
  {
    auto refs = c_->prepare(
        "SELECT 'mapping gateway ' || gateway FROM mapping_gateway_policy "
        "WHERE instr(',' || caller_lists || ',' || callee_lists || ',', ',' || ?1 || ',') > 0 "
        "UNION ALL SELECT 'routing gateway ' || gateway FROM routing_gateway_policy "
        "WHERE instr(',' || caller_lists || ',' || callee_lists || ',', ',' || ?1 || ',') > 0 "
        "UNION ALL SELECT 'account ' || name FROM account "
        "WHERE instr(',' || caller_lists || ',' || callee_lists || ',', ',' || ?1 || ',') > 0 "
        "LIMIT 5");
    if (!refs) return Err{refs.error()};
    refs->bind(1, name);
    while (refs->next()) users += (users.empty() ? "" : ", ") + refs->text(0);
    if (refs->failed()) return Err{refs->error("read number list users")};
  }
  if (!users.empty()) {
    return Err{StoreError{"number list '" + name + "' is still used by " + users +
                          "; detach it first (import the gateway without it)"}};
  }
  if (auto r = touchList(name); !r) return r;
  auto st = c_->prepare("DELETE FROM number_list WHERE name = ?1");  // cascades to the entries
  if (!st) return Err{st.error()};
  st->bind(1, name);
  if (auto r = st->run("delete number_list"); !r) return r;
  return txn->commit();
}

constexpr std::string_view kInsertPattern =
    "INSERT INTO number_list_entry(list, pattern) VALUES (?1, ?2) ON CONFLICT DO NOTHING";

template <class Db>
Result<size_t, StoreError> SqlPolicyStore<Db>::eachPattern(const std::string& name,
                                                           const std::vector<std::string>& patterns,
                                                           std::string_view sql,
                                                           std::string_view what) {
  auto st = c_->prepare(sql);
  if (!st) return Err{st.error()};
  size_t changed = 0;
  for (const std::string& p : patterns) {
    st->reset();
    st->bind(1, name).bind(2, p);
    if (auto r = st->run(what); !r) return Err{r.error()};
    changed += c_->changes();
  }
  return changed;
}

template <class Db>
Result<size_t, StoreError> SqlPolicyStore<Db>::addNumbers(
    const std::string& name, const std::vector<std::string>& patterns) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  if (auto r = touchList(name); !r) return Err{r.error()};
  auto added = eachPattern(name, patterns, kInsertPattern, "insert number_list_entry");
  if (!added) return added;
  auto size = listSize(name);
  if (!size) return Err{size.error()};
  if (*size > admission::kMaxPatternsPerList) {
    return Err{StoreError{"a number list holds at most " +
                          std::to_string(admission::kMaxPatternsPerList) + " patterns"}};
  }
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return added;
}

template <class Db>
Result<size_t, StoreError> SqlPolicyStore<Db>::removeNumbers(
    const std::string& name, const std::vector<std::string>& patterns) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  if (auto r = touchList(name); !r) return Err{r.error()};
  auto removed =
      eachPattern(name, patterns, "DELETE FROM number_list_entry WHERE list = ?1 AND pattern = ?2",
                  "delete number_list_entry");
  if (!removed) return removed;
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return removed;
}

template <class Db>
Result<size_t, StoreError> SqlPolicyStore<Db>::replaceNumbers(
    const std::string& name, const std::vector<std::string>& patterns) {
  if (patterns.size() > admission::kMaxPatternsPerList) {
    return Err{StoreError{"a number list holds at most " +
                          std::to_string(admission::kMaxPatternsPerList) + " patterns"}};
  }
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  if (auto r = touchList(name); !r) return Err{r.error()};
  {
    auto del = c_->prepare("DELETE FROM number_list_entry WHERE list = ?1");
    if (!del) return Err{del.error()};
    del->bind(1, name);
    if (auto r = del->run("delete number_list_entry"); !r) return Err{r.error()};
  }
  if (auto r = eachPattern(name, patterns, kInsertPattern, "insert number_list_entry"); !r) {
    return r;
  }
  auto size = listSize(name);
  if (!size) return Err{size.error()};
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return *size;
}

namespace {
template <class St>
BlacklistEntry entryFrom(const St& st) {
  // number, side, rule, gateway, enforced, created_us, last_hit_us, expires_us, hits
  BlacklistEntry e;
  e.number = st.text(0);
  admission::parseSide(st.text(1), &e.side);
  if (!admission::parseRule(st.text(2), &e.rule)) e.rule = admission::BlacklistRule::Manual;
  e.gateway = st.text(3);
  e.enforced = st.int64(4) != 0;
  e.createdUs = st.int64(5);
  e.lastHitUs = st.int64(6);
  e.expiresUs = st.int64(7);
  e.hits = static_cast<uint64_t>(st.int64(8));
  return e;
}

constexpr const char* kUpsertEntry =
    "INSERT INTO dynamic_blacklist(number, side, rule, gateway, enforced, created_us, "
    "last_hit_us, expires_us, hits) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
    "ON CONFLICT(number, side) DO UPDATE SET rule = ?3, gateway = ?4, enforced = ?5, "
    "created_us = ?6, last_hit_us = ?7, expires_us = ?8, hits = ?9";

template <class St>
void bindEntry(St& st, const BlacklistEntry& e) {
  st.bind(1, e.number)
      .bind(2, admission::sideName(e.side))
      .bind(3, admission::ruleName(e.rule))
      .bind(4, e.gateway)
      .bind(5, e.enforced)
      .bind(6, e.createdUs)
      .bind(7, e.lastHitUs)
      .bind(8, e.expiresUs)
      .bind(9, static_cast<int64_t>(e.hits));
}
}  // namespace

template <class Db>
Result<std::vector<BlacklistEntry>, StoreError> SqlPolicyStore<Db>::loadBlacklist(int64_t nowUs) {
  auto st = c_->prepare(
      "SELECT number, side, rule, gateway, enforced, created_us, last_hit_us, "
      "expires_us, hits FROM dynamic_blacklist WHERE expires_us > ?1 "
      "ORDER BY number, side");
  if (!st) return Err{st.error()};
  st->bind(1, nowUs);
  std::vector<BlacklistEntry> out;
  while (st->next()) out.push_back(entryFrom(*st));
  if (st->failed()) return Err{st->error("read dynamic_blacklist")};
  return out;
}

template <class Db>
Result<Ok, StoreError> SqlPolicyStore<Db>::writeBlacklist(const std::vector<BlacklistWrite>& ws) {
  if (ws.empty()) return Ok{};
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  auto up = c_->prepare(kUpsertEntry);
  if (!up) return Err{up.error()};
  auto del = c_->prepare("DELETE FROM dynamic_blacklist WHERE number = ?1 AND side = ?2");
  if (!del) return Err{del.error()};
  for (const BlacklistWrite& w : ws) {
    typename Db::Statement& st = w.erase ? *del : *up;
    st.reset();
    if (w.erase) {
      st.bind(1, w.entry.number).bind(2, admission::sideName(w.entry.side));
    } else {
      bindEntry(st, w.entry);
    }
    if (auto r = st.run("write dynamic_blacklist"); !r) return r;
  }
  return txn->commit();
}

template <class Db>
Result<Ok, StoreError> SqlPolicyStore<Db>::logChange(std::string_view action,
                                                     const BlacklistEntry& e, std::string_view side,
                                                     bool cutCalls) {
  auto st = c_->prepare(
      "INSERT INTO blacklist_change(action, number, side, rule, enforced, expires_us, "
      "cut_calls, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!st) return Err{st.error()};
  st->bind(1, action)
      .bind(2, e.number)
      .bind(3, side)
      .bind(4, admission::ruleName(e.rule))
      .bind(5, e.enforced)
      .bind(6, e.expiresUs)
      .bind(7, cutCalls)
      .bind(8, wallNowUs());
  return st->run("insert blacklist_change");
}

template <class Db>
Result<Ok, StoreError> SqlPolicyStore<Db>::addBlacklistEntry(const BlacklistEntry& e,
                                                             bool cutCalls) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  {
    auto st = c_->prepare(kUpsertEntry);
    if (!st) return Err{st.error()};
    bindEntry(*st, e);
    if (auto r = st->run("write dynamic_blacklist"); !r) return r;
  }
  if (auto r = logChange("add", e, admission::sideName(e.side), cutCalls); !r) return r;
  return txn->commit();
}

template <class Db>
Result<size_t, StoreError> SqlPolicyStore<Db>::removeBlacklistEntries(
    const std::string& number, std::optional<NumberSide> side) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  size_t n = 0;
  {
    auto st = c_->prepare(side ? "DELETE FROM dynamic_blacklist WHERE number = ?1 AND side = ?2"
                               : "DELETE FROM dynamic_blacklist WHERE number = ?1");
    if (!st) return Err{st.error()};
    st->bind(1, number);
    if (side) st->bind(2, admission::sideName(*side));
    if (auto r = st->run("delete dynamic_blacklist"); !r) return Err{r.error()};
    n = c_->changes();
  }
  BlacklistEntry e;
  e.number = number;
  // Logged even when the row was gone: the node may hold an entry it has
  // not written yet.
  if (auto r = logChange("remove", e, side ? admission::sideName(*side) : "", false); !r) {
    return Err{r.error()};
  }
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return n;
}

template <class Db>
Result<size_t, StoreError> SqlPolicyStore<Db>::clearBlacklist() {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  size_t n = 0;
  {
    auto st = c_->prepare("DELETE FROM dynamic_blacklist");
    if (!st) return Err{st.error()};
    if (auto r = st->run("delete dynamic_blacklist"); !r) return Err{r.error()};
    n = c_->changes();
  }
  if (auto r = logChange("clear", BlacklistEntry{}, "", false); !r) return Err{r.error()};
  if (auto r = txn->commit(); !r) return Err{r.error()};
  return n;
}

template <class Db>
Result<std::vector<BlacklistChange>, StoreError> SqlPolicyStore<Db>::blacklistChangesSince(
    int64_t id, size_t limit) {
  auto st = c_->prepare(
      "SELECT id, action, number, side, rule, enforced, expires_us, cut_calls, "
      "created_us FROM blacklist_change WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!st) return Err{st.error()};
  st->bind(1, id).bind(2, static_cast<int64_t>(limit));
  std::vector<BlacklistChange> out;
  while (st->next()) {
    BlacklistChange c;
    c.id = st->int64(0);
    const std::string action = st->text(1);
    c.action = action == "add"      ? BlacklistChange::Action::Add
               : action == "remove" ? BlacklistChange::Action::Remove
                                    : BlacklistChange::Action::Clear;
    c.entry.number = st->text(2);
    c.bothSides = !admission::parseSide(st->text(3), &c.entry.side);
    if (!admission::parseRule(st->text(4), &c.entry.rule))
      c.entry.rule = admission::BlacklistRule::Manual;
    c.entry.enforced = st->int64(5) != 0;
    c.entry.expiresUs = st->int64(6);
    c.cutCalls = st->int64(7) != 0;
    c.entry.createdUs = c.entry.lastHitUs = st->int64(8);
    out.push_back(std::move(c));
  }
  if (st->failed()) return Err{st->error("read blacklist_change")};
  return out;
}

template <class Db>
Result<int64_t, StoreError> SqlPolicyStore<Db>::lastBlacklistChange() {
  auto st = c_->prepare("SELECT coalesce(max(id), 0) FROM blacklist_change");
  if (!st) return Err{st.error()};
  if (!st->next()) return Err{st->error("read blacklist_change")};
  return st->int64(0);
}

template <class Db>
Result<Ok, StoreError> SqlPolicyStore<Db>::pruneBlacklist(int64_t nowUs, int64_t changesBeforeUs) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  {
    auto st = c_->prepare("DELETE FROM dynamic_blacklist WHERE expires_us <= ?1");
    if (!st) return Err{st.error()};
    st->bind(1, nowUs);
    if (auto r = st->run("prune dynamic_blacklist"); !r) return r;
  }
  {
    // Keep the newest change row whatever its age: AUTOINCREMENT ids never go
    // back anyway, but an empty table is easier to reason about when reading.
    auto st = c_->prepare(
        "DELETE FROM blacklist_change WHERE created_us < ?1 "
        "AND id < (SELECT max(id) FROM blacklist_change)");
    if (!st) return Err{st.error()};
    st->bind(1, changesBeforeUs);
    if (auto r = st->run("prune blacklist_change"); !r) return r;
  }
  return txn->commit();
}

template <class Db>
Result<Ok, StoreError> SqlPolicyStore<Db>::saveCounters(
    const std::vector<std::pair<std::string, std::string>>& blobs) {
  if (blobs.empty()) return Ok{};
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  {
    auto st = c_->prepare(
        "INSERT INTO policy_counters(name, saved_us, data) VALUES (?1, ?2, ?3) "
        "ON CONFLICT(name) DO UPDATE SET saved_us = ?2, data = ?3");
    if (!st) return Err{st.error()};
    for (const auto& [name, blob] : blobs) {
      st->reset();
      st->bind(1, name).bind(2, wallNowUs()).bindBlob(3, blob);
      if (auto r = st->run("write policy_counters"); !r) return r;
    }
  }
  return txn->commit();
}

template <class Db>
Result<std::optional<std::string>, StoreError> SqlPolicyStore<Db>::loadCounters(
    const std::string& name) {
  auto st = c_->prepare("SELECT data FROM policy_counters WHERE name = ?1");
  if (!st) return Err{st.error()};
  st->bind(1, name);
  if (!st->next()) {
    if (st->failed()) return Err{st->error("read policy_counters")};
    return std::optional<std::string>();
  }
  return std::optional<std::string>(st->blob(0));
}

}  // namespace

Result<std::unique_ptr<PolicyStore>, StoreError> openSqlitePolicyStore(const std::string& path) {
  auto c = detail::openMigratedSqliteFile(path, "the policy store");
  if (!c) return Err{c.error()};
  return std::unique_ptr<PolicyStore>(
      std::make_unique<SqlPolicyStore<detail::SqliteConnection>>(std::move(c).value()));
}

Result<std::unique_ptr<PolicyStore>, StoreError> openPgPolicyStore(const PgTarget& target) {
  auto c = detail::openMigratedPg(target);
  if (!c) return Err{c.error()};
  return std::unique_ptr<PolicyStore>(
      std::make_unique<SqlPolicyStore<detail::PgConnection>>(std::move(c).value()));
}

}  // namespace tollgate::store
