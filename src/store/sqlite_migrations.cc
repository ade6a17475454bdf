// The schema history of the SQLite store (sqlite_migrations.h). Tables are
// STRICT so a wrong type is an error rather than a silently stored string.
// Timestamps are INTEGER microseconds since the Unix epoch (UTC), like Cdr.
#include "store/sqlite_migrations.h"

#include <string>

namespace tollgate::store {
namespace {

// Version 1: provisioning (mapping and routing gateways), CDRs and meta.
//
// Child rows (addresses, prefixes) keep their list order in `position` and go
// away with their gateway (ON DELETE CASCADE; the store enables foreign_keys).
// cdr.id is AUTOINCREMENT so an id is never reused, even after the newest rows
// are deleted: exporters can remember "everything up to id N" safely. CDRs do
// not reference gateways by foreign key: a CDR is history and outlives the
// gateway it names.
constexpr const char* kV1 = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value ANY NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('provisioning_version', 0);

CREATE TABLE mapping_gateway (
  name       TEXT PRIMARY KEY,
  auth       TEXT NOT NULL,  -- authModeName(); no CHECK: a new mode must not need a rebuild
  enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  created_us INTEGER NOT NULL,
  updated_us INTEGER NOT NULL
) STRICT;

CREATE TABLE mapping_gateway_address (
  gateway  TEXT NOT NULL REFERENCES mapping_gateway(name) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  address  TEXT NOT NULL,
  PRIMARY KEY (gateway, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE routing_gateway (
  name         TEXT PRIMARY KEY,
  address      TEXT NOT NULL,
  transport    TEXT NOT NULL,
  priority     INTEGER NOT NULL,
  strip_digits INTEGER NOT NULL,
  add_prefix   TEXT NOT NULL,
  enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  created_us   INTEGER NOT NULL,
  updated_us   INTEGER NOT NULL
) STRICT;

CREATE TABLE routing_gateway_prefix (
  gateway  TEXT NOT NULL REFERENCES routing_gateway(name) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  prefix   TEXT NOT NULL,
  PRIMARY KEY (gateway, position)
) STRICT, WITHOUT ROWID;

CREATE TABLE cdr (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  call_id         TEXT NOT NULL,
  start_us        INTEGER NOT NULL,
  answer_us       INTEGER NOT NULL,
  end_us          INTEGER NOT NULL,
  caller          TEXT NOT NULL,
  callee          TEXT NOT NULL,
  source_address  TEXT NOT NULL,
  transport       TEXT NOT NULL,
  mapping_gateway TEXT NOT NULL,
  routing_gateway TEXT NOT NULL,
  gateways_tried  TEXT NOT NULL,
  final_code      INTEGER NOT NULL,
  duration_ms     INTEGER NOT NULL,
  hangup          TEXT NOT NULL,
  reason          TEXT NOT NULL
) STRICT;
CREATE INDEX cdr_start_us ON cdr(start_us);
CREATE INDEX cdr_reason ON cdr(reason);
CREATE INDEX cdr_mapping_gateway ON cdr(mapping_gateway);
)sql";

// Version 2 (digest authentication, registrar): the credential keys of
// mapping gateways (username and the HA1 digests, never a clear password;
// realm records the sip.domain they were computed for), a carrier's
// outbound credentials and REGISTER setting, the registrar's bindings, and
// the retry limiter's suspensions. Bindings and suspensions are written by
// the running node and read back at start-up, so both survive a restart.
//
// auth_suspension.cleared is set by `tollgate auth suspensions clear`; the
// node lifts the suspension it names and deletes the row. meta
// auth_version moves on every clear, so the node only looks when it moved.
constexpr const char* kV2 = R"sql(
ALTER TABLE mapping_gateway ADD COLUMN username TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN realm TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN ha1_md5 TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN ha1_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN register INTEGER NOT NULL DEFAULT 0
  CHECK (register IN (0, 1));
ALTER TABLE mapping_gateway ADD COLUMN max_contacts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE mapping_gateway ADD COLUMN challenge TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN tls_names TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway ADD COLUMN digest_algorithms TEXT NOT NULL DEFAULT '';  -- 'MD5,SHA-256'


ALTER TABLE routing_gateway ADD COLUMN auth_username TEXT NOT NULL DEFAULT '';
ALTER TABLE routing_gateway ADD COLUMN auth_password TEXT NOT NULL DEFAULT '';
ALTER TABLE routing_gateway ADD COLUMN register INTEGER NOT NULL DEFAULT 0
  CHECK (register IN (0, 1));
ALTER TABLE routing_gateway ADD COLUMN register_expires INTEGER NOT NULL DEFAULT 3600;

CREATE TABLE registration (
  username      TEXT NOT NULL,     -- the account (password gateway username)
  contact       TEXT NOT NULL,     -- Contact URI as registered
  gateway       TEXT NOT NULL,     -- mapping gateway name (history: no foreign key)
  source        TEXT NOT NULL,     -- observed source "udp:198.51.100.7:5060" (NAT)
  local         TEXT NOT NULL,     -- our listener it came in on, same form
  call_id       TEXT NOT NULL,
  cseq          INTEGER NOT NULL,
  user_agent    TEXT NOT NULL,
  registered_us INTEGER NOT NULL,
  expires_us    INTEGER NOT NULL,
  online        INTEGER NOT NULL CHECK (online IN (0, 1)),
  state_us      INTEGER NOT NULL,  -- when online last changed
  PRIMARY KEY (username, contact)
) STRICT, WITHOUT ROWID;

CREATE TABLE auth_suspension (
  kind     TEXT NOT NULL,     -- 'user_source' | 'source'
  username TEXT NOT NULL,     -- '' for kind 'source'
  source   TEXT NOT NULL,     -- IPv4 address, or the network address of an IPv6 /64
  since_us INTEGER NOT NULL,
  until_us INTEGER NOT NULL,
  offenses INTEGER NOT NULL,
  failures INTEGER NOT NULL,
  cleared  INTEGER NOT NULL DEFAULT 0 CHECK (cleared IN (0, 1)),
  PRIMARY KEY (kind, username, source)
) STRICT, WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('auth_version', 0);
)sql";

// Version 3 (call policy): per-gateway limits and number list
// attachments, accounts, fraud rules, number lists, the dynamic blacklist
// with the log of operator changes the running node follows, and saved
// policy counters.
//
// Gateway policy sits in side tables keyed (and cascaded) by gateway name, so
// a gateway without a row (imported before this version) simply has the
// defaults. Number list names and prefixes are kept comma-separated in one
// column (neither can contain a comma). dynamic_blacklist holds live
// entries; blacklist_change is append-only: `tollgate blacklist add/remove`
// writes both, the node applies changes with ids above the last it saw.
constexpr const char* kV3 = R"sql(
CREATE TABLE mapping_gateway_policy (
  gateway           TEXT PRIMARY KEY REFERENCES mapping_gateway(name) ON DELETE CASCADE,
  account           TEXT NOT NULL,
  cps               REAL NOT NULL,
  cps_burst         INTEGER NOT NULL,
  max_concurrent    INTEGER NOT NULL,
  max_duration      INTEGER NOT NULL,
  caller_lists      TEXT NOT NULL,
  callee_lists      TEXT NOT NULL,
  dynamic_blacklist INTEGER NOT NULL CHECK (dynamic_blacklist IN (0, 1))
) STRICT, WITHOUT ROWID;

CREATE TABLE routing_gateway_policy (
  gateway        TEXT PRIMARY KEY REFERENCES routing_gateway(name) ON DELETE CASCADE,
  cps            REAL NOT NULL,
  cps_burst      INTEGER NOT NULL,
  max_concurrent INTEGER NOT NULL,
  caller_lists   TEXT NOT NULL,
  callee_lists   TEXT NOT NULL,
  options_check  INTEGER NOT NULL CHECK (options_check IN (0, 1))
) STRICT, WITHOUT ROWID;

CREATE TABLE account (
  name              TEXT PRIMARY KEY,
  cps               REAL NOT NULL,
  cps_burst         INTEGER NOT NULL,
  max_concurrent    INTEGER NOT NULL,
  max_duration      INTEGER NOT NULL,
  caller_lists      TEXT NOT NULL,
  callee_lists      TEXT NOT NULL,
  dynamic_blacklist INTEGER NOT NULL CHECK (dynamic_blacklist IN (0, 1)),
  created_us        INTEGER NOT NULL,
  updated_us        INTEGER NOT NULL
) STRICT;

CREATE TABLE fraud_rule (
  name                            TEXT PRIMARY KEY,
  account                         TEXT NOT NULL,
  prefixes                        TEXT NOT NULL,
  time_window                     TEXT NOT NULL,
  calls_per_minute_warning        INTEGER NOT NULL,
  calls_per_minute_critical       INTEGER NOT NULL,
  concurrent_warning              INTEGER NOT NULL,
  concurrent_critical             INTEGER NOT NULL,
  sequential_same_number_warning  INTEGER NOT NULL,
  sequential_same_number_critical INTEGER NOT NULL,
  minutes_per_day_warning         INTEGER NOT NULL,
  minutes_per_day_critical        INTEGER NOT NULL,
  created_us                      INTEGER NOT NULL,
  updated_us                      INTEGER NOT NULL
) STRICT;

CREATE TABLE number_list (
  name        TEXT PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('black', 'white', 'system_white')),
  description TEXT NOT NULL,
  created_us  INTEGER NOT NULL,
  updated_us  INTEGER NOT NULL
) STRICT;

CREATE TABLE number_list_entry (
  list    TEXT NOT NULL REFERENCES number_list(name) ON DELETE CASCADE,
  pattern TEXT NOT NULL,
  PRIMARY KEY (list, pattern)
) STRICT, WITHOUT ROWID;

CREATE TABLE dynamic_blacklist (
  number      TEXT NOT NULL,
  side        TEXT NOT NULL CHECK (side IN ('caller', 'callee')),
  rule        TEXT NOT NULL,
  gateway     TEXT NOT NULL,
  enforced    INTEGER NOT NULL CHECK (enforced IN (0, 1)),
  created_us  INTEGER NOT NULL,
  last_hit_us INTEGER NOT NULL,
  expires_us  INTEGER NOT NULL,
  hits        INTEGER NOT NULL,
  PRIMARY KEY (number, side)
) STRICT, WITHOUT ROWID;
CREATE INDEX dynamic_blacklist_expires_us ON dynamic_blacklist(expires_us);

CREATE TABLE blacklist_change (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  action     TEXT NOT NULL CHECK (action IN ('add', 'remove', 'clear')),
  number     TEXT NOT NULL,
  side       TEXT NOT NULL,
  rule       TEXT NOT NULL,
  enforced   INTEGER NOT NULL,
  expires_us INTEGER NOT NULL,
  cut_calls  INTEGER NOT NULL,
  created_us INTEGER NOT NULL
) STRICT;

CREATE TABLE policy_counters (
  name     TEXT PRIMARY KEY,
  saved_us INTEGER NOT NULL,
  data     BLOB NOT NULL
) STRICT, WITHOUT ROWID;
)sql";

