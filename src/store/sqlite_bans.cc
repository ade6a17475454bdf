// SQLite implementation of BanStore (ban_store.h): only its queries. Its own
// connection to the store file, from the same foundation as every store
// (sqlite_connection.h: opener, cached statements, BEGIN IMMEDIATE for every
// write) on a migrated schema. Externally synchronized, like every store
// connection.
#include <algorithm>
#include <string>
#include <utility>

#include "common/clock.h"
#include "store/ban_store.h"
#include "store/pg_backend.h"
#include "store/pg_migrations.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_migrations.h"

namespace tollgate::store {
namespace {

int64_t nowUs() {
  return SystemClock().wallMicros();
}

constexpr const char* kColumns =
    "address, reason, detail, origin, created_us, expires_us, hits, level, deleted, seq, "
    "updated_us";

template <class Db>
class SqlBanStore final : public BanStore {
 public:
  explicit SqlBanStore(std::unique_ptr<Db> c) : c_(std::move(c)) {}

  Result<Ok, StoreError> putBans(const std::vector<BanRow>& rows) override;
  Result<bool, StoreError> deleteBan(std::string_view address) override;
  Result<Ok, StoreError> setHits(const std::vector<std::pair<std::string, int64_t>>& hits) override;
  Result<std::optional<BanRow>, StoreError> getBan(std::string_view address) override;
  Result<std::vector<BanRow>, StoreError> listBans(bool includeExpired, int64_t now,
                                                   size_t limit) override;
  Result<int64_t, StoreError> banSequence() override;
  Result<std::vector<BanRow>, StoreError> bansChangedSince(const BanCursor& after,
                                                           size_t limit) override;
  Result<size_t, StoreError> purgeBans(int64_t expiredBeforeUs,
                                       int64_t tombstonesBeforeUs) override;

 private:
  // Inside a write transaction: the next change sequence, stored.
  Result<int64_t, StoreError> bumpSequence() {
    auto st = c_->prepare("UPDATE ban_seq SET value = value + 1 WHERE id = 1 RETURNING value");
    if (!st) return Err{st.error()};
    if (!st->next()) return Err{st->error("bump ban_seq")};
    return st->int64(0);
  }
  static BanRow rowOf(const typename Db::Statement& st) {
    BanRow r;
    r.address = st.text(0);
    r.reason = st.text(1);
    r.detail = st.text(2);
    r.origin = st.text(3);
    r.createdUs = st.int64(4);
    r.expiresUs = st.int64(5);
    r.hits = st.int64(6);
    r.level = static_cast<int>(st.int64(7));
    r.deleted = st.int64(8) != 0;
    r.seq = st.int64(9);
    r.updatedUs = st.int64(10);
    return r;
  }

