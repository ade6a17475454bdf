// SQLite implementation of RegistrationStore (registration_store.h).
#include "store/pg_backend.h"
#include "store/pg_migrations.h"
#include "store/registration_store.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_migrations.h"

namespace tollgate::store {
namespace {

// Flows are stored in the listen-address syntax: "udp:198.51.100.7:5060".
std::string flowText(transport::Protocol p, const net::SockAddr& a) {
  return transport::toString(transport::ListenSpec{p, a});
}

template <class Db>
class SqlRegistrationStore final : public RegistrationStore {
 public:
  explicit SqlRegistrationStore(std::unique_ptr<Db> c) : c_(std::move(c)) {}

  Result<Ok, StoreError> saveBinding(const registrar::Binding& b) override {
    auto st = c_->prepare(
        "INSERT INTO registration(username, contact, gateway, source, local, call_id, "
        "cseq, user_agent, registered_us, expires_us, online, state_us, node) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
        "ON CONFLICT(username, contact) DO UPDATE SET gateway = ?3, source = ?4, local = ?5, "
        "call_id = ?6, cseq = ?7, user_agent = ?8, registered_us = ?9, expires_us = ?10, "
        "online = ?11, state_us = ?12, node = ?13");
    if (!st) return Err{st.error()};
    st->bind(1, b.username)
        .bind(2, b.contact)
        .bind(3, b.gateway)
        .bind(4, flowText(b.protocol, b.source))
        .bind(5, flowText(b.protocol, b.local))
        .bind(6, b.callId)
        .bind(7, static_cast<int64_t>(b.cseq))
        .bind(8, b.userAgent)
        .bind(9, b.registeredUs)
        .bind(10, b.expiresUs)
        .bind(11, int64_t{b.online ? 1 : 0})
        .bind(12, b.stateUs)
        .bind(13, b.node);
    if (auto r = st->run("save registration"); !r) return Err{r.error()};
    return Ok{};
  }

  Result<Ok, StoreError> removeBinding(const std::string& username,
                                       const std::string& contact) override {
    auto st = c_->prepare("DELETE FROM registration WHERE username = ?1 AND contact = ?2");
    if (!st) return Err{st.error()};
    st->bind(1, username).bind(2, contact);
    if (auto r = st->run("delete registration"); !r) return Err{r.error()};
    return Ok{};
  }

  Result<std::vector<registrar::Binding>, StoreError> listBindings() override {
    auto st = c_->prepare(
        "SELECT username, contact, gateway, source, local, call_id, cseq, user_agent, "
        "registered_us, expires_us, online, state_us, node FROM registration "
        "ORDER BY username, contact");
    if (!st) return Err{st.error()};
    std::vector<registrar::Binding> out;
    while (st->next()) {
      registrar::Binding b;
      b.username = st->text(0);
      b.contact = st->text(1);
      b.gateway = st->text(2);
      if (auto s = transport::parseListenSpec(st->text(3))) {
        b.protocol = s->protocol;
        b.source = s->address;
      }
      if (auto l = transport::parseListenSpec(st->text(4))) b.local = l->address;
      b.callId = st->text(5);
      b.cseq = static_cast<uint32_t>(st->int64(6));
      b.userAgent = st->text(7);
      b.registeredUs = st->int64(8);
      b.expiresUs = st->int64(9);
      b.online = st->int64(10) != 0;
      b.stateUs = st->int64(11);
      b.node = st->text(12);
      out.push_back(std::move(b));
    }
    if (st->failed()) return Err{st->error("read registration")};
    return out;
  }

  Result<size_t, StoreError> purgeExpiredBindings(int64_t nowUs) override {
    auto st = c_->prepare("DELETE FROM registration WHERE expires_us < ?1");
    if (!st) return Err{st.error()};
    st->bind(1, nowUs);
    if (auto r = st->run("purge registration"); !r) return Err{r.error()};
    return c_->changes();
  }

 private:
  std::unique_ptr<Db> c_;
};

}  // namespace

Result<std::unique_ptr<RegistrationStore>, StoreError> openSqliteRegistrationStore(
    const std::string& path) {
  auto c = detail::openMigratedSqliteFile(path, "the registration store");
  if (!c) return Err{c.error()};
  return std::unique_ptr<RegistrationStore>(
      std::make_unique<SqlRegistrationStore<detail::SqliteConnection>>(std::move(c).value()));
}

Result<std::unique_ptr<RegistrationStore>, StoreError> openPgRegistrationStore(
    const PgTarget& target) {
  auto c = detail::openMigratedPg(target);
  if (!c) return Err{c.error()};
  return std::unique_ptr<RegistrationStore>(
      std::make_unique<SqlRegistrationStore<detail::PgConnection>>(std::move(c).value()));
}

}  // namespace tollgate::store