// Version 4 (bans): the shield's ban list, shared by the running
// node and `tollgate ban`. One row per banned host or prefix, keyed by its
// canonical text ("192.0.2.7", "198.51.100.0/24", "2001:db8::/64"); a
// re-ban of the same address updates the row (level counts the bans within ban_memory).
// Every change that matters to a running node (insert, update, delete)
// stamps the row with the next ban_seq.value, so a node polls one integer
// and then reads only what changed; a delete leaves a tombstone
// (deleted = 1) for the pollers to see, purged later. Hit counts are
// statistics, not policy: updating them does not bump the sequence.
constexpr const char* kV4 = R"sql(
CREATE TABLE ban_seq (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  value INTEGER NOT NULL
) STRICT;
INSERT INTO ban_seq(id, value) VALUES (1, 0);
CREATE TABLE ban (
  address    TEXT PRIMARY KEY,
  reason     TEXT NOT NULL,    -- manual | signature | rate | prefix_rate | auth | ...
  detail     TEXT NOT NULL,
  origin     TEXT NOT NULL,    -- auto (a node's checks) | manual (an operator)
  created_us INTEGER NOT NULL,
  expires_us INTEGER NOT NULL, -- 0 = never
  hits       INTEGER NOT NULL,
  level      INTEGER NOT NULL,
  deleted    INTEGER NOT NULL CHECK (deleted IN (0, 1)),
  seq        INTEGER NOT NULL,
  updated_us INTEGER NOT NULL
) STRICT;
CREATE INDEX ban_by_seq ON ban(seq);
)sql";

