// The PostgreSQL foundation: connection, statements, transactions, errors.
// See pg_connection.h.
#include "store/pg_connection.h"

#include "store/pg_backend.h"

#include <poll.h>
#include <sys/socket.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tollgate::store::detail {

namespace {

// libpq's messages end with a newline (and sometimes carry a second line);
// one line reads better in a log field.
std::string oneLine(const char* m) {
  std::string s = m == nullptr ? "" : m;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& ch : s) {
    if (ch == '\n') ch = ' ';
  }
  return s.empty() ? "unknown error" : s;
}

}  // namespace

std::string pgDisplayUrl(const PgTarget& t) {
  std::string u = t.url;
  const auto scheme = u.find("://");
  if (scheme == std::string::npos)
    return "postgresql (" + std::to_string(u.size()) + "-byte conninfo)";
  const auto at = u.find('@', scheme + 3);
  const auto slash = u.find('/', scheme + 3);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    const auto colon = u.find(':', scheme + 3);
    if (colon != std::string::npos && colon < at) u.erase(colon, at - colon);
  }
  if (const auto q = u.find('?'); q != std::string::npos) u.erase(q);
  return u;
}

namespace {

int hexValue(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

PGconn* connect(const PgTarget& t) {
  // Defaults first: the URL may override them (keywords after dbname win
  // over it, and the password from the file must).
  std::vector<const char*> keys = {"connect_timeout",  "keepalives",       "keepalives_idle",
                                   "tcp_user_timeout", "application_name", "dbname"};
  std::vector<const char*> values = {"3",          "1", "10", "5000", t.applicationName.c_str(),
                                     t.url.c_str()};
  if (!t.password.empty()) {
    keys.push_back("password");
    values.push_back(t.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  return PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
}

void quiet(void*, const PGresult*) {}  // NOTICEs (e.g. "relation exists") are not errors

}  // namespace

}  // namespace tollgate::store::detail

namespace tollgate::store {

std::optional<std::string> pgUrlProblem(const std::string& url) {
  if (url.rfind("postgresql://", 0) != 0 && url.rfind("postgres://", 0) != 0) {
    return "must be a postgresql:// URL (libpq connection URI)";
  }
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    std::string m = err != nullptr ? err : "cannot be parsed";
    if (err != nullptr) PQfreemem(err);
    while (!m.empty() && m.back() == '\n') m.pop_back();
    return "is not a valid libpq URL: " + m;
  }
  bool password = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr && *o->val != '\0') {
      password = true;
    }
  }
  PQconninfoFree(opts);
  if (password) return "must not contain a password: put it in store.password_file";
  return std::nullopt;
}

}  // namespace tollgate::store

namespace tollgate::store::detail {

std::string translateSqlForPg(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 8);
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char ch = sql[i];
    if (quote != 0) {
      out += ch;
      if (ch == quote) quote = 0;
      continue;
    }
    if (ch == '\'' || ch == '"') {
      quote = ch;
      out += ch;
      continue;
    }
    if (ch == '?' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
      out += '$';
      continue;
    }
    // instr(haystack, needle) is strpos(haystack, needle) in PostgreSQL.
    if ((ch == 'i' || ch == 'I') && sql.substr(i, 6).size() == 6 &&
        strncasecmp(sql.data() + i, "instr(", 6) == 0 &&
        (i == 0 || !(std::isalnum(static_cast<unsigned char>(sql[i - 1])) || sql[i - 1] == '_'))) {
      out += "strpos(";
      i += 5;
      continue;
    }
    out += ch;
  }
  return out;
}

// ---- PgStatement

PgStatement& PgStatement::set(int i, std::string v, unsigned type, int format) {
  const auto n = static_cast<size_t>(i);
  if (n == 0) return *this;
  if (values_.size() < n) {
    values_.resize(n);
    types_.resize(n, 0);
    formats_.resize(n, 0);
  }
  values_[n - 1] = std::make_unique<std::string>(std::move(v));
  types_[n - 1] = type;
  formats_[n - 1] = format;
  return *this;
}

PgStatement& PgStatement::bindNull(int i, unsigned type) {
  set(i, std::string(), type, 0);
  const auto n = static_cast<size_t>(i);
  if (n > 0) values_[n - 1].reset();  // no value: NULL
  return *this;
}

PgStatement& PgStatement::bind(int i, double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.17g", v);
  return set(i, buf, kFloat8, 0);
}

