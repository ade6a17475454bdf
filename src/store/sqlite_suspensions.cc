// SQLite implementation of SuspensionStore (suspension_store.h).
#include "store/pg_backend.h"
#include "store/pg_migrations.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_migrations.h"
#include "store/suspension_store.h"

namespace tollgate::store {
namespace {

template <class St>
bool readSuspension(const St& st, auth::Suspension* s) {
  if (!auth::suspensionKindFromName(st.text(0), &s->kind)) return false;
  s->username = st.text(1);
  auto ip = net::IpAddress::parse(st.text(2));
  if (!ip) return false;
  s->source = *ip;
  s->sinceUs = st.int64(3);
  s->untilUs = st.int64(4);
  s->offenses = static_cast<uint32_t>(st.int64(5));
  s->failures = static_cast<uint32_t>(st.int64(6));
  return true;
}

constexpr const char* kColumns = "kind, username, source, since_us, until_us, offenses, failures";

template <class Db>
class SqlSuspensionStore final : public SuspensionStore {
 public:
  explicit SqlSuspensionStore(std::unique_ptr<Db> c) : c_(std::move(c)) {}

  Result<Ok, StoreError> saveSuspension(const auth::Suspension& s) override {
    // A new suspension of a key replaces the old row, and is not cleared.
    auto st = c_->prepare(
        "INSERT INTO auth_suspension(kind, username, source, since_us, until_us, "
        "offenses, failures, cleared) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0) "
        "ON CONFLICT(kind, username, source) DO UPDATE SET since_us = ?4, until_us = ?5, "
        "offenses = ?6, failures = ?7, cleared = 0");
    if (!st) return Err{st.error()};
    st->bind(1, auth::suspensionKindName(s.kind))
        .bind(2, s.kind == auth::SuspensionKind::Pair ? std::string_view(s.username) : "")
        .bind(3, s.source.toString())
        .bind(4, s.sinceUs)
        .bind(5, s.untilUs)
        .bind(6, static_cast<int64_t>(s.offenses))
        .bind(7, static_cast<int64_t>(s.failures));
    if (auto r = st->run("save auth_suspension"); !r) return Err{r.error()};
    return Ok{};
  }

  Result<std::vector<auth::Suspension>, StoreError> listSuspensions(int64_t sinceUs) override {
    auto st = c_->prepare(std::string("SELECT ") + kColumns +
                          " FROM auth_suspension WHERE cleared = 0 AND until_us >= ?1 "
                          "ORDER BY until_us DESC, kind, username, source");
    if (!st) return Err{st.error()};
    st->bind(1, sinceUs);
    return readAll(*st, "read auth_suspension");
  }

  Result<size_t, StoreError> clearSuspensions(const SuspensionFilter& f, int64_t nowUs) override {
    auto txn = c_->beginWrite();
    if (!txn) return Err{txn.error()};
    std::string sql = "UPDATE auth_suspension SET cleared = 1 WHERE cleared = 0 AND until_us > ?1";
    if (!f.all) {
      if (f.source) sql += " AND source = ?2";
      if (f.username) sql += " AND kind = 'user_source' AND username = ?3";
    }
    auto st = c_->prepare(sql);
    if (!st) return Err{st.error()};
    st->bind(1, nowUs);
    if (!f.all && f.source) {
      st->bind(2, auth::AuthRetryLimiter::sourceKey(*f.source).toString());
    }
    if (!f.all && f.username) st->bind(3, *f.username);
    if (auto r = st->run("clear auth_suspension"); !r) return Err{r.error()};
    const auto n = c_->changes();
    if (n > 0) {
      auto v = c_->prepare("UPDATE meta SET value = value + 1 WHERE key = 'auth_version'");
      if (!v) return Err{v.error()};
      if (auto r = v->run("bump auth_version"); !r) return Err{r.error()};
    }
    if (auto r = txn->commit(); !r) return Err{r.error()};
    return n;
  }

  Result<uint64_t, StoreError> authVersion() override {
    auto st = c_->prepare("SELECT value FROM meta WHERE key = 'auth_version'");
    if (!st) return Err{st.error()};
    if (!st->next()) {
      if (st->failed()) return Err{st->error("read auth_version")};
      return uint64_t{0};
    }
    return static_cast<uint64_t>(st->int64(0));
  }

  Result<std::vector<auth::Suspension>, StoreError> takeCleared() override {
    auto txn = c_->beginWrite();
    if (!txn) return Err{txn.error()};
    std::vector<auth::Suspension> out;
    {
      auto st = c_->prepare(std::string("SELECT ") + kColumns +
                            " FROM auth_suspension WHERE cleared = 1");
      if (!st) return Err{st.error()};
      auto rows = readAll(*st, "read cleared auth_suspension");
      if (!rows) return rows;
      out = std::move(rows).value();
    }
    auto del = c_->prepare("DELETE FROM auth_suspension WHERE cleared = 1");
    if (!del) return Err{del.error()};
    if (auto r = del->run("delete cleared auth_suspension"); !r) return Err{r.error()};
    if (auto r = txn->commit(); !r) return Err{r.error()};
    return out;
  }

  Result<size_t, StoreError> purgeSuspensions(int64_t beforeUs) override {
    auto st = c_->prepare("DELETE FROM auth_suspension WHERE until_us < ?1");
    if (!st) return Err{st.error()};
    st->bind(1, beforeUs);
    if (auto r = st->run("purge auth_suspension"); !r) return Err{r.error()};
    return c_->changes();
  }

 private:
  Result<std::vector<auth::Suspension>, StoreError> readAll(typename Db::Statement& st,
                                                            const char* what) {
    std::vector<auth::Suspension> out;
    while (st.next()) {
      auth::Suspension s;
      if (readSuspension(st, &s)) out.push_back(std::move(s));  // a hand-edited bad row is skipped
    }
    if (st.failed()) return Err{st.error(what)};
    return out;
  }

  std::unique_ptr<Db> c_;
};

}  // namespace

Result<std::unique_ptr<SuspensionStore>, StoreError> openSqliteSuspensionStore(
    const std::string& path) {
  auto c = detail::openMigratedSqliteFile(path, "the suspension store");
  if (!c) return Err{c.error()};
  return std::unique_ptr<SuspensionStore>(
      std::make_unique<SqlSuspensionStore<detail::SqliteConnection>>(std::move(c).value()));
}

Result<std::unique_ptr<SuspensionStore>, StoreError> openPgSuspensionStore(const PgTarget& target) {
  auto c = detail::openMigratedPg(target);
  if (!c) return Err{c.error()};
  return std::unique_ptr<SuspensionStore>(
      std::make_unique<SqlSuspensionStore<detail::PgConnection>>(std::move(c).value()));
}

}  // namespace tollgate::store