// Version 5 (management plane; docs/api.md): users, sessions, API
// tokens, login failure counters / lockouts and the audit log. Secrets are never stored:
// passwords as argon2id strings, session and API tokens as SHA-256 hex of
// the token (they are 256-bit random, so a fast hash is enough). Sessions
// and tokens go with their user. CDR searches by number get indexes.
constexpr const char* kV5 = R"sql(
CREATE TABLE mgmt_user (
  name          TEXT PRIMARY KEY,
  role          TEXT NOT NULL,      -- admin | operator | readonly
  password_hash TEXT NOT NULL,      -- crypto_pwhash_str (argon2id)
  enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  created_us    INTEGER NOT NULL,
  updated_us    INTEGER NOT NULL,
  password_us   INTEGER NOT NULL    -- last password change
) STRICT;

CREATE TABLE mgmt_session (
  token_hash   TEXT PRIMARY KEY,
  user         TEXT NOT NULL REFERENCES mgmt_user(name) ON DELETE CASCADE,
  source       TEXT NOT NULL,
  created_us   INTEGER NOT NULL,
  expires_us   INTEGER NOT NULL,
  last_used_us INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX mgmt_session_user ON mgmt_session(user);

CREATE TABLE mgmt_token (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  name         TEXT NOT NULL,
  user         TEXT NOT NULL REFERENCES mgmt_user(name) ON DELETE CASCADE,
  role         TEXT NOT NULL,       -- at most the user's role
  token_hash   TEXT NOT NULL UNIQUE,
  created_us   INTEGER NOT NULL,
  expires_us   INTEGER NOT NULL,    -- 0 = never
  last_used_us INTEGER NOT NULL
) STRICT;

CREATE TABLE mgmt_login_failure (
  scope           TEXT NOT NULL,    -- pair | source | account
  account         TEXT NOT NULL,    -- '' for scope source
  source          TEXT NOT NULL,    -- '' for scope account
  failures        INTEGER NOT NULL,
  window_start_us INTEGER NOT NULL,
  locked_until_us INTEGER NOT NULL, -- 0 = not locked
  updated_us      INTEGER NOT NULL,
  PRIMARY KEY (scope, account, source)
) STRICT;

CREATE TABLE mgmt_audit (
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  time_us INTEGER NOT NULL,
  actor   TEXT NOT NULL,            -- user name, "local-cli", or the name tried at login
  source  TEXT NOT NULL,            -- ip:port of the client
  action  TEXT NOT NULL,            -- e.g. mapping_gateway.create, login.failed
  target  TEXT NOT NULL,
  result  TEXT NOT NULL,            -- ok | refused | failed ...
  before  TEXT NOT NULL,            -- JSON or ''
  after   TEXT NOT NULL             -- JSON or ''
) STRICT;
CREATE INDEX mgmt_audit_time ON mgmt_audit(time_us);

CREATE INDEX cdr_callee ON cdr(callee);
CREATE INDEX cdr_caller ON cdr(caller);
)sql";