bool PgStatement::next() {
  if (!sent_) {
    sent_ = true;
    if (!c_->ensureConnected()) {
      failed_ = true;
      return false;
    }
    std::vector<const char*> vals(values_.size(), nullptr);
    std::vector<int> lens(values_.size(), 0);
    for (size_t k = 0; k < values_.size(); ++k) {
      if (values_[k]) {
        vals[k] = values_[k]->data();
        lens[k] = static_cast<int>(values_[k]->size());
      } else if (types_[k] == 0) {
        // A number the SQL does not use (the CDR list binds only the
        // filters in use): PostgreSQL needs a type for every parameter.
        types_[k] = kText;
      }
    }
    res_ = c_->execute(sql_.c_str(), static_cast<int>(values_.size()), types_.data(), vals.data(),
                       lens.data(), formats_.data());
    const auto status = res_ == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res_);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      failed_ = true;
      return false;
    }
    c_->afterCommand(res_);
    rows_ = PQntuples(res_);
    row_ = -1;
  }
  if (failed_) return false;
  if (row_ + 1 < rows_) {
    ++row_;
    return true;
  }
  row_ = rows_;
  return false;
}

int64_t PgStatement::int64(int col) const {
  if (PQgetisnull(res_, row_, col)) return 0;
  const char* v = cell(col);
  if (v[0] == 't' && v[1] == '\0') return 1;  // a boolean expression
  if (v[0] == 'f' && v[1] == '\0') return 0;
  return std::strtoll(v, nullptr, 10);
}

bool PgStatement::isNull(int col) const {
  return PQgetisnull(res_, row_, col) != 0;
}

double PgStatement::real(int col) const {
  if (PQgetisnull(res_, row_, col)) return 0;
  return std::strtod(cell(col), nullptr);
}

std::string PgStatement::text(int col) const {
  if (PQgetisnull(res_, row_, col)) return {};
  return std::string(cell(col), static_cast<size_t>(PQgetlength(res_, row_, col)));
}