  std::unique_ptr<Db> c_;
};

template <class Db>
Result<Ok, StoreError> SqlBanStore<Db>::putBans(const std::vector<BanRow>& rows) {
  if (rows.empty()) return Ok{};
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  auto seq = bumpSequence();
  if (!seq) return Err{seq.error()};
  auto st = c_->prepare(
      "INSERT INTO ban(address, reason, detail, origin, created_us, expires_us, hits, level, "
      "deleted, seq, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10) "
      "ON CONFLICT(address) DO UPDATE SET reason = excluded.reason, detail = excluded.detail, "
      "origin = excluded.origin, created_us = excluded.created_us, "
      "expires_us = excluded.expires_us, hits = excluded.hits, level = excluded.level, "
      "deleted = 0, seq = excluded.seq, updated_us = excluded.updated_us");
  if (!st) return Err{st.error()};
  const int64_t now = nowUs();
  for (const BanRow& row : rows) {
    st->bind(1, row.address)
        .bind(2, row.reason)
        .bind(3, row.detail)
        .bind(4, row.origin)
        .bind(5, row.createdUs)
        .bind(6, row.expiresUs)
        .bind(7, row.hits)
        .bind(8, int64_t{row.level})
        .bind(9, *seq)
        .bind(10, now);
    if (auto r = st->run("insert ban"); !r) return r;
    st->reset();
  }
  return txn->commit();
}

template <class Db>
Result<bool, StoreError> SqlBanStore<Db>::deleteBan(std::string_view address) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  {
    auto st = c_->prepare("SELECT 1 FROM ban WHERE address = ?1 AND deleted = 0");
    if (!st) return Err{st.error()};
    st->bind(1, address);
    if (!st->next()) {
      if (st->failed()) return Err{st->error("find ban")};
      return false;  // the transaction rolls back: nothing written
    }
  }
  auto seq = bumpSequence();
  if (!seq) return Err{seq.error()};
  auto st = c_->prepare("UPDATE ban SET deleted = 1, seq = ?2, updated_us = ?3 WHERE address = ?1");
  if (!st) return Err{st.error()};
  st->bind(1, address).bind(2, *seq).bind(3, nowUs());
  if (auto r = st->run("delete ban"); !r) return Err{r.error()};
  auto c = txn->commit();
  if (!c) return Err{c.error()};
  return true;
}

template <class Db>
Result<Ok, StoreError> SqlBanStore<Db>::setHits(
    const std::vector<std::pair<std::string, int64_t>>& hits) {
  if (hits.empty()) return Ok{};
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  auto st = c_->prepare(
      "UPDATE ban SET hits = CASE WHEN hits > ?2 THEN hits ELSE ?2 END WHERE address = ?1 AND "
      "deleted = 0");
  if (!st) return Err{st.error()};
  for (const auto& [address, n] : hits) {
    st->bind(1, address).bind(2, n);
    if (auto r = st->run("update hits"); !r) return r;
    st->reset();
  }
  return txn->commit();
}

template <class Db>
Result<std::optional<BanRow>, StoreError> SqlBanStore<Db>::getBan(std::string_view address) {
  auto st = c_->prepare(std::string("SELECT ") + kColumns +
                        " FROM ban WHERE address = ?1 AND deleted = 0");
  if (!st) return Err{st.error()};
  st->bind(1, address);
  if (!st->next()) {
    if (st->failed()) return Err{st->error("read ban")};
    return std::optional<BanRow>();
  }
  return std::optional<BanRow>(rowOf(*st));
}

template <class Db>
Result<std::vector<BanRow>, StoreError> SqlBanStore<Db>::listBans(bool includeExpired, int64_t now,
                                                                  size_t limit) {
  limit = std::min(limit, kMaxBanPage);
  std::string sql = std::string("SELECT ") + kColumns + " FROM ban WHERE deleted = 0";
  if (!includeExpired) sql += " AND (expires_us = 0 OR expires_us > ?1)";
  sql += " ORDER BY created_us DESC, address LIMIT ?2";
  auto st = c_->prepare(sql);
  if (!st) return Err{st.error()};
  if (!includeExpired) st->bind(1, now);
  st->bind(2, static_cast<int64_t>(limit));
  std::vector<BanRow> out;
  while (st->next()) out.push_back(rowOf(*st));
  if (st->failed()) return Err{st->error("list bans")};
  return out;
}

template <class Db>
Result<int64_t, StoreError> SqlBanStore<Db>::banSequence() {
  auto st = c_->prepare("SELECT value FROM ban_seq WHERE id = 1");
  if (!st) return Err{st.error()};
  if (!st->next()) return Err{st->error("read ban_seq")};
  return st->int64(0);
}

template <class Db>
Result<std::vector<BanRow>, StoreError> SqlBanStore<Db>::bansChangedSince(const BanCursor& after,
                                                                          size_t limit) {
  limit = std::min(limit, kMaxBanPage);
  auto st = c_->prepare(std::string("SELECT ") + kColumns +
                        " FROM ban WHERE seq > ?1 OR (seq = ?1 AND address > ?2)"
                        " ORDER BY seq, address LIMIT ?3");
  if (!st) return Err{st.error()};
  st->bind(1, after.seq).bind(2, after.address).bind(3, static_cast<int64_t>(limit));
  std::vector<BanRow> out;
  while (st->next()) out.push_back(rowOf(*st));
  if (st->failed()) return Err{st->error("read ban changes")};
  return out;
}

template <class Db>
Result<size_t, StoreError> SqlBanStore<Db>::purgeBans(int64_t expiredBeforeUs,
                                                      int64_t tombstonesBeforeUs) {
  auto txn = c_->beginWrite();
  if (!txn) return Err{txn.error()};
  auto st = c_->prepare(
      "DELETE FROM ban WHERE (deleted = 0 AND expires_us != 0 AND expires_us < ?1) "
      "OR (deleted = 1 AND updated_us < ?2)");
  if (!st) return Err{st.error()};
  st->bind(1, expiredBeforeUs).bind(2, tombstonesBeforeUs);
  if (auto r = st->run("purge bans"); !r) return Err{r.error()};
  const size_t n = c_->changes();
  auto c = txn->commit();
  if (!c) return Err{c.error()};
  return n;
}

}  // namespace

Result<std::unique_ptr<BanStore>, StoreError> openSqliteBanStore(const std::string& path) {
  auto c = detail::openMigratedSqliteFile(path, "the ban list");
  if (!c) return Err{c.error()};
  return std::unique_ptr<BanStore>(
      std::make_unique<SqlBanStore<detail::SqliteConnection>>(std::move(c).value()));
}

Result<std::unique_ptr<BanStore>, StoreError> openPgBanStore(const PgTarget& target) {
  auto c = detail::openMigratedPg(target);
  if (!c) return Err{c.error()};
  return std::unique_ptr<BanStore>(
      std::make_unique<SqlBanStore<detail::PgConnection>>(std::move(c).value()));
}

}  // namespace tollgate::store