// Version 6 (canonical numbers): caller and callee hold the canonical form
// of the numbers (admission/number_form.h); the user parts as received are
// kept beside them. Rows written before have '' there.
constexpr const char* kV6 = R"sql(
ALTER TABLE cdr ADD COLUMN caller_raw TEXT NOT NULL DEFAULT '';
ALTER TABLE cdr ADD COLUMN callee_raw TEXT NOT NULL DEFAULT '';
)sql";

// Version 7: what of each gateway's signalling crosses the B2BUA
// (sip/header_crossing.h): identity headers only from gateways trusted to
// assert them, extension headers by name, and the number a customer's calls
// are asserted as when its own identity headers do not cross.
constexpr const char* kV7 = R"sql(
ALTER TABLE mapping_gateway_policy ADD COLUMN trust_identity INTEGER NOT NULL DEFAULT 0
  CHECK (trust_identity IN (0, 1));
ALTER TABLE mapping_gateway_policy ADD COLUMN pass_headers TEXT NOT NULL DEFAULT '';
ALTER TABLE mapping_gateway_policy ADD COLUMN asserted_identity TEXT NOT NULL DEFAULT '';
ALTER TABLE routing_gateway_policy ADD COLUMN trust_identity INTEGER NOT NULL DEFAULT 0
  CHECK (trust_identity IN (0, 1));