std::string PgStatement::blob(int col) const {
  if (PQgetisnull(res_, row_, col)) return {};
  std::string_view v(cell(col), static_cast<size_t>(PQgetlength(res_, row_, col)));
  if (v.size() < 2 || v[0] != '\\' || v[1] != 'x') return std::string(v);
  std::string out;
  out.reserve((v.size() - 2) / 2);
  for (size_t k = 2; k + 1 < v.size(); k += 2) {
    const int hi = hexValue(v[k]);
    const int lo = hexValue(v[k + 1]);
    if (hi < 0 || lo < 0) break;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

StoreError PgStatement::error(std::string_view what) const {
  return c_->errorFrom(what, res_);
}

// ---- PgTransaction

PgTransaction::~PgTransaction() {
  if (c_ == nullptr) return;
  (void)c_->exec("ROLLBACK", "roll back");
  c_->inTxn_ = false;
}

Result<Ok, StoreError> PgTransaction::commit() {
  auto r = c_->exec("COMMIT", "commit");
  if (r) {
    c_->inTxn_ = false;
    c_ = nullptr;
  }
  return r;
}

// ---- PgConnection

PgConnection::PgConnection(PGconn* conn, PgTarget target)
    : conn_(conn), target_(std::move(target)), display_(pgDisplayUrl(target_)) {
  PQsetNoticeReceiver(conn_, quiet, nullptr);
}

Result<std::unique_ptr<PgConnection>, StoreError> PgConnection::open(const PgTarget& target) {
  PGconn* conn = connect(target);
  if (conn == nullptr)
    return Err{StoreError{"connect: out of memory (" + pgDisplayUrl(target) + ")"}};
  if (PQstatus(conn) != CONNECTION_OK) {
    StoreError e{"connect: " + oneLine(PQerrorMessage(conn)) + " (" + pgDisplayUrl(target) + ")"};
    PQfinish(conn);
    return Err{std::move(e)};
  }
  return std::unique_ptr<PgConnection>(new PgConnection(conn, target));
}

PgConnection::~PgConnection() {
  PQfinish(conn_);
}

bool PgConnection::ensureConnected() {
  if (PQstatus(conn_) == CONNECTION_OK) return true;
  if (inTxn_) return false;  // the transaction is lost; its guard rolls back
  const auto now = std::chrono::steady_clock::now();
  if (now - lastReconnect_ < kPgReconnectInterval) return false;
  lastReconnect_ = now;
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) return false;
  PQsetNoticeReceiver(conn_, quiet, nullptr);
  return true;
}

PGresult* PgConnection::execute(const char* sql, int n, const unsigned* types,
                                const char* const* values, const int* lengths, const int* formats) {
  timedOut_ = false;
  const int sent = n < 0 ? PQsendQuery(conn_, sql)
                         : PQsendQueryParams(conn_, sql, n, types, values, lengths, formats, 0);
  if (sent == 0) return nullptr;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(target_.queryTimeoutMs);
  const int fd = PQsocket(conn_);
  // Parameters larger than the socket buffer are sent as the server reads
  // (POLLOUT only while libpq has bytes left to send: a socket is always
  // writable, and waiting for it otherwise would spin).
  int unsent = PQflush(conn_);
  while (unsent == 1 || PQisBusy(conn_) != 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timedOut_ = true;
      ::shutdown(fd, SHUT_RDWR);  // libpq sees the connection closed; the next use reconnects
      PQconsumeInput(conn_);
      break;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (unsent == 1 ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    if (unsent == 1) {
      unsent = PQflush(conn_);
      if (unsent < 0) break;
    }
    if ((p.revents & (POLLIN | POLLERR | POLLHUP)) != 0 && PQconsumeInput(conn_) == 0) break;
  }
  // Keep the first failure of a script (the rest did not run), else the last
  // result.
  PGresult* kept = nullptr;
  bool keptBad = false;
  while (PGresult* r = PQgetResult(conn_)) {
    if (keptBad) {
      PQclear(r);
      continue;
    }
    const auto st = PQresultStatus(r);
    if (kept != nullptr) PQclear(kept);
    kept = r;
    keptBad = st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
  }
  return kept;
}

StoreError PgConnection::errorFrom(std::string_view what, const PGresult* res) const {
  const char* m = res != nullptr ? PQresultErrorMessage(res) : nullptr;
  if (m == nullptr || *m == '\0') m = PQerrorMessage(conn_);
  std::string s;
  s.append(what).append(": ");
  if (timedOut_) {
    s.append("no answer within ").append(std::to_string(target_.queryTimeoutMs)).append(" ms; ");
  }
  s.append(oneLine(m)).append(" (").append(display_).append(")");
  return StoreError{std::move(s)};
}

StoreError PgConnection::error(std::string_view what) const {
  return errorFrom(what, nullptr);
}

void PgConnection::afterCommand(PGresult* res) {
  const char* n = PQcmdTuples(res);
  changes_ = (n != nullptr && *n != '\0') ? static_cast<size_t>(std::strtoull(n, nullptr, 10)) : 0;
}

const std::string& PgConnection::translated(std::string_view sql) {
  auto it = texts_.find(std::string(sql));
  if (it != texts_.end()) return it->second;
  // Bounded like SQLite's statement cache: stores build SQL from fixed
  // fragments only, so the set of texts is small.
  constexpr size_t kMaxTexts = 512;
  if (texts_.size() >= kMaxTexts) texts_.clear();
  return texts_.emplace(std::string(sql), translateSqlForPg(sql)).first->second;
}

Result<PgStatement, StoreError> PgConnection::prepare(std::string_view sql) {
  return PgStatement(this, translated(sql));
}

Result<Ok, StoreError> PgConnection::exec(const char* sql, std::string_view what) {
  if (!ensureConnected()) return Err{error(what)};
  PGresult* res = execute(sql, -1, nullptr, nullptr, nullptr, nullptr);
  const auto status = res == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    StoreError e = errorFrom(what, res);
    if (res != nullptr) PQclear(res);
    return Err{std::move(e)};
  }
  afterCommand(res);
  PQclear(res);
  return Ok{};
}

Result<PgTransaction, StoreError> PgConnection::beginRead() {
  if (auto r = exec("BEGIN ISOLATION LEVEL REPEATABLE READ", "begin read transaction"); !r) {
    return Err{r.error()};
  }
  inTxn_ = true;
  return PgTransaction(this);
}

Result<PgTransaction, StoreError> PgConnection::beginWrite() {
  if (auto r = exec("BEGIN", "begin write transaction"); !r) return Err{r.error()};
  inTxn_ = true;
  PgTransaction t(this);
  static const std::string lock =
      "SELECT pg_advisory_xact_lock(" + std::to_string(kPgWriteLock) + ")";
  if (auto r = exec(lock.c_str(), "take the store write lock"); !r) return Err{r.error()};
  return t;
}

Result<PgTransaction, StoreError> PgConnection::beginAppend() {
  if (auto r = exec("BEGIN", "begin write transaction"); !r) return Err{r.error()};
  inTxn_ = true;
  return PgTransaction(this);
}

int64_t PgConnection::lastInsertRowid() {
  PGresult* res = execute("SELECT lastval()", 0, nullptr, nullptr, nullptr, nullptr);
  int64_t id = 0;
  if (res != nullptr && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
    id = std::strtoll(PQgetvalue(res, 0, 0), nullptr, 10);
  }
  if (res != nullptr) PQclear(res);
  return id;
}

}  // namespace tollgate::store::detail