ALTER TABLE routing_gateway_policy ADD COLUMN pass_headers TEXT NOT NULL DEFAULT '';
)sql";

// Version 8: a mapping gateway's weight in overload control's fair shares.
constexpr const char* kV8 = R"sql(
ALTER TABLE mapping_gateway_policy ADD COLUMN overload_weight INTEGER NOT NULL DEFAULT 1
  CHECK (overload_weight BETWEEN 1 AND 1000);
)sql";

// Version 9: media anchoring through rtpengine (docs/media.md): each CDR's
// media figures per direction as rtpengine counted them (media_relayed 0 =
// the media passed through, figures 0), and each gateway's media mode
// ('' = media.mode) and codec list (comma-separated, '' = any).
constexpr const char* kV9 = R"sql(
ALTER TABLE cdr ADD COLUMN media_relayed INTEGER NOT NULL DEFAULT 0 CHECK (media_relayed IN (0, 1));
ALTER TABLE cdr ADD COLUMN caller_packets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cdr ADD COLUMN caller_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cdr ADD COLUMN caller_loss_pct REAL NOT NULL DEFAULT 0;
ALTER TABLE cdr ADD COLUMN caller_jitter_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cdr ADD COLUMN callee_packets INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cdr ADD COLUMN callee_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cdr ADD COLUMN callee_loss_pct REAL NOT NULL DEFAULT 0;
ALTER TABLE cdr ADD COLUMN callee_jitter_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mapping_gateway_policy ADD COLUMN media TEXT NOT NULL DEFAULT ''
  CHECK (media IN ('', 'relay', 'passthrough'));
ALTER TABLE mapping_gateway_policy ADD COLUMN codecs TEXT NOT NULL DEFAULT '';
ALTER TABLE routing_gateway_policy ADD COLUMN media TEXT NOT NULL DEFAULT ''
  CHECK (media IN ('', 'relay', 'passthrough'));
ALTER TABLE routing_gateway_policy ADD COLUMN codecs TEXT NOT NULL DEFAULT '';
)sql";

// Version 10: loss and jitter come only from RTCP that rtpengine parsed;
// without it they are unknown, which a 0 would misreport as perfect. The
// four columns become nullable (NULL = no report). SQLite cannot relax NOT
// NULL in place: each column is renamed, recreated, copied and dropped.
// Rows written before this version said 0/0 for "no report" too, so a
// direction of a relayed call with both 0 becomes NULL (a measured 0 % loss
// with exactly 0 ms jitter is indistinguishable from it and reads unknown).
constexpr const char* kV10 = R"sql(
ALTER TABLE cdr RENAME COLUMN caller_loss_pct TO caller_loss_pct_v9;
ALTER TABLE cdr RENAME COLUMN caller_jitter_ms TO caller_jitter_ms_v9;
ALTER TABLE cdr RENAME COLUMN callee_loss_pct TO callee_loss_pct_v9;
ALTER TABLE cdr RENAME COLUMN callee_jitter_ms TO callee_jitter_ms_v9;
ALTER TABLE cdr ADD COLUMN caller_loss_pct REAL;
ALTER TABLE cdr ADD COLUMN caller_jitter_ms INTEGER;
ALTER TABLE cdr ADD COLUMN callee_loss_pct REAL;
ALTER TABLE cdr ADD COLUMN callee_jitter_ms INTEGER;
UPDATE cdr SET caller_loss_pct = caller_loss_pct_v9, caller_jitter_ms = caller_jitter_ms_v9
  WHERE media_relayed = 1 AND (caller_loss_pct_v9 != 0 OR caller_jitter_ms_v9 != 0);
UPDATE cdr SET callee_loss_pct = callee_loss_pct_v9, callee_jitter_ms = callee_jitter_ms_v9
  WHERE media_relayed = 1 AND (callee_loss_pct_v9 != 0 OR callee_jitter_ms_v9 != 0);
ALTER TABLE cdr DROP COLUMN caller_loss_pct_v9;
ALTER TABLE cdr DROP COLUMN caller_jitter_ms_v9;
ALTER TABLE cdr DROP COLUMN callee_loss_pct_v9;
ALTER TABLE cdr DROP COLUMN callee_jitter_ms_v9;
)sql";

// Version 11: the node that owns each registration binding, so that nodes
// sharing a store restore only their own ('' = written before owners were
// recorded: restored by whichever node reads it).
constexpr const char* kV11 = R"sql(
ALTER TABLE registration ADD COLUMN node TEXT NOT NULL DEFAULT '';
)sql";

// Append new migrations here, one line each: {"what it does", kVn}.
constexpr SqliteMigration kMigrations[] = {
    {"provisioning, cdr and meta tables", kV1},
    {"digest credentials, registrations and auth suspensions", kV2},
    {"call policy: gateway limits, accounts, fraud rules, number lists, dynamic blacklist", kV3},
    {"ban table and ban change sequence", kV4},
    {"management users, sessions, tokens, login failures, audit; cdr number indexes", kV5},
    {"cdr numbers as received beside the canonical ones", kV6},
    {"gateway signalling: identity trust, pass headers, asserted identity", kV7},
    {"mapping gateway overload weight", kV8},
    {"media anchoring: cdr media figures, gateway media mode and codecs", kV9},
    {"cdr loss and jitter nullable: unknown without RTCP", kV10},
    {"registration owner node", kV11},
};

}  // namespace

std::span<const SqliteMigration> sqliteMigrations() {
  return kMigrations;
}

namespace detail {

namespace {

Result<int64_t, StoreError> userVersion(SqliteConnection& c) {
  auto st = c.prepare("PRAGMA user_version");
  if (!st) return Err{st.error()};
  if (!st->next()) return Err{st->error("read user_version")};
  return st->int64(0);
}

}  // namespace

Result<Ok, StoreError> migrateSqliteSchema(SqliteConnection& c) {
  auto migrations = sqliteMigrations();
  const auto target = static_cast<int64_t>(migrations.size());
  auto current = userVersion(c);
  if (!current) return Err{current.error()};
  if (*current == target) return Ok{};  // the common case: no write lock taken

  // Another process may be migrating the same file right now: take the write
  // lock, then look again.
  auto txn = c.beginWrite();
  if (!txn) return Err{txn.error()};
  current = userVersion(c);
  if (!current) return Err{current.error()};
  if (*current > target) {
    return Err{StoreError{"database schema version " + std::to_string(*current) +
                          " is newer than this tollgate understands (" + std::to_string(target) +
                          "): " + c.path()}};
  }
  for (int64_t v = *current; v < target; ++v) {
    const SqliteMigration& m = migrations[static_cast<size_t>(v)];
    const std::string what =
        "schema migration " + std::to_string(v + 1) + " (" + m.name + ") failed";
    if (auto r = c.exec(m.sql, what); !r) return r;
  }
  // PRAGMA user_version is written in the database header, inside this
  // transaction: the schema and its version commit together.
  const std::string setVersion = "PRAGMA user_version=" + std::to_string(target);
  if (auto r = c.exec(setVersion.c_str(), "set user_version"); !r) return r;
  return txn->commit();
}

Result<std::unique_ptr<SqliteConnection>, StoreError> openMigratedSqlite(const std::string& path) {
  auto c = SqliteConnection::open(path);
  if (!c) return c;
  if (auto r = migrateSqliteSchema(**c); !r) return Err{r.error()};
  return c;
}

Result<std::unique_ptr<SqliteConnection>, StoreError> openMigratedSqliteFile(
    const std::string& path, std::string_view store) {
  if (path == ":memory:") {
    return Err{StoreError{std::string(store) +
                          " needs a store file (\":memory:\" is private to one connection)"}};
  }
  return openMigratedSqlite(path);
}

}  // namespace detail

}  // namespace tollgate::store
